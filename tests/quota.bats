#!/usr/bin/env bats
# quota against the suite's Dovecot (quota plugin, count backend).
load helpers

doveadm_quota() {  # "STORAGE used_kib limit_kib" and "MESSAGE used limit"
	dadm -f tab quota get -u "$1" | tail -n +2 | awk -F'\t' '{print $2 "\t" $3 "\t" $4}'
}

@test "quota STORAGE and MESSAGE equal doveadm quota get" {
	run "$MT" quota --tsv
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = $'root\tstorage_used\tstorage_limit\tstorage_pct\tmessages_used\tmessages_limit\tmessages_pct' ]
	row=$(echo "$output" | sed -n 2p)
	dq=$(doveadm_quota alice)
	s_used=$(echo "$dq" | awk -F'\t' '$1=="STORAGE" {print $2 * 1024}')
	s_lim=$(echo "$dq" | awk -F'\t' '$1=="STORAGE" {print $3 * 1024}')
	m_used=$(echo "$dq" | awk -F'\t' '$1=="MESSAGE" {print $2}')
	[ "$(echo "$row" | cut -f2)" = "$s_used" ]
	[ "$(echo "$row" | cut -f3)" = "$s_lim" ]
	[ "$(echo "$row" | cut -f5)" = "$m_used" ]
}

@test "quota storage usage matches the mailbox's total size" {
	run "$MT" quota --json
	[ "$status" -eq 0 ]
	used=$(echo "$output" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["storage_used"])')
	total=$(doveadm_sizes alice | awk -F'\t' '{s+=$3} END {print s}')
	# the protocol reports KiB: usage is the total rounded to KiB
	[ $(( (total + 1023) / 1024 )) -ge $((used / 1024)) ]
	[ $((total / 1024)) -le $((used / 1024)) ]
}

@test "quota monitoring: OK, WARNING, CRITICAL by threshold, with perfdata" {
	run "$MT" quota --warn 99 --crit 100
	[ "$status" -eq 0 ]
	[[ "$output" == "QUOTA OK - "*" | "*"storage'="*"B;"* ]]
	run "$MT" quota --warn 0 --crit 100
	[ "$status" -eq 1 ]
	[[ "$output" == "QUOTA WARNING - "* ]]
	run "$MT" quota --warn 0 --crit 0
	[ "$status" -eq 2 ]
	[[ "$output" == "QUOTA CRITICAL - "* ]]
	[ "$(echo "$output" | wc -l)" -eq 1 ]
}

@test "quota monitoring: a failure is UNKNOWN (3)" {
	run env MAILTOOL_PASSWORD=wrong "$MT" quota --warn 80 --crit 90
	[ "$status" -eq 3 ]
	[[ "$output" == "QUOTA UNKNOWN - "*"refused"* ]]
	run "$MT" quota --warn 95 --crit 90
	[ "$status" -eq 3 ]
	run "$MT" quota --warn abc --crit 90
	[ "$status" -eq 3 ]
}

@test "quota --set is refused by Dovecot with a clear error, not a crash" {
	run --separate-stderr "$MT" quota --set "User quota" STORAGE=10M
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"server refused SETQUOTA on 'User quota'"* ]]
}

@test "quota --set validates its arguments before sending anything" {
	run --separate-stderr "$MT" quota --set "User quota" STORAGE=10X
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown unit"* ]]
	run "$MT" quota --set "User quota"
	[ "$status" -eq 64 ]
	run "$MT" quota --set "User quota" STORAGE
	[ "$status" -eq 64 ]
	run "$MT" quota --set "User quota" MESSAGE=-5
	[ "$status" -eq 64 ]
}

@test "quota -h shows human sizes; --as bob shows bob's quota" {
	run "$MT" quota -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"iB"* ]]
	run "$MT" quota -a admin --as bob --tsv
	[ "$status" -eq 0 ]
	bob_used=$(doveadm_quota bob | awk -F'\t' '$1=="STORAGE" {print $2 * 1024}')
	[ "$(echo "$output" | sed -n 2p | cut -f2)" = "$bob_used" ]
}
