#!/usr/bin/env bats
# batch and -e: many applets, one login per account, each line's status.
load helpers

logins() { grep -c "Login: user=<$1>" "$MT_DOVECOT_LOG" || true; }

@test "-e runs each command on one session: one login for three applets" {
	before=$(logins alice)
	run --separate-stderr "$MT" -e 'quota --tsv; du --tsv --no-total --top 1 --sort size; ls --tsv Lists/%' -v
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - before ))" -eq 1 ]
	[[ "$output" == *"storage_used"* && "$output" == *"INBOX"* && "$output" == *"Lists/dev"* ]]
	[ "$(echo "$stderr" | grep -c ': exit 0: ')" -eq 3 ]
}

@test "the output of a batch equals the output of the same applets run one by one" {
	a=$("$MT" quota --tsv; "$MT" du --tsv; "$MT" subs export)
	run --separate-stderr "$MT" -e 'quota --tsv; du --tsv; subs export'
	[ "$status" -eq 0 ]
	[ "$output" = "$a" ]
}

@test "batch FILE: quoting, comments, one session per account, per-line status with -v" {
	cat > "$BATS_TEST_TMPDIR/cmds" <<'CMDS'
# help-desk ticket 4711
quota --tsv
ls --tsv 'Old Stuff'
quota --tsv -a admin --as bob
du --tsv --no-total "Projets/Été"
CMDS
	a_before=$(logins alice); b_before=$(logins bob)
	run --separate-stderr "$MT" batch -v "$BATS_TEST_TMPDIR/cmds"
	[ "$status" -eq 0 ]
	[ "$(( $(logins alice) - a_before ))" -eq 1 ]
	[ "$(( $(logins bob) - b_before ))" -eq 1 ]
	[[ "$output" == *$'Old Stuff\t'* ]]
	[[ "$output" == *$'Projets/Été\t6\t'* ]]
	[ "$(echo "$stderr" | grep -c ': exit 0: ')" -eq 4 ]
	[[ "$stderr" == *"line 5: exit 0: du --tsv --no-total \"Projets/Été\""* ]]
}

@test "a failing line is reported; the batch goes on and exits with the first failure" {
	run --separate-stderr bash -c "printf 'quota\nexpunge --older 3x INBOX\nnosuch\ndu --top 1\n' | \"$MT\" batch -"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"line 2: exit 64"* ]]
	[[ "$stderr" == *"line 3: exit 127"* ]]
	[[ "$stderr" != *"line 4"* ]]
	[[ "$stderr" != *"line 1"* ]]
	[[ "$output" == *"(total)"* ]]
}

@test "without -v a batch whose lines all work says nothing on stderr (cron)" {
	run --separate-stderr "$MT" -e 'quota --tsv; du --tsv'
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[[ "$output" == *"storage_used"* ]]
	run --separate-stderr "$MT" -e 'quota --tsv; du --tsv' -q
	[ "$stderr" = "" ]
}

@test "--stop-on-error stops at the first failing line" {
	run --separate-stderr "$MT" -e 'quota; du --sort nope; du' --stop-on-error
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"line 2: exit 64"* ]]
	[[ "$stderr" != *"line 3"* ]]
}

@test "batch -a/--as apply to every line that names no account" {
	run --separate-stderr "$MT" batch -a admin --as bob -e 'ls --tsv; quota --tsv'
	[ "$status" -eq 0 ]
	[[ "$output" == *"Bobs"* ]]
	run --separate-stderr "$MT" -e 'ls --tsv' -a admin --as bob -q
	[ "$status" -eq 0 ]
	[[ "$output" == *"Bobs"* ]]
	[ -z "$stderr" ]
}

@test "batch bad input: unterminated quote, nested batch, unreadable file" {
	run "$MT" -e "ls 'Old"
	[ "$status" -eq 64 ]
	run --separate-stderr "$MT" -e 'batch -e quota'
	[ "$status" -eq 64 ]
	run "$MT" batch "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 74 ]
}
