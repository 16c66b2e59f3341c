#!/usr/bin/env bats
# What a sender writes to make a rule miss a message it matches: each case
# here was found by an outside attack (on 3cfa06b) and is read now. The
# server's own SEARCH finds the text in each, so a rule must too.
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
	R="$BATS_TEST_TMPDIR/rules.conf"
	dadm mailbox create -u alice Att
}

# save a message (printf format) into alice's folder Att
put() { printf "$1" | dadm save -u alice -m Att; }
count() { dadm search -u alice mailbox "$1" all | wc -l; }
rule() {  # FIELD REGEX: one rule of Att into Hit
	printf 'rules = ( { name = "r"; folder = "Att"; match = { %s = "%s"; }; move = "Hit"; create = true; } );\n' "$1" "$2" > "$R"
}

@test "a comment or text after the address in From/To is read: the server is asked with HEADER, not FROM/TO" {
	put 'From: cheap (pills) <a@example.org>\r\nSubject: a\r\nMessage-ID: <a1@x>\r\n\r\nhi\r\n'
	put 'From: x <a@example.org> pills\r\nSubject: b\r\nMessage-ID: <a2@x>\r\n\r\nhi\r\n'
	put 'To: x <a@example.org> (pills)\r\nFrom: a@example.org\r\nSubject: c\r\nMessage-ID: <a3@x>\r\n\r\nhi\r\n'
	# the rule itself matches each: without a literal the server cannot narrow, and all three go
	rule from 'pills|(?!)'
	run "$MT" filter -f "$R" --dry-run --tsv
	[ "$status" -eq 0 ]
	[[ "$output" == *$'r\tAtt\twould move\t2'* ]]
	# with the literal "pills" sent as FROM "pills", Dovecot answers no match and
	# the messages are plain ASCII (no encoded word, no 8-bit), so the answer is trusted
	rule from 'pills'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 2 ]
	rule to 'pills'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 3 ]
	# expunge --from chooses through the same code
	put 'From: cheap (pills) <a@example.org>\r\nSubject: d\r\nMessage-ID: <a4@x>\r\n\r\nhi\r\n'
	run "$MT" expunge --from pills Att
	[ "$status" -eq 0 ]
	[ "$(dadm search -u alice mailbox Att header message-id a4@x | wc -l)" -eq 0 ]
}

@test "a bare CR inside a Subject is a blank, as the server reads it, and such a field is checked here" {
	put 'From: a@example.org\r\nSubject: cheap pi\rlls now\r\nMessage-ID: <c1@x>\r\n\r\nhi\r\n'
	# a CR that ends no line is a control character: a blank, as Dovecot's
	# SEARCH and Pigeonhole read it, so 'pills' is in no reading of it
	[ "$(dadm search -u alice mailbox Att subject pills | wc -l)" -eq 0 ]
	rule subject 'pills|(?!)'
	run "$MT" filter -f "$R" --dry-run --tsv
	[ "$status" -eq 0 ]
	[[ "$output" != *'would move'* ]]
	rule subject 'pills'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 0 ]
	rule subject 'cheap pi lls'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 1 ]
}

@test "text nested 20 multiparts deep is read by a body rule" {
	python3 - "$BATS_TEST_TMPDIR/deep.eml" <<'PY'
import sys
s = 'Content-Type: text/plain\r\n\r\ncheap pills\r\n'
for i in range(20):
    s = 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n%s\r\n--b%d--\r\n' % (i, i, s, i)
open(sys.argv[1], 'w', newline='').write('From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n' + s)
PY
	dadm save -u alice -m Att < "$BATS_TEST_TMPDIR/deep.eml"
	# the server reads the text part (it nests up to 100 levels)
	[ "$(dadm search -u alice mailbox Att body 'cheap pills' | wc -l)" -eq 1 ]
	rule body 'cheap pills'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 1 ]
}

@test "an encoded NUL in a Subject (Q or B) is a blank: the rest of the value is read" {
	put 'From: a@example.org\r\nSubject: =?utf-8?q?=00?==?utf-8?q?cheap_pills?=\r\nMessage-ID: <n4@x>\r\n\r\nhi\r\n'
	put 'From: a@example.org\r\nSubject: =?utf-8?q?x=00cheap_pills?=\r\nMessage-ID: <n3@x>\r\n\r\nhi\r\n'
	# (base64 of "x", NUL, "cheap pills")
	put 'From: a@example.org\r\nSubject: =?utf-8?b?eABjaGVhcCBwaWxscw==?=\r\nMessage-ID: <n5@x>\r\n\r\nhi\r\n'
	[ "$(dadm search -u alice mailbox Att subject 'cheap pills' | wc -l)" -eq 3 ]
	# control characters become blanks everywhere else (mailtool-rules(5)): so should NUL
	rule subject 'cheap pills'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 3 ]
}

@test "a NUL in a decoded text part (quoted-printable =00, base64) is a blank: the rest of the part is read" {
	put 'From: a@example.org\r\nSubject: q\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhello=00 buy cheap pills\r\n'
	put "From: a@example.org\r\nSubject: b\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n$(printf 'hello\000 buy cheap pills\r\n' | base64 -w0)\r\n"
	# the server reads past it
	[ "$(dadm search -u alice mailbox Att body 'cheap pills' | wc -l)" -eq 2 ]
	rule body 'cheap pills'
	run "$MT" filter -f "$R"
	[ "$status" -eq 0 ]
	[ "$(count Hit)" -eq 2 ]
}
