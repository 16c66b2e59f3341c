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
