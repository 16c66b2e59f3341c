#!/usr/bin/env bats
# archive --export as root may run on directories others can write to and
# takes mail off the server: nothing it did not create is ever removed or
# written through a link, two folders never share a path, and a message
# whose copy is short, empty or unverifiable is never removed from the
# server. Every outcome is read from the server (doveadm, an imaplib
# client) and from the files on disk.
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() { alice_restore_x; }

teardown() {
	[ -n "${FAKE_PID:-}" ] && kill "$FAKE_PID" 2>/dev/null || true
}

fs_count() { fsadm search -u alice mailbox "$1" all | wc -l; }
# N messages into folder $2 of the fs store, numbered from $3
fs_fill() {
	local i
	for i in $(seq "$3" $(($3 + $1 - 1))); do
		printf 'From: s%s@example.org\r\nSubject: m%s\r\nMessage-ID: <m%s@x>\r\n\r\nbody %s\r\n' "$i" "$i" "$i" "$i" |
			fsadm save -u alice -m "$2"
	done
}
mt_fs() { "$MT" archive --config /dev/null --tunnel "$FS_TUNNEL" "$@"; }
files_in() { find "$1" -type f | wc -l; }

@test "a folder named like another's temporary (Proj, Proj.part) is exported and kept, not emptied" {
	fsadm mailbox create -u alice Proj Proj.part
	fs_fill 2 Proj 1
	fs_fill 3 Proj.part 10
	# Proj.part first: its archive is in place when Proj's export starts
	run --separate-stderr mt_fs --export "$X/d" --format maildir --delete-after-export Proj.part Proj
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$(files_in "$X/d/Proj.part/cur")" -eq 3 ]
	[ "$(files_in "$X/d/Proj/cur")" -eq 2 ]
	[ "$(ls -A "$X/d" | sort | paste -sd,)" = "Proj,Proj.part" ]
	# removed from the server only because both archives hold them
	[ "$(fs_count Proj)" -eq 0 ]
	[ "$(fs_count Proj.part)" -eq 0 ]
	[ "$(cat "$X"/d/Proj.part/cur/* | grep -c '^Subject: m1[0-2]')" -eq 3 ]
	[ "$(cat "$X"/d/Proj/cur/* | grep -c '^Subject: m[12]\b')" -eq 2 ]
}

@test "nothing is written through a planted symbolic link, nor anything removed behind one" {
	fsadm mailbox create -u alice Proj Sub/child
	fs_fill 2 Proj 1
	fs_fill 1 Sub/child 5
	local victim="$BATS_TEST_TMPDIR/victim" victim2="$BATS_TEST_TMPDIR/victim2"
	mkdir -p "$victim"/{cur,new,tmp} "$victim2"
	echo keep > "$victim/cur/1.keep:2,S"
	echo keep > "$victim/new/2.keep"
	echo keep > "$victim/tmp/3.keep"
	# where an older mailtool put Proj's temporary: a link to someone's Maildir
	mkdir -p "$X/d"
	ln -s "$victim" "$X/d/Proj.part"
	run --separate-stderr mt_fs --export "$X/d" --format maildir --delete-after-export -r Proj
	echo "$output $stderr"
	[ "$(files_in "$victim")" -eq 3 ]
	[ "$status" -eq 0 ]
	[ -L "$X/d/Proj.part" ]
	[ "$(files_in "$X/d/Proj/cur")" -eq 2 ]
	# a link as a directory on the way: refused before anything changes
	mkdir -p "$X/e"
	ln -s "$victim2" "$X/e/Sub"
	run --separate-stderr mt_fs --export "$X/e" --format mbox --delete-after-export -r Sub
	echo "$output $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'$X/e/Sub' is a symbolic link or not a directory"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[ -z "$(ls -A "$victim2")" ]
	[ "$(fs_count Sub/child)" -eq 1 ]
	# a link under the final name: refused too
	ln -s "$victim2" "$X/e/one.mbox"
	run --separate-stderr mt_fs --export "$X/e/one.mbox" --delete-after-export Sub/child
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"symbolic link"* ]]
	[ -z "$(ls -A "$victim2")" ]
	[ "$(fs_count Sub/child)" -eq 1 ]
}

@test "an interrupted run's temporary is never reused nor removed, and is named on stderr" {
	fsadm mailbox create -u alice Proj
	fs_fill 2 Proj 1
	mkdir -p "$X/d/%tmp.abc123.Proj/cur" "$X/d/%tmp.abc123.Proj/tmp" "$X/d/%tmp.abc123.Proj/new"
	echo half > "$X/d/%tmp.abc123.Proj/cur/1.half"
	run --separate-stderr mt_fs --export "$X/d" --format maildir -r Proj
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"'$X/d/%tmp.abc123.Proj' was left by an interrupted run; it is not used or removed"* ]]
	[ "$(cat "$X/d/%tmp.abc123.Proj/cur/1.half")" = half ]
	[ "$(files_in "$X/d/Proj/cur")" -eq 2 ]
	[ "$(ls -A "$X/d" | grep -c '%tmp\.')" -eq 1 ]
}

@test "a child folder named cur, new or tmp gets its own path, not its parent Maildir's" {
	dadm mailbox create -u alice Lists2 Lists2/cur Lists2/tmp
	for f in Lists2 Lists2/cur Lists2/tmp; do
		printf 'From: a@example.org\r\nSubject: in %s\r\nMessage-ID: <%s@x>\r\n\r\nbody\r\n' "$f" "${f//\//-}" |
			dadm save -u alice -m "$f"
	done
	run --separate-stderr "$MT" archive --export "$X/d" --format maildir --delete-after-export -r Lists2
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$(alice_count Lists2 all)" -eq 0 ]
	[ "$(alice_count Lists2/cur all)" -eq 0 ]
	# each archive holds its own folder's message, and only that
	run -0 "$MT" archive --import "$X/d/Lists2" --into Back1
	run -0 "$MT" archive --import "$X/d/Lists2/%63ur" --into Back2
	run -0 "$MT" archive --import "$X/d/Lists2/%74mp" --into Back3
	[ "$(dadm fetch -u alice hdr.subject mailbox Back1 all | grep -c 'in Lists2$')" -eq 1 ]
	[ "$(dadm fetch -u alice hdr.subject mailbox Back2 all | grep -c 'in Lists2/cur$')" -eq 1 ]
	[ "$(dadm fetch -u alice hdr.subject mailbox Back3 all | grep -c 'in Lists2/tmp$')" -eq 1 ]
	[ "$(alice_count Back1 all)" -eq 1 ]
}

@test "an empty folder exports to every format and imports back to nothing" {
	dadm mailbox create -u alice Empty
	for a in e.mbox e.mbox.gz e.d; do
		run --separate-stderr "$MT" archive --export "$X/$a" --include-flagged --delete-after-export Empty
		echo "$a: $output $stderr"
		[ "$status" -eq 0 ]
		[ -e "$X/$a" ]
		run --separate-stderr "$MT" archive --import "$X/$a" --into Empty2 --json
		[ "$status" -eq 0 ]
		[[ "$output" == *'"appended":0,'* ]]
	done
	[ ! -s "$X/e.mbox" ]
	[ -z "$(ls -A "$X/e.d/cur")" ]
	[ "$(alice_count Empty2 all)" -eq 0 ]
}

# the lying tunnel in front of the suite's Dovecot (tests/lib/lieproxy.py)
liar() { printf 'python3 %s %s -- %s' "$MT_REPO/tests/lib/lieproxy.py" "$*" "$MT_TUNNEL_ALICE"; }
# doveadm's view of a folder: uid, size and SHA-256 of the full text of each message
full_view() {
	dadm fetch -u alice "uid size.virtual text" mailbox "$1" all | python3 -c '
import hashlib, re, sys
for rec in sys.stdin.buffer.read().split(b"\f\n"):
    if rec.strip():
        head, _, text = rec.partition(b"\ntext:\n")
        print(" ".join(l.partition(b": ")[2].decode() for l in head.split(b"\n")), hashlib.sha256(text).hexdigest())'
}

@test "a server that under-reports RFC822.SIZE of a big message: fetched whole, nothing removed (65)" {
	# UID 5 of Projets/Été is 2.9 MB; the server says 1.5 MB: the export
	# read pieces up to what it was told and removed a cut copy
	local before
	before=$(full_view 'Projets/Été')
	run --separate-stderr "$MT" archive --config /dev/null --tunnel "$(liar size=5:1500000)" \
		--export "$X/p.mbox" --include-flagged --delete-after-export 'Projets/Été'
	echo "$output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"UID 5: 2874664 bytes of BODY[] arrived, RFC822.SIZE says 1500000; kept on the server"* ]]
	[[ "$stderr" == *"nothing of it removed from the server"* ]]
	[ "$(full_view 'Projets/Été')" = "$before" ]
	# the archive holds the message whole, as the server has it
	run -0 "$MT" archive --import "$X/p.mbox" --into Back
	[ "$(view Back)" = "$(view 'Projets/Été')" ]
	# and a summary row says so, in JSON too
	run --separate-stderr "$MT" archive --config /dev/null --tunnel "$(liar size=5:1500000)" \
		--export "$X/q.mbox" --include-flagged --delete-after-export --json 'Projets/Été'
	[ "$status" -eq 65 ]
	[[ "$output" == *'"action":"unverifiable, kept","messages":1,"size":1500000'* ]]
	[ "$(full_view 'Projets/Été')" = "$before" ]
}

@test "BODY[] NIL, a short BODY[], an empty one: never archived as the message, never removed (65)" {
	local before rule
	before=$(full_view 'Old Stuff')
	for rule in nil=2 cut=2:100 cut=2:0 'nil=2 size=1:1'; do
		rm -f "$X/o.mbox"
		run --separate-stderr "$MT" archive --config /dev/null --tunnel "$(liar $rule)" \
			--export "$X/o.mbox" --include-flagged --delete-after-export 'Old Stuff'
		echo "$rule: $output / $stderr"
		[ "$status" -eq 65 ]
		[[ "$stderr" == *"'Old Stuff' UID 2: "*"kept on the server"* ]]
		[ "$(full_view 'Old Stuff')" = "$before" ]
	done
	# what arrived whole is in the archive, the NIL one is not
	rm -f "$X/o.mbox"
	run "$MT" archive --config /dev/null --tunnel "$(liar nil=2)" --export "$X/o.mbox" --include-flagged 'Old Stuff'
	[ "$status" -eq 65 ]
	[ "$(grep -c '^From ' "$X/o.mbox")" -eq 3 ]
	# the same for a big message fetched in pieces
	before=$(full_view 'Projets/Été')
	run --separate-stderr "$MT" archive --config /dev/null --tunnel "$(liar nil=5)" \
		--export "$X/p.d" --include-flagged --delete-after-export 'Projets/Été'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"UID 5: the server sent no BODY[] (NIL)"* ]]
	[ "$(full_view 'Projets/Été')" = "$before" ]
	[ "$(ls "$X/p.d/cur" | wc -l)" -eq 5 ]
}

@test "fake server: BODY[] NIL and a size the body does not have; no STORE or EXPUNGE is ever sent" {
	local b2='From: b@example.org\r\nSubject: two\r\n\r\nbody two\r\n' b3='From: c@example.org\r\nSubject: three\r\n\r\nbody 3\r\n'
	local l2 l3
	l2=$(printf "$b2" | wc -c)
	l3=$(printf "$b3" | wc -c)
	local d='INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" FLAGS () BODY[HEADER.FIELDS (FROM)] {2}\r\n\r\n'
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 LIST-EXTENDED UIDPLUS MOVE] in
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST (\\Subscribed) \"/\" INBOX\r\n{tag} OK done
ON ^(SELECT|EXAMINE) => * FLAGS (\\Seen \\Deleted)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n{tag} OK [READ-WRITE] done
ON ^UID SEARCH => * SEARCH 1 2 3\r\n{tag} OK done
ON ^UID FETCH .*BODY.PEEK\[\] => * 1 FETCH (UID 1 RFC822.SIZE 40 $d BODY[] NIL)\r\n* 2 FETCH (UID 2 RFC822.SIZE $l2 $d BODY[] {$l2}\r\n$b2)\r\n* 3 FETCH (UID 3 RFC822.SIZE 10 $d BODY[] {$l3}\r\n$b3)\r\n{tag} OK done
ON ^UID FETCH => * 1 FETCH (UID 1 RFC822.SIZE 40)\r\n* 2 FETCH (UID 2 RFC822.SIZE $l2)\r\n* 3 FETCH (UID 3 RFC822.SIZE 10)\r\n{tag} OK done
ON ^(UID )?(STORE|EXPUNGE|MOVE|COPY) => {tag} OK done
ON ^NOOP => {tag} OK done"
	run --separate-stderr mt_fake archive --no-tls --export "$X/f.mbox" --include-flagged --delete-after-export INBOX
	echo "$output / $stderr"
	cat "$FAKE_LOG"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"UID 1: the server sent no BODY[] (NIL)"* ]]
	[[ "$stderr" == *"UID 3: $l3 bytes of BODY[] arrived, RFC822.SIZE says 10"* ]]
	[[ "$stderr" != *"UID 2"* ]]
	[[ "$stderr" != *"BAD: unexpected"* ]]
	grep -q 'BODY.PEEK\[\]' "$FAKE_LOG"
	[ "$(grep -ciE '^[^ ]+ (UID )?(STORE|EXPUNGE|MOVE|COPY)' "$FAKE_LOG")" -eq 0 ]
	# messages 2 and 3 as they arrived, nothing for 1
	[ "$(grep -c '^From ' "$X/f.mbox")" -eq 2 ]
	grep -q '^body two$' "$X/f.mbox"
	grep -q '^body 3$' "$X/f.mbox"
}

# folder $1 with messages 1..$2, message i (UID i, Message-ID <$1-i@x>)
# carrying the keyword kwi
keyworded() {
	local i
	dadm mailbox create -u alice "$1"
	for i in $(seq 1 "$2"); do
		printf 'From: a@example.org\r\nSubject: k%s\r\nMessage-ID: <%s-%s@x>\r\n\r\nbody\r\n' "$i" "$1" "$i" |
			dadm save -u alice -m "$1"
		dadm flags add -u alice "kw$i" mailbox "$1" uid "$i"
	done
}

@test "a Maildir keeps 26 keywords a folder; the rest are named on stderr and counted in the summary" {
	keyworded KW 30
	run --separate-stderr "$MT" archive --export "$X/kw" --include-flagged --json KW
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"'KW': 4 keyword(s) on 4 message(s) could not be kept"*"kw27 kw28 kw29 kw30"* ]]
	[[ "$output" == *'"action":"keywords not kept","messages":4,'* ]]
	[ "$(wc -l < "$X/kw/dovecot-keywords")" -eq 26 ]
	run --separate-stderr "$MT" archive --export "$X/kw2" --include-flagged --tsv KW
	[[ "$output" == *$'keywords not kept\t4\t'* ]]
	# the 26 kept come back
	run -0 "$MT" archive --import "$X/kw" --into KWback
	[ "$(dadm fetch -u alice flags mailbox KWback all | grep -c 'kw[0-9]')" -eq 26 ]
	# an mbox keeps them all
	run -0 --separate-stderr "$MT" archive --export "$X/kw.mbox" --include-flagged KW
	[[ "$stderr" != *"could not be kept"* ]]
	[ "$(grep -c '^X-Keywords: kw' "$X/kw.mbox")" -eq 30 ]
}

@test "--delete-after-export keeps on the server the messages whose keywords the Maildir lost, names them and exits 65" {
	keyworded KwF 28
	printf 'Subject: plain\r\nMessage-ID: <kwf29@x>\r\n\r\nb\r\n' | dadm save -u alice -m KwF
	run --separate-stderr "$MT" archive --export "$X/kwmd" --delete-after-export --json KwF
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'KwF' UID 27: the archive could not keep all its keywords; kept on the server"* ]]
	[[ "$stderr" == *"'KwF' UID 28: "* ]]
	[[ "$output" == *'"action":"keywords lost, kept","messages":2,'* ]]
	[[ "$output" == *'"action":"exported","messages":29,'*'"action":"keywords lost, kept","messages":2,'*'"action":"removed","messages":27,'* ]]
	# exactly those two stay, with their keywords; all 29 are in the archive
	[ "$(dadm -f tab fetch -u alice "uid flags" mailbox KwF all | tail -n +2 | sed 's/ *\\Recent//' | sort)" = "$(printf '27\tkw27\n28\tkw28')" ]
	[ "$(ls "$X/kwmd/cur" | wc -l)" -eq 29 ]
	# a rerun finds the archive in place: the two are still held back
	run --separate-stderr "$MT" archive --export "$X/kwmd" --delete-after-export --json KwF
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$output" == *'"action":"already there","messages":2,'*'"action":"keywords lost, kept","messages":2,'* ]]
	[ "$(alice_count KwF all)" -eq 2 ]
	# an mbox keeps every keyword: nothing held back
	run -0 --separate-stderr "$MT" archive --export "$X/kw.mbox" --delete-after-export KwF
	[ "$(alice_count KwF all)" -eq 0 ]
}

@test "--delete-after-export over an archive in place keeps the messages whose flags or keywords changed since it was written (65)" {
	dadm mailbox create -u alice Late
	for i in 1 2 3; do
		printf 'Subject: l%s\r\nMessage-ID: <late%s@x>\r\n\r\nb\r\n' "$i" "$i" | dadm save -u alice -m Late
	done
	dadm flags add -u alice '\Seen' mailbox Late header message-id '<late2@x>'
	run -0 "$MT" archive --export "$X/late.mbox" Late
	run -0 "$MT" archive --export "$X/late-md" --format maildir Late
	# after the archives were written: a keyword and a flag set, a flag taken
	# off; one set and taken off again is as the archives have it
	dadm flags add -u alice 'LateKw \Answered' mailbox Late header message-id '<late1@x>'
	dadm flags remove -u alice '\Seen' mailbox Late header message-id '<late2@x>'
	dadm flags add -u alice '\Draft' mailbox Late header message-id '<late3@x>'
	dadm flags remove -u alice '\Draft' mailbox Late header message-id '<late3@x>'
	run --separate-stderr "$MT" archive --export "$X/late.mbox" --delete-after-export --json --dry-run Late
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$output" == *'"action":"flags changed, would keep","messages":2,'*'"action":"would remove","messages":1,'* ]]
	[ "$(alice_count Late all)" -eq 3 ]
	run --separate-stderr "$MT" archive --export "$X/late.mbox" --delete-after-export --json Late
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'Late' UID 1: its flags or keywords on the server are not the archive's (changed since it was written); kept on the server"* ]]
	[[ "$stderr" == *"'Late' UID 2: "* ]]
	[[ "$output" == *'"action":"already there","messages":3,'*'"action":"flags changed, kept","messages":2,'*'"action":"removed","messages":1,'* ]]
	# exactly those two stay, with what the archive lacks
	[ "$(dadm -f tab fetch -u alice "uid flags" mailbox Late all | tail -n +2 | sed 's/ *\\Recent//' | sort)" = "$(printf '1\t\\Answered LateKw\n2\t')" ]
	# a Maildir in place: the same two
	run --separate-stderr "$MT" archive --export "$X/late-md" --delete-after-export --json Late
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$output" == *'"action":"flags changed, kept","messages":2,'*'"action":"removed","messages":0,'* ]]
	[ "$(alice_count Late all)" -eq 2 ]
}

@test "--delete-after-export on a server without UIDPLUS is refused before anything is written or removed (69)" {
	before=$(server_state)
	for dry in "" --dry-run; do
		run --separate-stderr "$MT" archive --config /dev/null --tunnel "$MT_TUNNEL_ALICE_MINIMAL" \
			--export "$X/nouidplus.mbox" --delete-after-export $dry 'Old Stuff'
		echo "$status $output / $stderr"
		[ "$status" -eq 69 ]
		[[ "$stderr" == *"the server lacks UIDPLUS"*"nothing exported, nothing removed"* ]]
		[ "$(echo "$stderr" | wc -l)" -eq 1 ]
		[ -z "$output" ]
	done
	run --separate-stderr "$MT" archive --config /dev/null --tunnel "$MT_TUNNEL_ALICE_MINIMAL" \
		--export "$X/tree" --format maildir --delete-after-export -r Lists
	[ "$status" -eq 69 ]
	[ -z "$(ls -A "$X")" ]
	[ "$(server_state)" = "$before" ]
	# an export alone needs no UIDPLUS
	run -0 "$MT" archive --config /dev/null --tunnel "$MT_TUNNEL_ALICE_MINIMAL" --export "$X/plain.mbox" 'Old Stuff'
	[ "$(grep -c '^From ' "$X/plain.mbox")" -eq "$(alice_count 'Old Stuff' all)" ]
}

@test "folders X and X.mbox/Y as mbox files: one would be the other's directory; refused before anything is fetched or removed" {
	# a server whose names may hold dots (Dovecot's fs layout)
	fsadm mailbox create -u alice X X.mbox X.mbox/Y
	printf 'Subject: x\r\nMessage-ID: <x@x>\r\n\r\nx\r\n' | fsadm save -u alice -m X
	printf 'Subject: y\r\nMessage-ID: <y@x>\r\n\r\ny\r\n' | fsadm save -u alice -m X.mbox/Y
	before=$(fsadm -f tab fetch -u alice "mailbox uid guid" all)
	for dry in "" --dry-run; do
		run --separate-stderr "$MT" archive --config /dev/null --tunnel "$FS_TUNNEL" --export "$X/e" --format mbox \
			--delete-after-export $dry X X.mbox/Y
		echo "$status $output / $stderr"
		[ "$status" -eq 65 ]
		[[ "$stderr" == *"folder 'X' would be archived as the file 'X.mbox', which folder 'X.mbox/Y' needs as a directory; nothing done"* ]]
		[ "$(fsadm -f tab fetch -u alice "mailbox uid guid" all)" = "$before" ]
		[ -z "$(ls -A "$X/e" 2>/dev/null)" ]
	done
	# a Maildir tree holds its children: that is no clash
	run -0 --separate-stderr "$MT" archive --config /dev/null --tunnel "$FS_TUNNEL" --export "$X/md" --format maildir X X.mbox/Y
}

@test "a folder name whose temporary would pass NAME_MAX is refused before anything is removed" {
	L=$(printf 'L%.0s' $(seq 240))
	dadm mailbox create -u alice "$L" AAfirst
	printf 'Subject: l\r\nMessage-ID: <l@x>\r\n\r\nl\r\n' | dadm save -u alice -m "$L"
	printf 'Subject: a\r\nMessage-ID: <a@x>\r\n\r\na\r\n' | dadm save -u alice -m AAfirst
	before=$(dadm -f tab fetch -u alice "mailbox uid guid" all)
	# 240 + ".mbox" fits, "%tmp.XXXXXX." before it does not (a Maildir
	# "%tmp.XXXXXX.NAME" of 252 bytes does)
	for f in mbox mbox.gz; do
		for dry in "" --dry-run; do
			run --separate-stderr "$MT" archive --export "$X/longx" --format "$f" --delete-after-export $dry AAfirst "$L"
			echo "$status $output / $stderr"
			[ "$status" -eq 65 ]
			[[ "$stderr" == *"the temporary name of 'LLLL"*"is longer than a file name may be (255); nothing done"* ]]
			[ "$(dadm -f tab fetch -u alice "mailbox uid guid" all)" = "$before" ]
			[ -z "$(ls -A "$X/longx" 2>/dev/null)" ]
		done
	done
}
