#!/usr/bin/env bats
# Trust: what a run acts on is exactly what it asked about and decided, a
# dry run or a failed validation changes nothing, one invocation's options
# never reach the next, errors are never read as "no match", and what a
# sender or a server wrote never reaches the terminal raw. Real Dovecot where
# it can show the case; the scripted fake server for answers real servers
# never give. Every case here failed on main before the fix (e163cc4).
load helpers

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	R="$BATS_TEST_TMPDIR/rules.conf"
}

rules() { printf '%s\n' "$1" > "$R"; }
# refute CMD...: fails (and says so) when CMD succeeds ("! CMD" does not fail a BATS test)
refute() {
	if "$@"; then
		echo "refuted, yet true: $*"
		return 1
	fi
}
# lacks BYTES TEXT: fails when TEXT contains BYTES
lacks() {
	if printf '%s' "$2" | grep -q "$1"; then
		echo "found $(printf '%s' "$1" | od -An -c) in the output"
		return 1
	fi
}

count() { dadm search -u alice mailbox "$@" | wc -l; }
put() {  # FOLDER SUBJECT: one small message
	printf 'From: s@example.org\r\nSubject: %s\r\nMessage-ID: <%s@t>\r\n\r\nbody\r\n' "$2" "${2// /_}" |
		dadm save -u alice -m "$1"
}

# ---- UIDs from a server answer are intersected with the set asked --------

# a fake server whose INBOX has UIDNEXT $1 and EXISTS $2, whose fresh-mail
# SEARCH answers $3 and whose rule SEARCH answers $4
scoped_server() {
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] in
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^LSUB => {tag} OK done
ON ^STATUS => * STATUS INBOX (MESSAGES $2 UIDNEXT $1 UIDVALIDITY 7)\r\n{tag} OK done
ON ^SELECT => * $2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT $1] n\r\n{tag} OK [READ-WRITE] done
ON ^UID SEARCH .*LARGER => * SEARCH $4\r\n{tag} OK done
ON ^UID SEARCH => * SEARCH $3\r\n{tag} OK done
ON ^(UID )?(STORE|EXPUNGE|MOVE|COPY) => {tag} OK done
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>"
}

@test "filter --new never acts on UIDs the server names outside the scope it was asked" {
	rules 'rules = ( { name = "big"; folder = "INBOX"; match = { larger = "1k"; }; expunge = true; } );'
	# a first run records UIDNEXT 5 (nothing matched)
	scoped_server 5 4 "" ""
	run --separate-stderr mt_fake filter -f "$R" --new --no-tls
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	# then 1001 new messages (5..1005): the path that decides by SEARCH alone;
	# the rule's SEARCH over them is answered with old UIDs 1 2 3
	scoped_server 1006 1005 "$(seq -s ' ' 5 1005)" "1 2 3"
	# (the state is kept per account, and the account names the fake's new port)
	sed -i "s/|127.0.0.1|[0-9]*|/|127.0.0.1|$FAKE_PORT|/" "$XDG_STATE_HOME/mailtool/filter.state"
	run --separate-stderr mt_fake filter -f "$R" --new --no-tls
	echo "$output / $stderr"
	grep -v AUTHENTICATE "$FAKE_LOG" | cut -c1-120
	[ "$status" -eq 0 ]
	refute grep -qiE '^[^ ]+ (UID )?(STORE|EXPUNGE|MOVE|COPY)' "$FAKE_LOG"
}

@test "expunge never removes UIDs its SEARCH answer names beyond the folder's UIDNEXT" {
	# EXAMINE says UIDNEXT 3: UIDs 7 and 9 cannot be in the folder the run looked at
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] in
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^LSUB => {tag} OK done
ON ^(EXAMINE|SELECT) => * 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 3] n\r\n{tag} OK done
ON ^UID SEARCH => * SEARCH 7 9\r\n{tag} OK done
ON ^UID FETCH => * 1 FETCH (UID 7 RFC822.SIZE 5000)\r\n* 2 FETCH (UID 9 RFC822.SIZE 5000)\r\n{tag} OK done
ON ^(UID )?(STORE|EXPUNGE|MOVE|COPY) => {tag} OK done
ON ^NOOP => {tag} OK done
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>"
	run --separate-stderr mt_fake expunge --no-tls --larger 1k INBOX
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	refute grep -qiE '^[^ ]+ (UID )?(STORE|EXPUNGE|MOVE|COPY)' "$FAKE_LOG"
}

@test "filter --new: mail arriving between SELECT and a rule's SEARCH is acted on once, by the next run" {
	dadm mailbox create -u alice Copies
	# (the first rule's SEARCH is where the server tells the session of the new message)
	rules 'rules = ( { name = "first"; folder = "INBOX"; match = { subject = "nothing has this"; }; flag = "$X"; },
	  { name = "late"; folder = "INBOX"; match = { subject = "Late arrival"; }; copy = "Copies"; } );'
	# the hook runs once the folder is open: the message arrives right then
	hook="$BATS_TEST_TMPDIR/deliver"
	printf '#!/bin/sh\n[ -e %s.done ] && exit 0\n: > %s.done\nprintf "From: s@example.org\\r\\nSubject: Late arrival\\r\\nMessage-ID: <late@t>\\r\\n\\r\\nx\\r\\n" | %s save -u alice -m INBOX\n' \
		"$hook" "$hook" "$MT_DOVEADM" > "$hook"
	chmod +x "$hook"
	MAILTOOL_TEST_HOOK_AFTER_SELECT="$hook" run "$MT" filter -f "$R" --new
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count INBOX subject 'Late arrival')" -eq 1 ]
	run "$MT" filter -f "$R" --new
	echo "$output"
	[ "$status" -eq 0 ]
	run "$MT" filter -f "$R" --new
	[ "$status" -eq 0 ]
	# copied exactly once over the three runs
	[ "$(count Copies subject 'Late arrival')" -eq 1 ]
}

# ---- nothing changes before everything was checked -------------------------

@test "filter: a rule that fails validation leaves the server as it was, even an earlier rule's create = true folder" {
	rules 'rules = (
	  { name = "one"; folder = "INBOX"; match = { larger = "1M"; }; move = "Made/By/Rule"; create = true; },
	  { name = "two"; folder = "No such folder"; match = { larger = "1M"; }; move = "Archive"; } );'
	before=$(server_state)
	run --separate-stderr "$MT" filter -f "$R"
	echo "$output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'two': no folder 'No such folder'"* ]]
	[ "$(server_state)" = "$before" ]
}

@test "filter --log never writes through a symbolic link, nor into anything but a regular file" {
	rules 'rules = ( { name = "big"; folder = "INBOX"; match = { larger = "2M"; }; flag = "$Big"; } );'
	victim="$BATS_TEST_TMPDIR/victim"
	echo "precious" > "$victim"
	ln -s "$victim" "$BATS_TEST_TMPDIR/log.jsonl"
	before=$(server_state)
	run --separate-stderr "$MT" filter -f "$R" --log "$BATS_TEST_TMPDIR/log.jsonl"
	echo "$output / $stderr"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"symbolic link"* ]]
	[ "$(cat "$victim")" = "precious" ]
	[ "$(server_state)" = "$before" ]
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run --separate-stderr timeout 10 "$MT" filter -f "$R" --log "$BATS_TEST_TMPDIR/fifo"
	[ "$status" -eq 74 ]
	# a real file works, one JSON line per message flagged
	run "$MT" filter -f "$R" --log "$BATS_TEST_TMPDIR/real.jsonl"
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$BATS_TEST_TMPDIR/real.jsonl")" -eq "$(count INBOX keyword '$Big')" ]
	[ "$(count INBOX keyword '$Big')" -gt 0 ]
}

# ---- a dry run says exactly what the real run does ------------------------

@test "subs import: the dry run reports exactly what the real run does, and no subscription is dropped unasked" {
	dadm mailbox create -u alice Kept
	dadm mailbox subscribe -u alice Kept
	printf 'Lists/dev\nNot here at all\nOld Stuff\n' > "$BATS_TEST_TMPDIR/list"
	dadm mailbox unsubscribe -u alice Lists/dev
	before=$(server_state)
	run --separate-stderr "$MT" subs import --dry-run --tsv "$BATS_TEST_TMPDIR/list"
	dry_status=$status dry=$output
	echo "$dry / $stderr"
	[ "$(server_state)" = "$before" ]
	run --separate-stderr "$MT" subs import --tsv "$BATS_TEST_TMPDIR/list"
	echo "$output / $stderr"
	[ "$status" -eq "$dry_status" ]
	[ "$status" -eq 65 ]
	[ "${dry//would subscribe/subscribed}" = "$output" ]
	[[ "$output" == *"Not here at all	no such folder here: not subscribed"* ]]
	# what the user had subscribed and the list does not name is still subscribed
	dadm mailbox list -u alice -s | grep -qx Kept
	dadm mailbox list -u alice -s | grep -qx Lists/dev
	lacks "Not here at all" "$(dadm mailbox list -u alice -s)"
}

# ---- one invocation's options never reach the next ------------------------

@test "batch: one line's -q does not silence the next line" {
	run --separate-stderr "$MT" -e 'quota -q; du --tsv; quota -q'
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	# du's table, and nothing of either quota
	[ "$(echo "$output" | head -n 1 | cut -f1)" = "folder" ]
	[[ "$output" == *"INBOX	"* ]]
	[[ "$output" != *STORAGE* ]]
	# and a line's --json or -v stays that line's
	run --separate-stderr "$MT" -e 'du --json INBOX; du --tsv INBOX; quota -v; quota'
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^{')" -eq 2 ]   # INBOX and the total, of du --json only
	[ "$(echo "$output" | grep -c '^folder	messages')" -eq 1 ]
	[ "$(echo "$stderr" | grep -c 'round trips')" -eq 1 ]
}

# ---- an error is never "no match" -----------------------------------------

# a subject on which '(a+)+c' backtracks beyond any limit
evil_subject() { printf 'a%.0s' $(seq 40); printf 'x'; }

@test "expunge --subject: a regex that hits PCRE2's limit leaves the message alone and exits 65" {
	dadm mailbox create -u alice R
	put R "$(evil_subject)"
	put R "aac plain"
	before=$(server_state)
	run --separate-stderr "$MT" expunge --subject '(a+)+c|a+b' R
	echo "$output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'R' UID 1: regular expression match limit reached"*"left alone"* ]]
	# the one it could decide is gone, the other stays
	[ "$(count R)" -eq 1 ]
	[ "$(count R subject aaaaaaaaaa)" -eq 1 ]
}

@test "filter: not = { subject = ... } never moves a message whose subject the regex could not decide" {
	dadm mailbox create -u alice R
	put R "$(evil_subject)"
	put R "harmless"
	rules 'rules = ( { name = "notc"; folder = "R"; match = { not = { subject = "(a+)+c|a+b"; }; }; move = "Moved"; create = true; } );'
	run --separate-stderr "$MT" filter -f "$R"
	echo "$output / $stderr"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'notc': 'R' UID 1: regular expression match limit reached"* ]]
	[ "$(count R subject aaaaaaaaaa)" -eq 1 ]
	[ "$(count Moved subject harmless)" -eq 1 ]
	# the limits are the rules file's to set: 20 a's need a few million steps,
	# more than the default allows and well within a generous limit
	dadm mailbox create -u alice R2
	put R2 "aaaaaaaaaaaaaaaaaaaax"
	rules 'rules = ( { name = "notc"; folder = "R2"; match = { not = { subject = "(a+)+c|a+b"; }; }; move = "Moved"; } );'
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 65 ]
	[ "$(count R2)" -eq 1 ]
	rules 'regex_match_limit = 100000000;
rules = ( { name = "notc"; folder = "R2"; match = { not = { subject = "(a+)+c|a+b"; }; }; move = "Moved"; } );'
	run --separate-stderr timeout 120 "$MT" filter -f "$R"
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[ "$(count R2)" -eq 0 ]
	rules 'regex_match_limit = 0;
rules = ( { name = "notc"; folder = "R2"; match = { subject = "x"; }; flag = "$X"; } );'
	run --separate-stderr "$MT" filter -f "$R"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"regex_match_limit: must be between 1 and"* ]]
}

@test "filter: one message with 50 crafted headers against an any-header rule is decided or refused in seconds" {
	dadm mailbox create -u alice R
	{
		printf 'From: s@example.org\r\nSubject: many\r\nMessage-ID: <many@t>\r\n'
		for i in $(seq 50); do printf 'X-H%d: %s\r\n' "$i" "$(evil_subject)$(evil_subject)"; done
		printf '\r\nbody\r\n'
	} | dadm save -u alice -m R
	rules 'rules = ( { name = "ah"; folder = "R"; match = { any-header = "(a+)+c|a+b"; }; flag = "$Hit"; } );'
	start=$SECONDS
	run --separate-stderr timeout 60 "$MT" filter -f "$R"
	echo "$output / $stderr ($((SECONDS - start)) s)"
	[ "$status" -eq 65 ]
	[ $((SECONDS - start)) -le 10 ]
	[ "$(count R keyword '$Hit')" -eq 0 ]
}

# ---- secrets: as few copies as possible, none in cores or children --------

# occurrences of each argument in the readable memory of process $1 (read
# through /proc as root; the process is not dumpable, ptrace rights are)
mem_hits() {
	python3 - "$@" <<'PY'
import re, sys
pid, needles = sys.argv[1], [n.encode() for n in sys.argv[2:]]
hits = 0
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        a, perms = line.split()[:2]
        if "r" not in perms or "[vvar]" in line or "[vsyscall]" in line:
            continue
        lo, hi = (int(x, 16) for x in a.split("-"))
        if hi - lo > (1 << 30):
            continue   # a sanitizer's shadow or reserve: no data of ours
        for at in range(lo, hi, 1 << 24):   # 16 MiB at a time, overlapping by a needle
            try:
                mem.seek(at)
                data = mem.read(min(hi, at + (1 << 24) + 256) - at)
            except OSError:
                break
            for n in needles:
                pos = data.find(n)
                while 0 <= pos < (1 << 24):
                    hits += 1
                    pos = data.find(n, pos + 1)
print(hits)
PY
}

@test "a --persist process holds no password between runs, in memory, environment or a core" {
	[ "$(id -u)" -eq 0 ] || skip "reads another process's memory through /proc"
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	cat > "$BATS_TEST_TMPDIR/e.conf" <<CONF
accounts = { e = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_CA"; }; };
CONF
	run env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config "$BATS_TEST_TMPDIR/e.conf" -a e --persist 30s
	[ "$status" -eq 0 ]
	run env MAILTOOL_PASSWORD=alice-secret-pw "$MT" du --config "$BATS_TEST_TMPDIR/e.conf" -a e --persist 30s INBOX
	[ "$status" -eq 0 ]
	run "$MT" persist --status
	pid=$(echo "$output" | sed -n 's/.*pid \([0-9]*\).*/\1/p' | head -n 1)
	[ -n "$pid" ]
	# the AUTHENTICATE PLAIN blob of alice, and the password itself
	blob=$(printf '\0alice\0alice-secret-pw' | base64 -w0)
	# (the sanitizer runtime keeps a copy of the environment it started
	# with, from /proc/self/environ, before main() runs: not ours to wipe)
	if ! mt_is_asan; then
		[ "$(mem_hits "$pid" alice-secret-pw "$blob")" -eq 0 ]
	fi
	lacks MAILTOOL_PASSWORD "$(tr '\0' '\n' < "/proc/$pid/environ")"
	grep -E '^Max core file size +0 +0 ' "/proc/$pid/limits"
	"$MT" persist --stop >/dev/null
}

@test "password_command: killed after the timeout; not waited for past its own exit" {
	cat > "$BATS_TEST_TMPDIR/slow.conf" <<CONF
accounts = { x = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_CA";
  password_command = "sleep 30; echo alice-secret-pw"; }; };
CONF
	start=$SECONDS
	run --separate-stderr timeout 60 "$MT" info --config "$BATS_TEST_TMPDIR/slow.conf" -a x --timeout 2s
	echo "$stderr ($((SECONDS - start)) s)"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"password_command did not finish within 2 s"* ]]
	[ $((SECONDS - start)) -le 8 ]
	# no sleep of ours is left behind
	refute pgrep -f "sleep 30; echo alice-secret-pw"
	# a helper that leaves a child holding its standard output
	sed 's/sleep 30; echo alice-secret-pw/(sleep 30 \&) ; echo alice-secret-pw/' "$BATS_TEST_TMPDIR/slow.conf" > "$BATS_TEST_TMPDIR/bg.conf"
	start=$SECONDS
	run --separate-stderr timeout 60 "$MT" info --config "$BATS_TEST_TMPDIR/bg.conf" -a x
	echo "$stderr ($((SECONDS - start)) s)"
	[ "$status" -eq 0 ]
	[ $((SECONDS - start)) -le 8 ]
}

@test "password_file: a symbolic link or another user's file is refused" {
	cp "$MT_SUITE_DIR/alice.pw" "$BATS_TEST_TMPDIR/real.pw"
	chmod 600 "$BATS_TEST_TMPDIR/real.pw"
	ln -s "$BATS_TEST_TMPDIR/real.pw" "$BATS_TEST_TMPDIR/link.pw"
	cat > "$BATS_TEST_TMPDIR/pf.conf" <<CONF
accounts = { x = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_CA";
  password_file = "$BATS_TEST_TMPDIR/link.pw"; }; };
CONF
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/pf.conf" -a x
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"symbolic link"* ]]
	sed -i 's/link.pw/real.pw/' "$BATS_TEST_TMPDIR/pf.conf"
	run "$MT" info --config "$BATS_TEST_TMPDIR/pf.conf" -a x
	[ "$status" -eq 0 ]
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody "$BATS_TEST_TMPDIR/real.pw"
		run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/pf.conf" -a x
		[ "$status" -eq 78 ]
		[[ "$stderr" == *"belongs to another user"* ]]
	fi
}

# ---- what a server or a sender wrote never reaches the terminal raw --------

@test "folder names and subjects that decode to terminal controls are shown escaped, in every human output" {
	# ESC ] 0;pwned BEL (an OSC that retitles the terminal), a C1 CSI, a right-to-left override
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS QUOTA] in
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST () \"/\" \"&ABs-]0;pwned&AAc-Evil\"\r\n* LIST () \"/\" \"csi&AJs-31m\"\r\n* LIST () \"/\" \"rlo&IC4-exe.txt\"\r\n{tag} OK done
ON ^LSUB => * LSUB () \"/\" \"&ABs-]0;pwned&AAc-Evil\"\r\n{tag} OK done
ON ^STATUS \"&ABs- => * STATUS \"&ABs-]0;pwned&AAc-Evil\" (MESSAGES 1)\r\n{tag} OK done
ON ^STATUS \"csi => * STATUS \"csi&AJs-31m\" (MESSAGES 1)\r\n{tag} OK done
ON ^STATUS \"rlo => * STATUS \"rlo&IC4-exe.txt\" (MESSAGES 1)\r\n{tag} OK done
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>" 30
	run --separate-stderr mt_fake ls --no-tls
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'\x1B]0;pwned\x07Evil'* ]]
	[[ "$output" == *'csi\u009B31m'* ]]
	[[ "$output" == *'rlo\u202Eexe.txt'* ]]
	lacks $'\x1b' "$output$stderr"
	lacks $'\xc2\x9b' "$output"
	lacks $'\xe2\x80\xae' "$output"
}

@test "an error naming a hostile folder and a trace of it stay one plain line each" {
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] in
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST () \"/\" \"&ABs-[2J&AAo-line\"\r\n{tag} OK done
ON ^LSUB => {tag} OK done
ON ^STATUS => {tag} NO [SERVERBUG] oops &ABs-[2J\r\n
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>"
	run --separate-stderr mt_fake du --no-tls --trace
	echo "$output / $stderr"
	lacks $'\x1b' "$output$stderr"
	[[ "$stderr" == *'\x1B[2J\x0Aline'* ]]
}

@test "a subject with terminal controls is escaped in expunge --dry-run -v listings" {
	dadm mailbox create -u alice R
	printf 'From: s@example.org\r\nSubject: =?UTF-8?B?%s?=\r\nMessage-ID: <esc@t>\r\n\r\nx\r\n' \
		"$(printf 'hi \033]0;pwned\007 \xc2\x9b31m there' | base64 -w0)" | dadm save -u alice -m R
	run --separate-stderr "$MT" expunge --dry-run -v --larger 1 R
	echo "$output"
	[ "$status" -eq 0 ]
	lacks $'\x1b' "$output"
	lacks $'\xc2\x9b' "$output"
	run --separate-stderr "$MT" expunge --dry-run -v --larger 1 --tsv R
	lacks $'\x1b' "$output"
	# JSON keeps the text, escaped its own way, and stays valid JSON
	run --separate-stderr "$MT" expunge --dry-run -v --larger 1 --json R
	[[ "$output" == *'pwned'*'\u009b31m there'* ]]
	lacks $'\xc2\x9b' "$output"
	printf '%s\n' "$output" | python3 -c 'import json, sys; [json.loads(l) for l in sys.stdin]'
}

# ---- no quadratic work on what a server lists ------------------------------

@test "200,000 folders from a server (a Cyrus admin's '*') are listed and matched in seconds" {
	# LIST: 1,000 \Noselect parents with 200 children each; LSUB: every child
	# and every parent (Courier-style parent entries), so subscriptions are
	# merged by name and parent-only entries recognised
	python3 - "$BATS_TEST_TMPDIR/big.script" <<'PY'
import sys
lst, lsub = [], []
for p in range(1000):
    lst.append('* LIST (\\\\Noselect) "/" "p%d"' % p)
    lsub.append('* LSUB (\\\\Noselect) "/" "p%d"' % p)
    for c in range(200):
        lst.append('* LIST () "/" "p%d/c%d"' % (p, c))
        lsub.append('* LSUB () "/" "p%d/c%d"' % (p, c))
with open(sys.argv[1], "w") as f:
    f.write("GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake\n")
    f.write("ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] in\n")
    f.write('ON ^LIST "" "" => * LIST () "/" ""\\r\\n{tag} OK done\n')
    f.write("ON ^LIST => " + "\\r\\n".join(lst) + "\\r\\n{tag} OK done\n")
    f.write("ON ^LSUB => " + "\\r\\n".join(lsub) + "\\r\\n{tag} OK done\n")
    f.write("ON ^LOGOUT => * BYE\\r\\n{tag} OK bye<CLOSE>\n")
PY
	fake_server "$(cat "$BATS_TEST_TMPDIR/big.script")" 120
	start=$SECONDS
	MAILTOOL_PASSWORD=fake-secret-pw run --separate-stderr timeout 100 "$MT" ls --config /dev/null -H 127.0.0.1 -p "$FAKE_PORT" -u alice --no-tls --tsv '*' \
		< /dev/null
	echo "exit $status in $((SECONDS - start)) s: $stderr"
	[ "$status" -eq 0 ]
	# a header, 1,000 parents and 200,000 folders
	[ "$(echo "$output" | wc -l)" -eq 201001 ]
	[ $((SECONDS - start)) -le 30 ]
	# matching patterns against them too (expunge resolves its folders the same way)
	fake_server "$(cat "$BATS_TEST_TMPDIR/big.script")" 120
	start=$SECONDS
	MAILTOOL_PASSWORD=fake-secret-pw run --separate-stderr timeout 100 "$MT" subs check --config /dev/null -H 127.0.0.1 -p "$FAKE_PORT" -u alice --no-tls
	echo "exit $status in $((SECONDS - start)) s"
	# every child is subscribed, no parent is reported dangling
	[ "$status" -eq 0 ]
	[ $((SECONDS - start)) -le 30 ]
}

@test "filter --new: a state ahead of the server (a box restored from a backup) is not trusted" {
	dadm mailbox create -u alice R
	rules 'rules = ( { name = "t"; folder = "R"; match = { subject = "^Restore test"; }; flag = "$Seen1"; } );'
	run "$MT" filter -f "$R" --new
	[ "$status" -eq 0 ]
	# the recorded UIDNEXT (field 5) far beyond what the folder has
	awk -F'\t' 'BEGIN { OFS = "\t" } $7 == "R" { $5 = 999999 } { print }' "$XDG_STATE_HOME/mailtool/filter.state" > "$BATS_TEST_TMPDIR/st"
	cp "$BATS_TEST_TMPDIR/st" "$XDG_STATE_HOME/mailtool/filter.state"
	put R "Restore test 1"
	run "$MT" filter -f "$R" --new -v
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count R keyword '$Seen1')" -eq 1 ]
}

@test "a server that lists no folder at all: ls, subs and du say so without undefined behaviour" {
	local a
	for a in "ls" "subs list" "subs check" "du"; do
		fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] in
ON ^LIST => {tag} OK done
ON ^LSUB => {tag} OK done
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>"
		# (the sanitizer build aborts on qsort or bsearch of an empty NULL array)
		run --separate-stderr mt_fake $a --no-tls
		echo "$a: exit $status: $output / $stderr"
		[ "$status" -eq 0 ]
	done
}
