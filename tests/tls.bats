#!/usr/bin/env bats
# Certificate verification through the system trust store, SSL_CERT_DIR and
# SSL_CERT_FILE: the store is looked up lazily in the hashed directory and
# built once per process, and must decide exactly as before: a wrong host
# name, an expired certificate and an unknown CA refused, a CA added with
# update-ca-certificates trusted (and no longer once removed).
load helpers

# The system store is shared by the whole machine, and make check runs two
# passes side by side: whoever puts a CA into it holds this lock from then
# until the CA is out again, and names the file per run. A file of that name
# found while holding the lock was left by a run that died: it is removed.
SYSCA_LOCK=/run/lock/mailtool-system-ca.lock
SYSCA_DIR=/usr/local/share/ca-certificates

sysca_usable() { [ "$(id -u)" = 0 ] && command -v update-ca-certificates >/dev/null && [ -d "$SYSCA_DIR" ]; }

setup_file() {
	local f=$BATS_FILE_TMPDIR certs=$MT_TEST_DIR/certs
	# a hashed directory and a bundle with the suite's CA, a directory with
	# only a CA that signed nothing here, an empty one
	mkdir -p "$f/cadir" "$f/otherdir" "$f/emptydir"
	cp "$MT_CA" "$f/cadir/suite-ca.pem"
	cp "$MT_OTHER_CA" "$f/otherdir/other-ca.pem"
	openssl rehash "$f/cadir" "$f/otherdir" >/dev/null 2>&1
	cp "$MT_CA" "$f/bundle.pem"
	# certificates the fake server presents: for localhost, signed by the
	# suite's CA but expired yesterday, and signed by the other CA; for
	# another name, signed by the suite's CA
	local kind ca name
	for kind in expired untrusted othername; do
		ca=ca name=localhost
		[ "$kind" = untrusted ] && ca=other-ca
		[ "$kind" = othername ] && name=imap.example.org
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$f/$kind.key" \
			-subj "/CN=$name" -addext "subjectAltName=DNS:$name" -out "$f/$kind.csr" 2>/dev/null
		openssl x509 -req -in "$f/$kind.csr" -CA "$certs/$ca.pem" -CAkey "$certs/$ca.key" -CAcreateserial \
			-CAserial "$f/$kind.srl" -days "$([ "$kind" = expired ] && echo -1 || echo 30)" \
			-copy_extensions copy -out "$f/$kind.pem" 2>/dev/null
	done
	# accounts without ca_file: the system store (or SSL_CERT_*) decides
	cat > "$f/tls.conf" <<CONF
accounts = {
  sys = { host = "localhost"; port = $MT_IMAP_PORT; tls = "starttls"; user = "alice";
          password_file = "$MT_SUITE_DIR/alice.pw"; timeout = 10; };
  sys_tls = { host = "localhost"; port = $MT_IMAPS_PORT; tls = "implicit"; user = "alice";
          password_file = "$MT_SUITE_DIR/alice.pw"; timeout = 10; };
  sys_pinned = { host = "127.0.0.1"; port = $MT_IMAPS_PORT; tls = "implicit"; user = "alice";
          fingerprint = "$MT_SERVER_FP"; password_file = "$MT_SUITE_DIR/alice.pw"; timeout = 10; };
  admin = { host = "localhost"; port = $MT_IMAPS_PORT; user = "admin"; ca_file = "$MT_CA";
          password_file = "$MT_SUITE_DIR/admin.pw"; timeout = 10; };
};
CONF
	sysca_usable || return 0
	exec 8>"$SYSCA_LOCK"
	flock -w 600 8 || { echo "cannot take $SYSCA_LOCK" >&2; return 1; }
	if compgen -G "$SYSCA_DIR/mailtool-test-ca-*.crt" >/dev/null; then
		rm -f "$SYSCA_DIR"/mailtool-test-ca-*.crt
		update-ca-certificates --fresh >/dev/null 2>&1
	fi
}

teardown_file() {
	sysca_usable || return 0
	system_ca_off
	flock -u 8 2>/dev/null
	exec 8>&-
}

# The suite's CA into the system store (once), or out of it again.
SYSCA_STATE() { echo "$BATS_FILE_TMPDIR/sysca.name"; }
system_ca_on() {
	sysca_usable || skip "needs root and update-ca-certificates"
	[ -s "$(SYSCA_STATE)" ] && return 0
	local name="mailtool-test-ca-$$-$RANDOM"
	cp "$MT_CA" "$SYSCA_DIR/$name.crt"
	echo "$name" > "$(SYSCA_STATE)"
	update-ca-certificates >/dev/null 2>&1
	# what update-ca-certificates promises: the bundle and a hash link
	grep -q "$(sed -n 2p "$MT_CA")" /etc/ssl/certs/ca-certificates.crt
	[ -e "/etc/ssl/certs/$(openssl x509 -in "$MT_CA" -noout -hash).0" ]
}
system_ca_off() {
	[ -s "$(SYSCA_STATE)" ] || return 0
	rm -f "$SYSCA_DIR/$(cat "$(SYSCA_STATE)").crt"
	# --fresh: a plain run leaves the removed CA's links behind
	update-ca-certificates --fresh >/dev/null 2>&1
	rm -f "$(SYSCA_STATE)"
}

# trust HOW: sets TRUST to the command prefix (env ...) for the trust source HOW:
#   system    neither SSL_CERT_FILE nor SSL_CERT_DIR (OpenSSL's defaults)
#   debian    both naming Debian's bundle and directory, as some containers set them
#   dir       SSL_CERT_DIR = a hashed directory holding the suite's CA
#   file      SSL_CERT_FILE = a bundle of the suite's CA, SSL_CERT_DIR = an empty directory
trust() {
	local f=$BATS_FILE_TMPDIR
	case $1 in
	system) TRUST=(env -u SSL_CERT_FILE -u SSL_CERT_DIR) ;;
	debian) TRUST=(env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_DIR=/etc/ssl/certs) ;;
	dir) TRUST=(env -u SSL_CERT_FILE SSL_CERT_DIR="$f/cadir") ;;
	file) TRUST=(env SSL_CERT_FILE="$f/bundle.pem" SSL_CERT_DIR="$f/emptydir") ;;
	esac
}

# accepted HOW: the real Dovecot's certificate verifies, over STARTTLS and implicit TLS
accepted() {
	trust "$1"
	run --separate-stderr "${TRUST[@]}" "$MT" info --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"cert_pinned:"*"verified by CA and host name"* ]]
	run --separate-stderr "${TRUST[@]}" "$MT" quota --config "$BATS_FILE_TMPDIR/tls.conf" -a sys_tls
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"User quota"* ]]
}

# wrong_host HOW: the real certificate names localhost only; asked for
# 127.0.0.1 it is refused before any credential goes out (and a certificate
# for another DNS name: refused HOW othername, below)
wrong_host() {
	trust "$1"
	run --separate-stderr "${TRUST[@]}" "$MT" info --config "$BATS_FILE_TMPDIR/tls.conf" -a sys -H 127.0.0.1 --trace
	echo "$stderr"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted: IP address mismatch"* ]]
	# what the client sent (the server's greeting lists AUTH=LOGIN among others)
	sent=$(grep '^C: ' <<<"$stderr" || true)
	[[ "$sent" == *STARTTLS* && "$sent" != *"AUTHENTICATE"* && "$sent" != *"LOGIN "* && "$stderr" != *"redacted"* ]]
}

# refused HOW KIND WHY: the fake server presents the KIND certificate
# (expired, untrusted, othername) over implicit TLS; refused (69) for WHY, nothing sent
refused() {
	export FAKE_TLS_CERT="$BATS_FILE_TMPDIR/$2.pem" FAKE_TLS_KEY="$BATS_FILE_TMPDIR/$2.key"
	fake_server "GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake
ON ^LOGOUT => * BYE bye\r\n{tag} OK bye<CLOSE>"
	unset FAKE_TLS_CERT FAKE_TLS_KEY
	trust "$1"
	run --separate-stderr "${TRUST[@]}" MAILTOOL_PASSWORD=fake-secret-pw "$MT" info --config /dev/null \
		-H localhost -p "$FAKE_PORT" --tls -u alice --timeout 5s
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"not trusted: $3"* ]]
	wait "$FAKE_PID" 2>/dev/null || true
	grep -q "TLS handshake failed" "$FAKE_LOG"
	[ "$(grep -ciE 'LOGIN|AUTHENTICATE|fake-secret' "$FAKE_LOG")" -eq 0 ]
}

# openat calls of a run, all processes: what it read to decide trust.
# (LeakSanitizer cannot run under ptrace: the sanitizer build's leak check
# is off for these runs only; the same paths run untraced in other tests.)
opened() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=openat -e signal=none -o "$BATS_TEST_TMPDIR/strace" "$@"
}
bundle_reads() { grep -c 'ca-certificates\.crt\|/cert\.pem"' "$BATS_TEST_TMPDIR/strace" || true; }
hash_reads() { grep -cE '/[0-9a-f]{8}\.[0-9]+"' "$BATS_TEST_TMPDIR/strace" || true; }

# ---- SSL_CERT_DIR and SSL_CERT_FILE (no change to the machine) ----------

@test "SSL_CERT_DIR: a hashed directory with the CA is trusted" { system_ca_off; accepted dir; }
@test "SSL_CERT_DIR: a wrong host name is refused" {
	system_ca_off
	wrong_host dir
	refused dir othername "hostname mismatch"
}
@test "SSL_CERT_DIR: an expired certificate is refused" { system_ca_off; refused dir expired "certificate has expired"; }
@test "SSL_CERT_DIR: a certificate from another CA is refused" { system_ca_off; refused dir untrusted "unable to get local issuer certificate"; }
@test "SSL_CERT_FILE: a bundle with the CA is trusted" { system_ca_off; accepted file; }
@test "SSL_CERT_FILE: a wrong host name is refused" {
	system_ca_off
	wrong_host file
	refused file othername "hostname mismatch"
}
@test "SSL_CERT_FILE: an expired certificate is refused" { system_ca_off; refused file expired "certificate has expired"; }
@test "SSL_CERT_FILE: a certificate from another CA is refused" { system_ca_off; refused file untrusted "unable to get local issuer certificate"; }

@test "without the CA anywhere, the server's certificate is refused" {
	system_ca_off
	for how in system debian; do
		trust "$how"
		run --separate-stderr "${TRUST[@]}" "$MT" info --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
		[ "$status" -eq 69 ]
		[[ "$stderr" == *"not trusted: unable to get local issuer certificate"* ]]
	done
	run --separate-stderr env -u SSL_CERT_FILE SSL_CERT_DIR="$BATS_FILE_TMPDIR/otherdir" "$MT" info --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
	[ "$status" -eq 69 ]
	run --separate-stderr env SSL_CERT_FILE="$MT_OTHER_CA" SSL_CERT_DIR="$BATS_FILE_TMPDIR/emptydir" "$MT" info --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
	[ "$status" -eq 69 ]
}

@test "a kept process builds its store anew when the trust files change: a CA removed is no longer trusted" {
	system_ca_off
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	local dir="$BATS_TEST_TMPDIR/cadir"
	cp -a "$BATS_FILE_TMPDIR/cadir" "$dir"
	run --separate-stderr env -u SSL_CERT_FILE SSL_CERT_DIR="$dir" "$MT" quota --config "$BATS_FILE_TMPDIR/tls.conf" -a sys --persist 30s
	[ "$status" -eq 0 ]
	pid=$("$MT" persist --status | sed -n 's/.*pid \([0-9]*\);.*/\1/p')
	[ -n "$pid" ]
	# the CA leaves the directory; the server drops the session, so the
	# same process must connect again
	rm -f "$dir"/*
	dadm kick alice >/dev/null
	sleep 0.3
	run --separate-stderr env -u SSL_CERT_FILE SSL_CERT_DIR="$dir" "$MT" quota --config "$BATS_FILE_TMPDIR/tls.conf" -a sys --persist 30s
	echo "$stderr"
	# it was the kept process that refused: it is still there, no other
	still=$("$MT" persist --status | sed -n 's/.*pid \([0-9]*\);.*/\1/p')
	"$MT" persist --stop >/dev/null 2>&1 || true
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted: unable to get local issuer certificate"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[ "$still" = "$pid" ]
}

@test "a batch builds one TLS context per trust source, --users one before its children fork" {
	command -v strace >/dev/null || skip "needs strace"
	local c=$BATS_FILE_TMPDIR/tls.conf
	run opened env -u SSL_CERT_FILE SSL_CERT_DIR="$BATS_FILE_TMPDIR/cadir" "$MT" \
		-e "quota -a alice; quota -a bob; info -a alice_starttls; quota --config $c -a sys; info --config $c -a sys_tls"
	[ "$status" -eq 0 ]
	[ "$(grep -c "\"$MT_CA\"" "$BATS_TEST_TMPDIR/strace")" -eq 1 ]
	[ "$(grep -c "\"$BATS_FILE_TMPDIR/cadir/[0-9a-f]*\.0\"" "$BATS_TEST_TMPDIR/strace")" -eq 1 ]
	printf 'alice\nbob\ncarol\n' > "$BATS_TEST_TMPDIR/users"
	run opened "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" -j 1 --tsv
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c $'\t0\t\t')" -eq 3 ]
	[ "$(grep -c "\"$MT_CA\"" "$BATS_TEST_TMPDIR/strace")" -eq 1 ]
	# and only the parent read it: no child opened the CA file
	parent=$(head -1 "$BATS_TEST_TMPDIR/strace" | cut -d' ' -f1)
	[ "$(grep "\"$MT_CA\"" "$BATS_TEST_TMPDIR/strace" | cut -d' ' -f1)" = "$parent" ]
}

@test "a pinned account without ca_file reads no trust store at all" {
	command -v strace >/dev/null || skip "needs strace"
	run opened env -u SSL_CERT_FILE -u SSL_CERT_DIR "$MT" quota --config "$BATS_FILE_TMPDIR/tls.conf" -a sys_pinned
	[ "$status" -eq 0 ]
	[[ "$output" == *"User quota"* ]]
	[ "$(bundle_reads)" -eq 0 ]
	[ "$(hash_reads)" -eq 0 ]
}

# ---- the system store (root: update-ca-certificates, serialised) --------

@test "system store: a CA added with update-ca-certificates is trusted" {
	system_ca_on
	accepted system
	accepted debian
}
@test "system store: a wrong host name is refused" {
	system_ca_on
	wrong_host system
	refused system othername "hostname mismatch"
}
@test "system store: an expired certificate is refused" { system_ca_on; refused system expired "certificate has expired"; }
@test "system store: a certificate from a CA not in the store is refused" {
	system_ca_on
	refused system untrusted "unable to get local issuer certificate"
}

@test "system store: the issuer is found in the hashed directory, the bundle is not parsed" {
	system_ca_on
	command -v strace >/dev/null || skip "needs strace"
	for how in system debian; do
		trust "$how"
		run opened "${TRUST[@]}" "$MT" quota --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
		[ "$status" -eq 0 ]
		[ "$(bundle_reads)" -eq 0 ]
		[ "$(hash_reads)" -ge 1 ]
	done
	# a directory of one's own adds to the system's bundle, as with OpenSSL:
	# the bundle is read then, and the CA (in it, not in that directory) trusted
	run opened env -u SSL_CERT_FILE SSL_CERT_DIR="$BATS_FILE_TMPDIR/emptydir" "$MT" quota --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
	[ "$status" -eq 0 ]
	[ "$(bundle_reads)" -ge 1 ]
}

@test "system store: once removed again, the CA is no longer trusted" {
	system_ca_on
	system_ca_off
	trust system
	run --separate-stderr "${TRUST[@]}" "$MT" info --config "$BATS_FILE_TMPDIR/tls.conf" -a sys
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted: unable to get local issuer certificate"* ]]
}
