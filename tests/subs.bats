#!/usr/bin/env bats
# subs against the suite's Dovecot, with folders created and deleted behind the
# tool's back; subscriptions checked with doveadm's own view.
load helpers

# alice's fixture: regenerated once, restored from a copy per test (helpers.bash)
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
}

subscribed() { dadm mailbox list -u alice -s | sort; }

@test "subs list shows every subscription, marking the ones whose folder is gone" {
	dadm mailbox create -u alice "Soon Gone"
	dadm mailbox subscribe -u alice "Soon Gone"
	dadm mailbox delete -u alice "Soon Gone"
	run "$MT" subs list --tsv
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | cut -f1 | sort)" = "$(subscribed)" ]
	echo "$output" | grep -q $'^Soon Gone\tgone$'
	echo "$output" | grep -q $'^INBOX\tok$'
	run "$MT" subs --tsv
	[ "$(echo "$output" | tail -n +2 | cut -f1 | sort)" = "$(subscribed)" ]
}

@test "subs check exits 1 on dangling or missing subscriptions, 0 when clean" {
	run "$MT" subs check
	[ "$status" -eq 0 ]
	[ "$output" = "subscriptions are in order" ]
	run "$MT" subs check --tsv
	[ "$output" = $'folder\tstate' ]
	dadm mailbox create -u alice Unsubscribed
	run "$MT" subs check --tsv
	[ "$status" -eq 1 ]
	echo "$output" | grep -q $'^Unsubscribed\tnot subscribed$'
	dadm mailbox create -u alice Dangling
	dadm mailbox subscribe -u alice Dangling
	dadm mailbox delete -u alice Dangling
	run "$MT" subs check --tsv
	[ "$status" -eq 1 ]
	echo "$output" | grep -q $'^Dangling\tdangling subscription$'
}

@test "subs fix --dry-run changes nothing; fix removes dangling ones; --all subscribes the rest" {
	dadm mailbox create -u alice Dangling Unsubscribed
	dadm mailbox subscribe -u alice Dangling
	dadm mailbox delete -u alice Dangling
	before=$(subscribed)
	run "$MT" subs fix --all --dry-run --tsv
	[ "$status" -eq 0 ]
	[ "$(subscribed)" = "$before" ]
	echo "$output" | grep -q $'^Dangling\twould unsubscribe$'
	echo "$output" | grep -q $'^Unsubscribed\twould subscribe$'
	run "$MT" subs fix
	[ "$status" -eq 0 ]
	[[ "$(subscribed)" != *Dangling* ]]
	[[ "$(subscribed)" != *Unsubscribed* ]]
	run "$MT" subs fix --all
	[[ "$(subscribed)" == *Unsubscribed* ]]
	run "$MT" subs check
	[ "$status" -eq 0 ]
}

@test "subs add and remove resolve wildcard patterns against the server" {
	dadm mailbox unsubscribe -u alice Lists/dev Lists/announce
	run "$MT" subs add 'Lists/*' --tsv
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | cut -f1 | tr '\n' ' ')" = "Lists/announce Lists/dev " ]
	[[ "$(subscribed)" == *Lists/dev* ]]
	run "$MT" subs remove 'Lists/%'
	[ "$status" -eq 0 ]
	[[ "$(subscribed)" != *Lists/* ]]
	run "$MT" subs add 'Projets/*'
	[ "$status" -eq 0 ]
	run --separate-stderr "$MT" subs add 'Nothing*'
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool subs: no folder matches 'Nothing*'" ]
}

@test "subs add --all subscribes every existing folder" {
	dadm mailbox create -u alice A1 A2
	run "$MT" subs add --all
	[ "$status" -eq 0 ]
	want=$(dadm mailbox list -u alice | sort)
	run "$MT" subs check
	[ "$status" -eq 0 ]
	[[ "$(subscribed)" == *A1*A2* ]]
}

@test "subs export then import on another user reproduces exactly that list" {
	run "$MT" subs export
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/subs.txt"
	[ "$(sort "$BATS_TEST_TMPDIR/subs.txt")" = "$(subscribed)" ]
	[[ "$output" == *"Projets/Été"* ]]
	# round trip: change alice's view, then import the saved one
	dadm mailbox unsubscribe -u alice Lists/dev "Old Stuff"
	dadm mailbox create -u alice Extra
	dadm mailbox subscribe -u alice Extra
	# without --exact the extra subscription stays
	run "$MT" subs import "$BATS_TEST_TMPDIR/subs.txt"
	[ "$status" -eq 0 ]
	[ "$(subscribed)" = "$({ echo Extra; cat "$BATS_TEST_TMPDIR/subs.txt"; } | sort)" ]
	run "$MT" subs import --exact "$BATS_TEST_TMPDIR/subs.txt"
	[ "$status" -eq 0 ]
	[ "$(subscribed)" = "$(sort "$BATS_TEST_TMPDIR/subs.txt")" ]
	# from stdin, through an admin for bob: folders bob lacks are named, not tried (65)
	run --separate-stderr bash -c "\"$MT\" subs -a admin --as bob import - < \"$BATS_TEST_TMPDIR/subs.txt\""
	[ "$status" -eq 65 ]
	[[ "$output" == *"Projets/Été"*"no such folder here: not subscribed"* ]]
	while IFS= read -r f; do
		dadm mailbox create -u bob "$f" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/subs.txt"
	run bash -c "\"$MT\" subs -a admin --as bob import --exact - < \"$BATS_TEST_TMPDIR/subs.txt\""
	[ "$status" -eq 0 ]
	[ "$(dadm mailbox list -u bob -s | sort)" = "$(sort "$BATS_TEST_TMPDIR/subs.txt")" ]
	run "$MT" subs -a admin --as bob import --exact --dry-run /dev/null --tsv
	[ "$status" -eq 0 ]
	[[ "$output" == *"would unsubscribe"* ]]
	[ "$(dadm mailbox list -u bob -s | sort)" = "$(sort "$BATS_TEST_TMPDIR/subs.txt")" ]
	# without --exact an empty list changes nothing
	run "$MT" subs -a admin --as bob import --dry-run /dev/null --tsv
	[ "$status" -eq 0 ]
	[ "$output" = $'folder\tstate' ]
	run "$MT" subs --exact check
	[ "$status" -eq 64 ]
}

@test "subs works the same without LIST-EXTENDED (LIST + LSUB)" {
	dadm mailbox create -u alice Dangling
	dadm mailbox subscribe -u alice Dangling
	dadm mailbox delete -u alice Dangling
	run "$MT" subs list --tsv
	a=$output
	run "$MT" subs list --tsv --tunnel "$MT_TUNNEL_ALICE_MINIMAL"
	[ "$status" -eq 0 ]
	[ "$output" = "$a" ]
}

@test "subs bad input: unknown subcommand, missing pattern, unreadable file" {
	run "$MT" subs frobnicate
	[ "$status" -eq 64 ]
	run "$MT" subs add
	[ "$status" -eq 64 ]
	run "$MT" subs check extra
	[ "$status" -eq 64 ]
	before=$(subscribed)
	run --separate-stderr "$MT" subs import "$BATS_TEST_TMPDIR/nope.txt"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"cannot read"* ]]
	[ "$(subscribed)" = "$before" ]
}

@test "subs add/remove: a pattern that matches nothing is named, the others done, exit 65" {
	run --separate-stderr "$MT" subs add --dry-run --tsv 'Lists/*' 'Nothing*'
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool subs: no folder matches 'Nothing*'" ]
	[[ "$output" == *"Lists/dev"* ]]
	run --separate-stderr "$MT" subs remove --dry-run 'Nothing*'
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool subs: no subscription matches 'Nothing*'" ]
}
