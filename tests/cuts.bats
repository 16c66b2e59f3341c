#!/usr/bin/env bats
# Kill at every step: the connection is cut after each IMAP command k = 1..N
# of a run (by a fault-injecting proxy on loopback), then the run is repeated
# to completion; the final server state must equal that of an uninterrupted
# run: nothing lost, nothing duplicated.
load helpers

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
ids() { dadm -f tab fetch -u alice "mailbox hdr.message-id" all | tail -n +2 | sort; }
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
proxy_commands() { wait "$PROXY_PID" 2>/dev/null || true; cat "$BATS_TEST_TMPDIR/proxy.port.count"; }

# cut_every_step ARGS...: the whole procedure for one mailtool command line.
# Every cut point is tried (a failure does not stop the loop, the time does:
# 150 s); each bad one is listed with what differs. With CUTPROXY_DROP_CAPS
# set (see cutproxy.py) the reruns go through the proxy too, so that they see
# the same capabilities. With CUT_ARCHIVE set (the --export PATH of ARGS, an
# mbox) the local archive is checked too: removed before each run; after a
# cut, a file under that name is complete (what the uninterrupted run wrote)
# and must exist as soon as a message is gone from the server; after the
# rerun, it holds every exported message exactly once.
cut_every_step() {
	# about a minute per pass: run in make check's plain pass only; the
	# sanitizer pass runs the same code paths in the other tests
	if mt_is_asan; then
		skip "cut-at-every-step runs in the plain pass"
	fi
	local k n t0=$SECONDS bad=0 tried=0 why before want want_arch="" got lost
	reset_alice
	before=$(state)
	[ -z "${CUT_ARCHIVE:-}" ] || rm -rf "$CUT_ARCHIVE" "${CUT_ARCHIVE%/*}"/%tmp.*
	start_proxy after-command 100000
	run "$MT" "$@" --config "$PROXY_CONF" -a p
	[ "$status" -eq 0 ] || { echo "uninterrupted run: exit $status: $output"; return 1; }
	n=$(proxy_commands)
	want=$(state)
	[ "$n" -gt 3 ]
	[ "$want" != "$before" ]
	if [ -n "${CUT_ARCHIVE:-}" ]; then
		want_arch=$(archive_state "$CUT_ARCHIVE")
		# the archive holds exactly what left the server, each message once
		diff <(comm -23 <(echo "$before") <(echo "$want") | cut -f2 | sort) <(echo "$want_arch" | cut -f1)
		[ -z "$(echo "$want_arch" | cut -f1 | uniq -d)" ]
	fi
	for k in $(seq 1 "$n"); do
		if [ $((SECONDS - t0)) -gt 150 ]; then
			echo "over the loop's time bound (150 s) at k=$k of $n"
			return 1
		fi
		reset_alice
		[ -z "${CUT_ARCHIVE:-}" ] || rm -rf "$CUT_ARCHIVE" "${CUT_ARCHIVE%/*}"/%tmp.*
		start_proxy after-command "$k"
		run "$MT" "$@" --config "$PROXY_CONF" -a p
		proxy_commands >/dev/null
		why=""
		# cut before the end: a clear temporary failure, never a crash
		if [ "$k" -lt "$n" ] && [ "$status" -ne 75 ]; then
			why=" cut run exit $status (want 75): $output"
		fi
		if [ -n "${CUT_ARCHIVE:-}" ]; then
			got=$(archive_state "$CUT_ARCHIVE")
			lost=$(comm -23 <(echo "$before" | cut -f1,2 | sort) <(ids) | wc -l)
			if [ "$got" != none ] && [ "$got" != "$want_arch" ]; then
				why="$why an incomplete archive under the final name after the cut ($(echo "$got" | wc -l) of $(echo "$want_arch" | wc -l) messages)"
			elif [ "$lost" -gt 0 ] && [ "$got" = none ]; then
				why="$why $lost messages gone from the server and no archive"
			fi
		fi
		if [ -n "${CUTPROXY_DROP_CAPS:-}" ]; then
			start_proxy after-command 100000
			run "$MT" "$@" --config "$PROXY_CONF" -a p
			proxy_commands >/dev/null
		else
			run "$MT" "$@"
		fi
		[ "$status" -eq 0 ] || why="$why rerun exit $status: $output"
		got=$(state)
		if [ "$got" != "$want" ]; then
			why="$why messages differ: $(comm -13 <(echo "$want") <(echo "$got") | wc -l) extra, $(comm -23 <(echo "$want") <(echo "$got") | wc -l) missing, e.g.
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | sed 's/^</-/; s/^>/+/' | head -3)"
		fi
		[ "$(dadm search -u alice keyword '$MailtoolMoving' | wc -l)" -eq 0 ] || why="$why \$MailtoolMoving left on messages"
		if [ -n "${CUT_ARCHIVE:-}" ]; then
			got=$(archive_state "$CUT_ARCHIVE")
			[ "$got" = "$want_arch" ] ||
				why="$why archive after the rerun: $(echo "$got" | wc -l) entries, $(echo "$got" | cut -f1 | sort -u | wc -l) distinct, want $(echo "$want_arch" | wc -l)"
		fi
		if [ -n "$why" ]; then
			bad=$((bad + 1))
			echo "cut after command $k of $n:$why"
		fi
		tried=$((tried + 1))
	done
	echo "# ${*//$BATS_TEST_TMPDIR\//} : $tried cut points tried, $bad bad, $((SECONDS - t0)) s" >&3
	[ "$bad" -eq 0 ]
}

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
	# 6000 bytes into the server's answers is inside the FETCH of sizes
	start_proxy after-bytes 6000
	run --separate-stderr "$MT" expunge --larger 1k INBOX --config "$PROXY_CONF" -a p
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"FETCH: connection closed by the server"* ]]
	[ "$(state)" = "$before" ]
	run "$MT" expunge --larger 1k INBOX
	[ "$status" -eq 0 ]
	[ "$(dadm search -u alice mailbox INBOX all | wc -l)" -eq $((n - want_gone)) ]
}
