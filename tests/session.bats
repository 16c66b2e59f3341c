#!/usr/bin/env bats
# The session library against the suite's real Dovecot: transports, certificate
# checks, authentication, impersonation, tunnel, timeouts, trace redaction.
load helpers

@test "implicit TLS verifies the certificate and logs in" {
	run "$MT" info -a alice
	[ "$status" -eq 0 ]
	[[ "$output" == *"transport:"*"implicit TLS"* ]]
	[[ "$output" == *"tls_protocol:"*"TLSv1."* ]]
	[[ "$output" == *"cert_pinned:"*"verified by CA and host name"* ]]
	[[ "$output" == *"auth:"*"AUTHENTICATE PLAIN"* ]]
}

@test "STARTTLS verifies the certificate, re-reads capabilities and logs in" {
	run "$MT" info -a alice_starttls
	[ "$status" -eq 0 ]
	[[ "$output" == *"transport:"*"STARTTLS"* ]]
	# before TLS the server offers STARTTLS; after it, not any more
	[[ "$(echo "$output" | grep '^caps_greeting:')" == *STARTTLS* ]]
	[[ "$(echo "$output" | grep '^caps_before_login:')" != *STARTTLS* ]]
	[[ "$(echo "$output" | grep '^caps_after_login:')" == *IMAP4REV1* ]]
}

@test "a certificate for another host name is refused before any credential is sent" {
	run --separate-stderr "$MT" info -a alice -H 127.0.0.1 --trace
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted"*"mismatch"* ]]
	[[ "$stderr" != *"AUTHENTICATE"* && "$stderr" != *"LOGIN"* && "$stderr" != *"redacted"* ]]
}

@test "STARTTLS with a wrong host name is refused before any credential is sent" {
	run --separate-stderr "$MT" info -a alice_starttls -H 127.0.0.1 --trace
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted"* ]]
	[[ "$stderr" != *"AUTHENTICATE"* && "$stderr" != *"redacted"* ]]
}

@test "a certificate from an untrusted CA is refused" {
	cat > "$BATS_TEST_TMPDIR/other.conf" <<CONF
accounts = { x = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_OTHER_CA"; password_file = "$MT_SUITE_DIR/alice.pw"; }; };
CONF
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/other.conf" -a x
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted"* ]]
}

@test "the system trust store does not trust the test CA" {
	run --separate-stderr env MAILTOOL_PASSWORD=alice-secret-pw "$MT" info --config /dev/null -H localhost -p "$MT_IMAPS_PORT" -u alice
	[ "$status" -eq 69 ]
}

@test "a server without STARTTLS is refused before any credential is sent" {
	run --separate-stderr "$MT" info -a alice_starttls -p "$MT_NOTLS_PORT" --trace
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"does not offer STARTTLS"* ]]
	# what the client sent (the server's greeting lists AUTH=LOGIN among others)
	sent=$(grep '^C: ' <<<"$stderr" || true)
	[[ "$stderr" == *"S: * OK"* && "$sent" != *"AUTHENTICATE"* && "$sent" != *"LOGIN "* ]]
}

@test "a pinned fingerprint is accepted even without CA and host name" {
	run "$MT" info -a alice_pinned
	[ "$status" -eq 0 ]
	[[ "$output" == *"cert_pinned:"*"yes"* ]]
}

@test "a wrong pinned fingerprint is refused" {
	sed "s/$MT_SERVER_FP/sha256:$(printf '0%.0s' $(seq 64))/" "$MAILTOOL_CONFIG" > "$BATS_TEST_TMPDIR/pin.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/pin.conf" -a alice_pinned
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"pinned fingerprint"* ]]
}

@test "cleartext to loopback works when the account says tls = none" {
	run "$MT" info -a alice_plain
	[ "$status" -eq 0 ]
	[[ "$output" == *"transport:"*"cleartext"* ]]
}

@test "wrong password exits 77" {
	run --separate-stderr env MAILTOOL_PASSWORD=wrong "$MT" info -a alice
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"authentication as 'alice' refused"* ]]
}

@test "connection refused exits 75 (temporary)" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	run --separate-stderr "$MT" info -a alice -H 127.0.0.1 -p "$port"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"connection refused"* ]]
}

@test "an unknown host exits 68" {
	run --separate-stderr "$MT" info -a alice -H no-such-host.invalid
	[ "$status" -eq 68 ]
}

@test "a server that never answers ends in a timeout (75), not a hang" {
	start_blackhole
	start=$SECONDS
	run --separate-stderr "$MT" info -a alice -H 127.0.0.1 -p "$BLACKHOLE_PORT" --timeout 1s
	kill "$BLACKHOLE_PID" 2>/dev/null || true
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"timed out"* ]]
	[ $((SECONDS - start)) -le 5 ]
}

@test "--as bob (admin via SASL PLAIN authzid) lands in bob's mailbox" {
	run "$MT" ls -a admin --as bob
	[ "$status" -eq 0 ]
	[[ "$output" == *"Bobs"* ]]
	run "$MT" info -a admin --as bob
	[[ "$output" == *"user:"*"bob (authenticated as admin)"* ]]
}

@test "--as bob with the Dovecot master-login form lands in bob's mailbox" {
	run "$MT" ls -a admin_master --as bob
	[ "$status" -eq 0 ]
	[[ "$output" == *"Bobs"* ]]
}

@test "--as a user who does not exist is refused (77)" {
	run "$MT" ls -a admin --as nobody-here
	[ "$status" -eq 77 ]
}

@test "tunnel mode speaks to Dovecot's imap binary and accepts PREAUTH" {
	run "$MT" info -a tunnel
	[ "$status" -eq 0 ]
	[[ "$output" == *"transport:"*"tunnel"* ]]
	[[ "$output" == *"auth:"*"PREAUTH"* ]]
	run "$MT" du -a tunnel --tsv
	[ "$status" -eq 0 ]
	[[ "$output" == *"INBOX"* ]]
}

@test "--trace shows the conversation but never the password or its PLAIN form" {
	plain=$(printf '\0alice\0alice-secret-pw' | base64)
	run --separate-stderr "$MT" info -a alice --trace -vv
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"C: "*"CAPABILITY"* || "$stderr" == *"S: "* ]]
	[[ "$stderr" == *"<credentials redacted>"* ]]
	[[ "$stderr" != *"alice-secret-pw"* ]]
	[[ "$stderr" != *"$plain"* ]]
	[[ "$output" != *"alice-secret-pw"* ]]
	run --separate-stderr "$MT" info -a alice_plain --trace
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"alice-secret-pw"* && "$stderr" != *"$plain"* ]]
}

@test "LOGIN is used when asked for, and redacted in the trace" {
	sed 's/alice_plain = { /alice_plain = { auth = "login"; /' "$MAILTOOL_CONFIG" > "$BATS_TEST_TMPDIR/login.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/login.conf" -a alice_plain --trace
	[ "$status" -eq 0 ]
	[[ "$output" == *"auth:"*"LOGIN"* ]]
	[[ "$stderr" == *"<credentials redacted>"* && "$stderr" != *"alice-secret-pw"* ]]
}

@test "COMPRESS=DEFLATE is used when offered (by default not to loopback), and can be turned off" {
	run "$MT" info -a alice
	[[ "$output" == *"compression:"*"DEFLATE"* ]]
	# bob's account says nothing: the server is on loopback, so no compression
	run "$MT" info -a bob
	[ "$status" -eq 0 ]
	[[ "$output" == *"compression:"*"none"* ]]
	run "$MT" du -a alice --tsv
	[ "$status" -eq 0 ]
	sed '/alice = { /s/compress = true;/compress = false;/' "$MAILTOOL_CONFIG" > "$BATS_TEST_TMPDIR/nc.conf"
	run "$MT" info --config "$BATS_TEST_TMPDIR/nc.conf" -a alice
	[ "$status" -eq 0 ]
	[[ "$output" == *"compression:"*"none"* ]]
}

@test "-v prints timings per phase and round trips" {
	run --separate-stderr "$MT" du -a alice -v
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"connect "*" ms, tls "*" ms, greeting "*"auth "*" ms"* ]]
	[[ "$stderr" == *"round trips"* ]]
}

@test "a config error names the file and line" {
	printf 'default = "a";\naccounts = {\n  a = { host = "x";\n        prot = 143; };\n};\n' > "$BATS_TEST_TMPDIR/bad.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/bad.conf"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"bad.conf:4: 'prot': unknown setting"* ]]
	printf 'accounts = {\n a = { host = "x" }\n' > "$BATS_TEST_TMPDIR/syntax.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/syntax.conf"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"syntax.conf:"[0-9]*"syntax error"* ]]
}

@test "a missing --config file and an unknown account are configuration errors" {
	run "$MT" info --config "$BATS_TEST_TMPDIR/nope.conf"
	[ "$status" -eq 78 ]
	run --separate-stderr "$MT" info -a nosuch
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"no account 'nosuch'"* ]]
}

@test "a group-readable password_file is refused" {
	cp "$MT_SUITE_DIR/alice.pw" "$BATS_TEST_TMPDIR/pw"
	chmod 640 "$BATS_TEST_TMPDIR/pw"
	sed "s|$MT_SUITE_DIR/alice.pw|$BATS_TEST_TMPDIR/pw|" "$MAILTOOL_CONFIG" > "$BATS_TEST_TMPDIR/pw.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/pw.conf" -a alice
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"readable by group or others"* ]]
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	run "$MT" info --config "$BATS_TEST_TMPDIR/pw.conf" -a alice
	[ "$status" -eq 0 ]
}

@test "password_command supplies the password and does not see MAILTOOL_PASSWORD" {
	cat > "$BATS_TEST_TMPDIR/pc.conf" <<CONF
accounts = { x = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_CA";
  password_command = "env > $BATS_TEST_TMPDIR/env.out; echo alice-secret-pw"; }; };
CONF
	run "$MT" info --config "$BATS_TEST_TMPDIR/pc.conf" -a x
	[ "$status" -eq 0 ]
	sed 's/echo alice-secret-pw/exit 3/' "$BATS_TEST_TMPDIR/pc.conf" > "$BATS_TEST_TMPDIR/pc2.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/pc2.conf" -a x
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"password_command failed"* ]]
}

@test "no password source and no terminal is a clear configuration error" {
	cat > "$BATS_TEST_TMPDIR/np.conf" <<CONF
accounts = { x = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_CA"; }; };
CONF
	run --separate-stderr setsid "$MT" info --config "$BATS_TEST_TMPDIR/np.conf" -a x </dev/null
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"no password"* ]]
}

@test "a password in the configuration file is refused" {
	printf 'accounts = { a = { host = "x"; password = "secret"; }; };\n' > "$BATS_TEST_TMPDIR/p.conf"
	run --separate-stderr "$MT" info --config "$BATS_TEST_TMPDIR/p.conf" -a a
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"p.conf:1: 'password'"* ]]
}

@test "--tls, --starttls and --no-tls exclude each other; a bad port is a usage error" {
	run "$MT" info -a alice --tls --no-tls
	[ "$status" -eq 64 ]
	run "$MT" info -a alice -p 70000
	[ "$status" -eq 64 ]
}

@test "the password reaches neither the command line, nor a tunnel's environment, nor a log file" {
	# the tunnel command records its own environment and command line
	cat > "$BATS_TEST_TMPDIR/tunnel.sh" <<SH
#!/bin/sh
env > "$BATS_TEST_TMPDIR/tunnel.env"
tr '\0' ' ' < /proc/\$\$/cmdline > "$BATS_TEST_TMPDIR/tunnel.cmdline"
tr '\0' ' ' < /proc/\$PPID/cmdline > "$BATS_TEST_TMPDIR/parent.cmdline"
exec $MT_TUNNEL_ALICE
SH
	chmod +x "$BATS_TEST_TMPDIR/tunnel.sh"
	cd "$BATS_TEST_TMPDIR"
	run env MAILTOOL_PASSWORD=alice-secret-pw "$MT" info --tunnel "$BATS_TEST_TMPDIR/tunnel.sh" --trace -vv
	[ "$status" -eq 0 ]
	[[ "$output" != *alice-secret-pw* ]]
	[ -s tunnel.env ]
	run grep -l alice-secret-pw tunnel.env tunnel.cmdline parent.cmdline
	[ "$status" -eq 1 ]
	run grep -c MAILTOOL_PASSWORD tunnel.env
	[ "$output" -eq 0 ]
	# libetpan's own debug log is never written
	[ ! -e libetpan-stream-debug.log ]
}

@test "--max-rate spaces the commands of a session after its login, a pipelined batch counted as its commands" {
	s=$(date +%s%N)
	run -0 --separate-stderr "$MT" du --max-rate 20/s --trace
	ms=$(( ($(date +%s%N) - s) / 1000000 ))
	# the client's tagged commands after the login (the login's few are not
	# what servers throttle, and a slow rate must not starve it)
	n=$(awk '/^C: [A-Za-z0-9]+ (AUTHENTICATE|LOGIN|ENABLE|COMPRESS)/ {n = 0; next} /^C: [A-Za-z0-9]+ [A-Z]/ {n++} END {print n + 0}' <<<"$stderr")
	[ "$n" -ge 10 ]
	# 20 a second: 50 ms each, the first at once
	[ "$ms" -ge $(( (n - 1) * 50 - 20 )) ] || { echo "$n commands in $ms ms"; false; }
	want=$output
	# the same answer as without the limit, much sooner
	s=$(date +%s%N)
	run -0 "$MT" du
	[ "$output" = "$want" ]
	[ $(( ($(date +%s%N) - s) / 1000000 )) -lt $(( (n - 1) * 50 )) ]
	# per minute, and the account setting
	s=$(date +%s%N)
	run -0 "$MT" du --max-rate 600/min
	[ $(( ($(date +%s%N) - s) / 1000000 )) -ge $(( (n - 1) * 100 - 20 )) ]
	cp "$MAILTOOL_CONFIG" "$BATS_TEST_TMPDIR/r.conf"
	sed -i 's/^  alice = { /  alice = { max_rate = "40\/s"; /' "$BATS_TEST_TMPDIR/r.conf"
	grep -q 'max_rate = "40/s"' "$BATS_TEST_TMPDIR/r.conf"
	s=$(date +%s%N)
	run -0 "$MT" du --config "$BATS_TEST_TMPDIR/r.conf"
	[ $(( ($(date +%s%N) - s) / 1000000 )) -ge $(( (n - 1) * 25 - 20 )) ]
}

@test "--max-rate: a value that is not a rate is a usage error, in the configuration a configuration error" {
	for v in 0 -1 10/h abc 1e9/s 0x10/s 1e2 ''; do
		run -64 --separate-stderr "$MT" quota --max-rate "$v"
		[[ "$stderr" == *"bad --max-rate"* ]]
	done
	run -64 --separate-stderr "$MT" quota --timeout 0s
	[[ "$stderr" == *"--timeout '0s': at least one second"* ]]
	cp "$MAILTOOL_CONFIG" "$BATS_TEST_TMPDIR/r.conf"
	sed -i 's/^  alice = { /  alice = { max_rate = "fast"; /' "$BATS_TEST_TMPDIR/r.conf"
	run -78 --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/r.conf"
	[[ "$stderr" == *"max_rate"* ]]
}
