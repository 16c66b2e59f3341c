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
	[[ "$output" == *$'INBOX\t\tfalse\t2\t0\t10\ttrue'* ]]
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
# suite's CA, valid until yesterday), "valid" (signed by the suite's CA, for
# 30 days) or "self-signed"; prints "CERT KEY".
make_cert() {
	local c="$BATS_TEST_TMPDIR/$1" certs="$MT_TEST_DIR/certs"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$c.key" \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost -out "$c.csr" 2>/dev/null
	if [ "$1" = expired ] || [ "$1" = valid ]; then
		openssl x509 -req -in "$c.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial \
			-CAserial "$c.srl" -days "$([ "$1" = valid ] && echo 30 || echo -1)" -copy_extensions copy -out "$c.pem" 2>/dev/null
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

# ---------------------------------------------------------------------------
# TLS that just stops, endless lines, numbers out of range, broken codes

# tls_fake SCRIPT: the fake server over implicit TLS with a certificate the
# suite's CA signed for localhost; writes $BATS_TEST_TMPDIR/tls.conf (account f)
tls_fake() {
	local files
	files=$(make_cert valid)
	[ -n "$files" ]
	export FAKE_TLS_CERT=${files% *} FAKE_TLS_KEY=${files#* }
	fake_server "$1"
	unset FAKE_TLS_CERT FAKE_TLS_KEY
	cat > "$BATS_TEST_TMPDIR/tls.conf" <<CONF
accounts = { f = { host = "localhost"; port = $FAKE_PORT; tls = "implicit"; user = "alice"; ca_file = "$MT_CA"; timeout = 3; }; };
CONF
}

@test "TLS: the TCP connection ends without close_notify in the middle of a response: exit 75 in time, one line" {
	tls_fake "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n* LIST () \"/\" Ar<TCPCLOSE>"
	start=$SECONDS
	run --separate-stderr timeout 20 env MAILTOOL_PASSWORD=fake-secret-pw "$MT" ls --config "$BATS_TEST_TMPDIR/tls.conf" -a f
	echo "status $status ($((SECONDS - start)) s): $output / $stderr"
	cat "$FAKE_LOG"
	grep -q "TLS established" "$FAKE_LOG"
	grep -q "TCP closed without close_notify" "$FAKE_LOG"
	[ "$status" -eq 75 ]
	[ $((SECONDS - start)) -le 5 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"connection"* ]]
	# and in the middle of a literal (a message body)
	tls_fake "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^STATUS => * STATUS INBOX (MESSAGES 1 SIZE 10)\r\n{tag} OK done
ON ^(SELECT|EXAMINE) => * 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n{tag} OK [READ-WRITE] done
ON ^UID SEARCH => * SEARCH 1\r\n{tag} OK done
ON ^UID FETCH .*BODY.PEEK\[\] => * 1 FETCH (UID 1 RFC822.SIZE 5000 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" BODY[HEADER.FIELDS (FROM)] {2}\r\n\r\n BODY[] {5000}\r\nFrom: a@b\r\n\r\nbody<TCPCLOSE>
ON ^UID FETCH => * 1 FETCH (UID 1 RFC822.SIZE 5000)\r\n{tag} OK done"
	start=$SECONDS
	run --separate-stderr timeout 20 env MAILTOOL_PASSWORD=fake-secret-pw "$MT" archive --export "$BATS_TEST_TMPDIR/x.mbox" INBOX \
		--config "$BATS_TEST_TMPDIR/tls.conf" -a f
	echo "status $status ($((SECONDS - start)) s): $output / $stderr"
	cat "$FAKE_LOG"
	[ "$status" -eq 75 ]
	[ $((SECONDS - start)) -le 5 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[ ! -e "$BATS_TEST_TMPDIR/x.mbox" ]
}

@test "a 100 MB line without a line end: a clean error, bounded memory and time" {
	fake_server "$logged_in
ON ^LIST => * LIST () \"/\" <HUGE 104857600>" 30
	local lim=()
	# 64 MB of address space: the binary with its libraries peaks at ~12 MB
	# (VmPeak); a client that keeps the whole line cannot fit it
	mt_is_asan || lim=(prlimit --as=64000000 --)
	start=$SECONDS
	run --separate-stderr timeout 30 "${lim[@]}" env MAILTOOL_PASSWORD=fake-secret-pw "$MT" ls --config /dev/null \
		-H 127.0.0.1 -p "$FAKE_PORT" -u alice --no-tls --timeout 3s
	echo "status $status ($((SECONDS - start)) s): $output / $stderr"
	# a protocol error (76), not out of memory (71), a crash or a hang
	[ "$status" -eq 76 ]
	[ $((SECONDS - start)) -le 15 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

# a logged-in server (with UIDPLUS, so a real expunge goes ahead) with an
# INBOX of 3 messages; SEARCH and FETCH answer as given
expunge_server() {
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 LIST-EXTENDED UIDPLUS] in
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST (\\Subscribed) \"/\" INBOX\r\n{tag} OK done
ON ^(SELECT|EXAMINE) => * FLAGS (\\Seen \\Deleted)\r\n${3:-* OK [PERMANENTFLAGS (\\Seen \\Deleted)] ok}\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n{tag} OK [READ-WRITE] done
ON ^UID SEARCH UID [0-9:,]+ ALL$ => * SEARCH\r\n{tag} OK done
ON ^UID SEARCH => $1\r\n{tag} OK done
ON ^UID FETCH => $2\r\n{tag} OK done
ON ^(UID )?(STORE|EXPUNGE|MOVE|COPY) => {tag} OK done
ON ^NOOP => {tag} OK done"
}

# removal_refused SEARCH-ANSWER FETCH-ANSWER [SELECT-CODE-LINE]: expunge
# --dry-run and a real expunge must both end in 76 with one error line, and
# nothing is ever marked or removed. Both runs are made before judging, and
# each bad one is listed (with the commands it sent)
removal_refused() {
	local args bad=0
	for args in --dry-run --max=10; do
		expunge_server "$1" "$2" "${3:-}"
		run --separate-stderr mt_fake expunge --no-tls --timeout 1s --larger 1k $args INBOX
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
		echo "expunge $args: exit $status: $stderr"
		# every command it sent was in the script
		[[ "$stderr" != *"BAD: unexpected"* ]] || return 1
		if [ "$status" -ne 76 ] || [ "$(echo "$stderr" | wc -l)" -ne 1 ] ||
			grep -qiE '^[^ ]+ (UID )?(STORE|EXPUNGE|MOVE|COPY)' "$FAKE_LOG"; then
			bad=$((bad + 1))
			echo "expunge $args: exit $status (want 76): $(echo $output) / $stderr"
			grep -vE 'AUTHENTICATE|LIST' "$FAKE_LOG" | sed 's/^/  C: /'
		fi
	done
	[ "$bad" -eq 0 ]
}

@test "a SEARCH UID above 2^32 is refused, not wrapped into a real UID (76)" {
	# 4294967297 = 2^32 + 1 would wrap to UID 1, which the server never chose
	removal_refused '* SEARCH 4294967297' '* 1 FETCH (UID 1 RFC822.SIZE 5000)'
}

@test "a negative SEARCH UID is refused (76)" {
	removal_refused '* SEARCH 2 -1' '* 2 FETCH (UID 2 RFC822.SIZE 5000)'
}

@test "a FETCH UID above 2^32 is refused, not wrapped into a real UID (76)" {
	# asked for UID 2, answered for 2^32 + 2
	removal_refused '* SEARCH 2' '* 2 FETCH (UID 4294967298 RFC822.SIZE 5000)'
}

@test "a negative or out-of-range RFC822.SIZE is refused (76)" {
	local bad=0
	removal_refused '* SEARCH 1' '* 1 FETCH (UID 1 RFC822.SIZE -5)' || bad=1
	removal_refused '* SEARCH 1' '* 1 FETCH (UID 1 RFC822.SIZE 4294967297)' || bad=1
	[ "$bad" -eq 0 ]
}

@test "a malformed QUOTA answer is a clean error, not a crash (76)" {
	fake_server 'GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 QUOTA] in
ON ^GETQUOTAROOT => * QUOTAROOT INBOX "x"\r\n* QUOTA "x" (STORAGE abc 10)\r\n{tag} OK done
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>'
	run --separate-stderr mt_fake quota --no-tls
	echo "status $status: $output / $stderr"
	[ "$status" -eq 76 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$output" != *abc* ]]
}

@test "a malformed PERMANENTFLAGS on SELECT is a clean error, not a crash, and nothing is removed (76)" {
	local pf bad=0
	for pf in '* OK [PERMANENTFLAGS (\\Seen \\Deleted] ok' '* OK [PERMANENTFLAGS \\Seen)] ok' '* OK [PERMANENTFLAGS (\\Seen \\Del\"eted)] ok'; do
		echo "# $pf"
		removal_refused '* SEARCH 1' '* 1 FETCH (UID 1 RFC822.SIZE 5000)' "$pf" || bad=1
	done
	[ "$bad" -eq 0 ]
}

# a logged-in server with SORT and an INBOX of 3 messages (UIDs 1-3);
# SORT and FETCH answer as given
sort_server() {
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 LIST-EXTENDED SORT] in
ON ^LOGOUT => * BYE\r\n{tag} OK bye<CLOSE>
ON ^LIST \"\" \"\" => * LIST () \"/\" \"\"\r\n{tag} OK done
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^EXAMINE => * 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n{tag} OK [READ-ONLY] done
ON ^UID SORT => $1\r\n{tag} OK done
ON ^UID FETCH => $2\r\n{tag} OK done"
}

@test "du --messages: SORT's UIDs outside what was asked, and repeats, are dropped; so is an unasked FETCH" {
	sort_server '* SORT 99 2 2 3 1' '* 1 FETCH (UID 99 RFC822.SIZE 999999 INTERNALDATE "01-Jan-2024 10:00:00 +0000")\r\n* 2 FETCH (UID 2 RFC822.SIZE 5000 INTERNALDATE "01-Jan-2024 10:00:00 +0000" BODY[HEADER.FIELDS (FROM SUBJECT DATE)] {12}\r\nSubject: x\r\n)\r\n* 3 FETCH (UID 3 RFC822.SIZE 4000 INTERNALDATE "02-Jan-2024 10:00:00 +0000")'
	run --separate-stderr mt_fake du --no-tls --timeout 2s --messages --top 2 --tsv
	[ "$status" -eq 0 ]
	# the two largest the answer names within UIDs 1-3, each once
	grep -qE '^[^ ]+ UID FETCH 2:3 \(UID RFC822.SIZE INTERNALDATE BODY.PEEK\[HEADER.FIELDS \(From Subject Date\)\]\)$' "$FAKE_LOG"
	[ "$(echo "$output" | tail -n +2 | cut -f2,4,6 | tr '\t\n' ',;')" = "2,5000,x;3,4000,;" ]
}

@test "du --messages: a SORT UID above 2^32 is refused, not wrapped into a real UID (76)" {
	sort_server '* SORT 4294967298 1' '* 1 FETCH (UID 1 RFC822.SIZE 5000)'
	run --separate-stderr mt_fake du --no-tls --timeout 2s --messages --top 1
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"'4294967298'"*"SORT"* ]]
	[ "$(grep -c 'UID FETCH' "$FAKE_LOG")" -eq 0 ]
}

# a BODYSTRUCTURE nested N deep (multipart in multipart ...), bounded in size
nested_structure() {
	local n=$1 open close
	open=$(printf '%*s' "$n" '' | tr ' ' '(')
	close=$(printf '%*s' "$n" '' | sed 's/ / "MIXED")/g')
	printf '%s("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1)%s' "$open" "$close"
}

@test "filter's look at what the server left out: a deep or odd BODYSTRUCTURE is an error or a check, never a crash" {
	printf 'rules = ( { name = "b"; match = { body = "pills"; }; flag = "$B"; } );\n' > "$BATS_TEST_TMPDIR/r.conf"
	local depth
	for depth in 30 1990 20000; do
		fake_server "$logged_in
ON ^LIST => * LIST () \"/\" INBOX\r\n{tag} OK done
ON ^(SELECT|EXAMINE) => * 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 3] n\r\n{tag} OK [READ-ONLY] done
ON ^UID SEARCH .*BODY => * SEARCH\r\n{tag} OK done
ON ^UID SEARCH => * SEARCH 1 2\r\n{tag} OK done
ON ^UID FETCH .*BODYSTRUCTURE => * 1 FETCH (UID 1 BODYSTRUCTURE $(nested_structure "$depth"))\r\n* 2 FETCH (UID 2 BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 1 1))\r\n{tag} OK done
ON ^UID FETCH => * 1 FETCH (UID 1 FLAGS () RFC822.SIZE 38 BODY[]<0> {38}\r\nSubject: x\r\n\r\nbuy pills here, really\r\n)\r\n{tag} OK done"
		run --separate-stderr mt_fake filter -f "$BATS_TEST_TMPDIR/r.conf" --dry-run --no-tls
		echo "depth $depth: status $status: $output / $stderr"
		# a structure deeper than a rule reads is looked at (30, and 1990,
		# which a sender can make and a server may pass on), one libetpan
		# cannot parse without overflowing its stack is refused as the
		# server's fault (20000): never a signal
		if [ "$depth" -lt 2000 ]; then
			[ "$status" -eq 0 ]
		else
			[ "$status" -eq 76 ]
			[[ "$stderr" == *"nested parentheses more than 2000 deep"* ]]
		fi
		[ "$(grep -c 'FETCH .*BODYSTRUCTURE' "$FAKE_LOG")" -eq 1 ]
		if [ "$depth" -lt 2000 ]; then
			# deeper than what a rule reads: it is checked, and UID 2 (plain) is not
			grep -qE 'UID FETCH 1 \(.*BODY.PEEK\[\]' "$FAKE_LOG"
			[[ "$output" == *"would flag"*1* ]]
		fi
	done
}
