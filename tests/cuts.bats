#!/usr/bin/env bats
# Kill at every step: the connection is cut after each IMAP command k = 1..N
# of a run (by a fault-injecting proxy on loopback), then the run is repeated
# to completion; the final server state must equal that of an uninterrupted
# run: nothing lost, nothing duplicated.
load helpers
load lib/converge

setup() {
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt" XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	R="$BATS_TEST_TMPDIR/rules.conf"
}

# alice's fixture: regenerated once, restored from a copy per cut point
# (helpers.bash): a reset-user per point cost a second each; the tests that
# set CUT_SMALL use the small snapshot (alice_snapshots)
setup_file() { alice_snapshots; }
teardown_file() { alice_reset; }
# filter's state (--new) and compact's lock go with the fixture
reset_alice() {
	if [ -n "${CUT_SMALL:-}" ]; then
		alice_restore_small
	else
		alice_restore
	fi
	rm -rf "$XDG_STATE_HOME"
}

# the system interpreter: a pyenv shim costs ~0.4 s per start, and the
# loops start a proxy per cut point
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# what must survive: folder, Message-ID and SHA-256 of the full text of every
# message (multiset). On the full fixture (23 MiB; the tests without
# CUT_SMALL) the size stands in for the text: reading it all costs ~0.15 s
# per cut point, ~8 s over those loops
state() {
	if [ -n "${CUT_SMALL:-}" ]; then
		dadm -f pager fetch -u alice "mailbox hdr.message-id text" all | "$PY" -c "$PAGER_TO_TSV" | sort
	else
		dadm -f tab fetch -u alice "mailbox hdr.message-id size.virtual" all | tail -n +2 | sort
	fi
}


# start the proxy in MODE ARG; writes a config for it to $PROXY_CONF
start_proxy() {
	local pf="$BATS_TEST_TMPDIR/proxy.port"
	rm -f "$pf" "$pf.count"
	"$PY" "$MT_REPO/tests/lib/cutproxy.py" "$pf" "$MT_IMAP_PORT" "$1" "$2" 30 </dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 250); do [ -s "$pf" ] && break; sleep 0.02; done
	PROXY_CONF="$BATS_TEST_TMPDIR/proxy.conf"
	cat > "$PROXY_CONF" <<CONF
accounts = { p = { host = "127.0.0.1"; port = $(cat "$pf"); tls = "none"; user = "alice";
  password_file = "$MT_SUITE_DIR/alice.pw"; compress = false; timeout = 5; }; };
CONF
}
# proxy_done: wait for the proxy to end (in this shell: inside $(...) the
# proxy is no child, wait returns at once and the count may not be written
# yet), then CV_N is the number of command lines it forwarded
proxy_done() {
	wait "$PROXY_PID" 2>/dev/null || true
	CV_N=$(cat "$BATS_TEST_TMPDIR/proxy.port.count") || { echo "the proxy wrote no count"; return 1; }
}

# cut_every_step ARGS...: the whole procedure for one mailtool command line,
# by the shared driver (tests/lib/converge.bash). With CUTPROXY_DROP_CAPS
# set (see cutproxy.py) the reruns go through the proxy too, so that they see
# the same capabilities. CUT_ARCHIVE: the --export PATH of ARGS (an mbox),
# checked as converge.bash says.
cut_every_step() {
	# about a minute per pass: run in make check's plain pass only; the
	# sanitizer pass runs the same code paths in the other tests
	if mt_is_asan; then
		skip "cut-at-every-step runs in the plain pass"
	fi
	CV_WHAT=cut CV_ARCHIVE=${CUT_ARCHIVE:-} converge_every_step "$@"
}
cv_reset() { reset_alice; }
cv_run() {  # K ARGS...: through the proxy, the connection cut after command K (0: never)
	local k=$1
	shift
	start_proxy after-command "$([ "$k" -eq 0 ] && echo 100000 || echo "$k")"
	run "$MT" "$@" --config "$PROXY_CONF" -a p
	proxy_done
}
cv_count() { echo "$CV_N"; }
cv_interrupted() {  # cut before the end: a clear temporary failure, never a crash
	if [ "$1" -lt "$2" ] && [ "$status" -ne 75 ]; then
		echo " cut run exit $status (want 75): $output"
	fi
}
cv_rerun() {
	if [ -n "${CUTPROXY_DROP_CAPS:-}" ]; then
		start_proxy after-command 100000
		run "$MT" "$@" --config "$PROXY_CONF" -a p
		proxy_done
	else
		run "$MT" "$@"
	fi
}
cv_state() { state; }
cv_msgs() { state; }

@test "expunge --deleted over several folders converges from a cut at every command" {
	cut_every_step expunge --deleted --include-flagged 'Lists/*'
}

@test "expunge --trash (a move) converges from a cut at every command: nothing lost, nothing twice" {
	cut_every_step expunge --larger 1M --trash INBOX
}

@test "compact converges from a cut at every command" {
	cut_every_step compact --no-deleted --trash-older 30d --junk-older 100y
}

# a move rule over a small folder (Lists/announce, 15 messages)
RULE_MOVE='rules = ( { name = "lists"; folder = "Lists/announce"; match = { subject = "(?i)re|the"; }; move = "Kept"; create = true; } );'

@test "filter move (UID MOVE) converges from a cut at every command" {
	printf '%s\n' "$RULE_MOVE" > "$R"
	CUT_SMALL=1
	cut_every_step filter -f "$R"
}

@test "filter move without MOVE (COPY + UID EXPUNGE) converges from a cut at every command" {
	printf '%s\n' "$RULE_MOVE" > "$R"
	export CUTPROXY_DROP_CAPS=MOVE
	cut_every_step filter -f "$R"
}

@test "archive --export --delete-after-export converges from a cut at every command: the mbox complete, each message once" {
	CUT_SMALL=1 CUT_ARCHIVE="$BATS_TEST_TMPDIR/ann.mbox"
	cut_every_step archive --export "$CUT_ARCHIVE" --delete-after-export Lists/announce
}

@test "a blackholed or dripping server ends in a bounded time with exit 75" {
	start_proxy blackhole 0
	start=$SECONDS
	run "$MT" quota --config "$PROXY_CONF" -a p --timeout 1s
	[ "$status" -eq 75 ]
	[ $((SECONDS - start)) -le 5 ]
	kill "$PROXY_PID" 2>/dev/null || true
	start_proxy drip 0
	start=$SECONDS
	run "$MT" info --config "$PROXY_CONF" -a p --timeout 1s
	kill "$PROXY_PID" 2>/dev/null || true
	# dripping is slow but alive: either it completes or the idle timer never fires
	[ "$status" -eq 0 ] || [ "$status" -eq 75 ]
	[ $((SECONDS - start)) -le 10 ]
}

@test "a connection reset in the middle of a FETCH ends in exit 75 and a rerun is exact" {
	reset_alice
	want_gone=$(dadm search -u alice mailbox INBOX larger 1024 unflagged | wc -l)
	n=$(dadm search -u alice mailbox INBOX all | wc -l)
	before=$(state)
	# 6000 bytes into the server's answers is inside the FETCH of the
	# Subject fields the (match-all) regex needs
	start_proxy after-bytes 6000
	run --separate-stderr "$MT" expunge --larger 1k --subject '' INBOX --config "$PROXY_CONF" -a p
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"FETCH: connection closed by the server"* ]]
	[ "$(state)" = "$before" ]
	run "$MT" expunge --larger 1k --subject '' INBOX
	[ "$status" -eq 0 ]
	[ "$(dadm search -u alice mailbox INBOX all | wc -l)" -eq $((n - want_gone)) ]
}
