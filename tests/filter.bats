#!/usr/bin/env bats
# filter against the suite's Dovecot: every condition and action on crafted
# messages with known answers (encoded subjects and bodies included), first
# match vs continue, dry run, --explain, incremental runs, bad rules.
load helpers

# alice's fixture: regenerated once, restored from a copy per test (helpers.bash)
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	R="$BATS_TEST_TMPDIR/rules.conf"
	dadm mailbox create -u alice Test
	# m1 base64 UTF-8 subject, m2 QP ISO-8859-1 subject, m3 plain + List-Id,
	# m4 QP latin-1 body, m5 base64 UTF-8 body, m6 200 KiB, m7 X-Spam-Flag,
	# m8 plain (flagged later), m9 plain (\Deleted by "another client")
	put 1 "=?UTF-8?B?$(printf 'Facture n°1 à payer' | base64 -w0)?=" "" "hello"
	put 2 "=?ISO-8859-1?Q?Rechnung_f=FCr_M=E4rz?=" "" "hello"
	put 3 "Your invoice 42" "List-Id: Dev list <dev.lists.example.org>" "hello"
	put 4 "notes" "Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable" "Caf=E9 meeting at n=
oon"
	put 5 "b64 body" "Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64" "$(printf 'Réunion secrète demain\n' | base64 -w0)"
	put 6 "big one" "" "$(head -c 200000 /dev/zero | tr '\0' 'x' | fold -w 76)"
	put 7 "spam" "X-Spam-Flag: YES" "buy"
	put 8 "starred" "" "hello"
	put 9 "Invoice already deleted" "" "hello"
	dadm flags add -u alice '\Flagged' mailbox Test subject starred
	dadm flags add -u alice '\Deleted' mailbox Test subject "already deleted"
}

put() {  # N SUBJECT EXTRA-HEADERS BODY: a message into Test
	{
		printf 'From: Sender %s <s%s@example.org>\r\nTo: alice@example.org\r\nSubject: %s\r\n' "$1" "$1" "$2"
		printf 'Message-ID: <m%s@example.org>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n' "$1"
		[ -n "$3" ] && printf '%s\n' "$3" | sed 's/$/\r/'
		printf '\r\n%s\r\n' "$4"
	} | dadm save -u alice -m Test
}

uids() { dadm -f tab fetch -u alice uid mailbox "$1" "${@:2}" | tail -n +2 | sort -n | tr '\n' ' '; }
count() { dadm search -u alice mailbox "$@" | wc -l; }
subjects() { dadm -f tab fetch -u alice "hdr.message-id" mailbox "$1" all | tail -n +2 | sort | tr -d '<>' | tr '\n' ' '; }
listing() { dadm -f tab fetch -u alice "mailbox uid flags" all | sed 's/ *\\Recent//' | sort; }
rules() { printf '%s\n' "$1" > "$R"; }

@test "encoded-word subjects (base64 UTF-8, QP latin-1) match, and the move takes exactly them" {
	rules 'rules = (
	  { name = "invoices"; folder = "Test"; match = { subject = "(?i)invoice|facture|rechnung für"; };
	    move = "Invoices"; create = true; } );'
	run "$MT" filter -f "$R" --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"rule":"invoices","folder":"Test","action":"moved","messages":3'* ]]
	[ "$(subjects Invoices)" = "m1@example.org m2@example.org m3@example.org " ]
	# the deleted invoice stayed, and was not expunged by the move
	[ "$(count Test)" -eq 6 ]
	[ "$(count Test deleted)" -eq 1 ]
	# created and subscribed
	dadm mailbox list -u alice -s | grep -qx Invoices
}

@test "body regexes read decoded text: quoted-printable latin-1 and base64 UTF-8" {
	rules 'rules = (
	  { name = "cafe"; folder = "Test"; match = { body = "Café meeting at noon"; }; flag = "$Cafe"; },
	  { name = "reunion"; folder = "Test"; match = { body = "(?i)réunion secrète"; }; flag = "$Reunion"; } );'
	run "$MT" filter -f "$R"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count Test keyword '$Cafe')" -eq 1 ]
	[ "$(count Test keyword '$Cafe' subject notes)" -eq 1 ]
	[ "$(count Test keyword '$Reunion' subject 'b64 body')" -eq 1 ]
	[ "$(count Test keyword '$Reunion')" -eq 1 ]
}

@test "conditions: sizes, named headers, any-header, flags, keywords, all/any/not nested" {
	rules 'rules = (
	  { name = "big"; folder = "Test"; match = { larger = "100k"; }; flag = "$Big"; continue = true; },
	  { name = "small"; folder = "Test"; match = { smaller = "1k"; not = { flagged = true; }; }; flag = "$Small"; continue = true; },
	  { name = "list"; folder = "Test"; match = { list-id = "dev\\.lists\\.example\\.org"; }; flag = "$List"; continue = true; },
	  { name = "spam"; folder = "Test"; match = { header = { name = "X-Spam-Flag"; regex = "^YES$"; }; }; flag = "$Spam"; continue = true; },
	  { name = "anyh"; folder = "Test"; match = { any-header = "^To: alice@"; }; flag = "$Anyh"; continue = true; },
	  { name = "nested"; folder = "Test";
	    match = { any = ( { all = ( { flagged = true; }, { subject = "starred" } ) },
	                      { not = { any = ( { subject = "."; }, { larger = "1" } ); }; } ); };
	    flag = "$Nested"; continue = true; },
	  { name = "kw"; folder = "Test"; match = { keyword = "$Big"; }; flag = "$SawBig"; } );'
	run "$MT" filter -f "$R"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count Test keyword '$Big')" -eq 1 ]
	[ "$(count Test keyword '$Big' subject 'big one')" -eq 1 ]
	# smaller than 1 KiB and not flagged: every message but big one, starred and the deleted one
	[ "$(count Test keyword '$Small')" -eq "$(count Test smaller 1024 unflagged undeleted)" ]
	[ "$(count Test keyword '$Small' subject starred)" -eq 0 ]
	[ "$(count Test keyword '$List')" -eq 1 ]
	[ "$(count Test keyword '$Spam' subject spam)" -eq 1 ]
	[ "$(count Test keyword '$Spam')" -eq 1 ]
	[ "$(count Test keyword '$Anyh')" -eq 8 ]
	[ "$(count Test keyword '$Nested')" -eq 1 ]
	[ "$(count Test keyword '$Nested' subject starred)" -eq 1 ]
	# keywords set by an earlier rule are not seen by a later rule of the same run
	[ "$(count Test keyword '$SawBig')" -eq 0 ]
}

@test "ages on the generated INBOX: older and newer agree with the index" {
	idx="$MT_TEST_DIR/alice.index.tsv"
	now=$(date +%s)
	old=$(awk -F'\t' -v now="$now" '$1=="INBOX" && $6 !~ /T/ && $5 <= now - 365*86400' "$idx" | wc -l)
	young=$(awk -F'\t' -v now="$now" '$1=="INBOX" && $6 !~ /T/ && $5 > now - 365*86400 && $6 !~ /F/' "$idx" | wc -l)
	rules 'rules = (
	  { name = "old"; match = { older = "1y"; }; flag = "$Old"; },
	  { name = "young"; match = { newer = "1y"; flagged = false; }; flag = "$Young"; } );'
	run "$MT" filter -f "$R"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count INBOX keyword '$Old')" -eq "$old" ]
	[ "$(count INBOX keyword '$Young')" -eq "$young" ]
	[ "$old" -gt 0 ] && [ "$young" -gt 0 ]
}

@test "actions: copy, unflag, trash, expunge, stop; the first matching rule takes a message" {
	dadm flags add -u alice '$Todo' mailbox Test all
	rules 'rules = (
	  { name = "keep-starred"; folder = "Test"; match = { flagged = true; }; stop = true; },
	  { name = "spam"; folder = "Test"; match = { subject = "^spam$"; }; expunge = true; },
	  { name = "copy-notes"; folder = "Test"; match = { subject = "notes"; }; copy = "Sent"; continue = true; },
	  { name = "untodo"; folder = "Test"; match = { subject = "notes|big"; }; unflag = "$Todo"; continue = true; },
	  { name = "all-to-trash"; folder = "Test"; match = { subject = "notes|b64|starred"; }; trash = true; } );'
	sent=$(count Sent)
	trash=$(count Trash)
	run "$MT" filter -f "$R"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count Test subject spam)" -eq 0 ]
	[ "$(count Sent)" -eq $((sent + 1)) ]
	[ "$(count Sent header message-id m4@example.org)" -eq 1 ]
	[ "$(count Trash)" -eq $((trash + 2)) ]
	[ "$(count Trash subject notes)" -eq 1 ]
	[ "$(count Trash subject 'b64 body')" -eq 1 ]
	# stop kept the starred message from the trash rule
	[ "$(count Test subject starred)" -eq 1 ]
	[ "$(count Test subject big keyword '$Todo')" -eq 0 ]
	[ "$(count Test subject hello keyword '$Todo')" -eq 0 ]
	[ "$(count Test)" -eq 6 ]
}

@test "examined messages keep their flags: \\Seen is never set by a fetch" {
	rules 'rules = ( { name = "b"; folder = "Test"; match = { body = "nothing-matches-this"; }; flag = "$X"; },
	                 { name = "h"; folder = "INBOX"; match = { any-header = "nothing-matches-this"; }; flag = "$X"; } );'
	before=$(listing)
	run "$MT" filter -f "$R"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
}

@test "--dry-run changes nothing and, with -v, lists each message with its target" {
	rules 'rules = (
	  { name = "invoices"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; },
	  { name = "spam"; folder = "Test"; match = { subject = "^spam$"; }; expunge = true; } );'
	before=$(listing)
	run "$MT" filter -f "$R" -n -v --tsv
	[ "$status" -eq 0 ]
	[ "$(listing)" = "$before" ]
	dadm mailbox list -u alice | grep -vqx Invoices
	[[ "$output" == *$'invoices\tTest\t'*$'\tSender 1 <s1@example.org>\tFacture n°1 à payer\tInvoices'* ]]
	# one record type per TSV stream: the listing; the rule records are JSON's
	[ "$(echo "$output" | grep -c $'^rule\t')" -eq 1 ]
	[[ "$output" != *$'invoices\tTest\twould move\t2'* ]]
	run --separate-stderr "$MT" filter -f "$R" -n -v --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"type":"rule","rule":"invoices","folder":"Test","action":"would move","messages":2}'* ]]
	[[ "$output" == *'"type":"rule","rule":"spam","folder":"Test","action":"would expunge","messages":1}'* ]]
	[[ "$output" == *'"type":"message","rule":"invoices","folder":"Test",'* ]]
}

@test "--explain shows a server-side pre-filter for a regex with literals and none without" {
	rules 'rules = (
	  { name = "lit"; match = { subject = "(?i)invoice|facture"; }; flag = "$A"; },
	  { name = "nolit"; match = { subject = "^.{3}[0-9]+$"; }; flag = "$B"; },
	  { name = "size"; match = { larger = "1M"; }; flag = "$C"; } );'
	run "$MT" filter -f "$R" --explain
	[ "$status" -eq 0 ]
	[[ "$output" == *'UID SEARCH UNDELETED OR (SUBJECT "invoice") (SUBJECT "facture")'* ]]
	echo "$output" | grep -A1 "rule 'nolit'" | tail -1 | grep -q folders
	echo "$output" | grep -A2 "rule 'nolit'" | grep -qx '  server:  UID SEARCH UNDELETED'
	[[ "$output" == *'UID SEARCH UNDELETED LARGER 1048576'*'nothing (the server decides exactly)'* ]]
}

@test "--explain needs no server and says what it assumes; --connect resolves folders as the run does" {
	rules 'rules = (
	  { name = "t"; folders = ["Te*"]; match = { larger = "1k"; }; flag = "$A"; },
	  { name = "two"; folders = ["INBOX", "Test"]; match = { larger = "1k"; }; flag = "$B"; } );'
	# an account no server answers for: --explain alone never connects
	printf 'default = "dead";\naccounts = { dead = { host = "127.0.0.1"; port = 1; tls = "implicit"; user = "x"; connect_timeout = 2; }; };\n' > "$BATS_TEST_TMPDIR/dead.conf"
	run --separate-stderr "$MT" filter -f "$R" --explain --config "$BATS_TEST_TMPDIR/dead.conf"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "$output" == "assumed (not logged in"*"WITHIN"*"not looked up"* ]]
	echo "$output" | grep -qx '  folders: Te\*'
	echo "$output" | grep -qx '  folders: INBOX Test'
	# with a session: the folders the run reads
	run --separate-stderr "$MT" filter -f "$R" --explain --connect
	[ "$status" -eq 0 ]
	[[ "$output" == "server: offers WITHIN"* ]]
	echo "$output" | grep -qx '  folders: Test'
	echo "$output" | grep -qx '  folders: INBOX Test'
	# it could not reach a dead server
	run --separate-stderr "$MT" filter -f "$R" --explain --connect --config "$BATS_TEST_TMPDIR/dead.conf"
	[ "$status" -ne 0 ]
	run --separate-stderr "$MT" filter -f "$R" --connect
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--connect goes with --explain"* ]]
	# offline, options that need a login are refused, not ignored
	run --separate-stderr "$MT" filter -f "$R" --explain --as bob --users alice,carol
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--explain does not log in"* ]]
}

@test "--explain --connect: a rule the run would refuse for a missing folder is said, and the exit is the run's" {
	rules 'rules = (
	  { name = "two"; folders = ["INBOX", "Nowhere"]; match = { larger = "1k"; }; flag = "$A"; },
	  { name = "ok"; folder = "Test"; match = { larger = "1k"; }; flag = "$B"; } );'
	run --separate-stderr "$MT" filter -f "$R" --dry-run
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'two': no folder 'Nowhere'"* ]]
	run --separate-stderr "$MT" filter -f "$R" --explain --connect
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'two': no folder 'Nowhere'"* ]]
	echo "$output" | grep -qx "  folders: no folder 'Nowhere' (the run refuses this rule)"
	echo "$output" | grep -qx '  folders: Test'
}

@test "--explain shows what a rules file and the server name escaped, offline and with --connect" {
	# a rules file from someone else: name, pattern and target carrying terminal controls
	printf '%s\n' 'rules = ( { name = "e\x1b]2;owned\x07"; folder = "INBOX"; match = { subject = "a\x1b\\[2Jb"; }; move = "X\x1b[31m"; create = true; } );' > "$R"
	run --separate-stderr "$MT" filter -f "$R" --explain
	[ "$status" -eq 0 ]
	[[ "$output" == *"rule 'e\x1B]2;owned\x07'"* ]]
	[[ "$output" != *$'\033'* ]]
	# a folder whose name decodes to ESC ] 2 ; pwned BEL (a terminal title)
	M="$MT_TEST_DIR/mail/alice/Maildir"
	mkdir -p "$M/.Evil&ABs-]2;pwned&AAc-x/cur" "$M/.Evil&ABs-]2;pwned&AAc-x/new" "$M/.Evil&ABs-]2;pwned&AAc-x/tmp"
	rules 'rules = ( { name = "e"; folders = ["Evil*"]; match = { larger = "1k"; }; flag = "$A"; } );'
	run --separate-stderr "$MT" filter -f "$R" --explain --connect
	[ "$status" -eq 0 ]
	[[ "$output" == *'Evil\x1B]2;pwned\x07x'* ]]
	[[ "$output" != *$'\033'* ]]
}

@test "--new: a second run after N deliveries examines exactly N; a UIDVALIDITY change means a full run" {
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	run "$MT" filter -f "$R" --new -v
	[ "$status" -eq 0 ]
	[[ "$output" == *"Test: examined 9 of 9 messages (full run)"* ]]
	run "$MT" filter -f "$R" --new -v
	[[ "$output" == *"Test: examined 0 of 7 messages"* ]]
	for i in 21 22 23 24; do put $i "new $i" "" "x"; done
	put 25 "another invoice" "" "x"
	run "$MT" filter -f "$R" --new -v
	[ "$status" -eq 0 ]
	[[ "$output" == *"Test: examined 5 of 12 messages (new since the last run)"* ]]
	[ "$(count Invoices)" -eq 3 ]
	# the folder is recreated: a new UIDVALIDITY
	dadm mailbox delete -u alice Test
	dadm mailbox create -u alice Test
	put 31 "facture again" "" "x"
	run "$MT" filter -f "$R" --new -v
	[ "$status" -eq 0 ]
	[[ "$output" == *"Test: examined 1 of 1 messages (full run)"* ]]
	[ "$(count Invoices)" -eq 4 ]
}

# A kept session (--persist, batch) must see what other clients did since its
# last run: STATUS of the folder a session has selected answers from that
# session's view, and Dovecot reported no new mail here until the session
# left the selected state before serving the next run.
persisted_new_run() {  # extra options (a tunnel) for every run
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	run "$MT" filter -f "$R" --new -v --persist 30s "$@"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Test: examined 9 of 9 messages (full run)"* ]]
	for i in 21 22 23; do put $i "new $i" "" "x"; done
	put 24 "another invoice" "" "x"
	run "$MT" filter -f "$R" --new -v --persist 30s "$@"
	"$MT" persist --stop >/dev/null 2>&1 || true
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Test: examined 4 of 11 messages (new since the last run)"* ]]
	[ "$(count Invoices)" -eq 3 ]
}

@test "--new through --persist: the kept session sees mail delivered since its last run" {
	persisted_new_run
}

@test "--new through --persist without UNSELECT: a failing EXAMINE leaves the folder instead" {
	persisted_new_run --trace --tunnel "$(mt_tunnel_caps "IMAP4rev1 LITERAL+ UIDPLUS MOVE CONDSTORE QRESYNC ESEARCH SPECIAL-USE LIST-EXTENDED NAMESPACE")"
	[[ "$output" == *'EXAMINE "mailtool-no-such-folder/deselect"'* ]]
	[[ "$output" != *UNSELECT* ]]
}

@test "--persist: each run has its own environment (XDG_STATE_HOME), not the first run's" {
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	a="$BATS_TEST_TMPDIR/a" b="$BATS_TEST_TMPDIR/b"
	before=$(grep -c 'Login: user=<alice>' "$MT_DOVECOT_LOG" || true)
	XDG_STATE_HOME=$a run "$MT" filter -f "$R" --new -v --persist 30s
	[[ "$output" == *"Test: examined 9 of 9 messages (full run)"* ]]
	XDG_STATE_HOME=$b run "$MT" filter -f "$R" --new -v --persist 30s
	[[ "$output" == *"Test: examined 7 of 7 messages (full run)"* ]]
	[ -n "$(ls -A "$b/mailtool")" ]
	XDG_STATE_HOME=$a run "$MT" filter -f "$R" --new -v --persist 30s
	"$MT" persist --stop >/dev/null 2>&1 || true
	[[ "$output" == *"Test: examined 0 of 7 messages"* ]]
	# all three through the one kept session
	[ "$(( $(grep -c 'Login: user=<alice>' "$MT_DOVECOT_LOG") - before ))" -eq 1 ]
}

@test "--log appends one JSON line per message acted on" {
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	run "$MT" filter -f "$R" --log "$BATS_TEST_TMPDIR/audit.log"
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$BATS_TEST_TMPDIR/audit.log")" -eq 2 ]
	python3 - "$BATS_TEST_TMPDIR/audit.log" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert {r["message_id"] for r in rows} == {"<m1@example.org>", "<m3@example.org>"}, rows
assert all(r["rule"] == "inv" and r["folder"] == "Test" and r["target"] == "Invoices" and r["account"] == "alice" for r in rows)
assert any(r["subject"] == "Facture n°1 à payer" for r in rows)
EOF
}

@test "bad rules are refused with file, line and rule name before connecting" {
	badcase() {  # RULES EXPECTED-TEXT
		rules "$1"
		# an unreachable server: the error must be the rule's, not a connection's
		run --separate-stderr "$MT" filter -f "$R" -H 127.0.0.1 -p 9 --no-tls --timeout 2s
		echo "$stderr"
		[ "$status" -eq 78 ]
		[[ "$stderr" == *"$2"* ]]
		[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	}
	badcase 'rules = ( { name = "x"; match = { subjekt = "a"; }; flag = "$A"; } );' "rules.conf:1: rule 'x': unknown condition 'subjekt'"
	badcase 'rules = ( { name = "x"; match = { subject = "a("; }; flag = "$A"; } );' "rule 'x': subject: bad regular expression 'a(' at offset 2: missing closing parenthesis"
	badcase 'rules = ( { name = "x"; match = { larger = "12Q"; }; flag = "$A"; } );' "rule 'x': larger:"
	badcase 'rules = ( { name = "x"; match = { smaller = 0; }; flag = "$A"; } );' "rule 'x': smaller: no message is smaller than 0 bytes"
	badcase 'rules = ( { name = "x"; match = { larger = "5G"; }; flag = "$A"; } );' "beyond any message size"
	badcase 'rules = ( { name = "x"; match = { older = "3x"; }; flag = "$A"; } );' "rule 'x': older:"
	badcase 'rules = ( { name = "x"; match = { seen = true; }; mvoe = "A"; } );' "rule 'x': unknown key 'mvoe'"
	badcase 'rules = ( { name = "x"; match = { seen = true; }; move = "A"; trash = true; } );' "more than one action"
	badcase 'rules = ( { name = "x"; match = { seen = true; }; flag = "bad flag"; } );' "neither a system flag"
	badcase 'rules = ( { name = "x"; match = { seen = true; }; } );' "no action"
	badcase 'rules = ( { name = "x";
	  match = { seen = = true; }; flag = "$A"; } );' "rules.conf:2: syntax error"
}

@test "a rule naming a folder that does not exist fails before anything changes" {
	rules 'rules = (
	  { name = "ok"; folder = "Test"; match = { subject = "spam"; }; expunge = true; },
	  { name = "typo"; folder = "Tset"; match = { subject = "x"; }; flag = "$A"; } );'
	before=$(listing)
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rules.conf:3: rule 'typo': no folder 'Tset'"* ]]
	[ "$(listing)" = "$before" ]
	rules 'rules = ( { name = "nocreate"; folder = "Test"; match = { subject = "spam"; }; move = "Nowhere"; } );'
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"folder 'Nowhere' does not exist"* ]]
	[ "$(listing)" = "$before" ]
}

@test "without MOVE the move is COPY + UID EXPUNGE of exactly the copied UIDs" {
	tun=$(mt_tunnel_caps "IMAP4rev1 LIST-EXTENDED SPECIAL-USE NAMESPACE UIDPLUS")
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	# another client's \Deleted mail that the rule does not match
	dadm flags add -u alice '\Deleted' mailbox Test subject spam
	run "$MT" filter -f "$R" --tunnel "$tun" --trace
	[ "$status" -eq 0 ]
	[[ "$output" == *"UID COPY"* ]]
	[[ "$output" == *"UID EXPUNGE"* ]]
	[[ "$output" != *"UID MOVE"* ]]
	[ "$(count Invoices)" -eq 2 ]
	[ "$(count Test subject spam deleted)" -eq 1 ]
	[ "$(count Test subject 'already deleted' deleted)" -eq 1 ]
	[ "$(count Test)" -eq 7 ]
}

@test "rules come from the rules list of mailtool.conf without -f" {
	cp "$MAILTOOL_CONFIG" "$BATS_TEST_TMPDIR/mt.conf"
	printf '%s\n' 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)facture"; }; flag = "$F"; } );' >> "$BATS_TEST_TMPDIR/mt.conf"
	run "$MT" filter --config "$BATS_TEST_TMPDIR/mt.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count Test keyword '$F')" -eq 1 ]
}

@test "the example rule sets in filters/ are valid rules" {
	n=0
	for f in "$MT_REPO"/filters/*.conf; do
		run "$MT" filter -f "$f" --explain
		echo "$f: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"rule '"* ]]
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}

@test "the folder deleted and recreated before the move: nothing is moved" {
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	MAILTOOL_TEST_HOOK_BEFORE_REMOVE="$MT_DOVEADM mailbox delete -u alice Test && $MT_DOVEADM mailbox create -u alice Test && printf 'Subject: invoice new\r\n\r\nx\r\n' | $MT_DOVEADM save -u alice -m Test" \
		run --separate-stderr "$MT" filter -f "$R"
	echo "$output $stderr"
	# refused one way or another (the session still has the old folder
	# selected: its UIDs are gone), and nothing moved
	[ "$status" -ne 0 ]
	[ "$(count Invoices 2>/dev/null || echo 0)" -eq 0 ]
	[ "$(count Test)" -eq 1 ]
}

@test "without MOVE, a run killed between COPY and EXPUNGE and run again copies nothing twice" {
	tun=$(mt_tunnel_caps "IMAP4rev1 LIST-EXTENDED SPECIAL-USE NAMESPACE UIDPLUS")
	rules 'rules = ( { name = "inv"; folder = "Test"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; } );'
	MAILTOOL_TEST_HOOK_AFTER_COPY='kill -9 $MAILTOOL_PID' run "$MT" filter -f "$R" --tunnel "$tun"
	[ "$status" -ne 0 ]
	# killed: the copies exist, the originals too (marked)
	[ "$(count Invoices)" -eq 2 ]
	[ "$(count Test subject invoice undeleted)" -eq 1 ]
	run "$MT" filter -f "$R" --tunnel "$tun"
	[ "$status" -eq 0 ]
	[ "$(count Invoices)" -eq 2 ]
	[ "$(count Invoices header message-id m1@example.org)" -eq 1 ]
	[ "$(count Invoices header message-id m3@example.org)" -eq 1 ]
	[ "$(count Test header message-id m1@example.org)" -eq 0 ]
	[ "$(count Test header message-id m3@example.org)" -eq 0 ]
	[ "$(count Test)" -eq 7 ]
	# no mark left behind
	[ "$(dadm search -u alice keyword '$MailtoolMoving' | wc -l)" -eq 0 ]
}

@test "--new reads a state written by the release before (its account key), so an upgrade is no full run" {
	rules 'rules = ( { name = "c"; folder = "Test"; match = { larger = "1"; }; copy = "Copies"; create = true; } );'
	run "$MT" filter -f "$R" --new
	[ "$status" -eq 0 ]
	copies=$(count Copies)
	[ "$copies" -gt 0 ]
	# the line as the previous release wrote it: key "name|user|host|port|as"
	st="$XDG_STATE_HOME/mailtool/filter.state"
	awk -F'\t' -v OFS='\t' -v k="alice|alice|localhost|$MT_IMAPS_PORT|" '{ $2 = k; print }' "$st" > "$st.old"
	mv "$st.old" "$st"
	run "$MT" filter -f "$R" --new -v
	echo "$output"
	[ "$status" -eq 0 ]
	# nothing copied twice: the old line was read as this account's
	[ "$(count Copies)" -eq "$copies" ]
	[[ "$output" == *"examined 0 of"* ]]
	# once something arrives, the line is rewritten under today's key
	put 10 "new one" "" "hello"
	run "$MT" filter -f "$R" --new
	[ "$status" -eq 0 ]
	[ "$(count Copies)" -eq $((copies + 1)) ]
	[ "$(grep -c 'alice|alice|localhost' "$st")" -eq 0 ]
	[ "$(wc -l < "$st")" -eq 1 ]
}

@test "a number the configuration syntax would cut to 32 bits is refused, never read as another: rules and mailtool.conf" {
	before=$(listing)
	# 4294967396 is 100 in 32 bits: every message over 100 bytes
	rules 'rules = ( { name = "huge"; folder = "Test"; match = { larger = 4294967396; }; expunge = true; } );'
	run -78 --separate-stderr "$MT" filter -f "$R" --dry-run
	[ "$stderr" = "mailtool filter: $R:1: the number 4294967396 is too large for the configuration syntax without an L suffix (it would be cut to 32 bits): write sizes as strings such as \"5G\", or add L" ]
	run -78 --separate-stderr "$MT" filter -f "$R" --sieve
	for v in -4294967196 0x100000064 5000000000; do
		rules "rules = ( { name = \"huge\"; folder = \"Test\"; match = { larger = $v; }; expunge = true; } );"
		run -78 --separate-stderr "$MT" filter -f "$R" --dry-run
		[[ "$stderr" == *"too large for the configuration syntax"* ]]
	done
	# in a string, a comment or with L it is what it says; a name may hold digits
	rules '# 99999999999
rules = ( { name = "x5000000000"; folder = "Test"; match = { subject = "5000000000"; larger = "3G"; }; flag = "$Y"; },
  { name = "l"; folder = "Test"; match = { larger = 4294967295L; }; flag = "$Y"; } );'
	run -0 "$MT" filter -f "$R" --dry-run
	# mailtool.conf: port 4294967439 would be 143
	cp "$MAILTOOL_CONFIG" "$BATS_TEST_TMPDIR/c.conf"
	sed -i "s/^  alice_plain = { host = \"127.0.0.1\"; port = [0-9]*;/  alice_plain = { host = \"127.0.0.1\"; port = 4294967439;/" "$BATS_TEST_TMPDIR/c.conf"
	grep -q 'port = 4294967439' "$BATS_TEST_TMPDIR/c.conf"
	run -78 --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/c.conf" -a alice_plain
	[[ "$stderr" == *"c.conf:"*"the number 4294967439 is too large"* ]]
	[ "$(listing)" = "$before" ]
}

@test "a sender cannot dodge a rule with text the server reads otherwise: every one is found and moved" {
	# Dovecot's SEARCH answers "no match" for these (unknown charsets, an RFC
	# 2231 language tag, a broken encoded word; a damaged base64 part, an
	# unknown transfer encoding) where the rule reads what the sender wrote
	put 20 "=?x-unknown?q?cheap_pills?=" "" "hello"
	put 21 "=?utf-8*en?q?cheap_pills?=" "" "hello"
	put 23 "=?unknown-8bit?q?cheap_pills?=" "" "hello"
	put 24 "plain one" "Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64" "=$(printf 'buy cheap pills now' | base64 -w0)"
	put 25 "plain two" "Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: x-uuencode" "buy cheap pills now"
	# controls: a plain match, and near misses the rule must not take
	put 26 "cheap pills" "" "hello"
	put 27 "=?utf-8?q?cheap_pill?=" "" "cheap pill"
	put 22 "=?us-ascii?q?cheap_pi=?= =?us-ascii?q?lls?=" "" "a broken word both sides read as no match"
	# the server itself misses the dodges (else this test would prove nothing)
	[ "$(dadm search -u alice mailbox Test subject pills | wc -l)" -eq 1 ]
	[ "$(dadm search -u alice mailbox Test body pills | wc -l)" -eq 0 ]
	rules 'rules = (
	  { name = "subj"; folder = "Test"; match = { subject = "cheap pills"; }; move = "Spam"; create = true; },
	  { name = "body"; folder = "Test"; match = { body = "cheap pills"; }; move = "Spam"; create = true; } );'
	run "$MT" filter -f "$R" --explain
	echo "$output"
	[[ "$output" == *'SUBJECT "cheap"'*'and of UID SEARCH UNDELETED, the rest whose fields or BODYSTRUCTURE'* ]]
	run "$MT" filter -f "$R" --dry-run --tsv
	[ "$status" -eq 0 ]
	[ "$(count Test)" -eq 17 ]
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	echo "spam: $(subjects Spam)"
	[ "$(subjects Spam)" = "m20@example.org m21@example.org m23@example.org m24@example.org m25@example.org m26@example.org " ]
	[ "$(count Test)" -eq 11 ]
	# expunge --subject chooses through the same compiler: no dodge either
	put 30 "=?x-unknown?q?old_newsletter?=" "" "hello"
	put 31 "old newsletter" "" "hello"
	put 32 "newsletter" "" "hello"
	run "$MT" expunge --subject 'old newsletter' Test
	[ "$status" -eq 0 ]
	[ "$(count Test header message-id m30@example.org)" -eq 0 ]
	[ "$(count Test header message-id m31@example.org)" -eq 0 ]
	[ "$(count Test header message-id m32@example.org)" -eq 1 ]
}

@test "two filter runs on one box at once: the second does not start (75), so a server without MOVE gets no copy twice" {
	local i
	for i in $(seq 120); do
		printf 'From: a@example.org\r\nSubject: dup %d\r\nMessage-ID: <dup%d@x>\r\n\r\nhi\r\n' "$i" "$i"
	done | python3 -c '
import os, re, subprocess, sys
dadm = os.environ["MT_DOVEADM"].split()
for m in re.split(r"(?=From: a@example.org)", sys.stdin.read())[1:]:
    subprocess.run(dadm + ["save", "-u", "alice", "-m", "Test"], input=m.encode(), check=True)'
	# alice's own server, offering UIDPLUS but not MOVE (COPY + UID EXPUNGE)
	printf 'accounts = { m = { tunnel = "%s"; timeout = 10; }; };\n' \
		"$(mt_tunnel_caps 'IMAP4rev1 UIDPLUS' | sed 's/"/\\"/g')" > "$BATS_TEST_TMPDIR/m.conf"
	rules 'rules = ( { name = "d"; folder = "Test"; match = { subject = "dup"; }; move = "Hit"; create = true; } );'
	# --max-rate spaces the commands so that the runs overlap
	"$MT" filter --config "$BATS_TEST_TMPDIR/m.conf" -a m --max-rate 5/s -f "$R" > "$BATS_TEST_TMPDIR/a.out" 2>&1 &
	local pid=$!
	sleep 0.5
	run --separate-stderr "$MT" filter --config "$BATS_TEST_TMPDIR/m.conf" -a m --max-rate 5/s -f "$R"
	echo "$stderr"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"another filter run holds"* ]]
	wait "$pid"
	cat "$BATS_TEST_TMPDIR/a.out"
	[ "$(count Hit)" -eq 120 ]
	[ "$(count Test header message-id dup)" -eq 0 ]
	# a dry run reads only: it is not held up
	run "$MT" filter --config "$BATS_TEST_TMPDIR/m.conf" -a m -f "$R" --dry-run
	[ "$status" -eq 0 ]
}

@test "a target folder with an empty level ('x/', '/x', 'a//b') is refused by the dry run and the run alike, nothing made" {
	local t
	for t in 'Xdir/' '/Xdir' 'Xa//b'; do
		rules "rules = ( { name = \"r\"; folder = \"Test\"; match = { subject = \"starred\"; }; move = \"$t\"; create = true; } );"
		before=$(listing)
		run --separate-stderr "$MT" filter -f "$R" --dry-run
		[ "$status" -eq 65 ]
		[[ "$stderr" == *"rule 'r': folder '$t' has an empty level (the separator is '/')"* ]]
		run --separate-stderr "$MT" filter -f "$R"
		[ "$status" -eq 65 ]
		[ "$(listing)" = "$before" ]
		[ "$(dadm mailbox list -u alice | grep -c 'Xdir\|^Xa')" -eq 0 ]
	done
}
