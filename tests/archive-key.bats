#!/usr/bin/env bats
# archive-key.bats — the signed flag lines of mbox exports (archive.key), as
# an outside tester attacked them (fourth pass): replayed, swapped and edited
# blocks, exports read where the key is not, key files planted or broken,
# two exports at once, round trips, and the key kept out of every output.
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore_x
	# a key of this test's own
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	mkdir -p -m 700 "$XDG_STATE_HOME"
	KEY="$XDG_STATE_HOME/mailtool/archive.key"
}

view() {
	dadm -f tab fetch -u alice "flags hdr.message-id" mailbox "$1" all | tail -n +2 | sed 's/ *\\Recent//' | LC_ALL=C sort
}

# the line numbers of the From_ lines of mbox $1
from_lines() { grep -n '^From ' "$1" | cut -d: -f1; }

# ---- change 1: signed flag lines ------------------------------------------

@test "a genuine signed block replayed onto another body does not give that body its flags (\\Deleted)" {
	run -0 "$MT" archive --export "$X/t.mbox" --include-flagged Trash
	# message 2 of Trash is \Flagged \Deleted: its From_ line and signed
	# block, then a body the attacker wrote
	mapfile -t F < <(from_lines "$X/t.mbox")
	b=${F[1]}
	sed -n "$((b + 2))p" "$X/t.mbox" | grep -qx 'X-Status: FD'
	{ sed -n "1,$((b - 1))p" "$X/t.mbox"; sed -n "${b},$((b + 4))p" "$X/t.mbox"
	  printf 'From: attacker@evil.example\nSubject: evil\nMessage-ID: <evil@x>\n\nreplayed block\n\n'; } > "$X/r.mbox"
	run --separate-stderr "$MT" archive --import "$X/r.mbox" --into Replay
	echo "$status $output / $stderr"
	view Replay
	# the attacker's body is not the message that block was signed for
	[ "$(view Replay | grep '<evil@x>' | grep -c 'Deleted')" -eq 0 ]
	[ "$(view Replay | grep '<evil@x>' | grep -c 'Flagged')" -eq 0 ]
}

@test "mboxcl2: a genuine signed block replayed in front of other text: the file is refused (65), nothing appended" {
	run -0 "$MT" archive --export "$X/t.mbox" --mbox-format mboxcl2 --include-flagged Trash
	mapfile -t F < <(from_lines "$X/t.mbox")
	b=${F[1]}
	# under message 2's block (its length is about 10 kB) exactly that many
	# bytes: a short message, a message of its own, padding; then the rest
	python3 - "$X/t.mbox" "$b" "$X/r.mbox" <<'PY'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
b = int(sys.argv[2]) - 1
mark = lines[b + 5]
n = int(mark.split(b" ")[3])
evil = b"From: attacker@evil.example\nSubject: evil\nMessage-ID: <evil@x>\n\nshort\n\n"
victim = b"From victim@example.org Mon Jan  1 00:00:00 2024\nFrom: victim@example.org\nSubject: own\nMessage-ID: <victim@x>\n\nvictim body\n"
pad = b"\n" + b"x" * (n - len(evil) - len(victim) - 2) + b"\n"
body = evil + victim + pad
assert len(body) == n
rest = b"\n".join(lines[b + 6:])
nxt = rest.index(b"\nFrom ") + 1
out = b"\n".join(lines[:b + 6]) + b"\n" + body + b"\n" + rest[nxt:]
open(sys.argv[3], "wb").write(out)
PY
	run --separate-stderr "$MT" archive --import "$X/r.mbox" --into Swallow
	echo "$status $output / $stderr"
	# the length was the block's word and the block does not check: the
	# file is not read by it, nothing is appended, no row says otherwise
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"message 2: its signed mboxcl2 lines do not check"* ]]
	[[ "$output" != *Swallow* ]]
	! dadm mailbox list -u alice | grep -qx Swallow
}

@test "an mboxcl2 export imported without its key (another machine): a sender's 'From ' body line does not split the message, or the import stops (65)" {
	dadm mailbox create -u alice Inj
	printf 'From: sender@evil.example\r\nSubject: hello\r\nMessage-ID: <inj1@x>\r\n\r\nhi\r\nFrom boss@corp.example Mon Jan  1 00:00:00 2024\r\nFrom: boss@corp.example\r\nSubject: wire the money\r\nMessage-ID: <forged@x>\r\n\r\nplease\r\n' |
		dadm save -u alice -m Inj
	run -0 "$MT" archive --export "$X/inj.mbox" --mbox-format mboxcl2 Inj
	# another machine: no archive.key there
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/other-machine"
	run --separate-stderr "$MT" archive --import "$X/inj.mbox" --into InjB
	echo "$status $output / $stderr"
	dadm fetch -u alice 'hdr.message-id' mailbox InjB all || true
	# archive(1): "A file whose Content-Length fields disagree with where its
	# From lines are is not guessed at: the import stops before changing
	# anything (65)"; either that, or the message comes back whole
	if [ "$status" -eq 65 ]; then
		[ "$(alice_count InjB all 2>/dev/null || echo 0)" -eq 0 ]
	else
		[ "$status" -eq 0 ]
		[ "$(dadm search -u alice mailbox InjB all | wc -l)" -eq 1 ]
		[ "$(dadm fetch -u alice 'hdr.message-id' mailbox InjB all | grep -c 'forged@x')" -eq 0 ]
	fi
}

@test "an mboxrd export imported without its key (another machine): '>From' lines come back as they were, or the import says to choose --mbox-format" {
	dadm mailbox create -u alice Quo
	printf 'From: s@x.example\r\nSubject: q\r\nMessage-ID: <quo@x>\r\n\r\nline1\r\nFrom you\r\n>From me\r\n>>From them\r\n' |
		dadm save -u alice -m Quo
	run -0 "$MT" archive --export "$X/q.mbox" Quo
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/other-machine"
	run --separate-stderr "$MT" archive --import "$X/q.mbox" --into QuoB
	echo "$status / $stderr"
	body=$(dadm fetch -u alice body mailbox QuoB all | tr -d '\r')
	echo "$body"
	if [[ "$stderr" != *"--mbox-format"* ]]; then
		[[ "$body" == *$'\nFrom you\n>From me\n>>From them'* ]]
	fi
}

@test "an archive.key that is a FIFO: nothing hangs; an import goes on without it, saying so; an export fails (74)" {
	mkdir -p -m 700 "$XDG_STATE_HOME/mailtool"
	mkfifo -m 600 "$KEY"
	printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: s\nMessage-ID: <f@x>\n\nb\n' > "$X/one.mbox"
	run --separate-stderr timeout 8 "$MT" archive --import "$X/one.mbox" --into Fifo --dry-run
	echo "import: $status / $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"archive.key' is not a key of mine"*"flag lines of exports are not read"* ]]
	run --separate-stderr timeout 8 "$MT" archive --export "$X/f.mbox" 'Old Stuff'
	echo "export: $status / $stderr"
	[ "$status" -eq 74 ]
	[ ! -e "$X/f.mbox" ]
}

@test "archive.key of the wrong mode, size or owner, a link, or a linked state directory: refused (74), never replaced" {
	mkdir -p -m 700 "$XDG_STATE_HOME/mailtool"
	head -c 32 /dev/urandom > "$KEY"
	chmod 644 "$KEY"
	sum=$(sha256sum < "$KEY")
	run -74 --separate-stderr "$MT" archive --export "$X/a.mbox" 'Old Stuff'
	[[ "$stderr" == *"not a key of mine"* ]]
	[ "$(sha256sum < "$KEY")" = "$sum" ]
	chmod 600 "$KEY"; head -c 33 /dev/urandom > "$KEY"
	run -74 "$MT" archive --export "$X/a.mbox" 'Old Stuff'
	rm "$KEY"; head -c 32 /dev/urandom > "$X/k"; chmod 600 "$X/k"; ln -s "$X/k" "$KEY"
	run -74 "$MT" archive --export "$X/a.mbox" 'Old Stuff'
	rm "$KEY"
	if [ "$(id -u)" -eq 0 ]; then
		head -c 32 /dev/urandom > "$KEY"; chmod 600 "$KEY"; chown nobody "$KEY"
		run -74 "$MT" archive --export "$X/a.mbox" 'Old Stuff'
		rm -f "$KEY"
	fi
	mv "$XDG_STATE_HOME/mailtool" "$XDG_STATE_HOME/real"
	ln -s real "$XDG_STATE_HOME/mailtool"
	run -74 "$MT" archive --export "$X/a.mbox" 'Old Stuff'
	[ ! -e "$XDG_STATE_HOME/real/archive.key" ]
	[ ! -e "$X/a.mbox" ]
}

@test "import (and its dry run) of a foreign mbox neither needs nor makes a state directory" {
	printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: s\nMessage-ID: <ro@x>\n\nb\n' > "$X/one.mbox"
	# a system user's HOME that does not exist (HOME=/nonexistent)
	run --separate-stderr env -u XDG_STATE_HOME HOME="$BATS_TEST_TMPDIR/nonexistent" "$MT" archive --import "$X/one.mbox" --into RO --dry-run
	echo "$status / $stderr"
	[ "$status" -eq 0 ]
	[ ! -e "$BATS_TEST_TMPDIR/nonexistent" ]
	# a state directory that cannot be made: the import works as before
	run --separate-stderr env XDG_STATE_HOME=/proc/none "$MT" archive --import "$X/one.mbox" --into RO
	echo "$status / $stderr"
	[ "$status" -eq 0 ]
	[ "$(alice_count RO all)" -eq 1 ]
}

@test "export --dry-run makes no key; two exports started at once share one key and both import with flags" {
	run -0 "$MT" archive --export "$X/d.mbox" --dry-run Trash
	[ ! -e "$KEY" ]
	for rnd in 1 2 3; do
		rm -rf "$XDG_STATE_HOME/mailtool"
		"$MT" archive --export "$X/a$rnd.mbox" --include-flagged Trash >/dev/null &
		"$MT" archive --export "$X/b$rnd.mbox" --include-flagged 'Old Stuff' >/dev/null &
		wait
		[ "$(stat -c %a "$KEY")" = 600 ]
		[ "$(ls "$XDG_STATE_HOME/mailtool")" = archive.key ]
		run --separate-stderr "$MT" archive --import "$X/a$rnd.mbox" --into "A$rnd" --dry-run
		echo "A$rnd: $status / $stderr"
		[[ "$stderr" != *"not read as flags"* ]]
		run --separate-stderr "$MT" archive --import "$X/b$rnd.mbox" --into "B$rnd" --dry-run
		echo "B$rnd: $status / $stderr"
		[[ "$stderr" != *"not read as flags"* ]]
	done
}

@test "a changed From_ date or sender, upper-case hex, CRLF lines: the block is text, no \\Deleted comes back" {
	run -0 "$MT" archive --export "$X/t.mbox" --include-flagged Trash
	mapfile -t F < <(from_lines "$X/t.mbox")
	b=${F[1]}
	sed "${b}s/\\([0-9][0-9]\\) 20\\([0-9][0-9]\\)\$/\\1 19\\2/" "$X/t.mbox" > "$X/v1.mbox"
	sed "${b}s/^From [^ ]*/From eve@evil.example/" "$X/t.mbox" > "$X/v2.mbox"
	sed "$((b + 4))s/ [0-9a-f]*\$/\\U&/" "$X/t.mbox" > "$X/v3.mbox"
	sed 's/$/\r/' "$X/t.mbox" > "$X/v4.mbox"
	for v in 1 2 3; do
		run -1 cmp -s "$X/t.mbox" "$X/v$v.mbox"
		run -0 "$MT" archive --import "$X/v$v.mbox" --into "V$v"
		# only Trash's other \Deleted message (19) keeps it
		[ "$(dadm search -u alice mailbox "V$v" deleted | wc -l)" -eq 1 ]
	done
	run -0 "$MT" archive --import "$X/v4.mbox" --into V4
	[ "$(dadm search -u alice mailbox V4 deleted | wc -l)" -eq 0 ]
}

@test "round trips keep flags and keywords exactly: mbox, mbox.gz, mboxcl2" {
	dadm flags add -u alice '$Label1 kw2' mailbox Trash uid 3:5
	for f in "t.mbox" "t.mbox.gz" "t3.mbox --mbox-format mboxcl2"; do
		p=${f%% *}
		run -0 "$MT" archive --export "$X/$p" ${f#"$p"} --include-flagged Trash
		n="RT-${p//./-}"
		run --separate-stderr "$MT" archive --import "$X/$p" --into "$n"
		echo "$p: $status / $stderr"
		[ "$status" -eq 0 ]
		[[ "$stderr" != *"not read as flags"* ]]
		[ "$(view "$n")" = "$(view Trash)" ]
	done
}

@test "the key never shows in output, --trace, a tunnel's environment or its open files" {
	tun="cat /proc/self/environ > $X/env; ls -l /proc/\$\$/fd > $X/fds; exec $MT_TUNNEL_ALICE"
	run -0 --separate-stderr "$MT" archive --tunnel "$tun" --trace --export "$X/t.mbox" --include-flagged Trash
	k=$(od -An -tx1 -v "$KEY" | tr -d ' \n')
	[ "${#k}" -eq 64 ]
	out="$output$stderr"
	run -0 --separate-stderr "$MT" archive --tunnel "$tun" --trace --import "$X/t.mbox" --into TR
	out="$out$output$stderr$(cat "$X/env")"
	[[ "$out" != *"$k"* ]]
	[[ "$out" != *"${k:0:32}"* ]]
	[ "$(grep -c archive.key "$X/fds")" -eq 0 ]
}

# ---- change 2: diagnostics -------------------------------------------------


# a signed block on a message too large to read whole cannot be checked: the
# file's flavour (mboxrd) or the next message's start (mboxcl2) is then
# unknown, and the import stops rather than guess
@test "an export whose signed block cannot be checked (its message past --max-message) is not read by it (65)" {
	dadm mailbox create -u alice BigFirst
	python3 -c 'import sys; sys.stdout.write("Subject: big\r\nMessage-ID: <big@x>\r\n\r\n" + ("y" * 70 + "\r\nFrom here\r\n") * 400)' |
		dadm save -u alice -m BigFirst
	printf 'Subject: small\r\nMessage-ID: <small@x>\r\n\r\n>From there\r\n' | dadm save -u alice -m BigFirst
	dadm flags add -u alice '\Answered' mailbox BigFirst all
	for fmt in mboxrd mboxcl2; do
		rm -f "$X/big.mbox"
		run -0 "$MT" archive --export "$X/big.mbox" --mbox-format "$fmt" BigFirst
		run --separate-stderr "$MT" archive --import "$X/big.mbox" --into "Big$fmt" --max-message 1k
		echo "$fmt: $status $output / $stderr"
		[ "$status" -eq 65 ]
		[[ "$stderr" == *"cannot be checked"* && "$stderr" == *"--max-message"* ]]
		! dadm mailbox list -u alice | grep -qx "Big$fmt"
		# with room, the same file comes back whole, flags and all
		run -0 "$MT" archive --import "$X/big.mbox" --into "Big$fmt"
		[ "$(dadm search -u alice mailbox "Big$fmt" answered | wc -l)" -eq 2 ]
		dadm fetch -u alice body mailbox "Big$fmt" header message-id '<small@x>' | grep -q '^>From there'
		[ "$(dadm fetch -u alice body mailbox "Big$fmt" header message-id '<big@x>' | grep -c '^From here')" -eq 400 ]
	done
}
