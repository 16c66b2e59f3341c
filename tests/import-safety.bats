#!/usr/bin/env bats
# archive --import reads files other people wrote, often as root: flags come
# only from what mailtool itself wrote (or an explicit option), no link is
# followed and only regular files are read, a keyword never overflows
# anything, and --dry-run (import and export) changes nothing on the server
# and writes nothing. Checked with doveadm and an imaplib client.
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() { alice_restore_x; }

# everything of alice's a dry run must not change: folders, subscriptions,
# UIDVALIDITY/UIDNEXT/messages per folder, and every message's UID and flags
server_state() {
	echo "folders: $(dadm mailbox list -u alice | sort | paste -sd,)"
	echo "subscribed: $(dadm mailbox list -u alice -s | sort | paste -sd,)"
	dadm -f tab mailbox status -u alice "messages uidnext uidvalidity" '*' | tail -n +2 | sort
	dadm -f tab fetch -u alice "mailbox uid flags" all | tail -n +2 | sed 's/ *\\Recent//' | sort
}

# message $1 (a Message-ID) of folder $2: its flags as the server has them, sorted
flags_of() {
	dadm -f tab fetch -u alice flags mailbox "$2" header message-id "$1" | tail -n +2 | tr ' ' '\n' |
		grep -vx '\\Recent' | grep . | LC_ALL=C sort | paste -sd' '
}

@test "flags never come from a message's own Status/X-Status/X-Keywords lines: an export round trip keeps them as text" {
	dadm mailbox create -u alice Hdr
	# a sender's message that starts as an older mailtool export's flag lines
	# do, and one with them further down; both unseen, unflagged on the server
	printf 'Status: RO\r\nX-Status: DF\r\nX-Keywords: $Evil\r\nFrom: a@example.org\r\nSubject: top\r\nMessage-ID: <top@x>\r\n\r\nbody\r\n' |
		dadm save -u alice -m Hdr
	printf 'From: b@example.org\r\nX-Status: DF\r\nStatus: RO\r\nX-Keywords: $Evil\r\nSubject: inside\r\nMessage-ID: <inside@x>\r\n\r\nbody\r\n' |
		dadm save -u alice -m Hdr
	dadm flags add -u alice '$Real' mailbox Hdr header message-id '<inside@x>'
	want=$(view Hdr)
	for a in h.mbox h.mbox.gz; do
		run -0 "$MT" archive --export "$X/$a" --include-flagged Hdr
		run -0 --separate-stderr "$MT" archive --import "$X/$a" --into "Back-${a//./-}"
		# byte for byte, and the server's flags, not the header's
		[ "$(view "Back-${a//./-}")" = "$want" ]
		[ "$(flags_of '<top@x>' "Back-${a//./-}")" = "" ]
		[ "$(flags_of '<inside@x>' "Back-${a//./-}")" = '$Real' ]
	done
	# nothing a later compact would take
	[ "$(dadm search -u alice mailbox 'Back-*' deleted | wc -l)" -eq 0 ]
}

@test "a foreign mbox: flags from its Status lines only with --trust-status-headers" {
	printf 'From a@example.org Sun Nov 22 10:00:00 2026\nFrom: a@example.org\nStatus: RO\nX-Status: AF\nX-Keywords: $Work\nSubject: one\nMessage-ID: <f1@x>\n\nbody\n\nFrom b@example.org Sun Nov 22 11:00:00 2026\nFrom: b@example.org\nX-Status: D\nSubject: two\nMessage-ID: <f2@x>\n\nbody\n' > "$X/f.mbox"
	run -0 --separate-stderr "$MT" archive --import "$X/f.mbox" --into Plain
	[ "$(flags_of '<f1@x>' Plain)" = "" ]
	[ "$(flags_of '<f2@x>' Plain)" = "" ]
	# the lines stay in the messages
	[ "$(dadm fetch -u alice hdr.x-status mailbox Plain all | grep -c 'x-status: [AFD]')" -eq 2 ]
	run -0 --separate-stderr "$MT" archive --import "$X/f.mbox" --into Trusted --trust-status-headers
	[ "$(flags_of '<f1@x>' Trusted)" = '$Work \Answered \Flagged \Seen' ]
	[ "$(flags_of '<f2@x>' Trusted)" = '\Deleted' ]
	run --separate-stderr "$MT" archive --older 1y --trust-status-headers INBOX
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"go with --import"* ]]
}

@test "an export made by an older mailtool (three flag lines at the top) imports its flags with --trust-status-headers" {
	# exactly what mailtool wrote before exports carried their X-Mailtool line
	printf 'From a@example.org Sun Nov 22 10:00:00 2026\nStatus: RO\nX-Status: AF\nX-Keywords: $Work $Home\nFrom: a@example.org\nSubject: old one\nMessage-ID: <o1@x>\n\n>From body\n\nFrom MAILER-DAEMON Sun Nov 22 11:00:00 2026\nStatus: O\nX-Status: \nX-Keywords:\nFrom: b@example.org\nX-Status: D\nSubject: old two\nMessage-ID: <o2@x>\n\nbody\n\n' > "$X/old.mbox"
	run -0 --separate-stderr "$MT" archive --import "$X/old.mbox" --into Old --trust-status-headers --json
	[[ "$output" == *'"mbox_format":"mboxrd"'* ]]
	dadm fetch -u alice body mailbox Old header message-id '<o1@x>' | grep -qx 'From body'
	[ "$(flags_of '<o1@x>' Old)" = '$Home $Work \Answered \Flagged \Seen' ]
	[ "$(flags_of '<o2@x>' Old)" = "" ]
	# the block is taken off, the message's own X-Status stays
	printf 'From: b@example.org\r\nX-Status: D\r\nSubject: old two\r\nMessage-ID: <o2@x>\r\n\r\nbody\r\n' | sha256sum | cut -d' ' -f1 > "$X/want"
	view Old | grep -q "^$(cat "$X/want") "
}

@test "two exports joined into one file: the second one's flag lines are not trusted, and that is said" {
	run -0 "$MT" archive --export "$X/a.mbox" --include-flagged 'Old Stuff'
	run -0 "$MT" archive --export "$X/b.mbox" --include-flagged 'Lists/announce'
	cat "$X/a.mbox" "$X/b.mbox" > "$X/ab.mbox"
	run --separate-stderr "$MT" archive --import "$X/ab.mbox" --into AB
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"15 message(s) begin with Status/X-Status/X-Keywords lines of another export"* ]]
	run -0 "$MT" archive --import "$X/b.mbox" --into B
	[ "$(view B)" = "$(view Lists/announce)" ]
}

# a Maildir of N messages under $1, with keywords file lines from stdin
make_maildir() {
	mkdir -p "$1"/{cur,new,tmp}
	local i
	for i in $(seq 1 "$2"); do
		printf 'From: m@example.org\r\nSubject: md %s\r\nMessage-ID: <md%s@x>\r\n\r\nbody %s\r\n' "$i" "$i" "$i" > "$1/cur/$((1700000000 + i)).M${i}P1.host:2,S"
	done
}

@test "a message with 26 long keywords (Maildir) or 300 (--trust-status-headers) is appended whole, with all of them" {
	make_maildir "$X/md" 2
	# 46 characters each (Dovecot takes up to 50): 1.2 kB of flags for a 90-byte message
	for i in $(seq 0 25); do printf '%d $kw%02d-%s\n' "$i" "$i" "$(printf 'x%.0s' $(seq 40))"; done > "$X/md/dovecot-keywords"
	mv "$X/md/cur/1700000001.M1P1.host:2,S" "$X/md/cur/1700000001.M1P1.host:2,Sabcdefghijklmnopqrstuvwxyz"
	run -0 --separate-stderr "$MT" archive --import "$X/md" --into KwMd
	echo "$stderr"
	[ "$(flags_of '<md1@x>' KwMd | tr ' ' '\n' | grep -c '^\$kw[0-9][0-9]-x\{40\}$')" -eq 26 ]
	[ "$(alice_count KwMd all)" -eq 2 ]
	kw=$(seq -f '$kw%03g' 1 300 | paste -sd' ')
	printf 'From a@example.org Sun Nov 22 10:00:00 2026\nX-Keywords: %s\nFrom: a@example.org\nSubject: many\nMessage-ID: <k300@x>\n\nbody\n' "$kw" > "$X/k.mbox"
	run -0 --separate-stderr "$MT" archive --import "$X/k.mbox" --into Kw300 --trust-status-headers
	[ "$(flags_of '<k300@x>' Kw300 | tr ' ' '\n' | grep -c '^\$kw')" -eq 300 ]
}

@test "Maildir and .eml import never follow a symbolic link nor read what is not a regular file" {
	echo "root:secret-hash-of-the-shadow-file" > "$BATS_TEST_TMPDIR/shadow"
	make_maildir "$X/md" 3
	ln -s "$BATS_TEST_TMPDIR/shadow" "$X/md/cur/1700000010.M10P1.host:2,S"
	mkfifo "$X/md/new/1700000011.M11P1.host"
	mkdir "$X/md/cur/1700000012.M12P1.host:2,"
	run --separate-stderr timeout 20 "$MT" archive --import "$X/md" --into Md --json
	echo "$output / $stderr"
	[ "$status" -eq 65 ]
	[ "$(alice_count Md all)" -eq 3 ]
	[ "$(alice_count Md body secret-hash)" -eq 0 ]
	[[ "$stderr" == *"'$X/md/cur/1700000010.M10P1.host:2,S' is a symbolic link; not followed"* ]]
	[[ "$stderr" == *"'$X/md/new/1700000011.M11P1.host' is not a regular file; not read"* ]]
	[[ "$output" == *'"appended":3,"skipped":3,'*'"skipped_not_regular_file":3'* ]]
	# a directory of .eml files
	mkdir "$X/eml"
	printf 'From: e@example.org\r\nSubject: eml\r\nMessage-ID: <e1@x>\r\n\r\nbody\r\n' > "$X/eml/1.eml"
	ln -s "$BATS_TEST_TMPDIR/shadow" "$X/eml/2.eml"
	run --separate-stderr "$MT" archive --import "$X/eml" --into Eml
	[ "$status" -eq 65 ]
	[ "$(alice_count Eml all)" -eq 1 ]
	[ "$(alice_count Eml body secret-hash)" -eq 0 ]
}

@test "a linked Maildir part, keywords file or archive is refused before anything changes (65)" {
	make_maildir "$X/src" 2
	before=$(server_state)
	# cur/ itself a link
	mkdir -p "$X/a"/{new,tmp}
	ln -s "$X/src/cur" "$X/a/cur"
	run --separate-stderr "$MT" archive --import "$X/a" --into A
	[ "$status" -eq 65 ]
	[[ "$stderr" == "mailtool archive: '$X/a/cur' is a symbolic link or not a directory; not followed" ]]
	# dovecot-keywords a link
	make_maildir "$X/b" 1
	ln -s "$BATS_TEST_TMPDIR/nothing" "$X/b/dovecot-keywords"
	run --separate-stderr "$MT" archive --import "$X/b" --into B
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'$X/b/dovecot-keywords' is a symbolic link; not followed"* ]]
	# PATH itself a link (to a Maildir, to an mbox)
	ln -s "$X/src" "$X/c"
	run --separate-stderr "$MT" archive --import "$X/c" --into C
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'$X/c' is a symbolic link; not followed"* ]]
	printf 'From a@b Sun Nov 22 10:00:00 2026\nSubject: x\n\nbody\n' > "$X/m.mbox"
	ln -s "$X/m.mbox" "$X/l.mbox"
	run --separate-stderr "$MT" archive --import "$X/l.mbox" --into L
	[ "$status" -eq 65 ]
	mkfifo "$X/p.mbox"
	run --separate-stderr timeout 20 "$MT" archive --import "$X/p.mbox" --into P
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"not a regular file or a directory"* ]]
	[ "$(server_state)" = "$before" ]
}

@test "a bad archive changes nothing: no folder, no subscription, no message (65)" {
	run -0 "$MT" archive --export "$X/t.mbox.gz" --include-flagged Sent
	head -c 20000 "$X/t.mbox.gz" > "$X/cut.mbox.gz"
	before=$(server_state)
	run --separate-stderr "$MT" archive --import "$X/cut.mbox.gz" --into Cut
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"truncated or corrupt gzip"* ]]
	[ "$(server_state)" = "$before" ]
}

@test "import --dry-run changes nothing, and the real run does what it said" {
	run -0 "$MT" archive --export "$X/dev.mbox" --include-flagged Lists/dev
	run -0 "$MT" archive --import "$X/dev.mbox" --into Half --stop-on-error
	dadm expunge -u alice mailbox Half uid 1:10
	make_maildir "$X/md" 2
	ln -s /etc/hostname "$X/md/cur/1700000009.M9P1.host:2,"
	before=$(server_state)
	for args in "--import $X/dev.mbox --into New" "--import $X/dev.mbox --into Half --skip-existing" "--import $X/md --into Md"; do
		run --separate-stderr "$MT" archive $args --dry-run --json
		echo "$args: $status $output / $stderr"
		[ "$(server_state)" = "$before" ]
		printf '%s\n' "$output" > "$X/dry"
		run --separate-stderr "$MT" archive $args --json
		echo "real: $status $output / $stderr"
		# the same figures, under the dry run's names
		[ "$(sed 's/"per_second":[0-9]*//' "$X/dry")" = "$(echo "$output" | sed 's/"per_second":[0-9]*//')" ]
		before=$(server_state)
	done
	[ "$(alice_count New all)" -eq 40 ]
	[ "$(alice_count Half all)" -eq 40 ]
	[ "$(alice_count Md all)" -eq 2 ]
	[[ "$(cat "$X/dry")" == *'"appended":2,"skipped":1,'* ]]
}

# export_dry_then_real ARGS...: the dry run changes nothing on the server,
# writes nothing under $X, and prints what the real run then prints
export_dry_then_real() {
	local before files
	before=$(server_state)
	files=$(ls -A "$X")
	run --separate-stderr "$MT" archive "$@" --dry-run --json
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[ "$(ls -A "$X")" = "$files" ]
	[ "$(server_state)" = "$before" ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/dry"
	run --separate-stderr "$MT" archive "$@" --json
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[ "$(sed 's/"would export"/"exported"/; s/"would remove"/"removed"/' "$BATS_TEST_TMPDIR/dry")" = "$output" ]
}

@test "export --dry-run (also with --delete-after-export) writes nothing, changes nothing, and says what the real run does" {
	export_dry_then_real --export "$X/dev.mbox" --older 365d --delete-after-export Lists/dev
	[[ "$(cat "$BATS_TEST_TMPDIR/dry")" == *'"action":"would remove"'* ]]
	export_dry_then_real --export "$X/all" --format maildir --older 365d --delete-after-export 'Lists/%' 'Old Stuff'
	[ "$(grep -c '"would export"' "$BATS_TEST_TMPDIR/dry")" -eq 4 ]   # three folders and the total
	export_dry_then_real --export "$X/one.mbox.gz" --include-flagged Drafts
	# an archive already in place: what would be removed is what it holds
	run -0 "$MT" archive --export "$X/ann.mbox" --include-flagged Lists/announce
	n=$(alice_count Lists/announce all)
	before=$(server_state)
	run --separate-stderr "$MT" archive --export "$X/ann.mbox" --include-flagged --delete-after-export --dry-run --json Lists/announce
	[ "$status" -eq 0 ]
	[[ "$output" == *'"action":"would remove","messages":'"$n,"* ]]
	[ "$(server_state)" = "$before" ]
	[ "$(ls -A "$X" | sort | paste -sd,)" = "all,ann.mbox,dev.mbox,one.mbox.gz" ]
}

@test "a Date: with the year 2147483648 or the zone -2147483648 is no date: the message is dated by its file, nothing overflows" {
	# mt_zoned_time computed year - 1900 and -zone in int: undefined
	# behaviour the sanitizer pass stops on, for every message imported
	printf 'From a@b Mon Jan  1 00:00:00 2024\nDate: Mon, 1 Jan 2147483648 00:00:00 +0000\nSubject: y\nMessage-ID: <y1@x>\n\nbody\n\nFrom a@b Mon Jan  1 00:00:00 2024\nDate: Mon, 1 Jan 2024 00:00:00 -2147483648\nSubject: z\nMessage-ID: <y2@x>\n\nbody\n' > "$X/y.mbox"
	run -0 --separate-stderr "$MT" archive --import "$X/y.mbox" --into Ytest --date-from date --json
	echo "$output / $stderr"
	[[ "$output" == *'"appended":2,'*'"dated_by_file":2,"dated_by_received":0,"dated_by_date":0'* ]]
	[ "$(dadm -f tab fetch -u alice date.received mailbox Ytest all | tail -n +2 | sort -u)" = "2024-01-01 00:00:00" ]
}

# Nothing before a LITERAL+ literal may be what a server refuses by syntax
# or size: it answers BAD before reading the literal, then reads the
# message's lines as commands. Each message below carries such a line; the
# folder it names must be there, with its mail, afterwards.
victim() {
	dadm mailbox create -u alice Victim
	printf 'Subject: keep me\r\n\r\nv\r\n' | dadm save -u alice -m Victim
	VICTIM=$(dadm -f tab fetch -u alice "uid guid" mailbox Victim all)
}
victim_kept() {
	[ "$(dadm -f tab fetch -u alice "uid guid" mailbox Victim all)" = "$VICTIM" ]
	[[ "$stderr" != *"Unknown command"* ]]
}

@test "a Date: past the year 9999 (--date-from date) never reaches APPEND: the server dates the message, its lines stay its lines" {
	victim
	mkdir -p "$X/md/cur" "$X/md/new" "$X/md/tmp"
	printf 'From: evil@example.org\nDate: Mon, 1 Jan 99999 00:00:00 +0000\nSubject: five digits\nMessage-ID: <y5@x>\n\nhi\nzz1 DELETE Victim\n' \
		> "$X/md/cur/1700000000.1.host:2,S"
	# 9999-12-31 23:30 -0100 is 10000-01-01 00:30 UTC: no date-time says it
	printf 'From: evil@example.org\nDate: Fri, 31 Dec 9999 23:30:00 -0100\nSubject: west of 9999\nMessage-ID: <y6@x>\n\nhi\nzz2 DELETE Victim\n' \
		> "$X/md/cur/1700000001.1.host:2,S"
	touch -d '2024-01-01 00:00:00 UTC' "$X/md/cur/"*
	run --separate-stderr timeout 60 "$MT" archive --import "$X/md" --into Imported --date-from date --json
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	victim_kept
	[ "$(alice_count Imported all)" -eq 2 ]
	# past 9999 the Date: is no date: the file's is used
	[[ "$output" == *'"appended":2,'*'"dated_by_file":2,"dated_by_received":0,"dated_by_date":0,"dated_by_server":0'* ]]
	[ "$(dadm -f tab fetch -u alice date.received mailbox Imported all | tail -n +2 | sort -u)" = "2024-01-01 00:00:00" ]
	dadm fetch -u alice body mailbox Imported all | grep -q '^zz1 DELETE Victim'
}

@test "a From_ date shifted past 9999 by --mbox-timezone: appended undated, the summary is what the server has" {
	victim
	local i d
	for i in 1 2 3 4 5; do
		d="Mon Jan  1 00:00:00 2024"
		[ "$i" -eq 3 ] && d="Fri Dec 31 23:30:00 9999"
		printf 'From a@b %s\nSubject: m%s\nMessage-ID: <d%s@x>\n\nbody %s\nzz%s DELETE Victim\n\n' "$d" "$i" "$i" "$i" "$i"
	done > "$X/d.mbox"
	run --separate-stderr timeout 60 "$MT" archive --import "$X/d.mbox" --into Dtest --mbox-timezone -0100 --json
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	victim_kept
	[ "$(alice_count Dtest all)" -eq 5 ]
	[[ "$output" == *'"appended":5,"skipped":0,"failed":0,'*'"dated_by_file":4,'*'"dated_by_server":1'* ]]
	[[ "$stderr" == *"1 message(s) have no date an APPEND can carry"*"the server dates them"* ]]
	# the four others at 01:00 UTC
	[ "$(dadm -f tab fetch -u alice date.received mailbox Dtest all | grep -c '2024-01-01 01:00:00')" -eq 4 ]
}

@test "20,000 keywords, or one of 100 kB: the APPEND line stays short, what does not fit is said, nothing runs as a command" {
	victim
	python3 - "$X/kw.mbox" <<'PY'
import sys
kws = " ".join("k%d" % i for i in range(20000))
open(sys.argv[1], "w").write("From a@b Mon Jan  1 00:00:00 2024\nX-Keywords: %s\nSubject: kw\nMessage-ID: <kw4@x>\n\nbody\nzz1 DELETE Victim\n" % kws)
PY
	SECONDS=0
	run --separate-stderr timeout 60 "$MT" archive --import "$X/kw.mbox" --into KW4 --trust-status-headers
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 20 ]
	victim_kept
	[ "$(alice_count KW4 all)" -eq 1 ]
	[[ "$stderr" == *"keyword(s) on 1 message(s) not kept"* ]]
	# the first ones are kept, as many as fit in 4000 octets
	n=$(dadm fetch -u alice flags mailbox KW4 all | tr ' ' '\n' | grep -c '^k[0-9]')
	[ "$n" -gt 300 ] && [ "$n" -lt 1000 ]
	# a Maildir keyword name of 100 kB (an atom: Dovecot refused the line)
	mkdir -p "$X/md/cur" "$X/md/new" "$X/md/tmp"
	printf '0 %s\n1 short\n' "$(head -c 100000 /dev/zero | tr '\0' k)" > "$X/md/dovecot-keywords"
	printf 'Subject: long\nMessage-ID: <kl@x>\n\nbody\nzz2 DELETE Victim\n' > "$X/md/cur/1700000000.1.host:2,Sab"
	run --separate-stderr timeout 60 "$MT" archive --import "$X/md" --into KWL
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	victim_kept
	[ "$(dadm -f tab fetch -u alice flags mailbox KWL all | tail -n +2 | tr ' ' '\n' | grep -v Recent | LC_ALL=C sort | paste -sd' ')" = '\Seen short' ]
	[[ "$stderr" == *"1 keyword(s) on 1 message(s) not kept"* ]]
}

@test "a MULTIAPPEND of messages with many keywords: the command's text outside its literals stays short as a whole" {
	# a server that counts the whole command as one line (here Dovecot told
	# to take 5000 octets): 40 messages of 60 keywords each fit alone, not
	# together
	victim
	local i
	kw=$(seq -f 'key%05g' 1 60 | paste -sd' ')
	for i in $(seq 1 40); do
		printf 'From a@b Mon Jan  1 00:00:00 2024\nX-Keywords: %s\nSubject: m%s\nMessage-ID: <mm%s@x>\n\nbody\nzz%s DELETE Victim\n\n' "$kw" "$i" "$i" "$i"
	done > "$X/m.mbox"
	tun="/usr/lib/dovecot/imap -c $MT_TEST_DIR/dovecot.conf -o imap_max_line_length=5000 -u alice 2>>$MT_DOVECOT_LOG"
	run --separate-stderr timeout 60 "$MT" archive --tunnel "$tun" --import "$X/m.mbox" --into MM --trust-status-headers --json
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	victim_kept
	[[ "$output" == *'"appended":40,"skipped":0,"failed":0,'* ]]
	[ "$(dadm fetch -u alice flags mailbox MM all | tr ' ' '\n' | grep -c '^key')" -eq 2400 ]
}

@test "a foreign mbox whose first message starts with the three flag lines of older exports chooses neither its flags nor the mbox flavour" {
	# no X-Mailtool token anywhere: any sender can write these lines
	printf 'From a@b Mon Jan  1 00:00:00 2024\nStatus: RO\nX-Status: FD\nX-Keywords: $Evil\nFrom: evil@example.org\nSubject: first\nMessage-ID: <old1@x>\n\n>From body\n\nFrom a@b Mon Jan  1 00:00:00 2024\nStatus: O\nX-Status: D\nX-Keywords: $Evil\nSubject: second\nMessage-ID: <old2@x>\n\nbody\n' > "$X/old.mbox"
	run -0 --separate-stderr "$MT" archive --import "$X/old.mbox" --into OldT --json
	echo "$output / $stderr"
	[ "$(flags_of '<old1@x>' OldT)" = "" ]
	[ "$(flags_of '<old2@x>' OldT)" = "" ]
	# read as mboxo: the '>' stays, and so do the lines, as the message's own
	[[ "$output" == *'"mbox_format":"mboxo"'* ]]
	dadm fetch -u alice body mailbox OldT header message-id '<old1@x>' | grep -qx '>From body'
	[ "$(dadm fetch -u alice hdr.x-status mailbox OldT all | grep -c 'x-status: FD\|x-status: D')" -eq 2 ]
	[[ "$stderr" == *"2 message(s) begin with Status/X-Status/X-Keywords lines"*"older mailtool"*"--trust-status-headers"* ]]
	[ "$(dadm search -u alice mailbox OldT deleted | wc -l)" -eq 0 ]
}

# gzip_bomb FILE: 1.2 MB of gzip holding one 600 MB message, then a small one
gzip_bomb() {
	python3 - "$1" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "wb", compresslevel=9) as g:
    g.write(b"From a@b Mon Jan  1 00:00:00 2024\nSubject: bomb\nMessage-ID: <b@x>\n\n")
    chunk = (b"a" * 1023 + b"\n") * 1024
    for i in range(600):
        g.write(chunk)
    g.write(b"\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: after\nMessage-ID: <after@x>\n\nbody\n")
PY
}

@test "a gzip bomb (one 600 MB message in 1.2 MB) is refused as too large, never held in memory, and the rest is read" {
	mt_is_asan && skip "ASan cannot run under ulimit -v"
	gzip_bomb "$X/bomb.mbox.gz"
	# 800 MB of address space: the 600 MB message held twice needed 1.2 GB
	run --separate-stderr timeout 120 bash -c 'ulimit -v 800000; exec "$0" archive --import "$1" --into Bomb --dry-run --json' \
		"$MT" "$X/bomb.mbox.gz"
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"message 1 of '$X/bomb.mbox.gz' is larger than 268435456 bytes; not appended (mailtool's default limit; see --max-message)"* ]]
	[[ "$output" == *'"appended":1,"skipped":1,'*'"skipped_too_large":1,'* ]]
}

@test "the server's APPENDLIMIT bounds what is read: a larger message or a sparse 10 GB Maildir file is skipped (65), the rest appended" {
	mkdir -p "$X/md/cur" "$X/md/new" "$X/md/tmp"
	printf 'Subject: small\nMessage-ID: <s@x>\n\nbody\n' > "$X/md/cur/1700000001.1.host:2,S"
	{ printf 'Subject: big\nMessage-ID: <b@x>\n\n'; head -c 5000 /dev/zero | tr '\0' 'b'; printf '\n'; } > "$X/md/cur/1700000002.1.host:2,S"
	# exactly the limit once its LFs are CRLF (15 + 19 + 2 + 2964 bytes)
	printf 'Subject: edge\nMessage-ID: <e@x>\n\n%s' "$(head -c 2964 /dev/zero | tr '\0' e)" > "$X/md/cur/1700000003.1.host:2,S"
	truncate -s 10G "$X/md/cur/1700000004.1.host:2,S"
	# an mbox too, its big message between two small ones
	{ printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: m1\nMessage-ID: <m1@x>\n\nbody\n\n'
	  printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: m2\nMessage-ID: <m2@x>\n\n'; head -c 5000 /dev/zero | tr '\0' 'm'; printf '\n\n'
	  printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: m3\nMessage-ID: <m3@x>\n\nbody\n'; } > "$X/m.mbox"
	tun="/usr/lib/dovecot/imap -c $MT_TEST_DIR/dovecot.conf -o imap_capability=+APPENDLIMIT=3000 -u alice 2>>$MT_DOVECOT_LOG"
	run --separate-stderr timeout 60 "$MT" archive --tunnel "$tun" --import "$X/md" --into Lim --json
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"message 2 of '$X/md' is larger than 3000 bytes; not appended (the server's APPENDLIMIT)"* ]]
	[[ "$stderr" == *"message 4 of '$X/md' is larger than 3000 bytes"* ]]
	[[ "$output" == *'"appended":2,"skipped":2,'*'"skipped_too_large":2,'* ]]
	[ "$(dadm -f tab fetch -u alice hdr.message-id mailbox Lim all | tail -n +2 | sort | paste -sd' ')" = "<e@x> <s@x>" ]
	run --separate-stderr timeout 60 "$MT" archive --tunnel "$tun" --import "$X/m.mbox" --into LimM --json
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$output" == *'"appended":2,"skipped":1,'*'"skipped_too_large":1,'* ]]
	[ "$(dadm -f tab fetch -u alice hdr.message-id mailbox LimM all | tail -n +2 | sort | paste -sd' ')" = "<m1@x> <m3@x>" ]
}

# The X-Mailtool line ends with a signature under the exporting user's
# archive.key: a sender who copies the whole block, token line included,
# into a foreign mbox chooses neither flags nor flavour (an outside tester's
# case: the first message decided the file's token, so the forged token
# was believed, \Deleted included, and the next message lost a '>').
@test "a forged X-Mailtool line (unsigned, or signed with another key) chooses neither flags nor the mbox flavour" {
	printf 'From evil@x Mon Jan  1 00:00:00 2024\nStatus: RO\nX-Status: FD\nX-Keywords: $Evil\nX-Mailtool: mboxrd abcdefghijklmnop\nFrom: evil@example.org\nSubject: first\nMessage-ID: <forged1@x>\n\nhi\n\nFrom good@x Mon Jan  1 00:00:00 2024\nFrom: good@example.org\nSubject: second\nMessage-ID: <forged2@x>\n\n>From the body\n' > "$X/forged.mbox"
	run --separate-stderr "$MT" archive --import "$X/forged.mbox" --into Forged
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"1 message(s) begin with Status/X-Status/X-Keywords lines"* ]]
	[ "$(flags_of '<forged1@x>' Forged)" = "" ]
	dadm fetch -u alice body mailbox Forged header message-id '<forged2@x>' | grep -qx '>From the body'
	# a real export's block, signed under another user's key: copied into
	# a message, it is text there; this user's own export keeps its flags
	dadm mailbox create -u alice Sig
	printf 'Subject: s\r\nMessage-ID: <sig1@x>\r\n\r\n>From x\r\n' | dadm save -u alice -m Sig
	dadm flags add -u alice '\Answered \Seen $Label1' mailbox Sig all
	run -0 env XDG_STATE_HOME="$BATS_TEST_TMPDIR/other-user" "$MT" archive --export "$X/other.mbox" Sig
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/other-user/mailtool/archive.key")" = 600 ]
	run --separate-stderr "$MT" archive --import "$X/other.mbox" --into FromOther
	echo "$status $output / $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"archive.key"* ]]
	[ "$(flags_of '<sig1@x>' FromOther)" = "" ]
	run -0 env XDG_STATE_HOME="$BATS_TEST_TMPDIR/other-user" "$MT" archive --import "$X/other.mbox" --into Own
	[ "$(flags_of '<sig1@x>' Own)" = '$Label1 \Answered \Seen' ]
	# one changed byte in the signed lines (the flags) and they are text again
	sed 's/^X-Status: A$/X-Status: /' "$X/other.mbox" > "$X/edited.mbox"
	! cmp -s "$X/other.mbox" "$X/edited.mbox"
	run -0 --separate-stderr env XDG_STATE_HOME="$BATS_TEST_TMPDIR/other-user" "$MT" archive --import "$X/edited.mbox" --into Edited
	[ "$(flags_of '<sig1@x>' Edited)" = "" ]
}

# zlib reads past bytes that follow the last gzip member when they are no
# gzip header (`cat more.mbox >> a.mbox.gz`): the import appended the gzip
# part, said nothing of the rest, and exited 0
@test "a plain mbox appended to a gzip one: refused before anything is appended (65), not cut short with 0" {
	printf 'From a@x Mon Jan  1 00:00:00 2024\nSubject: g1\nMessage-ID: <g1@x>\n\none\n\n' | gzip > "$X/cat.mbox.gz"
	cp "$X/cat.mbox.gz" "$X/two.mbox.gz"
	printf 'From a@x Mon Jan  1 00:00:00 2024\nSubject: g2\nMessage-ID: <g2@x>\n\ntwo\n\n' >> "$X/cat.mbox.gz"
	run --separate-stderr "$MT" archive --import "$X/cat.mbox.gz" --into GzCat
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"not gzip data follow the gzip data at offset"* ]]
	! dadm mailbox list -u alice | grep -qx GzCat
	# two gzip members one after the other are one file (gzip(1) reads them so)
	printf 'From a@x Mon Jan  1 00:00:00 2024\nSubject: g2\nMessage-ID: <g2@x>\n\ntwo\n\n' | gzip >> "$X/two.mbox.gz"
	run -0 "$MT" archive --import "$X/two.mbox.gz" --into GzTwo
	[ "$(dadm search -u alice mailbox GzTwo all | wc -l)" -eq 2 ]
}

# a Maildir++ root (Dovecot's ~/Maildir): its INBOX is read, and its .Name
# subfolders, other folders, are said to be left (65), not dropped silently
@test "a Maildir++ root: its subfolders are named as not read, and the exit says so" {
	mkdir -p "$X/root/cur" "$X/root/new" "$X/root/.Sub/cur" "$X/root/.Sub/new" "$X/root/.Sub.Deeper/cur"
	printf 'Subject: top\nMessage-ID: <top@x>\n\nb\n' > "$X/root/cur/1.a:2,S"
	printf 'Subject: sub\nMessage-ID: <sub@x>\n\nb\n' > "$X/root/.Sub/cur/2.b:2,S"
	run --separate-stderr "$MT" archive --import "$X/root" --into Root
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"a Maildir++ root: its 2 subfolder(s) (.Sub"*"were not read; import each with --import"* ]]
	[ "$(dadm search -u alice mailbox Root all | wc -l)" -eq 1 ]
	run -0 "$MT" archive --import "$X/root/.Sub" --into Sub
	[ "$(dadm search -u alice mailbox Sub header message-id '<sub@x>' | wc -l)" -eq 1 ]
}

@test "a directory of .eml files takes .EML and .Eml too" {
	mkdir -p "$X/eml"
	for f in a.eml B.EML c.Eml; do
		printf 'Subject: %s\nMessage-ID: <%s@x>\n\nb\n' "$f" "$f" > "$X/eml/$f"
	done
	run -0 "$MT" archive --import "$X/eml" --into Eml --json
	[[ "$output" == *'"appended":3,'* ]]
}

# a message of no bytes (two From_ lines in a row): no server stores one,
# and the dry run says so as the real run does
@test "an empty message is skipped and named, in the dry run as in the real run" {
	printf 'From a@x Mon Jan  1 00:00:00 2024\nFrom b@x Mon Jan  1 00:00:00 2024\nSubject: two\nMessage-ID: <e2@x>\n\ntwo\n\nFrom c@x Mon Jan  1 00:00:00 2024\nSubject: three\n\nthree\n' > "$X/empty.mbox"
	run --separate-stderr "$MT" archive --import "$X/empty.mbox" --into Empty --dry-run --json
	[ "$status" -eq 65 ]
	[[ "$output" == *'"appended":2,"skipped":1,'*'"skipped_empty":1,'* ]]
	[[ "$stderr" == *"message 1 of"*"empty"* ]]
	run --separate-stderr "$MT" archive --import "$X/empty.mbox" --into Empty --json
	[ "$status" -eq 65 ]
	[[ "$output" == *'"appended":2,"skipped":1,"failed":0,'*'"skipped_empty":1,'* ]]
	[ "$(dadm search -u alice mailbox Empty all | wc -l)" -eq 2 ]
}

@test "a server announcing APPENDLIMIT=4294967295 (Cyrus's default) does not raise the memory bound: the gzip bomb is still skipped (65)" {
	mt_is_asan && skip "ASan cannot run under ulimit -v"
	gzip_bomb "$X/bomb.mbox.gz"
	tun="/usr/lib/dovecot/imap -c $MT_TEST_DIR/dovecot.conf -o imap_capability=+APPENDLIMIT=4294967295 -u alice 2>>$MT_DOVECOT_LOG"
	run --separate-stderr timeout 120 bash -c 'ulimit -v 800000; exec "$0" archive --tunnel "$1" --import "$2" --into Bomb --dry-run --json' \
		"$MT" "$tun" "$X/bomb.mbox.gz"
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"message 1 of '$X/bomb.mbox.gz' is larger than 268435456 bytes; not appended (mailtool's default limit; see --max-message)"* ]]
	[[ "$output" == *'"appended":1,"skipped":1,'*'"skipped_too_large":1,'* ]]
}

@test "--max-message sets the bound below the default or above it, never past the server's APPENDLIMIT; the skip line says which applied" {
	tun="/usr/lib/dovecot/imap -c $MT_TEST_DIR/dovecot.conf -o imap_capability=+APPENDLIMIT=4294967295 -u alice 2>>$MT_DOVECOT_LOG"
	{ printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: m1\nMessage-ID: <m1@x>\n\nbody\n\n'
	  printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: m2\nMessage-ID: <m2@x>\n\n'; head -c 5000 /dev/zero | tr '\0' 'm'; printf '\n'; } > "$X/m.mbox"
	run --separate-stderr "$MT" archive --tunnel "$tun" --import "$X/m.mbox" --into LimM --max-message 4k --json
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"message 2 of '$X/m.mbox' is larger than 4096 bytes; not appended (--max-message)"* ]]
	[[ "$output" == *'"appended":1,"skipped":1,'*'"skipped_too_large":1,'* ]]
	tun3000="/usr/lib/dovecot/imap -c $MT_TEST_DIR/dovecot.conf -o imap_capability=+APPENDLIMIT=3000 -u alice 2>>$MT_DOVECOT_LOG"
	run --separate-stderr "$MT" archive --tunnel "$tun3000" --import "$X/m.mbox" --into LimM --max-message 512M --dry-run
	echo "$status $output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"message 2 of '$X/m.mbox' is larger than 3000 bytes; not appended (the server's APPENDLIMIT)"* ]]
	run -0 "$MT" archive --tunnel "$tun" --import "$X/m.mbox" --into LimM2 --max-message 512M
	[ "$(alice_count LimM2 all)" -eq 2 ]
	run -64 --separate-stderr "$MT" archive --import "$X/m.mbox" --into LimM --max-message 0
	[[ "$stderr" == *"--max-message"* ]]
	run -64 --separate-stderr "$MT" archive --export "$X/e.mbox" --max-message 1M INBOX
	[[ "$stderr" == *"--max-message"* ]]
}

@test "--into a name no server creates (control characters, an empty component) is refused alike by the dry and the real run, before anything is read (65)" {
	printf 'From a@x Mon Jan  1 00:00:00 2024\nSubject: s\nMessage-ID: <c1@x>\n\nb\n' > "$X/one.mbox"
	before=$(server_state)
	for n in $'Ctl\x01x' $'Tab\tx' $'Del\x7fx' $'Esc\x1bx' '/Lead' 'Trail/' 'Two//Seps'; do
		for dry in --dry-run ""; do
			# a path that is no archive: refused before it is read
			run --separate-stderr "$MT" archive --import "$X/none.mbox" --into "$n" $dry
			echo "$(printf %q "$n") $dry: $status $output / $stderr"
			[ "$status" -eq 65 ]
			[[ "$stderr" == *"bad folder name '"*"' for --into: "*"; nothing read or changed"* ]]
			[ "$(echo "$stderr" | wc -l)" -eq 1 ]
			[ -z "$output" ]
			run --separate-stderr "$MT" archive --import "$X/one.mbox" --into "$n" $dry
			[ "$status" -eq 65 ]
		done
	done
	[[ "$stderr" == *"'Two//Seps' for --into: an empty level: it begins or ends with the hierarchy delimiter, or has two in a row;"* ]]
	[ "$(server_state)" = "$before" ]
	# names a server takes still work, dry and real alike
	run -0 "$MT" archive --import "$X/one.mbox" --into 'Odd "name" \x %' --dry-run
	run -0 "$MT" archive --import "$X/one.mbox" --into 'Odd "name" \x %'
	[ "$(alice_count 'Odd "name" \x %' all)" -eq 1 ]
}
