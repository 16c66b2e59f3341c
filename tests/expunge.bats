#!/usr/bin/env bats
# expunge against the suite's Dovecot: exactly the selected UIDs go, counted
# before and after with doveadm (an independent view of the server).
load helpers

# alice's fixture: regenerated once, restored from a copy per test (helpers.bash)
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
}

# every message of alice: folder, uid, flags (without \Recent, which any session changes)
listing() {
	dadm -f tab fetch -u alice "mailbox uid flags" all | sed 's/ *\\Recent//' | sort
}
count() { dadm search -u alice mailbox "$1" "${@:2}" | wc -l; }
sum_sizes() {  # FOLDER SEARCH... : total RFC822 size of the matching messages
	dadm -f tab fetch -u alice "size.virtual" mailbox "$1" "${@:2}" | tail -n +2 | awk '{s+=$1} END {print s+0}'
}

@test "expunge --dry-run changes nothing and reports what would go" {
	before=$(listing)
	want=$(count INBOX deleted unflagged)
	run "$MT" expunge --deleted --dry-run --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
	[ "$(echo "$output" | sed -n 2p)" = "$(printf 'INBOX\twould remove\t%s\t%s' "$want" "$(sum_sizes INBOX deleted unflagged)")" ]
}

@test "expunge --deleted removes exactly the \\Deleted messages, and \\Flagged ones stay" {
	uid=$(dadm search -u alice mailbox INBOX deleted | head -1 | cut -d' ' -f2)
	dadm flags add -u alice '\Flagged' mailbox INBOX uid "$uid"
	n=$(count INBOX all)
	del=$(count INBOX deleted unflagged)
	[ "$del" -gt 0 ]
	run "$MT" expunge --deleted --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p | cut -f1-3)" = "$(printf 'INBOX\tremoved\t%s' "$del")" ]
	[ "$(count INBOX all)" -eq $((n - del)) ]
	[ "$(count INBOX deleted)" -eq 1 ]
	[ "$(count INBOX uid "$uid")" -eq 1 ]
	run "$MT" expunge --deleted --include-flagged INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX deleted)" -eq 0 ]
}

@test "messages another client flagged \\Deleted survive an expunge by age" {
	# the newest message is young: flag it \Deleted, as another client would
	young=$(dadm search -u alice mailbox INBOX all | tail -1 | cut -d' ' -f2)
	dadm flags add -u alice '\Deleted' mailbox INBOX uid "$young"
	old_n=$(count INBOX before 2025-11-01 unflagged)
	n=$(count INBOX all)
	run "$MT" expunge --before 2025-11-01 INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX uid "$young")" -eq 1 ]
	[ "$(count INBOX all)" -eq $((n - old_n)) ]
	[ "$(count INBOX before 2025-11-01 unflagged)" -eq 0 ]
}

@test "expunge --larger removes exactly the large messages" {
	big=$(count INBOX larger 1048576 unflagged)
	[ "$big" -gt 0 ]
	n=$(count INBOX all)
	run "$MT" expunge --larger 1M INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX all)" -eq $((n - big)) ]
	[ "$(count INBOX larger 1048576 unflagged)" -eq 0 ]
}

@test "criteria combine: all must hold" {
	want=$(count INBOX seen smaller 5000 before 2025-01-01 unflagged)
	n=$(count INBOX all)
	run "$MT" expunge --seen --smaller 5000 --before 2025-01-01 INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX all)" -eq $((n - want)) ]
	[ "$(count INBOX seen smaller 5000 before 2025-01-01 unflagged)" -eq 0 ]
	[ "$(count INBOX unseen smaller 5000 before 2025-01-01)" -gt 0 ]
}

@test "--older with sub-day precision, on the server (WITHIN) and client-side without it" {
	printf 'From: new@example.org\r\nSubject: fresh\r\nMessage-ID: <fresh1@example.org>\r\n\r\nhi\r\n' | dadm save -u alice -m INBOX
	n=$(count INBOX all)
	run "$MT" expunge --newer 90m --dry-run --tsv INBOX
	[ "$(echo "$output" | sed -n 2p | cut -f3)" -eq 1 ]
	# without WITHIN the age is checked on each candidate's INTERNALDATE
	run "$MT" expunge --newer 90m --tunnel "$(mt_tunnel_caps 'IMAP4rev1 UIDPLUS')" INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX all)" -eq $((n - 1)) ]
	[ "$(count INBOX header message-id fresh1)" -eq 0 ]
}

@test "--max refuses when more would go, and nothing changes" {
	before=$(listing)
	run --separate-stderr "$MT" expunge --larger 1k --max 3 INBOX
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"more than --max 3; nothing removed"* ]]
	[ "$(listing)" = "$before" ]
}

@test "--trash moves the selection to \\Trash" {
	big=$(count INBOX larger 1048576 unflagged)
	t=$(count Trash all)
	n=$(count INBOX all)
	ids=$(dadm -f tab fetch -u alice "hdr.message-id" mailbox INBOX larger 1048576 unflagged | tail -n +2 | sort)
	run "$MT" expunge --larger 1M --trash INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX all)" -eq $((n - big)) ]
	[ "$(count Trash all)" -eq $((t + big)) ]
	for id in $ids; do
		[ "$(dadm search -u alice mailbox Trash header message-id "$id" | wc -l)" -eq 1 ]
	done
}

@test "a UIDVALIDITY change between selection and removal removes nothing" {
	before_n=$(count Junk all)
	[ "$before_n" -gt 0 ]
	# between selection and removal: delete Junk and create it anew with one message
	hook="$BATS_TEST_TMPDIR/hook.sh"
	cat > "$hook" <<HOOK
$MT_DOVEADM mailbox delete -u alice Junk
$MT_DOVEADM mailbox create -u alice Junk
printf 'From: x@example.org\r\nSubject: survivor\r\n\r\nbody\r\n' | $MT_DOVEADM save -u alice -m Junk
HOOK
	run --separate-stderr env MAILTOOL_TEST_HOOK_BEFORE_REMOVE="sh $hook" "$MT" expunge --larger 1 Junk
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"UIDVALIDITY of 'Junk' changed"*"nothing removed"* ]]
	[ "$(count Junk all)" -eq 1 ]
	[ "$(count Junk subject survivor)" -eq 1 ]
}

@test "without UIDPLUS expunge refuses (69) unless --allow-unsafe-expunge" {
	before=$(listing)
	t="$(mt_tunnel_caps 'IMAP4rev1 WITHIN')"
	run --separate-stderr "$MT" expunge --deleted --tunnel "$t" INBOX
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"lacks UIDPLUS"*"nothing removed"* ]]
	[ "$(listing)" = "$before" ]
	run "$MT" expunge --deleted --allow-unsafe-expunge --tunnel "$t" INBOX
	[ "$status" -eq 0 ]
	[ "$(count INBOX deleted unflagged)" -eq 0 ]
}

@test "--subject matches RFC 2047 decoded subjects; -v lists UID, date, size, from, subject" {
	want=$(dadm search -u alice mailbox INBOX subject "Καλημέρα" | wc -l)
	[ "$want" -gt 0 ]
	run --separate-stderr "$MT" expunge --subject 'Καλημέρα' --include-flagged --dry-run -v --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = $'folder\tuid\tdate\tsize\tfrom\tsubject' ]
	[ "$(echo "$output" | grep -c 'Καλημέρα από την Αθήνα$')" -eq "$want" ]
	[[ "$output" != *"=?"* ]]
}

@test "--from takes a PCRE2 regex" {
	want=$(dadm search -u alice mailbox Sent from "@corp.example.com" unflagged | wc -l)
	run "$MT" expunge --from '(?i)@CORP\.example\.com>?$' --dry-run --tsv Sent
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p | cut -f3)" -eq "$want" ]
}

@test "folder patterns and --recursive" {
	run "$MT" expunge --deleted --dry-run --tsv 'Lists/*'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | cut -f1 | tail -n +2 | tr '\n' ' ')" = "Lists/announce Lists/dev " ]
	run "$MT" expunge --deleted --dry-run --tsv -r Lists
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | cut -f1 | tail -n +2 | tr '\n' ' ')" = "Lists/announce Lists/dev " ]
	run "$MT" expunge --deleted --json 'Lists/*'
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert r[-1]["type"]=="total" and r[-1]["folder"] is None and r[-1]["messages"]==sum(x["messages"] for x in r[:-1])'
	[ "$(dadm search -u alice mailbox 'Lists/*' deleted | wc -l)" -eq 0 ]
}

@test "bad input is refused before connecting, with one clear line and nothing changed" {
	before=$(listing)
	run --separate-stderr "$MT" expunge --older 3x INBOX
	[ "$status" -eq 64 ]
	[[ "$stderr" == "mailtool expunge: --older: bad duration '3x'"* ]]
	run --separate-stderr "$MT" expunge --larger -1 INBOX
	[ "$status" -eq 64 ]
	run --separate-stderr "$MT" expunge --subject '(?i)inv[' INBOX
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"bad regular expression at offset"* ]]
	run --separate-stderr "$MT" expunge --deleted NoSuchFolder
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool expunge: no folder matches 'NoSuchFolder'" ]
	run "$MT" expunge INBOX
	[ "$status" -eq 64 ]
	run "$MT" expunge --seen --unseen INBOX
	[ "$status" -eq 64 ]
	run "$MT" expunge --before 2025-13-45 INBOX
	[ "$status" -eq 64 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	# a day the calendar lacks is not the next day; a two-digit year is not the year 24
	for d in 2024-02-30 2023-02-29 2024-04-31 24-01-01; do
		run --separate-stderr "$MT" expunge --before "$d" --dry-run INBOX
		[ "$status" -eq 64 ]
		[ "$stderr" = "mailtool expunge: --before: '$d' is not a calendar date YYYY-MM-DD" ]
	done
	run "$MT" expunge --before 2024-02-29 --dry-run INBOX
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
}

@test "killed in the middle of a run: a rerun converges and nothing outside the selection is lost" {
	others=$(dadm -f tab fetch -u alice "mailbox uid" all undeleted | sort)
	want_gone=$(dadm search -u alice mailbox 'Lists/*' deleted | wc -l)
	want_gone=$((want_gone + $(count INBOX deleted)))
	# the hook runs before each folder's removal: let the first folder go, kill at the second
	hook="$BATS_TEST_TMPDIR/kill-second.sh"
	printf 'n=$(cat "%s" 2>/dev/null || echo 0); echo $((n+1)) > "%s"; [ "$n" -ge 1 ] && kill -9 $MAILTOOL_PID; exit 0\n' \
		"$BATS_TEST_TMPDIR/calls" "$BATS_TEST_TMPDIR/calls" > "$hook"
	run env MAILTOOL_TEST_HOOK_BEFORE_REMOVE="sh $hook" "$MT" expunge --deleted --include-flagged 'Lists/*' INBOX
	[ "$status" -eq 137 ]
	[ "$(cat "$BATS_TEST_TMPDIR/calls")" -eq 2 ]
	# the first folder was done, the rest not yet
	[ "$(dadm search -u alice mailbox Lists/announce deleted | wc -l)" -eq 0 ]
	[ "$(count INBOX deleted)" -gt 0 ]
	run "$MT" expunge --deleted --include-flagged --tsv 'Lists/*' INBOX
	[ "$status" -eq 0 ]
	[ "$(dadm search -u alice all deleted mailbox 'Lists/*' | wc -l)" -eq 0 ]
	[ "$(count INBOX deleted)" -eq 0 ]
	[ "$(dadm -f tab fetch -u alice "mailbox uid" all undeleted | sort)" = "$others" ]
	[ "$want_gone" -gt 0 ]
}

# What the report says was removed is what this run removed, whatever other
# clients do meanwhile (an outside tester's cases, against the STATUS SIZE
# before/after of an earlier version), and after a refusal part-way.

big_message() {  # a ~230 KB message on stdout
	python3 -c 'import sys; sys.stdout.write("From: a@example.org\r\nSubject: arrived meanwhile\r\n\r\n" + ("x" * 76 + "\r\n") * 3000)'
}

@test "a message delivered during the run does not change the bytes reported as removed" {
	want_n=$(count Junk larger 10240 unflagged)
	want_b=$(sum_sizes Junk larger 10240 unflagged)
	[ "$want_n" -gt 0 ]
	big_message > "$BATS_TEST_TMPDIR/new.eml"
	run --separate-stderr env MAILTOOL_TEST_HOOK_BEFORE_REMOVE="$MT_DOVEADM save -u alice -m Junk < $BATS_TEST_TMPDIR/new.eml" \
		"$MT" expunge --larger 10k --tsv Junk
	[ "$status" -eq 0 ]
	[ "$(count Junk subject 'arrived meanwhile')" -eq 1 ]
	[ "$(echo "$output" | sed -n 2p)" = "$(printf 'Junk\tremoved\t%s\t%s' "$want_n" "$want_b")" ]
}

@test "another client expunging a message outside the selection is not counted as this run's" {
	want_n=$(count Junk larger 10240 unflagged)
	want_b=$(sum_sizes Junk larger 10240 unflagged)
	small=$(dadm search -u alice mailbox Junk smaller 10240 | head -1 | awk '{print $2}')
	[ -n "$small" ]
	run --separate-stderr env MAILTOOL_TEST_HOOK_BEFORE_REMOVE="$MT_DOVEADM expunge -u alice mailbox Junk uid $small" \
		"$MT" expunge --larger 10k --tsv Junk
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p)" = "$(printf 'Junk\tremoved\t%s\t%s' "$want_n" "$want_b")" ]
}

@test "a server announcing STATUS=SIZE but answering STATUS without SIZE: the real run reports what the dry run planned" {
	tun="sed -u 's/(SIZE)/(MESSAGES)/' | $MT_TUNNEL_ALICE"
	run --separate-stderr "$MT" expunge --larger 10k --tsv --dry-run --tunnel "$tun" Junk
	[ "$status" -eq 0 ]
	dry=$(echo "$output" | sed -n 2p | sed 's/would remove/removed/')
	run --separate-stderr "$MT" expunge --larger 10k --tsv --tunnel "$tun" Junk
	[ "$status" -eq 0 ]
	[ "$(count Junk larger 10240 unflagged)" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p)" = "$dry" ]
}

@test "a removal the server refuses in its second UID batch: the report says the first batch's 5,000 went" {
	python3 -c '
for i in range(5100):
    print("From sender@example.org Mon Jan  1 00:00:00 2024")
    print("From: sender@example.org\nSubject: bulk %d\nMessage-ID: <bulk%d@example.org>\n\nbody %d\n" % (i, i, i))' > "$BATS_TEST_TMPDIR/many.mbox"
	run "$MT" archive --import "$BATS_TEST_TMPDIR/many.mbox" --into Bulk
	[ "$status" -eq 0 ]
	[ "$(count Bulk all)" -eq 5100 ]
	want_b=$(dadm search -u alice mailbox Bulk all | head -5000 | awk '{print $2}' | paste -sd, | xargs -I{} sh -c "$MT_DOVEADM -f tab fetch -u alice size.virtual mailbox Bulk uid {}" | tail -n +2 | awk '{s+=$1} END {print s}')
	tun="python3 $MT_REPO/tests/lib/refuse-nth-store.py 2 $MT_TUNNEL_ALICE"
	run --separate-stderr "$MT" expunge --larger 1 --tsv --tunnel "$tun" Bulk
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"STORE refused by the server"* ]]
	[ "$(count Bulk all)" -eq 100 ]
	[ "$(echo "$output" | sed -n 2p)" = "$(printf 'Bulk\tremoved\t5000\t%s' "$want_b")" ]
}

@test "calendar months and sums of units: 3mo is the days back to the same day three months ago, 1y6mo the same" {
	before=$(listing)
	for spec in 3mo:3 1y6mo:18 13mo2d:13; do
		d=${spec%%:*} m=${spec#*:}
		days=$(python3 -c 'import datetime as D, sys, calendar as C
t = D.date.today(); m = int(sys.argv[1]); y, mo = divmod(t.year * 12 + t.month - 1 - m, 12)
b = D.date(y, mo + 1, min(t.day, C.monthrange(y, mo + 1)[1]))
print((t - b).days + (2 if sys.argv[2] == "13mo2d" else 0))' "$m" "$d")
		# a selection that is not empty, and not the whole folder either
		[ "$(count INBOX before "${days}d" undeleted)" -gt 0 ]
		[ "$(count INBOX since "${days}d")" -gt 0 ]
		run -0 "$MT" expunge --older "$d" --dry-run --tsv INBOX
		months=$output
		run -0 "$MT" expunge --older "${days}d" --dry-run --tsv INBOX
		[ "$months" = "$output" ]
	done
	run -0 "$MT" expunge --older 2h30m --dry-run --tsv INBOX
	a=$output
	run -0 "$MT" expunge --older 150m --dry-run --tsv INBOX
	[ "$a" = "$output" ]
	# m is minutes; M, fractions of months and bare numbers are refused (64)
	for bad in 3M 1.5mo 1y6 3months; do
		run --separate-stderr "$MT" expunge --older "$bad" --dry-run INBOX
		[ "$status" -eq 64 ]
		[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	done
	run --separate-stderr "$MT" expunge --older 3M --dry-run INBOX
	[[ "$stderr" == *"m is minutes, mo calendar months"* ]]
	[ "$(listing)" = "$before" ]
}

@test "expunge: a folder that matches nothing is named, the other folders are still done, exit 65" {
	before=$(alice_count INBOX larger 1M)
	[ "$before" -gt 0 ]
	run --separate-stderr "$MT" expunge --larger 1M --include-flagged --tsv INBOX NoSuchFolder
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool expunge: no folder matches 'NoSuchFolder'" ]
	[ "$(alice_count INBOX larger 1M)" -eq 0 ]
	[[ "$output" == *$'INBOX\tremoved\t'"$before"$'\t'* ]]
	# a \Noselect parent alone: said so, nothing done
	run --separate-stderr "$MT" expunge --deleted Lists
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool expunge: 'Lists' is not selectable: it only holds other folders" ]
}
