#!/usr/bin/env bats
# Plan, then act: for every applet that changes mail or folders, a dry run
# leaves the server exactly as it was (folders, subscriptions, every UID
# and its flags), and the real run does what the dry run printed, no more,
# no less (tests/helpers.bash: plan_is_outcome).
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	R="$BATS_TEST_TMPDIR/rules.conf"
}

@test "expunge: the dry run changes nothing and the real run removes what it listed" {
	plan_is_outcome expunge --larger 100k --older 30d 'Lists/*' INBOX
}

@test "expunge --trash: the same for moves to the Trash" {
	plan_is_outcome expunge --trash --subject '(?i)re:' Sent Archive
}

@test "compact: the dry run's steps are the real run's" {
	plan_is_outcome compact --step 'Lists/*:1y' --step Archive:2y
}

@test "filter: every rule's moves, copies, flags and expunges as planned" {
	printf '%s\n' 'rules = (
	  { name = "big"; folder = "INBOX"; match = { larger = "500k"; }; move = "Big"; create = true; },
	  { name = "dev"; folders = ("Lists/dev", "INBOX"); match = { subject = "(?i)build|release"; }; flag = "$Dev"; copy = "Dev copies"; create = true; },
	  { name = "old"; folder = "Trash"; match = { older = "100d"; }; expunge = true; } );' > "$R"
	plan_is_outcome filter -f "$R"
}

@test "archive (on the server): the dry run's moves per period are the real run's" {
	plan_is_outcome archive --older 400d --to 'Archive/%Y' Lists/dev Sent
}

@test "archive --export --delete-after-export, then --import: the dry runs' rows are the real runs'" {
	plan_is_outcome archive --export "$BATS_TEST_TMPDIR/dev.mbox" --delete-after-export --older 400d Lists/dev
	[ -s "$BATS_TEST_TMPDIR/dev.mbox" ]
	PLAN_DROP_COLS=per_second plan_is_outcome archive --import "$BATS_TEST_TMPDIR/dev.mbox" --into 'Restored/dev'
	# and the same into a Maildir
	plan_is_outcome archive --export "$BATS_TEST_TMPDIR/ann" --format maildir --delete-after-export Lists/announce
	PLAN_DROP_COLS=per_second plan_is_outcome archive --import "$BATS_TEST_TMPDIR/ann" --into 'Restored/announce'
}

@test "subs add, remove, fix and import: the dry run's changes are the real run's" {
	dadm mailbox create -u alice Gone
	dadm mailbox subscribe -u alice Gone
	dadm mailbox delete -u alice Gone
	plan_is_outcome subs fix --all
	alice_restore
	dadm mailbox unsubscribe -u alice Lists/dev Lists/announce
	plan_is_outcome subs add 'Lists/*'
	plan_is_outcome subs remove 'Lists/*' Archive
	printf 'INBOX\nSent\nNowhere\n' > "$BATS_TEST_TMPDIR/list"
	plan_is_outcome subs import --exact "$BATS_TEST_TMPDIR/list"
}
