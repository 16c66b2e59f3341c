#!/usr/bin/env bats
# archive: old mail into dated folders, every period in one run, exact and
# with flags intact; checked message by message with doveadm.
load helpers

# alice's fixture: regenerated once, restored from a copy per test (helpers.bash)
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
}

listing() { dadm -f tab fetch -u alice "mailbox uid flags" all | sed 's/ *\\Recent//' | sort; }
# year<TAB>message-id<TAB>flags of INBOX messages received before DATE, not \Flagged
# INBOX's unflagged mail received before $1, an interval ("365days": to the
# second, as --older counts; a date would be day-granular and flaky)
old_inbox() {
	dadm -f tab fetch -u alice "date.received hdr.message-id flags" mailbox INBOX before "$1" unflagged |
		tail -n +2 | sed 's/ *\\Recent//' | awk -F'\t' '{print substr($1, 1, 4) "\t" $2 "\t" $3}' | sort
}

@test "archive --dry-run changes nothing and counts per year what would move" {
	before=$(listing)
	run "$MT" archive --older 365d --dry-run --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
	got=$(echo "$output" | tail -n +2 | grep -v '^(total)' | grep -v $'\tskipped: flagged\t' | sed 's/^INBOX -> Archive\///' | cut -f1,3)
	# the flagged old mail that stays is counted too
	[ "$(echo "$output" | grep $'^INBOX\tskipped: flagged\t' | cut -f3)" -eq "$(dadm search -u alice mailbox INBOX before 365d flagged | wc -l)" ]
	want=$(old_inbox 365days | cut -f1 | uniq -c | awk '{print $2 "\t" $1}')
	[ -n "$want" ]
	[ "$got" = "$want" ]
}

@test "archive moves each message into its year, with flags intact, in one run" {
	run "$MT" archive --older 2y --tsv INBOX
	[ "$status" -eq 0 ]
	for y in $(dadm mailbox list -u alice 'Archive/*' | sed -n 's|^Archive/||p'); do
		# every message in Archive/Y came from year Y, flags unchanged
		got=$(dadm -f tab fetch -u alice "date.received hdr.message-id flags" mailbox "Archive/$y" all | tail -n +2 |
			sed 's/ *\\Recent//' | awk -F'\t' '{print substr($1, 1, 4) "\t" $2 "\t" $3}' | sort)
		[ -n "$got" ]
		[ -z "$(echo "$got" | awk -F'\t' -v y="$y" '$1 != y')" ]
	done
	# nothing old and unflagged is left in INBOX; every archived one is somewhere
	[ "$(dadm search -u alice mailbox INBOX before 730d unflagged | wc -l)" -eq 0 ]
	# (TSV has no total row: one record type per stream)
	moved=$(echo "$output" | awk -F'\t' '$2 == "moved" {s += $3} END {print s}')
	[ "$(dadm search -u alice mailbox 'Archive/*' all | wc -l)" -eq "$moved" ]
	# the new folders are subscribed
	for f in $(dadm mailbox list -u alice 'Archive/*'); do
		dadm mailbox list -u alice -s | grep -qx "$f"
	done
}

@test "flags and Message-IDs survive the move exactly" {
	want=$(old_inbox 730days | cut -f2- | sort)
	[ -n "$want" ]
	run "$MT" archive --older 730d INBOX
	[ "$status" -eq 0 ]
	got=$(dadm -f tab fetch -u alice "hdr.message-id flags" mailbox 'Archive/*' all | tail -n +2 | sed 's/ *\\Recent//' | sort)
	[ "$got" = "$want" ]
}

@test "--to with months, several source folders, and a second run has nothing left to do" {
	run "$MT" archive --older 1y --to 'Old/%Y-%m' --tsv 'Lists/*'
	[ "$status" -eq 0 ]
	[[ "$output" == *"Lists/dev -> Old/"* ]]
	[ "$(dadm mailbox list -u alice 'Old/*' | grep -cvE '^Old/[0-9]{4}-[0-9]{2}$')" -eq 0 ]
	[ "$(dadm search -u alice mailbox 'Lists/*' before 365d unflagged | wc -l)" -eq 0 ]
	run "$MT" archive --older 1y --to 'Old/%Y-%m' --tsv 'Lists/*'
	[ "$status" -eq 0 ]
	# nothing moves; what stays is the flagged mail, and says so
	[ -z "$(echo "$output" | tail -n +2 | grep -v $'\tskipped: flagged\t')" ]
}

@test "archive bad input: no --older, bad template, bad duration; nothing changes" {
	before=$(listing)
	run "$MT" archive INBOX
	[ "$status" -eq 64 ]
	run --separate-stderr "$MT" archive --older 1y --to 'Archive/%H' INBOX
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"only %Y, %m and %d"* ]]
	run "$MT" archive --older 3x INBOX
	[ "$status" -eq 64 ]
	run "$MT" archive --older 1y NoSuch
	[ "$status" -eq 65 ]
	[ "$(listing)" = "$before" ]
}

@test "skipped: flagged counts only flagged mail that would otherwise have moved, not mail already in its target" {
	dadm mailbox create -u alice Keep
	local i
	for i in 1 2 3 4; do
		printf 'Subject: f%s\r\nMessage-ID: <kf%s@x>\r\n\r\nb\r\n' "$i" "$i" | dadm save -u alice -m Keep
	done
	dadm flags add -u alice '\Flagged' mailbox Keep all
	touch -d '2020-01-01' "$MT_TEST_DIR"/mail/alice/Maildir/.Keep/{cur,new}/* 2>/dev/null || true
	before=$(listing)
	# the target of every message is the folder it is in: nothing would move,
	# so nothing is left behind for its flag
	run -0 --separate-stderr "$MT" archive --older 30d --to Keep --dry-run --tsv Keep
	echo "$output / $stderr"
	[[ "$output" != *"skipped: flagged"* ]]
	# the same mail with another target is what the flag keeps back
	run -0 --separate-stderr "$MT" archive --older 30d --to Elsewhere --dry-run --tsv Keep
	echo "$output / $stderr"
	[[ "$output" == *$'Keep\tskipped: flagged\t4\t'* ]]
	[ "$(listing)" = "$before" ]
}

@test "archive: a folder that matches nothing is named, the others are still archived, exit 65" {
	run --separate-stderr "$MT" archive --dry-run --older 2y --tsv Lists/dev NoSuchFolder
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool archive: no folder matches 'NoSuchFolder'" ]
	[[ "$output" == *$'Lists/dev -> Archive/'* ]]
	run --separate-stderr "$MT" archive --dry-run --older 2y NoSuchFolder
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool archive: no folder matches 'NoSuchFolder'" ]
	[ -z "$output" ]
}
