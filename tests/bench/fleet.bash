# fleet.bash — the fleet part of `make bench` (sourced by bench.sh, which
# has started the private Dovecot): FLEET_USERS users (default 5,000) with
# small boxes (20 messages, hard links of one generated box), then
#   quota --users and du --users through the admin with -j 1, 4, 8, 16:
#   wall time, users/s, peak memory (max RSS of the run and its children);
#   the same over a fifth of the users, to show memory flat in their number;
#   quota --users in cleartext over loopback, to show what TLS costs;
#   doveadm quota get -A and doveadm mailbox status -A on the same server;
# and a projection for 100,000 users over 1 to 8 hosts from the best rate.
FLEET_USERS=${FLEET_USERS:-5000}
FLEET_JOBS=${FLEET_JOBS:-1 4 8 16}
say "fleet: $FLEET_USERS users with small boxes ..."
t0=$(ms)
/usr/bin/python3 "$repo/tests/lib/genmail.py" --maildir "$dir/fleet.tmpl" --user fleet --seed 11 \
	--folders "INBOX=15,Archive=5" >/dev/null
cp "$MT_TEST_DIR/users" "$MT_TEST_DIR/users.new"
: > "$dir/fleet-all.txt"
for i in $(seq -w 1 "$FLEET_USERS"); do
	echo "fl$i:{PLAIN}fleet-pw::::::" >> "$MT_TEST_DIR/users.new"
	echo "fl$i" >> "$dir/fleet-all.txt"
	mkdir -p "$MT_TEST_DIR/mail/fl$i"
	cp -al "$dir/fleet.tmpl" "$MT_TEST_DIR/mail/fl$i/Maildir"
done
chown -R "$owner" "$MT_TEST_DIR"/mail/fl*
touch -d "@$(( $(date +%s) + 2 ))" "$MT_TEST_DIR/users.new"
chmod --reference="$MT_TEST_DIR/users" "$MT_TEST_DIR/users.new"
mv "$MT_TEST_DIR/users.new" "$MT_TEST_DIR/users"
last=$(tail -1 "$dir/fleet-all.txt")
for _ in $(seq 100); do $DA user "$last" >/dev/null 2>&1 && break; sleep 0.1; done
head -n $(( FLEET_USERS / 5 )) "$dir/fleet-all.txt" > "$dir/fleet-fifth.txt"
say "fleet: $FLEET_USERS users made in $(( ($(ms) - t0) / 1000000 )) ms"

# one run: prints "wall_ms max_rss_kib ok"; ok when every user succeeded
# and (quota) the figures are doveadm's
fleet_run() {  # LIST APPLET JOBS [ACCOUNT]
	local list=$1 app=$2 j=$3 acct=${4:-admin} n w m
	n=$(wc -l < "$list")
	/usr/bin/time -f '%e %M' -o "$dir/fleet.time" "$MT" "$app" -a "$acct" --users "$list" -j "$j" --tsv \
		>"$dir/fleet.out" 2>"$dir/fleet.err"
	read -r w m < "$dir/fleet.time"
	local ok=yes
	grep -q "$n users, $n ok, 0 failed" "$dir/fleet.err" || ok=no
	echo "$(awk -v w="$w" 'BEGIN {printf "%.0f", w * 1000}') $m $ok"
}
# doveadm's own answer, for correctness: user and storage bytes of each
$DA -f tab quota get -A 2>/dev/null | awk -F'\t' '$3 == "STORAGE" {print $1 "\t" $4 * 1024}' | sort > "$dir/fleet.want"
# the same admin in cleartext over loopback: what TLS costs per user
sed -i "s|^accounts = {|accounts = {\n  admin_loop = { host = \"127.0.0.1\"; port = $MT_IMAP_PORT; tls = \"none\"; user = \"admin\"; password_file = \"$dir/admin.pw\"; timeout = 30; };|" "$dir/mailtool.conf"
fleet_rows=()
best=0
vs_floor=""
for j in $FLEET_JOBS; do
	read -r w m ok < <(fleet_run "$dir/fleet-all.txt" quota "$j" admin_loop)
	ups=$(awk -v n="$FLEET_USERS" -v w="$w" 'BEGIN {printf "%.0f", n * 1000 / w}')
	fleet_rows+=("$(printf 'quota --users -j %s, cleartext\t%s\t%s\t%s\t-\t%s' "$j" "$w" "$ups" "$m" "$ok")")
	say "fleet: quota -j $j, cleartext loopback: ${w} ms, $ups users/s, ok $ok"
done
# the least a client must do for the same quotas (tests/bench/quotafloor.c:
# one process, J threads, login + GETQUOTAROOT + LOGOUT over TLS): the
# yardstick of the restated target, quota --users within 1.5x of it at the same -j
declare -A floor_ms
for j in $FLEET_JOBS; do
	read -r _ fok ffail fms < <("$dir/quotafloor" "$MT_IMAPS_PORT" "$MT_CA" admin "$dir/admin.pw" "$j" "$dir/fleet-all.txt")
	floor_ms[$j]=$fms
	ups=$(awk -v n="$FLEET_USERS" -v w="$fms" 'BEGIN {printf "%.0f", n * 1000 / w}')
	fleet_rows+=("$(printf 'minimal client (C) -j %s\t%s\t%s\t-\t-\t%s' "$j" "$fms" "$ups" "$([ "$ffail" = 0 ] && echo yes || echo "no ($ffail failed)")")")
	say "fleet: minimal client -j $j: ${fms} ms, $ups users/s, $fok ok"
done
for app in quota du; do
	for j in $FLEET_JOBS; do
		read -r w m ok < <(fleet_run "$dir/fleet-all.txt" "$app" "$j")
		if [ "$app" = quota ] && [ "$ok" = yes ]; then
			# user, storage_used from the TSV (user status error root storage_used ...)
			got=$(awk -F'\t' 'NR > 1 {print $1 "\t" $5}' "$dir/fleet.out" | sort)
			[ "$got" = "$(grep -F -f <(sed 's/$/\t/' "$dir/fleet-all.txt") "$dir/fleet.want")" ] || ok="no (figures)"
		fi
		ups=$(awk -v n="$FLEET_USERS" -v w="$w" 'BEGIN {printf "%.0f", n * 1000 / w}')
		[ "$app" = quota ] && [ "$ups" -gt "$best" ] && best=$ups && bestj=$j
		[ "$app" = quota ] && vs_floor+=" -j $j: $(awk -v a="$w" -v b="${floor_ms[$j]}" 'BEGIN {printf "%.2f", a / b}');"
		read -r w5 m5 ok5 < <(fleet_run "$dir/fleet-fifth.txt" "$app" "$j")
		fleet_rows+=("$(printf '%s --users -j %s\t%s\t%s\t%s\t%s\t%s' "$app" "$j" "$w" "$ups" "$m" "$m5" "$ok")")
		say "fleet: $app -j $j: ${w} ms, $ups users/s, peak $m KiB ($m5 KiB for a fifth), ok $ok"
	done
done
s=$(ms); $DA quota get -A >/dev/null 2>&1 || say "fleet: doveadm quota get -A failed"; dq=$(( ($(ms) - s) / 1000000 ))
s=$(ms); $DA mailbox status -A "messages vsize" "*" >/dev/null 2>&1 || say "fleet: doveadm mailbox status -A failed"; dm=$(( ($(ms) - s) / 1000000 ))
fleet_line=$(
	printf '\nfleet: %s users, %s messages each (one box hard-linked)\n' "$FLEET_USERS" 20
	printf '%-28s %9s %8s %10s %14s %9s %6s\n' run "ms" users/s "x doveadm" "peak KiB" "(a fifth)" ok
	for r in "${fleet_rows[@]}"; do
		IFS=$'\t' read -r name w ups m m5 ok <<<"$r"
		base=$dq; [[ "$name" == du* ]] && base=$dm
		printf '%-28s %9s %8s %10s %14s %9s %6s\n' "$name" "$w" "$ups" \
			"$(awk -v a="$w" -v b="$base" 'BEGIN {printf "%.2f", a / b}')" "$m" "$m5" "$ok"
	done
	printf '%-28s %9s %8s\n' "doveadm quota get -A" "$dq" "$(awk -v n="$FLEET_USERS" -v w="$dq" 'BEGIN {printf "%.0f", n * 1000 / w}')"
	printf '%-28s %9s %8s\n' "doveadm mailbox status -A" "$dm" "$(awk -v n="$FLEET_USERS" -v w="$dm" 'BEGIN {printf "%.0f", n * 1000 / w}')"
	printf 'quota --users over TLS against the minimal client at the same -j (target <= 1.50):%s\n' "$vs_floor"
	printf 'projection, quota --users over 100,000 users at the best rate here (%s users/s, -j %s), one Dovecot per host:' "$best" "${bestj:-?}"
	for h in 1 2 4 8; do
		printf ' %s host(s) %s s;' "$h" "$(awk -v b="$best" -v h="$h" 'BEGIN {printf "%.0f", 100000 / (b * h)}')"
	done
	echo
)
