#!/usr/bin/env bats
# diagnostics-hostile.bats — the new-admin diagnostics (diagnostics.bats)
# against slow, silent and hostile servers, odd --fingerprint and --ca-file
# values, tunnels and the multi-run modes, as an outside tester attacked
# them (fourth pass).
load helpers

# nothing here changes mail: a scratch directory is all a test needs
setup() {
	X="$BATS_TEST_TMPDIR/x"
	mkdir -p "$X"
}

# fake_tls_quota SCRIPT: quota over implicit TLS against fakeimap.py serving
# SCRIPT with the certificate h.pem (key h.key) in the current directory
fake_tls_quota() {
	printf '%s' "$1" > h.script
	rm -f h.port
	FAKE_TLS_CERT=h.pem FAKE_TLS_KEY=h.key timeout 15 python3 "$MT_REPO/tests/lib/fakeimap.py" h.port h.script h.log 10 &
	for _ in $(seq 50); do [ -s h.port ] && break; sleep 0.1; done
	run --separate-stderr timeout 10 env MAILTOOL_PASSWORD=x "$MT" quota --config /dev/null -H localhost -p "$(cat h.port)" --tls -u alice
	wait || true
}

# slowproxy PORT DELAY: a relay to PORT that holds back the server's bytes for
# DELAY seconds on every connection (a server slow to greet); sets SLOW_PORT
start_slowproxy() {
	cat > "$BATS_TEST_TMPDIR/slowproxy.py" <<'EOF'
import os, socket, sys, threading, time
pf, tport, delay, life = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(16)
open(pf + ".tmp", "w").write(str(ls.getsockname()[1])); os.rename(pf + ".tmp", pf)
def pipe(a, b, wait):
    if wait: time.sleep(wait)
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
def serve(c):
    s = socket.create_connection(("127.0.0.1", tport))
    threading.Thread(target=pipe, args=(c, s, 0), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c, delay), daemon=True).start()
ls.settimeout(0.5); end = time.time() + life
while time.time() < end:
    try: c, _ = ls.accept()
    except socket.timeout: continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
	local pf="$BATS_TEST_TMPDIR/slow.port"
	rm -f "$pf"
	timeout 40 python3 "$BATS_TEST_TMPDIR/slowproxy.py" "$pf" "$1" "$2" 30 </dev/null >/dev/null 2>&1 &
	SLOW_PID=$!
	for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
	SLOW_PORT=$(cat "$pf")
}

@test "a plain port slow to greet (2 s, 4 s) still works with --starttls: no 'speaks implicit TLS'" {
	for dl in 2 4; do
		start_slowproxy "$MT_IMAP_PORT" "$dl"
		run --separate-stderr timeout 30 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config /dev/null -H localhost \
			-p "$SLOW_PORT" --starttls -u alice --ca-file "$MT_CA" --timeout 10s
		echo "$dl: $status / $stderr"
		kill "$SLOW_PID" 2>/dev/null || true
		[ "$status" -eq 0 ]
		[[ "$stderr" != *"implicit TLS"* ]]
	done
}

@test "a port that never answers (both connections): --timeout is kept, exit 75, no TLS advice" {
	start_blackhole
	for t in 1 3; do
		s0=$(date +%s%N)
		run --separate-stderr timeout 30 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config /dev/null -H localhost \
			-p "$BLACKHOLE_PORT" --starttls -u alice --timeout "${t}s"
		ms=$((($(date +%s%N) - s0) / 1000000))
		echo "--timeout ${t}s: $status after $ms ms / $stderr"
		[ "$status" -eq 75 ]
		[[ "$stderr" != *"implicit TLS"* ]]
		# what it waited is about what was asked (slack for a loaded machine
		# and the sanitizer build: 1.5 s; the probe used to add up to 3.5 s)
		[ "$ms" -lt $((t * 1000 + 1500)) ]
	done
}

@test "a certificate whose subject holds ESC, a newline, a bidi override and 480 bytes: one line, no raw control bytes, the pin line intact" {
	cd "$X"
	subj="/CN=evil"$'\e'"[2J"$'\e'"]0;pwned"$'\n'"injected"$'\u202e'"gnp.exe"
	for l in O OU OU OU OU OU OU OU; do subj="$subj/$l=$(printf 'A%.0s' $(seq 60))"; done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout h.key -out h.pem -days 2 -utf8 -subj "$subj" 2>/dev/null
	fp=$(openssl x509 -in h.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
	fake_tls_quota $'GREETING * OK fake\nON CAPABILITY => * CAPABILITY IMAP4rev1 AUTH=PLAIN\\r\\n{tag} OK done\n'
	echo "$status / $(printf %q "$stderr")"
	[ "$status" -eq 69 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[ "$(printf '%s' "$stderr" | LC_ALL=C tr -d '\001-\037\177' | wc -c)" -eq "$(printf '%s' "$stderr" | wc -c)" ]
	[ "$(printf '%s' "$stderr" | grep -c $'\u202e')" -eq 0 ]
	[[ "$stderr" == *"--fingerprint sha256:$fp"* ]]
}

@test "a long certificate subject does not cut off the issuer and validity the error promises" {
	cd "$X"
	subj="/CN=long"
	for l in O OU OU OU OU OU OU OU; do subj="$subj/$l=$(printf 'A%.0s' $(seq 60))"; done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout h.key -out h.pem -days 2 -subj "$subj" 2>/dev/null
	fake_tls_quota $'GREETING * OK fake\n'
	echo "$status / $stderr"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"issuer "*"valid until "* ]]
}

@test "--fingerprint odd inputs: upper case, sha256=, openssl's colons work; too long, misplaced colon, bare hex, empty refused (64)" {
	h=${MT_SERVER_FP#sha256:}
	u=$(echo "$h" | tr a-f A-F)
	c=$(echo "$h" | sed 's/../&:/g;s/:$//')
	for fp in "SHA256:$u" "sha256=$h" "sha256:$c"; do
		run mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --fingerprint "$fp"
		echo "$fp: $status"
		[ "$status" -eq 0 ]
	done
	for fp in "sha256:${h}00" "sha256:${h:0:1}:${h:1}" "" "sha256:" "sha256: $h" "sha-256:$h" "sha256:${h:0:63}"; do
		run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --fingerprint "$fp"
		echo "$fp: $status $stderr"
		[ "$status" -eq 64 ]
	done
}

@test "--ca-file a directory, an empty file or junk: refused at once; a FIFO does not hang" {
	: > "$X/empty.pem"
	echo hello > "$X/junk.pem"
	for c in "$X" "$X/empty.pem" "$X/junk.pem"; do
		run --separate-stderr timeout 10 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config /dev/null -H localhost \
			-p "$MT_IMAPS_PORT" --tls -u alice --ca-file "$c"
		echo "$c: $status / $stderr"
		[ "$status" -eq 78 ] || [ "$status" -eq 64 ]
		[[ "$stderr" == *"$c"* ]]
	done
	mkfifo "$X/ca.fifo"
	run --separate-stderr timeout 8 env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config /dev/null -H localhost \
		-p "$MT_IMAPS_PORT" --tls -u alice --ca-file "$X/ca.fifo"
	echo "fifo: $status / $stderr"
	[ "$status" -eq 78 ] || [ "$status" -eq 64 ]
}

@test "a tunnel that ran and printed, then exited 127, is not called 'not found'" {
	run --separate-stderr timeout 10 "$MT" quota --config /dev/null --tunnel 'printf "* PRE"; exit 127'
	echo "$status / $stderr"
	[[ "$stderr" != *"tunnel command not found"* ]]
	# a whole greeting, then 127: the connection closed (75), no false advice
	run --separate-stderr timeout 10 "$MT" quota --config /dev/null --tunnel 'printf "* PREAUTH hi\r\n"; exit 127'
	echo "$status / $stderr"
	[ "$status" -eq 75 ]
	[[ "$stderr" != *"not found"* ]]
}

@test "--starttls to the implicit-TLS port through batch -e, --persist and --users: each says to use --tls, exit 69, quickly" {
	cat > "$X/bad.conf" <<EOF
default = "a";
accounts = { a = { host = "localhost"; port = $MT_IMAPS_PORT; tls = "starttls"; user = "alice"; ca_file = "$MT_CA"; password_file = "$MT_SUITE_DIR/alice.pw"; timeout = 20; };
  adm = { host = "localhost"; port = $MT_IMAPS_PORT; tls = "starttls"; user = "admin"; ca_file = "$MT_CA"; password_file = "$MT_SUITE_DIR/admin.pw"; timeout = 20; }; };
EOF
	printf 'alice\nbob\n' > "$X/users"
	SECONDS=0
	run --separate-stderr timeout 30 "$MT" -e 'quota; ls' --config "$X/bad.conf"
	echo "batch: $status / $stderr"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"use --tls instead of --starttls"* ]]
	run --separate-stderr timeout 30 "$MT" quota --persist 30s --config "$X/bad.conf"
	echo "persist: $status / $stderr"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"use --tls instead of --starttls"* ]]
	run --separate-stderr timeout 30 "$MT" quota -a adm --users "$X/users" --config "$X/bad.conf"
	echo "users: $status / $stderr"
	[ "$status" -eq 69 ]
	[ "$(grep -c 'use --tls instead of --starttls' <<< "$output$stderr")" -eq 2 ]
	[ "$SECONDS" -lt 20 ]
}

@test "near suggestions: a swapped pair ('--tvs') suggests the option it swaps ('--tsv'), not a substitution ('--tls')" {
	run --separate-stderr "$MT" ls --tvs
	echo "$status / $stderr"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"did you mean '--tsv'?"* ]]
	# the ones that work already
	run --separate-stderr "$MT" du --sotr
	[[ "$stderr" == *"did you mean '--sort'?"* ]]
	run --separate-stderr "$MT" ls --top
	[[ "$stderr" != *"did you mean"* ]]
}
