#!/usr/bin/env bats
# OAuth2 mailboxes: auth = "oauthbearer" / "xoauth2" with a token_command,
# against the suite's real Dovecot 2.3 and its oauth2 passdb, which asks a
# token-introspection endpoint (tests/lib/introspect.py) about each token
# listed in MT_OAUTH2_TOKENS (tests/lib/dovecot.sh).
load helpers

setup_file() {
	local d=$BATS_FILE_TMPDIR
	umask 077
	# tokens of this run only: random, so a hit in any output is ours
	# (kept in files, not exported: no child may inherit them from the test)
	local TOK_ALICE TOK_BOB TOK_OLD
	TOK_ALICE=mtA$(openssl rand -hex 24)
	TOK_BOB=mtB$(openssl rand -hex 24)
	TOK_OLD=mtX$(openssl rand -hex 24)
	echo "$TOK_ALICE" > "$d/alice.token"
	printf '%s\talice\tactive\n%s\tbob\tactive\n%s\talice\tinactive\n' "$TOK_ALICE" "$TOK_BOB" "$TOK_OLD" >> "$MT_OAUTH2_TOKENS"
	# the token command: the token of user $1, from an owner-only file; it
	# notes what it was given (never the token) where the tests look
	printf 'alice %s\nbob %s\n' "$TOK_ALICE" "$TOK_BOB" > "$d/tokens"
	cat > "$d/tok.sh" <<SH
#!/bin/sh
printf '%s %s\n' "\$1" "\$MAILTOOL_TOKEN_USER" >> "$d/seen.calls"
env > "$d/seen.env"
tr '\0' ' ' < /proc/\$\$/cmdline > "$d/seen.cmdline"
tr '\0' ' ' < /proc/\$PPID/cmdline > "$d/seen.parent"
tok=\$(awk -v u="\$1" '\$1 == u { print \$2 }' "$d/tokens")
[ -n "\$tok" ] || { echo "no token for '\$1'" >&2; exit 77; }
echo "\$tok"
SH
	chmod 700 "$d/tok.sh"
	printf '#!/bin/sh\necho %s\n' "$TOK_OLD" > "$d/old.sh"
	chmod 700 "$d/old.sh"
	common="host = \"localhost\"; port = $MT_IMAPS_PORT; ca_file = \"$MT_CA\"; sieve_port = $MT_SIEVE_PORT; timeout = 10;"
	cat > "$d/oauth.conf" <<CONF
accounts = {
  ob = { $common user = "alice"; auth = "oauthbearer"; token_command = "$d/tok.sh \"\$1\""; };
  xo = { $common user = "alice"; auth = "xoauth2"; token_command = "$d/tok.sh \"\$1\""; };
  ob_old = { $common user = "alice"; auth = "oauthbearer"; token_command = "$d/old.sh"; };
  xo_old = { $common user = "alice"; auth = "xoauth2"; token_command = "$d/old.sh"; };
  xo_notls = { host = "127.0.0.1"; port = $MT_NOTLS_PORT; tls = "none"; user = "alice"; auth = "xoauth2";
               token_command = "$d/tok.sh \"\$1\""; timeout = 10; };
  ob_notls = { host = "127.0.0.1"; port = $MT_NOTLS_PORT; tls = "none"; user = "alice"; auth = "oauthbearer";
               token_command = "$d/tok.sh \"\$1\""; timeout = 10; };
  admin = { $common user = "admin"; auth = "oauthbearer"; token_command = "$d/tok.sh \"\$1\""; };
};
CONF
	chmod 644 "$d/oauth.conf"
}

setup() {
	export MAILTOOL_CONFIG="$BATS_FILE_TMPDIR/oauth.conf"
	rm -f "$BATS_FILE_TMPDIR"/seen.*
	TOK_ALICE=$(cat "$BATS_FILE_TMPDIR/alice.token")
}

# quota used by USER as Dovecot counts it (bytes)
dove_used() { dadm -f tab quota get -u "$1" | awk -F'\t' '$2 == "STORAGE" { print $3 * 1024 }'; }

# an account whose token_command is CMD (and more settings), as file NAME.conf
token_conf() { # NAME CMD [SETTINGS]
	cat > "$BATS_TEST_TMPDIR/$1.conf" <<CONF
accounts = { t = { host = "localhost"; port = $MT_IMAPS_PORT; ca_file = "$MT_CA"; user = "alice"; timeout = 10;
  auth = "oauthbearer"; token_command = "$2"; ${3:-} }; };
CONF
}

@test "OAUTHBEARER: a good token logs in; quota is Dovecot's; info shows the mechanism; the endpoint saw it" {
	before=$(grep -c $'^alice\tactive$' "$MT_INTROSPECT_LOG" || true)
	run -0 --separate-stderr "$MT" quota -a ob --json
	used=$(echo "$output" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["storage_used"])')
	[ "$used" = "$(dove_used alice)" ]
	# the token went through the oauth2 passdb's introspection, once
	[ "$(grep -c $'^alice\tactive$' "$MT_INTROSPECT_LOG")" -eq $((before + 1)) ]
	# the token command got the user as $1 and in MAILTOOL_TOKEN_USER
	[ "$(cat "$BATS_FILE_TMPDIR/seen.calls")" = "alice alice" ]
	run -0 "$MT" info -a ob
	[[ "$output" == *$'\nauth:'*"AUTHENTICATE OAUTHBEARER"* ]]
	[[ "$output" == *"auth_mechanisms:"*"OAUTHBEARER"* ]]
	grep -q "user=<alice>, method=OAUTHBEARER" "$MT_DOVECOT_LOG"
}

@test "XOAUTH2: a good token logs in; info shows the mechanism" {
	run -0 --separate-stderr "$MT" quota -a xo --json
	used=$(echo "$output" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["storage_used"])')
	[ "$used" = "$(dove_used alice)" ]
	run -0 "$MT" info -a xo --json
	echo "$output" | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); assert r["auth"] == "AUTHENTICATE XOAUTH2", r["auth"]'
	grep -q "user=<alice>, method=XOAUTH2" "$MT_DOVECOT_LOG"
}

@test "ManageSieve logs in with OAUTHBEARER and XOAUTH2 too" {
	run -0 --separate-stderr "$MT" sieve -a ob ls --trace
	[[ "$stderr" == *'C: AUTHENTICATE "OAUTHBEARER" <credentials redacted>'* ]]
	run -0 --separate-stderr "$MT" sieve -a xo ls --trace
	[[ "$stderr" == *'C: AUTHENTICATE "XOAUTH2" <credentials redacted>'* ]]
}

@test "an expired (inactive) token: exit 77, the message says the token was refused; the error challenge is answered" {
	run --separate-stderr "$MT" quota -a ob_old --trace
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"the server refused the access token for 'alice' (OAUTHBEARER, status \"invalid_token\")"* ]]
	# RFC 7628 3.2.3: the error challenge gets the dummy ^A response, then NO
	[[ "$stderr" == *$'\nS: + '*$'\nC: AQ==\nS: '*" NO "* ]]
	[[ "$stderr" != *password* ]]
	run --separate-stderr "$MT" quota -a xo_old --trace
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"the server refused the access token for 'alice' (XOAUTH2, status \"401\")"* ]]
	# XOAUTH2: the empty response
	[[ "$stderr" == *$'\nS: + '*$'\nC: \nS: '*" NO "* ]]
	[[ "$stderr" != *password* ]]
	# ManageSieve: the same message and status
	run --separate-stderr "$MT" sieve -a ob_old ls
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"the server refused the access token for 'alice' (OAUTHBEARER"* ]]
	grep -q $'^alice\tinactive$' "$MT_INTROSPECT_LOG"
}

@test "a mechanism the server does not offer is refused before the token command runs" {
	# the cleartext instance offers OAUTHBEARER but not XOAUTH2
	run --separate-stderr "$MT" quota -a xo_notls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"the server does not offer AUTH=XOAUTH2"* ]]
	[ ! -e "$BATS_FILE_TMPDIR/seen.calls" ]
	run -0 --separate-stderr "$MT" quota -a ob_notls
	[ -s "$BATS_FILE_TMPDIR/seen.calls" ]
}

# token_fails NAME CMD STATUS TEXT: a run whose token_command is CMD exits
# STATUS saying TEXT; its stderr (with --trace) is added to $all
token_fails() {
	token_conf "$1" "$2"
	run --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/$1.conf" --trace
	echo "$1: $status $stderr"
	[ "$status" -eq "$3" ]
	[[ "$stderr" == *"$4"* ]]
	all=$all$stderr
}

@test "token_command that fails, prints nothing, two lines, a control character or too much: a clear error, 78" {
	all=
	token_fails fail "echo token service says no >&2; exit 3" 78 "token_command failed (exit status 3)"
	# its own stderr reaches the person
	[[ "$stderr" == *"token service says no"* ]]
	token_fails empty "true" 78 "token_command printed nothing"
	token_fails two "echo $TOK_ALICE; echo more" 78 "token_command printed more than one line"
	token_fails ctl "printf '$TOK_ALICE\\\\tx\\\\n'" 78 "token_command printed a control character"
	token_fails long "head -c 15000 /dev/zero | base64 -w0" 78 "token_command printed more than 16384 bytes"
	# none of them went on to the server
	[[ "$all" == *"S: * OK"* && "$all" != *"C: "*AUTHENTICATE* && "$all" != *redacted* ]]
	# one trailing CRLF is a line ending, not part of the token
	token_conf crlf "printf '$TOK_ALICE\\\\r\\\\n'"
	run -0 --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/crlf.conf"
}

@test "token_command's own 75 and 77 are the run's: retry later, or no permission" {
	token_fails t75 "exit 75" 75 "token_command failed (exit status 75)"
	token_fails t77 "exit 77" 77 "token_command failed (exit status 77)"
}

@test "a hanging token_command is killed with what it started after token_timeout: exit 75, nothing left" {
	# a sleep of its own length, to find it by
	sl="sleep 1$RANDOM"
	token_conf hang "$sl" 'token_timeout = "2s";'
	start=$SECONDS
	run --separate-stderr timeout 60 "$MT" quota --config "$BATS_TEST_TMPDIR/hang.conf"
	echo "$stderr ($((SECONDS - start)) s)"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"token_command did not finish within 2 s; killed"* ]]
	[ $((SECONDS - start)) -le 8 ]
	run pgrep -fx "$sl"
	[ "$status" -eq 1 ]
	# with no token_timeout, what --deadline leaves (of the default 30 s)
	token_conf hang2 "$sl; echo x" 'deadline = "3s";'
	start=$SECONDS
	run --separate-stderr timeout 60 "$MT" quota --config "$BATS_TEST_TMPDIR/hang2.conf"
	echo "$stderr ($((SECONDS - start)) s)"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"token_command did not finish within "*" s; killed"* ]]
	[ $((SECONDS - start)) -le 9 ]
	run pgrep -f "$sl"
	[ "$status" -eq 1 ]
	# a helper that leaves a child holding its standard output is not waited for
	token_conf bg "($sl &) ; echo $TOK_ALICE"
	start=$SECONDS
	run -0 --separate-stderr timeout 60 "$MT" quota --config "$BATS_TEST_TMPDIR/bg.conf"
	[ $((SECONDS - start)) -le 8 ]
	pkill -fx "$sl" || true
}

@test "a bad auth value or a token account without token_command is a configuration error" {
	printf 'accounts = { a = { host = "x"; auth = "bearer"; }; };\n' > "$BATS_TEST_TMPDIR/a.conf"
	run --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/a.conf"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"a.conf:1: 'auth': expected"*'"oauthbearer" or "xoauth2"'* ]]
	cat > "$BATS_TEST_TMPDIR/n.conf" <<CONF
accounts = { t = { host = "localhost"; port = $MT_IMAPS_PORT; ca_file = "$MT_CA"; user = "alice"; auth = "xoauth2"; }; };
CONF
	run --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/n.conf"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *'auth = "xoauth2" needs token_command'* ]]
}

@test "--users: each user logs in with its own token from the token command; a user without one fails alone" {
	printf 'alice\nbob\ncarol\n' > "$BATS_TEST_TMPDIR/users"
	run --separate-stderr "$MT" quota -a admin --users "$BATS_TEST_TMPDIR/users" --json -j 2
	echo "$output"; echo "$stderr"
	[ "$status" -eq 77 ]
	echo "$output" | python3 -c '
import json, sys
rows = {r["user"]: r for r in map(json.loads, sys.stdin)}
assert set(rows) == {"alice", "bob", "carol"}, rows.keys()
for u in ("alice", "bob"):
    assert rows[u]["status"] == 0 and len(rows[u]["results"]) == 1, rows[u]
print(rows["alice"]["results"][0]["storage_used"], rows["bob"]["results"][0]["storage_used"])
assert rows["carol"]["status"] == 77 and "token_command failed" in rows["carol"]["error"], rows["carol"]
' > "$BATS_TEST_TMPDIR/used"
	[ "$(cat "$BATS_TEST_TMPDIR/used")" = "$(dove_used alice) $(dove_used bob)" ]
	# each token command was given the user it was run for, never the admin
	[ "$(sort "$BATS_FILE_TMPDIR/seen.calls")" = "$(printf 'alice alice\nbob bob\ncarol carol')" ]
	# --as: the same for one user; info says whose token it was
	run -0 "$MT" info -a admin --as bob
	[[ "$output" == *"user:"*"bob (its own token, from token_command)"* ]]
	grep -q "user=<bob>, method=OAUTHBEARER" "$MT_DOVECOT_LOG"
}

@test "the token reaches neither a trace, the output, a log, nor the command line or environment of a child" {
	d=$BATS_FILE_TMPDIR
	# a tunnel (not PREAUTH: to the cleartext instance's login) recording its own environment and command line
	cat > "$BATS_TEST_TMPDIR/tunnel.sh" <<SH
#!/bin/bash
env > "$BATS_TEST_TMPDIR/tunnel.env"
tr '\0' ' ' < /proc/\$\$/cmdline > "$BATS_TEST_TMPDIR/tunnel.cmdline"
tr '\0' ' ' < /proc/\$PPID/cmdline > "$BATS_TEST_TMPDIR/tunnel.parent"
exec 3<>/dev/tcp/127.0.0.1/$MT_NOTLS_PORT
cat <&3 &
cat >&3
SH
	chmod +x "$BATS_TEST_TMPDIR/tunnel.sh"
	cd "$BATS_TEST_TMPDIR"
	# the initial responses as they would go on the wire, base64
	blobs=$(python3 -c '
import base64, sys
t = sys.argv[1]
print(base64.b64encode(("n,a=alice,\x01auth=Bearer %s\x01\x01" % t).encode()).decode())
print(base64.b64encode(("user=alice\x01auth=Bearer %s\x01\x01" % t).encode()).decode())' "$TOK_ALICE")
	run -0 --separate-stderr "$MT" info -a ob_notls --tunnel "$BATS_TEST_TMPDIR/tunnel.sh" --trace -vv
	[[ "$output" == *"AUTHENTICATE OAUTHBEARER"* ]]
	[[ "$stderr" == *"C: <credentials redacted>"* ]]
	all="$output$stderr"
	run -0 --separate-stderr "$MT" quota -a xo --trace -vv --json
	all="$all$output$stderr"
	run -0 --separate-stderr "$MT" sieve -a ob ls --trace -vv
	all="$all$output$stderr"
	run -0 --separate-stderr "$MT" quota -a admin --users - --json <<<"alice"
	all="$all$output$stderr"
	[[ "$all" != *"$TOK_ALICE"* ]]
	for b in $blobs; do [[ "$all" != *"$b"* ]]; done
	[ -s tunnel.env ] && [ -s "$d/seen.env" ]
	run grep -l -e "$TOK_ALICE" tunnel.env tunnel.cmdline tunnel.parent "$d/seen.env" "$d/seen.cmdline" "$d/seen.parent" "$MT_DOVECOT_LOG"
	[ "$status" -eq 1 ]
	# the token command was given the user, not the token, and not the
	# environment variable that could hold a password
	grep -q "^MAILTOOL_TOKEN_USER=alice$" "$d/seen.env"
	run grep -c MAILTOOL_PASSWORD "$d/seen.env"
	[ "$output" -eq 0 ]
}

@test "without SASL-IR the initial response follows the server's continuation; it holds user, host, port and the token" {
	# Dovecot always offers SASL-IR: a scripted server without it
	fake_server '
GREETING * OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] fake without SASL-IR
ON ^AUTHENTICATE OAUTHBEARER$ => +
ON ^$ => 1 NO [AUTHENTICATIONFAILED] no such token'
	run --separate-stderr "$MT" quota --config "$BATS_FILE_TMPDIR/oauth.conf" -a ob -H 127.0.0.1 -p "$FAKE_PORT" \
		--no-tls --timeout 5s
	cat "$FAKE_LOG"
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"the server refused the access token for 'alice' (OAUTHBEARER): no such token"* ]]
	[ "$(sed -n 1p "$FAKE_LOG")" = "1 AUTHENTICATE OAUTHBEARER" ]
	# RFC 7628 3.1: gs2 header with the user, host and port, the bearer token
	want=$(printf 'n,a=alice,\001host=127.0.0.1\001port=%s\001auth=Bearer %s\001\001' "$FAKE_PORT" "$TOK_ALICE" | base64 -w0)
	[ "$(sed -n 2p "$FAKE_LOG")" = "$want" ]
}

@test "a kept session (--persist) is named by token_command and user: it serves the same account, not another token source" {
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	logins() { grep -c "Login: user=<alice>, method=OAUTHBEARER" "$MT_DOVECOT_LOG" || true; }
	conf=$BATS_TEST_TMPDIR/p.conf
	cp "$BATS_FILE_TMPDIR/oauth.conf" "$conf"
	before=$(logins)
	run -0 --separate-stderr "$MT" quota --config "$conf" -a ob --persist 30s
	want=$output
	run -0 --separate-stderr "$MT" quota --config "$conf" -a ob --persist 30s
	[ "$output" = "$want" ]
	# one login, one token fetched, for two runs
	[ "$(( $(logins) - before ))" -eq 1 ]
	[ "$(wc -l < "$BATS_FILE_TMPDIR/seen.calls")" -eq 1 ]
	# the same file and account with another token_command is another
	# session: the old token is fetched and refused, not served by the kept one
	sed -i 's#ob = { \(.*\)token_command = "[^;]*;#ob = { \1token_command = "'"$BATS_FILE_TMPDIR"'/old.sh";#' "$conf"
	grep -q "ob = {.*old.sh" "$conf"
	run --separate-stderr "$MT" quota --config "$conf" -a ob --persist 30s
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"refused the access token"* ]]
	# --as bob is another user: another session, bob's token
	run -0 --separate-stderr "$MT" quota --config "$BATS_FILE_TMPDIR/oauth.conf" -a ob --as bob --persist 30s
	grep -q "^bob bob$" "$BATS_FILE_TMPDIR/seen.calls"
	"$MT" persist --stop >/dev/null 2>&1 || true
}

@test "--token says where tokens come from; nothing is tried" {
	run --separate-stderr "$MT" quota -a ob --token "$TOK_ALICE"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown option '--token': an access token is never given on the command line"*"token_command"* ]]
	run --separate-stderr "$MT" du -a ob --access-token=x
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"token_command"* ]]
	[ ! -e "$BATS_FILE_TMPDIR/seen.calls" ]
}

@test "a long token (6000 bytes, as Microsoft's can be) logs in; one the server cannot take is 69, saying why" {
	long=L$(head -c 6000 /dev/zero | tr '\0' x)
	huge=H$(head -c 12000 /dev/zero | tr '\0' y)
	printf '%s\talice\tactive\n%s\talice\tactive\n' "$long" "$huge" >> "$MT_OAUTH2_TOKENS"
	echo "$long" > "$BATS_TEST_TMPDIR/long"
	echo "$huge" > "$BATS_TEST_TMPDIR/huge"
	token_conf long "cat $BATS_TEST_TMPDIR/long"
	run -0 --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/long.conf"
	# Dovecot 2.3 closes the connection on a SASL response above 8 KiB
	token_conf huge "cat $BATS_TEST_TMPDIR/huge"
	run --separate-stderr "$MT" quota --config "$BATS_TEST_TMPDIR/huge.conf"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"connection closed by the server (after a SASL response of 16"*" bytes from a long token"* ]]
	grep -q "Authentication response too large" "$MT_DOVECOT_LOG"
}

@test "a token_command holds no descriptor of mailtool's beyond 0, 1 and 2: plain, --trace, batch, --users, a --persist process" {
	d=$BATS_TEST_TMPDIR
	export XDG_RUNTIME_DIR="$d/rt"
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
	# the token of user $1, after noting the descriptors it holds
	cat > "$d/fdtok.sh" <<SH
#!/bin/sh
exec python3 "$MT_REPO/tests/lib/fdnote.py" "$d/fd.log" "\$(awk -v u="\$1" '\$1 == u { print \$2 }' "$BATS_FILE_TMPDIR/tokens")"
SH
	chmod 700 "$d/fdtok.sh"
	token_conf t "$d/fdtok.sh \\\"\$1\\\""
	run -0 mt_bare quota --config "$d/t.conf" -a t
	run -0 mt_bare quota --config "$d/t.conf" -a t --trace
	run -0 mt_bare batch --config "$d/t.conf" -e 'quota -a t; du -a t'
	printf 'alice\nbob\n' > "$d/users"
	run -0 mt_bare quota --config "$d/t.conf" -a t --users "$d/users" -j 2
	run -0 mt_bare quota --config "$d/t.conf" -a t --persist 30s
	"$MT" persist --stop >/dev/null 2>&1 || true
	cat "$d/fd.log"
	# a token fetched for each: plain, trace, batch (once), alice and bob, persist
	[ "$(wc -l < "$d/fd.log")" -eq 6 ]
	[ "$(cut -f1 "$d/fd.log" | sort -u)" = "0 1 2" ]
}
