#!/usr/bin/env bats
# compact against the suite's Dovecot: the policy's steps in order, exact
# removal counted with doveadm, thresholds, target, lock, bad input.
load helpers

# alice's fixture: regenerated once, restored from a copy per test (helpers.bash)
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

listing() { dadm -f tab fetch -u alice "mailbox uid flags" all | sed 's/ *\\Recent//' | sort; }
count() { dadm search -u alice "$@" | wc -l; }
bytes() { dadm -f tab fetch -u alice "size.virtual" "$@" | tail -n +2 | awk '{s+=$1} END {print s+0}'; }
fresh() {  # FOLDER SUBJECT: a message arriving now
	printf 'From: a@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nx\r\n' "$2" "$2" | dadm save -u alice -m "$1"
}
usage_kib() { dadm -f tab quota get -u alice | awk -F'\t' '$2=="STORAGE" {print $3}'; }
limit_kib() { dadm -f tab quota get -u alice | awk -F'\t' '$2=="STORAGE" {print $4}'; }

@test "below --if-over compact does nothing and says nothing" {
	before=$(listing)
	run --separate-stderr "$MT" compact --if-over 99
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(listing)" = "$before" ]
}

@test "--dry-run changes nothing and shows each step with what it would free" {
	before=$(listing)
	deleted=$(count all deleted)
	trash_old=$(count mailbox Trash before 30d undeleted)
	run "$MT" compact --dry-run --json
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
	sum_deleted=$(echo "$output" | python3 -c 'import json,sys; print(sum(r["messages"] for r in map(json.loads, sys.stdin) if r.get("step")=="deleted"))')
	[ "$sum_deleted" -eq "$deleted" ]
	[[ "$output" == *'"step":"trash","folder":"Trash","action":"would remove","messages":'"$trash_old"* ]]
	echo "$output" | tail -1 | grep -q '^{"schema":1,"type":"total","dry_run":true,'
}

@test "--dry-run counts each message once, in the first step that would take it, and agrees with a real run" {
	# Trash is taken by the trash step (30d) and again by --step Trash:1d;
	# Lists/* by two overlapping --steps: a plan must not count twice.
	before=$(listing)
	summary() { echo "$1" | tail -1 | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["messages"], d["freed"])'; }
	run "$MT" compact --dry-run --json --step 'Trash:1d' --step 'Lists/*:1y' --step 'Lists/dev:2y'
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
	planned=$(summary "$output")
	n_before=$(count all)
	run "$MT" compact --json --step 'Trash:1d' --step 'Lists/*:1y' --step 'Lists/dev:2y'
	[ "$status" -eq 0 ]
	done_=$(summary "$output")
	echo "planned=$planned done=$done_"
	[ "$planned" = "$done_" ]
	[ "${planned%% *}" -gt 0 ]
	[ "$(count all)" -eq $((n_before - ${done_%% *})) ]
}

@test "a run removes \\Deleted mail everywhere and old Trash and Junk, and nothing else" {
	fresh Trash young-trash
	fresh Junk young-junk
	deleted=$(count all deleted)
	inbox_kept=$(count mailbox INBOX undeleted)
	sent_kept=$(count mailbox Sent undeleted)
	trash_old=$(count mailbox Trash before 30d undeleted)
	junk_old=$(count mailbox Junk before 30d undeleted)
	n=$(count all)
	run "$MT" compact --json
	[ "$status" -eq 0 ]
	[ "$(count all deleted)" -eq 0 ]
	[ "$(count mailbox INBOX)" -eq "$inbox_kept" ]
	[ "$(count mailbox Sent)" -eq "$sent_kept" ]
	[ "$(count mailbox Trash)" -eq 1 ]
	[ "$(count mailbox Trash subject young-trash)" -eq 1 ]
	[ "$(count mailbox Junk)" -eq 1 ]
	gone=$((deleted + trash_old + junk_old))
	[ "$(count all)" -eq $((n - gone)) ]
	echo "$output" | tail -1 | grep -q "^{\"schema\":1,\"type\":\"total\",\"dry_run\":false,\"messages\":$gone,"
}

@test "--step removes old mail in named folders but keeps \\Flagged mail" {
	old_uid=$(dadm search -u alice mailbox Lists/dev before 365d unflagged undeleted | head -1 | cut -d' ' -f2)
	dadm flags add -u alice '\Flagged' mailbox Lists/dev uid "$old_uid"
	flagged=$(count mailbox 'Lists/*' flagged)
	young=$(count mailbox 'Lists/*' since 365d)
	run "$MT" compact --no-deleted --trash-older 100y --junk-older 100y --step 'Lists/*:1y'
	[ "$status" -eq 0 ]
	[ "$(count mailbox Lists/dev uid "$old_uid")" -eq 1 ]
	[ "$(count mailbox 'Lists/*' flagged)" -eq "$flagged" ]
	[ "$(count mailbox 'Lists/*' before 365d unflagged)" -eq 0 ]
	[ "$(count mailbox 'Lists/*' since 365d)" -eq "$young" ]
	[ "$(count mailbox INBOX deleted)" -gt 0 ]
}

@test "--target stops after the step that brings usage below it" {
	u=$(usage_kib)
	l=$(limit_kib)
	d=$(( $(bytes all deleted) / 1024 ))
	t=$(( $(bytes mailbox Trash before 30d undeleted) / 1024 ))
	# a target step 1 cannot reach but step 2 can
	target=$(python3 -c "print(round(100.0 * ($u - $d - $t / 2) / $l, 4))")
	junk_old=$(count mailbox Junk before 30d undeleted)
	[ "$junk_old" -gt 0 ]
	run "$MT" compact --if-over 0 --target "$target" --json
	[ "$status" -eq 0 ]
	[ "$(count mailbox Trash before 30d)" -eq 0 ]
	[ "$(count mailbox Junk before 30d undeleted)" -eq "$junk_old" ]
	echo "$output" | tail -1 | grep -q '"target_reached":true'
	[[ "$output" != *'"step":"junk"'* ]]
}

@test "one run per account: a second one exits 75 and changes nothing" {
	export MAILTOOL_LOCK_DIR="$BATS_TEST_TMPDIR/locks"
	mkdir -p -m 700 "$MAILTOOL_LOCK_DIR"
	# named after the box: alice at the server's address (the account says
	# localhost), whichever account reaches it
	lock="$MAILTOOL_LOCK_DIR/compact-alice@127.0.0.1-$MT_IMAPS_PORT.lock"
	# one process holds the lock (bounded: it lets go after 10 s by itself)
	python3 -c 'import fcntl, sys, time; f = open(sys.argv[1], "w"); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(10)' "$lock" &
	holder=$!
	for _ in $(seq 50); do flock -n "$lock" true || break; sleep 0.1; done
	before=$(listing)
	run --separate-stderr "$MT" compact -a alice
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"another compact run holds"* ]]
	# an admin acting as alice reaches the same box: held too
	run --separate-stderr "$MT" compact -a admin --as alice
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"another compact run holds"* ]]
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	[ "$(listing)" = "$before" ]
	run "$MT" compact -a alice
	[ "$status" -eq 0 ]
	[ "$(count all deleted)" -eq 0 ]
}

@test "the compact section of the configuration is the policy; flags override it" {
	cp "$MAILTOOL_CONFIG" "$BATS_TEST_TMPDIR/c.conf"
	printf 'compact = { deleted = false; trash_older = false; junk_older = "1d"; };\n' >> "$BATS_TEST_TMPDIR/c.conf"
	deleted=$(count all deleted)
	junk_deleted=$(count mailbox Junk deleted)
	run "$MT" compact --config "$BATS_TEST_TMPDIR/c.conf" --tsv
	[ "$status" -eq 0 ]
	[ "$(count mailbox Junk)" -eq 0 ]
	[ "$(count mailbox Trash)" -gt 0 ]
	# step 1 is off: only the \Deleted mail that was in Junk is gone
	[ "$(count all deleted)" -eq $((deleted - junk_deleted)) ]
	[[ "$output" != *$'\ndeleted\t'* ]]
	run "$MT" compact --config "$BATS_TEST_TMPDIR/c.conf" --trash-older 1d
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(count mailbox Trash)" -eq 0 ]
}

@test "bad input is refused before connecting, nothing changed" {
	before=$(listing)
	run "$MT" compact --if-over 150
	[ "$status" -eq 64 ]
	run "$MT" compact --step Lists
	[ "$status" -eq 64 ]
	run --separate-stderr "$MT" compact --step 'Lists/*:3x'
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"3x"* ]]
	run "$MT" compact --target 101
	[ "$status" -eq 64 ]
	cp "$MAILTOOL_CONFIG" "$BATS_TEST_TMPDIR/bad.conf"
	printf 'compact = {\n  bogus = 1;\n};\n' >> "$BATS_TEST_TMPDIR/bad.conf"
	line=$(grep -n bogus "$BATS_TEST_TMPDIR/bad.conf" | cut -d: -f1)
	run --separate-stderr "$MT" compact --config "$BATS_TEST_TMPDIR/bad.conf"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"bad.conf:$line: 'bogus'"* ]]
	[ "$(listing)" = "$before" ]
}

@test "compact works on another user's box through an admin" {
	bob_deleted=$(dadm search -u bob all deleted | wc -l)
	run "$MT" compact -a admin --as bob --json
	[ "$status" -eq 0 ]
	[ "$(dadm search -u bob all deleted | wc -l)" -eq 0 ]
	echo "$output" | tail -1 | grep -q "\"messages\":$bob_deleted,"
}
