#!/usr/bin/env bats
# Cron manners: a progress line only on a terminal, and -q for nothing but errors.
load helpers

@test "--users shows a progress line on a terminal, and none otherwise" {
	for i in $(seq 1 6); do echo "user$i"; done > "$BATS_TEST_TMPDIR/users"
	echo bob >> "$BATS_TEST_TMPDIR/users"
	run script -qfec "\"$MT\" quota -a admin --users \"$BATS_TEST_TMPDIR/users\" -j 2 --json" /dev/null
	[[ "$output" == *$'\r'"users: "*"/7"* ]]
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" -j 2 --json
	[[ "$stderr" != *$'\r'* ]]
	[[ "$stderr" == *"7 users, 1 ok, 6 failed"* ]]
	run script -qfec "\"$MT\" quota -a admin --users \"$BATS_TEST_TMPDIR/users\" -j 2 --json -q" /dev/null
	[[ "$output" != *"users: "* ]]
}

@test "-q prints nothing but errors, and the exit status still speaks" {
	run --separate-stderr "$MT" quota -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	dadm mailbox create -u alice "Not Subscribed Yet"
	run "$MT" subs check -q
	dadm mailbox delete -u alice "Not Subscribed Yet"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	run --separate-stderr env MAILTOOL_PASSWORD=wrong "$MT" du -q
	[ "$status" -eq 77 ]
	[ -z "$output" ]
	[[ "$stderr" == *"refused"* ]]
}

@test "du over many folders shows a progress line on a terminal only" {
	for i in $(seq 1 130); do echo "Many/f$i"; done > "$BATS_TEST_TMPDIR/names"
	xargs $MT_DOVEADM mailbox create -u carol < "$BATS_TEST_TMPDIR/names"
	run script -qfec "\"$MT\" du -a admin --as carol --tsv" /dev/null
	[[ "$output" == *$'\r'"folders: "*"/13"* ]]
	run --separate-stderr "$MT" du -a admin --as carol --tsv
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"folders:"* ]]
	[ "$(echo "$output" | grep -c '^Many/f')" -eq 130 ]
}
