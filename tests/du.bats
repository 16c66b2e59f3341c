#!/usr/bin/env bats
# du against the suite's Dovecot: numbers equal doveadm's, sorting, top, depth.
load helpers

@test "du per-folder messages and bytes equal doveadm's" {
	run "$MT" du --tsv --no-total
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = $'folder\tmessages\tsize' ]
	got=$(echo "$output" | tail -n +2 | sort)
	want=$(doveadm_sizes alice)
	[ "$got" = "$want" ]
}

@test "du total is the sum over all folders" {
	run "$MT" du --json
	[ "$status" -eq 0 ]
	total=$(echo "$output" | jq -r 'select(.type == "total") | "\(.messages)\t\(.size)"')
	want=$(doveadm_sizes alice | awk -F'\t' '{m+=$2; s+=$3} END {print m "\t" s}')
	[ "$total" = "$want" ]
	echo "$output" | tail -1 | grep -q "^{\"schema\":1,\"type\":\"total\",\"folder\":null,\"messages\":${want%%$'\t'*},\"size\":${want##*$'\t'}}\$"
	# a real folder named like the people's label stays a folder
	dadm mailbox create -u alice "(total)"
	run "$MT" du --json
	dadm mailbox delete -u alice "(total)"
	[ "$(echo "$output" | jq -r 'select(.folder == "(total)") | .type')" = "folder" ]
	[ "$(echo "$output" | jq -s 'map(select(.type == "total")) | length')" -eq 1 ]
	run "$MT" du --tsv
	[ "$(echo "$output" | grep -c '(total)')" -eq 0 ]
}

@test "du without STATUS=SIZE (FETCH RFC822.SIZE fallback) gives the same numbers" {
	# a tunnel to Dovecot's imap with STATUS=SIZE removed from its capabilities
	run "$MT" du --tsv --no-total -a alice
	[ "$status" -eq 0 ]
	a=$output
	run "$MT" du --tsv --no-total --tunnel "$MT_TUNNEL_ALICE_NOSIZE"
	[ "$status" -eq 0 ]
	[ "$output" = "$a" ]
}

@test "du --sort size puts the largest folder first; --top limits the rows" {
	run "$MT" du --tsv --no-total --sort size --top 3
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | wc -l)" -eq 3 ]
	first=$(echo "$output" | sed -n 2p | cut -f1)
	want=$(doveadm_sizes alice | sort -t $'\t' -k3,3nr | head -1 | cut -f1)
	[ "$first" = "$want" ]
	sizes=$(echo "$output" | tail -n +2 | cut -f3)
	[ "$sizes" = "$(echo "$sizes" | sort -nr)" ]
}

@test "du --sort count orders by message count" {
	run "$MT" du --tsv --no-total --sort count
	[ "$status" -eq 0 ]
	counts=$(echo "$output" | tail -n +2 | cut -f2)
	[ "$counts" = "$(echo "$counts" | sort -nr)" ]
}

@test "du --depth 1 rolls subfolders into their parent" {
	run "$MT" du --tsv --no-total --depth 1
	[ "$status" -eq 0 ]
	lists=$(echo "$output" | grep $'^Lists\t' | cut -f2-)
	want=$(doveadm_sizes alice | grep '^Lists/' | awk -F'\t' '{m+=$2; s+=$3} END {print m "\t" s}')
	[ "$lists" = "$want" ]
	[[ "$output" != *"Lists/dev"* ]]
}

@test "du -h prints human sizes" {
	run "$MT" du -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"MiB"* || "$output" == *"KiB"* ]]
	[[ "$(echo "$output" | head -1)" == folder*messages*size ]]
}

@test "du PATTERN restricts; a pattern matching nothing is an error" {
	run "$MT" du --tsv --no-total 'Lists/*'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | wc -l)" -eq 2 ]
	run "$MT" du 'NoSuchFolder*'
	[ "$status" -eq 65 ]
}

@test "du bad --sort/--top/--depth are usage errors" {
	run "$MT" du --sort bogus
	[ "$status" -eq 64 ]
	run "$MT" du --top -1
	[ "$status" -eq 64 ]
	run "$MT" du --depth x
	[ "$status" -eq 64 ]
}

@test "du costs a constant number of round trips, not one per message" {
	run --separate-stderr "$MT" du -v --tsv
	[ "$status" -eq 0 ]
	rt=$(echo "$stderr" | sed -n 's/.*: \([0-9]*\) round trips.*/\1/p')
	[ -n "$rt" ]
	[ "$rt" -le 10 ]
}

# ---- several folders; one rule for a folder argument that names nothing ----

@test "du takes several folders and patterns, each folder once" {
	run "$MT" du --tsv --no-total INBOX 'Lists/*' INBOX
	[ "$status" -eq 0 ]
	got=$(echo "$output" | tail -n +2 | sort)
	want=$(doveadm_sizes alice | grep -E '^(INBOX|Lists/[^	]*)	')
	[ "$got" = "$want" ]
	[ "$(echo "$got" | wc -l)" -eq 3 ]
}

@test "du: a folder that matches nothing is named on stderr, the others are measured, exit 65" {
	run --separate-stderr "$MT" du --tsv --no-total INBOX NoSuchFolder Archive
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool du: no folder matches 'NoSuchFolder'" ]
	[ "$(echo "$output" | tail -n +2 | cut -f1 | sort | tr '\n' ' ')" = "Archive INBOX " ]
}

@test "du of a parent-only (\\Noselect) name says it is not selectable, no zero total" {
	# the fixture: Lists holds Lists/dev and Lists/announce and no mail of its own
	run dadm mailbox status -u alice messages Lists
	[ "$status" -ne 0 ]
	run --separate-stderr "$MT" du Lists
	[ "$status" -eq 65 ]
	[ "$stderr" = "mailtool du: 'Lists' is not selectable: it only holds other folders" ]
	[[ "$output" != *"(total)"* ]]
	# with --depth its subtree is still rolled up under it
	run "$MT" du --tsv --no-total --depth 1 'Lists*'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c $'^Lists\t')" -eq 1 ]
}

# ---- --messages: the largest messages ---------------------------------------------

# "folder<TAB>uid<TAB>size" of alice's N largest messages, from Dovecot
doveadm_largest() {
	dadm -f tab fetch -u alice "mailbox uid size.virtual" all | tail -n +2 | sort -t $'\t' -k3,3nr -k1,1 -k2,2n | head -"$1"
}

@test "du --messages lists the largest messages, largest first, as Dovecot sizes them" {
	run "$MT" du --messages --top 5 --tsv
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = $'folder\tuid\tdate\tsize\tfrom\tsubject' ]
	got=$(echo "$output" | tail -n +2 | cut -f1,2,4)
	[ "$got" = "$(doveadm_largest 5)" ]
	# the default is 20 rows
	run "$MT" du --messages --tsv
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | wc -l)" -eq 20 ]
}

@test "du --messages shows INTERNALDATE, From and the decoded Subject" {
	run "$MT" du --messages --top 1 --json INBOX
	[ "$status" -eq 0 ]
	read -r uid < <(doveadm_largest 300 | awk -F'\t' '$1 == "INBOX" {print $2; exit}')
	[[ "$output" == *"\"uid\":$uid,"* ]]
	date=$(dadm -f tab fetch -u alice "date.received" mailbox INBOX uid "$uid" | tail -1)
	[[ "$output" == *"\"date\":\"${date:0:16}\""* ]]
	subj=$(dadm -f tab fetch -u alice "hdr.subject" mailbox INBOX uid "$uid" | tail -1)
	[[ "$subj" == *"=?"* ]]   # the fixture's largest INBOX message has an encoded Subject
	[[ "$output" == *'"subject":"Re: Année fiscale: résultats"'* ]]
}

@test "du --messages --larger lists only larger messages, across the folders named" {
	run "$MT" du --messages --larger 1M --top 1000 --tsv INBOX Sent
	[ "$status" -eq 0 ]
	n=$(echo "$output" | tail -n +2 | wc -l)
	want=$(( $(dadm search -u alice mailbox INBOX larger 1M | wc -l) + $(dadm search -u alice mailbox Sent larger 1M | wc -l) ))
	[ "$n" -eq "$want" ]
	[ "$n" -gt 0 ]
	[ -z "$(echo "$output" | tail -n +2 | awk -F'\t' '$4 <= 1048576 || ($1 != "INBOX" && $1 != "Sent")')" ]
}

@test "du --messages without SORT (sizes in batches, a heap of N) gives the same rows" {
	sort_t=$(mt_tunnel_caps "IMAP4rev1 SORT UIDPLUS NAMESPACE LIST-EXTENDED SPECIAL-USE")
	nosort_t=$(mt_tunnel_caps "IMAP4rev1 UIDPLUS NAMESPACE LIST-EXTENDED SPECIAL-USE")
	run --separate-stderr "$MT" du --messages --top 7 --larger 20k --tsv --trace --tunnel "$sort_t"
	[ "$status" -eq 0 ]
	with=$output
	[[ "$stderr" == *"UID SORT (REVERSE SIZE) UTF-8 UID "*" LARGER 20480"* ]]
	run --separate-stderr "$MT" du --messages --top 7 --larger 20k --tsv --trace --tunnel "$nosort_t"
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"UID SORT"* ]]
	[[ "$stderr" == *"UID SEARCH UID "*" LARGER 20480"* ]]
	[ "$output" = "$with" ]
	[ "$(echo "$output" | tail -n +2 | cut -f1,2,4)" = "$(doveadm_largest 7)" ]
}

@test "du --messages costs the same round trips for the top 1 and the top 200" {
	run --separate-stderr "$MT" du --messages --top 1 -v --tsv INBOX
	[ "$status" -eq 0 ]
	rt1=$(echo "$stderr" | sed -n 's/.*: \([0-9]*\) round trips.*/\1/p')
	run --separate-stderr "$MT" du --messages --top 200 -v --tsv INBOX
	[ "$status" -eq 0 ]
	rt200=$(echo "$stderr" | sed -n 's/.*: \([0-9]*\) round trips.*/\1/p')
	[ -n "$rt1" ]
	[ "$rt1" -eq "$rt200" ]
	[ "$(echo "$output" | tail -n +2 | wc -l)" -eq 200 ]
}

# ---- --histogram ----------------------------------------------------------------

@test "du --histogram counts messages and bytes per size band as Dovecot sizes them" {
	run "$MT" du --histogram --tsv
	[ "$status" -eq 0 ]
	want=$(dadm -f tab fetch -u alice "size.virtual" all | tail -n +2 | awk '
		BEGIN { split("4096 16384 65536 262144 1048576 4194304 16777216", e, " ")
			split("<4k 4k-16k 16k-64k 64k-256k 256k-1M 1M-4M 4M-16M >=16M", name, " ") }
		{ b = 1; while (b <= 7 && $1 >= e[b]) b++; n[b]++; s[b] += $1 }
		END { print "band\tmessages\tsize"; for (b = 1; b <= 8; b++) printf "%s\t%d\t%d\n", name[b], n[b], s[b] }')
	[ "$output" = "$want" ]
	run "$MT" du --histogram --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n +2 | awk -F'\t' '{m += $2} END {print m}')" -eq "$(dadm search -u alice mailbox INBOX all | wc -l)" ]
}

@test "du --messages/--histogram: conflicting or misplaced options are usage errors" {
	run "$MT" du --messages --histogram
	[ "$status" -eq 64 ]
	run "$MT" du --larger 1M
	[ "$status" -eq 64 ]
	run "$MT" du --messages --larger lots
	[ "$status" -eq 64 ]
	run "$MT" du --histogram --sort size
	[ "$status" -eq 64 ]
}

@test "du --messages: --top beyond a million is refused (64); a message without From or Subject has them null" {
	run -64 --separate-stderr "$MT" du --messages --top 99999999999999 INBOX
	[[ "$stderr" == *"bad --top"* ]]
	run -64 --separate-stderr "$MT" du --messages --top 999999999999999999999 INBOX
	dadm mailbox create -u alice Bare
	printf 'Message-ID: <bare@x>\r\n\r\nno from, no subject\r\n' | dadm save -u alice -m Bare
	run -0 "$MT" du --messages --json Bare
	echo "$output" | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin]
assert len(r) == 1 and r[0]["type"] == "message", r
assert r[0]["from"] is None and r[0]["subject"] is None, r
assert r[0]["date"] is not None, r'
	dadm mailbox delete -u alice Bare
}
