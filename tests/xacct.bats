#!/usr/bin/env bats
# xacct.bats — moves and copies to another account (archive --to-account,
# rule actions move/copy = { account; folder; }): Dovecot -> Dovecot (alice to
# bob), Dovecot -> Cyrus and Cyrus -> Dovecot; exactly once (a rerun after a
# kill finds the copies made), a destination refusing APPEND (quota) leaves
# the source its messages, and the cut/kill matrices of cuts.bats and
# faults.bats on either connection. Counted with doveadm and
# tests/lib/cyrus-check.py, never with mailtool.
load helpers
load lib/converge

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
CHECK() { python3 "$MT_REPO/tests/lib/cyrus-check.py" "$@"; }

# Cyrus when MAILTOOL_TEST_SERVERS names it (as cyrus.bats; make check runs
# it in the sanitizer pass only)
cy_wanted() {
	mt_other_pass sanitizer && return 1
	case ${MAILTOOL_TEST_SERVERS:-cyrus} in *cyrus*) return 0 ;; esac
	return 1
}

# Courier likewise (tests/lib/courier.sh: its folders under INBOX., '.' between levels)
co_wanted() {
	mt_other_pass sanitizer && return 1
	case ${MAILTOOL_TEST_SERVERS:-courier} in *courier*) return 0 ;; esac
	return 1
}

# one configuration with the accounts of every server started (CONF...: theirs)
write_conf() {
	{
		echo 'default = "alice";'
		echo 'accounts = {'
		for c in "$MT_SUITE_DIR/mailtool.conf" "$@"; do
			sed -n '/^accounts = {/,/^};/p' "$c" | sed '1d;$d'
		done
		echo '};'
	} >"$BATS_FILE_TMPDIR/x.conf"
}

setup_file() {
	local confs=()
	user_snapshot bob
	alice_snapshots
	# the small snapshot's bob is bob's fixture
	cp -a "$BATS_FILE_TMPDIR/bob.snap" "$BATS_FILE_TMPDIR/small/bob.snap"
	if co_wanted; then
		# Courier reads its directory as its own users: a tree outside the mode-700 one
		local top
		top=$(mktemp -d /tmp/mailtool-courier.XXXXXX)
		chmod 755 "$top"
		echo "$top" >"$BATS_FILE_TMPDIR/co-top"
		"$MT_REPO/tests/lib/courier.sh" start "$top/srv" >"$BATS_FILE_TMPDIR/courier-start.log" 2>&1 || {
			cat "$BATS_FILE_TMPDIR/courier-start.log" >&2
			return 1
		}
		for u in alice bob; do cp -a "$top/srv/mail/$u/Maildir" "$top/$u.snap"; done
		confs+=("$top/srv/mailtool.conf")
	fi
	if cy_wanted; then
		cy_start_file || return 1
		. "$(cat "$BATS_FILE_TMPDIR/cy-top")/cyrus/env.sh"
		confs+=("$MT_CY_CONF")
	fi
	write_conf "${confs[@]}"
}

teardown_file() {
	alice_reset
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" bob >/dev/null
	cy_stop_file
	if [ -f "$BATS_FILE_TMPDIR/co-top" ]; then
		local top
		top=$(cat "$BATS_FILE_TMPDIR/co-top")
		"$MT_REPO/tests/lib/courier.sh" stop "$top/srv" >/dev/null 2>&1
		rm -rf "$top"
	fi
}

setup() {
	export MAILTOOL_CONFIG="$BATS_FILE_TMPDIR/x.conf"
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state" XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	user_restore alice
	user_restore bob
	R="$BATS_TEST_TMPDIR/rules.conf"
}

cy_setup() {
	cy_wanted || skip "MAILTOOL_TEST_SERVERS does not name cyrus (or make check's plain pass)"
	. "$(cat "$BATS_FILE_TMPDIR/cy-top")/cyrus/env.sh"
}

cy_teardown() {
	CHECK delete alice FromDovecot/2023 FromDovecot/2024 FromDovecot >/dev/null 2>&1 || true
	CHECK delete bob FromDovecot/2023 FromDovecot/2024 FromDovecot >/dev/null 2>&1 || true
}

# USER [SEARCH...]: one line per message, "Message-ID<TAB>flags<TAB>received<TAB>sha256 of the text", sorted.
# The text without CRs: Dovecot's Maildir keeps a message's lines as they came
# (the fixture's with CRLF, an APPENDed one with LF); IMAP shows both as CRLF.
msgs_of() {
	local u=$1
	shift
	dadm -f pager fetch -u "$u" "hdr.message-id flags date.received text" "${@:-all}" | tr -d '\r' |
		"$PY" -c "$PAGER_TO_TSV" | sed 's/ *\\Recent//' | sort
}
count_of() { dadm search -u "$1" "${@:2}" | wc -l; }

@test "archive --to-account: a dry run changes nothing on either account and is what the real run reports" {
	a=$(server_state alice)
	b=$(server_state bob)
	run --separate-stderr "$MT" archive --older 2y --to-account bob --dry-run --tsv INBOX
	[ "$status" -eq 0 ]
	dry=$output
	[ "$(server_state alice)" = "$a" ]
	[ "$(server_state bob)" = "$b" ]
	echo "$dry" | grep -q $'^INBOX -> bob:Archive/2024\twould move\t'
	run --separate-stderr "$MT" archive --older 2y --to-account bob --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$dry" | python3 -c "$DRY_TO_DONE")" = "$output" ]
}

@test "alice -> bob: every old message is in bob's Archive/YEAR once, text, flags and date kept, gone from alice" {
	want=$(msgs_of alice mailbox INBOX before 730d unflagged)
	n=$(echo "$want" | wc -l)
	[ "$n" -gt 50 ]
	inbox=$(count_of alice mailbox INBOX all)
	bob_before=$(count_of bob all)
	run --separate-stderr "$MT" archive --older 2y --to-account bob --tsv -v INBOX
	[ "$status" -eq 0 ]
	# APPENDUID confirmed the copies: nothing was read back from bob's server
	back=$(echo "$stderr" | sed -n "s/.*account 'bob': [0-9]* round trips, \([0-9]*\) bytes in.*/\1/p")
	[ "$back" -lt 100000 ]
	[ "$(count_of alice mailbox INBOX all)" -eq $((inbox - n)) ]
	[ "$(count_of alice mailbox INBOX before 730d unflagged)" -eq 0 ]
	[ "$(count_of bob all)" -eq $((bob_before + n)) ]
	got=$(msgs_of bob mailbox 'Archive/*' all)
	[ "$got" = "$want" ]
	# each year's folder holds that year's mail, and is subscribed
	for y in $(dadm mailbox list -u bob 'Archive/*' | sed -n 's|^Archive/||p'); do
		[ -z "$(dadm -f tab fetch -u bob date.received mailbox "Archive/$y" all | tail -n +2 | cut -c1-4 | grep -v "^$y")" ]
		dadm mailbox list -u bob -s | grep -qx "Archive/$y"
	done
	moved=$(echo "$output" | awk -F'\t' '$2 == "moved" {s += $3} END {print s}')
	[ "$moved" -eq "$n" ]
}

@test "a run killed after an APPEND: the rerun appends nothing twice and removes what was copied" {
	want=$(msgs_of alice mailbox INBOX before 730d unflagged)
	n=$(echo "$want" | wc -l)
	MAILTOOL_TEST_XFER_BATCH=10 MAILTOOL_TEST_HOOK_AFTER_APPEND='kill -9 $MAILTOOL_PID' \
		run "$MT" archive --older 2y --to-account bob INBOX
	[ "$status" -eq 137 ]
	# ten copies made, no original removed yet
	[ "$(count_of bob mailbox 'Archive/*' all)" -eq 10 ]
	[ "$(count_of alice mailbox INBOX before 730d unflagged)" -eq "$n" ]
	run "$MT" archive --older 2y --to-account bob --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | awk -F'\t' '$2 == "already there" {s += $3} END {print s}')" -eq 10 ]
	got=$(msgs_of bob mailbox 'Archive/*' all)
	[ "$got" = "$want" ]
	[ "$(count_of alice mailbox INBOX before 730d unflagged)" -eq 0 ]
}

@test "messages without a Message-ID are matched by their text: two equal ones stay two" {
	dadm mailbox create -u alice NoId
	for i in 1 2 2 3; do
		printf 'From: a@example.com\r\nSubject: no id %s\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody %s\r\n' "$i" "$i" |
			dadm save -u alice -m NoId
	done
	[ "$(count_of alice mailbox NoId all)" -eq 4 ]
	sleep 2   # (doveadm save dates them now; --older 1s takes them)
	want=$(msgs_of alice mailbox NoId all | cut -f2-)
	MAILTOOL_TEST_XFER_BATCH=3 MAILTOOL_TEST_HOOK_AFTER_APPEND='kill -9 $MAILTOOL_PID' \
		run "$MT" archive --older 1s --to-account bob --to Kept NoId
	[ "$status" -eq 137 ]
	[ "$(count_of bob mailbox Kept all)" -eq 3 ]
	MAILTOOL_TEST_XFER_BATCH=3 run "$MT" archive --older 1s --to-account bob --to Kept NoId
	[ "$status" -eq 0 ]
	[ "$(count_of alice mailbox NoId all)" -eq 0 ]
	[ "$(msgs_of bob mailbox Kept all | cut -f2-)" = "$want" ]
}

@test "a destination over quota: what was not copied stays in the source, exit 69" {
	# fill bob up to ~2 MiB under his 50 MiB quota
	"$PY" -c 'import sys; sys.stdout.write("From: f@example.com\r\nSubject: filler\r\n\r\n" + ("x" * 76 + "\r\n") * (48 * 1024 * 1024 // 78))' |
		dadm save -u bob -m INBOX
	inbox=$(count_of alice mailbox INBOX all)
	MAILTOOL_TEST_XFER_BATCH=10 run --separate-stderr "$MT" archive --older 1y --to-account bob INBOX
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"refused by the server"*"stay in 'INBOX'"* ]]
	copied=$(count_of bob mailbox 'Archive/*' all)
	[ "$copied" -gt 0 ]
	# exactly the copied ones left alice; each copy is one of hers
	[ "$(count_of alice mailbox INBOX all)" -eq $((inbox - copied)) ]
	[ -z "$(comm -12 <(dadm -f tab fetch -u bob hdr.message-id mailbox 'Archive/*' all | tail -n +2 | sort) \
		<(dadm -f tab fetch -u alice hdr.message-id mailbox INBOX all | tail -n +2 | sort))" ]
}

@test "rules: move and copy to another account; a rerun copies nothing twice; an unknown account is 78 with its place" {
	cat >"$R" <<'EOF'
rules = (
  { name = "dev out"; folder = "Lists/dev"; match = { from = "@"; }; move = { account = "bob"; folder = "Alice/dev"; }; create = true; },
  { name = "sent copy"; folder = "Sent"; match = { from = "@"; }; copy = { account = "bob"; folder = "Alice/sent"; }; create = true; }
);
EOF
	# (rules leave mail flagged \Deleted alone)
	dev=$(msgs_of alice mailbox Lists/dev undeleted | cut -f1,4)
	sent=$(msgs_of alice mailbox Sent all)
	[ -n "$dev" ]
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count_of alice mailbox Lists/dev undeleted)" -eq 0 ]
	[ "$(msgs_of bob mailbox Alice/dev all | cut -f1,4)" = "$dev" ]
	[ "$(msgs_of alice mailbox Sent all)" = "$sent" ]
	[ "$(msgs_of bob mailbox Alice/sent all | cut -f1,4)" = "$(msgs_of alice mailbox Sent undeleted | cut -f1,4)" ]
	sed -i 's/account = "bob"; folder = "Alice\/sent"/account = "nobody"; folder = "Alice\/sent"/' "$R"
	run --separate-stderr "$MT" filter -f "$R" --dry-run
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"$R:3: rule 'sent copy': "*"no account 'nobody'"* ]]
	run --separate-stderr "$MT" archive --older 1y --to-account nobody INBOX
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"--to-account 'nobody'"*"no account 'nobody'"* ]]
	# Sieve files into the account's own folders only
	printf '%s\n' 'rules = ( { name = "out"; match = { from = "@"; }; move = { account = "bob"; folder = "X"; }; } );' >"$R"
	run --separate-stderr "$MT" filter -f "$R" --sieve
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"rule 'out': move to another account: Sieve files into this account's folders only"* ]]
}

@test "filter --dry-run to another account reads it: after a killed run it says what is already there, as the real run does" {
	printf '%s\n' 'rules = ( { name = "dev out"; folder = "Lists/dev"; match = { from = "@"; }; move = { account = "bob"; folder = "Alice/dev"; }; create = true; } );' >"$R"
	n=$(count_of alice mailbox Lists/dev undeleted)
	[ "$n" -gt 10 ]
	MAILTOOL_TEST_XFER_BATCH=10 MAILTOOL_TEST_HOOK_AFTER_APPEND='kill -9 $MAILTOOL_PID' run "$MT" filter -f "$R"
	[ "$status" -eq 137 ]
	[ "$(count_of bob mailbox Alice/dev all)" -eq 10 ]
	PLAN_USER=bob plan_is_outcome filter -f "$R"
	[[ "$output" == *$'dev out\tLists/dev\tmoved\t'"$n"* ]]
	[[ "$output" == *$'dev out\tLists/dev\talready there\t10'* ]]
	[ "$(count_of bob mailbox Alice/dev all)" -eq "$n" ]
	[ "$(count_of alice mailbox Lists/dev undeleted)" -eq 0 ]
}

@test "a rule's folder of dates on another account: each message in the folder of its month, created there" {
	printf '%s\n' 'rules = ( { name = "old"; match = { older = "1y"; }; move = { account = "bob"; folder = "Old/%Y/%m"; }; create = true; } );' >"$R"
	want=$(dadm -f tab fetch -u alice "date.received hdr.message-id" mailbox INBOX undeleted before 365d | tail -n +2 |
		awk -F'\t' '{print "Old/" substr($1, 1, 4) "/" substr($1, 6, 2) "\t" $2}' | sort)
	[ -n "$want" ]
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(dadm -f tab fetch -u bob "mailbox hdr.message-id" mailbox 'Old/*' all | tail -n +2 | sort)" = "$want" ]
	# without create = true it is refused before anything is read
	printf '%s\n' 'rules = ( { name = "old"; match = { older = "1y"; }; move = { account = "bob"; folder = "Old/%Y"; }; } );' >"$R"
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"rule 'old': folder 'Old/%Y' names a folder per message date: give create = true"* ]]
}

@test "a destination without UIDPLUS: each copy is read back and compared before the original goes" {
	tun=$(printf '/usr/lib/dovecot/imap -c %s -o "imap_capability=%s" -u bob 2>>%s' "$MT_TEST_DIR/dovecot.conf" \
		"$DST_NO_UIDPLUS" "$MT_DOVECOT_LOG")
	{ head -n -1 "$MAILTOOL_CONFIG"; printf '  bobtun = { tunnel = "%s"; timeout = 10; };\n};\n' "${tun//\"/\\\"}"; } >"$BATS_TEST_TMPDIR/t.conf"
	want=$(msgs_of alice mailbox Sent all)
	bytes=$(dadm -f tab fetch -u alice size.virtual mailbox Sent all | tail -n +2 | awk '{s += $1} END {print s}')
	run --separate-stderr "$MT" archive --config "$BATS_TEST_TMPDIR/t.conf" --older 1d --include-flagged \
		--to-account bobtun --to SentCopy -v Sent
	[ "$status" -eq 0 ]
	[ "$(msgs_of bob mailbox SentCopy all)" = "$want" ]
	[ "$(count_of alice mailbox Sent all)" -eq 0 ]
	# what the destination sent back is at least the messages themselves
	back=$(echo "$stderr" | sed -n "s/.*account 'bobtun': [0-9]* round trips, \([0-9]*\) bytes in.*/\1/p")
	[ "$back" -ge "$bytes" ]
}

@test "Dovecot -> Cyrus: alice's old mail into Cyrus bob's FromDovecot/YEAR, counted by both servers" {
	cy_setup
	want=$(dadm -f tab fetch -u alice "hdr.message-id" mailbox INBOX before 730d unflagged | tail -n +2 | sort)
	n=$(echo "$want" | wc -l)
	inbox=$(count_of alice mailbox INBOX all)
	run "$MT" archive --older 2y --to-account cy-bob --to 'FromDovecot/%Y' --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(count_of alice mailbox INBOX all)" -eq $((inbox - n)) ]
	got=$(CHECK status bob | awk -F'\t' '$1 ~ /^FromDovecot\// {s += $2} END {print s}')
	[ "$got" -eq "$n" ]
	# a rerun finds nothing more to move, and adds nothing there
	run "$MT" archive --older 2y --to-account cy-bob --to 'FromDovecot/%Y' INBOX
	[ "$status" -eq 0 ]
	[ "$(CHECK status bob | awk -F'\t' '$1 ~ /^FromDovecot\// {s += $2} END {print s}')" -eq "$n" ]
	cy_teardown
}

@test "Dovecot -> Cyrus over quota: the unconfirmed stay in the source, 69; with room, a rerun moves the rest, nothing twice" {
	cy_setup
	n=$(count_of alice mailbox INBOX before 730d unflagged)
	kib=$(dadm -f tab fetch -u alice size.virtual mailbox INBOX before 730d unflagged | tail -n +2 | awk '{s += $1} END {print int(s / 1024)}')
	# bob's Cyrus quota: what he uses and room for about half of them
	read -r _ _ used limit < <(CHECK quota bob | awk -F'\t' '$2 == "STORAGE"')
	echo "used $used limit $limit, $n messages, $kib KiB"
	[ -n "$used" ]
	CHECK setquota user/bob $((used + kib / 2)) >/dev/null
	inbox=$(count_of alice mailbox INBOX all)
	MAILTOOL_TEST_XFER_BATCH=10 run --separate-stderr "$MT" archive --older 2y --to-account cy-bob --to FromDovecot INBOX
	a_status=$status a_stderr=$stderr
	copied=$(CHECK count bob FromDovecot)
	# a rule to the full account: the same refusal, nothing more leaves alice
	printf '%s\n' 'rules = ( { name = "old"; folder = "INBOX"; match = { older = "2y"; }; move = { account = "cy-bob"; folder = "FromDovecot"; }; } );' >"$R"
	run --separate-stderr "$MT" filter -f "$R"
	CHECK setquota user/bob "${limit:--}" >/dev/null
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"APPEND to 'FromDovecot' refused by the server"* ]]
	[ "$(CHECK count bob FromDovecot)" -eq "$copied" ]
	[ "$a_status" -eq 69 ]
	[[ "$a_stderr" == *"APPEND to 'FromDovecot' refused by the server"*"stay in 'INBOX'"* ]]
	[ "$copied" -gt 0 ]
	[ "$copied" -lt "$n" ]
	# exactly the confirmed copies left alice
	[ "$(count_of alice mailbox INBOX all)" -eq $((inbox - copied)) ]
	run --separate-stderr "$MT" archive --older 2y --to-account cy-bob --to FromDovecot INBOX
	[ "$status" -eq 0 ]
	[ "$(CHECK count bob FromDovecot)" -eq "$n" ]
	[ "$(count_of alice mailbox INBOX all)" -eq $((inbox - n)) ]
	CHECK delete bob FromDovecot >/dev/null 2>&1 || true
}

@test "Cyrus -> Dovecot: Cyrus alice's Lists/dev into Dovecot bob, counted by both servers" {
	cy_setup
	CHECK clone alice Lists/dev T-xacct >/dev/null
	n=$(CHECK count alice T-xacct)
	[ "$n" -gt 0 ]
	run "$MT" archive -a cy-alice --older 1d --include-flagged --to-account bob --to 'FromCyrus' T-xacct
	[ "$status" -eq 0 ]
	[ "$(CHECK count alice T-xacct)" -eq 0 ]
	[ "$(count_of bob mailbox FromCyrus all)" -eq "$n" ]
	CHECK delete alice T-xacct >/dev/null 2>&1 || true
}

# ---- what cannot be copied stays, and the run says so ----

# an account "liar": alice through tests/lib/lieproxy.py with RULES (a server
# that sends a NUL byte, a size it did not report, no text); then
# MAILTOOL_CONFIG names the configuration with it
liar_conf() {
	local t
	t=$(printf 'python3 %s %s -- %s' "$MT_REPO/tests/lib/lieproxy.py" "$*" "$MT_TUNNEL_ALICE")
	{ head -n -1 "$BATS_FILE_TMPDIR/x.conf"; printf '  liar = { tunnel = "%s"; timeout = 10; };\n};\n' "${t//\"/\\\"}"; } \
		>"$BATS_TEST_TMPDIR/l.conf"
	export MAILTOOL_CONFIG="$BATS_TEST_TMPDIR/l.conf"
}
# the UIDs of alice's FOLDER, on one line
uids_of() { dadm search -u alice mailbox "$1" all | awk '{printf "%s%s", (NR > 1 ? " " : ""), $2}'; }

@test "a NUL byte, a size the server did not report, no text: those stay, each named (folder, UID, why), 65; the rest moved" {
	read -r u1 u2 u3 u4 rest <<<"$(uids_of 'Old Stuff')"
	[ -n "$u4" ]
	n=$(count_of alice mailbox 'Old Stuff' all)
	liar_conf "nul=$u1:10" "size=$u2:7" "nil=$u3"
	# the dry run reads the same text, so it says the same, and exits the same
	PLAN_USER=bob plan_is_outcome archive -a liar --older 1d --include-flagged --to-account bob --to Kept 'Old Stuff'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'Old Stuff' UID $u1: not moved to account 'bob' folder 'Kept': its text holds a NUL byte"*"; it stays in 'Old Stuff'"* ]]
	[[ "$stderr" == *"'Old Stuff' UID $u2: not moved to account 'bob' folder 'Kept': its text is not the size the server reported (7 reported, "*" sent); it stays in 'Old Stuff'"* ]]
	[[ "$stderr" == *"'Old Stuff' UID $u3: not moved to account 'bob' folder 'Kept': the server sent no text for it; it stays in 'Old Stuff'"* ]]
	[[ "$stderr" == *"3 messages were not moved (named above): they stay where they are"* ]]
	[[ "$output" == *$'Old Stuff -> bob:Kept\tnot moved: NUL byte\t1\t'* ]]
	[[ "$output" == *$'Old Stuff -> bob:Kept\tnot moved: size differs\t1\t7'* ]]
	[[ "$output" == *$'Old Stuff -> bob:Kept\tnot moved: no text sent\t1\t'* ]]
	# exactly those three stay; every other one is in bob's Kept
	[ "$(count_of alice mailbox 'Old Stuff' all)" -eq 3 ]
	[ "$(count_of alice mailbox 'Old Stuff' uid "$u1,$u2,$u3")" -eq 3 ]
	[ "$(count_of bob mailbox Kept all)" -eq $((n - 3)) ]
	[[ "$output" == *$'Old Stuff -> bob:Kept\tmoved\t'"$((n - 3))"$'\t'* ]]
	# --json: the same rows, records of the documented type
	run --separate-stderr "$MT" archive -a liar --older 1d --include-flagged --to-account bob --to Kept --json 'Old Stuff'
	[ "$status" -eq 65 ]
	python3 "$MT_REPO/tests/lib/schema-check.py" "$MT_REPO/man/mailtool.1" archive <<<"$output"
	[[ "$output" == *'"action":"not moved: NUL byte","messages":1,'* ]]
}

@test "a UID the server answers nothing more about once chosen (no size, no text): it stays, named, 65" {
	read -r u1 rest <<<"$(uids_of 'Old Stuff')"
	n=$(count_of alice mailbox 'Old Stuff' all)
	# its first FETCH (the choice: size and dates) answered, none after
	liar_conf "drop=$u1:1"
	run --separate-stderr "$MT" archive -a liar --older 1d --include-flagged --to-account bob --to Kept 'Old Stuff'
	echo "exit $status: $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'Old Stuff' UID $u1: not moved to account 'bob' folder 'Kept': the server sent no text for it; it stays in 'Old Stuff'"* ]]
	[ "$(count_of alice mailbox 'Old Stuff' all)" -eq 1 ]
	[ "$(count_of alice mailbox 'Old Stuff' uid "$u1")" -eq 1 ]
	[ "$(count_of bob mailbox Kept all)" -eq $((n - 1)) ]
}

@test "filter: the same messages stay, each named and logged as not moved, 65; the rule's other messages move" {
	read -r u1 u2 u3 u4 rest <<<"$(uids_of 'Old Stuff')"
	n=$(count_of alice mailbox 'Old Stuff' all)
	liar_conf "nul=$u1:10" "size=$u2:7" "nil=$u3"
	printf '%s\n' 'rules = ( { name = "out"; folder = "Old Stuff"; match = { larger = "1"; }; move = { account = "bob"; folder = "Kept"; }; create = true; } );' >"$R"
	PLAN_USER=bob plan_is_outcome filter -a liar -f "$R"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'Old Stuff' UID $u1: not moved to account 'bob' folder 'Kept': its text holds a NUL byte"* ]]
	[[ "$stderr" == *"'Old Stuff' UID $u2: not moved to account 'bob' folder 'Kept': its text is not the size"* ]]
	[[ "$stderr" == *"'Old Stuff' UID $u3: not moved to account 'bob' folder 'Kept': the server sent no text"* ]]
	[[ "$output" == *$'out\tOld Stuff\tmoved\t'"$((n - 3))"* ]]
	[[ "$output" == *$'out\tOld Stuff\tnot moved: NUL byte\t1'* ]]
	[ "$(count_of alice mailbox 'Old Stuff' uid "$u1,$u2,$u3")" -eq 3 ]
	[ "$(count_of alice mailbox 'Old Stuff' all)" -eq 3 ]
	# the audit log says what happened to each, not what was asked
	user_restore alice
	user_restore bob
	run --separate-stderr "$MT" filter -a liar -f "$R" --log "$BATS_TEST_TMPDIR/log"
	[ "$status" -eq 65 ]
	[ "$(jq -r 'select(.action == "moved") | .uid' "$BATS_TEST_TMPDIR/log" | wc -l)" -eq $((n - 3)) ]
	[ "$(jq -r "select(.uid == $u1) | .action" "$BATS_TEST_TMPDIR/log")" = "not moved: NUL byte" ]
}

@test "a copy not found on reading the destination back: the original stays, named, 65" {
	# bob without UIDPLUS (no APPENDUID), whose server misstates the size of
	# UID 1 (the new folder's first copy), so that copy is not recognised
	tun=$(printf '/usr/lib/dovecot/imap -c %s -o "imap_capability=%s" -u bob 2>>%s' "$MT_TEST_DIR/dovecot.conf" \
		"$DST_NO_UIDPLUS" "$MT_DOVECOT_LOG")
	tun=$(printf 'python3 %s size=1:3 -- %s' "$MT_REPO/tests/lib/lieproxy.py" "$tun")
	{ head -n -1 "$MAILTOOL_CONFIG"; printf '  bobtun = { tunnel = "%s"; timeout = 10; };\n};\n' "${tun//\"/\\\"}"; } >"$BATS_TEST_TMPDIR/t.conf"
	n=$(count_of alice mailbox 'Old Stuff' all)
	first=$(uids_of 'Old Stuff' | cut -d' ' -f1)
	run --separate-stderr "$MT" archive --config "$BATS_TEST_TMPDIR/t.conf" --older 1d --include-flagged \
		--to-account bobtun --to Kept 'Old Stuff'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'Old Stuff' UID $first: not moved to account 'bobtun' folder 'Kept': appended, but its copy was not found there on reading back; it stays in 'Old Stuff'"* ]]
	[ "$(count_of alice mailbox 'Old Stuff' all)" -eq 1 ]
	[ "$(count_of alice mailbox 'Old Stuff' uid "$first")" -eq 1 ]
	[ "$(count_of bob mailbox Kept all)" -eq "$n" ]
}

@test "the destination folder made anew between APPEND and reading back (UIDVALIDITY): nothing removed, 75 with why" {
	# bob without UIDPLUS, so the copies are read back; his Kept deleted and
	# created again after the APPEND
	tun=$(printf '/usr/lib/dovecot/imap -c %s -o "imap_capability=%s" -u bob 2>>%s' "$MT_TEST_DIR/dovecot.conf" \
		"$DST_NO_UIDPLUS" "$MT_DOVECOT_LOG")
	{ head -n -1 "$MAILTOOL_CONFIG"; printf '  bobtun = { tunnel = "%s"; timeout = 10; };\n};\n' "${tun//\"/\\\"}"; } >"$BATS_TEST_TMPDIR/t.conf"
	dadm mailbox create -u bob Kept
	before=$(msgs_of alice mailbox 'Old Stuff' all)
	MAILTOOL_TEST_HOOK_AFTER_APPEND="$MT_DOVEADM mailbox delete -u bob Kept && $MT_DOVEADM mailbox create -u bob Kept" \
		run --separate-stderr "$MT" archive --config "$BATS_TEST_TMPDIR/t.conf" --older 1d --include-flagged \
		--to-account bobtun --to Kept 'Old Stuff'
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"UIDVALIDITY of 'Kept' changed during the copy; nothing more removed"* ]]
	[ "$(msgs_of alice mailbox 'Old Stuff' all)" = "$before" ]
}

# ---- Courier: its personal namespace "INBOX." and delimiter '.' ----

co_setup() {
	co_wanted || skip "MAILTOOL_TEST_SERVERS does not name courier (or make check's sanitizer pass)"
	CO_TOP=$(cat "$BATS_FILE_TMPDIR/co-top")
	. "$CO_TOP/srv/env.sh"
}
# Courier's own view (tests/lib/courier-check.py): CO USER COMMAND ARGS...
CO() {
	local u=$MT_CO_USER_ALICE p=$MT_CO_PASS_ALICE
	if [ "$1" = bob ]; then u=$MT_CO_USER_BOB p=$MT_CO_PASS_BOB; fi
	python3 "$MT_CO_CHECK" --port "$MT_CO_PORT" --ca "$MT_CO_CA" --user "$u" --password "$p" "${@:2}"
}
# messages in every Courier folder of USER whose name begins with PREFIX
co_count_under() {
	local n=0 f
	while IFS= read -r f; do n=$((n + $(CO "$1" count "$f"))); done < <(CO "$1" list | grep -F "$2")
	echo "$n"
}
co_put_back() {   # USER: the Maildir as the server started
	local md=$MT_CO_MAILDIR_ALICE
	[ "$1" = bob ] && md=$MT_CO_MAILDIR_BOB
	rm -rf "$md"
	cp -a "$CO_TOP/$1.snap" "$md"
}

@test "Dovecot -> Courier: --to 'FromDovecot/%Y' and a rule's 'Alice/ann' are Courier bob's INBOX.FromDovecot.YEAR and INBOX.Alice.ann" {
	co_setup
	before=$(count_of alice mailbox 'Old Stuff' all)
	run --separate-stderr "$MT" archive --older 1d --include-flagged --to-account co-bob --to 'FromDovecot/%Y' --tsv 'Old Stuff'
	[ "$status" -eq 0 ]
	[[ "$output" == *$'Old Stuff -> co-bob:INBOX.FromDovecot.'[0-9][0-9][0-9][0-9]$'\tmoved\t'* ]]
	n=$(echo "$output" | awk -F'\t' '$2 == "moved" {s += $3} END {print s}')
	[ "$n" -gt 0 ]
	[ "$(count_of alice mailbox 'Old Stuff' all)" -eq $((before - n)) ]
	[ "$(co_count_under bob INBOX.FromDovecot.)" -eq "$n" ]
	# a rule's folder, created there, the same way; a rerun adds nothing
	printf '%s\n' 'rules = ( { name = "ann"; folder = "Lists/announce"; match = { from = "@"; }; move = { account = "co-bob"; folder = "Alice/ann"; }; create = true; } );' >"$R"
	m=$(count_of alice mailbox Lists/announce undeleted)
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count_of alice mailbox Lists/announce undeleted)" -eq 0 ]
	[ "$(CO bob count INBOX.Alice.ann)" -eq "$m" ]
	CO bob lsub | grep -qx 'INBOX.Alice.ann'
	co_put_back bob
}

@test "Dovecot -> Courier: a target mixing '/' and Courier's '.' is refused (65) before anything moves; Courier's own notation is taken" {
	co_setup
	before=$(count_of alice mailbox 'Old Stuff' all)
	run --separate-stderr "$MT" archive --older 1d --include-flagged --to-account co-bob --to 'Old/v1.2' 'Old Stuff'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"folder 'Old/v1.2' mixes '/' and the server's hierarchy delimiter '.'"* ]]
	printf '%s\n' 'rules = ( { name = "ann"; folder = "Lists/announce"; match = { from = "@"; }; move = { account = "co-bob"; folder = "Alice/v1.2"; }; create = true; } );' >"$R"
	run --separate-stderr "$MT" filter -f "$R" --dry-run
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'ann': account 'co-bob': folder 'Alice/v1.2' mixes"* ]]
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 65 ]
	[ "$(count_of alice mailbox 'Old Stuff' all)" -eq "$before" ]
	[ "$(CO bob list | grep -c 'v1')" -eq 0 ]
	# the server's own notation alone is clear: levels, as Courier writes them
	run --separate-stderr "$MT" archive --older 1d --include-flagged --to-account co-bob --to 'INBOX.Old.v1' 'Old Stuff'
	[ "$status" -eq 0 ]
	[ "$(CO bob count INBOX.Old.v1)" -eq "$before" ]
	co_put_back bob
}

@test "Courier -> Dovecot: Courier alice's Junk (INBOX.Junk) into Dovecot bob's FromCourier, counted by both servers" {
	co_setup
	n=$(CO alice count INBOX.Junk)
	[ "$n" -gt 0 ]
	run --separate-stderr "$MT" archive -a co-alice --older 1d --include-flagged --to-account bob --to FromCourier --tsv Junk
	echo "status $status: $output / $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'INBOX.Junk -> bob:FromCourier\tmoved\t'"$n"$'\t'* ]]
	[ "$(CO alice count INBOX.Junk)" -eq 0 ]
	[ "$(count_of bob mailbox FromCourier all)" -eq "$n" ]
	co_put_back alice
}

# ---- interruptions: the matrices of cuts.bats and faults.bats, on either connection ----

# Dovecot's capabilities less UIDPLUS (no APPENDUID to believe)
DST_NO_UIDPLUS="IMAP4rev1 LITERAL+ MULTIAPPEND NAMESPACE LIST-EXTENDED SPECIAL-USE"

# the small fixture (Lists/announce: 15 messages) moved to bob in batches of 4
XFER_ARGS=(archive --older 1d --to-account dst --to Moved Lists/announce)

cv_reset() {
	BATS_FILE_TMPDIR="$BATS_FILE_TMPDIR/small" user_restore alice
	BATS_FILE_TMPDIR="$BATS_FILE_TMPDIR/small" user_restore bob
	rm -rf "$XDG_STATE_HOME"
}
# both boxes, each message with its flags and text
cv_msgs() {
	for u in alice bob; do
		dadm -f pager fetch -u "$u" "mailbox hdr.message-id text" all | tr -d '\r' | "$PY" -c "$PAGER_TO_TSV" |
			sed "s/^/$u\t/"
	done | sort
}
cv_state() {
	for u in alice bob; do
		dadm -f pager fetch -u "$u" "mailbox hdr.message-id flags text" all | tr -d '\r' | "$PY" -c "$PAGER_TO_TSV" |
			sed 's/ *\\Recent//' | sed "s/^/$u\t/"
	done | sort
}

# a configuration where account SIDE (src or dst) goes through the proxy on PORT
# (cleartext loopback to the main instance), the other side directly
proxy_conf() {
	local side=$1 port=$2 src_port=$MT_IMAP_PORT dst_port=$MT_IMAP_PORT
	[ "$side" = src ] && src_port=$port
	[ "$side" = dst ] && dst_port=$port
	cat >"$BATS_TEST_TMPDIR/p.conf" <<CONF
default = "src";
accounts = {
  src = { host = "127.0.0.1"; port = $src_port; tls = "none"; user = "alice"; password_file = "$MT_SUITE_DIR/alice.pw"; compress = false; timeout = 5; };
  dst = { host = "127.0.0.1"; port = $dst_port; tls = "none"; user = "bob"; password_file = "$MT_SUITE_DIR/bob.pw"; compress = false; timeout = 5; };
};
CONF
}

cut_run() {   # K ARGS...
	local k=$1 pf="$BATS_TEST_TMPDIR/proxy.port"
	shift
	rm -f "$pf" "$pf.count"
	[ "$k" -gt 0 ] || k=100000   # 0: never cut, only count
	"$PY" "$MT_REPO/tests/lib/cutproxy.py" "$pf" "$MT_IMAP_PORT" after-command "$k" 30 </dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 250); do [ -s "$pf" ] && break; sleep 0.02; done
	proxy_conf "$CUT_SIDE" "$(cat "$pf")"
	MAILTOOL_TEST_XFER_BATCH=4 run "$MT" --config "$BATS_TEST_TMPDIR/p.conf" "$@"
	wait "$PROXY_PID" 2>/dev/null || true
	CV_N=$(cat "$pf.count") || { echo "the proxy wrote no count"; return 1; }
}
cut_interrupted() {   # K N: cut before the end, a clear temporary failure (75), never a crash
	if [ "$1" -lt "$2" ] && [ "$status" -ne 75 ]; then
		echo " cut run exit $status (want 75): $output"
	fi
}
rerun() {
	proxy_conf none 0
	MAILTOOL_TEST_XFER_BATCH=4 run "$MT" --config "$BATS_TEST_TMPDIR/p.conf" "$@"
}

# SIGKILL: the side KILL_SIDE is a tunnel through killproxy.py, which kills
# mailtool after that connection's Kth command
kill_run() {   # K ARGS...
	local k=$1 d="$BATS_TEST_TMPDIR/kp" user=alice other=bob
	shift
	[ "$KILL_SIDE" = dst ] && user=bob other=alice
	rm -rf "$d"
	mkdir -p "$d"
	# the destination without UIDPLUS: its copies are confirmed by reading them back
	# (the cut matrix has APPENDUID)
	local caps=
	[ "$KILL_SIDE" = dst ] && caps="-o \"imap_capability=$DST_NO_UIDPLUS\""
	printf '/usr/lib/dovecot/imap -c %s %s -u %s 2>>%s' "$MT_TEST_DIR/dovecot.conf" "$caps" "$user" "$MT_DOVECOT_LOG" >"$d/inner"
	local direct="host = \"127.0.0.1\"; port = $MT_IMAP_PORT; tls = \"none\"; user = \"$other\"; password_file = \"$MT_SUITE_DIR/$other.pw\"; compress = false; timeout = 5;"
	local tunnel="tunnel = \"$PY $MT_REPO/tests/lib/killproxy.py $d $k 30\"; timeout = 5;"
	if [ "$KILL_SIDE" = src ]; then
		printf 'default = "src";\naccounts = { src = { %s }; dst = { %s }; };\n' "$tunnel" "$direct" >"$BATS_TEST_TMPDIR/p.conf"
	else
		printf 'default = "src";\naccounts = { src = { %s }; dst = { %s }; };\n' "$direct" "$tunnel" >"$BATS_TEST_TMPDIR/p.conf"
	fi
	MAILTOOL_TEST_XFER_BATCH=4 run "$MT" --config "$BATS_TEST_TMPDIR/p.conf" "$@"
	for _ in $(seq 100); do [ -e "$d/done" ] && break; sleep 0.05; done
	CV_N=$(cat "$d/count")
	KILLED=$([ -e "$d/killed" ] && echo 1 || echo 0)
}
kill_interrupted() {
	local k=$1 n=$2
	if [ "$k" -lt "$n" ] && [ "$KILLED" -ne 1 ]; then echo " not killed"; fi
}

# matrix cut|kill src|dst: the driver of converge.bash over XFER_ARGS
matrix() {
	mt_is_asan && skip "the interruption matrices run in the plain pass"
	mt_other_pass plain && skip "the interruption matrices run in the plain pass"
	CUT_SIDE=$2 KILL_SIDE=$2
	if [ "$1" = cut ]; then
		cv_run() { cut_run "$@"; }
		cv_interrupted() { cut_interrupted "$@"; }
	else
		cv_run() { kill_run "$@"; }
		cv_interrupted() { kill_interrupted "$@"; }
	fi
	cv_count() { echo "$CV_N"; }
	cv_rerun() { rerun "$@"; }
	CV_WHAT=$1 converge_every_step "${XFER_ARGS[@]}"
}

@test "cut at every command of the source connection: nothing lost, nothing twice, a rerun finishes" {
	matrix cut src
}

@test "cut at every command of the destination connection: nothing lost, nothing twice, a rerun finishes" {
	matrix cut dst
}

@test "SIGKILL at every command of the source connection: nothing lost, nothing twice, a rerun finishes" {
	matrix kill src
}

@test "SIGKILL at every command of the destination connection: nothing lost, nothing twice, a rerun finishes" {
	matrix kill dst
}
