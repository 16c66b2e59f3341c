# setup_suite.bash — one private Dovecot for the whole BATS run (tests/lib/dovecot.sh),
# stopped by PID when the run ends. Test files share it through tests/helpers.bash.
setup_suite() {
	export MT_REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
	# the mail user must be able to read the tree: not under /root, not mode 700
	MT_SUITE_DIR=$(mktemp -d /tmp/mailtool-test.XXXXXX)
	chmod 755 "$MT_SUITE_DIR"
	export MT_SUITE_DIR
	if ! "$MT_REPO/tests/lib/dovecot.sh" start "$MT_SUITE_DIR/dovecot" >"$MT_SUITE_DIR/start.log" 2>&1; then
		cat "$MT_SUITE_DIR/start.log" >&2
		return 1
	fi
	. "$MT_SUITE_DIR/dovecot/env.sh"
	"$MT_REPO/tests/lib/write-config.sh" "$MT_SUITE_DIR" >&2
}

teardown_suite() {
	[ -n "${MT_SUITE_DIR:-}" ] || return 0
	"$MT_REPO/tests/lib/dovecot.sh" stop "$MT_SUITE_DIR/dovecot" --kill >/dev/null 2>&1
	# a stopping server may still write its last log lines: retry the removal once
	case "$MT_SUITE_DIR" in
	/tmp/mailtool-test.*) rm -rf "$MT_SUITE_DIR" 2>/dev/null || { sleep 1; rm -rf "$MT_SUITE_DIR"; } ;;
	esac
}
