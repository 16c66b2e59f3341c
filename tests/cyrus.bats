#!/usr/bin/env bats
# cyrus.bats — mailtool's applets against a private Cyrus IMAP 3.6 (tests/lib/cyrus.sh).
#
# Every figure is checked against the server's own view (tests/lib/cyrus-check.py,
# python imaplib-style client over implicit TLS), never against mailtool itself.
# Tests that change mail work on their own T-* folders (clones of fixture folders,
# COPY keeps flags and INTERNALDATE) and teardown deletes them, so the fixture
# stays as seeded and the tests are order-independent.
#
# Cyrus 3.6.1 (Debian 12) behaviour the tests rely on / ran into:
#  * altnamespace + unixhierarchysep: alice sees INBOX, Sent, Lists/dev; the admin
#    sees user/alice; quota root is INBOX for alice and user/alice for the admin.
#  * the parents Lists and Projets are real selectable folders (\HasChildren, no
#    \Noselect, EXAMINE works, 0 messages); cyrus.sh subscribes them.
#  * specialusealways: special-use flags come in every LIST, also without
#    RETURN (SPECIAL-USE); at most one folder per special-use flag per user:
#    CREATE x (USE (\Archive)) when Archive exists is "NO SPECIAL-USE flag
#    conflict" (no [USEATTR] response code).
#  * DELETE keeps the folder's subscription.
#  * LOGINDISABLED is still advertised in the capabilities after login.
load helpers

CHECK() { python3 "$MT_REPO/tests/lib/cyrus-check.py" "$@"; }
cy() { "$MT" "$1" --config "$MT_CY_CONF" -a cy-alice "${@:2}"; }
cy_admin() { "$MT" "$1" --config "$MT_CY_CONF" -a cy-admin "${@:2}"; }
cy_bob() { "$MT" "$1" --config "$MT_CY_CONF" -a cy-bob "${@:2}"; }

# MAILTOOL_TEST_SERVERS unset or empty, or naming cyrus: run (and a failed start
# FAILS every test); set without cyrus: every test is skipped
cy_wanted() {
	mt_other_pass sanitizer && return 1
	case ${MAILTOOL_TEST_SERVERS:-cyrus} in *cyrus*) return 0 ;; esac
	return 1
}

setup_file() {
	cy_wanted || return 0
	cy_start_file || return 1
	cat "$BATS_FILE_TMPDIR/cyrus-start.log" >&3
}

teardown_file() {
	cy_wanted || return 0
	cy_stop_file
}

setup() {
	cy_wanted || skip "in make check's sanitizer pass, or MAILTOOL_TEST_SERVERS does not name cyrus"
	local top
	top=$(cat "$BATS_FILE_TMPDIR/cy-top")
	. "$top/cyrus/env.sh"
}

teardown() {
	cy_wanted || return 0
	CHECK delete alice T-exp T-filter T-filter-re T-arch T-imp T-subs/a T-subs/b T-subs T-new T-new-re T-watch T-watch-done \
		Archive/2022 Archive/2023 Archive/2024 Archive/2025 Archive/2026 >/dev/null 2>&1 || true
	# bob has no Trash or Junk of his own: the tests that need them make them (special-use) and go
	CHECK delete bob Trash Junk T-cin T-cdev T-etr >/dev/null 2>&1 || true
	CHECK setquota user/alice "$MT_CY_QUOTA_LIMIT_KB" >/dev/null 2>&1 || true
}

# the server's "folder<TAB>messages<TAB>bytes" of every folder of alice, sorted
server_status() { CHECK status "${1:-alice}" | LC_ALL=C sort; }

# column N (by header name) of TSV text for the row whose first field is KEY
tsv_field() { # TEXT KEY COLUMN
	printf '%s\n' "$1" | awk -F'\t' -v k="$2" -v c="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) col = i; next }
		$1 == k { print $col; exit }'
}

@test "cyrus: the fixture is what the manifest says (server's view)" {
	run -0 CHECK manifest alice
	[ "$output" = "$(cat "$MT_CY_MANIFEST_ALICE")" ]
	# a few large ones, some \Deleted, \Seen and \Flagged
	run -0 awk -F'\t' 'NR > 1 { l += $7; d += $4; s += $5; f += $6 } END { print l, d, s, f }' "$MT_CY_MANIFEST_ALICE"
	read -r large del seen flagged <<<"$output"
	[ "$large" -ge 2 ] && [ "$del" -ge 5 ] && [ "$seen" -ge 50 ] && [ "$flagged" -ge 5 ]
}

@test "cyrus: info over STARTTLS verifies the certificate and shows Cyrus's capabilities" {
	run -0 --separate-stderr cy info
	[[ "$output" == *"transport:"*"STARTTLS"* ]]
	[[ "$output" == *"Cyrus IMAP 3.6"* ]]
	[[ "$output" == *"cert_pinned:       no (verified by CA and host name)"* ]]
	[[ "$output" == *"user:              alice"* ]]
	local info=$output
	run -0 grep -E '^caps_greeting: .*STARTTLS.*LOGINDISABLED' <<<"$info"
	run -0 grep -E '^caps_after_login: .*QUOTA.*SPECIAL-USE.*STATUS=SIZE' <<<"$info"
	run -0 grep -E '^auth: +AUTHENTICATE PLAIN' <<<"$info"
	run -0 --separate-stderr "$MT" info --config "$MT_CY_CONF" -a cy-alice-imaps
	[[ "$output" == *"cert_pinned:       no (verified by CA and host name)"* ]]
}

@test "cyrus: info refuses a server certificate from another CA" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj "/CN=other" -keyout "$BATS_TEST_TMPDIR/o.key" -out "$BATS_TEST_TMPDIR/o.pem" 2>/dev/null
	sed "s|$MT_CY_CA|$BATS_TEST_TMPDIR/o.pem|g" "$MT_CY_CONF" >"$BATS_TEST_TMPDIR/other.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/other.conf" -a cy-alice
	[ "$status" -ne 0 ]
	[[ "$stderr" == *certif* || "$stderr" == *verif* ]]
}

@test "cyrus: ls shows alice's folders as the server lists them, with special-use" {
	run -0 --separate-stderr cy ls --tsv
	local out=$output
	run -0 CHECK folders alice
	local srv=$output
	run -0 awk -F'\t' '{ print $1 }' <<<"$srv"
	local want=$output
	run -0 awk -F'\t' 'NR > 1 { print $1 }' <<<"$out"
	[ "$(LC_ALL=C sort <<<"$output")" = "$(LC_ALL=C sort <<<"$want")" ]
	[[ "$out" == *"Projets/Été"* ]]
	local f
	for f in Trash Junk Sent Archive Drafts; do
		[ "$(tsv_field "$out" "$f" special_use)" = "\\$f" ]
	done
	[ "$(tsv_field "$out" INBOX special_use)" = "" ]
	[ "$(tsv_field "$out" "Old Stuff" subscribed)" = true ]
}

@test "cyrus: quota equals the admin's GETQUOTA user/alice" {
	run -0 CHECK adminquota user/alice
	local used limit
	used=$(awk -F'\t' '$2 == "STORAGE" { print $3 * 1024 }' <<<"$output")
	limit=$(awk -F'\t' '$2 == "STORAGE" { print $4 * 1024 }' <<<"$output")
	[ "$limit" = $((MT_CY_QUOTA_LIMIT_KB * 1024)) ]
	run -0 --separate-stderr cy quota --tsv
	[ "$(tsv_field "$output" INBOX storage_used)" = "$used" ]
	[ "$(tsv_field "$output" INBOX storage_limit)" = "$limit" ]
	# the admin acting as alice (SASL PLAIN authzid) sees the same
	run -0 --separate-stderr cy_admin quota --as alice --tsv
	[ "$(tsv_field "$output" INBOX storage_used)" = "$used" ]
	[ "$(tsv_field "$output" INBOX storage_limit)" = "$limit" ]
}

@test "cyrus: quota --set as the admin changes the limit, alice may not" {
	# a dry run changes nothing and prints what the real run then reports
	run -0 --separate-stderr cy_admin quota --set user/alice STORAGE=2G MESSAGE=5000 --dry-run --tsv
	dry=$output
	[ "$dry" = "$(printf 'root\tresource\taction\tlimit\nuser/alice\tSTORAGE\twould set\t2147483648\nuser/alice\tMESSAGE\twould set\t5000')" ]
	run -0 CHECK adminquota user/alice
	[ "$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")" = "$MT_CY_QUOTA_LIMIT_KB" ]
	run -0 --separate-stderr cy_admin quota --set user/alice STORAGE=2G --tsv
	[ "$output" = "$(printf 'root\tresource\taction\tlimit\nuser/alice\tSTORAGE\tset\t2147483648')" ]
	run -0 CHECK adminquota user/alice
	[ "$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")" = 2097152 ]
	run --separate-stderr cy quota --set INBOX STORAGE=4G
	[ "$status" -ne 0 ]
	run -0 CHECK adminquota user/alice
	[ "$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")" = 2097152 ]
	run -0 --separate-stderr cy_admin quota --set user/alice STORAGE=$((MT_CY_QUOTA_LIMIT_KB))K
	run -0 CHECK adminquota user/alice
	[ "$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")" = "$MT_CY_QUOTA_LIMIT_KB" ]
}

@test "cyrus: du per folder equals the server's FETCH RFC822.SIZE sums and the manifest" {
	run -0 server_status alice
	local srv=$output
	run -0 awk -F'\t' 'NR > 1 { print $1 "\t" $2 "\t" $3 }' "$MT_CY_MANIFEST_ALICE"
	[ "$(LC_ALL=C sort <<<"$output")" = "$srv" ]
	run -0 --separate-stderr cy du --tsv
	local du=$output
	run -0 awk -F'\t' 'NR > 1 && $1 != "(total)" { print $1 "\t" $2 "\t" $3 }' <<<"$du"
	[ "$(LC_ALL=C sort <<<"$output")" = "$srv" ]
	run -0 awk -F'\t' '{ n += $2; b += $3 } END { print n "\t" b }' <<<"$srv"
	local want=$output
	run -0 --separate-stderr cy du --json
	[ "$(jq -r 'select(.type == "total") | "\(.messages)\t\(.size)"' <<<"$output")" = "$want" ]
	# bob through the admin (--as): his own box
	run -0 server_status bob
	local bob=$output
	run -0 --separate-stderr cy_admin du --as bob --tsv
	run -0 awk -F'\t' 'NR > 1 && $1 != "(total)" { print $1 "\t" $2 "\t" $3 }' <<<"$output"
	[ "$(LC_ALL=C sort <<<"$output")" = "$bob" ]
}

@test "cyrus: expunge --deleted removes exactly the \\Deleted mail of one folder" {
	CHECK clone alice INBOX T-exp
	run -0 server_status alice
	local before=$output
	local n d
	n=$(CHECK count alice T-exp)
	d=$(CHECK count alice T-exp DELETED)
	[ "$d" -ge 1 ]
	run -0 --separate-stderr cy expunge --deleted --tsv T-exp
	[ "$(tsv_field "$output" T-exp messages)" = "$d" ]
	[ "$(CHECK count alice T-exp)" = $((n - d)) ]
	[ "$(CHECK count alice T-exp DELETED)" = 0 ]
	run -0 server_status alice
	run -0 diff <(grep -v '^T-exp	' <<<"$before") <(grep -v '^T-exp	' <<<"$output")
}

@test "cyrus: expunge --older/--larger --dry-run reports the server's matches and changes nothing" {
	run -0 server_status alice
	local before=$output
	local want
	want=$(CHECK count alice INBOX NOT FLAGGED OLDER $((400 * 86400)) LARGER 10240)
	[ "$want" -ge 1 ]
	run -0 --separate-stderr cy expunge --older 400d --larger 10k --dry-run --tsv INBOX
	[ "$(tsv_field "$output" INBOX messages)" = "$want" ]
	[ "$(tsv_field "$output" INBOX action)" = "would remove" ]
	run -0 server_status alice
	[ "$output" = "$before" ]
	[ "$(CHECK count alice INBOX DELETED)" = "$(awk -F'\t' '$1 == "INBOX" { print $4 }' "$MT_CY_MANIFEST_ALICE")" ]
}

@test "cyrus: compact --dry-run plans the \\Deleted step from the server's flags and changes nothing" {
	run -0 server_status alice
	local before=$output
	run -0 --separate-stderr cy compact --dry-run --tsv
	local plan=$output
	run -0 awk -F'\t' '$1 == "deleted" { print $2 "\t" $4 }' <<<"$plan"
	local got=$output
	run -0 awk -F'\t' 'NR > 1 && $4 > 0 { print $1 "\t" $4 }' "$MT_CY_MANIFEST_ALICE"
	[ "$(LC_ALL=C sort <<<"$got")" = "$(LC_ALL=C sort <<<"$output")" ]
	run -0 server_status alice
	[ "$output" = "$before" ]
}

@test "cyrus: filter moves by subject regex (counts before/after from the server)" {
	CHECK clone alice Lists/dev T-filter
	local n want
	n=$(CHECK count alice T-filter)
	# the generator's decoded subjects: "Re: ..." and not \Deleted
	want=$(awk -F'\t' '$1 == "Lists/dev" && $8 ~ /^Re: / && $6 !~ /T/' "$MT_CY_DIR/gen/alice.index.tsv" | wc -l)
	[ "$want" -ge 2 ]
	cat >"$BATS_TEST_TMPDIR/rules.conf" <<'EOF'
rules = (
  { name = "replies"; folders = [ "T-filter" ]; match = { subject = "^Re: "; };
    move = "T-filter-re"; create = true; }
);
EOF
	run -0 --separate-stderr cy filter -f "$BATS_TEST_TMPDIR/rules.conf" --tsv
	[ "$(CHECK count alice T-filter-re)" = "$want" ]
	[ "$(CHECK count alice T-filter)" = $((n - want)) ]
	[ "$(CHECK count alice T-filter-re NOT SUBJECT '"Re: "')" = 0 ]
	[ "$(CHECK count alice T-filter-re DELETED)" = 0 ]
}

@test "cyrus: subs list, export and check agree with the server's LSUB" {
	run -0 CHECK subscribed alice
	local want=$output
	run -0 --separate-stderr cy subs export
	[ "$(LC_ALL=C sort <<<"$output")" = "$(LC_ALL=C sort <<<"$want")" ]
	run -0 --separate-stderr cy subs list --tsv
	run -0 awk -F'\t' 'NR > 1 && $2 == "ok" { print $1 }' <<<"$output"
	[ "$(LC_ALL=C sort <<<"$output")" = "$(LC_ALL=C sort <<<"$want")" ]
	run -0 --separate-stderr cy subs check
	CHECK unsubscribe alice "Old Stuff"
	run -1 --separate-stderr cy subs check
	[[ "$output" == *"Old Stuff"* ]]
	CHECK subscribe alice "Old Stuff"
	run -0 --separate-stderr cy subs check
}

@test "cyrus: archive --older moves into Archive/%Y by INTERNALDATE" {
	CHECK clone alice Archive T-arch
	local n old y
	n=$(CHECK count alice T-arch)
	old=$(CHECK count alice T-arch NOT FLAGGED OLDER $((400 * 86400)))
	[ "$old" -ge 2 ]
	run -0 --separate-stderr cy archive --older 400d T-arch
	[ "$(CHECK count alice T-arch)" = $((n - old)) ]
	# every moved message sits in the folder of its own year, flags kept
	local total=0 c
	for y in 2022 2023 2024 2025; do
		c=$(CHECK count alice "Archive/$y" 2>/dev/null || echo 0)
		total=$((total + c))
		if [ "$c" -gt 0 ]; then
			local e
			for e in $(CHECK dates alice "Archive/$y"); do
				[ "$(date -u -d "@$e" +%Y)" = "$y" ]
			done
		fi
	done
	[ "$total" = "$old" ]
}

@test "cyrus: archive --export to mbox and --import into a new folder round-trips" {
	local n bytes del
	n=$(CHECK count alice Lists/announce)
	bytes=$(CHECK size alice Lists/announce)
	del=$(CHECK count alice Lists/announce DELETED)
	run -0 --separate-stderr cy archive --export "$BATS_TEST_TMPDIR/ann.mbox" --tsv Lists/announce
	[ -s "$BATS_TEST_TMPDIR/ann.mbox" ]
	[ "$(CHECK count alice Lists/announce)" = "$n" ]
	run -0 --separate-stderr cy archive --import "$BATS_TEST_TMPDIR/ann.mbox" --into T-imp --tsv
	[ "$(CHECK count alice T-imp)" = "$n" ]
	[ "$(CHECK size alice T-imp)" = "$bytes" ]
	[ "$(CHECK count alice T-imp DELETED)" = "$del" ]
	[ "$(CHECK count alice T-imp SEEN)" = "$(CHECK count alice Lists/announce SEEN)" ]
}

@test "cyrus: compact removes \\Deleted mail everywhere and old Trash/Junk, nothing else (bob)" {
	# bob gets a \Trash and a \Junk (alice's, plus young mail that must stay) and
	# two ordinary folders with \Deleted mail
	CHECK xcopy alice Trash bob Trash '\Trash'
	CHECK append bob Trash 3
	CHECK append bob Trash 10 '\Flagged'
	CHECK append bob Trash 5 '\Deleted'
	CHECK xcopy alice Junk bob Junk '\Junk'
	CHECK append bob Junk 1 '\Seen'
	CHECK xcopy alice INBOX bob T-cin
	CHECK xcopy alice Lists/dev bob T-cdev
	run -0 server_status bob
	local before=$output
	local -A n d keep
	local f m
	run -0 CHECK manifest bob
	m=$output
	for f in T-cin T-cdev Trash Junk; do
		n[$f]=$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' <<<"$m")
		d[$f]=$(awk -F'\t' -v f="$f" '$1 == f { print $4 }' <<<"$m")
	done
	[ "${n[Trash]}" -ge 3 ]
	[ "${d[T-cin]}" -ge 1 ]
	[ "${d[T-cdev]}" -ge 1 ]
	# compact's defaults: \Trash and \Junk mail older than 30 days goes, flagged or not
	for f in Trash Junk; do
		keep[$f]=$(CHECK count bob "$f" YOUNGER $((30 * 86400)) NOT DELETED)
		[ "${keep[$f]}" -ge 1 ]
		[ "$(CHECK count bob "$f" OLDER $((30 * 86400)) NOT DELETED)" -ge 1 ]
	done
	run -0 --separate-stderr cy_bob compact --tsv
	local out=$output
	[ "$(tsv_field "$out" deleted messages)" != "" ]
	run -0 awk -F'\t' '$1 == "deleted" { print $2 "\t" $4 }' <<<"$out"
	[ "$(LC_ALL=C sort <<<"$output")" = "$(printf 'T-cdev\t%s\nT-cin\t%s\nTrash\t%s' "${d[T-cdev]}" "${d[T-cin]}" "${d[Trash]}")" ]
	run -0 awk -F'\t' '$1 == "trash" { print $2 "\t" $4 }' <<<"$out"
	[ "$output" = "Trash	$((n[Trash] - d[Trash] - keep[Trash]))" ]
	run -0 awk -F'\t' '$1 == "junk" { print $2 "\t" $4 }' <<<"$out"
	[ "$output" = "Junk	$((n[Junk] - d[Junk] - keep[Junk]))" ]
	# the server's counts after the run
	run -0 CHECK manifest bob
	m=$output
	for f in T-cin T-cdev; do
		[ "$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' <<<"$m")" = $((n[$f] - d[$f])) ]
		[ "$(awk -F'\t' -v f="$f" '$1 == f { print $4 }' <<<"$m")" = 0 ]
	done
	for f in Trash Junk; do
		[ "$(CHECK count bob "$f")" = "${keep[$f]}" ]
		[ "$(CHECK count bob "$f" OLDER $((30 * 86400)))" = 0 ]
	done
	# bob's own folders (no \Deleted mail in them) are untouched, byte for byte
	run -0 server_status bob
	local after=$output
	[ "$(grep -c . <<<"$after")" = "$(grep -c . <<<"$before")" ]
	run -0 diff <(grep -Ev '^(T-cin|T-cdev|Trash|Junk)	' <<<"$before") <(grep -Ev '^(T-cin|T-cdev|Trash|Junk)	' <<<"$after")
}

@test "cyrus: expunge --trash moves exactly the selection to \\Trash (MOVE), \\Flagged mail stays" {
	CHECK create bob Trash '\Trash'
	CHECK xcopy alice INBOX bob T-etr
	# old flagged mail that --older would select without the \Flagged rule
	CHECK append bob T-etr 500 '\Flagged'
	CHECK append bob T-etr 600 '\Flagged' '\Seen'
	local n want fl old=$((400 * 86400))
	n=$(CHECK count bob T-etr)
	want=$(CHECK count bob T-etr NOT FLAGGED OLDER $old)
	fl=$(CHECK count bob T-etr FLAGGED)
	[ "$want" -ge 2 ]
	[ "$(CHECK count bob T-etr FLAGGED OLDER $old)" -ge 2 ]
	[ "$(CHECK count bob Trash)" = 0 ]
	run -0 --separate-stderr cy_bob expunge --older 400d --trash --tsv T-etr
	[ "$(tsv_field "$output" T-etr messages)" = "$want" ]
	[ "$(tsv_field "$output" T-etr action)" = moved ]
	[ "$(CHECK count bob T-etr)" = $((n - want)) ]
	[ "$(CHECK count bob Trash)" = "$want" ]
	[ "$(CHECK count bob T-etr NOT FLAGGED OLDER $old)" = 0 ]
	[ "$(CHECK count bob T-etr FLAGGED)" = "$fl" ]
	[ "$(CHECK count bob Trash FLAGGED)" = 0 ]
	[ "$(CHECK count bob Trash OLDER $old)" = "$want" ]
	# bob's own folders untouched
	run -0 server_status bob
	[ "$(grep -E '^(INBOX|Bobs)	' <<<"$output")" = "$(awk -F'\t' 'NR > 1 { print $1 "\t" $2 "\t" $3 }' "$MT_CY_MANIFEST_BOB" | LC_ALL=C sort)" ]
}

@test "cyrus: subs add/remove by pattern, check exits 1 then 0, fix repairs a folder deleted behind its back" {
	CHECK create alice T-subs
	CHECK create alice T-subs/a
	CHECK create alice T-subs/b
	run -0 CHECK subscribed alice
	local base=$output
	[[ "$base" != *T-subs* ]]
	run -1 --separate-stderr cy subs check --tsv
	[ "$(tsv_field "$output" T-subs/a state)" = "not subscribed" ]
	[ "$(tsv_field "$output" T-subs/b state)" = "not subscribed" ]
	# add by pattern: '*' crosses the hierarchy
	run -0 --separate-stderr cy subs add 'T-subs*' --tsv
	[ "$(tsv_field "$output" T-subs/a state)" = subscribed ]
	run -0 CHECK subscribed alice
	[ "$output" = "$(printf '%s\nT-subs\nT-subs/a\nT-subs/b' "$base" | LC_ALL=C sort)" ]
	run -0 --separate-stderr cy subs check
	[[ "$output" == *"subscriptions are in order"* ]]
	# remove by pattern
	run -0 --separate-stderr cy subs remove 'T-subs/b' --tsv
	[ "$(tsv_field "$output" T-subs/b state)" = unsubscribed ]
	run -0 CHECK subscribed alice
	[ "$output" = "$(printf '%s\nT-subs\nT-subs/a' "$base" | LC_ALL=C sort)" ]
	run -1 --separate-stderr cy subs check --tsv
	[ "$(tsv_field "$output" T-subs/b state)" = "not subscribed" ]
	CHECK delete alice T-subs/b
	run -0 --separate-stderr cy subs check
	# T-subs/a deleted by another client: its subscription stays (Cyrus's LSUB hides
	# it, LIST (SUBSCRIBED) shows it \NonExistent)
	CHECK rmfolder alice T-subs/a
	run -0 CHECK subscriptions alice
	[[ "$output" == *"T-subs/a	gone"* ]]
	local subs=$output
	run -1 --separate-stderr cy subs check --tsv
	[ "$(tsv_field "$output" T-subs/a state)" = "dangling subscription" ]
	run -0 --separate-stderr cy subs fix --dry-run --tsv
	[ "$(tsv_field "$output" T-subs/a state)" = "would unsubscribe" ]
	run -0 CHECK subscriptions alice
	[ "$output" = "$subs" ]
	run -0 --separate-stderr cy subs fix --tsv
	[ "$(tsv_field "$output" T-subs/a state)" = unsubscribed ]
	run -0 CHECK subscriptions alice
	[[ "$output" != *T-subs/a* ]]
	[ "$output" = "$(grep -v '^T-subs/a	' <<<"$subs")" ]
	run -0 CHECK subscribed alice
	[ "$output" = "$(printf '%s\nT-subs' "$base" | LC_ALL=C sort)" ]
	run -0 --separate-stderr cy subs check
	[[ "$output" == *"subscriptions are in order"* ]]
}

@test "cyrus: quota --warn 85 --crit 95 is a monitoring plugin (OK, WARNING, CRITICAL from the admin's limits)" {
	run -0 CHECK quota alice
	local used_kb limit_kb
	used_kb=$(awk -F'\t' '$1 == "INBOX" && $2 == "STORAGE" { print $3 }' <<<"$output")
	limit_kb=$(awk -F'\t' '$1 == "INBOX" && $2 == "STORAGE" { print $4 }' <<<"$output")
	[ "$limit_kb" = "$MT_CY_QUOTA_LIMIT_KB" ]
	[ "$used_kb" -ge 1 ]
	# near-empty: OK, perfdata in bytes with the thresholds converted
	local lim=$((limit_kb * 1024))
	run -0 --separate-stderr cy quota --warn 85 --crit 95
	[[ "$output" == "QUOTA OK - "* ]]
	[[ "$output" == *" | 'INBOX storage'=$((used_kb * 1024))B;$((lim * 85 / 100));$((lim * 95 / 100));0;$lim"* ]]
	[ "$(grep -c . <<<"$output")" = 1 ]
	# about 90 % used: WARNING (limit set with mailtool quota --set as the admin)
	local warn_kb=$((used_kb * 100 / 90))
	run -0 --separate-stderr cy_admin quota --set user/alice STORAGE=${warn_kb}K
	run -0 CHECK adminquota user/alice
	[ "$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")" = "$warn_kb" ]
	run -1 --separate-stderr cy quota --warn 85 --crit 95
	[[ "$output" == "QUOTA WARNING - "* ]]
	[[ "$output" == *"'INBOX storage'=$((used_kb * 1024))B;"*";0;$((warn_kb * 1024))"* ]]
	# over the limit: CRITICAL (limit set with the admin's own SETQUOTA)
	CHECK setquota user/alice $((used_kb / 2))
	run -2 --separate-stderr cy quota --warn 85 --crit 95
	[[ "$output" == "QUOTA CRITICAL - "* ]]
	[[ "$output" == *";0;$((used_kb / 2 * 1024))"* ]]
	# back to the original limit
	run -0 --separate-stderr cy_admin quota --set user/alice STORAGE=${MT_CY_QUOTA_LIMIT_KB}K
	run -0 CHECK adminquota user/alice
	[ "$(awk -F'\t' '$2 == "STORAGE" { print $4 }' <<<"$output")" = "$MT_CY_QUOTA_LIMIT_KB" ]
	run -0 --separate-stderr cy quota --warn 85 --crit 95
	[[ "$output" == "QUOTA OK - "* ]]
}

@test "cyrus: filter --dry-run reports the server's matches and changes nothing at all" {
	run -0 CHECK manifest alice
	local before=$output
	run -0 CHECK folders alice
	local folders=$output
	run -0 CHECK subscriptions alice
	local subs=$output
	local want_in want_dev want_big
	want_in=$(awk -F'\t' '$1 == "INBOX" && $8 ~ /^Re: / && $6 !~ /T/' "$MT_CY_DIR/gen/alice.index.tsv" | wc -l)
	want_dev=$(awk -F'\t' '$1 == "Lists/dev" && $8 ~ /^Re: / && $6 !~ /T/' "$MT_CY_DIR/gen/alice.index.tsv" | wc -l)
	want_big=$(CHECK count alice Sent LARGER 102400 NOT DELETED)
	[ "$want_in" -ge 1 ]
	[ "$want_dev" -ge 1 ]
	[ "$want_big" -ge 1 ]
	cat >"$BATS_TEST_TMPDIR/rules.conf" <<'EOF2'
rules = (
  { name = "replies"; folders = [ "INBOX", "Lists/dev" ]; match = { subject = "^Re: "; };
    move = "T-filter-re"; create = true; },
  { name = "big"; folders = [ "Sent" ]; match = { larger = "100k"; }; flag = [ "\\Flagged", "\\Seen" ]; }
);
EOF2
	run -0 --separate-stderr cy filter -f "$BATS_TEST_TMPDIR/rules.conf" --dry-run --tsv
	local out=$output
	run -0 awk -F'\t' 'NR > 1 { print $1 "\t" $2 "\t" $3 "\t" $4 }' <<<"$out"
	[ "$output" = "$(printf 'replies\tINBOX\twould move\t%s\nreplies\tLists/dev\twould move\t%s\nbig\tSent\twould flag\t%s' \
		"$want_in" "$want_dev" "$want_big")" ]
	run -0 CHECK manifest alice
	[ "$output" = "$before" ]
	run -0 CHECK folders alice
	[ "$output" = "$folders" ]
	run -0 CHECK subscriptions alice
	[ "$output" = "$subs" ]
}

@test "cyrus: filter --new examines nothing new on its second run, then only what arrived" {
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	CHECK clone alice Lists/dev T-new
	local n want
	n=$(CHECK count alice T-new)
	want=$(awk -F'\t' '$1 == "Lists/dev" && $8 ~ /^Re: / && $6 !~ /T/' "$MT_CY_DIR/gen/alice.index.tsv" | wc -l)
	[ "$want" -ge 1 ]
	cat >"$BATS_TEST_TMPDIR/rules.conf" <<'EOF2'
rules = (
  { name = "replies"; folders = [ "T-new" ]; match = { subject = "^Re: "; };
    move = "T-new-re"; create = true; }
);
EOF2
	run -0 --separate-stderr cy filter -f "$BATS_TEST_TMPDIR/rules.conf" --new -v --tsv
	[[ "$stderr" == *"T-new: examined $n of $n messages"* ]]
	[ "$(tsv_field "$output" replies messages)" = "$want" ]
	[ "$(CHECK count alice T-new-re)" = "$want" ]
	[ "$(CHECK count alice T-new)" = $((n - want)) ]
	run -0 --separate-stderr cy filter -f "$BATS_TEST_TMPDIR/rules.conf" --new -v --tsv
	[[ "$stderr" == *"T-new: examined 0 of $((n - want)) messages"* ]]
	[ "$(grep -c . <<<"$output")" = 1 ]
	[ "$(CHECK count alice T-new-re)" = "$want" ]
	[ "$(CHECK count alice T-new)" = $((n - want)) ]
	# one new message (not a reply): examined, left where it is
	CHECK append alice T-new 0
	run -0 --separate-stderr cy filter -f "$BATS_TEST_TMPDIR/rules.conf" --new -v --tsv
	[[ "$stderr" == *"T-new: examined 1 of $((n - want + 1)) messages"* ]]
	[ "$(CHECK count alice T-new)" = $((n - want + 1)) ]
	[ "$(CHECK count alice T-new-re)" = "$want" ]
}

@test "cyrus: ls --status messages, unseen and size equal the server's" {
	run -0 --separate-stderr cy ls --status --tsv
	local out=$output
	run -0 server_status alice
	local srv=$output
	run -0 awk -F'\t' 'NR > 1 { print $1 "\t" $4 "\t" $6 }' <<<"$out"
	[ "$(LC_ALL=C sort <<<"$output")" = "$srv" ]
	# unseen: the server's SEARCH UNSEEN per folder
	run -0 CHECK unseen alice
	local unseen=$output
	[ "$(grep -c . <<<"$unseen")" = "$(grep -c . <<<"$srv")" ]
	run -0 awk -F'\t' '{ n += $2 } END { print n }' <<<"$unseen"
	[ "$output" -ge 1 ]
	run -0 awk -F'\t' 'NR > 1 { print $1 "\t" $5 }' <<<"$out"
	[ "$(LC_ALL=C sort <<<"$output")" = "$(LC_ALL=C sort <<<"$unseen")" ]
	[ "$(tsv_field "$out" INBOX messages)" -ge 1 ]
}

@test "cyrus: sieve over timsieved: put twice sends one PUTSCRIPT, --as bob through the admin, rm --force" {
	local s="$BATS_TEST_TMPDIR/s.sieve"
	printf 'require "fileinto";\nif header :contains "subject" "[dev]" {\n  fileinto "Lists/dev";\n}\n' > "$s"
	# what an earlier failed run may have left
	run cy sieve rm mailtool --force
	run cy_bob sieve rm mailtool --force
	run -0 --separate-stderr cy sieve put --script "$s" --activate --trace
	[ "$(grep -c '^C: PUTSCRIPT' <<<"$stderr")" -eq 1 ]
	[ "$(grep -c '^C: STARTTLS' <<<"$stderr")" -eq 1 ]
	run -0 --separate-stderr cy sieve put --script "$s" --activate --trace
	[ "$(grep -cE '^C: (PUTSCRIPT|SETACTIVE)' <<<"$stderr")" -eq 0 ]
	run -0 --separate-stderr cy sieve ls --tsv
	[ "${lines[1]}" = "mailtool	true" ]
	run -0 --separate-stderr cy sieve get mailtool
	[ "$output" = "$(cat "$s")" ]
	run -0 --separate-stderr cy_admin sieve put --as bob --script "$s"
	run -0 --separate-stderr cy_bob sieve ls --tsv
	[ "${lines[1]}" = "mailtool	false" ]
	run --separate-stderr cy sieve rm mailtool
	[ "$status" -eq 69 ]
	run -0 --separate-stderr cy sieve rm mailtool --force
	run -0 --separate-stderr cy_bob sieve rm mailtool
	run -0 --separate-stderr cy sieve ls --tsv
	[ "${#lines[@]}" -eq 1 ]
}

@test "cyrus: du --messages (SORT) lists the largest messages as the server sizes them; --histogram adds up" {
	run -0 --separate-stderr cy du --messages --top 5 --tsv --trace INBOX
	[[ "$stderr" == *"UID SORT (REVERSE SIZE) UTF-8 UID "* ]]
	[ "$(echo "$output" | tail -n +2 | cut -f4)" = "$(CHECK sizes alice INBOX | sort -nr | head -5)" ]
	[ -z "$(echo "$output" | tail -n +2 | awk -F'\t' '$1 != "INBOX"')" ]
	run -0 --separate-stderr cy du --histogram --tsv INBOX
	[ "$(echo "$output" | tail -n +2 | awk -F'\t' '{m += $2; s += $3} END {print m, s}')" = \
		"$(CHECK count alice INBOX) $(CHECK size alice INBOX)" ]
}

@test "cyrus: filter --watch waits with IDLE (Cyrus offers no NOTIFY) and files mail APPENDed by another client" {
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state" XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	CHECK create alice T-watch
	cat > "$BATS_TEST_TMPDIR/rules.conf" <<'RULES'
rules = ( { name = "appended"; folders = [ "T-watch" ]; match = { subject = "^appended"; };
    move = "T-watch-done"; create = true; } );
RULES
	# (not through cy: $! must be mailtool itself, which SIGTERM stops)
	"$MT" filter --config "$MT_CY_CONF" -a cy-alice -f "$BATS_TEST_TMPDIR/rules.conf" --watch -v 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! i
	for i in $(seq 100); do grep -q watching "$BATS_TEST_TMPDIR/err" && break; sleep 0.1; done
	grep -q "watching 1 folder (idle, 1 connection besides" "$BATS_TEST_TMPDIR/err"
	CHECK append alice T-watch 0
	for i in $(seq 150); do [ "$(CHECK count alice T-watch-done 2>/dev/null)" = 1 ] && break; sleep 0.1; done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"   # (shown when the test fails)
	[ "$rc" -eq 0 ]
	[ "$(CHECK count alice T-watch-done)" = 1 ]
	[ "$(CHECK count alice T-watch)" = 0 ]
}
