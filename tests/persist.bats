#!/usr/bin/env bats
# --persist: later runs (with --persist or not) use the session the first one left behind.
load helpers

setup() {
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

teardown() {
	"$MT" persist --stop >/dev/null 2>&1 || true
}

logins() { grep -c "Login: user=<$1>" "$MT_DOVECOT_LOG" || true; }
sock() { ls "$XDG_RUNTIME_DIR"/mailtool/persist-*.sock 2>/dev/null | head -1; }

@test "the second run makes no new login, and its output and status are the same" {
	want=$("$MT" du --tsv)
	before=$(logins alice)
	run "$MT" du --tsv --persist 30s
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	run "$MT" du --tsv --persist 30s
	[ "$output" = "$want" ]
	run --separate-stderr "$MT" expunge --deleted NoSuchFolder --persist 30s
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool expunge: no folder matches 'NoSuchFolder'" ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
}

@test "the socket is the user's only: 0600 in a 0700 directory" {
	run "$MT" quota --persist 30s
	[ "$status" -eq 0 ]
	s=$(sock)
	[ -S "$s" ]
	[ "$(stat -c %a "$s")" = 600 ]
	[ "$(stat -c %a "$XDG_RUNTIME_DIR/mailtool")" = 700 ]
	if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
		run runuser -u nobody -- python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$s"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Permission denied"* ]]
	fi
}

@test "persist --status lists it, --stop ends it" {
	run "$MT" quota --persist 30s
	run "$MT" persist --status
	[ "$status" -eq 0 ]
	[[ "$output" == "alice: alice@localhost"*"idle exit in"* ]]
	run "$MT" persist --stop
	[[ "$output" == "stopped "* ]]
	[ -z "$(sock)" ]
}

@test "it exits by itself after the idle time" {
	run "$MT" quota --persist 1s
	[ -n "$(sock)" ]
	for _ in $(seq 40); do [ -z "$(sock)" ] && break; sleep 0.1; done
	[ -z "$(sock)" ]
}

@test "when the server drops the session, the next run connects afresh, transparently" {
	run "$MT" quota --persist 30s
	before=$(logins alice)
	dadm kick alice >/dev/null
	sleep 0.3
	run "$MT" quota --tsv --persist 30s
	[ "$status" -eq 0 ]
	[[ "$output" == *"User quota"* ]]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
}

@test "a stale socket (its process killed) is cleaned up" {
	run "$MT" quota --persist 30s
	s=$(sock)
	pid=$("$MT" persist --status | sed -n 's/.*pid \([0-9]*\);.*/\1/p')
	[ -n "$pid" ]
	kill -9 "$pid"
	[ -S "$s" ]
	run "$MT" quota --tsv --persist 30s
	[ "$status" -eq 0 ]
	[[ "$output" == *"User quota"* ]]
	run "$MT" persist --status
	[[ "$output" == "alice: "* ]]
}

@test "the account setting persist = \"30s\" works like the flag; a bad duration is refused" {
	sed 's/alice = { /alice = { persist = "30s"; /' "$MAILTOOL_CONFIG" > "$BATS_TEST_TMPDIR/p.conf"
	before=$(logins alice)
	run "$MT" quota --config "$BATS_TEST_TMPDIR/p.conf"
	run "$MT" quota --config "$BATS_TEST_TMPDIR/p.conf"
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	run "$MT" quota --persist 3x
	[ "$status" -eq 64 ]
}

# A tunnel the background process opens outlives the run that opened it: it
# must not keep that run's standard error, or `out=$(mailtool ...)` waits for
# the whole idle time (it did: 30 s for --persist 30s).
@test "--tunnel with --persist: the run returns at once, and the next run uses the same tunnel" {
	n="$BATS_TEST_TMPDIR/starts"
	t="echo started >> $n; exec $MT_TUNNEL_ALICE"
	run timeout 15 bash -c 'out=$("$1" du --tsv --tunnel "$2" --persist 120s 2>&1) && printf "%s\n" "$out"' _ "$MT" "$t"
	[ "$status" -eq 0 ]
	first=$output
	[[ "$first" == folder* ]]
	run timeout 15 bash -c 'out=$("$1" du --tsv --tunnel "$2" --persist 120s 2>&1) && printf "%s\n" "$out"' _ "$MT" "$t"
	[ "$status" -eq 0 ]
	[ "$output" = "$first" ]
	[ "$(wc -l < "$n")" -eq 1 ]
	# what the tunnel command says goes to a file beside the socket, gone with it
	ls "$XDG_RUNTIME_DIR"/mailtool/persist-*.log
	run "$MT" persist --stop
	[[ "$output" == "stopped "*.sock ]]
	[ -z "$(ls "$XDG_RUNTIME_DIR"/mailtool/)" ]
}

# It was: the kept session answered a run that named another pin or another
# CA file, so a --fingerprint the server does not match still "worked".
@test "a kept session serves only runs of the same trust: another --fingerprint or --ca-file is its own session" {
	before=$(logins alice)
	run "$MT" quota --persist 30s
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	run --separate-stderr "$MT" quota --fingerprint "sha256:$(printf '%064d' 0)"
	echo "$stderr"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"fingerprint"* ]]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	cp "$MT_CA" "$BATS_TEST_TMPDIR/ca-copy.pem"
	run "$MT" quota --tsv --persist 30s --ca-file "$BATS_TEST_TMPDIR/ca-copy.pem"
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 2 ]
	run "$MT" quota --tsv --fingerprint "$MT_SERVER_FP"
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 3 ]
	# each kept its own: plain runs of either, no login
	run "$MT" quota --tsv --ca-file "$BATS_TEST_TMPDIR/ca-copy.pem"
	[ "$status" -eq 0 ]
	run "$MT" quota --tsv
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 3 ]
	# the CA file changed under its name is another trust
	cat "$MT_CA" "$MT_CA" > "$BATS_TEST_TMPDIR/ca-copy.pem"
	run "$MT" quota --tsv --ca-file "$BATS_TEST_TMPDIR/ca-copy.pem"
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 4 ]
}

# README: "later runs of the same account use it" -- without --persist too.
@test "once kept, every run of the account uses it; --no-persist logs in, and leaves nothing" {
	want=$("$MT" du --tsv --no-persist)
	[ -z "$(sock)" ]
	before=$(logins alice)
	run "$MT" quota --persist 30s
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	run "$MT" du --tsv
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	run --separate-stderr "$MT" expunge --deleted NoSuchFolder
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"no folder matches 'NoSuchFolder'"* ]]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	run "$MT" du --tsv --no-persist
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	[ "$(( $(logins alice) - before ))" -eq 2 ]
	run --separate-stderr "$MT" quota --persist 30s --no-persist
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--persist and --no-persist exclude each other"* ]]
}

@test "a plain run with no kept session logs in and leaves no process, no directory" {
	before=$(logins alice)
	run "$MT" quota --tsv
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	[ -z "$(ls -A "$XDG_RUNTIME_DIR")" ]
}

@test "another user of the same account is not served by the kept session" {
	run "$MT" quota --persist 30s
	[ "$status" -eq 0 ]
	before=$(logins bob)
	before_a=$(logins alice)
	run env MAILTOOL_PASSWORD="$(cat "$MT_SUITE_DIR/bob.pw")" "$MT" quota --tsv -u bob
	[ "$status" -eq 0 ]
	[ "$(( $(logins bob) - before ))" -eq 1 ]
	[ "$(( $(logins alice) - before_a ))" -eq 0 ]
	# and --as another user through the admin account
	run "$MT" quota -a admin --as carol --persist 30s
	[ "$status" -eq 0 ]
	before=$(logins bob)
	before_c=$(logins carol)
	run "$MT" quota --tsv -a admin --as bob
	[ "$status" -eq 0 ]
	[ "$(( $(logins bob) - before ))" -eq 1 ]
	run "$MT" quota --tsv -a admin --as carol
	[ "$status" -eq 0 ]
	[ "$(( $(logins carol) - before_c ))" -eq 0 ]
}

@test "a killed keeper: the next plain run logs in itself, silently, exit 0" {
	run "$MT" quota --persist 30s
	pid=$("$MT" persist --status | sed -n 's/.*pid \([0-9]*\);.*/\1/p')
	[ -n "$pid" ]
	kill -9 "$pid"
	[ -S "$(sock)" ]
	before=$(logins alice)
	run --separate-stderr timeout 20 "$MT" quota --tsv
	[ "$status" -eq 0 ]
	[[ "$output" == *"User quota"* ]]
	[ -z "$stderr" ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
}

# A keeper serving a long run takes no other: the next run must not wait
# for it. A stopped process is one that never says it is free.
@test "a busy keeper: the run logs in itself within seconds; the keeper serves again afterwards" {
	run "$MT" quota --persist 30s
	pid=$("$MT" persist --status | sed -n 's/.*pid \([0-9]*\);.*/\1/p')
	[ -n "$pid" ]
	kill -STOP "$pid"
	before=$(logins alice)
	t0=$(date +%s)
	run --separate-stderr timeout 20 "$MT" quota --tsv
	t1=$(date +%s)
	run2=$("$MT" persist --status)
	kill -CONT "$pid"
	[ "$status" -eq 0 ]
	[[ "$output" == *"User quota"* ]]
	[ -z "$stderr" ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	[ "$(( t1 - t0 ))" -le 10 ]
	[[ "$run2" == *"busy serving a run"* ]]
	# the same process, still there and free again
	run "$MT" quota --tsv
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	run "$MT" persist --status
	[[ "$output" == *"pid $pid;"* ]]
}

# messages in alice's Junk, by doveadm
junk() { dadm -f tab mailbox status -u alice messages Junk | tail -1 | awk '{print $NF}'; }

@test "a killed run that a kept session serves stops there too: nothing more is sent for it" {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" alice >/dev/null
	before=$(junk)
	[ "$before" -gt 0 ]
	run -0 "$MT" quota --persist 2m
	# served by the kept session (no login), slowed to a command a second
	"$MT" expunge --max-rate 1/s --older 0s --include-flagged Junk > "$BATS_TEST_TMPDIR/out" 2>&1 &
	cp=$!
	sleep 1.5
	kill -TERM "$cp"
	wait "$cp" || true
	at_kill=$(junk)
	sleep 5
	# at a command a second the rest of the expunge would have gone by now
	[ "$(junk)" -eq "$at_kill" ]
	[ "$at_kill" -eq "$before" ]
	# the kept session lives on and serves the next run
	b=$(logins alice)
	run -0 "$MT" du Junk
	run -0 "$MT" quota
	[ $(( $(logins alice) - b )) -le 1 ]
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" alice >/dev/null
}

@test "a kept session serves only a run with the same password; info always logs in itself" {
	run -0 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --persist 1m
	b=$(logins alice)
	run -77 --separate-stderr env MAILTOOL_PASSWORD=wrong-password "$MT" quota
	[[ "$stderr" == *"refused"* ]]
	# the same password, from the account's password_file this time: served
	run -0 "$MT" quota
	run -0 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota
	[ $(( $(logins alice) - b )) -eq 0 ]
	# info is the check of the login itself
	run -0 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" info
	[ $(( $(logins alice) - b )) -eq 1 ]
	run -77 env MAILTOOL_PASSWORD=wrong-password "$MT" info
}

@test "a run served by a kept session has its own deadline and timeout, not the first run's" {
	cf="$BATS_TEST_TMPDIR/c.conf"
	cat > "$cf" <<C
accounts = { a = { host = "localhost"; port = $MT_IMAPS_PORT; tls = "implicit"; user = "alice"; ca_file = "$MT_CA";
  password_file = "$MT_SUITE_DIR/alice.pw"; timeout = 10; deadline = "3s"; persist = "1m"; }; };
C
	run -0 "$MT" quota --config "$cf" -a a
	sleep 4
	b=$(logins alice)
	# past the first run's deadline: this run's own three seconds count
	run -0 --separate-stderr "$MT" du --config "$cf" -a a
	run -0 "$MT" du --config "$cf" -a a
	[ $(( $(logins alice) - b )) -eq 0 ]
}

@test "a kept session that accepts and then says nothing: the run gives up after its timeout, 75" {
	export MAILTOOL_PASSWORD=alice-secret-pw
	run -0 "$MT" quota --persist 1m
	s=$(sock)
	"$MT" persist --stop
	python3 - "$s" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5)
c, _ = s.accept(); c.send(b"R"); time.sleep(30)
PY
	fp=$!
	for _ in $(seq 50); do [ -S "$s" ] && break; sleep 0.1; done
	start=$(date +%s)
	# (to files: the silent keeper holds the descriptors it was handed)
	rc=0
	timeout 25 "$MT" quota --timeout 2s >"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e" || rc=$?
	[ "$rc" -eq 75 ]
	[ $(( $(date +%s) - start )) -le 12 ]
	grep -q "said nothing" "$BATS_TEST_TMPDIR/e"
	kill "$fp" 2>/dev/null || true
	wait "$fp" 2>/dev/null || true
}
