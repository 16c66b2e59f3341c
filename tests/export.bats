#!/usr/bin/env bats
# archive --export / --import against the suite's Dovecot: round trips into
# new folders compared message by message (SHA-256 of the RFC822 bytes read
# by an independent IMAP client, flags, INTERNALDATE), mboxrd quoting,
# verification that blocks deletion, interruption, bad archives.
load helpers

# alice's fixture: regenerated once, restored from a copy per test (helpers.bash)
setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() { alice_restore_x; }


@test "export to mbox, mbox.gz and Maildir, import each into a new folder: identical messages, flags and dates" {
	want=$(view Lists/dev)
	[ "$(echo "$want" | wc -l)" -eq 40 ]
	for ext in mbox mbox.gz d; do
		run "$MT" archive --export "$X/dev.$ext" --include-flagged Lists/dev
		echo "$output"
		[ "$status" -eq 0 ]
		[ -z "$(ls -A "$X" | grep -F '%tmp.')" ]   # no temporary left
		run "$MT" archive --import "$X/dev.$ext" --into "Back/${ext//./-}"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(view "Back/${ext//./-}")" = "$want" ]
	done
	# the export took nothing from the server
	[ "$(alice_count Lists/dev)" -eq 40 ]
	# the gzip file really is one, and the Maildir has its flags in the names
	gzip -t "$X/dev.mbox.gz"
	ls "$X/dev.d/cur" | grep -q ':2,.*S'
}

@test "mboxrd quoting survives messages with From and >From lines" {
	dadm mailbox create -u alice Q
	printf 'From: a@example.org\r\nSubject: quoting\r\nMessage-ID: <q1@x>\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\nFromage\r\n \r\nFrom \r\n' |
		dadm save -u alice -m Q
	printf 'From: b@example.org\r\nSubject: second\r\nMessage-ID: <q2@x>\r\n\r\nno newline at the end' | dadm save -u alice -m Q
	want=$(view Q)
	run "$MT" archive --export "$X/q.mbox" --include-flagged Q
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx '>From the start' "$X/q.mbox"
	grep -qx '>>From quoted' "$X/q.mbox"
	grep -qx '>>>From twice' "$X/q.mbox"
	grep -qx 'Fromage' "$X/q.mbox"
	[ "$(grep -c '^From ' "$X/q.mbox")" -eq 2 ]
	run "$MT" archive --import "$X/q.mbox" --into Q2
	[ "$status" -eq 0 ]
	# the first message comes back byte for byte; the second, which had no
	# final line end, gains one (an mbox cannot say otherwise)
	q1=$(printf 'From: a@example.org\r\nSubject: quoting\r\nMessage-ID: <q1@x>\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\nFromage\r\n \r\nFrom \r\n' | sha256sum | cut -d' ' -f1)
	q2=$(printf 'From: b@example.org\r\nSubject: second\r\nMessage-ID: <q2@x>\r\n\r\nno newline at the end\r\n' | sha256sum | cut -d' ' -f1)
	view Q2 | grep -q "^$q1 "
	view Q2 | grep -q "^$q2 "
	[ "$(view Q2 | wc -l)" -eq 2 ]
}

@test "--delete-after-export removes exactly the exported messages, and nothing when verification fails" {
	n=$(alice_count Lists/announce)
	old=$(dadm search -u alice mailbox Lists/announce before 365d unflagged | wc -l)
	[ "$old" -gt 0 ]
	MAILTOOL_TEST_HOOK_AFTER_EXPORT='printf "X" >> "$MAILTOOL_EXPORT_PATH/cur/$(ls "$MAILTOOL_EXPORT_PATH/cur" | head -1)"' \
		run --separate-stderr "$MT" archive --export "$X/bad.d" --older 365d --delete-after-export Lists/announce
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"verification"*"nothing removed from the server"* ]]
	[ "$(alice_count Lists/announce)" -eq "$n" ]
	run "$MT" archive --export "$X/ann.mbox.gz" --older 365d --delete-after-export Lists/announce
	[ "$status" -eq 0 ]
	[ "$(alice_count Lists/announce)" -eq $((n - old)) ]
	[ "$(dadm search -u alice mailbox Lists/announce before 365d unflagged | wc -l)" -eq 0 ]
	[ "$(zcat "$X/ann.mbox.gz" | grep -c '^From ')" -eq "$old" ]
}

@test "a killed export leaves the server untouched and no file under the final name; a rerun completes it" {
	n=$(alice_count INBOX)
	MAILTOOL_TEST_HOOK_AFTER_EXPORT='kill -9 $PPID' run "$MT" archive --export "$X/in.mbox" --include-flagged --delete-after-export INBOX
	[ "$status" -ne 0 ]
	[ "$(alice_count INBOX)" -eq "$n" ]
	# killed after the rename but before verification: the file is complete; a
	# kill while writing leaves only its temporary (%tmp.XXXXXX.in2.mbox)
	[ "$(grep -c '^From ' "$X/in.mbox")" -eq "$n" ]   # renamed complete, then killed
	# killed while writing: only the temporary, and the server untouched
	timeout -s KILL 0.3 "$MT" archive --export "$X/in2.mbox" --include-flagged --delete-after-export INBOX || true
	if [ -e "$X/in2.mbox" ]; then
		[ "$(grep -c '^From ' "$X/in2.mbox")" -eq "$n" ]   # (a fast machine finished first)
		rm -f "$X/in2.mbox"
	else
		[ "$(alice_count INBOX)" -eq "$n" ]
	fi
	n=$(alice_count INBOX)
	left=$(ls -A "$X" | grep -E '^%tmp\.[a-z0-9]{6}\.in2\.mbox$' || true)
	run "$MT" archive --export "$X/in2.mbox" --include-flagged INBOX
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$X" | grep -E '^%tmp\.[a-z0-9]{6}\.in2\.mbox$' | grep -vxFf <(echo "$left"))" ]
	# the killed run's temporary is named, and left alone
	if [ -n "$left" ]; then
		[ -e "$X/$left" ]
		[[ "$output" == *"$left"*"interrupted run"* ]]
	fi
	[ "$(grep -c '^From ' "$X/in2.mbox")" -eq "$n" ]
}

@test "--skip-existing: a second import adds nothing" {
	run "$MT" archive --export "$X/sent.mbox" --include-flagged Sent
	[ "$status" -eq 0 ]
	run "$MT" archive --import "$X/sent.mbox" --into S2 --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"appended":80,"skipped":0,"failed":0'* ]]
	run "$MT" archive --import "$X/sent.mbox" --into S2 --skip-existing --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"appended":0,"skipped":80,"failed":0'* ]]
	[ "$(alice_count S2)" -eq 80 ]
}

@test "several folders export into a directory, one archive per folder, all inside it" {
	touch "$BATS_TEST_TMPDIR/marker"
	sleep 1
	run "$MT" archive --export "$X/all" --format mbox.gz --include-flagged 'Lists/*' 'Projets/*'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(zcat "$X/all/Lists/dev.mbox.gz" | grep -c '^From ')" -eq "$(alice_count Lists/dev)" ]
	[ "$(zcat "$X/all/Lists/announce.mbox.gz" | grep -c '^From ')" -eq "$(alice_count Lists/announce)" ]
	[ -f "$X/all/Projets/Été.mbox.gz" ]
	# nothing new anywhere but under $X/all (hostile names: see unit safepath)
	[ -z "$(find "$BATS_TEST_TMPDIR" -newer "$BATS_TEST_TMPDIR/marker" -type f | grep -v "^$X/all/")" ]
}

@test "a directory of .eml files imports with its file times as dates" {
	mkdir "$X/eml"
	for i in 1 2 3; do
		printf 'From: e@example.org\r\nSubject: eml %s\r\nMessage-ID: <eml%s@x>\r\n\r\nbody\r\n' $i $i > "$X/eml/$i.eml"
		touch -d "2020-0$i-15 12:00:00 UTC" "$X/eml/$i.eml"
	done
	run "$MT" archive --import "$X/eml" --into Eml
	[ "$status" -eq 0 ]
	[ "$(alice_count Eml)" -eq 3 ]
	[ "$(alice_count Eml before 2020-02-01)" -eq 1 ]
}

@test "bad archives: not an mbox, truncated gzip, an empty message (no server takes one); clear errors" {
	printf 'hello\nworld\n' > "$X/junk.mbox"
	run --separate-stderr "$MT" archive --import "$X/junk.mbox" --into J
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"neither an mbox"* ]]
	run "$MT" archive --export "$X/t.mbox.gz" --include-flagged Sent
	[ "$status" -eq 0 ]
	head -c 3000 "$X/t.mbox.gz" > "$X/cut.mbox.gz"
	run --separate-stderr "$MT" archive --import "$X/cut.mbox.gz" --into J
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"truncated or corrupt gzip"* ]]
	# a message no server takes, an empty one: skipped and named before any APPEND
	printf 'From a@b Sun Nov 22 10:00:00 2026\nSubject: ok\n\nfine\n\nFrom a@b Sun Nov 22 10:00:00 2026\n\nFrom a@b Sun Nov 22 10:00:00 2026\nSubject: ok too\n\nfine\n' > "$X/mixed.mbox"
	run --separate-stderr "$MT" archive --import "$X/mixed.mbox" --into Mixed --json
	echo "$output $stderr"
	[[ "$output" == *'"appended":2,'*'"skipped_empty":1,'* ]]
	[[ "$stderr" == *"message 2 of"*"empty"*"not appended"* ]]
	[ "$status" -eq 65 ]
	[ "$(alice_count Mixed)" -eq 2 ]
	run "$MT" archive --export "$X/dev.mbox" Lists/dev
	run --separate-stderr "$MT" archive --export "$X/dev.mbox" Lists/dev
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"already exists"* ]]
	run --separate-stderr "$MT" archive --import "$X/nope.mbox" --into J
	[ "$status" -eq 74 ]
}

@test "without LITERAL+ and MULTIAPPEND import appends one message at a time, same result" {
	run "$MT" archive --export "$X/dev.mbox" --include-flagged Lists/dev
	[ "$status" -eq 0 ]
	tun=$(mt_tunnel_caps "IMAP4rev1 LIST-EXTENDED SPECIAL-USE NAMESPACE UIDPLUS")
	run "$MT" archive --import "$X/dev.mbox" --into Plain --tunnel "$tun" --trace
	[ "$status" -eq 0 ]
	[[ "$output" != *"{"*"+}"* ]]
	[ "$(view Plain)" = "$(view Lists/dev)" ]
}

@test "a full disk (file size limit) fails the export cleanly: exit 74, no archive, server untouched" {
	n=$(alice_count INBOX)
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 200; exec \"\$0\" archive --export \"\$1\" --include-flagged --delete-after-export INBOX" "$MT" "$X/full.mbox"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"full.mbox"* ]]
	[ -z "$(ls -A "$X")" ]   # neither the archive nor its temporary
	[ "$(alice_count INBOX)" -eq "$n" ]
}

@test "a full disk (a 1 MiB tmpfs, ENOSPC) fails the export cleanly: exit 74, no archive, server untouched" {
	# root can mount one (CI and make check run as root); elsewhere the
	# file-size-limit test above stands for it
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	local fs="$BATS_TEST_TMPDIR/small" n
	mkdir -p "$fs"
	mount -t tmpfs -o size=1m tmpfs "$fs"
	n=$(alice_count INBOX)
	run --separate-stderr "$MT" archive --export "$fs/full.mbox" --include-flagged --delete-after-export INBOX
	local files
	files=$(ls -A "$fs")
	umount "$fs"
	echo "$stderr"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"full.mbox"* ]]
	[[ "${stderr,,}" == *"no space left on device"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[ -z "$files" ]
	[ "$(alice_count INBOX)" -eq "$n" ]
}

@test "an archive already in place: --delete-after-export removes only what it holds, else nothing (65)" {
	n=$(alice_count Lists/announce)
	# a run killed between the rename and the removal leaves this behind
	run -0 "$MT" archive --export "$X/ann.mbox" --include-flagged Lists/announce
	run -0 --separate-stderr "$MT" archive --export "$X/ann.mbox" --include-flagged --delete-after-export Lists/announce
	[ "$(alice_count Lists/announce)" -eq 0 ]
	[ "$(grep -c '^From ' "$X/ann.mbox")" -eq "$n" ]
	[ "$(ls -A "$X")" = ann.mbox ]   # the check against it wrote nothing
	# an archive that lacks some of the selection: nothing is removed
	m=$(alice_count Lists/dev)
	run -0 "$MT" archive --export "$X/dev.mbox" --older 365d --include-flagged Lists/dev
	run --separate-stderr "$MT" archive --export "$X/dev.mbox" --include-flagged --delete-after-export Lists/dev
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"lacks"*"nothing removed from the server"* ]]
	[ "$(alice_count Lists/dev)" -eq "$m" ]
	# without --delete-after-export an existing archive is never overwritten
	run --separate-stderr "$MT" archive --export "$X/dev.mbox" Lists/dev
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"already exists"* ]]
}

@test "an archive extension mailtool does not write is refused (64) before anything is made; --format says it" {
	before=$(alice_count Lists/announce)
	for p in x.zip x.tar.gz x.gz x.mbx; do
		run --separate-stderr "$MT" archive --export "$X/$p" --older 365d Lists/announce
		[ "$status" -eq 64 ]
		[[ "$stderr" == *"'$X/$p': an archive extension"*"--format"* ]]
		[ ! -e "$X/$p" ]
	done
	run -0 "$MT" archive --export "$X/x.zip" --format maildir --older 365d Lists/announce
	[ -d "$X/x.zip/cur" ]
	# a --layout is a Maildir's, and says the format too
	run -0 "$MT" archive --export "$X/x.pp" --layout maildir++ --older 365d Lists/announce
	[ -d "$X/x.pp" ]
	for p in plain dated.2024-12 box.d box.maildir; do
		run -0 "$MT" archive --export "$X/$p" --older 365d Lists/announce
		[ -d "$X/$p/cur" ]
	done
	[ "$(alice_count Lists/announce)" -eq "$before" ]
}
