#!/usr/bin/env bats
# Cron manners: a progress line (--users, du, export, import, a cold filter) only on a terminal, and -q for nothing but errors.
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

# 100 small messages in carol's folder P, through an import (which is itself
# one of the runs under test); carol is reset before and after
progress_box() {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
	for i in $(seq 1 100); do
		printf 'From a@example.org Thu Dec  3 10:00:00 2026\nFrom: a@example.org\nSubject: m%d\nMessage-ID: <p%d@x>\n\nbody %d\n\n' "$i" "$i" "$i"
	done > "$BATS_TEST_TMPDIR/in.mbox"
}

@test "archive --import and --export show messages, bytes, rate on a terminal; nothing otherwise, nor with -q" {
	progress_box
	run script -qfec "\"$MT\" archive -a admin --as carol --import \"$BATS_TEST_TMPDIR/in.mbox\" --into P" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\r'"import: "*"/100 messages, "*"B/"*"B, "*"/s"* ]]
	run script -qfec "\"$MT\" archive -a admin --as carol --export \"$BATS_TEST_TMPDIR/a.mbox\" P" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\r'"export: 100/100 messages, "*"B/"*"B, "*"/s"* ]]
	run script -qfec "\"$MT\" archive -a admin --as carol --export \"$BATS_TEST_TMPDIR/q.mbox\" -q P" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" != *"export: "* ]]
	run --separate-stderr "$MT" archive -a admin --as carol --export "$BATS_TEST_TMPDIR/b.mbox" P
	[ "$status" -eq 0 ]
	[[ "$output" == *"exported"* ]]
	[ -z "$stderr" ]
	run --separate-stderr "$MT" archive -a admin --as carol --import "$BATS_TEST_TMPDIR/in.mbox" --into P2
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
	# the same archive either way
	[ "$(grep -c '^Message-ID: <p' "$BATS_TEST_TMPDIR/a.mbox")" -eq 100 ]
	[ "$(grep -c '^Message-ID: <p' "$BATS_TEST_TMPDIR/b.mbox")" -eq 100 ]
}

@test "a cold filter run shows each rule's progress on a terminal; nothing otherwise" {
	progress_box
	"$MT" archive -a admin --as carol --import "$BATS_TEST_TMPDIR/in.mbox" --into P >/dev/null
	printf '%s\n' 'rules = ( { name = "m"; folder = "P"; match = { subject = "^m[0-9]+$"; }; flag = "\\Flagged"; } );' \
		> "$BATS_TEST_TMPDIR/rules.conf"
	run script -qfec "\"$MT\" filter -a admin --as carol -n -f \"$BATS_TEST_TMPDIR/rules.conf\"" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\r'"filter, rule 1 of 1: "*"/100 messages, "*"B, "*"/s"* ]]
	run --separate-stderr "$MT" filter -a admin --as carol -n -f "$BATS_TEST_TMPDIR/rules.conf"
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *"100"* ]]
	[ -z "$stderr" ]
}
