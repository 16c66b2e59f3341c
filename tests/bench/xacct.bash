# xacct.bash — the xacct part of `make bench` (sourced by bench.sh, which has
# started the private Dovecot): a folder of XACCT_MESSAGES messages (default
# 5,000, about 70 MB) moved from bob on that server to alice on a second
# private Dovecot (its own instance, ports, users and storage) by
#   mailtool archive --to-account (APPEND in MULTIAPPEND batches, each copy
#   confirmed by APPENDUID, then the exact UID EXPUNGE at the source), and
#   the least an IMAP client must do (tests/bench/xfloor.py: fetch, MULTIAPPEND,
#   STORE + EXPUNGE, nothing checked),
# RUNS times each, from the same folder; wall time, messages/s, MB/s, bytes
# on the wire of both connections (the servers' own in/out counts), and
# whether everything arrived exactly once. Target: at least 80% of the
# floor's throughput.
XACCT_MESSAGES=${XACCT_MESSAGES:-5000}
say "xacct: a second private Dovecot, and $XACCT_MESSAGES messages for bob ..."
MT_QUOTA_LIMIT_KB=104857600 "$repo/tests/lib/dovecot.sh" start "$dir/dovecot2" >"$dir/start2.log" 2>&1 ||
	{ cat "$dir/start2.log" >&2; exit 1; }
x2() { (. "$dir/dovecot2/env.sh" && eval "echo \"\$$1\""); }
X2_PORT=$(x2 MT_IMAPS_PORT)
X2_CA=$(x2 MT_CA)
X2_LOG=$(x2 MT_DOVECOT_LOG)
X2_DA=$(x2 MT_DOVEADM)
sed -i "s|^accounts = {|accounts = {\n  xdst = { host = \"localhost\"; port = $X2_PORT; user = \"alice\"; ca_file = \"$X2_CA\"; password_file = \"$dir/alice.pw\"; timeout = 120; };|" "$dir/mailtool.conf"
bobdir="$MT_TEST_DIR/mail/bob/Maildir"
rm -rf "$dir/xfer.gen"
/usr/bin/python3 "$repo/tests/lib/genmail.py" --maildir "$dir/xfer.gen" --user bob --seed 13 \
	--folders "INBOX=$XACCT_MESSAGES" --large 0 >/dev/null
mkdir -p "$dir/xfer.pristine"
cp -a "$dir/xfer.gen/cur" "$dir/xfer.gen/new" "$dir/xfer.pristine/"
xacct_reset() {
	$DA kick bob >/dev/null 2>&1
	rm -rf "$bobdir/.Xfer"
	mkdir -p "$bobdir/.Xfer/tmp"
	cp -a "$dir/xfer.pristine/cur" "$dir/xfer.pristine/new" "$bobdir/.Xfer/"
	chown -R "$owner" "$bobdir/.Xfer"
	$DA force-resync -u bob Xfer >/dev/null 2>&1
	$DA mailbox status -u bob messages Xfer >/dev/null
	$X2_DA mailbox delete -u alice -r -s Xfer >/dev/null 2>&1
	sync
}
# "messages bytes" the servers' logs count for the last logout of USER
xacct_wire() {  # LOG USER
	grep "imap($2)" "$1" | grep -o 'in=[0-9]* out=[0-9]*' | tail -1 | sed 's/in=//; s/out=/ /'
}
xacct_ok() {  # all of the folder at alice's, none left at bob's
	local got left
	got=$($X2_DA mailbox status -u alice messages Xfer 2>/dev/null | tr -dc 0-9)
	left=$($DA mailbox status -u bob messages Xfer 2>/dev/null | tr -dc 0-9)
	[ "${got:-0}" = "$XACCT_MESSAGES" ] && [ "${left:-0}" = 0 ] && echo yes || echo "no ($got there, $left left)"
}
xacct_reset
x_bytes=$($DA -f tab fetch -u bob size.physical mailbox Xfer all | tail -n +2 | awk '{s += $1} END {print s}')
say "xacct: $XACCT_MESSAGES messages, $((x_bytes / 1048576)) MiB; $RUNS runs each ..."
t=(); tf=(); x_ok=yes; xf_ok=yes
for i in $(seq "$RUNS"); do
	xacct_reset
	s=$(ms)
	"$MT" archive -a bob --older 1d --to-account xdst --to Xfer --include-flagged -v Xfer >/dev/null 2>"$dir/xacct.err" ||
		x_ok="no (exit $?: $(tail -1 "$dir/xacct.err"))"
	t+=($(( ($(ms) - s) / 1000 )))
	res=$(xacct_ok); [ "$res" = yes ] || x_ok=$res
	read -r x_sin x_sout < <(xacct_wire "$MT_DOVECOT_LOG" bob)
	read -r x_din x_dout < <(xacct_wire "$X2_LOG" alice)
	xacct_reset
	s=$(ms)
	/usr/bin/python3 "$repo/tests/bench/xfloor.py" "$MT_IMAPS_PORT" "$MT_CA" bob "$dir/bob.pw" \
		"$X2_PORT" "$X2_CA" alice "$dir/alice.pw" Xfer Xfer >/dev/null 2>"$dir/xfloor.err" || xf_ok="no: $(tail -1 "$dir/xfloor.err")"
	tf+=($(( ($(ms) - s) / 1000 )))
	res=$(xacct_ok); [ "$res" = yes ] || xf_ok=$res
	read -r f_sin f_sout < <(xacct_wire "$MT_DOVECOT_LOG" bob)
	read -r f_din f_dout < <(xacct_wire "$X2_LOG" alice)
done
x_mt=$(printf '%s\n' "${t[@]}" | median)
x_fl=$(printf '%s\n' "${tf[@]}" | median)
op="move $XACCT_MESSAGES msgs ($((x_bytes / 1048576)) MiB) to another server"
# bytes in and out of the client: what both servers sent, and took
row "$op" "mailtool archive --to-account" "$x_mt" "-" "$((x_sout + x_dout))" "$((x_sin + x_din))" "$x_ok" "$x_fl"
row "$op" "MULTIAPPEND floor (xfloor.py)" "$x_fl" "-" "$((f_sout + f_dout))" "$((f_sin + f_din))" "$xf_ok" "$x_fl"
xacct_line=$(awk -v n="$XACCT_MESSAGES" -v b="$x_bytes" -v m="$x_mt" -v f="$x_fl" \
	-v ms="$x_sout" -v md="$x_din" -v fs="$f_sout" -v fd="$f_din" 'BEGIN {
	printf "xacct (medians, wall): mailtool %.0f msg/s, %.1f MB/s; floor %.0f msg/s, %.1f MB/s; mailtool at %.0f%% of the floor'"'"'s throughput (target >= 80%%). ", n / (m / 1e6), b / (m / 1e6) / 1e6, n / (f / 1e6), b / (f / 1e6) / 1e6, 100 * f / m
	printf "bytes on the wire (servers'"'"' counts, last run): mailtool source->client %d, client->destination %d; floor %d, %d", ms, md, fs, fd }')
"$repo/tests/lib/dovecot.sh" stop "$dir/dovecot2" --kill >/dev/null 2>&1
