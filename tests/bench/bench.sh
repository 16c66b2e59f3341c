#!/usr/bin/env bash
# bench.sh — `make bench`: mailtool against the server's own tools on a box of
# the size the field complains about. Not a test: it prints figures.
#
# Builds (deterministically, tests/lib/genmail.py) carol's box: INBOX 70,000,
# Trash 5,000, Junk 3,000, Sent 8,000 and two list folders, in a private
# Dovecot on loopback; then, each RUNS times from a reset box, times
#   du of all folders            vs doveadm mailbox status (the floor: no network)
#   expunge Trash --older 30d    vs doveadm expunge ... before 30d
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
"$repo/tests/lib/dovecot.sh" start "$dir/dovecot" >"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
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
	--large 20 --manifest "$dir/carol.manifest.tsv" >/dev/null
chown -R "$owner" "$MT_TEST_DIR/mail/carol"
$DA force-resync -u carol '*' >/dev/null 2>&1
$DA mailbox status -u carol "messages vsize" '*' >/dev/null
gen_ms=$(( ($(ms) - t0) / 1000000 ))
total_bytes=$(awk -F'\t' 'NR>1 {s+=$3} END {print s}' "$dir/carol.manifest.tsv")
say "generated and indexed in ${gen_ms} ms: $(awk -F'\t' 'NR>1 {m+=$2} END {print m}' "$dir/carol.manifest.tsv") messages, $((total_bytes / 1048576)) MiB"
cp -a "$maildir/.Trash" "$dir/trash.pristine"

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

printf '\nbox: %s messages, %s MiB; %s runs each, median wall time\n\n' \
	"$(awk -F'\t' 'NR>1 {m+=$2} END {print m}' "$dir/carol.manifest.tsv")" "$((total_bytes / 1048576))" "$RUNS"
printf '%-62s %-24s %9s %8s %11s %10s %10s %8s\n' operation tool "ms" "x doveadm" "round trips" "bytes in" "bytes out" correct
for r in "${rows[@]}"; do
	IFS=$'\t' read -r op tool msv rtv binv boutv okv base <<<"$r"
	ratio=$(awk -v a="$msv" -v b="$base" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
	printf '%-62s %-24s %9.1f %8s %11s %10s %10s %8s\n' "$op" "$tool" "$(awk -v a="$msv" 'BEGIN {print a/1000}')" "$ratio" "$rtv" "$binv" "$boutv" "$okv"
done
