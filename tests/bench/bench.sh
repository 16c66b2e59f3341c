#!/usr/bin/env bash
# bench.sh — `make bench`: mailtool against the server's own tools on a box of
# the size the field complains about. Not a test: it prints figures.
#
# Builds (deterministically, tests/lib/genmail.py) carol's box: INBOX 70,000,
# Trash 5,000, Junk 3,000, Sent 8,000 and two list folders, in a private
# Dovecot on loopback; then, each RUNS times from a reset box, times
#   du of all folders            vs doveadm mailbox status (the floor: no network)
#   expunge Trash --older 30d    vs doveadm expunge ... before 30d
#   filter (invoices, big mail)  vs imapfilter (Debian package) and doveadm move
#   filter --new after 10 new deliveries (fresh, and through --persist)
#   archive --export of Sent (8,000 messages) vs doveadm fetch text; --import back
#   quota 20 times fresh vs through --persist (x column: ratio to fresh)
# and prints median wall time, ratio to doveadm, round trips and bytes on the
# wire (from mailtool -v), and whether each result was right.
set -u -o pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-3}
MT="$repo/mailtool"
[ -x "$MT" ] || { echo "build first: make mailtool" >&2; exit 1; }
dir=$(mktemp -d /tmp/mailtool-bench.XXXXXX)
chmod 755 "$dir"
cleanup() {
	"$repo/tests/lib/dovecot.sh" stop "$dir/dovecot" --kill >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }
ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

say "starting a private Dovecot in $dir ..."
# the box is larger than the suite's default quota (1 GiB): give it room
MT_QUOTA_LIMIT_KB=104857600 "$repo/tests/lib/dovecot.sh" start "$dir/dovecot" >"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
. "$dir/dovecot/env.sh"
"$repo/tests/lib/write-config.sh" "$dir"
printf 'carol-secret-pw\n' > "$dir/carol.pw"
chmod 600 "$dir/carol.pw"
cat >> "$dir/mailtool.conf" <<CONF
CONF
sed -i "s|^accounts = {|accounts = {\n  carol = { host = \"localhost\"; port = $MT_IMAPS_PORT; user = \"carol\"; ca_file = \"$MT_CA\"; password_file = \"$dir/carol.pw\"; timeout = 120; };|" "$dir/mailtool.conf"
export MAILTOOL_CONFIG="$dir/mailtool.conf"
DA="$MT_DOVEADM"
maildir="$MT_TEST_DIR/mail/carol/Maildir"

say "generating carol's box (about 89,000 messages) ..."
t0=$(ms)
$DA kick carol >/dev/null 2>&1
owner=$(stat -c %u:%g "$MT_TEST_DIR/mail/alice/Maildir")
rm -rf "$maildir"
/usr/bin/python3 "$repo/tests/lib/genmail.py" --maildir "$maildir" --user carol --seed 7 \
	--folders "INBOX=70000,Trash=5000,Junk=3000,Sent=8000,Lists/dev=2000,Lists/announce=1000" \
	--large 20 --manifest "$dir/carol.manifest.tsv" --index "$dir/carol.index.tsv" >/dev/null
chown -R "$owner" "$MT_TEST_DIR/mail/carol"
$DA force-resync -u carol '*' >/dev/null 2>&1
$DA mailbox status -u carol "messages vsize" '*' >/dev/null
gen_ms=$(( ($(ms) - t0) / 1000000 ))
total_bytes=$(awk -F'\t' 'NR>1 {s+=$3} END {print s}' "$dir/carol.manifest.tsv")
say "generated and indexed in ${gen_ms} ms: $(awk -F'\t' 'NR>1 {m+=$2} END {print m}' "$dir/carol.manifest.tsv") messages, $((total_bytes / 1048576)) MiB"
cp -a "$maildir/.Trash" "$dir/trash.pristine"
mkdir -p "$dir/inbox.pristine"
cp -a "$maildir/cur" "$maildir/new" "$dir/inbox.pristine/"

reset_trash() {
	$DA kick carol >/dev/null 2>&1
	rm -rf "$maildir/.Trash"
	cp -a "$dir/trash.pristine" "$maildir/.Trash"
	$DA force-resync -u carol Trash >/dev/null 2>&1
	$DA mailbox status -u carol messages Trash >/dev/null
}

rows=()
row() { rows+=("$(printf '%s\t' "$@")"); }

# ---- du ---------------------------------------------------------------
want=$($DA -f tab mailbox status -u carol "messages vsize" '*' | tail -n +2 | sort)
t=(); rt=""; bin=""; bout=""; ok=yes
for i in $(seq "$RUNS"); do
	s=$(ms)
	out=$("$MT" du -a carol --tsv --no-total -v 2>"$dir/du.err")
	t+=($(( ($(ms) - s) / 1000 )))
	# Dovecot lists auto-created empty special folders over IMAP but not in
	# doveadm's '*': compare doveadm's folders, and require the rest to be empty
	[ "$(echo "$out" | tail -n +2 | sort | grep -F -x -f <(echo "$want"))" = "$want" ] || ok=no
	[ -z "$(echo "$out" | tail -n +2 | grep -v -F -x -f <(echo "$want") | awk -F'\t' '$2 != 0')" ] || ok=no
	read -r rt bin bout < <(sed -n 's/.*: \([0-9]*\) round trips, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' "$dir/du.err")
done
du_mt=$(printf '%s\n' "${t[@]}" | median)
t=()
for i in $(seq "$RUNS"); do
	s=$(ms)
	$DA -f tab mailbox status -u carol "messages vsize" '*' >/dev/null
	t+=($(( ($(ms) - s) / 1000 )))
done
du_da=$(printf '%s\n' "${t[@]}" | median)
row "du (all folders)" "mailtool" "$du_mt" "$rt" "$bin" "$bout" "$ok" "$du_da"
row "du (all folders)" "doveadm mailbox status" "$du_da" "-" "-" "-" "yes" "$du_da"

# ---- expunge Trash --older 30d -----------------------------------------
t=(); ok=yes
for i in $(seq "$RUNS"); do
	reset_trash
	n0=$($DA search -u carol mailbox Trash all | wc -l)
	keep=$($DA search -u carol mailbox Trash since 30d | wc -l)
	s=$(ms)
	"$MT" expunge -a carol --older 30d --include-flagged -v Trash >/dev/null 2>"$dir/ex.err" || ok=no
	t+=($(( ($(ms) - s) / 1000 )))
	n1=$($DA search -u carol mailbox Trash all | wc -l)
	read -r rt bin bout < <(sed -n 's/.*: \([0-9]*\) round trips, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' "$dir/ex.err")
	mt_left=$n1
done
ex_mt=$(printf '%s\n' "${t[@]}" | median)
t=()
for i in $(seq "$RUNS"); do
	reset_trash
	s=$(ms)
	$DA expunge -u carol mailbox Trash before 30d
	t+=($(( ($(ms) - s) / 1000 )))
	da_left=$($DA search -u carol mailbox Trash all | wc -l)
done
ex_da=$(printf '%s\n' "${t[@]}" | median)
# both must leave exactly the messages younger than 30 days (doveadm counts whole days)
[ "$mt_left" -le "$keep" ] && [ "$mt_left" -ge $((keep - 1000)) ] || ok=no
row "expunge Trash --older 30d ($((n0 - mt_left)) of $n0 removed, $mt_left left)" "mailtool" "$ex_mt" "$rt" "$bin" "$bout" "$ok" "$ex_da"
row "expunge Trash --older 30d ($((n0 - da_left)) of $n0 removed, $da_left left)" "doveadm expunge" "$ex_da" "-" "-" "-" "yes" "$ex_da"

# ---- filter: "Subject (?i)invoice|facture -> Invoices; larger than 1 MiB -> Big"
# Expected from the generator's index: undeleted INBOX mail, first rule first.
read -r want_inv want_big < <(awk -F'\t' 'NR>1 && $1=="INBOX" && $6 !~ /T/ {
	s=tolower($8); if (s ~ /invoice|facture/) i++; else if ($4 > 1048576) b++ } END {print i+0, b+0}' "$dir/carol.index.tsv")
reset_inbox() {
	$DA kick carol >/dev/null 2>&1
	$DA mailbox delete -u carol Invoices Big >/dev/null 2>&1
	rm -rf "$maildir/cur" "$maildir/new"
	cp -a "$dir/inbox.pristine/cur" "$dir/inbox.pristine/new" "$maildir/"
	$DA force-resync -u carol INBOX >/dev/null 2>&1
	$DA mailbox status -u carol messages INBOX >/dev/null
	rm -rf "$dir/state"
}
filter_ok() {  # did the run move exactly the expected messages?
	local inv big
	inv=$($DA search -u carol mailbox Invoices all 2>/dev/null | wc -l)
	big=$($DA search -u carol mailbox Big all 2>/dev/null | wc -l)
	[ "$inv" -eq "$want_inv" ] && [ "$big" -eq "$want_big" ] && echo yes || echo "no ($inv/$want_inv, $big/$want_big)"
}
# bytes each way as Dovecot counts them (imap_logout_format: in= out=)
server_bytes() { grep 'imap(carol)' "$MT_DOVECOT_LOG" | grep -o 'in=[0-9]* out=[0-9]*' | tail -1 | sed 's/in=//; s/out=/ /'; }
peak_kib() { /usr/bin/python3 -c 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"; }
cat > "$dir/rules.conf" <<'RULES'
rules = (
  { name = "invoices"; match = { subject = "(?i)invoice|facture"; }; move = "Invoices"; create = true; },
  { name = "big"; match = { larger = "1M"; }; move = "Big"; create = true; }
);
RULES
export XDG_STATE_HOME="$dir/state"
t=(); ok=yes
for i in $(seq "$RUNS"); do
	reset_inbox
	s=$(ms)
	"$MT" filter -a carol -f "$dir/rules.conf" -v >/dev/null 2>"$dir/f.err" || ok=no
	t+=($(( ($(ms) - s) / 1000 )))
	read -r rt bin bout < <(sed -n 's/.*: \([0-9]*\) round trips, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' "$dir/f.err")
	res=$(filter_ok); [ "$res" = yes ] || ok="$res"
	read -r sin sout < <(server_bytes)
done
f_mt=$(printf '%s\n' "${t[@]}" | median)
reset_inbox
f_peak=$(peak_kib "$MT" filter -a carol -f "$dir/rules.conf")
f_mt_srv="$sin/$sout"
# incremental: 10 new deliveries, then filter --new (state from the run just made)
for k in $(seq 10); do
	# (the box is over carol's default quota: lift it for the delivery)
	printf 'From: a@example.org\r\nSubject: Facture %s\r\nMessage-ID: <new%s@bench>\r\n\r\nx\r\n' "$k" "$k" |
		$DA -o 'plugin/quota_rule=*:storage=100G' save -u carol -m INBOX
done
s=$(ms)
"$MT" filter -a carol -f "$dir/rules.conf" --new -v >/dev/null 2>"$dir/fn.err"
f_new=$(( ($(ms) - s) / 1000 ))
read -r nrt nbin nbout < <(sed -n 's/.*: \([0-9]*\) round trips, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' "$dir/fn.err")
examined=$(sed -n 's/.*INBOX: examined \([0-9]*\) of.*/\1/p' "$dir/fn.err")
new_ok=no
[ "$examined" = 10 ] && [ "$($DA search -u carol mailbox Invoices all | wc -l)" -eq $((want_inv + 10)) ] && new_ok=yes
# the same with the session kept by --persist (a cron job every few minutes)
export XDG_RUNTIME_DIR="$dir/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
"$MT" filter -a carol -f "$dir/rules.conf" --new --persist 10m >/dev/null 2>&1
for k in $(seq 11 20); do
	printf 'From: a@example.org\r\nSubject: Facture %s\r\nMessage-ID: <new%s@bench>\r\n\r\nx\r\n' "$k" "$k" |
		$DA -o 'plugin/quota_rule=*:storage=100G' save -u carol -m INBOX
done
s=$(ms)
"$MT" filter -a carol -f "$dir/rules.conf" --new --persist 10m -v >/dev/null 2>"$dir/fp.err"
f_persist=$(( ($(ms) - s) / 1000 ))
"$MT" persist --stop carol >/dev/null 2>&1
persist_ok=no
[ "$($DA search -u carol mailbox Invoices all | wc -l)" -eq $((want_inv + 20)) ] && persist_ok=yes

# doveadm on the server itself: the floor
t=()
for i in $(seq "$RUNS"); do
	reset_inbox
	$DA mailbox create -u carol Invoices Big
	s=$(ms)
	$DA move -u carol Invoices mailbox INBOX undeleted '(' subject invoice OR subject facture ')'
	$DA move -u carol Big mailbox INBOX undeleted larger 1048576
	t+=($(( ($(ms) - s) / 1000 )))
	da_ok=$(filter_ok)
done
f_da=$(printf '%s\n' "${t[@]}" | median)

# imapfilter, the peer admins use for this (server-side contain_subject and
# is_larger; its match_* would fetch every header and miss encoded subjects)
if ! command -v imapfilter >/dev/null && [ "$(id -u)" = 0 ]; then
	say "installing imapfilter ..."
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q imapfilter >/dev/null 2>&1
fi
if command -v imapfilter >/dev/null; then
	mkdir -p "$dir/imapfilter"
	cat > "$dir/imapfilter/config.lua" <<LUA
options.timeout = 120
options.create = true
account = IMAP { server = 'localhost', port = $MT_IMAPS_PORT, username = 'carol',
                 password = 'carol-secret-pw', ssl = 'auto' }
inbox = account.INBOX
live = inbox:is_undeleted()
inv = live * (inbox:contain_subject('invoice') + inbox:contain_subject('facture'))
inv:move_messages(account['Invoices'])
big = live * inbox:is_larger(1048576) - inv
big:move_messages(account['Big'])
LUA
	t=(); if_ok=yes
	for i in $(seq "$RUNS"); do
		reset_inbox
		s=$(ms)
		HOME="$dir/imapfilter" imapfilter -t "$MT_CA" -c "$dir/imapfilter/config.lua" >/dev/null 2>"$dir/if.err" || if_ok="no (exit $?)"
		t+=($(( ($(ms) - s) / 1000 )))
		res=$(filter_ok); [ "$res" = yes ] || if_ok="$res"
		read -r iin iout < <(server_bytes)
	done
	f_if=$(printf '%s\n' "${t[@]}" | median)
	if_peak=$(reset_inbox; HOME="$dir/imapfilter" peak_kib imapfilter -t "$MT_CA" -c "$dir/imapfilter/config.lua")
fi
row "filter: invoices + >1 MiB ($want_inv + $want_big moved)" "mailtool filter" "$f_mt" "$rt" "$bin" "$bout" "$ok" "$f_da"
[ -n "${f_if:-}" ] && row "filter: invoices + >1 MiB ($want_inv + $want_big moved)" "imapfilter" "$f_if" "-" "$iout" "$iin" "$if_ok" "$f_da"
row "filter: invoices + >1 MiB ($want_inv + $want_big moved)" "doveadm move" "$f_da" "-" "-" "-" "$da_ok" "$f_da"
row "filter --new after 10 deliveries (examined $examined)" "mailtool filter --new" "$f_new" "$nrt" "$nbin" "$nbout" "$new_ok" "$f_da"
row "filter --new after 10 deliveries, session kept by --persist" "mailtool filter --new" "$f_persist" "-" "-" "-" "$persist_ok" "$f_da"

# ---- export / import (the archive issue): Sent, 8,000 messages -------------
exp_n=$($DA search -u carol mailbox Sent all | wc -l)
exp_bytes=$(awk -F'\t' '$1 == "Sent" {print $3}' "$dir/carol.manifest.tsv")
t=(); exp_ok=yes
for i in $(seq "$RUNS"); do
	rm -rf "$dir/sent.mbox" "$dir/sent.mbox.part"
	s=$(ms)
	"$MT" archive -a carol --export "$dir/sent.mbox" --include-flagged -v Sent >/dev/null 2>"$dir/exp.err" || exp_ok=no
	t+=($(( ($(ms) - s) / 1000 )))
	read -r ert ebin ebout < <(sed -n 's/.*: \([0-9]*\) round trips, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' "$dir/exp.err")
	[ "$(grep -c '^From ' "$dir/sent.mbox")" -eq "$exp_n" ] || exp_ok=no
done
exp_mt=$(printf '%s\n' "${t[@]}" | median)
rm -rf "$dir/sent.mbox"
exp_peak=$(peak_kib "$MT" archive -a carol --export "$dir/sent.mbox" --include-flagged Sent)
# peak memory must not grow with the folder: the same export of 1,000 messages
exp_peak_small=$(peak_kib "$MT" archive -a carol --export "$dir/announce.mbox" --include-flagged Lists/announce)
rm -f "$dir/announce.mbox"
# the floor: the server writing the same messages itself
t=()
for i in $(seq "$RUNS"); do
	s=$(ms)
	$DA fetch -u carol text mailbox Sent >/dev/null
	t+=($(( ($(ms) - s) / 1000 )))
done
exp_da=$(printf '%s\n' "${t[@]}" | median)
row "archive --export Sent ($exp_n messages, $((exp_bytes / 1048576)) MiB) to mbox" "mailtool archive" "$exp_mt" "$ert" "$ebin" "$ebout" "$exp_ok" "$exp_da"
row "archive --export Sent ($exp_n messages, $((exp_bytes / 1048576)) MiB) to mbox" "doveadm fetch text" "$exp_da" "-" "-" "-" "yes" "$exp_da"
t=(); imp_ok=yes
for i in $(seq "$RUNS"); do
	$DA mailbox delete -u carol SentBack >/dev/null 2>&1
	s=$(ms)
	"$MT" archive -a carol --import "$dir/sent.mbox" --into SentBack -v >/dev/null 2>"$dir/imp.err" || imp_ok=no
	t+=($(( ($(ms) - s) / 1000 )))
	read -r irt ibin ibout < <(sed -n 's/.*: \([0-9]*\) round trips, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' "$dir/imp.err")
	[ "$($DA search -u carol mailbox SentBack all | wc -l)" -eq "$exp_n" ] || imp_ok=no
done
imp_mt=$(printf '%s\n' "${t[@]}" | median)
$DA mailbox delete -u carol SentBack >/dev/null 2>&1
imp_peak=$(peak_kib "$MT" archive -a carol --import "$dir/sent.mbox" --into SentBack)
row "archive --import of that mbox into a new folder" "mailtool archive" "$imp_mt" "$irt" "$ibin" "$ibout" "$imp_ok" "$imp_mt"
exp_line=$(awk -v b="$exp_bytes" -v t="$exp_mt" -v d="$exp_da" -v n="$exp_n" -v it="$imp_mt" -v p="$exp_peak" -v ps="$exp_peak_small" -v ip="$imp_peak" 'BEGIN {
	printf "export: %.1f MB/s (doveadm fetch text on the server: %.1f MB/s), peak RSS %d KiB (%d KiB for a 1,000-message folder); import: %d messages/s, peak RSS %d KiB", b / t, b / d, p, ps, n / (it / 1e6), ip }')

# ---- session reuse (the everyday-use issue): quota fresh vs --persist ----
# 20 one-liners each; the floor is starting the process at all
t=()
for i in $(seq 20); do
	s=$(ms); "$MT" quota -a carol >/dev/null; t+=($(( ($(ms) - s) / 1000 )))
done
q_fresh=$(printf '%s\n' "${t[@]}" | median)
"$MT" quota -a carol --persist 10m >/dev/null
t=(); q_ok=yes
for i in $(seq 20); do
	s=$(ms); out=$("$MT" quota -a carol --persist 10m); t+=($(( ($(ms) - s) / 1000 )))
	[ "$out" = "$("$MT" quota -a carol 2>/dev/null)" ] || q_ok=no
done
q_persist=$(printf '%s\n' "${t[@]}" | median)
"$MT" persist --stop carol >/dev/null 2>&1
t=()
for i in $(seq 20); do
	s=$(ms); "$MT" --version >/dev/null; t+=($(( ($(ms) - s) / 1000 )))
done
q_start=$(printf '%s\n' "${t[@]}" | median)
t=()
for i in $(seq 20); do
	s=$(ms); /bin/true; t+=($(( ($(ms) - s) / 1000 )))
done
q_true=$(printf '%s\n' "${t[@]}" | median)
row "quota, a fresh connect + TLS + login each time (20 runs)" "mailtool quota" "$q_fresh" "-" "-" "-" "yes" "$q_fresh"
row "quota through the session --persist left (20 runs)" "mailtool quota --persist" "$q_persist" "-" "-" "-" "$q_ok" "$q_fresh"
row "starting the process: mailtool --version" "mailtool" "$q_start" "-" "-" "-" "-" "$q_fresh"
row "starting a process at all: /bin/true" "true" "$q_true" "-" "-" "-" "-" "$q_fresh"

printf '\nbox: %s messages, %s MiB; %s runs each, median wall time\n\n' \
	"$(awk -F'\t' 'NR>1 {m+=$2} END {print m}' "$dir/carol.manifest.tsv")" "$((total_bytes / 1048576))" "$RUNS"
printf '%-62s %-24s %9s %8s %11s %10s %10s %8s\n' operation tool "ms" "x doveadm" "round trips" "bytes in" "bytes out" correct
for r in "${rows[@]}"; do
	IFS=$'\t' read -r op tool msv rtv binv boutv okv base <<<"$r"
	ratio=$(awk -v a="$msv" -v b="$base" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
	printf '%-62s %-24s %9.1f %8s %11s %10s %10s %8s\n' "$op" "$tool" "$(awk -v a="$msv" 'BEGIN {print a/1000}')" "$ratio" "$rtv" "$binv" "$boutv" "$okv"
done

printf '\npeak memory (max RSS): mailtool filter %s KiB%s\n' "$f_peak" "${if_peak:+, imapfilter $if_peak KiB}"
printf 'server-side bytes of the last cold filter run (Dovecot in/out): mailtool %s%s\n' "$f_mt_srv" "${iin:+, imapfilter $iin/$iout}"
printf 'bytes in/out above are what mailtool read/wrote on the wire (after COMPRESS=DEFLATE); imapfilter: Dovecot'"'"'s out/in\n'
printf '%s\n' "$exp_line"
