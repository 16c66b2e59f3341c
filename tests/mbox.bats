#!/usr/bin/env bats
# A Dovecot user on mbox storage, where mail flagged \Deleted stays in the
# file until the folder is expunged: expunge and compact must shrink it.
load helpers

# dave: mbox:~/mail with INBOX in ~/mail/inbox; 40 messages, 10 flagged
# \Deleted through X-Status: D (as an mbox client leaves them)
setup_file() {
	export MT_REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
	. "$MT_SUITE_DIR/dovecot/env.sh"
	local home="$MT_TEST_DIR/mail/dave" owner
	owner=$(stat -c %u:%g "$MT_TEST_DIR/mail/alice")
	if ! grep -q '^dave:' "$MT_TEST_DIR/users"; then
		# a new file with a later mtime: Dovecot rereads passwd-file when it changed
		cp "$MT_TEST_DIR/users" "$MT_TEST_DIR/users.new"
		echo 'dave:{PLAIN}dave-secret-pw::::::userdb_mail=mbox:~/mail:INBOX=~/mail/inbox' >> "$MT_TEST_DIR/users.new"
		touch -d "@$(( $(date +%s) + 2 ))" "$MT_TEST_DIR/users.new"
		chmod --reference="$MT_TEST_DIR/users" "$MT_TEST_DIR/users.new"
		mv "$MT_TEST_DIR/users.new" "$MT_TEST_DIR/users"
	fi
	rm -rf "$home"
	mkdir -p "$home/mail"
	python3 - "$home/mail/inbox" <<'PY'
import sys
with open(sys.argv[1], "w", newline="\n") as f:
    for i in range(1, 41):
        f.write("From sender%d@example.org Mon Jan  6 10:%02d:00 2025\n" % (i, i))
        f.write("From: Sender %d <sender%d@example.org>\n" % (i, i))
        f.write("To: dave@example.org\nSubject: mbox message %d\n" % i)
        f.write("Date: Mon, 6 Jan 2025 10:%02d:00 +0000\n" % i)
        f.write("Message-ID: <mbox%d@example.org>\n" % i)
        f.write("Status: RO\n")
        if i % 4 == 0:
            f.write("X-Status: D\n")
        f.write("\n")
        f.write(("line %d of a message body that takes some room\n" % i) * (40 + i))
        f.write("\n")
PY
	chown -R "$owner" "$home"
	chmod -R go+rX "$home"
	# wait (bounded) until Dovecot's auth knows dave
	for _ in $(seq 50); do
		$MT_DOVEADM user dave >/dev/null 2>&1 && break
		sleep 0.1
	done
	$MT_DOVEADM user dave >/dev/null
}

inbox_file() { echo "$MT_TEST_DIR/mail/dave/mail/inbox"; }

@test "mbox: du agrees with doveadm for a user on mbox storage" {
	run "$MT" du -a admin --as dave --tsv --no-total INBOX
	[ "$status" -eq 0 ]
	want=$(dadm -f tab mailbox status -u dave "messages vsize" INBOX | tail -n +2)
	[ "$(echo "$output" | tail -n +2)" = "$want" ]
	[ "$(dadm search -u dave mailbox INBOX deleted | wc -l)" -eq 10 ]
}

@test "mbox: expunge --deleted removes exactly those and shrinks the file on disk" {
	before=$(stat -c %s "$(inbox_file)")
	gone=$(dadm -f tab fetch -u dave "size.physical" mailbox INBOX deleted | tail -n +2 | awk '{s+=$1} END {print s}')
	run "$MT" expunge -a admin --as dave --deleted --include-flagged --tsv INBOX
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p | cut -f3)" -eq 10 ]
	[ "$(dadm search -u dave mailbox INBOX all | wc -l)" -eq 30 ]
	[ "$(dadm search -u dave mailbox INBOX deleted | wc -l)" -eq 0 ]
	after=$(stat -c %s "$(inbox_file)")
	# the file lost at least the deleted messages' bytes (Dovecot also drops its own headers)
	[ $((before - after)) -ge $((gone * 9 / 10)) ]
	for i in 4 8 12 40; do
		[ "$(grep -c "^Message-ID: <mbox$i@" "$(inbox_file)")" -eq 0 ]
	done
	[ "$(grep -c '^Message-ID: <mbox3@' "$(inbox_file)")" -eq 1 ]
}

@test "mbox: compact shrinks the file after a client flagged more mail \\Deleted" {
	dadm flags add -u dave '\Deleted' mailbox INBOX subject "mbox message 1"
	n=$(dadm search -u dave mailbox INBOX deleted | wc -l)
	[ "$n" -gt 0 ]
	before=$(stat -c %s "$(inbox_file)")
	run "$MT" compact -a admin --as dave --json
	[ "$status" -eq 0 ]
	echo "$output" | tail -1 | grep -q "\"messages\":$n,"
	[ "$(stat -c %s "$(inbox_file)")" -lt "$before" ]
	[ "$(dadm search -u dave mailbox INBOX deleted | wc -l)" -eq 0 ]
}

# column N (by header name) of TSV text for the row whose first field is KEY
tsv_field() { # TEXT KEY COLUMN
	printf '%s\n' "$1" | awk -F'\t' -v k="$2" -v c="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) col = i; next }
		$1 == k { print $col; exit }'
}

# dave as the suite's admin (Dovecot master user) sees him
dv() { "$MT" "$1" -a admin --as dave "${@:2}"; }

# write an mbox folder FOLDER for dave straight into his mail directory (as a
# local mbox client would), from lines "EPOCH<TAB>SUBJECT<TAB>X-STATUS" on stdin
dave_mbox() {
	local f="$MT_TEST_DIR/mail/dave/mail/$1"
	local py
	py=$(cat <<'PY'
import sys, time
with open(sys.argv[1], "w", newline="\n") as out:
    for i, line in enumerate(sys.stdin.read().split("\n")):
        if not line:
            continue
        epoch, subject, xs = (line.split("\t") + ["", ""])[:3]
        t = time.gmtime(int(epoch))
        out.write("From t%d@example.org %s\n" % (i, time.strftime("%a %b %e %H:%M:%S %Y", t)))
        out.write("From: T %d <t%d@example.org>\nTo: dave@example.org\nSubject: %s\n" % (i, i, subject))
        out.write("Date: %s\n" % time.strftime("%a, %d %b %Y %H:%M:%S +0000", t))
        out.write("Message-ID: <%s-%d@example.org>\nStatus: RO\n" % (subject.replace(" ", "-"), i))
        if xs:
            out.write("X-Status: %s\n" % xs)
        out.write("\n" + ("body line %d of %s\n" % (i, subject)) * (30 + i) + "\n")
PY
)
	python3 -c "$py" "$f"
	chown "$(stat -c %u:%g "$MT_TEST_DIR/mail/alice")" "$f"
	chmod 0644 "$f"
}

# "folder<TAB>messages" of every folder of dave, from doveadm
dave_counts() { dadm -f tab mailbox status -u dave messages '*' | tail -n +2 | LC_ALL=C sort; }
dave_count() { dadm -f tab mailbox status -u dave messages "$1" | tail -n +2 | cut -f2; }

@test "mbox: ls shows dave's folders as doveadm lists them, --status counts equal doveadm's" {
	run -0 --separate-stderr dv ls --tsv
	local out=$output
	run -0 dadm mailbox list -u dave
	local want=$output
	run -0 awk -F'\t' 'NR > 1 { print $1 }' <<<"$out"
	[ "$(LC_ALL=C sort <<<"$output")" = "$(LC_ALL=C sort <<<"$want")" ]
	[[ "$out" == *"INBOX"* ]]
	local f
	for f in Trash Junk Sent Drafts; do
		[ "$(tsv_field "$out" "$f" special_use)" = "\\$f" ]
	done
	# \Noselect folders (an mbox directory such as Archive) have no counts: doveadm skips them
	run -0 --separate-stderr dv ls --status --tsv
	run -0 awk -F'\t' 'NR > 1 && $4 != "" { print $1 "\t" $4 "\t" $6 }' <<<"$output"
	local got=$output
	run -0 dadm -f tab mailbox status -u dave "messages vsize" '*'
	run -0 tail -n +2 <<<"$output"
	[ "$(LC_ALL=C sort <<<"$got")" = "$(LC_ALL=C sort <<<"$output")" ]
	[ "$(tsv_field "$out" INBOX folder)" = INBOX ]
}

@test "mbox: quota equals doveadm quota get for dave" {
	run -0 dadm -f tab quota get -u dave
	local used limit
	used=$(awk -F'\t' '$2 == "STORAGE" { print $3 }' <<<"$output")
	limit=$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")
	case $limit in '' | - | 0) skip "Dovecot reports no storage limit for dave" ;; esac
	run -0 --separate-stderr dv quota --tsv
	[ "$(tsv_field "$output" "User quota" storage_used)" = $((used * 1024)) ]
	[ "$(tsv_field "$output" "User quota" storage_limit)" = $((limit * 1024)) ]
}

@test "mbox: filter moves by subject regex into a new folder; the file shrinks only with the move's expunge" {
	local now i lines=
	now=$(date +%s)
	for i in $(seq 1 12); do
		if [ $((i % 2)) = 0 ]; then lines+="$((now - 86400 * (100 + i)))	invoice $i	"$'\n'
		else lines+="$((now - 86400 * (100 + i)))	report $i	"$'\n'; fi
	done
	dave_mbox T-mfilter <<<"$lines"
	local file="$MT_TEST_DIR/mail/dave/mail/T-mfilter"
	[ "$(dave_count T-mfilter)" = 12 ]
	local sum0 s0
	sum0=$(sha256sum <"$file")
	s0=$(stat -c %s "$file")
	cat >"$BATS_TEST_TMPDIR/rules.conf" <<'EOF2'
rules = ( { name = "inv"; folders = [ "T-mfilter" ]; match = { subject = "^invoice [0-9]+$"; };
            move = "T-minv"; create = true; } );
EOF2
	cat >"$BATS_TEST_TMPDIR/copy.conf" <<'EOF2'
rules = ( { name = "inv"; folders = [ "T-mfilter" ]; match = { subject = "^invoice [0-9]+$"; };
            copy = "T-mcopy"; create = true; } );
EOF2
	# a dry run touches nothing: same bytes, no new folder
	run -0 --separate-stderr dv filter -f "$BATS_TEST_TMPDIR/rules.conf" --dry-run --tsv
	[ "$(tsv_field "$output" inv messages)" = 6 ]
	[ "$(tsv_field "$output" inv action)" = "would move" ]
	[ "$(sha256sum <"$file")" = "$sum0" ]
	run -0 dave_counts
	[[ "$output" != *T-minv* ]]
	# a copy adds the messages elsewhere and leaves the file's messages where they are
	run -0 --separate-stderr dv filter -f "$BATS_TEST_TMPDIR/copy.conf" --tsv
	[ "$(tsv_field "$output" inv messages)" = 6 ]
	[ "$(dave_count T-mfilter)" = 12 ]
	[ "$(dave_count T-mcopy)" = 6 ]
	local s1
	s1=$(stat -c %s "$file")
	[ "$s1" -ge "$s0" ]
	[ "$(grep -c '^Message-ID: <invoice-' "$file")" = 6 ]
	# the move: 6 to the new folder, and their bytes leave the source file
	local moved
	moved=$(dadm -f tab fetch -u dave size.physical mailbox T-mfilter subject invoice | tail -n +2 | awk '{ s += $1 } END { print s }')
	[ "$moved" -gt 0 ]
	run -0 dave_counts
	local before=$output
	run -0 --separate-stderr dv filter -f "$BATS_TEST_TMPDIR/rules.conf" --tsv
	[ "$(tsv_field "$output" inv messages)" = 6 ]
	[ "$(tsv_field "$output" inv action)" = moved ]
	[ "$(dave_count T-mfilter)" = 6 ]
	[ "$(dave_count T-minv)" = 6 ]
	[ "$(dadm search -u dave mailbox T-minv subject report | wc -l)" = 0 ]
	[ "$(dadm search -u dave mailbox T-mfilter subject invoice | wc -l)" = 0 ]
	[ "$(grep -c '^Message-ID: <invoice-' "$file")" = 0 ]
	[ "$(grep -c '^Message-ID: <report-' "$file")" = 6 ]
	[ "$(grep -c '^Message-ID: <invoice-' "$MT_TEST_DIR/mail/dave/mail/T-minv")" = 6 ]
	[ $((s1 - $(stat -c %s "$file"))) -ge $((moved * 9 / 10)) ]
	# every other folder as it was
	run -0 dave_counts
	run -0 diff <(grep -Ev '^(T-mfilter|T-minv)	' <<<"$before") <(grep -Ev '^(T-mfilter|T-minv)	' <<<"$output")
}

@test "mbox: archive --older 1y moves into Archive/%Y by INTERNALDATE (counts from doveadm)" {
	local now y0 y1 y2
	now=$(date +%s)
	y0=$(date -u -d '3 years ago' +%Y)
	y1=$(date -u -d '2 years ago' +%Y)
	y2=$(date -u -d '500 days ago' +%Y)
	# 2 in the oldest year, 1 in each of the others, one young, one old but \Flagged
	dave_mbox T-march <<EOF2
$(date -u -d "$y0-03-01 12:00" +%s)	old a	
$(date -u -d "$y0-09-01 12:00" +%s)	old b	A
$(date -u -d "$y1-06-15 12:00" +%s)	old c	
$(date -u -d '500 days ago' +%s)	old d	
$((now - 10 * 86400))	young	
$(date -u -d "$y1-02-01 12:00" +%s)	old flagged	F
EOF2
	[ "$(dave_count T-march)" = 6 ]
	run -0 dave_counts
	local before=$output
	run -0 --separate-stderr dv archive --older 1y T-march
	[ "$(dave_count T-march)" = 2 ]
	[ "$(dadm search -u dave mailbox T-march subject young | wc -l)" = 1 ]
	[ "$(dadm search -u dave mailbox T-march flagged | wc -l)" = 1 ]
	local -A want=()
	want[$y0]=2
	want[$y1]=$((${want[$y1]:-0} + 1))
	want[$y2]=$((${want[$y2]:-0} + 1))
	local y total=0
	for y in "${!want[@]}"; do
		[ "$(dave_count "Archive/$y")" = "${want[$y]}" ]
		total=$((total + ${want[$y]}))
	done
	[ "$total" = 4 ]
	# flags kept: \Seen everywhere (Status: RO), \Answered on "old b"
	[ "$(dadm search -u dave mailbox "Archive/$y0" seen | wc -l)" = 2 ]
	[ "$(dadm search -u dave mailbox "Archive/$y0" answered | wc -l)" = 1 ]
	# nothing else changed
	run -0 dave_counts
	run -0 diff <(grep -Ev '^(T-march|Archive.*)	' <<<"$before") <(grep -Ev '^(T-march|Archive.*)	' <<<"$output")
}

@test "mbox: subs check agrees with doveadm's subscriptions, exits 1 then 0 after fix --all" {
	# the selectable folders (doveadm's status leaves out \Noselect ones, which
	# subs check never reports)
	run -0 dadm -f tab mailbox status -u dave messages '*'
	run -0 awk -F'\t' 'NR > 1 { print $1 }' <<<"$output"
	local all=$output
	run -0 dadm mailbox list -s -u dave
	local subd=$output
	local missing
	missing=$(comm -23 <(LC_ALL=C sort <<<"$all") <(LC_ALL=C sort <<<"$subd"))
	# INBOX of an mbox user is not subscribed by anything
	[[ "$missing" == *INBOX* ]]
	run -1 --separate-stderr dv subs check --tsv
	run -0 awk -F'\t' 'NR > 1 && $2 == "not subscribed" { print $1 }' <<<"$output"
	[ "$(LC_ALL=C sort <<<"$output")" = "$missing" ]
	run -0 --separate-stderr dv subs fix --all --tsv
	run -0 dadm mailbox list -s -u dave
	[ "$(comm -23 <(LC_ALL=C sort <<<"$all") <(LC_ALL=C sort <<<"$output"))" = "" ]
	[[ "$output" == *INBOX* ]]
	run -0 --separate-stderr dv subs check
	[[ "$output" == *"subscriptions are in order"* ]]
}

# IMAP to dave through Dovecot's imap binary without MOVE (COPY + \Deleted + UID
# EXPUNGE path); with "cut", the connection ends when the client sends UID EXPUNGE
dave_nomove_tunnel() { # cut|whole -> path of a tunnel script
	local t="$BATS_TEST_TMPDIR/tunnel-$1"
	{
		echo '#!/bin/bash'
		if [ "$1" = cut ]; then
			echo 'while IFS= read -r l; do case $l in *" UID EXPUNGE "*) exit 0 ;; esac; printf "%s\n" "$l"; done |'
		fi
		printf '/usr/lib/dovecot/imap -c %q -o %q -u dave 2>>%q\n' "$MT_TEST_DIR/dovecot.conf" \
			"imap_capability=IMAP4rev1 LIST-EXTENDED SPECIAL-USE NAMESPACE QUOTA UIDPLUS" "$MT_DOVECOT_LOG"
	} >"$t"
	chmod +x "$t"
	echo "$t"
}

# a folder of 8 (4 "invoice N") and a run without MOVE cut off at UID EXPUNGE
half_done_move() { # FOLDER TARGET
	local now i lines=
	now=$(date +%s)
	for i in $(seq 1 8); do
		if [ $((i % 2)) = 0 ]; then lines+="$((now - 86400 * (50 + i)))	invoice $i	"$'\n'
		else lines+="$((now - 86400 * (50 + i)))	report $i	"$'\n'; fi
	done
	dave_mbox "$1" <<<"$lines"
	cat >"$BATS_TEST_TMPDIR/rules.conf" <<EOF2
rules = ( { name = "inv"; folders = [ "$1" ]; match = { subject = "^invoice [0-9]+\$"; };
            move = "$2"; create = true; } );
EOF2
	run -75 --separate-stderr "$MT" filter --tunnel "$(dave_nomove_tunnel cut)" --timeout 5s \
		-f "$BATS_TEST_TMPDIR/rules.conf" --tsv
	# copied and flagged \Deleted, not expunged: every message still in the file
	[ "$(dave_count "$1")" = 8 ]
	[ "$(dadm search -u dave mailbox "$1" deleted | wc -l)" = 4 ]
	[ "$(grep -c '^Message-ID: <invoice-' "$MT_TEST_DIR/mail/dave/mail/$1")" = 4 ]
	[ "$(dave_count "$2")" = 4 ]
	[ "$(dadm search -u dave mailbox "$2" keyword '$MailtoolMoving' | wc -l)" = 4 ]
}

@test "mbox: filter without MOVE cut off before UID EXPUNGE leaves the file whole; the next run finishes and it shrinks" {
	half_done_move T-mkill T-mkinv
	local file="$MT_TEST_DIR/mail/dave/mail/T-mkill" s1 moved
	s1=$(stat -c %s "$file")
	moved=$(dadm -f tab fetch -u dave size.physical mailbox T-mkill deleted | tail -n +2 | awk '{ s += $1 } END { print s }')
	[ "$moved" -gt 0 ]
	run -0 --separate-stderr "$MT" filter --tunnel "$(dave_nomove_tunnel whole)" -f "$BATS_TEST_TMPDIR/rules.conf" --tsv
	[ "$(dave_count T-mkill)" = 4 ]
	[ "$(dave_count T-mkinv)" = 4 ]
	[ "$(dadm search -u dave mailbox T-mkill subject invoice | wc -l)" = 0 ]
	[ "$(dadm search -u dave mailbox T-mkinv keyword '$MailtoolMoving' | wc -l)" = 0 ]
	[ "$(dadm search -u dave mailbox T-mkill keyword '$MailtoolMoving' | wc -l)" = 0 ]
	[ "$(grep -c '^Message-ID: <invoice-' "$file")" = 0 ]
	[ "$(grep -c '^Message-ID: <report-' "$file")" = 4 ]
	[ $((s1 - $(stat -c %s "$file"))) -ge $((moved * 9 / 10)) ]
}

@test "mbox: filter over MOVE also finishes a move a run without MOVE left half-done (filter(1): 'the next run')" {
	half_done_move T-mkill2 T-mkinv2
	local file="$MT_TEST_DIR/mail/dave/mail/T-mkill2"
	run -0 --separate-stderr dv filter -f "$BATS_TEST_TMPDIR/rules.conf" --tsv
	[ "$(dave_count T-mkill2)" = 4 ]
	[ "$(dave_count T-mkinv2)" = 4 ]
	[ "$(dadm search -u dave mailbox T-mkinv2 keyword '$MailtoolMoving' | wc -l)" = 0 ]
	[ "$(grep -c '^Message-ID: <invoice-' "$file")" = 0 ]
}
