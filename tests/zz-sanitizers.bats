#!/usr/bin/env bats
# Runs last. In make check's second pass (the AddressSanitizer + UBSan build),
# every sanitizer report lands in MAILTOOL_SANITIZER_LOGS: there must be none,
# leaks included.

@test "the sanitizer build reported no memory error, leak or undefined behaviour" {
	if [ -z "${MAILTOOL_SANITIZER_LOGS:-}" ]; then
		skip "only in make check's sanitizer pass"
	fi
	[ -d "$MAILTOOL_SANITIZER_LOGS" ]
	# the pass really used the sanitizer build
	[[ "${MAILTOOL_TEST_BIN:-}" == */build-asan/mailtool ]]
	nm "$MAILTOOL_TEST_BIN" | grep -q __asan_init
	reports=$(find "$MAILTOOL_SANITIZER_LOGS" -type f | head -5)
	for f in $reports; do echo "== $f"; head -40 "$f"; done
	[ -z "$reports" ]
}
