#!/usr/bin/env bats
# filter --watch against the suite's Dovecot: mail delivered by LMTP while
# the watcher is connected (NOTIFY, IDLE, polling), while it is not (server
# restarted, connection cut, blackholed), a burst of 1,000, rules edited and
# SIGHUP, two watchers of one account, SIGTERM, and exit 75 once it gives up.
# carol (an empty box) is the user; the watcher logs in on the second Dovecot
# instance (MT_NOTLS_PORT), which a test may restart without touching LMTP.
load helpers

setup() {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state" XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	R="$BATS_TEST_TMPDIR/rules.conf" L="$BATS_TEST_TMPDIR/log.jsonl" E="$BATS_TEST_TMPDIR/err.txt"
	printf 'carol-secret-pw\n' > "$BATS_TEST_TMPDIR/carol.pw"
	chmod 600 "$BATS_TEST_TMPDIR/carol.pw"
	conf_port "$MT_NOTLS_PORT"
	rules 'rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; };
	  move = "Invoices"; create = true; } );'
	WPIDS=()
}

teardown() {
	local p
	# (shown only when the test failed) what the watchers said
	cat "$E" "$BATS_TEST_TMPDIR/err2.txt" 2>/dev/null || true
	for p in "${WPIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ -z "${PROXY_PID:-}" ] || { kill -CONT "$PROXY_PID"; kill "$PROXY_PID"; } 2>/dev/null || true
	# the second instance back up if a test left it down
	port_open "$MT_NOTLS_PORT" || notls_start
}

conf_port() {  # PORT: carol's account on 127.0.0.1:PORT, cleartext (loopback)
	export MAILTOOL_CONFIG="$BATS_TEST_TMPDIR/mailtool.conf"
	cat > "$MAILTOOL_CONFIG" <<CONF
accounts = { carol = { host = "127.0.0.1"; port = $1; tls = "none"; user = "carol";
  password_file = "$BATS_TEST_TMPDIR/carol.pw"; timeout = 3; connect_timeout = 2; }; };
CONF
}
rules() { printf '%s\n' "$1" > "$R"; }
# SCRIPT ARGS...: tests/lib/SCRIPT relaying to the second instance
# (PROXY_PID), its port in $BATS_TEST_TMPDIR/proxy.port, and carol's account on it
proxy_up() {
	local pf="$BATS_TEST_TMPDIR/proxy.port"
	python3 "$MT_REPO/tests/lib/$1" "$pf" "$MT_NOTLS_PORT" "${@:2}" </dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	wait_until 10 test -s "$pf"
	conf_port "$(cat "$pf")"
}

# the watcher up, with one IDLE connection for the two folders
idle_one_of_two() {
	wait_until 10 watching
	grep -q "watching 2 folders (idle, 1 connection besides" "$E"
}
# the invoices rule over INBOX and a second folder, Lists
two_folders() {
	dadm mailbox create -u carol Lists
	rules 'rules = ( { name = "invoices"; folders = [ "INBOX", "Lists" ]; match = { subject = "(?i)invoice"; };
	  move = "Invoices"; create = true; } );'
}
deliver() { python3 "$MT_REPO/tests/lib/lmtp-deliver.py" "$MT_LMTP_PORT" carol "$@"; }
count() { dadm mailbox status -u carol messages "$1" 2>/dev/null | sed -n 's/.*messages=//p'; }
is_count() { [ "$(count "$1")" = "$2" ]; }
log_lines() { if [ -f "${2:-$L}" ]; then grep -c "\"rule\":\"$1\"" "${2:-$L}"; else echo 0; fi; }
# true once CMD succeeds, checked every 0.1 s for at most SECONDS
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.1; done
	"$@"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_closed() { ! port_open "$1"; }
notls_start() {
	/usr/sbin/dovecot -c "$MT_TEST_DIR/dovecot-notls.conf" </dev/null >/dev/null 2>&1
	wait_until 10 port_open "$MT_NOTLS_PORT"
}
# the watcher in the background, -v, its stderr in $E (or ERR=FILE): WPID
watch_start() {
	"$MT" filter -a carol -f "$R" --watch -v --log "${LOG:-$L}" "$@" 2>>"${ERR:-$E}" &
	WPID=$!
	WPIDS+=("$WPID")
}
watching() { grep -q "watching" "${1:-$E}"; }
# it has said it watches N times: after N-1 reconnects
watching_at_least() { [ "$(grep -c watching "$E")" -ge "$1" ]; }
# SIGTERM, and the watcher's exit status in WRC (bounded: 15 s)
watch_stop() {
	local p=${1:-$WPID}
	kill -TERM "$p"
	wait_until 15 gone "$p"
	WRC=0
	wait "$p" || WRC=$?
}
gone() { ! kill -0 "$1" 2>/dev/null; }

@test "the suite's Dovecot offers NOTIFY and IDLE (mailbox_list_index = yes)" {
	run -0 "$MT" info -a carol --json
	[[ "$output" == *NOTIFY* ]]
	[[ "$output" == *IDLE* ]]
	grep -q '^mailbox_list_index = yes' "$MT_TEST_DIR/dovecot-common.conf"
}

@test "usage: the watch options go with --watch, and --watch not with a dry run" {
	run -64 "$MT" filter -a carol -f "$R" --via idle
	[[ "$output" == *"--via goes with --watch"* ]]
	run -64 "$MT" filter -a carol -f "$R" --watch --dry-run
	[[ "$output" == *"not with --dry-run"* ]]
	run -64 "$MT" filter -a carol -f "$R" --watch --via smoke
	[[ "$output" == *"'smoke' is not notify, idle or poll"* ]]
	run -64 "$MT" filter -a carol -f "$R" --watch --idle-interval 45m
	[[ "$output" == *"at most 29m"* ]]
	run -64 "$MT" filter -a carol -f "$R" --watch --max-connections 0
	[[ "$output" == *"--max-connections"* ]]
}

# deliver 3 (2 invoices) while the watcher waits in MODE; both filed once, each logged with its delays
connected_case() {
	watch_start --via "$1" --poll-interval 1s
	wait_until 10 watching
	grep -q "($1," "$E"
	deliver 3 --every 3:"hello %d"
	wait_until 10 is_count Invoices 2
	is_count Invoices 2
	is_count INBOX 1
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices)" -eq 2 ]
	# each action with its delay from INTERNALDATE, and from the notice when one came
	[ "$(grep -c '"delay_internaldate_ms":[0-9]' "$L")" -eq 2 ]
	grep -q "moved to 'Invoices', [0-9]* ms after its INTERNALDATE" "$E"
}

@test "deliveries while connected are filed: NOTIFY" {
	connected_case notify
	[ "$(grep -c '"delay_notice_ms":[0-9]' "$L")" -eq 2 ]
	grep -q "ms after the server's notice" "$E"
}

@test "deliveries while connected are filed: IDLE (NOTIFY left aside)" {
	connected_case idle
	[ "$(grep -c '"delay_notice_ms":[0-9]' "$L")" -eq 2 ]
}

@test "deliveries while connected are filed: polling, from the --new state" {
	connected_case poll
	# no notice: the delay is from INTERNALDATE only
	[ "$(grep -c '"delay_notice_ms":null' "$L")" -eq 2 ]
	# the state is --new's: a --new run afterwards finds nothing new
	run -0 "$MT" filter -a carol -f "$R" --new --tsv
	[ "$(count Invoices)" -eq 2 ]
}

@test "mail delivered after the first pass looked and before the watchers listen is filed at once" {
	# delivered by the hook right after the first pass's SELECT: no notice ever comes for it
	local mark="$BATS_TEST_TMPDIR/hook.done"
	export MAILTOOL_TEST_HOOK_AFTER_SELECT="[ -e '$mark' ] || { touch '$mark'; python3 '$MT_REPO/tests/lib/lmtp-deliver.py' $MT_LMTP_PORT carol 1; }"
	watch_start --via notify --idle-interval 20m
	wait_until 10 is_count Invoices 1
	is_count Invoices 1
	[ -e "$mark" ]
	watch_stop
	[ "$WRC" -eq 0 ]
}

@test "IDLE within --max-connections: folders beyond the cap are polled" {
	two_folders
	watch_start --via idle --max-connections 2 --poll-interval 1s
	idle_one_of_two
	printf 'Subject: Invoice L\r\nMessage-ID: <l1@x>\r\n\r\nx\r\n' | dadm save -u carol -m Lists
	deliver 1
	wait_until 10 is_count Invoices 2
	is_count Lists 0
	watch_stop
	[ "$WRC" -eq 0 ]
}

@test "the account's max_connections caps the watch as --max-connections does; a bad value is a config error" {
	two_folders
	sed -i 's/timeout = 3;/timeout = 3; max_connections = 2;/' "$MAILTOOL_CONFIG"
	watch_start --via idle
	idle_one_of_two
	watch_stop
	[ "$WRC" -eq 0 ]
	sed -i 's/max_connections = 2;/max_connections = 0;/' "$MAILTOOL_CONFIG"
	run -78 "$MT" filter -a carol -f "$R" --watch
	[[ "$output" == *"max_connections: expected a number of connections from 1 to 1000"* ]]
}

@test "mail delivered while the server was down is filed by the pass that begins the reconnect" {
	watch_start --via notify --give-up 60s
	wait_until 10 watching
	run -0 $MT_DOVEADM_NOTLS stop
	wait_until 10 port_closed "$MT_NOTLS_PORT"
	port_closed "$MT_NOTLS_PORT"
	# Dovecot 2.3's imap processes outlive a stopped master while their
	# client stays: ended here, as a server going down ends them
	local p
	for p in $(ss -Htnp state established "( sport = :$MT_NOTLS_PORT )" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
		kill "$p"
	done
	deliver 4
	notls_start
	wait_until 20 is_count Invoices 4
	is_count INBOX 0
	# it noticed, and came back
	grep -q "connection was closed\|BYE\|connection lost\|closed by the server" "$E"
	wait_until 10 watching_at_least 2
	deliver 1 --start 5
	wait_until 10 is_count Invoices 5
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices)" -eq 5 ]
}

@test "connections cut by the server (doveadm kick): reconnect, nothing missed, nothing twice" {
	watch_start --give-up 60s
	wait_until 10 watching
	deliver 2
	wait_until 10 is_count Invoices 2
	$MT_DOVEADM_NOTLS kick carol >/dev/null
	deliver 2 --start 3
	wait_until 15 is_count Invoices 4
	# (the reconnect's first pass may file them before it says it watches)
	wait_until 10 watching_at_least 2
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices)" -eq 4 ]
	is_count INBOX 0
}

# the suite's bob (the TLS instance) beside carol, and the invoices rule
# moving to his FromCarol
to_bob() {
	{
		echo "accounts = { carol = { host = \"127.0.0.1\"; port = $MT_NOTLS_PORT; tls = \"none\"; user = \"carol\";"
		echo "  password_file = \"$BATS_TEST_TMPDIR/carol.pw\"; timeout = 3; connect_timeout = 2; };"
		sed -n '/^accounts = {/,/^};/p' "$MT_SUITE_DIR/mailtool.conf" | sed '1d;$d' | grep -v '^ *default'
		echo '};'
	} > "$BATS_TEST_TMPDIR/c2"
	export MAILTOOL_CONFIG="$BATS_TEST_TMPDIR/c2"
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" bob >/dev/null
	dadm mailbox create -u bob FromCarol
	rules 'rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; };
	  move = { account = "bob"; folder = "FromCarol"; }; } );'
}
bob_has() { [ "$(dadm mailbox status -u bob messages FromCarol | sed -n 's/.*messages=//p')" = "$1" ]; }

@test "a rule to another account: that account's server drops the session while the watcher idles; it is reopened and the next mail moved" {
	to_bob
	watch_start --give-up 30s
	wait_until 10 watching
	deliver 1
	wait_until 10 bob_has 1
	# bob's server ends his sessions (a restart, an admin's kick); carol's stays
	$MT_DOVEADM kick bob >/dev/null
	sleep 1
	deliver 1 --start 2
	wait_until 15 bob_has 2
	is_count INBOX 0
	kill -0 "$WPID"
	grep -q "account 'bob': connection lost; reconnecting" "$E"
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices)" -eq 2 ]
}

@test "a connection cut by the fault proxy is noticed; with nothing to reconnect to, exit 75 after --give-up" {
	local pf="$BATS_TEST_TMPDIR/proxy.port"
	python3 "$MT_REPO/tests/lib/cutproxy.py" "$pf" "$MT_NOTLS_PORT" after-command 12 30 </dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	wait_until 5 test -s "$pf"
	conf_port "$(cat "$pf")"
	# one connection: the proxy serves one client
	watch_start --via poll --max-connections 1 --poll-interval 1s --give-up 3s
	deliver 1
	wait_until 20 gone "$WPID"
	gone "$WPID"
	wait "$WPID" || WRC=$?
	[ "$WRC" -eq 75 ]
	grep -q "giving up" "$E"
	# what it filed before the cut was filed once; nothing else moved
	[ "$(count Invoices)" -le 1 ]
	[ "$(( $(count Invoices) + $(count INBOX) ))" -eq 1 ]
}

@test "a blackholed connection (proxy stopped) is found silent at the next renewal and replaced; exit 75 after --give-up" {
	local pf="$BATS_TEST_TMPDIR/proxy.port"
	python3 "$MT_REPO/tests/lib/cutproxy.py" "$pf" "$MT_NOTLS_PORT" delay 1 60 </dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	wait_until 5 test -s "$pf"
	conf_port "$(cat "$pf")"
	watch_start --via poll --max-connections 1 --poll-interval 30s --idle-interval 1s --give-up 3s
	wait_until 10 watching
	kill -STOP "$PROXY_PID"
	# NOOP unanswered within the account's timeout (3 s), then reconnects that
	# find no greeting, then the give-up time: bounded well under 30 s
	wait_until 30 gone "$WPID"
	gone "$WPID"
	wait "$WPID" || WRC=$?
	[ "$WRC" -eq 75 ]
	grep -q "NOOP" "$E"
	grep -q "giving up" "$E"
}

@test "a server that answers every IDLE with an endless line: reconnects back off, exit 75 after --give-up" {
	local pf="$BATS_TEST_TMPDIR/proxy.port"
	proxy_up endlessproxy.py 60
	local t0=$SECONDS
	watch_start --give-up 8s
	wait_until 30 gone "$WPID"
	WRC=0
	wait "$WPID" || WRC=$?
	echo "exit $WRC after $((SECONDS - t0)) s, $(cat "$pf.count") connections" >&2
	[ "$WRC" -eq 75 ]
	grep -q "giving up" "$E"
	# backing off from 0.5 s, doubling: a handful of attempts in 8 s, not
	# one or two a second (each attempt is a working and a watching connection)
	[ "$(cat "$pf.count")" -le 14 ]
}

@test "watching connections gone silent (proxy frozen) are found at the next IDLE renewal and replaced; nothing is missed" {
	proxy_up pauseproxy.py 60
	watch_start --via notify --idle-interval 2s --give-up 60s
	wait_until 10 watching
	kill -USR1 "$PROXY_PID"
	deliver 1
	# DONE unanswered within the account's timeout (3 s): said, and replaced
	wait_until 15 grep -q "no answer to DONE within 3000 ms: a silent connection" "$E"
	grep -q "no answer to DONE within 3000 ms: a silent connection" "$E"
	is_count INBOX 1
	kill -USR2 "$PROXY_PID"
	wait_until 20 is_count Invoices 1
	is_count Invoices 1
	wait_until 10 watching_at_least 2
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices)" -eq 1 ]
}

@test "a server that accepts and never answers (blackhole.py): exit 75 after --give-up, in time" {
	start_blackhole
	conf_port "$BLACKHOLE_PORT"
	local t0=$SECONDS
	run -75 "$MT" filter -a carol -f "$R" --watch --give-up 2s
	[ $((SECONDS - t0)) -le 15 ]
	[[ "$output" == *"giving up"* ]]
}

@test "a burst of 1,000 deliveries while watching: every invoice filed exactly once" {
	watch_start --give-up 60s
	wait_until 10 watching
	# every other message an invoice
	deliver 1000 --subject "hello %d" --every 2:"Invoice %d"
	wait_until 60 is_count Invoices 500
	is_count Invoices 500
	is_count INBOX 500
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices)" -eq 500 ]
	# exactly once: 500 distinct messages in Invoices, none left among the rest
	[ "$(dadm -f tab fetch -u carol hdr.message-id mailbox Invoices all | tail -n +2 | sort -u | wc -l)" -eq 500 ]
	[ "$(dadm search -u carol mailbox INBOX subject invoice | wc -l)" -eq 0 ]
}

@test "rules edited + SIGHUP: the new rules act; a broken file keeps the rules in use, said in one line" {
	watch_start --give-up 60s
	wait_until 10 watching
	rules 'rules = (
	  { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; }; move = "Invoices"; create = true; },
	  { name = "receipts"; folder = "INBOX"; match = { subject = "(?i)receipt"; }; move = "Receipts"; create = true; } );'
	kill -HUP "$WPID"
	wait_until 10 grep -q "SIGHUP: 2 rules loaded" "$E"
	deliver 1 --subject "Receipt %d"
	wait_until 10 is_count Receipts 1
	is_count INBOX 0
	printf 'rules = ( { name = "broken"; \n' > "$R"
	kill -HUP "$WPID"
	wait_until 10 grep -q "keeping the rules in use" "$E"
	[ "$(grep -c "keeping the rules in use" "$E")" -eq 1 ]
	deliver 1 --subject "Receipt %d" --start 2
	wait_until 10 is_count Receipts 2
	watch_stop
	[ "$WRC" -eq 0 ]
	[ "$(log_lines receipts)" -eq 2 ]
}

@test "two watchers of one account: only the lock holder acts; the other takes over when it stops" {
	watch_start --give-up 60s
	local first=$WPID
	wait_until 10 watching
	LOG="$BATS_TEST_TMPDIR/log2.jsonl" ERR="$BATS_TEST_TMPDIR/err2.txt" watch_start --give-up 60s
	local second=$WPID
	wait_until 10 grep -q "waiting to take over" "$BATS_TEST_TMPDIR/err2.txt"
	deliver 5
	wait_until 10 is_count Invoices 5
	sleep 1   # (the second would have acted by now, had it not waited)
	[ "$(log_lines invoices)" -eq 5 ]
	[ "$(log_lines invoices "$BATS_TEST_TMPDIR/log2.jsonl")" -eq 0 ]
	watch_stop "$first"
	[ "$WRC" -eq 0 ]
	wait_until 10 watching "$BATS_TEST_TMPDIR/err2.txt"
	deliver 1 --start 6
	wait_until 10 is_count Invoices 6
	watch_stop "$second"
	[ "$WRC" -eq 0 ]
	[ "$(log_lines invoices "$BATS_TEST_TMPDIR/log2.jsonl")" -eq 1 ]
	[ "$(log_lines invoices)" -eq 5 ]
}

# accounts carol (127.0.0.1) and carol2 (localhost) for the same box
conf_two_names() {
	local a h
	{
		echo 'accounts = {'
		for a in carol carol2; do
			h=127.0.0.1
			[ "$a" = carol ] || h=localhost
			echo "  $a = { host = \"$h\"; port = $MT_NOTLS_PORT; tls = \"none\"; user = \"carol\";"
			echo "    password_file = \"$BATS_TEST_TMPDIR/carol.pw\"; timeout = 3; connect_timeout = 2; };"
		done
		echo '};'
	} >"$MAILTOOL_CONFIG"
}
# XDG_RUNTIME_DIR as systemd/mailtool-filter@.service gives instance $1, under the test's directory
unit_runtime() {
	local d
	d=$(sed -n 's/^Environment=.*XDG_RUNTIME_DIR=\([^ ]*\).*/\1/p' "$MT_REPO/systemd/mailtool-filter@.service")
	[ -n "$d" ]
	d="$BATS_TEST_TMPDIR/root${d//%i/$1}"
	mkdir -p -m 700 "$d"
	echo "$d"
}

@test "the unit's watcher and a cron or shell run (other XDG_RUNTIME_DIR) share the box lock: the run exits 75" {
	XDG_RUNTIME_DIR=$(unit_runtime carol) watch_start --give-up 60s
	wait_until 10 watching
	mkdir -p -m 700 "$BATS_TEST_TMPDIR/root/run/user/0"
	run -75 env XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/root/run/user/0" "$MT" filter -a carol -f "$R"
	[[ "$output" == *"another filter run holds '$MAILTOOL_LOCK_DIR/filter-carol@127.0.0.1-$MT_NOTLS_PORT.lock'"* ]]
	run -75 env -u XDG_RUNTIME_DIR "$MT" filter -a carol -f "$R"
}

@test "root's box locks are in /run/mailtool whatever XDG_RUNTIME_DIR says; MAILTOOL_LOCK_DIR must be absolute" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	unset MAILTOOL_LOCK_DIR
	XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/a" watch_start --give-up 60s
	mkdir -p -m 700 "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	wait_until 10 watching
	run -75 env XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/b" "$MT" filter -a carol -f "$R"
	[[ "$output" == *"another filter run holds '/run/mailtool/filter-carol@127.0.0.1-$MT_NOTLS_PORT.lock'"* ]]
	[ "$(stat -c %a /run/mailtool)" = 700 ]
	run -78 env MAILTOOL_LOCK_DIR=locks "$MT" filter -a carol -f "$R"
	[[ "$output" == *"MAILTOOL_LOCK_DIR 'locks' is not an absolute path"* ]]
}

@test "two accounts for one box, one naming the server localhost and one 127.0.0.1: one lock (the address reached)" {
	conf_two_names
	watch_start --give-up 60s
	wait_until 10 watching
	run -75 "$MT" filter -a carol2 -f "$R"
	[[ "$output" == *"another filter run holds"*"filter-carol@127.0.0.1-$MT_NOTLS_PORT.lock"* ]]
}

@test "two unit instances for two accounts of one box: the second waits, each message is copied once" {
	conf_two_names
	rules 'rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; };
	  copy = "Copies"; create = true; } );'
	XDG_RUNTIME_DIR=$(unit_runtime carol) watch_start --give-up 60s
	wait_until 10 watching
	"$MT" filter -a carol2 -f "$R" --watch -v --give-up 60s --log "$BATS_TEST_TMPDIR/log2.jsonl" 2>>"$BATS_TEST_TMPDIR/err2.txt" &
	WPIDS+=("$!")
	wait_until 10 grep -q "waiting to take over" "$BATS_TEST_TMPDIR/err2.txt"
	deliver 3
	wait_until 10 is_count Copies 3
	sleep 1   # (the second would have copied by now, had it not waited)
	is_count Copies 3
	[ "$(log_lines invoices)" -eq 3 ]
	[ "$(log_lines invoices "$BATS_TEST_TMPDIR/log2.jsonl")" -eq 0 ]
}

# an invoice saved into carol's folder $1 by another client
save_invoice() {
	printf 'From: a@example.org\r\nSubject: invoice in %s\r\nMessage-ID: <%s@example.org>\r\n\r\nx\r\n' "$1" "$RANDOM" |
		dadm save -u carol -m "$1"
}

@test "a folder a rule's pattern names, created while watching, is watched (NOTIFY: at once; IDLE: from the next renewal)" {
	local via every
	for via in notify idle; do
		every=2s
		[ "$via" = idle ] || every=60s   # (NOTIFY tells of the folder: no renewal needed)
		"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
		: >"$E"
		dadm mailbox create -u carol Lists Lists/a
		rules 'rules = ( { name = "invoices"; folders = [ "INBOX", "Lists/*" ]; match = { subject = "(?i)invoice"; };
		  move = "Invoices"; create = true; } );'
		watch_start --via "$via" --idle-interval "$every" --give-up 60s
		wait_until 10 watching
		grep -q "watching 2 folders ($via" "$E"
		dadm mailbox create -u carol Lists/b
		sleep 0.5
		save_invoice Lists/b
		wait_until 8 is_count Invoices 1
		wait_until 8 grep -q "watching 3 folders ($via" "$E"
		# and mail to it is filed as it comes, not at the next renewal
		save_invoice Lists/b
		wait_until 4 is_count Invoices 2
		watch_stop
		[ "$WRC" -eq 0 ]
	done
}

@test "SIGTERM in the middle of a burst: exit 0, nothing lost or doubled, and --new finishes the job" {
	watch_start --give-up 60s
	wait_until 10 watching
	deliver 300
	kill -TERM "$WPID"
	wait_until 15 gone "$WPID"
	WRC=0
	wait "$WPID" || WRC=$?
	[ "$WRC" -eq 0 ]
	# every message in exactly one of the two folders
	[ "$(( $(count INBOX) + $(count Invoices) ))" -eq 300 ]
	run -0 "$MT" filter -a carol -f "$R" --new
	is_count Invoices 300
	is_count INBOX 0
}
