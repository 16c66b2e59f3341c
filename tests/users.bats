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
	echo "$output" | grep -q "\"user\":\"alice\",\"status\":0,\"error\":null,\"results\":\\[{\"schema\":1,\"type\":\"folder\",\"folder\":\"INBOX\",\"action\":\"removed\",\"messages\":$a,"
	echo "$output" | grep -q "\"user\":\"bob\",\"status\":0,\"error\":null,\"results\":\\[{\"schema\":1,\"type\":\"folder\",\"folder\":\"INBOX\",\"action\":\"removed\",\"messages\":$b,"
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
