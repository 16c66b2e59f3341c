#!/usr/bin/env bats
# filter --sieve: rule files compiled to Sieve. Every script is compiled by
# Pigeonhole's own sievec, and sieve-test runs it on generated messages
# (encoded and folded subjects, sizes either side of a threshold, UTF-8)
# whose outcome must be where a real filter run leaves the same messages in
# the suite's Dovecot. Every refusal is checked for its reason.
load helpers

setup_file() {
	alice_snapshot
	# sieve-test drops to the mail user: a directory it can read
	SV=$(mktemp -d /tmp/mt-sieve.XXXXXX)
	chmod 755 "$SV"
	if [ "$(id -u)" -eq 0 ]; then
		uid=$(id -u nobody) gid=$(getent group nogroup | cut -d: -f3)
	else
		uid=$(id -u) gid=$(id -g)
	fi
	printf 'mail_location = maildir:%s/mail\nmail_uid = %s\nmail_gid = %s\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n' \
		"$SV" "$uid" "$gid" > "$SV/dovecot.conf"
	chmod 644 "$SV/dovecot.conf"
	export SV
}
teardown_file() {
	rm -rf "$SV"
	alice_reset
}

setup() {
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	R="$BATS_TEST_TMPDIR/rules.conf"
	S="$SV/$BATS_TEST_NUMBER.sieve"
}

rules() { printf '%s\n' "$1" > "$R"; }
# the script compiles under Pigeonhole (the binary goes next to it)
sievec_ok() { chmod 644 "$1" && sievec -c "$SV/dovecot.conf" "$1" "$1.svbin"; }

@test "the example rule sets: what compiles passes sievec, the rest is refused rule by rule" {
	run --separate-stderr "$MT" filter --sieve -f "$MT_REPO/filters/lists.conf"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ "$stderr" == *"lists.conf:14: rule 'other-lists': flagged: stored flags mean nothing at delivery"* ]]
	run --separate-stderr "$MT" filter --sieve --skip-unsupported -f "$MT_REPO/filters/lists.conf"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"rule 'other-lists': flagged: stored flags mean nothing at delivery (a new message has none) (left out)"* ]]
	[[ "$output" == *'if header :contains :comparator "i;octet" "list-id" "<dev.lists.example.org>" {'* ]]
	[[ "$output" == *"# left out: rule 'other-lists'"* ]]
	printf '%s\n' "$output" > "$S"
	run sievec_ok "$S"
	[ "$status" -eq 0 ]

	run --separate-stderr "$MT" filter --sieve --skip-unsupported -f "$MT_REPO/filters/invoices.conf"
	[ "$status" -eq 0 ]
	[[ "$output" == *'require ["fileinto", "imap4flags", "mailbox", "regex"];'* ]]
	[[ "$output" == *'header :regex :comparator "i;ascii-casemap" "subject" "invoice|facture|rechnung|receipt"'* ]]
	[[ "$stderr" == *"rule 'biller-pdf': from: regex '\$' at offset 28: filter keeps a blank that ends a header value"* ]]
	printf '%s\n' "$output" > "$S"
	run sievec_ok "$S"
	[ "$status" -eq 0 ]

	# nothing in these means anything at delivery
	run --separate-stderr "$MT" filter --sieve --skip-unsupported -f "$MT_REPO/filters/attachments.conf"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ "$stderr" == *"rule 'big-old': older: an age means nothing at delivery"* ]]
	[[ "$stderr" == *"no rule can be compiled to Sieve with the same meaning"* ]]
	run --separate-stderr "$MT" filter --sieve -f "$MT_REPO/filters/newsletters.conf"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'old-read-newsletters': seen: stored flags"* ]]
	[[ "$stderr" == *"rule 'stale-newsletters': older: an age"* ]]
}

@test "every refusal is refused with its reason, one line each naming file:line and rule" {
	local refusals=(
		'older|older = "30d";|older: an age means nothing at delivery'
		'newer|newer = "1d";|newer: an age means nothing at delivery'
		'seen|seen = false;|seen: stored flags mean nothing at delivery'
		'deleted|deleted = true;|deleted: stored flags'
		'keyword|keyword = "$X";|keyword: stored flags'
		'body|body = "x";|body: filter searches the decoded text parts within the first body_limit bytes'
		'anyheader|any-header = "x";|any-header: Sieve has no test over every header field'
		'digit|subject = "\\d";|subject: regex '"'"'\d'"'"' at offset 0: under PCRE2_UCP a class of every Unicode decimal digit'
		'word|subject = "\\w+";|a class of Unicode letters and digits'
		'space|subject = "a\\sb";|a class of blanks'
		'boundary|subject = "\\bx";|a word boundary'
		'backref|subject = "(a)\\1";|a backreference'
		'lookahead|subject = "a(?!b)";|a lookahead'
		'lookbehind|subject = "(?<=a)b";|a lookbehind'
		'possessive|subject = "a*+b";|a possessive repeat'
		'blank|subject = "a b";|a blank: filter merges a run of blanks'
		'negated|subject = "[^a]";|a negated class'
		'posix|subject = "[[:alpha:]]";|a POSIX class'
		'dot|subject = "a.c";|'"'"'.'"'"' other than '"'"'.*'"'"
		'dollar|subject = "a$";|filter keeps a blank that ends a header value, Sieve trims it'
		'utf8|subject = "für";|filter reads 8-bit bytes of a header as ISO-8859-1, Sieve as UTF-8'
		'kelvin|subject = "(?i)bank";|(?i) with k or s: PCRE2 also folds the Kelvin sign'
		'inline|subject = "a(?i)b";|an inline option'
		'question|subject = "a\\?";|filter matches bytes that are not UTF-8 as'
		'count|subject = "a{1000}";|a repeat count above 255'
	)
	local text='rules = (' k=0
	for r in "${refusals[@]}"; do
		IFS='|' read -r name match _ <<<"$r"
		text+=$'\n'"{ name = \"$name\"; match = { $match }; stop = true; },"
	done
	text+=$'\n''{ name = "sent"; folder = "Sent"; match = { subject = "x"; }; stop = true; },'
	text+=$'\n''{ name = "inbox-copy"; match = { subject = "x"; }; copy = "INBOX"; },'
	text+=$'\n''{ name = "twice-a"; match = { subject = "x"; }; copy = "C"; continue = true; },'
	text+=$'\n''{ name = "twice-b"; match = { subject = "y"; }; copy = "C"; },'
	text+=$'\n''{ name = "tab"; match = { subject = "z"; }; move = "a\tb"; }'$'\n'');'
	rules "$text"
	run --separate-stderr "$MT" filter --sieve -f "$R"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	for r in "${refusals[@]}"; do
		k=$((k + 1))
		IFS='|' read -r name _ why <<<"$r"
		[[ "$stderr" == *"rules.conf:$((k + 1)): rule '$name': "*"$why"* ]] || { echo "no refusal of $name: $why"; false; }
	done
	[[ "$stderr" == *"rule 'sent': folders: mail arrives in INBOX at delivery, and this rule reads only Sent"* ]]
	[[ "$stderr" == *"rule 'inbox-copy': copy into INBOX: at delivery Sieve files a message into INBOX once"* ]]
	[[ "$stderr" == *"rule 'twice-b': 'C' again: an earlier rule copies there and continues"* ]]
	[[ "$stderr" == *"rule 'tab': 'a?b' cannot be written as a Sieve string"* ]]
	[[ "$stderr" == *"mailtool filter: $((k + 4)) rules cannot be compiled to Sieve with the same meaning"* ]]
	# one line per refused rule, and the summary
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq $((k + 5)) ]
	# twice-a alone compiles; --skip-unsupported prints it and lists the rest
	run --separate-stderr "$MT" filter --sieve --skip-unsupported -f "$R"
	[ "$status" -eq 0 ]
	[[ "$output" == *"# rule 'twice-a'"* ]]
	[ "$(printf '%s\n' "$stderr" | grep -c '(left out)$')" -eq $((k + 4)) ]
	printf '%s\n' "$output" > "$S"
	run sievec_ok "$S"
	[ "$status" -eq 0 ]
}

@test "hostile names: quotes, backslashes, line breaks and comments cannot change what the script does" {
	rules 'rules = (
	  { name = "evil\n} discard; #"; match = { subject = "\\\"q\\\\x"; };
	    move = "a\"; discard; stop; fileinto \"b\\\\"; create = true; },
	  { name = "flags"; match = { subject = "f"; }; flag = [ "$A", "\\Seen" ]; }
	);'
	run --separate-stderr "$MT" filter --sieve -f "$R"
	[ "$status" -eq 0 ]
	[[ "$output" == *"# rule 'evil?} discard; #' ("* ]]
	[[ "$output" == *'"subject" "\"q\\x" {'* ]]
	[[ "$output" == *'fileinto :create "a\"; discard; stop; fileinto \"b\\\\";'* ]]
	printf '%s\n' "$output" > "$S"
	run sievec_ok "$S"
	[ "$status" -eq 0 ]
	# what Pigeonhole makes of it: one folder of that odd name, no discard
	printf 'From: a@example.org\r\nSubject: a "q\\x b\r\nMessage-ID: <h@x>\r\n\r\nhi\r\n' > "$SV/h.eml"
	chmod 644 "$SV/h.eml"
	run sieve-test -c "$SV/dovecot.conf" "$S" "$SV/h.eml"
	[ "$status" -eq 0 ]
	[[ "$output" == *'store message in folder: a"; discard; stop; fileinto "b\'* ]]
	run "$MT_REPO/tests/lib/sieve-outcome.py" sieve <<<"$output"
	[ "$output" = 'a"; discard; stop; fileinto "b\\{}' ]
}

@test "--sieve logs in nowhere; its options go with it and run options do not" {
	rules 'rules = ( { name = "t"; match = { larger = "1M"; }; trash = true; } );'
	run --separate-stderr env MAILTOOL_PASSWORD= "$MT" filter --sieve --config /dev/null -f "$R" --trash-folder "Corbeille"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'if size :over 1048576 {\n    fileinto "Corbeille";\n    stop;\n}'* ]]
	# offline, no folder is guessed: without --trash-folder the rule is refused
	run --separate-stderr env MAILTOOL_PASSWORD= "$MT" filter --sieve --config /dev/null -f "$R"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ "$stderr" == *"rule 't': trash: filter --sieve does not log in to ask the server for its \Trash folder: --trash-folder names it"* ]]
	run --separate-stderr "$MT" filter --skip-unsupported -f "$R"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--skip-unsupported goes with --sieve"* ]]
	run --separate-stderr "$MT" filter --trash-folder X -f "$R"
	[ "$status" -eq 64 ]
	run --separate-stderr "$MT" filter --sieve --dry-run -f "$R"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--sieve compiles the rules without logging in: not with --dry-run"* ]]
}

# A message into alice's INBOX and a file for sieve-test:
# N SUBJECT-LINE EXTRA-HEADERS BODY [FROM-LINE]
msg() {
	{
		printf '%s\r\nTo: alice@example.org\r\n%s\r\n' "${5:-From: Sender <s$1@example.${FROMTLD:-org}>}" "$2"
		printf 'Message-ID: <sv%s@example.org>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n' "$1"
		[ -z "$3" ] || printf '%s\r\n' "$3"
		printf '\r\n%s\r\n' "$4"
	} > "$SV/m$1.eml"
	chmod 644 "$SV/m$1.eml"
	dadm save -u alice -m INBOX < "$SV/m$1.eml"
}

@test "sieve-test does to each message what a filter run does to it in INBOX, flags included" {
	alice_restore
	dadm expunge -u alice mailbox INBOX all
	# the threshold: exactly the size of m20; m21 one byte more, m22 one less
	msg 20 "Subject: size" "" "$(head -c 300 /dev/zero | tr '\0' 'x')"
	local n; n=$(stat -c %s "$SV/m20.eml")
	msg 21 "Subject: size" "" "$(head -c 301 /dev/zero | tr '\0' 'x')"
	msg 22 "Subject: size" "" "$(head -c 299 /dev/zero | tr '\0' 'x')"
	msg 1 "Subject: =?UTF-8?B?$(printf 'Facture n°1 à payer' | base64 -w0)?=" "" "hello"
	msg 2 "Subject: =?ISO-8859-1?Q?Rechnung_f=FCr_M=E4rz?=" "" "hello"
	msg 3 $'Subject: Your\r\n\tINVOICE\r\n 42' "" "folded"
	msg 4 "Subject: list mail" "List-Id: Dev list <dev.lists.example.org>" "hello"
	msg 5 "Subject: buy" "X-Spam-Flag: YES" "spam"
	msg 6 "Subject: [PATCH 3/7] fix" "" "a patch"
	msg 7 "Subject: [PATCH] no count" "X-Priority: 1 (Highest)" "urgent"
	msg 8 "Subject: keep me" "" "kept"
	msg 9 "Subject: =?utf-8?q?caf=C3=A9_=E2=84=AA_invoice?=" "" "utf-8 and the Kelvin sign"
	FROMTLD=com msg 10 "Subject: =?utf-8?q?[PATCH_1/2]_R=C3=A9union?=" "" "encoded patch"
	msg 11 "Subject: nothing" "" "$(head -c 2000 /dev/zero | tr '\0' 'y' | fold -w 70)"
	# what the two sides read differently, around what compiles: 8-bit
	# bytes, encoded control characters, blanks at the end, a folded List-Id
	msg 12 $'Subject: Rechnung f\xc3\xbcr M\xc3\xa4rz' "" "raw 8-bit"
	msg 13 "Subject: =?utf-8?q?a=09INV=0AOICE_?=   " "" "encoded controls"
	msg 15 "Subject: KEEP ME" "" "case-sensitive rules are"
	msg 14 "Subject: =?utf-8?q?re=0Dchnung?=" "List-Id: Dev list\r\n  <dev.lists.example.org>  " "folded"
	# the three that read differently before: a blank before the colon, a
	# value that starts with a fold ('^' after it), an encoded word in quotes
	msg 16 "Subject : invoice 7" "" "blank before the colon"
	msg 17 $'Subject:\r\n [PATCH 2/2] folded first' "" "starts with a fold"
	FROMTLD=com msg 18 "Subject: bread" "" "name encoded in quotes" \
		"From: \"=?utf-8?b?$(printf 'Boulangerie Caf\xc3\xa9' | base64 -w0)?=\" <b@example.com>"
	rules "rules = (
	  { name = \"spam\"; match = { header = { name = \"X-Spam-Flag\"; regex = \"YES\"; }; }; expunge = true; },
	  { name = \"org\"; match = { from = \"@example\\\\.(org|net)>\"; }; flag = \"\$Org\"; continue = true; },
	  { name = \"prio\"; match = { header = { name = \"X-Priority\"; regex = \"^1\"; }; }; flag = \"\\\\Flagged\"; },
	  { name = \"patch\"; match = { subject = \"^\\\\[PATCH.*[0-9]+/[0-9]+]\"; };
	    copy = \"Patches\"; create = true; unflag = \"\$Org\"; flag = \"\$Patch\"; continue = true; },
	  { name = \"invoices\"; match = { subject = \"(?i)invoice|facture|rechnung\"; };
	    flag = \"\$Invoice\"; move = \"Invoices\"; create = true; },
	  { name = \"bakery\"; match = { from = \"^\\\"Boulangerie\"; }; move = \"Bakery\"; create = true; },
	  { name = \"lists\"; match = { list-id = \"<dev\\\\.lists\\\\.example\\\\.org>\"; }; move = \"Lists/dev\"; create = true; },
	  { name = \"big\"; match = { larger = $n; }; trash = true; },
	  { name = \"small\"; match = { any = ( { smaller = $n; }, { not = { subject = \"keep\"; }; } ); };
	    flag = \"\$Small\"; continue = true; },
	  { name = \"keep\"; match = { subject = \"keep\"; }; stop = true; },
	  { name = \"rest\"; match = { larger = 0; }; copy = \"Rest\"; create = true; }
	);"
	run --separate-stderr "$MT" filter --sieve -f "$R" --trash-folder Trash
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$S"
	run sievec_ok "$S"
	[ "$status" -eq 0 ]
	run "$MT" filter -f "$R"
	echo "$output"
	[ "$status" -eq 0 ]
	dadm -f tab fetch -u alice "mailbox hdr.message-id flags" all > "$BATS_TEST_TMPDIR/after"
	local differ=0 m want got
	for m in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 20 21 22; do
		want=$("$MT_REPO/tests/lib/sieve-outcome.py" doveadm "sv$m@example.org" < "$BATS_TEST_TMPDIR/after")
		got=$(sieve-test -c "$SV/dovecot.conf" "$S" "$SV/m$m.eml" 2>/dev/null | "$MT_REPO/tests/lib/sieve-outcome.py" sieve)
		echo "m$m: filter [$want] sieve [$got]"
		[ "$want" = "$got" ] || differ=$((differ + 1))
	done
	[ "$differ" -eq 0 ]
	# m12 to m14 are the ones meant: INV(newline)OICE is no invoice, 8-bit
	# Rechnung and the folded List-Id are read
	[ "$(alice_count Invoices header message-id sv12@example.org)" -eq 1 ]
	[ "$(alice_count INBOX header message-id sv13@example.org)" -eq 1 ]
	[ "$(alice_count Lists/dev header message-id sv14@example.org)" -eq 1 ]
	# "keep" is case-sensitive: KEEP ME goes on to the last rule
	[ "$(alice_count Rest header message-id sv15@example.org)" -eq 1 ]
	[ "$(alice_count Rest header message-id sv8@example.org)" -eq 0 ]
	# the cases are the ones meant: the threshold and the rule order decided
	[ "$(dadm -f tab fetch -u alice "mailbox" header message-id sv21@example.org | tail -n +2)" = "Trash" ]
	[ "$(dadm -f tab fetch -u alice "mailbox" header message-id sv20@example.org | tail -n +2 | sort | tr '\n' ' ')" = "INBOX Rest " ]
	[ "$(dadm -f tab fetch -u alice "flags" mailbox Invoices header message-id sv1@example.org | tail -n +2 | tr ' ' '\n' | grep -v Recent | sort | tr '\n' ' ')" = '$Invoice $Org ' ]
	# the three read alike now: the field with a blank before its colon is
	# a Subject, '^' passes the blank a starting fold leaves in Pigeonhole,
	# the quotes around an encoded word stay
	[ "$(alice_count Invoices header message-id sv16@example.org)" -eq 1 ]
	[ "$(alice_count Patches header message-id sv17@example.org)" -eq 1 ]
	[ "$(alice_count Bakery header message-id sv18@example.org)" -eq 1 ]
	[ "$(alice_count Patches)" -eq 3 ]
	[ "$(alice_count all header message-id sv5@example.org)" -eq 0 ]
}

@test "more actions for one message than Pigeonhole runs (32) are refused with the reason, the 32 it runs compile" {
	local text='rules = (' i
	for i in $(seq 1 32); do
		text+=$'\n'"{ name = \"c$i\"; match = { subject = \"hit\"; }; copy = \"F$i\"; continue = true; flag = \"\$A\"; },"
	done
	text+=$'\n''{ name = "flagonly"; match = { subject = "hit"; }; flag = "$B"; continue = true; },'
	text+=$'\n''{ name = "last"; match = { subject = "hit"; }; move = "Last"; },'
	text+=$'\n''{ name = "gone"; match = { subject = "zzz"; }; expunge = true; }'$'\n'');'
	rules "$text"
	run --separate-stderr "$MT" filter --sieve -f "$R" --trash-folder Trash
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ "$stderr" == *"rules.conf:35: rule 'last': a message that every earlier rule with continue matches would get its action 33 here, and Pigeonhole runs at most 32 (sieve_max_actions)"* ]]
	[[ "$stderr" == *"rule 'gone': "*"action 33 here"* ]]
	[ "$(grep -c 'rule .c[0-9]*.:' <<<"$stderr")" -eq 0 ]
	run --separate-stderr "$MT" filter --sieve --skip-unsupported -f "$R" --trash-folder Trash
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$S"
	run sievec_ok "$S"
	[ "$status" -eq 0 ]
	# Pigeonhole runs all 32 on a message every rule matches, flags included
	printf 'From: a@example.org\r\nSubject: hit\r\nMessage-ID: <lim@x>\r\n\r\nhi\r\n' > "$SV/lim.eml"
	chmod 644 "$SV/lim.eml"
	run sieve-test -c "$SV/dovecot.conf" "$S" "$SV/lim.eml"
	[ "$status" -eq 0 ]
	[[ "$output" != *"exceeds policy limit"* ]]
	[ "$(grep -c 'store message in folder: F[0-9]*$' <<<"$output")" -eq 32 ]
}

@test "the script records the rule file by its base name: the same file by another path, the same script" {
	rules 'rules = ( { name = "inv"; match = { subject = "invoice"; }; move = "Invoices"; } );'
	cd "$BATS_TEST_TMPDIR"
	"$MT" filter --sieve -f "$R" > "$BATS_TEST_TMPDIR/abs.sieve"
	"$MT" filter --sieve -f rules.conf > "$BATS_TEST_TMPDIR/rel.sieve"
	"$MT" filter --sieve -f ./rules.conf > "$BATS_TEST_TMPDIR/dot.sieve"
	grep -qx "# rule 'inv' (rules.conf:1)" "$BATS_TEST_TMPDIR/abs.sieve"
	cmp "$BATS_TEST_TMPDIR/abs.sieve" "$BATS_TEST_TMPDIR/rel.sieve"
	cmp "$BATS_TEST_TMPDIR/abs.sieve" "$BATS_TEST_TMPDIR/dot.sieve"
}
