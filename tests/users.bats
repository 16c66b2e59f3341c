#!/usr/bin/env bats
# --users: one applet over many mailboxes through an admin, -j at a time,
# sharded across machines with --shard K/N.
load helpers

@test "--users: one result per user; a missing user fails, the rest succeed, the exit says so" {
	printf 'alice\n# a comment\n\nbob\nno-such-user\ncarol\n' > "$BATS_TEST_TMPDIR/users"
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" --json
	[ "$status" -eq 77 ]
	[ "$(echo "$output" | wc -l)" -eq 4 ]
	echo "$output" | python3 -c '
import json, sys
rows = {r["user"]: r for r in map(json.loads, sys.stdin)}
assert set(rows) == {"alice", "bob", "carol", "no-such-user"}, rows.keys()
for u in ("alice", "bob", "carol"):
    assert rows[u]["type"] == "user" and rows[u]["schema"] == 1
    assert rows[u]["status"] == 0 and rows[u]["error"] is None and len(rows[u]["results"]) == 1
    assert rows[u]["results"][0]["type"] == "quota"
assert rows["no-such-user"]["status"] == 77 and "refused" in rows["no-such-user"]["error"]
assert rows["no-such-user"]["results"] == []
'
	[[ "$stderr" == *"4 users, 3 ok, 1 failed"* ]]
	# the figures are each user's own
	want=$(dadm -f tab quota get -u bob | awk -F'\t' '$2=="STORAGE" {print $3 * 1024}')
	got=$(echo "$output" | python3 -c 'import json,sys; print([r for r in map(json.loads, sys.stdin) if r["user"]=="bob"][0]["results"][0]["storage_used"])')
	[ "$got" = "$want" ]
}

@test "--users with --tsv puts user, status and error before the applet's columns" {
	printf 'alice\nbob\n' > "$BATS_TEST_TMPDIR/users"
	run bash -c "\"$MT\" du -a admin --users - --tsv --no-total -j 1 < \"$BATS_TEST_TMPDIR/users\""
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = $'user\tstatus\terror\tfolder\tmessages\tsize' ]
	echo "$output" | grep -q $'^bob\t0\t\tBobs\t3\t'
	echo "$output" | grep -q $'^alice\t0\t\tINBOX\t'
}

@test "--users --tsv: a user that fails first still gets the applet's columns, empty; one header" {
	printf 'no-such-user\nbob\n' > "$BATS_TEST_TMPDIR/users"
	run bash -c "\"$MT\" du -a admin --users - --tsv --no-total -j 1 < \"$BATS_TEST_TMPDIR/users\" 2>/dev/null"
	[ "$status" -eq 77 ]
	[ "$(echo "$output" | head -1)" = $'user\tstatus\terror\tfolder\tmessages\tsize' ]
	[ "$(echo "$output" | grep -c '^user')" -eq 1 ]
	echo "$output" | grep -q $'^no-such-user\t77\t[^\t]*refused[^\t]*\t\t\t$'
	[ "$(echo "$output" | awk -F'\t' 'NF != 6' | wc -l)" -eq 0 ]
}

@test "--shard K/N: all shards together cover every user exactly once" {
	for i in $(seq 1 12); do echo "user$i"; done > "$BATS_TEST_TMPDIR/users"
	printf 'alice\nbob\ncarol\n' >> "$BATS_TEST_TMPDIR/users"
	: > "$BATS_TEST_TMPDIR/seen"
	for k in 1 2 3; do
		run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" --shard "$k/3" -j 8 --json
		echo "$output" | python3 -c 'import json,sys; [print(json.loads(l)["user"]) for l in sys.stdin]' >> "$BATS_TEST_TMPDIR/seen"
		[[ "$stderr" == *"(shard $k/3 of 15 listed)"* ]]
	done
	[ "$(sort "$BATS_TEST_TMPDIR/seen")" = "$(sort "$BATS_TEST_TMPDIR/users")" ]
	[ "$(sort -u "$BATS_TEST_TMPDIR/seen" | wc -l)" -eq 15 ]
}

@test "--users works with applets that change mail (expunge), each user's own box" {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" alice >/dev/null
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" bob >/dev/null
	a=$(dadm search -u alice mailbox INBOX deleted | wc -l)
	b=$(dadm search -u bob mailbox INBOX deleted | wc -l)
	printf 'alice\nbob\n' > "$BATS_TEST_TMPDIR/users"
	run "$MT" expunge --deleted --include-flagged -a admin --users "$BATS_TEST_TMPDIR/users" --json INBOX
	[ "$status" -eq 0 ]
	[ "$(dadm search -u alice mailbox INBOX deleted | wc -l)" -eq 0 ]
	[ "$(dadm search -u bob mailbox INBOX deleted | wc -l)" -eq 0 ]
	echo "$output" | grep -q "\"user\":\"alice\",\"host\":null,\"status\":0,\"error\":null,\"results\":\\[{\"schema\":1,\"type\":\"folder\",\"folder\":\"INBOX\",\"action\":\"removed\",\"messages\":$a,"
	echo "$output" | grep -q "\"user\":\"bob\",\"host\":null,\"status\":0,\"error\":null,\"results\":\\[{\"schema\":1,\"type\":\"folder\",\"folder\":\"INBOX\",\"action\":\"removed\",\"messages\":$b,"
}

@test "--users bad input: with --as, bad -j, bad --shard, unreadable file, -j without --users" {
	run "$MT" quota -a admin --users /dev/null --as bob
	[ "$status" -eq 64 ]
	run "$MT" quota -a admin --users /dev/null -j 0
	[ "$status" -eq 64 ]
	run "$MT" quota -a admin --users /dev/null --shard 4/3
	[ "$status" -eq 64 ]
	run "$MT" quota -a admin --users /dev/null --shard x
	[ "$status" -eq 64 ]
	run "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 74 ]
	run "$MT" quota -j 2
	[ "$status" -eq 64 ]
}

@test "--resume skips the users an earlier run finished; --retry-failed reruns only its temporary failures" {
	d=$BATS_TEST_TMPDIR
	printf 'alice\nbob\nno-such-user\ncarol\n' > "$d/users"
	dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	# a run whose backend was down: every user failed for a while (75)
	run --separate-stderr "$MT" quota -a admin -p "$dead" --users "$d/users" --json -j 2
	[ "$status" -eq 75 ]
	echo "$output" > "$d/run.jsonl"
	# the retry of those, appended to the same file (read whole before the run writes)
	run -77 --separate-stderr bash -c "\"$MT\" quota -a admin --users \"$d/users\" --resume \"$d/run.jsonl\" --retry-failed --json >> \"$d/run.jsonl\""
	[[ "$stderr" == *"4 users, 3 ok, 1 failed, 0 skipped (not failed with 75 in the --resume file)"* ]]
	[ "$(wc -l < "$d/run.jsonl")" -eq 8 ]
	# now only no-such-user is not done, and it failed for good (77): not retried
	run -0 --separate-stderr "$MT" quota -a admin --users "$d/users" --resume "$d/run.jsonl" --retry-failed --json
	[ -z "$output" ]
	[[ "$stderr" == *"0 users, 0 ok, 0 failed, 4 skipped"* ]]
	# --resume alone runs what is not done: the 77 again, and a user the
	# earlier run never reached
	echo never-reached-user >> "$d/users"
	run -77 --separate-stderr "$MT" quota -a admin --users "$d/users" --resume "$d/run.jsonl" --json
	[ "$(echo "$output" | python3 -c 'import json,sys; print(" ".join(sorted(json.loads(l)["user"] for l in sys.stdin)))')" = "never-reached-user no-such-user" ]
	[[ "$stderr" == *"2 users, 0 ok, 2 failed, 3 skipped (done in the --resume file)"* ]]
}

@test "--resume: a file that is not --json user records, a missing file, and the options without --users are refused" {
	d=$BATS_TEST_TMPDIR
	printf 'alice\n' > "$d/users"
	printf '{"user":"alice","status":0,"results":[{"a":[1,{"b":"x\\"}"}]}]}\nuser\tstatus\n' > "$d/bad.jsonl"
	run -65 --separate-stderr "$MT" quota -a admin --users "$d/users" --resume "$d/bad.jsonl"
	[ "$stderr" = "mailtool quota: --resume: $d/bad.jsonl:2: not a user record of quota --users --json ({\"user\": ..., \"status\": N, ...})" ]
	# a NUL that would cut the name short, a key twice, something after the
	# record, a bare word for a value: each refused, naming its line
	for rec in '{"user":"alice\u0000x","status":0}' '{"user":"bob","user":"alice","status":0}' \
		'{"user":"alice","status":0,"status":75}' '{"user":"alice","status":0} x' '{"user":"alice","status":0,"x":tttt}' \
		'{"user":"\ud800","status":0}'; do
		printf '%s\n' "$rec" > "$d/r.jsonl"
		run -65 --separate-stderr "$MT" quota -a admin --users "$d/users" --resume "$d/r.jsonl"
		[[ "$stderr" == *"r.jsonl:1: not a user record"* ]]
	done
	# another applet's run says nothing of what this one has done
	run -0 "$MT" quota -a admin --users "$d/users" --json
	printf '%s\n' "$output" > "$d/quota.jsonl"
	grep -q '"applet":"quota"' "$d/quota.jsonl"
	run -65 --separate-stderr "$MT" du -a admin --users "$d/users" --resume "$d/quota.jsonl"
	[[ "$stderr" == *"not a user record of du --users --json"* ]]
	run -64 --separate-stderr "$MT" quota -a admin --users "$d/users" --resume "$d/none.jsonl"
	[[ "$stderr" == *"cannot read"* ]]
	run -64 --separate-stderr "$MT" quota -a admin --users "$d/users" --retry-failed
	[[ "$stderr" == *"--retry-failed goes with --resume"* ]]
	run -64 --separate-stderr "$MT" quota --resume "$d/bad.jsonl"
	# the nested record of line 1 is read right: alice is done
	printf '{"user":"alice","status":0,"results":[{"a":[1,{"b":"x\\"}"}]}]}\n' > "$d/ok.jsonl"
	run -0 --separate-stderr "$MT" quota -a admin --users "$d/users" --resume "$d/ok.jsonl"
	[[ "$stderr" == *"0 users, 0 ok, 0 failed, 1 skipped"* ]]
}

# a relay in front of the suite's Dovecot that counts the sessions it carries
# at once: one per "server" a users file names
count_relay() {  # NAME: starts it, sets RELAY_<NAME>_PORT
	python3 "$MT_REPO/tests/lib/countproxy.py" "$BATS_TEST_TMPDIR/$1.port" "$MT_IMAPS_PORT" \
		"$BATS_TEST_TMPDIR/$1.stat" 90 &
	local i
	for i in $(seq 50); do
		[ -s "$BATS_TEST_TMPDIR/$1.port" ] && break
		sleep 0.1
	done
	eval "RELAY_$1_PORT=$(cat "$BATS_TEST_TMPDIR/$1.port")"
}

@test "--per-host N: users spread over servers by USER<TAB>HOST:PORT, at most N sessions to each at once" {
	count_relay A
	count_relay B
	{
		for u in alice bob carol; do
			printf '%s\tlocalhost:%s\n' "$u" "$RELAY_A_PORT"
			printf '%s\tlocalhost:%s\n' "$u" "$RELAY_B_PORT"
		done
		printf 'alice\n'
	} > "$BATS_TEST_TMPDIR/users"
	# --max-rate keeps each session open a while, so -j 8 would overlap
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" -j 8 --per-host 2 --max-rate 3/s --json
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"7 users, 7 ok, 0 failed"* ]]
	# each user's own quota, through the server its entry named (and its record says)
	for u in alice bob carol; do
		[ "$(echo "$output" | grep -c "\"user\":\"$u\",\"host\":\"localhost:$RELAY_A_PORT\",\"status\":0")" -eq 1 ]
		[ "$(echo "$output" | grep -c "\"user\":\"$u\",\"host\":\"localhost:$RELAY_B_PORT\",\"status\":0")" -eq 1 ]
	done
	[ "$(echo "$output" | grep -c '"user":"alice","host":null,"status":0')" -eq 1 ]
	read -r maxa totala < "$BATS_TEST_TMPDIR/A.stat"
	read -r maxb totalb < "$BATS_TEST_TMPDIR/B.stat"
	echo "A: $maxa at once of $totala; B: $maxb of $totalb"
	[ "$totala" -eq 3 ] && [ "$totalb" -eq 3 ]
	[ "$maxa" -le 2 ] && [ "$maxb" -le 2 ]
	[ "$maxa" -eq 2 ] || [ "$maxb" -eq 2 ]   # and the places were used
	# without --per-host the same run puts more than 2 on one server (the
	# bound above is --per-host's doing, not the timing's)
	count_relay C
	sed -n "s/:$RELAY_A_PORT\$/:$RELAY_C_PORT/p" "$BATS_TEST_TMPDIR/users" > "$BATS_TEST_TMPDIR/users2"
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users2" -j 8 --max-rate 3/s --json
	[ "$status" -eq 0 ]
	read -r maxc totalc < "$BATS_TEST_TMPDIR/C.stat"
	echo "C: $maxc at once of $totalc"
	[ "$totalc" -eq 3 ]
	[ "$maxc" -gt 2 ]
}

@test "--per-host and users file servers: bad input is refused before any session" {
	printf 'bob\tno such host\n' > "$BATS_TEST_TMPDIR/users"
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"users:1: 'no such host' is no server"* ]]
	for bad in 'bob	host:0' 'bob	host:65536' 'bob	::1' 'bob	[::1' 'bob	host:12x'; do
		printf '# c\n%s\n' "$bad" > "$BATS_TEST_TMPDIR/users"
		run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users"
		[ "$status" -eq 65 ]
		[[ "$stderr" == *"users:2: "* ]]
	done
	printf 'bob\n' > "$BATS_TEST_TMPDIR/users"
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" --per-host 0
	echo "$status $stderr"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"bad --per-host '0'"* ]]
	run --separate-stderr "$MT" quota -a admin --per-host 2
	[ "$status" -eq 64 ]
	echo "$stderr"
	[[ "$stderr" == *"--per-host"*"go with --users"* ]]
	# the server an entry names must match its certificate, as any host
	printf 'bob\t127.0.0.1:%s\n' "$MT_IMAPS_PORT" > "$BATS_TEST_TMPDIR/users"
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" --json
	[ "$status" -ne 0 ]
	[[ "$output" == *"\"user\":\"bob\",\"host\":\"127.0.0.1:$MT_IMAPS_PORT\",\"status\":"* ]]
	[[ "$output" == *"certificate"* ]]
}

@test "--users -j: what a user's job starts (token_command) holds no descriptor beyond 0, 1 and 2 (not the other jobs' output files)" {
	d=$BATS_TEST_TMPDIR
	# the command notes its descriptors while the other user's job runs
	# (1 s), and prints no token
	cat > "$d/tok.sh" <<SH
#!/bin/sh
exec python3 "$MT_REPO/tests/lib/fdnote.py" "$d/fd.\$1" not-a-token 1
SH
	chmod 700 "$d/tok.sh"
	printf 'accounts = { t = { host = "localhost"; port = %s; ca_file = "%s"; user = "alice"; timeout = 10;\n  auth = "oauthbearer"; token_command = "%s/tok.sh \\"$1\\""; }; };\n' \
		"$MT_IMAPS_PORT" "$MT_CA" "$d" > "$d/t.conf"
	printf 'alice\nbob\n' > "$d/users"
	run --separate-stderr mt_bare quota --config "$d/t.conf" -a t --users "$d/users" -j 2
	cat "$d/fd.alice" "$d/fd.bob"
	# the command's output is no token: each user's job fails, after running it
	[[ "$stderr" == *"2 users, 0 ok, 2 failed"* ]]
	for u in alice bob; do
		[ "$(cut -f1 "$d/fd.$u")" = "0 1 2" ]
		grep -q "(1, 'pipe:" "$d/fd.$u"
	done
}

@test "--users: a user name with control characters is escaped in the human and TSV lines as in the error line" {
	printf 'bo\033[31mb\n' > "$BATS_TEST_TMPDIR/users"
	run -77 --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" -j 1
	[[ "$output" == *'== bo\x1B[31mb: failed'* ]]
	[[ "$output" == *"'bo\\x1B[31mb"* ]]
	[[ "$output" != *$'\033'* ]]
	run -77 --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" -j 1 --tsv
	[[ "$output" == *$'\nbo\\x1B[31mb\t77\t'* ]]
	[[ "$output" != *$'\033'* ]]
	# JSON carries the name itself (escaped as JSON)
	run -77 --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" -j 1 --json
	[[ "$output" == *'"user":"bo\u001b[31mb"'* ]]
}

@test "--per-host counts servers as reached: no server, localhost, LOCALHOST and localhost:PORT (the account's) are one" {
	d=$BATS_TEST_TMPDIR
	# a token command that takes 1 s and notes when it runs: the sessions' overlap
	cat > "$d/slow.sh" <<SH
#!/bin/sh
echo "\$1 start \$(date +%s.%N)" >> "$d/slow.log"
sleep 1
echo "\$1 end \$(date +%s.%N)" >> "$d/slow.log"
echo not-a-token
SH
	chmod 700 "$d/slow.sh"
	printf 'accounts = { t = { host = "localhost"; port = %s; ca_file = "%s"; user = "alice"; timeout = 10;\n  auth = "oauthbearer"; token_command = "%s/slow.sh \\"$1\\""; }; };\n' \
		"$MT_IMAPS_PORT" "$MT_CA" "$d" > "$d/t.conf"
	printf 'u1\nu2\tlocalhost\nu3\tLOCALHOST\nu4\tlocalhost:%s\n' "$MT_IMAPS_PORT" > "$d/users"
	most() { sort -k3 -n "$d/slow.log" | awk '$2 == "start" { n++; if (n > m) m = n } $2 == "end" { n-- } END { print m }'; }
	run --separate-stderr timeout 60 "$MT" quota --config "$d/t.conf" -a t --users "$d/users" -j 4 --per-host 1
	cat "$d/slow.log"
	[[ "$stderr" == *"4 users, 0 ok, 4 failed"* ]]
	[ "$(grep -c start "$d/slow.log")" -eq 4 ]
	# one server, one session at a time
	[ "$(most)" -eq 1 ]
	# without --per-host the four overlap (the bound above is its doing)
	rm "$d/slow.log"
	run --separate-stderr timeout 60 "$MT" quota --config "$d/t.conf" -a t --users "$d/users" -j 4
	[ "$(grep -c start "$d/slow.log")" -eq 4 ]
	[ "$(most)" -gt 1 ]
}

@test "--resume keys by user and server: a user whose entry on one server failed is run there again, not skipped as done" {
	d=$BATS_TEST_TMPDIR
	# bob on 127.0.0.1 fails (the certificate names localhost: 69), bob on localhost works
	printf 'bob\t127.0.0.1\nbob\tlocalhost\n' > "$d/users"
	run -69 --separate-stderr "$MT" quota -a admin_master --users "$d/users" --json -j 1
	printf '%s\n' "$output" > "$d/first.json"
	[ "$(grep -c '"user":"bob","host":"127.0.0.1","status":69' "$d/first.json")" -eq 1 ]
	[ "$(grep -c '"user":"bob","host":"localhost","status":0' "$d/first.json")" -eq 1 ]
	run -69 --separate-stderr "$MT" quota -a admin_master --users "$d/users" --json -j 1 --resume "$d/first.json"
	[[ "$stderr" == *"1 users, 0 ok, 1 failed, 1 skipped (done in the --resume file)"* ]]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	[[ "$output" == *'"user":"bob","host":"127.0.0.1","status":69'* ]]
	# servers compare as --per-host counts them: a record on LOCALHOST:PORT
	# is the entry without a server when the account's is localhost:PORT;
	# one on another port is not
	printf 'bob\n' > "$d/users"
	printf '{"user":"bob","host":"LOCALHOST:%s","status":0}\n' "$MT_IMAPS_PORT" > "$d/r.json"
	run -0 --separate-stderr "$MT" quota -a admin_master --users "$d/users" --json --resume "$d/r.json"
	[[ "$stderr" == *"0 users, 0 ok, 0 failed, 1 skipped"* ]]
	printf '{"user":"bob","host":"localhost:1","status":0}\n{"user":"bob","host":null,"status":75}\n' > "$d/r.json"
	run -0 --separate-stderr "$MT" quota -a admin_master --users "$d/users" --json --resume "$d/r.json"
	[[ "$stderr" == *"1 users, 1 ok, 0 failed, 0 skipped"* ]]
	# a host that is no server is no record
	printf '{"user":"bob","host":"no server","status":0}\n' > "$d/r.json"
	run -65 --separate-stderr "$MT" quota -a admin_master --users "$d/users" --resume "$d/r.json"
	[[ "$stderr" == *"r.json:1: not a user record"* ]]
}

@test "--users: a user listed twice on one server (however spelt) is refused, naming both lines, before anything runs" {
	d=$BATS_TEST_TMPDIR
	printf 'alice\nbob\n# c\nAlice\tLOCALHOST:%s\ncarol\n' "$MT_IMAPS_PORT" > "$d/users"
	run -65 --separate-stderr "$MT" quota -a admin --users "$d/users" --json
	[ "$stderr" = "mailtool quota: --users: $d/users:1 and $d/users:4 both name 'Alice' on localhost:$MT_IMAPS_PORT: one mailbox, two sessions at once" ]
	[ "$output" = "" ]
	printf 'carol\nbob\tlocalhost\nbob\n' > "$d/users"
	run -65 --separate-stderr "$MT" quota -a admin --users "$d/users" --shard 2/3
	[[ "$stderr" == *"users:2 and $d/users:3 both name 'bob'"* ]]
	[ "$output" = "" ]
	# a user on two servers is two mailboxes
	printf 'bob\nbob\tlocalhost:1\n' > "$d/users"
	run -75 --separate-stderr "$MT" quota -a admin --users "$d/users" --json
	[[ "$stderr" == *"2 users, 1 ok, 1 failed"* ]]
}
