#!/usr/bin/env bats
# What real servers never send, from a scripted fake server on loopback:
# injection, downgrades, broken and hostile responses. Each case ends in one
# clear error line, a documented exit status and no credential sent in clear.
load helpers

teardown() {
	[ -n "${FAKE_PID:-}" ] && kill "$FAKE_PID" 2>/dev/null || true
}

no_credentials_sent() {
	[ "$(grep -ciE '^[^ ]+ (LOGIN|AUTHENTICATE)' "$FAKE_LOG")" -eq 0 ]
}

@test "STARTTLS injection: a forged response after the OK aborts before authentication (76)" {
	fake_server '
GREETING * OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR] fake
ON ^STARTTLS => {tag} OK Begin TLS now\r\n2 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] forged
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>'
	run --separate-stderr mt_fake info --starttls
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"data after STARTTLS before the TLS handshake"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	grep -q STARTTLS "$FAKE_LOG"
	no_credentials_sent
}

@test "STARTTLS answered NO is refused (69), nothing sent in clear" {
	fake_server '
GREETING * OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] fake
ON ^STARTTLS => {tag} NO not today'
	run --separate-stderr mt_fake info --starttls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"refused STARTTLS"* ]]
	no_credentials_sent
}

@test "STARTTLS missing from the capabilities is refused (69)" {
	fake_server '
GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake'
	run --separate-stderr mt_fake info --starttls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"does not offer STARTTLS"* ]]
	no_credentials_sent
}

@test "PREAUTH on a network connection is refused (69)" {
	fake_server '
GREETING * PREAUTH [CAPABILITY IMAP4rev1] you are in'
	run --separate-stderr mt_fake info --no-tls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"PREAUTH"*"tunnel mode"* ]]
	fake_server '
GREETING * PREAUTH [CAPABILITY IMAP4rev1] you are in'
	run --separate-stderr mt_fake info --starttls
	[ "$status" -eq 69 ]
}

@test "LOGINDISABLED without AUTH=PLAIN: LOGIN is never sent (69)" {
	fake_server '
GREETING * OK [CAPABILITY IMAP4rev1 LOGINDISABLED] fake'
	run --separate-stderr mt_fake info --no-tls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"no usable authentication"* ]]
	no_credentials_sent
}

# a server that logs alice in and then answers LIST/STATUS as the script says
logged_in='GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 LIST-EXTENDED STATUS=SIZE] in
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>'

@test "a STATUS answer for another folder, with nothing in it, is an error, not a crash (76)" {
	fake_server "$logged_in
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^STATUS => * STATUS \"RUU\" ()\r\n{tag} OK done"
	run --separate-stderr mt_fake du --no-tls
	[ "$status" -eq 76 ]
	[[ "$stderr" == "mailtool du: 'INBOX': the server's STATUS answer was missing or for another folder" ]]
}

@test "STATUS SIZE that is negative or above 2^63 is refused, not wrapped" {
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^STATUS => * STATUS INBOX (MESSAGES 3 SIZE 99999999999999999999999)\r\n{tag} OK done"
	run --separate-stderr mt_fake du --no-tls
	[ "$status" -eq 76 ]
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^STATUS => * STATUS INBOX (MESSAGES 3 SIZE -5)\r\n{tag} OK done"
	run --separate-stderr mt_fake du --no-tls
	[ "$status" -eq 76 ]
}

@test "a server that stops answering mid-session ends in a timeout (75)" {
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n<STALL>"
	start=$SECONDS
	run --separate-stderr mt_fake ls --no-tls --timeout 1s
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"timed out"* ]]
	[ $((SECONDS - start)) -le 5 ]
}

@test "a connection cut in the middle of a response exits 75 (retry)" {
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" INB<CLOSE>"
	run --separate-stderr mt_fake ls --no-tls
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"connection"* ]]
}

@test "a folder name with CR/LF from a hostile LIST is never used" {
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" {12}\r\nEvil\r\nLOGOUT\r\n* LIST () \"/\" INBOX\r\n{tag} OK done
ON ^STATUS => * STATUS INBOX (MESSAGES 1 SIZE 10)\r\n{tag} OK done"
	run --separate-stderr mt_fake du --no-tls --tsv
	[ "$status" -eq 0 ]
	[[ "$output" != *Evil* ]]
	[[ "$output" == *"INBOX"* ]]
	# nothing but our own tagged LOGOUT, and the evil name never went back
	[ "$(grep -c 'LOGOUT' "$FAKE_LOG")" -eq "$(grep -c '^[0-9]* LOGOUT$' "$FAKE_LOG")" ]
	[ "$(grep -c 'Evil' "$FAKE_LOG")" -eq 0 ]
}

@test "a huge literal announcement is refused with bounded memory" {
	if mt_is_asan; then
		skip "the sanitizer build cannot run under prlimit --as"
	fi
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" {4294967296}\r\n<STALL>"
	start=$SECONDS
	run --separate-stderr prlimit --as=1000000000 -- env MAILTOOL_PASSWORD=fake-secret-pw "$MT" ls --config /dev/null \
		-H 127.0.0.1 -p "$FAKE_PORT" -u alice --no-tls --timeout 2s
	[ "$status" -eq 75 ] || [ "$status" -eq 76 ] || [ "$status" -eq 71 ]
	[ $((SECONDS - start)) -le 8 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "ls --status: a folder whose STATUS fails is reported and the exit is 76" {
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n* LIST () \"/\" Broken\r\n{tag} OK done
ON ^STATUS \"INBOX\" => * STATUS INBOX (MESSAGES 2 UNSEEN 0 SIZE 10)\r\n{tag} OK done
ON ^STATUS => {tag} NO [SERVERBUG] broken"
	run --separate-stderr mt_fake ls --status --no-tls --tsv
	[ "$status" -eq 76 ]
	[[ "$output" == *$'INBOX\t\tno\t2\t0\t10'* ]]
	[[ "$stderr" == *"'Broken': STATUS failed"* ]]
}

@test "a literal cut by the end of the connection is a clean error at once, not a spin" {
	# found by tests/fuzz/fuzz_response.c: libetpan took end-of-stream inside
	# a literal as "nothing yet" and spun for ever at 100% CPU
	printf '* PREAUTH ready\r\n* LIST () "/" {100}\r\nabc' > "$BATS_TEST_TMPDIR/cut.txt"
	start=$SECONDS
	run --separate-stderr timeout 20 "$MT" ls --config /dev/null --tunnel "cat $BATS_TEST_TMPDIR/cut.txt; exec >&-; exec cat >/dev/null"
	[ "$status" -eq 75 ]
	[ $((SECONDS - start)) -le 3 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"connection closed by the server"* ]]
}

@test "a CAPABILITY answered without capabilities is a clean error, not a crash" {
	# found by tests/fuzz/fuzz_response.c: libetpan's mailimap_capability
	# copied a capability list the server never sent (SIGSEGV); the tunnel
	# keeps reading, so our CAPABILITY never meets a closed pipe
	printf '* PREAUTH ready\r\n1 OK done\r\n' > "$BATS_TEST_TMPDIR/nocaps.txt"
	run --separate-stderr timeout 20 "$MT" ls --config /dev/null --tunnel "cat $BATS_TEST_TMPDIR/nocaps.txt; exec cat >/dev/null"
	[ "$status" -eq 76 ]
	[ "$stderr" = "mailtool ls: server answered CAPABILITY without listing any capability" ]
}

# A certificate for localhost made for one test: "expired" (signed by the
# suite's CA, valid until yesterday) or "self-signed"; prints "CERT KEY".
make_cert() {
	local c="$BATS_TEST_TMPDIR/$1" certs="$MT_TEST_DIR/certs"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$c.key" \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost -out "$c.csr" 2>/dev/null
	if [ "$1" = expired ]; then
		openssl x509 -req -in "$c.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial \
			-CAserial "$c.srl" -days -1 -copy_extensions copy -out "$c.pem" 2>/dev/null
	else
		openssl x509 -req -in "$c.csr" -signkey "$c.key" -days 30 -copy_extensions copy -out "$c.pem" 2>/dev/null
	fi
	[ -s "$c.pem" ] && echo "$c.pem $c.key"
}

# tls_refused KIND MODE: the fake server presents the certificate KIND over
# MODE (implicit or starttls); mailtool must refuse it (69) before sending a
# credential, and say why
tls_refused() {
	local files
	files=$(make_cert "$1")
	[ -n "$files" ]
	export FAKE_TLS_CERT=${files% *} FAKE_TLS_KEY=${files#* } FAKE_TLS_MODE=$2
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] fake
ON ^CAPABILITY => * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n{tag} OK done
ON ^STARTTLS => {tag} OK begin TLS<STARTTLS>
ON ^LOGOUT => * BYE bye\r\n{tag} OK bye<CLOSE>"
	unset FAKE_TLS_CERT FAKE_TLS_KEY FAKE_TLS_MODE
	local how=implicit
	[ "$2" = starttls ] && how=starttls
	cat > "$BATS_TEST_TMPDIR/tls.conf" <<CONF
accounts = { f = { host = "localhost"; port = $FAKE_PORT; tls = "$how"; user = "alice"; ca_file = "$MT_CA"; timeout = 5; }; };
CONF
	run --separate-stderr env MAILTOOL_PASSWORD=fake-secret-pw "$MT" info --config "$BATS_TEST_TMPDIR/tls.conf" -a f
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"$3"* ]]
	wait "$FAKE_PID" 2>/dev/null || true
	cat "$FAKE_LOG"
	grep -q "TLS handshake failed" "$FAKE_LOG"
	[ "$(grep -ciE 'LOGIN|AUTHENTICATE|fake-secret' "$FAKE_LOG")" -eq 0 ]
}

@test "an expired certificate is refused before authentication (implicit TLS)" { tls_refused expired implicit expired; }
@test "an expired certificate is refused before authentication (STARTTLS)" { tls_refused expired starttls expired; }
@test "a self-signed certificate is refused before authentication (implicit TLS)" { tls_refused self-signed implicit "self-signed"; }
@test "a self-signed certificate is refused before authentication (STARTTLS)" { tls_refused self-signed starttls "self-signed"; }
