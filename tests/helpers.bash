# helpers.bash — loaded by every test file: the binary, the suite's server and config.
bats_require_minimum_version 1.5.0
MT_REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
# make check runs the suite a second time with MAILTOOL_TEST_BIN = the sanitizer build
MT="${MAILTOOL_TEST_BIN:-$MT_REPO/mailtool}"
if [ -n "${MT_SUITE_DIR:-}" ] && [ -f "$MT_SUITE_DIR/dovecot/env.sh" ]; then
	. "$MT_SUITE_DIR/dovecot/env.sh"
	export MAILTOOL_CONFIG="$MT_SUITE_DIR/mailtool.conf"
fi
# never pick up a developer's own configuration or password
unset MAILTOOL_PASSWORD
export XDG_CONFIG_HOME="${BATS_SUITE_TMPDIR:-/tmp}/xdg-none"
# state, cache and runtime files (filter state, folder-name cache, compact
# locks, persist sockets) private to this BATS run, so make check's two
# passes can run side by side; a test that needs its own sets them in setup
if [ -n "${BATS_SUITE_TMPDIR:-}" ]; then
	export XDG_STATE_HOME="$BATS_SUITE_TMPDIR/xdg-state" XDG_CACHE_HOME="$BATS_SUITE_TMPDIR/xdg-cache"
	export XDG_RUNTIME_DIR="$BATS_SUITE_TMPDIR/xdg-run"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
	# the box locks (root's are in /run/mailtool, whatever XDG_RUNTIME_DIR says)
	export MAILTOOL_LOCK_DIR="$BATS_SUITE_TMPDIR/locks"
fi

mt() { "$MT" "$@"; }

# mailtool started with 0, 1 and 2 only, as a shell starts it (not with
# what bats holds open): what its children hold beyond those is its own
mt_bare() { python3 -c 'import os, sys; os.closerange(3, 65536); os.execv(sys.argv[1], sys.argv[1:])' "$MT" "$@"; }

# doveadm for the suite's server
dadm() { $MT_DOVEADM "$@"; }

# "folder<TAB>messages<TAB>vsize" for every mailbox of a user, from Dovecot itself
doveadm_sizes() {
	$MT_DOVEADM -f tab mailbox status -u "$1" "messages vsize" '*' | tail -n +2 | sort
}

# A loopback listener that accepts and then says nothing (a dead or hung server).
# Sets BLACKHOLE_PORT and BLACKHOLE_PID; the listener stops by itself after 20 s.
start_blackhole() {
	local pf="$BATS_TEST_TMPDIR/blackhole.port"
	rm -f "$pf"
	python3 "$MT_REPO/tests/lib/blackhole.py" "$pf" 20 </dev/null >/dev/null 2>&1 &
	BLACKHOLE_PID=$!
	for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
	BLACKHOLE_PORT=$(cat "$pf")
}

# Tunnels to the same mailbox with Dovecot's capabilities trimmed, so the
# fallbacks (FETCH sizes instead of STATUS=SIZE, LIST+LSUB instead of
# LIST-EXTENDED) run against the real server. MT_TUNNEL_ALICE is a wrapper
# script around Dovecot's imap binary; the same binary takes -o overrides.
if [ -n "${MT_TEST_DIR:-}" ]; then
	mt_tunnel_caps() {  # CAPS — a tunnel command for alice announcing only CAPS
		printf '/usr/lib/dovecot/imap -c %s -o "imap_capability=%s" -u alice 2>>%s' \
			"$MT_TEST_DIR/dovecot.conf" "$1" "$MT_DOVECOT_LOG"
	}
	MT_TUNNEL_ALICE_NOSIZE=$(mt_tunnel_caps "IMAP4rev1 LIST-EXTENDED SPECIAL-USE NAMESPACE QUOTA UIDPLUS")
	MT_TUNNEL_ALICE_MINIMAL=$(mt_tunnel_caps "IMAP4rev1")
	# alice's mail in a second store with Dovecot's file-system layout, where
	# a folder name may hold a dot ("Proj.part"): a tunnel and doveadm for it
	# (alice_restore removes it with the rest of her mail)
	FS_LOC='mail_location=maildir:~/fs:LAYOUT=fs'
	FS_TUNNEL="/usr/lib/dovecot/imap -c $MT_TEST_DIR/dovecot.conf -o $FS_LOC -u alice 2>>$MT_DOVECOT_LOG"
	fsadm() { $MT_DOVEADM -o "$FS_LOC" "$@"; }
fi

# A scripted fake IMAP server (tests/lib/fakeimap.py) for what real servers
# never send. fake_server SCRIPT-TEXT: starts it, sets FAKE_PORT, FAKE_PID and
# FAKE_LOG (every line the client sent). It serves one connection and stops
# by itself within 20 s.
fake_server() {
	local pf="$BATS_TEST_TMPDIR/fake.port"
	printf '%s\n' "$1" > "$BATS_TEST_TMPDIR/fake.script"
	FAKE_LOG="$BATS_TEST_TMPDIR/fake.log"
	rm -f "$pf" "$FAKE_LOG"
	: > "$FAKE_LOG"
	python3 "$MT_REPO/tests/lib/fakeimap.py" "$pf" "$BATS_TEST_TMPDIR/fake.script" "$FAKE_LOG" "${2:-20}" \
		</dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/fake.err" &
	FAKE_PID=$!
	for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
	FAKE_PORT=$(cat "$pf")
}

# mailtool APPLET [ARGS] against the fake server over cleartext loopback, as
# alice; the test's own ARGS come last, so they win
mt_fake() {
	MAILTOOL_PASSWORD=fake-secret-pw "$MT" "$1" --config /dev/null -H 127.0.0.1 -p "$FAKE_PORT" -u alice \
		--timeout 5s "${@:2}"
}

# True when $MT is the AddressSanitizer build (which cannot run under an
# address-space limit: its shadow memory alone is terabytes of reservation)
mt_is_asan() { nm "$MT" 2>/dev/null | grep -q __asan_init; }

# alice's fixture for files that reset it often: regenerated once
# (alice_snapshot in setup_file; reset-user takes ~1 s) and put back from a
# copy before each use (alice_restore, ~0.1 s). Call alice_reset in
# teardown_file so later files find the fixture as reset-user leaves it.
alice_snapshot() { user_snapshot alice; }
alice_restore() { user_restore alice; }
# the same for any user of the suite's Dovecot (xacct.bats: bob too)
user_snapshot() {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" "$1" >/dev/null
	rm -rf "$BATS_FILE_TMPDIR/$1.snap"
	cp -a "$MT_TEST_DIR/mail/$1" "$BATS_FILE_TMPDIR/$1.snap"
}
user_restore() {
	# as reset-user does: the user's sessions on both instances gone first (bounded)
	$MT_DOVEADM kick "$1" >/dev/null 2>&1 || true
	$MT_DOVEADM_NOTLS kick "$1" >/dev/null 2>&1 || true
	for _ in $(seq 50); do
		[ -z "$($MT_DOVEADM who "$1" 2>/dev/null | tail -n +2)" ] &&
			[ -z "$($MT_DOVEADM_NOTLS who "$1" 2>/dev/null | tail -n +2)" ] && break
		sleep 0.1
	done
	rm -rf "$MT_TEST_DIR/mail/$1"
	cp -a "$BATS_FILE_TMPDIR/$1.snap" "$MT_TEST_DIR/mail/$1"
}
alice_reset() { "$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" alice >/dev/null; }

# A private Cyrus for a test file (cyrus.bats, xacct.bats): started in
# setup_file (its directory named in $BATS_FILE_TMPDIR/cy-top, its env.sh
# there), stopped and removed in teardown_file.
cy_start_file() {
	# Cyrus runs as user cyrus: its directory and all parents must be readable
	# by it (BATS_FILE_TMPDIR is a mode-700 tree)
	local top
	top=$(mktemp -d /tmp/mailtool-cyrus.XXXXXX)
	chmod 755 "$top"
	echo "$top" >"$BATS_FILE_TMPDIR/cy-top"
	if ! "$MT_REPO/tests/lib/cyrus.sh" start "$top/cyrus" >"$BATS_FILE_TMPDIR/cyrus-start.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/cyrus-start.log" >&2
		return 1
	fi
}
cy_stop_file() {
	local top=
	if [ -f "$BATS_FILE_TMPDIR/cy-top" ]; then
		top=$(cat "$BATS_FILE_TMPDIR/cy-top")
	fi
	if [ -n "$top" ] && [ -d "$top" ]; then
		"$MT_REPO/tests/lib/cyrus.sh" stop "$top/cyrus"
		rm -rf "$top"
	fi
}
# alice_restore, and an empty directory $X for the test's archives
# mailtool as a new admin types it on a fresh machine: no configuration,
# alice's password from the environment (diagnostics.bats and its kin)
mt_fresh() { env MAILTOOL_PASSWORD=alice-secret-pw "$MT" "$@" --config /dev/null; }

alice_restore_x() {
	alice_restore
	X="$BATS_TEST_TMPDIR/x"
	mkdir -p "$X"
}
# alice_snapshot, and a second, small snapshot beside it: only Lists/announce
# (15), Old Stuff (4), Trash (20) and Junk (30) keep their mail, so that
# restoring and reading the state per cut or kill point stay cheap. Restore
# it with alice_restore_small.
alice_snapshots() {
	alice_snapshot
	local f
	for f in INBOX Archive Sent Drafts Lists/dev 'Projets/Été'; do
		dadm expunge -u alice mailbox "$f" all
	done
	mkdir -p "$BATS_FILE_TMPDIR/small"
	rm -rf "$BATS_FILE_TMPDIR/small/alice.snap"
	cp -a "$MT_TEST_DIR/mail/alice" "$BATS_FILE_TMPDIR/small/alice.snap"
	alice_restore
}
alice_restore_small() { BATS_FILE_TMPDIR="$BATS_FILE_TMPDIR/small" alice_restore; }

# make check runs the suite twice side by side (MAILTOOL_TEST_PASS=plain, and
# =sanitizer with the ASan+UBSan build); to keep the two about as long, the
# files against Cyrus and Courier run in the sanitizer pass only and the
# cut/kill-at-every-step ones in the plain pass only. A file run by hand (no
# MAILTOOL_TEST_PASS) runs everything. mt_other_pass PASS: true when the
# caller belongs to PASS and this is the other one.
mt_other_pass() { [ -n "${MAILTOOL_TEST_PASS:-}" ] && [ "$MAILTOOL_TEST_PASS" != "$1" ]; }

# a local mboxrd archive: one line per message, "Message-ID<TAB>SHA-256 of
# its entry" (From line to the next one; Status lines and quoting are
# deterministic, the X-Mailtool line's token is drawn per archive, and its
# signature with it, and left out), sorted; "none" when there is no file (cuts.bats, faults.bats)
MBOX_TO_TSV='
import hashlib, re, sys
data = open(sys.argv[1], "rb").read()
for e in re.split(rb"(?m)^(?=From )", data):
    if not e:
        continue
    m = re.search(rb"(?mi)^Message-ID:[ \t]*(\S*)", e)
    e = re.sub(rb"(?m)^X-Mailtool: mboxrd [a-z0-9]{16}( [0-9a-f]{32})?\n", b"", e, count=1)
    print("%s\t%s" % (m.group(1).decode() if m else "-", hashlib.sha256(e).hexdigest()))
'
archive_state() {
	if [ -e "$1" ]; then "${PY:-python3}" -c "$MBOX_TO_TSV" "$1" | sort; else echo none; fi
}

# doveadm's pager output (records split by a form feed line, "text:" last
# and multi-line) as one tab-separated line per message, the full text
# replaced by its SHA-256 (~0.2 s for alice's 23 MiB; cuts.bats, faults.bats)
PAGER_TO_TSV='
import hashlib, sys
for rec in sys.stdin.buffer.read().split(b"\f\n"):
    if not rec.strip():
        continue
    head, _, text = rec.partition(b"\ntext:\n")
    vals = [l.partition(b": ")[2] for l in head.split(b"\n")]
    sys.stdout.buffer.write(b"\t".join(vals + [hashlib.sha256(text).hexdigest().encode()]) + b"\n")
'

# alice's folder $1 through Python's imaplib, an independent client: one
# line per message "sha256 flags internaldate(epoch)", sorted (uid-independent).
# With VIEW_TUNNEL (a PREAUTH command, e.g. a Dovecot imap over another
# mail_location) it reads there instead of the suite's server; VIEW_ORDER=1
# keeps UID order instead of sorting.
view() {
	python3 - "$1" <<'EOF'
import hashlib, imaplib, os, re, ssl, sys, email.utils, time
sys.path.insert(0, os.path.join(os.environ["MT_REPO"], "tests", "lib"))
import mutf7
if os.environ.get("VIEW_TUNNEL"):
    m = imaplib.IMAP4_stream(os.environ["VIEW_TUNNEL"])
else:
    ctx = ssl.create_default_context(cafile=os.environ["MT_CA"])
    m = imaplib.IMAP4_SSL("localhost", int(os.environ["MT_IMAPS_PORT"]), ssl_context=ctx)
    m.login("alice", "alice-secret-pw")
typ, _ = m.select('"%s"' % mutf7.encode(sys.argv[1]), readonly=True)
assert typ == "OK", sys.argv[1]
typ, data = m.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
out = []
for item in data:
    if not isinstance(item, tuple):
        continue
    meta, body = item[0].decode(), item[1]
    flags = sorted(f for f in re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split() if f != "\\Recent")
    t = imaplib.Internaldate2tuple(item[0])
    out.append("%s %s %d" % (hashlib.sha256(body).hexdigest(), ",".join(flags), time.mktime(t)))
print("\n".join(out if os.environ.get("VIEW_ORDER") else sorted(out)))
m.logout()
EOF
}
# how many of alice's messages a doveadm search finds: alice_count FOLDER [SEARCH...]
alice_count() { dadm search -u alice mailbox "$@" | wc -l; }

# the server's whole view of a user (default alice): folders, subscriptions,
# and per message folder, UID and flags (what a dry run must leave exactly
# as it was)
server_state() {
	local u=${1:-alice}
	dadm mailbox list -u "$u" | sort
	echo "--- subscribed"
	dadm mailbox list -u "$u" -s | sort
	echo "--- messages"
	dadm -f tab fetch -u "$u" "mailbox uid flags" all | sed 's/ *\\Recent//' | sort
}

# A dry run's report with its "would ..." turned into what a real run says
# it did ("would move" -> "moved"): the plan a dry run prints must be the
# outcome the real run reports.
DRY_TO_DONE='
import re, sys
done = {"remove": "removed", "move": "moved", "copy": "copied", "trash": "trashed", "expunge": "expunged",
        "flag": "flagged", "unflag": "unflagged", "flag/unflag": "flagged/unflagged", "stop": "stopped",
        "subscribe": "subscribed", "unsubscribe": "unsubscribed", "set": "set", "free": "freed",
        "export": "exported", "append": "appended", "import": "imported"}
for line in sys.stdin:
    sys.stdout.write(re.sub(r"would[ _]([a-z/]+)", lambda m: done.get(m.group(1), m.group(0)), line))
'

# TSV without the columns named in $1 (comma-separated): what is measured,
# not planned (import'"'"'s per_second)
drop_cols() {
	python3 -c '
import sys
drop = set(sys.argv[1].split(",")) if sys.argv[1] else set()
rows = [l.rstrip("\n").split("\t") for l in sys.stdin]
keep = [i for i, h in enumerate(rows[0]) if h not in drop] if rows else []
for r in rows:
    print("\t".join(r[i] for i in keep if i < len(r)))
' "$1"
}

# plan_is_outcome ARGS...: mailtool ARGS --dry-run --tsv leaves the server
# exactly as it was (server_state), and the real run (mailtool ARGS --tsv)
# exits as the dry run did and reports what the dry run said it would do.
# PLAN_USER names another user whose box is compared (default alice);
# PLAN_DROP_COLS names TSV columns that are measured, not planned.
plan_is_outcome() {
	local before dry dry_status
	before=$(server_state "${PLAN_USER:-alice}")
	run --separate-stderr "$MT" "$@" --dry-run --tsv
	dry_status=$status
	dry=$(printf '%s\n' "$output" | python3 -c "$DRY_TO_DONE" | drop_cols "${PLAN_DROP_COLS:-}")
	echo "dry run: exit $dry_status"
	echo "$output"
	[ "$(server_state "${PLAN_USER:-alice}")" = "$before" ] || { echo "the dry run changed the server"; return 1; }
	run --separate-stderr "$MT" "$@" --tsv
	echo "real run: exit $status: $stderr"
	echo "$output"
	[ "$status" -eq "$dry_status" ] || { echo "exit $status, the dry run said $dry_status"; return 1; }
	output=$(printf '%s\n' "$output" | drop_cols "${PLAN_DROP_COLS:-}")
	[ "$output" = "$dry" ] || { echo "the outcome is not the plan:"; diff <(echo "$dry") <(echo "$output"); return 1; }
	[ "$(server_state "${PLAN_USER:-alice}")" != "$before" ] || { echo "the real run changed nothing"; return 1; }
}
