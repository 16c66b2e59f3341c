#!/usr/bin/env bats
# archive --export/--import with the files real mail software writes and
# reads (issue #21): procmail's mboxo in local time, mbsync's Maildirs,
# mutt opening every export, a second Dovecot over both Maildir layouts,
# and round trips through every format. Needs procmail, isync (mbsync) and
# mutt from Debian (.ci/deps installs them).
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore_x
	for t in procmail mbsync mutt script; do
		command -v "$t" >/dev/null || { echo "missing $t (.ci/deps installs it)"; return 1; }
	done
}

# one line per message of alice's folder $1: "Message-ID sha256 internaldate
# system-flags", in UID order (the keywords left out: mbsync has none)
by_id() {
	VIEW_ORDER=1 python3 - "$1" <<'EOF'
import hashlib, imaplib, os, re, ssl, sys, time
sys.path.insert(0, os.path.join(os.environ["MT_REPO"], "tests", "lib"))
import mutf7
ctx = ssl.create_default_context(cafile=os.environ["MT_CA"])
m = imaplib.IMAP4_SSL("localhost", int(os.environ["MT_IMAPS_PORT"]), ssl_context=ctx)
m.login("alice", "alice-secret-pw")
assert m.select('"%s"' % mutf7.encode(sys.argv[1]), readonly=True)[0] == "OK"
typ, data = m.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
for item in data:
    if not isinstance(item, tuple):
        continue
    body = item[1]
    mid = re.search(rb"(?mi)^Message-ID:\s*(\S+)", body)
    flags = sorted(f for f in re.search(r"FLAGS \(([^)]*)\)", item[0].decode()).group(1).split()
                   if f.startswith("\\") and f != "\\Recent")
    print(mid.group(1).decode() if mid else "-", hashlib.sha256(body).hexdigest(),
          int(time.mktime(imaplib.Internaldate2tuple(item[0]))), ",".join(flags))
m.logout()
EOF
}

@test "procmail's mbox (mboxo, From_ dates in local time): every message as procmail kept it, dated when it arrived" {
	local pm="$BATS_TEST_TMPDIR/pm" i t0 t1
	mkdir -p "$pm"
	printf 'DEFAULT=%s/inbox.mbox\nLOGFILE=%s/procmail.log\n' "$pm" "$pm" > "$pm/rc"
	python3 "$MT_REPO/tests/lib/mailset.py" "$pm/set"
	: > "$pm/times"
	for i in 1 2 3 4 5 6 7; do
		python3 "$MT_REPO/tests/lib/mailset.py" "$pm/set" "$i"   # its Received: time is now
		t0=$(date +%s)
		TZ=Europe/Paris procmail -f "s$i@example.net" "$pm/rc" < "$pm/set/0$i.eml"
		t1=$(date +%s)
		echo "<set$i@example.net> $t0 $t1" >> "$pm/times"
	done
	[ "$(grep -c '^From s' "$pm/inbox.mbox")" -eq 7 ]
	grep -qx '>From the start' "$pm/inbox.mbox"      # procmail quotes "From " ...
	grep -qx '>From quoted' "$pm/inbox.mbox"         # ... and leaves ">From " alone (mboxo)
	# read as mboxo (found out, not told), From_ dates in Paris time
	run --separate-stderr "$MT" archive --import "$pm/inbox.mbox" --into Procmail --mbox-timezone Europe/Paris --json
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"appended":7,'*'"mbox_format":"mboxo"'* ]]
	[[ "$stderr" != *"local time"* ]]
	# each message byte for byte as procmail kept it: what mboxo cannot say
	# back is a "From " body line (now ">From ", as procmail wrote it) and an
	# empty last line (taken for the separator); a missing last line end is
	# added (by procmail already)
	python3 - "$pm/set" > "$BATS_TEST_TMPDIR/want" <<'EOF'
import hashlib, re, sys
for i in range(1, 8):
    raw = open("%s/%02d.eml" % (sys.argv[1], i), "rb").read()
    if not raw.endswith(b"\n"):
        raw += b"\n"
    h, _, body = raw.partition(b"\n\n")
    body = re.sub(rb"(?m)^From ", b">From ", body)
    raw = h + b"\n\n" + body
    if raw.endswith(b"\n\n"):
        raw = raw[:-1]
    print("<set%d@example.net>" % i, hashlib.sha256(raw.replace(b"\n", b"\r\n")).hexdigest())
EOF
	[ "$(by_id Procmail | cut -d' ' -f1,2 | sort)" = "$(sort "$BATS_TEST_TMPDIR/want")" ]
	# INTERNALDATE is the delivery time; procmail's time() reads the coarse
	# clock, which may still be in the second before date(1)'s t0
	by_id Procmail | while read -r id sha t flags; do
		read -r t0 t1 < <(grep -F "$id " "$pm/times" | cut -d' ' -f2,3)
		[ "$t" -ge $((t0 - 1)) ] && [ "$t" -le $((t1 + 1)) ] || { echo "$id: $t not in [$t0 - 1, $t1 + 1]"; return 1; }
	done
	# read as UTC (RFC 4155, the default): an hour off, and said so
	run --separate-stderr "$MT" archive --import "$pm/inbox.mbox" --into Utc --json
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"7 message(s) have a From_ line date +01:00 from their Received:/Date: time"*"--mbox-timezone"* ]]
	[ $(( $(by_id Utc | awk 'NR==1 {print $3}') - $(by_id Procmail | awk 'NR==1 {print $3}') )) -eq 3600 ]
	# --mbox-format mboxrd takes a '>' from procmail's own ">From quoted"
	run -0 "$MT" archive --import "$pm/inbox.mbox" --into Rd --mbox-format mboxrd --mbox-timezone Europe/Paris
	[ "$(dadm fetch -u alice body mailbox Rd header message-id '<set2@example.net>' | grep -c '^From quoted')" -eq 1 ]
	[ "$(dadm fetch -u alice body mailbox Procmail header message-id '<set2@example.net>' | grep -c '^>From quoted')" -eq 1 ]
}

@test "an mbox whose Content-Length fields disagree with its From_ lines is not guessed at: 65, or read as mboxcl2 when told" {
	python3 - "$X/cl.mbox" <<'EOF'
import sys
out = b""
for i, body in enumerate([b"From inside the body\nok\n", b"second\n"], 1):
    out += b"From a@example.net Mon Jan  1 00:00:0%d 2024\n" % i
    out += b"Content-Length: %d\nSubject: cl %d\nMessage-ID: <cl%d@x>\n\n" % (len(body), i, i) + body + b"\n"
open(sys.argv[1], "wb").write(out)
EOF
	before=$(dadm mailbox list -u alice | sort)
	run --separate-stderr "$MT" archive --import "$X/cl.mbox" --into Cl
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"Content-Length that does not match"*"--mbox-format mboxcl2"*"nothing imported"* ]]
	[ "$(dadm mailbox list -u alice | sort)" = "$before" ]
	run -0 --separate-stderr "$MT" archive --import "$X/cl.mbox" --into Cl --mbox-format mboxcl2 --json
	[[ "$output" == *'"appended":2,'*'"mbox_format":"mboxcl2"'* ]]
	[ "$(dadm fetch -u alice body mailbox Cl header message-id '<cl1@x>' | grep -c '^From inside the body')" -eq 1 ]
	# mboxo, when told, cuts at the From_ line as asked
	run -0 "$MT" archive --import "$X/cl.mbox" --into Clo --mbox-format mboxo
	[ "$(alice_count Clo all)" -eq 3 ]
}

# an mbsync configuration pulling alice's folder $2 into the Maildir tree $1
mbsync_rc() {
	cat <<EOF
IMAPAccount t
Host localhost
Port $MT_IMAPS_PORT
User alice
Pass alice-secret-pw
SSLType IMAPS
CertificateFile $MT_CA
SystemCertificates no

IMAPStore remote
Account t

MaildirStore local
Path $1/
Inbox $1/INBOX
SubFolders Verbatim

Channel t
Far :remote:
Near :local:
Patterns "$2"
Create Near
Sync Pull
SyncState *
EOF
}

@test "mbsync's Maildir: imported in delivery order, with its flags, dated from Received: (--date-from received)" {
	mkdir -p "$BATS_TEST_TMPDIR/mb"
	mbsync_rc "$BATS_TEST_TMPDIR/mb" Lists/dev > "$BATS_TEST_TMPDIR/mbsyncrc"
	run timeout 120 mbsync -c "$BATS_TEST_TMPDIR/mbsyncrc" t
	echo "$output"
	[ "$status" -eq 0 ]
	local md="$BATS_TEST_TMPDIR/mb/Lists/dev" n
	n=$(alice_count Lists/dev all)
	[ "$(ls "$md/cur" "$md/new" | grep -c ',U=')" -eq "$n" ]
	# sequence numbers past 9 and messages in both cur/ and new/: the order
	# of plain string sorting is not the delivery order
	ls "$md/cur" | grep -q '_1[0-9]\.'
	[ -n "$(ls "$md/new")" ]
	run -0 --separate-stderr "$MT" archive --import "$md" --into Synced --date-from received --json
	echo "$output"
	[[ "$output" == *"\"appended\":$n,"*"\"dated_by_file\":0,\"dated_by_received\":$n,"* ]]
	# same messages, same order, same system flags, same dates (the fixture's
	# arrival times are its Received: times); not the same bytes: mbsync
	# adds an X-TUID: field
	diff <(by_id Synced | cut -d' ' -f1,3,4) <(by_id Lists/dev | cut -d' ' -f1,3,4)
	grep -q '^X-TUID: ' "$md"/cur/*
	# the file times are mbsync's sync time: said in the summary
	run -0 "$MT" archive --import "$md" --into Mtime --json
	[[ "$output" == *"\"dated_by_file\":$n,"* ]]
	[ "$(by_id Mtime | cut -d' ' -f1,4)" = "$(by_id Lists/dev | cut -d' ' -f1,4)" ]
	[ "$(by_id Mtime | cut -d' ' -f3)" != "$(by_id Lists/dev | cut -d' ' -f3)" ]
}

@test "mutt opens every export (mboxrd, mboxcl2, Maildir, both trees): same messages, flags and bodies" {
	local f=Lists/dev n seen flagged
	n=$(alice_count "$f" all)
	seen=$(alice_count "$f" seen)
	flagged=$(alice_count "$f" flagged)
	run -0 "$MT" archive --export "$X/rd.mbox" --include-flagged "$f"
	run -0 "$MT" archive --export "$X/cl2.mbox" --mbox-format mboxcl2 --include-flagged "$f"
	run -0 "$MT" archive --export "$X/md" --include-flagged "$f"
	run -0 "$MT" archive --export "$X/fs" --format maildir --include-flagged "$f" 'Projets/*'
	run -0 "$MT" archive --export "$X/pp" --layout maildir++ --include-flagged "$f" 'Projets/*'
	# the original bodies (after the header), by Message-ID
	python3 - > "$BATS_TEST_TMPDIR/want" <<'EOF'
import hashlib, re, subprocess, os
out = subprocess.run(os.environ["MT_DOVEADM"].split() + ["fetch", "-u", "alice", "hdr.message-id body", "mailbox", "Lists/dev", "all"],
                     capture_output=True).stdout
for rec in out.split(b"\f\n"):
    if rec.strip():
        head, _, body = rec.partition(b"\nbody:\n")
        mid = head.partition(b": ")[2].strip()
        print(mid.decode(), hashlib.sha256(body.replace(b"\r\n", b"\n").rstrip(b"\n")).hexdigest())
EOF
	sort -o "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/want"
	for box in "$X/rd.mbox" "$X/cl2.mbox" "$X/md" "$X/fs/Lists/dev" "$X/pp/.Lists.dev"; do
		rm -f "$BATS_TEST_TMPDIR/mutt.mbox"
		run timeout 60 "$MT_REPO/tests/lib/mutt-copy.sh" "$box" "$BATS_TEST_TMPDIR/mutt.mbox"
		[ "$status" -eq 0 ] || { echo "mutt on $box: exit $status"; return 1; }
		python3 - "$BATS_TEST_TMPDIR/mutt.mbox" "$([[ $box == *rd.mbox ]] && echo mboxrd || echo other)" > "$BATS_TEST_TMPDIR/got" <<'EOF'
import hashlib, re, sys
data = open(sys.argv[1], "rb").read()
# mutt's own copy: split at its From_ lines (they carry a time and a year)
seen = flagged = 0
for e in re.split(rb"(?m)^From \S+ +\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}\n", data)[1:]:
    head, _, body = e.partition(b"\n\n")
    if sys.argv[2] == "mboxrd":
        # mutt reads mboxo: the '>' mboxrd adds to ">*From " lines stays
        body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
    mid = re.search(rb"(?mi)^Message-ID:\s*(\S+)", head).group(1).decode()
    st = re.search(rb"(?m)^Status: (\S*)", head)
    xs = re.search(rb"(?m)^X-Status: (\S*)", head)
    seen += bool(st and b"R" in st.group(1))
    flagged += bool(xs and b"F" in xs.group(1))
    print(mid, hashlib.sha256(body.rstrip(b"\n")).hexdigest())
print("#", seen, flagged)
EOF
		got_counts=$(grep '^#' "$BATS_TEST_TMPDIR/got")
		[ "$got_counts" = "# $seen $flagged" ] || { echo "$box: mutt saw seen/flagged $got_counts, want $seen $flagged"; return 1; }
		diff <(grep -v '^#' "$BATS_TEST_TMPDIR/got" | sort) "$BATS_TEST_TMPDIR/want" ||
			{ echo "$box: mutt's messages differ"; return 1; }
	done
}

# a PREAUTH Dovecot imap over the Maildir tree $1 (layout $2: "" or ":LAYOUT=fs:UTF-8:INBOX=$1/INBOX")
dovecot_over() {
	printf '/usr/lib/dovecot/imap -c %s -o mail_location=maildir:%s%s -u alice 2>>%s' "$MT_TEST_DIR/dovecot.conf" "$1" "$2" "$MT_DOVECOT_LOG"
}

@test "a second Dovecot pointed at the export reads both layouts like the server: counts, flags, dates, bodies" {
	local folders=(INBOX Lists/dev 'Projets/Été' 'Old Stuff')
	# where the mail user can reach it (the test's own directory is private)
	X=$(mktemp -d "$MT_TEST_DIR/export.XXXXXX")
	chmod 755 "$X"
	run -0 "$MT" archive --export "$X/fs" --format maildir --include-flagged "${folders[@]}"
	run -0 "$MT" archive --export "$X/pp" --layout maildir++ --include-flagged "${folders[@]}"
	[ -d "$X/pp/cur" ] && [ -d "$X/pp/.Lists.dev/cur" ] && [ -e "$X/pp/.Lists.dev/maildirfolder" ]
	[ -d "$X/pp/.Projets.&AMk-t&AOk-/cur" ] && [ -d "$X/fs/Projets/Été/cur" ]
	# the mail user reads (and indexes) it
	chown -R "$(stat -c %u:%g "$MT_TEST_DIR/mail/alice/Maildir")" "$X"
	for f in "${folders[@]}"; do
		want=$(view "$f")
		[ "$(VIEW_TUNNEL=$(dovecot_over "$X/pp" "") view "$f")" = "$want" ] || { echo "maildir++: $f differs"; return 1; }
		[ "$(VIEW_TUNNEL=$(dovecot_over "$X/fs" ":LAYOUT=fs:UTF-8:INBOX=$X/fs/INBOX") view "$f")" = "$want" ] ||
			{ echo "fs: $f differs"; return 1; }
	done
	# a name Maildir++ cannot hold is refused before anything is written (a
	# file-system layout store, where a name may hold a dot)
	fsadm mailbox create -u alice 'v1.2' Drafts
	run --separate-stderr "$MT" archive --config /dev/null --tunnel "$FS_TUNNEL" --export "$X/pp2" --layout maildir++ 'v1.2' Drafts
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'v1.2' cannot be a Maildir++ folder"*"use --layout fs"* ]]
	[ ! -e "$X/pp2" ] || [ -z "$(ls -A "$X/pp2")" ]
	rm -rf "$X"
}

@test "round trips through every format: Message-ID, size, flags, INTERNALDATE and SHA-256 identical (mboxcl2 exactly, edge cases too)" {
	dadm mailbox create -u alice Edge
	printf 'From: a@example.org\r\nSubject: no final line end\r\nMessage-ID: <e1@x>\r\n\r\nlast line' | dadm save -u alice -m Edge
	printf 'From: a@example.org\r\nSubject: empty last line\r\nMessage-ID: <e2@x>\r\n\r\nbody\r\n\r\n' | dadm save -u alice -m Edge
	printf 'From: a@example.org\r\nSubject: quoting\r\nMessage-ID: <e3@x>\r\n\r\nFrom x\r\n>From y\r\n>>From z\r\nCR\rinside\r\n' | dadm save -u alice -m Edge
	dadm flags add -u alice '\Flagged $Edge' mailbox Edge uid 2
	local f args name e1 e1_crlf
	e1=$(printf 'From: a@example.org\r\nSubject: no final line end\r\nMessage-ID: <e1@x>\r\n\r\nlast line' | sha256sum | cut -d' ' -f1)
	e1_crlf=$(printf 'From: a@example.org\r\nSubject: no final line end\r\nMessage-ID: <e1@x>\r\n\r\nlast line\r\n' | sha256sum | cut -d' ' -f1)
	for f in Edge 'Projets/Été' Lists/dev; do
		want=$(view "$f")
		for args in "x.mbox" "x.mbox.gz" "x.mbox --mbox-format mboxcl2" "x.mbox.gz --mbox-format mboxcl2" "x.d" \
			"x.fs --format maildir -r" "x.pp --layout maildir++"; do
			rm -rf "$X"/x.*
			# shellcheck disable=SC2086
			run -0 "$MT" archive --export "$X/"$args --include-flagged "$f"
			name=${args%% *}
			src="$X/$name"
			case "$args" in
			*-r) src="$X/$name/$(echo "$f" | sed 's/É/\xc3\x89/')" ;;
			*maildir++) src="$X/$name/.$(python3 -c "import sys; sys.path.insert(0, '$MT_REPO/tests/lib'); import mutf7; print('.'.join(mutf7.encode(c) for c in sys.argv[1].split('/')))" "$f")" ;;
			esac
			dadm mailbox delete -u alice Back 2>/dev/null || true
			run -0 "$MT" archive --import "$src" --into Back
			got=$(view Back)
			if [ "$got" != "$want" ]; then
				# mboxrd has no way to say a message lacks its last line end:
				# that one comes back with one, the rest as they were
				if [ "$f" = Edge ] && [[ "$args" != *mboxcl2* && "$args" == *.mbox* ]] &&
					[ "$(echo "$got" | grep -v "^$e1_crlf ")" = "$(echo "$want" | grep -v "^$e1 ")" ] &&
					echo "$got" | grep -q "^$e1_crlf "; then
					continue
				fi
				echo "$f through $args: differs"
				diff <(echo "$got") <(echo "$want")
				return 1
			fi
		done
	done
}

@test "what is left on the server, and why, is in every summary format: flagged mail export and archive skip" {
	local fl
	fl=$(alice_count Lists/dev flagged)
	[ "$fl" -gt 0 ]
	run -0 "$MT" archive --export "$X/dev.mbox" --json Lists/dev
	[[ "$output" == *"{\"schema\":1,\"type\":\"folder\",\"folder\":\"Lists/dev\",\"action\":\"skipped: flagged\",\"messages\":$fl,"* ]]
	[ "$(grep -c '^From ' "$X/dev.mbox")" -eq $(( $(alice_count Lists/dev all) - fl )) ]
	run -0 "$MT" archive --export "$X/dev2.mbox" --tsv Lists/dev
	[[ "$output" == *$'Lists/dev\tskipped: flagged\t'"$fl"$'\t'* ]]
	run -0 "$MT" archive --export "$X/dev3.mbox" Lists/dev
	[[ "$output" == *"skipped: flagged"* ]]
	# archiving on the server: the flagged old mail stays, and is counted
	old_fl=$(dadm search -u alice mailbox Lists/announce before 365d flagged | wc -l)
	run -0 "$MT" archive --older 365d --dry-run --json Lists/announce
	if [ "$old_fl" -gt 0 ]; then
		[[ "$output" == *"\"action\":\"skipped: flagged\",\"messages\":$old_fl,"* ]]
	fi
	# with --include-flagged nothing is skipped
	run -0 "$MT" archive --export "$X/all.mbox" --include-flagged --json Lists/dev
	[[ "$output" != *"skipped"* ]]
}
