#!/usr/bin/env bats
# xacct-self.bats — a move or copy to "another account" that is the source
# itself, and a source server that answers twice for a message: found by an
# outside attack on #19 (mail lost, a heap overflow). carol (an empty box)
# on the suite's Dovecot, reached by three accounts.
load helpers

setup() {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	R="$BATS_TEST_TMPDIR/rules.conf" L="$BATS_TEST_TMPDIR/log.jsonl" E="$BATS_TEST_TMPDIR/err.txt"
	printf 'carol-secret-pw\n' >"$BATS_TEST_TMPDIR/carol.pw"
	chmod 600 "$BATS_TEST_TMPDIR/carol.pw"
	export MAILTOOL_CONFIG="$BATS_TEST_TMPDIR/mailtool.conf"
	# two accounts for one box: the man page says they share the lock
	local a
	{
		echo 'accounts = {'
		for a in carol carolalias carol-by-name; do
			h=127.0.0.1
			[ "$a" != carol-by-name ] || h=localhost
			echo "  $a = { host = \"$h\"; port = $MT_NOTLS_PORT; tls = \"none\"; user = \"carol\";"
			echo "    password_file = \"$BATS_TEST_TMPDIR/carol.pw\"; timeout = 3; connect_timeout = 2; };"
		done
		echo '};'
	} >"$MAILTOOL_CONFIG"
	printf '%s\n' 'rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; };
	  copy = "Copies"; create = true; } );' >"$R"
	WPIDS=()
}

teardown() {
	local p
	cat "$E" 2>/dev/null || true
	for p in "${WPIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

deliver() { python3 "$MT_REPO/tests/lib/lmtp-deliver.py" "$MT_LMTP_PORT" carol "$@"; }
count() { dadm mailbox status -u carol messages "$1" 2>/dev/null | sed -n 's/.*messages=//p'; }
at_least() { [ "$(count "$1")" -ge "$2" ] 2>/dev/null; }
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.1; done
	"$@"
}
bob_has() { [ "$(dadm mailbox status -u bob messages FromCarol | sed -n 's/.*messages=//p')" = "$1" ]; }

# A relay to carol's Dovecot that sends, before each FETCH response carrying
# RFC822.SIZE, an unsolicited FETCH of the same message's FLAGS (RFC 3501
# 7.4.2: a server may send one at any time, as Dovecot does when another
# client changed the flags). Port in $BATS_TEST_TMPDIR/dup.port; bounded 60 s.
dup_relay() {
	cat >"$BATS_TEST_TMPDIR/dup.py" <<'PY'
import os, re, socket, sys, threading, time
pf, up = sys.argv[1], int(sys.argv[2])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
open(pf + ".tmp", "w").write(str(srv.getsockname()[1])); os.rename(pf + ".tmp", pf)
end = time.time() + 60
pat = re.compile(rb"^\* (\d+) FETCH \(.*UID (\d+).*RFC822\.SIZE")
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def serve(c):
    u = socket.create_connection(("127.0.0.1", up))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    buf, lit = b"", 0
    try:
        while True:
            d = u.recv(65536)
            if not d: break
            buf += d
            out = b""
            while True:
                if lit:
                    k = min(lit, len(buf)); out += buf[:k]; buf = buf[k:]; lit -= k
                    if lit: break
                i = buf.find(b"\r\n")
                if i < 0: break
                line, buf = buf[:i + 2], buf[i + 2:]
                m = pat.match(line)
                if m:
                    out += b"* %s FETCH (FLAGS (\\Seen) UID %s)\r\n" % (m.group(1), m.group(2))
                out += line
                n = re.search(rb"\{(\d+)\}\r\n$", line)
                if n: lit = int(n.group(1))
            c.sendall(out)
    except OSError: pass
    for s in (c, u):
        try: s.close()
        except OSError: pass
srv.settimeout(1)
while time.time() < end:
    try: c, _ = srv.accept()
    except socket.timeout: continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	python3 "$BATS_TEST_TMPDIR/dup.py" "$BATS_TEST_TMPDIR/dup.port" "$MT_NOTLS_PORT" &
	WPIDS+=("$!")
	wait_until 10 test -s "$BATS_TEST_TMPDIR/dup.port"
}

# carol reached through dup_relay, the suite's accounts (bob) beside hers,
# bob's FromCarol empty, six invoices delivered to carol
through_dup_relay() {
	{ head -n -1 "$MAILTOOL_CONFIG"; sed -n '/^accounts = {/,/^};/p' "$MT_SUITE_DIR/mailtool.conf" | sed '1d;$d' | grep -v '^ *default'; echo '};'; } >"$BATS_TEST_TMPDIR/c2"
	export MAILTOOL_CONFIG="$BATS_TEST_TMPDIR/c2"
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" bob >/dev/null
	dadm mailbox create -u bob FromCarol
	dup_relay
	sed -i "0,/port = $MT_NOTLS_PORT;/s//port = $(cat "$BATS_TEST_TMPDIR/dup.port");/" "$MAILTOOL_CONFIG"
	deliver 6
}

@test "a rule to another account: unsolicited FETCHes of the chosen messages' flags (another client at work) do not make a message count twice or crash the run" {
	through_dup_relay
	printf '%s\n' 'rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; };
	  move = { account = "bob"; folder = "FromCarol"; }; } );' >"$R"
	run --separate-stderr "$MT" filter -a carol -f "$R"
	echo "status $status: $output / ${stderr:0:3000}" >&2
	echo "bob FromCarol $(dadm mailbox status -u bob messages FromCarol); carol INBOX $(count INBOX)" >&2
	[ "$status" -eq 0 ]
	[ "$(count INBOX)" -eq 0 ]
	[ "$(dadm mailbox status -u bob messages FromCarol | sed -n 's/.*messages=//p')" -eq 6 ]
}

@test "(control) a move within the account: unsolicited FETCHes of the chosen messages' flags (another client at work) do not make a message count twice or crash the run" {
	through_dup_relay
	printf '%s\n' 'rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; };
	  move = "Done"; create = true; } );' >"$R"
	run --separate-stderr "$MT" filter -a carol -f "$R"
	echo "status $status: $output / ${stderr:0:3000}" >&2
	echo "bob FromCarol $(dadm mailbox status -u bob messages FromCarol); carol INBOX $(count INBOX)" >&2
	[ "$status" -eq 0 ]
	[ "$(count INBOX)" -eq 0 ]
	[ "$(count Done)" -eq 6 ]
}

# carol's INBOX: two old messages (2020), APPENDed by a client
two_old() {
	python3 - "$MT_NOTLS_PORT" <<'PY'
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login("carol", "carol-secret-pw")
for i in (1, 2):
    typ, r = c.append("INBOX", None, '"06-Jan-2020 10:00:00 +0000"', b"Subject: old %d\r\nMessage-ID: <o%d@example.org>\r\n\r\nhi\r\n" % (i, i))
    assert typ == "OK", r
c.logout()
PY
}

@test "archive --to-account naming the source's own box and folder is refused (65): no message pairs with itself as 'already there'" {
	two_old
	[ "$(count INBOX)" -eq 2 ]
	run --separate-stderr "$MT" archive -a carol --older 1y --to-account carol --to INBOX --dry-run INBOX
	echo "dry run: status $status: $output / $stderr" >&2
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"'INBOX' on the other account is 'INBOX' itself"* ]]
	run --separate-stderr "$MT" archive -a carol --older 1y --to-account carol --to INBOX INBOX
	echo "status $status: $output / $stderr; INBOX $(count INBOX)" >&2
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"itself (the same UIDVALIDITY"*"nothing moved"* ]]
	[ "$(count INBOX)" -eq 2 ]
}

@test "a rule moving to another account that is the same box (an alias account, another name for the host), same folder: refused, nothing lost" {
	two_old
	printf '%s\n' 'rules = ( { name = "loop"; folder = "INBOX"; match = { subject = "old"; };
	  move = { account = "carolalias"; folder = "INBOX"; }; } );' >"$R"
	run --separate-stderr "$MT" filter -a carol -f "$R"
	echo "status $status: $output / $stderr; INBOX $(count INBOX)" >&2
	[ "$status" -eq 65 ]
	[ "$(count INBOX)" -eq 2 ]
	printf '%s\n' 'rules = ( { name = "loop"; folder = "INBOX"; match = { subject = "old"; };
	  move = { account = "carol-by-name"; folder = "INBOX"; }; } );' >"$R"
	run --separate-stderr "$MT" filter -a carol -f "$R"
	[ "$status" -eq 65 ]
	[ "$(count INBOX)" -eq 2 ]
}
