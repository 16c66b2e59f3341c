#!/usr/bin/env bats
# courier.bats — mailtool's applets against a private Courier-IMAP 5 server
# (tests/lib/courier.sh): no MOVE, CONDSTORE, QRESYNC, COMPRESS, LIST-STATUS,
# STATUS=SIZE or SPECIAL-USE; INBOX. prefix with '.' separator; maildir quota.
# Figures are checked against the on-disk Maildir and an independent python
# imaplib session (tests/lib/courier-check.py), never against mailtool.
load helpers

co_wanted() {
	mt_other_pass sanitizer && return 1
	case ${MAILTOOL_TEST_SERVERS-courier} in *courier*) return 0 ;; esac
	return 1
}

setup_file() {
	co_wanted || return 0
	CO_DIR=$(mktemp -d /tmp/mailtool-courier.XXXXXX)
	chmod 755 "$CO_DIR"
	export CO_DIR
	"$MT_REPO/tests/lib/courier.sh" start "$CO_DIR/srv" >"$CO_DIR/start.log" 2>&1 || {
		cat "$CO_DIR/start.log" >&2
		return 1
	}
	cp -a "$CO_DIR/srv/mail/alice/Maildir" "$CO_DIR/alice.snap"
}

teardown_file() {
	[ -n "${CO_DIR:-}" ] || return 0
	"$MT_REPO/tests/lib/courier.sh" stop "$CO_DIR/srv" >/dev/null 2>&1
	rm -rf "$CO_DIR"
}

setup() {
	co_wanted || skip "in make check's sanitizer pass, or MAILTOOL_TEST_SERVERS does not name courier"
	. "$CO_DIR/srv/env.sh"
	A=(--config "$MT_CO_CONF" -a co-alice)
	MD=$MT_CO_MAILDIR_ALICE
}

# put alice's Maildir back as started (no session of hers is open between tests)
co_restore() {
	rm -rf "$MD"
	cp -a "$CO_DIR/alice.snap" "$MD"
}

# independent IMAP view: co_check alice|bob COMMAND ARGS
co_check() {
	local u=$MT_CO_USER_ALICE p=$MT_CO_PASS_ALICE
	[ "$1" = bob ] && u=$MT_CO_USER_BOB p=$MT_CO_PASS_BOB
	python3 "$MT_CO_CHECK" --port "$MT_CO_PORT" --ca "$MT_CO_CA" --user "$u" --password "$p" "${@:2}"
}

# on-disk Maildir view
co_dir() { # IMAP folder name -> directory
	case $1 in INBOX) echo "$MD" ;; INBOX.*) echo "$MD/.${1#INBOX.}" ;; esac
}
co_files() { # FOLDER -> number of messages on disk
	local d
	d=$(co_dir "$1")
	find "$d/cur" "$d/new" -type f | wc -l
}
co_listing() { # every message file name (flags included) of every folder, sorted
	(cd "$MD" && find . -path '*/cur/*' -o -path '*/new/*' | sort)
}
# messages whose flags (after :2,) contain letter $2 and not letter $3
co_flagfiles() {
	local d
	d=$(co_dir "$1")
	find "$d/cur" "$d/new" -type f -printf '%f\n' | sed -n 's/.*:2,//p' |
		awk -v has="$2" -v not="${3:-}" 'index($0, has) && (not == "" || !index($0, not))' | wc -l
}
manifest_col() { # FOLDER COLUMN(2=messages 3=bytes ...)
	awk -F'\t' -v f="$1" -v c="$2" '$1 == f { print $c }' "$MT_CO_MANIFEST_ALICE"
}

@test "courier: info over STARTTLS verifies the certificate and shows Courier's capabilities" {
	run -0 --separate-stderr mt info "${A[@]}"
	[[ $output == *"transport:"*STARTTLS* ]]
	[[ $output == *"Courier-IMAP ready"* ]]
	[[ $output == *"verified by CA and host name"* ]]
	[[ $output =~ caps_after_login:[^$'\n']*QUOTA ]]
	[[ $output =~ caps_after_login:[^$'\n']*UIDPLUS ]]
	[[ ! $output =~ caps_after_login:[^$'\n']*MOVE ]]
	[[ $output == *'personal: "INBOX."'* ]]
	# implicit TLS listener too
	run -0 --separate-stderr mt info --config "$MT_CO_CONF" -a co-alice-imaps
	[[ $output == *"Courier-IMAP ready"* ]]
}

@test "courier: ls shows INBOX.-prefixed folders as the server lists them" {
	run -0 co_check alice list
	local want
	want=$(printf '%s\n' "$output" | sort)
	run -0 --separate-stderr mt ls "${A[@]}" --tsv
	local got
	got=$(printf '%s\n' "$output" | tail -n +2 | cut -f1 | sort)
	[ "$got" = "$want" ]
	[[ $got == *"INBOX.Sent"* ]]
	[[ $got == *"INBOX.Projets.Été"* ]]
	[[ $got == *"INBOX.Old Stuff"* ]]
}

@test "courier: ls subscribed column matches courierimapsubscribed" {
	run -0 --separate-stderr mt ls "${A[@]}" --tsv
	local f sub want
	while IFS='|' read -r f sub; do
		[ "$f" = folder ] && continue
		want=false
		grep -qxF "$f" "$MD/courierimapsubscribed" && want=true
		[ "$sub" = "$want" ] || { echo "folder $f: ls says '$sub', courierimapsubscribed says $want"; return 1; }
	done < <(printf '%s\n' "$output" | awk -F'\t' '{ print $1 "|" $3 }')
}

@test "courier: quota shows the maildir quota of the maildirsize file" {
	local limit
	limit=$(head -n 1 "$MD/maildirsize" | sed 's/S.*//')
	[ "$limit" = "$MT_CO_QUOTA_BYTES" ]
	run -0 co_check alice quota
	local kused klimit
	read -r kused klimit <<<"$output"
	run -0 --separate-stderr mt quota "${A[@]}" --tsv
	local used lim
	used=$(printf '%s\n' "$output" | awk -F'\t' 'NR == 2 { print $2 }')
	lim=$(printf '%s\n' "$output" | awk -F'\t' 'NR == 2 { print $3 }')
	[ "$used" = $((kused * 1024)) ]
	[ "$lim" = $((klimit * 1024)) ]
	# the server's KiB figures come from maildirsize: limit rounded, usage = sum of lines
	local bytes
	bytes=$(tail -n +2 "$MD/maildirsize" | awk '{ s += $1 } END { print s }')
	[ $(( (bytes + 1023) / 1024 )) -ge "$kused" ]
	[ $(( bytes / 1024 )) -le "$kused" ]
	[ $(( (limit + 1023) / 1024 )) -ge "$klimit" ]
	[ $(( limit / 1024 )) -le "$klimit" ]
}

@test "courier: quota of a user without a quota (* QUOTA \"ROOT\" with no list) is not an error" {
	run -0 co_check bob quota
	[ -z "$output" ]
	run -0 --separate-stderr mt quota --config "$MT_CO_CONF" -a co-bob --tsv
	[[ $output == root* ]]
}

@test "courier: quota --set is refused (no SETQUOTA): exit 69, nothing changes" {
	local before
	before=$(cat "$MD/maildirsize")
	run -69 --separate-stderr mt quota "${A[@]}" --set ROOT STORAGE=1G
	[[ $stderr == *SETQUOTA* ]]
	[ "$(head -n 1 "$MD/maildirsize")" = "$(head -n 1 <<<"$before")" ]
}

@test "courier: du per folder equals RFC822.SIZE sums (FETCH fallback, no STATUS=SIZE)" {
	run -0 --separate-stderr mt du "${A[@]}" --tsv
	local f n s total=0 count=0 seen=0
	while IFS=$'\t' read -r f n s; do
		[ "$f" = folder ] && continue
		[ "$n" = "$(manifest_col "$f" 2)" ] || { echo "$f: messages $n != manifest"; return 1; }
		[ "$s" = "$(manifest_col "$f" 3)" ] || { echo "$f: bytes $s != manifest"; return 1; }
		[ "$n" = "$(co_files "$f")" ] || { echo "$f: $n messages, $(co_files "$f") files on disk"; return 1; }
		count=$((count + n)) total=$((total + s)) seen=$((seen + 1))
	done <<<"$output"
	[ "$seen" = $(( $(wc -l <"$MT_CO_MANIFEST_ALICE") - 1 )) ]
	# the total is JSON's (TSV holds the folder records only)
	run -0 --separate-stderr mt du "${A[@]}" --json
	[ "$(jq -r 'select(.type == "total") | "\(.messages) \(.size)"' <<<"$output")" = "$count $total" ]
}

@test "courier: folder names are taken with or without the INBOX. prefix; an unknown one is 65" {
	run -0 --separate-stderr mt du "${A[@]}" --tsv INBOX.Sent
	[[ $output == *"INBOX.Sent"$'\t'"$(manifest_col INBOX.Sent 2)"$'\t'"$(manifest_col INBOX.Sent 3)"* ]]
	# as a mail client that hides the personal namespace prefix shows it
	run -0 --separate-stderr mt du "${A[@]}" --tsv Sent
	[[ $output == *"INBOX.Sent"$'\t'"$(manifest_col INBOX.Sent 2)"$'\t'"$(manifest_col INBOX.Sent 3)"* ]]
	run -0 --separate-stderr mt expunge "${A[@]}" --dry-run --tsv --larger 1 'Lists.*'
	[[ $output == *"INBOX.Lists.dev"* && $output == *"INBOX.Lists.announce"* ]]
	run -65 --separate-stderr mt du "${A[@]}" Nope
	[[ $stderr == *"'Nope'"* ]]
	run -65 --separate-stderr mt expunge "${A[@]}" --dry-run --deleted Nope
	[[ $stderr == *"'Nope'"* ]]
}

@test "courier: expunge --deleted removes exactly the unflagged T files of one folder" {
	co_restore
	local f=INBOX.Lists.announce before gone others
	before=$(co_files "$f")
	gone=$(co_flagfiles "$f" T F)
	[ "$gone" -gt 0 ]
	others=$(co_listing | grep -v '^\./\.Lists\.announce/')
	run -0 --separate-stderr mt expunge "${A[@]}" --deleted "$f"
	[ "$(co_files "$f")" = $((before - gone)) ]
	[ "$(co_flagfiles "$f" T F)" = 0 ]
	[ "$(co_listing | grep -v '^\./\.Lists\.announce/')" = "$others" ]
	co_restore
}

@test "courier: expunge --older/--larger --dry-run changes nothing" {
	co_restore
	local before
	before=$(co_listing)
	run -0 --separate-stderr mt expunge "${A[@]}" --dry-run --older 30d --larger 1M INBOX INBOX.Archive INBOX.Sent
	[[ $output == *[1-9]* ]]
	run -0 --separate-stderr mt expunge "${A[@]}" -n --older 2y -r INBOX
	[ "$(co_listing)" = "$before" ]
}

@test "courier: expunge --trash without SPECIAL-USE moves to INBOX.Trash by name (COPY + UID EXPUNGE)" {
	co_restore
	local junk trash others moved
	junk=$(co_files INBOX.Junk) trash=$(co_files INBOX.Trash)
	others=$(co_listing | grep -v -e '^\./\.Junk/' -e '^\./\.Trash/')
	run -0 --separate-stderr mt expunge "${A[@]}" --trash --trace --larger 1 INBOX.Junk
	[[ $stderr == *"UID COPY"* && $stderr == *"UID EXPUNGE"* ]]
	[[ $stderr != *"UID MOVE"* ]]
	moved=$((junk - $(co_files INBOX.Junk)))
	# everything but the \Flagged messages (kept without --include-flagged)
	[ "$moved" = $((junk - $(co_flagfiles INBOX.Junk F))) ]
	[ "$moved" -gt 0 ]
	[ "$(co_files INBOX.Trash)" = $((trash + moved)) ]
	[ "$(co_listing | grep -v -e '^\./\.Junk/' -e '^\./\.Trash/')" = "$others" ]
	co_restore
}

@test "courier: compact --dry-run changes nothing; compact removes every \\Deleted message and old Trash and Junk" {
	co_restore
	local before
	before=$(co_listing)
	run -0 --separate-stderr mt compact "${A[@]}" --dry-run
	[[ $output == *"would free"* ]]
	[ "$(co_listing)" = "$before" ]
	local f want=()
	while IFS=$'\t' read -r f _; do
		[ "$f" = folder ] && continue
		case $f in
		# Trash and Junk, found by name, are emptied of mail over 30 days
		# old, \Flagged included: the fixture's is all older (before 2026-11-01)
		INBOX.Trash | INBOX.Junk) want+=("$f=0") ;;
		*) want+=("$f=$(( $(co_files "$f") - $(co_flagfiles "$f" T) ))") ;;
		esac
	done <"$MT_CO_MANIFEST_ALICE"
	run -0 --separate-stderr mt compact "${A[@]}"
	local w
	for w in "${want[@]}"; do
		[ "$(co_files "${w%=*}")" = "${w##*=}" ] || { echo "${w%=*}: $(co_files "${w%=*}") files, want ${w##*=}"; return 1; }
	done
	[ "$(co_check alice flagcount INBOX '\Deleted')" = 0 ]
	co_restore
}

@test "courier: filter moves by subject regex with COPY + UID EXPUNGE (no MOVE)" {
	co_restore
	cat >"$BATS_TEST_TMPDIR/rules.conf" <<'EOF'
rules = (
  { name = "spam-subjects";
    folder = "INBOX.Junk";
    match = { subject = "(?i)won a prize|hot singles"; };
    move = "INBOX.Junk.Caught"; create = true; }
);
EOF
	run -0 co_check alice subjects INBOX.Junk
	local n before
	n=$(printf '%s\n' "$output" | grep -c -i -E 'won a prize|hot singles')
	[ "$n" -gt 0 ]
	before=$(co_files INBOX.Junk)
	run -0 --separate-stderr mt filter "${A[@]}" -f "$BATS_TEST_TMPDIR/rules.conf" --dry-run
	[ "$(co_files INBOX.Junk)" = "$before" ]
	run -0 --separate-stderr mt filter "${A[@]}" -f "$BATS_TEST_TMPDIR/rules.conf" --trace
	[[ $stderr == *"UID COPY"* ]]
	[[ $stderr == *"UID EXPUNGE"* ]]
	[[ $stderr != *"UID MOVE"* ]]
	[ "$(co_files INBOX.Junk)" = $((before - n)) ]
	[ "$(co_files INBOX.Junk.Caught)" = "$n" ]
	run -0 co_check alice subjects INBOX.Junk.Caught
	[ "$(printf '%s\n' "$output" | grep -c -i -E 'won a prize|hot singles')" = "$n" ]
	run -0 co_check alice subjects INBOX.Junk
	[ "$(printf '%s\n' "$output" | grep -c -i -E 'won a prize|hot singles')" = 0 ]
	co_restore
}

@test "courier: a rule's folder named without INBOX. is the folder under it, for --explain --connect and the run alike" {
	co_restore
	printf '%s\n' 'rules = ( { name = "j"; folder = "Junk"; match = { larger = "1"; }; flag = "$Seen1"; } );' > "$BATS_TEST_TMPDIR/rules.conf"
	run -0 --separate-stderr mt filter "${A[@]}" -f "$BATS_TEST_TMPDIR/rules.conf" --explain --connect
	printf '%s\n' "$output" | grep -qx '  folders: INBOX.Junk'
	run -0 --separate-stderr mt filter "${A[@]}" -f "$BATS_TEST_TMPDIR/rules.conf" --dry-run --tsv
	[[ $output == *$'j\tINBOX.Junk\t'* ]]
	co_restore
}

@test "courier: subs export lists exactly courierimapsubscribed" {
	run -0 --separate-stderr mt subs "${A[@]}" export
	[ "$(printf '%s\n' "$output" | sort)" = "$(sort "$MD/courierimapsubscribed")" ]
}

@test "courier: subs list shows every subscription as ok, none gone" {
	run -0 --separate-stderr mt subs "${A[@]}" --tsv
	local n
	n=$(printf '%s\n' "$output" | tail -n +2 | grep -c $'\tok$')
	[ "$n" = "$(wc -l <"$MD/courierimapsubscribed")" ]
	[ "$(printf '%s\n' "$output" | grep -c gone)" = 0 ]
}

@test "courier: subs check reports INBOX.Old Stuff (not subscribed) and exits 1" {
	run -1 --separate-stderr mt subs "${A[@]}" check
	[[ $output == *"INBOX.Old Stuff"* ]]
	[ "$(printf '%s\n' "$output" | tail -n +2 | wc -l)" = 1 ]
}

@test "courier: archive --older moves into dated INBOX.Old.%Y folders" {
	co_restore
	local f=INBOX.Lists.dev d cut y exp
	d=$(co_dir "$f")
	cut=$(( $(date +%s) - 365 * 86400 ))
	# expected per year: files older than 365 d, not \Flagged (mtime = INTERNALDATE)
	exp=$(find "$d/cur" "$d/new" -type f ! -newermt "@$cut" -printf '%TY %f\n' | awk '$2 !~ /:2,[^F]*F/ { print $1 }' | sort | uniq -c)
	[ -n "$exp" ]
	local before moved
	before=$(co_files "$f")
	moved=$(awk '{ s += $1 } END { print s }' <<<"$exp")
	run -0 --separate-stderr mt archive "${A[@]}" --older 365d --to 'INBOX.Old.%Y' "$f" --trace
	[[ $stderr == *"UID COPY"* ]]
	[[ $stderr != *"UID MOVE"* ]]
	[ "$(co_files "$f")" = $((before - moved)) ]
	local c
	while read -r c y; do
		[ "$(co_files "INBOX.Old.$y")" = "$c" ] || { echo "INBOX.Old.$y: $(co_files "INBOX.Old.$y") != $c"; return 1; }
		[ "$(co_check alice count "INBOX.Old.$y")" = "$c" ]
	done <<<"$exp"
	co_restore
}

@test "courier: archive --export to mbox and --import into a new folder keep the count" {
	co_restore
	local f=INBOX.Lists.announce n
	n=$(co_files "$f")
	run -0 --separate-stderr mt archive "${A[@]}" --export "$BATS_TEST_TMPDIR/ann.mbox" "$f"
	[ "$(grep -c '^From ' "$BATS_TEST_TMPDIR/ann.mbox")" = "$n" ]
	[ "$(co_files "$f")" = "$n" ]
	run -0 --separate-stderr mt archive "${A[@]}" --import "$BATS_TEST_TMPDIR/ann.mbox" --into INBOX.Imported
	[ "$(co_files INBOX.Imported)" = "$n" ]
	[ "$(co_check alice count INBOX.Imported)" = "$n" ]
	[ "$(co_check alice bytes INBOX.Imported)" = "$(co_check alice bytes "$f")" ]
	co_restore
}

@test "courier: du --messages lists the largest messages as the server sizes them (SORT as it offers it)" {
	run -0 --separate-stderr mt du "${A[@]}" --messages --top 5 --tsv --trace INBOX
	if co_check alice caps | grep -qx SORT; then
		[[ "$stderr" == *"UID SORT (REVERSE SIZE) UTF-8 UID "* ]]
	else
		[[ "$stderr" == *"UID SEARCH UID "* && "$stderr" != *"UID SORT"* ]]
	fi
	want=$(co_check alice sizes INBOX | sort -t $'\t' -k2,2nr -k1,1n | head -5 | awk -F'\t' '{print "INBOX\t" $1 "\t" $2}')
	[ "$(echo "$output" | tail -n +2 | cut -f1,2,4)" = "$want" ]
	run -0 --separate-stderr mt du "${A[@]}" --histogram --tsv INBOX
	[ "$(echo "$output" | tail -n +2 | awk -F'\t' '{m += $2; s += $3} END {print m, s}')" = \
		"$(manifest_col INBOX 2) $(manifest_col INBOX 3)" ]
}
