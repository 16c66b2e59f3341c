#!/usr/bin/env bats
# fallbacks.bats — the capability matrix: the applets through tunnels to the
# suite's Dovecot announcing all of its capabilities, then with one of them
# (or one group) taken away at a time, so each code path takes its fallback
# against a real server. The answers must not change; where no safe fallback
# exists (UID EXPUNGE without UIDPLUS) the applet must refuse, change nothing.
load helpers

# what Dovecot 2.3.19 announces after login
FULL="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE COMPRESS=DEFLATE QUOTA"

# each line: the capabilities one variant leaves out
VARIANTS="MOVE
STATUS=SIZE
LIST-EXTENDED LIST-STATUS
CONDSTORE QRESYNC
COMPRESS=DEFLATE
SPECIAL-USE
WITHIN
ESEARCH SEARCHRES
LITERAL+ MULTIAPPEND
NAMESPACE"

without() { # CAP... -> FULL less those
	local out=" $FULL " c
	for c in "$@"; do out=${out/ $c / }; done
	echo $out
}

setup_file() { alice_snapshot; }
teardown_file() { alice_reset; }

setup() {
	alice_restore
	R="$BATS_TEST_TMPDIR/rules.conf"
	cat >"$R" <<'EOF'
rules = (
  { name = "replies"; folders = [ "INBOX", "Lists/*" ]; match = { subject = "(?i)^re: "; }; move = "Replies"; create = true; },
  { name = "big"; match = { larger = "1M"; }; move = "Big"; create = true; }
);
EOF
}

# every read-only answer (standard output and exit status; -v's timings and
# byte counts on standard error differ by nature) through a tunnel with CAPS
answers() {
	local t
	t=$(mt_tunnel_caps "$1")
	echo "== du"; "$MT" du --tsv --tunnel "$t" 2>/dev/null; echo "exit $?"
	echo "== ls"; "$MT" ls --status --tsv --tunnel "$t" 2>/dev/null; echo "exit $?"
	echo "== subs"; "$MT" subs list --tsv --tunnel "$t" 2>/dev/null; echo "exit $?"
	echo "== quota"; "$MT" quota --tsv --tunnel "$t" 2>/dev/null; echo "exit $?"
	echo "== expunge"; "$MT" expunge --dry-run -v --tsv --older 400d --larger 20k -r --tunnel "$t" INBOX Lists 2>/dev/null; echo "exit $?"
	echo "== expunge sub-day"; "$MT" expunge --dry-run --tsv --newer 2000d --tunnel "$t" Sent 2>/dev/null; echo "exit $?"
	echo "== filter"; "$MT" filter --dry-run -v --tsv -f "$R" --tunnel "$t" 2>/dev/null; echo "exit $?"
	echo "== archive"; "$MT" archive --dry-run --tsv --older 2y --tunnel "$t" Lists/dev 2>/dev/null; echo "exit $?"
}

# ls's special-use column emptied (the rest as it is)
no_special_use_column() {
	awk -F'\t' -v OFS='\t' '/^== / { ls = ($0 == "== ls") } ls && NF > 2 && $1 != "folder" { $2 = "" } { print }'
}

@test "read-only answers (du, ls, subs, quota, expunge/filter/archive --dry-run) are the same without each capability" {
	local full caps v want got bad=0
	full=$(answers "$FULL")
	[[ $full == *"INBOX"* && $full == *"would"* ]]
	while read -r v; do
		# shellcheck disable=SC2086
		caps=$(without $v)
		got=$(answers "$caps")
		want=$full
		# without SPECIAL-USE the server marks no folder: ls shows what it says
		[ "$v" = SPECIAL-USE ] && want=$(no_special_use_column <<<"$full")
		if [ "$got" != "$want" ]; then
			echo "without $v:"
			diff <(echo "$want") <(echo "$got") || true
			bad=$((bad + 1))
		fi
	done <<<"$VARIANTS"
	[ "$bad" -eq 0 ]
}

# every message of alice as folder, Message-ID, flags (without \Recent)
state() { dadm -f tab fetch -u alice "mailbox hdr.message-id flags" all | sed 's/ *\\Recent//' | sort; }
subscriptions() { dadm mailbox list -u alice -s | sort; }

# the changes of a run through a tunnel with CAPS, from alice's fixture
changes() {
	local t
	t=$(mt_tunnel_caps "$1")
	alice_restore
	"$MT" expunge --trash --larger 1M --tunnel "$t" INBOX Archive >/dev/null 2>&1 || echo "expunge --trash: exit $?"
	"$MT" filter -f "$R" --tunnel "$t" >/dev/null 2>&1 || echo "filter: exit $?"
	"$MT" archive --older 2y --tunnel "$t" Lists/dev >/dev/null 2>&1 || echo "archive: exit $?"
	"$MT" expunge --deleted --tunnel "$t" Sent >/dev/null 2>&1 || echo "expunge --deleted: exit $?"
	"$MT" archive --import "$BATS_TEST_TMPDIR/ann.mbox" --into Imported --tunnel "$t" >/dev/null 2>&1 || echo "import: exit $?"
	state
	subscriptions
}

@test "moves, expunges and imports end in the same server state without MOVE, LITERAL+/MULTIAPPEND, SPECIAL-USE, LIST-EXTENDED or CONDSTORE" {
	"$MT" archive --export "$BATS_TEST_TMPDIR/ann.mbox" --include-flagged Lists/announce
	local full v got bad=0
	full=$(changes "$FULL")
	[[ $full == *Replies* && $full == *Big* && $full == *Archive/20* && $full == *Imported* ]]
	[[ $full != *exit* ]]
	for v in MOVE "LITERAL+ MULTIAPPEND" SPECIAL-USE "LIST-EXTENDED LIST-STATUS" "CONDSTORE QRESYNC"; do
		# shellcheck disable=SC2086
		got=$(changes "$(without $v)")
		if [ "$got" != "$full" ]; then
			echo "without $v:"
			diff <(echo "$full") <(echo "$got") || true
			bad=$((bad + 1))
		fi
	done
	[ "$bad" -eq 0 ]
}

@test "without UIDPLUS nothing is expunged or moved: refused (69), the server unchanged" {
	local t before
	t=$(mt_tunnel_caps "$(without UIDPLUS)")
	before=$(state)
	run --separate-stderr "$MT" expunge --deleted --tunnel "$t" Sent
	[ "$status" -eq 69 ]
	[[ $stderr == *UIDPLUS* ]]
	run --separate-stderr "$MT" filter -f "$R" --tunnel "$(mt_tunnel_caps "$(without UIDPLUS MOVE)")"
	[ "$status" -eq 69 ]
	[[ $stderr == *UIDPLUS* ]]
	[ "$(state)" = "$before" ]
}
