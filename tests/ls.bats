#!/usr/bin/env bats
# ls against the suite's Dovecot: folders, special-use, subscriptions, --status.
load helpers

@test "ls lists every folder Dovecot has, in UTF-8" {
	run "$MT" ls --tsv
	[ "$status" -eq 0 ]
	got=$(echo "$output" | tail -n +2 | cut -f1 | sort)
	want=$(dadm mailbox list -u alice | sort)
	[ "$got" = "$want" ]
	[[ "$output" == *"Projets/Été"* ]]
	[[ "$output" == *"Old Stuff"* ]]
}

@test "ls shows special-use flags and subscription state" {
	run "$MT" ls --tsv
	[ "$status" -eq 0 ]
	echo "$output" | grep -q $'^Trash\t\\\\Trash\ttrue\t\t\t\ttrue$'
	echo "$output" | grep -q $'^Junk\t\\\\Junk\t'
	echo "$output" | grep -q $'^Sent\t\\\\Sent\t'
}

@test "ls marks a subscription whose folder is gone" {
	dadm mailbox create -u alice "Gone Soon"
	dadm mailbox subscribe -u alice "Gone Soon"
	dadm mailbox delete -u alice "Gone Soon"
	run "$MT" ls --tsv
	dadm mailbox unsubscribe -u alice "Gone Soon"
	[ "$status" -eq 0 ]
	echo "$output" | grep -q $'^Gone Soon\t\ttrue\t\t\t\tfalse$'
}

@test "ls PATTERN restricts the listing; % stays on one level" {
	run "$MT" ls --tsv 'Lists/*'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | cut -f1 | sort | tr '\n' ' ')" = "Lists/announce Lists/dev " ]
	run "$MT" ls --tsv '%'
	[[ "$output" != *"Lists/dev"* ]]
	[[ "$output" == *"INBOX"* ]]
}

@test "ls --status counts agree with doveadm" {
	run "$MT" ls --status --tsv
	[ "$status" -eq 0 ]
	got=$(echo "$output" | tail -n +2 | awk -F'\t' '$4 != "" {print $1 "\t" $4 "\t" $6}' | sort)
	want=$(doveadm_sizes alice)
	[ "$got" = "$want" ]
}

@test "ls --status --json gives one object per folder with stable names" {
	run "$MT" ls --status --json
	[ "$status" -eq 0 ]
	n=$(echo "$output" | wc -l)
	[ "$n" -eq "$(dadm mailbox list -u alice | wc -l)" ]
	echo "$output" | grep -q '^{"schema":1,"type":"folder","folder":"INBOX","special_use":null,"subscribed":true,"messages":[0-9]*,"unseen":[0-9]*,"size":[0-9]*,"selectable":true}$'
	echo "$output" | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'
}

@test "ls --subscribed leaves out unsubscribed folders" {
	dadm mailbox create -u alice "NotSubscribed"
	run "$MT" ls --subscribed --tsv
	dadm mailbox delete -u alice "NotSubscribed"
	[ "$status" -eq 0 ]
	[[ "$output" != *"NotSubscribed"* ]]
	[[ "$output" == *"Trash"* ]]
}

@test "a folder name with CR/LF is refused before anything is sent" {
	run --separate-stderr "$MT" ls $'a\r\nb LOGOUT'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"bad folder pattern"* ]]
}

@test "ls without LIST-EXTENDED (LIST + LSUB) and without STATUS=SIZE gives the same answers" {
	run "$MT" ls --status --tsv -a alice
	[ "$status" -eq 0 ]
	a=$output
	run "$MT" ls --status --tsv --tunnel "$MT_TUNNEL_ALICE_MINIMAL"
	[ "$status" -eq 0 ]
	# special-use flags are only announced with SPECIAL-USE; compare the rest
	[ "$(echo "$output" | cut -f1,3-)" = "$(echo "$a" | cut -f1,3-)" ]
}

@test "ls takes several patterns, each folder once; a \\Noselect parent is listed as a name" {
	run "$MT" ls --tsv INBOX 'Lists/*' Lists INBOX
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | cut -f1 | tr '\n' ' ')" = "INBOX Lists Lists/announce Lists/dev " ]
}

@test "ls: a pattern that matches nothing is named on stderr, the others listed, exit 65" {
	run --separate-stderr "$MT" ls --tsv 'Lists/*' NoSuchFolder
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool ls: no folder matches 'NoSuchFolder'" ]
	[ "$(echo "$output" | tail -n +2 | cut -f1 | tr '\n' ' ')" = "Lists/announce Lists/dev " ]
	run --separate-stderr "$MT" ls --tsv 'NoSuch*'
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool ls: no folder matches 'NoSuch*'" ]
	[ -z "$output" ]
}
