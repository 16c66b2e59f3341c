#!/usr/bin/env bats
# Kill at every step: the connection is cut after each IMAP command k = 1..N
# of a run (by a fault-injecting proxy on loopback), then the run is repeated
# to completion; the final server state must equal that of an uninterrupted
# run: nothing lost, nothing duplicated.
load helpers

setup() {
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

# alice's fixture: regenerated once, restored from a copy per cut point
# (helpers.bash): a reset-user per point cost a second each
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }
reset_alice() { alice_restore; }

# what must survive: folder, Message-ID and size of every message (multiset)
state() { dadm -f tab fetch -u alice "mailbox hdr.message-id size.virtual" all | tail -n +2 | sort; }

# start the proxy in MODE ARG; writes a config for it to $PROXY_CONF
start_proxy() {
	local pf="$BATS_TEST_TMPDIR/proxy.port"
	rm -f "$pf" "$pf.count"
	python3 "$MT_REPO/tests/lib/cutproxy.py" "$pf" "$MT_IMAP_PORT" "$1" "$2" 30 </dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
	PROXY_CONF="$BATS_TEST_TMPDIR/proxy.conf"
	cat > "$PROXY_CONF" <<CONF
accounts = { p = { host = "127.0.0.1"; port = $(cat "$pf"); tls = "none"; user = "alice";
  password_file = "$MT_SUITE_DIR/alice.pw"; compress = false; timeout = 5; }; };
CONF
}
proxy_commands() { wait "$PROXY_PID" 2>/dev/null || true; cat "$BATS_TEST_TMPDIR/proxy.port.count"; }

# cut_every_step ARGS...: the whole procedure for one mailtool command line
cut_every_step() {
	# about a minute per pass: run in make check's plain pass only; the
	# sanitizer pass runs the same code paths in the other tests
	if mt_is_asan; then
		skip "cut-at-every-step runs in the plain pass"
	fi
	reset_alice
	start_proxy after-command 100000
	run "$MT" "$@" --config "$PROXY_CONF" -a p
	[ "$status" -eq 0 ]
	n=$(proxy_commands)
	want=$(state)
	[ "$n" -gt 3 ]
	tried=0
	for k in $(seq 1 "$n"); do
		reset_alice
		start_proxy after-command "$k"
		run "$MT" "$@" --config "$PROXY_CONF" -a p
		proxy_commands >/dev/null
		# cut before the end: a clear temporary failure, never a crash
		if [ "$k" -lt "$n" ] && [ "$status" -ne 75 ]; then
			echo "cut after command $k of $n: exit $status: $output"
			return 1
		fi
		run "$MT" "$@"
		[ "$status" -eq 0 ] || { echo "rerun after cut $k: exit $status: $output"; return 1; }
		[ "$(state)" = "$want" ] || { echo "state differs after cut $k of $n"; diff <(echo "$want") <(state) | head; return 1; }
		tried=$((tried + 1))
	done
	echo "# $* : $tried cut points tried, 0 messages lost" >&3
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
