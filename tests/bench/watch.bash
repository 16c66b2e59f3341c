# watch.bash — the watch part of `make bench` (sourced by bench.sh, which has
# started the private Dovecot): delivery-to-filed latency of filter --watch
# over WATCH_N (default 200) LMTP deliveries, one at a time, each timed from
# LMTP's confirmation until the message is a file in the target Maildir
# folder (tests/lib/lmtp-deliver.py --latency); with NOTIFY and with IDLE;
# the same figures from the server's notice (the watcher's own
# delay_notice_ms); the watcher's CPU over WATCH_IDLE_S seconds of nothing;
# and imapfilter's enter_idle loop on the same deliveries.
WATCH_N=${WATCH_N:-200}
WATCH_IDLE_S=${WATCH_IDLE_S:-20}
# bob of the bench's own Dovecot, his box emptied for each run
wu=bob
wdir="$MT_TEST_DIR/mail/$wu/Maildir"
cat > "$dir/watch-rules.conf" <<'RULES'
rules = ( { name = "invoices"; folder = "INBOX"; match = { subject = "(?i)invoice"; }; move = "Invoices"; create = true; } );
RULES
pct() {  # P: the P-th percentile of numbers on stdin (nearest rank)
	sort -n | awk -v p="$1" '{a[NR]=$1} END {if (NR) {i=int((p*NR+99)/100); if (i<1) i=1; print a[i]} else print "-"}'
}
watch_reset() {
	$DA kick "$wu" >/dev/null 2>&1
	rm -rf "$MT_TEST_DIR/mail/$wu"
	mkdir -p "$MT_TEST_DIR/mail/$wu"
	chown "$owner" "$MT_TEST_DIR/mail/$wu"
	$DA mailbox create -u "$wu" Invoices >/dev/null
	chown -R "$owner" "$MT_TEST_DIR/mail/$wu"
	rm -rf "$dir/watch-state"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
watch_lines=()
# one run: NAME, then the command that files the mail (in the background)
watch_measure() {
	local name=$1 pid t0 c0 c1 lat
	shift
	watch_reset
	XDG_STATE_HOME="$dir/watch-state" XDG_RUNTIME_DIR="$dir/watch-state/run" "$@" >/dev/null 2>"$dir/watch-$name.err" &
	pid=$!
	# ready once a first delivery is filed (bounded: 30 s)
	lat=$(/usr/bin/python3 "$repo/tests/lib/lmtp-deliver.py" "$MT_LMTP_PORT" "$wu" 1 --start 0 --latency "$wdir/.Invoices" 2>&1)
	[ "$lat" = timeout ] && say "$name: the first delivery was not filed in 10 s"
	sleep 1
	c0=$(cpu_ticks "$pid"); sleep "$WATCH_IDLE_S"; c1=$(cpu_ticks "$pid")
	/usr/bin/python3 "$repo/tests/lib/lmtp-deliver.py" "$MT_LMTP_PORT" "$wu" "$WATCH_N" --latency "$wdir/.Invoices" \
		> "$dir/watch-$name.lat" 2>&1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local filed timeouts
	filed=$(find "$wdir/.Invoices/cur" "$wdir/.Invoices/new" -type f | wc -l)
	timeouts=$(grep -c timeout "$dir/watch-$name.lat")
	local med p99 nmed np99
	med=$(grep -v timeout "$dir/watch-$name.lat" | pct 50)
	p99=$(grep -v timeout "$dir/watch-$name.lat" | pct 99)
	if [ -f "$dir/watch-$name.jsonl" ]; then
		nmed=$(grep -o '"delay_notice_ms":[0-9.]*' "$dir/watch-$name.jsonl" | cut -d: -f2 | pct 50)
		np99=$(grep -o '"delay_notice_ms":[0-9.]*' "$dir/watch-$name.jsonl" | cut -d: -f2 | pct 99)
	else
		nmed=-; np99=-
	fi
	watch_lines+=("$(printf '%-34s %10s %10s %12s %12s %14s %9s %s' "$name" "$med" "$p99" "$nmed" "$np99" \
		"$(awk -v t=$((c1 - c0)) -v s="$WATCH_IDLE_S" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t * 1000 / hz / s}')" \
		"$filed/$((WATCH_N + 1))" "$([ "$timeouts" -eq 0 ] && echo yes || echo "no ($timeouts timed out)")")")
}
for via in notify idle; do
	say "watch: $WATCH_N deliveries, filter --watch --via $via ..."
	rm -f "$dir/watch-mailtool-$via.jsonl"
	watch_measure "mailtool-$via" "$MT" filter -a "$wu" -f "$dir/watch-rules.conf" --watch --via "$via" \
		--log "$dir/watch-mailtool-$via.jsonl"
done
if need_imapfilter; then
	imapfilter_conf "$dir/imapfilter-watch" "$wu" bob-secret-pw
	cat >> "$dir/imapfilter-watch/config.lua" <<LUA
while true do
  local inv = account.INBOX:is_undeleted() * account.INBOX:contain_subject('invoice')
  inv:move_messages(account['Invoices'])
  account.INBOX:enter_idle()
end
LUA
	say "watch: $WATCH_N deliveries, imapfilter enter_idle ..."
	watch_measure "imapfilter-enter_idle" env HOME="$dir/imapfilter-watch" imapfilter -t "$MT_CA" \
		-c "$dir/imapfilter-watch/config.lua"
fi
watch_line=$(printf 'delivery-to-filed over %s LMTP deliveries, ms (from the notice: the watcher'"'"'s own figure); CPU ms/s over %s s idle\n%-34s %10s %10s %12s %12s %14s %9s %s\n' \
	"$WATCH_N" "$WATCH_IDLE_S" "" "median" "p99" "notice med" "notice p99" "idle CPU ms/s" "filed" "all in time"
	printf '%s\n' "${watch_lines[@]}")
