#!/usr/bin/env bats
# The output schema of mailtool(1), OUTPUT: every applet's --json parsed by a
# real JSON parser against the record types and keys the manual page lists,
# one header per --tsv stream, the cron rule of the applets that change mail,
# and every example pipeline of README.md and the manual pages, run.
load helpers

setup() {
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" alice >/dev/null
	R="$BATS_TEST_TMPDIR/rules.conf"
	printf '%s\n' 'rules = ( { name = "old-lists"; folder = "Lists/*"; match = { older = "1d"; }; flag = "$Seen-by-test"; } );' > "$R"
	printf '%s\n' 'rules = ( { name = "none"; folder = "INBOX"; match = { subject = "^no-such-subject-anywhere$"; }; flag = "$X"; } );' > "$BATS_TEST_TMPDIR/none.conf"
	printf 'From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nSubject: one\n\nbody\n' > "$BATS_TEST_TMPDIR/in.mbox"
}

# check APPLET < records: each line one JSON object of a type mailtool(1)
# lists for APPLET, with exactly its keys, each of its documented kind
check() {
	python3 "$MT_REPO/tests/lib/schema-check.py" "$MT_REPO/man/mailtool.1" "$@"
}

# json APPLET ARGS...: run the applet with --json, its output checked
json() {
	local applet=$1 out="$BATS_TEST_TMPDIR/out.jsonl"
	shift
	"$MT" "$applet" --json "$@" > "$out" 2> "$BATS_TEST_TMPDIR/err" || [ $? -eq 1 ]
	[ -s "$out" ] || { echo "$applet $*: no records"; cat "$BATS_TEST_TMPDIR/err"; return 1; }
	check "$applet" < "$out" || { echo "in: $applet $*"; return 1; }
	TYPES="$TYPES $(python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["type"] for l in sys.stdin})))' < "$out")"
}

@test "every applet's --json: schema 1, a documented type, exactly the documented keys, typed values" {
	TYPES=""
	json quota
	json du
	json du --depth 1
	json du --messages --top 5 INBOX Sent
	json du --histogram INBOX
	json ls
	json ls --status
	json info
	json subs
	dadm mailbox create -u alice Unsubscribed
	json subs check
	dadm mailbox delete -u alice Unsubscribed
	json subs export
	json expunge --older 1d --dry-run -v INBOX Sent
	json expunge --older 1d INBOX
	json compact --dry-run
	json filter -f "$R" --dry-run -v
	json archive --older 2y --dry-run INBOX Sent
	json archive --older 2y INBOX
	json archive --import "$BATS_TEST_TMPDIR/in.mbox" --into Imported --dry-run
	json archive --import "$BATS_TEST_TMPDIR/in.mbox" --into Imported
	"$MT" quota --persist 30s > /dev/null
	json persist
	"$MT" persist --stop > /dev/null
	# batch prints its lines' records; --users wraps them in user records
	"$MT" batch -e 'quota --json; du --json' > "$BATS_TEST_TMPDIR/b.jsonl"
	check quota du < "$BATS_TEST_TMPDIR/b.jsonl"
	printf 'alice\nbob\nno-such-user\n' > "$BATS_TEST_TMPDIR/users"
	run --separate-stderr "$MT" du -a admin --users "$BATS_TEST_TMPDIR/users" --json
	[ "$status" -eq 77 ]
	echo "$output" > "$BATS_TEST_TMPDIR/u.jsonl"
	check du < "$BATS_TEST_TMPDIR/u.jsonl"
	[ "$(jq -r 'select(.user == "alice") | .error' "$BATS_TEST_TMPDIR/u.jsonl")" = "null" ]
	[ "$(jq -r 'select(.user == "no-such-user") | .error | type' "$BATS_TEST_TMPDIR/u.jsonl")" = "string" ]
	# the run above saw every record type it can see against Dovecot
	for t in folder total message rule server quota session import; do
		[[ " $TYPES " == *" $t "* ]] || { echo "no $t record seen: $TYPES"; return 1; }
	done
}

# tsv ARGS...: the stream has exactly one header line, and every line its fields
tsv() {
	local out="$BATS_TEST_TMPDIR/out.tsv"
	"$MT" "$@" --tsv > "$out" 2> "$BATS_TEST_TMPDIR/err" || [ $? -eq 1 ]
	local header
	header=$(head -1 "$out")
	[ -n "$header" ] || { echo "$*: no header"; return 1; }
	[ "$(grep -cxF -- "$header" "$out")" -eq 1 ] || { echo "$*: header repeated"; return 1; }
	local nf
	nf=$(echo "$header" | awk -F'\t' '{print NF}')
	[ "$(awk -F'\t' -v n="$nf" 'NF != n' "$out" | wc -l)" -eq 0 ] || { echo "$*: ragged"; cat "$out"; return 1; }
	# the header is the key list of one documented record type
	python3 "$MT_REPO/tests/lib/schema-check.py" "$MT_REPO/man/mailtool.1" --header "$1" "$header"
}

@test "every applet's --tsv: one header line naming one documented record type; totals left out" {
	tsv quota
	tsv du
	tsv ls --status
	tsv info
	tsv subs
	tsv expunge --older 1d --dry-run INBOX Sent
	tsv expunge --older 1d --dry-run -v INBOX Sent Trash
	tsv compact --dry-run
	tsv filter -f "$R" --dry-run
	tsv filter -f "$R" --dry-run -v
	tsv archive --older 2y --dry-run INBOX Sent
	tsv archive --import "$BATS_TEST_TMPDIR/in.mbox" --into Imported --dry-run
	tsv persist
	run --separate-stderr "$MT" expunge --older 1d --dry-run --tsv INBOX Sent
	[[ "$output" != *"(total)"* ]]
	# several folders' message listings under one header (it used to repeat)
	run --separate-stderr "$MT" expunge --older 1d --dry-run -v --tsv INBOX Sent Trash
	[ "$(echo "$output" | grep -c '^folder')" -eq 1 ]
	[ "$(echo "$output" | head -1)" = $'folder\tuid\tdate\tsize\tfrom\tsubject' ]
	# nothing to list: the header alone, still one stream of one type
	run -0 --separate-stderr "$MT" expunge --larger 1G --dry-run -v --tsv INBOX Sent
	[ "$output" = $'folder\tuid\tdate\tsize\tfrom\tsubject' ]
}

@test "cron: nothing done is silent on a non-terminal; --json and --tsv still give their records" {
	run -0 --separate-stderr "$MT" expunge --older 100y INBOX Sent
	[ "$output" = "" ]
	run -0 --separate-stderr "$MT" archive --older 100y INBOX
	[ "$output" = "" ]
	run -0 --separate-stderr "$MT" archive --older 100y --dry-run INBOX
	[ "$output" = "" ]
	run -0 --separate-stderr "$MT" compact --if-over 99
	[ "$output" = "" ]
	run -0 --separate-stderr "$MT" filter -f "$BATS_TEST_TMPDIR/none.conf"
	[ "$output" = "" ]
	# the same runs for scripts
	run -0 --separate-stderr "$MT" expunge --older 100y --json INBOX Sent
	[ "$(echo "$output" | jq -r 'select(.type == "total") | .messages')" = "0" ]
	run -0 --separate-stderr "$MT" archive --older 100y --tsv INBOX
	[ "$output" = $'folder\taction\tmessages\tsize' ]
	run -0 --separate-stderr "$MT" compact --if-over 99 --json
	[ "$(echo "$output" | jq -r '.type + " " + (.messages | tostring) + " " + (.dry_run | tostring)')" = "total 0 false" ]
	run -0 --separate-stderr "$MT" filter -f "$BATS_TEST_TMPDIR/none.conf" --tsv
	[ "$output" = $'rule\tfolder\taction\tmessages' ]
	# something done is reported
	run -0 --separate-stderr "$MT" expunge --older 1d --dry-run INBOX
	[[ "$output" == *"would remove"* ]]
}

@test "cron: on a terminal the empty report is shown" {
	command -v script >/dev/null || skip "no script(1) for a pseudo-terminal"
	run -0 script -qec "\"$MT\" expunge --older 100y INBOX" /dev/null
	[[ "$output" == *"INBOX"*"removed"* ]]
}

# The example pipelines of the documentation, run against the suite's
# server: the account options of the examples become the suite's accounts.
examples() {
	# README.md: command lines of its sh blocks that pipe into or out of mailtool
	awk '/^```sh/ {f = 1; next} /^```/ {f = 0} f' "$MT_REPO/README.md" |
		grep -E '^(mailtool|doveadm) .* \| ' | sed 's/  *# .*$//'
	# the manual pages: .Dl lines with a pipe, the roff escapes undone
	grep -h '^\.Dl \$ .* | ' "$MT_REPO"/man/*.1 | sed -e 's/^\.Dl \$ //' \
		-e 's/\\-/-/g; s/\\(aq/'"'"'/g; s/\\(dq/"/g; s/\\e/\\/g'
}

@test "every example pipeline of README.md and the manual pages runs and prints no null" {
	examples > "$BATS_TEST_TMPDIR/examples"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/examples")" -ge 8 ]
	grep -q "jq -r 'select(.type == \"folder\" and .size > 1e" "$BATS_TEST_TMPDIR/examples"
	grep -q "doveadm user '\*' | mailtool quota -a admin --users - --json" "$BATS_TEST_TMPDIR/examples"
	cat > "$BATS_TEST_TMPDIR/env.sh" <<EOF
mt_args() {
	local a=()
	while [ \$# -gt 0 ]; do
		case \$1 in
		-H|-u) shift ;;
		--starttls) ;;
		-a) shift; case \$1 in old|new) a+=(-a alice) ;; *) a+=(-a "\$1") ;; esac ;;
		*) a+=("\$1") ;;
		esac
		shift
	done
	"$MT" "\${a[@]}"
}
mailtool() { mt_args "\$@"; }
mailtool-info() { mt_args info "\$@"; }
doveadm() { $MT_DOVEADM "\$@"; }
EOF
	local n=0 line
	while IFS= read -r line; do
		n=$((n + 1))
		( cd "$BATS_TEST_TMPDIR" && bash -c ". ./env.sh; set -o pipefail; $line" ) > "$BATS_TEST_TMPDIR/ex.out" 2> "$BATS_TEST_TMPDIR/ex.err" ||
			{ echo "example failed: $line"; cat "$BATS_TEST_TMPDIR/ex.err"; return 1; }
		[ "$(grep -cx 'null' "$BATS_TEST_TMPDIR/ex.out")" -eq 0 ] || { echo "null from: $line"; return 1; }
	done < "$BATS_TEST_TMPDIR/examples"
	[ "$n" -ge 8 ]
	# the quota example wrote one record per user
	[ "$(jq -r .type "$BATS_TEST_TMPDIR/quota.jsonl" | sort -u)" = "user" ]
}
