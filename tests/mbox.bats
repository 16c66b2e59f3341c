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
