#!/usr/bin/env bats
# The parsers of our own, replayed over the fuzzers' seed corpus and over every
# input a fuzzer ever crashed on (tests/fuzz/regress/), under AddressSanitizer
# and UBSan (build-asan/fuzz-* are the fuzz targets linked with a plain main).
# `make fuzz` is the fuzzing itself; this keeps what it found fixed.
load helpers

replay() {
	local t=$1 bin="$MT_REPO/build-asan/fuzz-$1"
	[ -x "$bin" ] || { echo "missing $bin (make asan)"; return 1; }
	local files=("$MT_REPO/tests/fuzz/corpus/$t"/*)
	[ -d "$MT_REPO/tests/fuzz/regress/$t" ] && files+=("$MT_REPO/tests/fuzz/regress/$t"/*)
	[ "${#files[@]}" -gt 0 ]
	cp "$MT_REPO/tests/fuzz/lsan.supp" "$BATS_TEST_TMPDIR/lsan.supp"
	if [ -f "$MT_REPO/tests/fuzz/lsan-$t.supp" ]; then
		cat "$MT_REPO/tests/fuzz/lsan-$t.supp" >> "$BATS_TEST_TMPDIR/lsan.supp"
	fi
	TMPDIR="$BATS_TEST_TMPDIR" ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		LSAN_OPTIONS="suppressions=$BATS_TEST_TMPDIR/lsan.supp:print_suppressions=0" \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run timeout 60 "$bin" "${files[@]}"
	echo "$output" | tail -n 20
	[ "$status" -eq 0 ]
	[ "${lines[${#lines[@]}-1]}" = "${#files[@]} inputs ran" ]
}

@test "fuzz corpus: RFC 2047 header decoding" { replay header; }
@test "fuzz corpus: modified UTF-7 round trips" { replay mutf7; }
@test "fuzz corpus: sizes, durations, dates, UID sets, batch lines" { replay values; }
@test "fuzz corpus: MIME body text" { replay body; }
@test "fuzz corpus: mbox reading (flags only from mailtool's own lines)" { replay mbox; }
@test "fuzz corpus: Maildir reading (flags, keywords, links, FIFOs)" { replay maildir; }
@test "fuzz corpus: local paths for server folder names" { replay paths; }
@test "fuzz corpus: archives written and read back (mbox, mbox.gz, Maildir)" { replay roundtrip; }
@test "fuzz corpus: rule files and mailtool.conf" { replay rules; }
@test "fuzz corpus: regex literals are a sound pre-filter (incl. the (?ix)# find)" { replay literals; }
@test "fuzz corpus: server responses on a session" { replay response; }
@test "fuzz corpus: ManageSieve responses on a connection" { replay msieve; }

@test "every fuzz target has a seed corpus and a replay binary" {
	for f in "$MT_REPO"/tests/fuzz/fuzz_*.c; do
		t=${f##*/fuzz_}; t=${t%.c}
		[ -x "$MT_REPO/build-asan/fuzz-$t" ] || { echo "no build-asan/fuzz-$t"; return 1; }
		ls "$MT_REPO/tests/fuzz/corpus/$t"/* >/dev/null || { echo "no corpus for $t"; return 1; }
		grep -q "replay $t;" "$BATS_TEST_FILENAME" || { echo "$t is not replayed here"; return 1; }
	done
}
