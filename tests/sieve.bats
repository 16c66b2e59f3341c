#!/usr/bin/env bats
# mailtool sieve against the suite's Dovecot with Pigeonhole's ManageSieve
# (STARTTLS on MT_SIEVE_PORT), and against a scripted fake ManageSieve
# server for what a real one never sends.
load helpers

# no scripts for USER: Dovecot keeps them in the user's mail directory
sieve_reset() {
	rm -rf "$MT_TEST_DIR/mail/$1/sieve" "$MT_TEST_DIR/mail/$1/.dovecot.sieve"
}

setup() {
	sieve_reset alice
	sieve_reset bob
	S="$BATS_TEST_TMPDIR/s"
	mkdir -p "$S"
	printf 'require "fileinto";\nif header :contains "subject" "[list]" {\n  fileinto "Lists";\n}\n' > "$S/mine.sieve"
	printf 'if header :contains "subject" "spam" {\n  discard;\n}\n' > "$S/theirs.sieve"
	printf 'if header :contains "subject" "x" {\n  bogus_command;\n}\n' > "$S/bad.sieve"
}

teardown() {
	[ -n "${FAKE_PID:-}" ] && kill "$FAKE_PID" 2>/dev/null || true
}

@test "sieve ls on an account without scripts: the header, nothing else" {
	run --separate-stderr mt sieve ls
	[ "$status" -eq 0 ]
	[ "$output" = "name  active" ]
	[ -z "$stderr" ]
}

@test "sieve put --script installs, ls lists it, get gives it back byte for byte" {
	run --separate-stderr mt sieve put --script "$S/mine.sieve"
	[ "$status" -eq 0 ]
	[[ "$output" == "put mailtool ("*" bytes)" ]]
	run --separate-stderr mt sieve ls --tsv
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "mailtool	false" ]
	mt sieve get mailtool > "$S/got.sieve"
	cmp "$S/mine.sieve" "$S/got.sieve"
	# Dovecot has it where the suite's configuration keeps scripts
	cmp "$S/mine.sieve" "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
}

@test "sieve put twice: the second run reads the script back and sends no PUTSCRIPT" {
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --activate --trace
	[ "$status" -eq 0 ]
	[ "$(grep -c '^C: PUTSCRIPT' <<<"$stderr")" -eq 1 ]
	[ "$(grep -c '^C: CHECKSCRIPT' <<<"$stderr")" -eq 1 ]
	[ "$(grep -c '^C: SETACTIVE' <<<"$stderr")" -eq 1 ]
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --activate --trace
	[ "$status" -eq 0 ]
	[ "$(grep -c '^C: PUTSCRIPT' <<<"$stderr")" -eq 0 ]
	[ "$(grep -c '^C: SETACTIVE' <<<"$stderr")" -eq 0 ]
	[ "$(grep -c '^C: GETSCRIPT' <<<"$stderr")" -eq 1 ]
	[ "${lines[0]}" = "unchanged mailtool" ]
	[ "${lines[1]}" = "already active mailtool" ]
}

@test "sieve --trace shows the conversation without the password or the PLAIN message" {
	blob=$(printf '\0alice\0alice-secret-pw' | base64)
	run --separate-stderr mt sieve ls --trace
	[ "$status" -eq 0 ]
	[ "$(grep -cx 'C: AUTHENTICATE "PLAIN" <credentials redacted>' <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *'S: OK "Logged in."'* ]]
	[ "$(grep -c -e alice-secret-pw -e "$blob" <<<"$stderr")" -eq 0 ]
}

@test "sieve check: a wrong script exits 65 with the server's words, a good one 0; nothing is installed" {
	run --separate-stderr mt sieve check --script "$S/bad.sieve"
	[ "$status" -eq 65 ]
	[[ "$stderr" == "mailtool sieve: the server finds the script wrong: "*"bogus_command"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	run --separate-stderr mt sieve check --script - < "$S/mine.sieve"
	[ "$status" -eq 0 ]
	[ "$output" = "the server accepts the script" ]
	run --separate-stderr mt sieve ls --tsv
	[ "${#lines[@]}" -eq 1 ]
}

@test "sieve put of a wrong script is refused before PUTSCRIPT (65)" {
	run --separate-stderr mt sieve put --script "$S/bad.sieve" --trace
	[ "$status" -eq 65 ]
	[ "$(grep -c '^C: PUTSCRIPT' <<<"$stderr")" -eq 0 ]
	[ "$(grep -c '^C: CHECKSCRIPT' <<<"$stderr")" -eq 1 ]
}

@test "sieve activate and rm: the active script is kept unless --force" {
	mt sieve put --script "$S/mine.sieve" --name one
	mt sieve put --script "$S/theirs.sieve" --name two
	run --separate-stderr mt sieve activate one
	[ "$status" -eq 0 ]
	[ "$output" = "activated one" ]
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/one.sieve" ]
	run --separate-stderr mt sieve rm one
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"'one' is the active script"*"--force"* ]]
	[ -f "$MT_TEST_DIR/mail/alice/sieve/one.sieve" ]
	run --separate-stderr mt sieve rm two
	[ "$status" -eq 0 ]
	[ "$output" = "removed two" ]
	[ ! -e "$MT_TEST_DIR/mail/alice/sieve/two.sieve" ]
	run --separate-stderr mt sieve rm one --force
	[ "$status" -eq 0 ]
	[ ! -e "$MT_TEST_DIR/mail/alice/sieve/one.sieve" ]
	run --separate-stderr mt sieve rm nothere
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"no script 'nothere'"* ]]
}

@test "sieve --dry-run on put, activate and rm changes nothing" {
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --activate --dry-run --trace
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "would put mailtool ("*" bytes)" ]]
	[ "${lines[1]}" = "would activate mailtool" ]
	[ "$(grep -cE '^C: (PUTSCRIPT|SETACTIVE|DELETESCRIPT)' <<<"$stderr")" -eq 0 ]
	[ ! -e "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve" ]
	mt sieve put --script "$S/mine.sieve" --activate
	run --separate-stderr mt sieve rm mailtool --force -n
	[ "$status" -eq 0 ]
	[ "$output" = "would deactivate and remove mailtool" ]
	[ -f "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve" ]
	[ -L "$MT_TEST_DIR/mail/alice/.dovecot.sieve" ]
}

@test "sieve put --activate keeps the user's own active script through an include wrapper" {
	mt sieve put --script "$S/theirs.sieve" --name roundcube
	mt sieve activate roundcube
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --activate
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "put mailtool ("*" bytes)" ]]
	[[ "${lines[1]}" == "put mailtool-wrapper ("* ]]
	[ "${lines[2]}" = "activated mailtool-wrapper" ]
	# the user's script untouched, the wrapper active and including both
	cmp "$S/theirs.sieve" "$MT_TEST_DIR/mail/alice/sieve/roundcube.sieve"
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/mailtool-wrapper.sieve" ]
	run mt sieve get mailtool-wrapper
	[[ "$output" == *'include :personal :optional "roundcube";'*'include :personal :optional "mailtool";'* ]]
	# a rerun changes nothing at all
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --activate --trace
	[ "$status" -eq 0 ]
	[ "$(grep -cE '^C: (PUTSCRIPT|SETACTIVE)' <<<"$stderr")" -eq 0 ]
	# a second script of mailtool's joins the wrapper, the user's stays first
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --name extra --activate
	[ "$status" -eq 0 ]
	run mt sieve get mailtool-wrapper
	[[ "$output" == *'"roundcube";'*'"mailtool";'*'"extra";'* ]]
	# and Dovecot runs it: the wrapper compiles with what it includes
	run --separate-stderr mt sieve check --script - < "$MT_TEST_DIR/mail/alice/sieve/mailtool-wrapper.sieve"
	[ "$status" -eq 0 ]
}

@test "sieve put does not replace a script of that name mailtool did not write (73), even the active one, unless --replace" {
	rules_f
	mt sieve put --script "$S/mine.sieve" --name theirs --activate
	run --separate-stderr mt sieve put -f "$S/rules.conf" --name theirs --activate --trace
	[ "$status" -eq 73 ]
	[ "$(grep -c '^mailtool sieve: ' <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"the script 'theirs' on the server is not one mailtool wrote"*"--replace replaces it"* ]]
	[ "$(grep -cE '^C: (CHECKSCRIPT|PUTSCRIPT|SETACTIVE)' <<<"$stderr")" -eq 0 ]
	cmp "$S/mine.sieve" "$MT_TEST_DIR/mail/alice/sieve/theirs.sieve"
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/theirs.sieve" ]
	# a dry run says the same, a hand-written script is no more replaced by another
	run --separate-stderr mt sieve put -f "$S/rules.conf" --name theirs --dry-run
	[ "$status" -eq 73 ]
	run --separate-stderr mt sieve put --script "$S/theirs.sieve" --name theirs
	[ "$status" -eq 73 ]
	cmp "$S/mine.sieve" "$MT_TEST_DIR/mail/alice/sieve/theirs.sieve"
	# mailtool's own compiled script is replaced as the rules change
	mt sieve put -f "$S/rules.conf" --name ours
	sed 's/"Invoices"/"Factures"/' "$S/rules.conf" > "$S/changed.conf"
	run --separate-stderr mt sieve put -f "$S/changed.conf" --name ours
	[ "$status" -eq 0 ]
	grep -q 'fileinto :create "Factures";' "$MT_TEST_DIR/mail/alice/sieve/ours.sieve"
	# --replace says to
	run --separate-stderr mt sieve put -f "$S/rules.conf" --name theirs --activate --replace
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "put theirs ("*" bytes)" ]]
	grep -q '^# compiled by mailtool filter --sieve' "$MT_TEST_DIR/mail/alice/sieve/theirs.sieve"
}

@test "sieve put -f: the rule file named by another path compiles to the same script, and nothing is put again" {
	rules_f
	run --separate-stderr mt sieve put -f "$S/rules.conf"
	[ "$status" -eq 0 ]
	grep -q "^# rule 'invoices' (rules.conf:2)$" "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	cd "$S"
	for f in rules.conf ./rules.conf "$S/../s/rules.conf"; do
		run --separate-stderr mt sieve put -f "$f" --trace
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "unchanged mailtool" ]
		[ "$(grep -c '^C: PUTSCRIPT' <<<"$stderr")" -eq 0 ]
	done
}

@test "sieve rm --force of the include wrapper makes the script it kept running active again" {
	mt sieve put --script "$S/theirs.sieve" --name roundcube --activate
	mt sieve put --script "$S/mine.sieve" --activate
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/mailtool-wrapper.sieve" ]
	run --separate-stderr mt sieve rm mailtool-wrapper
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"'mailtool-wrapper' is the active script (--force removes it and makes 'roundcube' active again)"* ]]
	run --separate-stderr mt sieve rm mailtool-wrapper --force --dry-run --trace
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "would activate roundcube" ]
	[ "${lines[1]}" = "would remove mailtool-wrapper" ]
	[ "$(grep -cE '^C: (SETACTIVE|DELETESCRIPT)' <<<"$stderr")" -eq 0 ]
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/mailtool-wrapper.sieve" ]
	run --separate-stderr mt sieve rm mailtool-wrapper --force
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "activated roundcube" ]
	[ "${lines[1]}" = "removed mailtool-wrapper" ]
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/roundcube.sieve" ]
	[ ! -e "$MT_TEST_DIR/mail/alice/sieve/mailtool-wrapper.sieve" ]
	cmp "$S/theirs.sieve" "$MT_TEST_DIR/mail/alice/sieve/roundcube.sieve"
	# the wrapper's first script gone too: nothing is left active
	mt sieve put --script "$S/mine.sieve" --activate
	mt sieve rm roundcube
	run --separate-stderr mt sieve rm mailtool-wrapper --force
	[ "$status" -eq 0 ]
	[ "$output" = "removed mailtool-wrapper" ]
	[ ! -e "$MT_TEST_DIR/mail/alice/.dovecot.sieve" ]
}

@test "sieve --as bob through the admin account, by authzid and by master login" {
	run --separate-stderr mt sieve put -a admin --as bob --script "$S/mine.sieve" --activate
	[ "$status" -eq 0 ]
	cmp "$S/mine.sieve" "$MT_TEST_DIR/mail/bob/sieve/mailtool.sieve"
	[ ! -e "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve" ]
	run --separate-stderr mt sieve ls -a admin_master --as bob --tsv
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "mailtool	true" ]
	run --separate-stderr mt sieve ls -a admin --as nosuchuser
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"authentication as 'admin' for 'nosuchuser' refused"* ]]
}

@test "sieve --users: every user of the list through the admin account" {
	printf 'alice\nbob\n' > "$S/users"
	run --separate-stderr mt sieve put -a admin --users "$S/users" -j 2 --script "$S/mine.sieve"
	[ "$status" -eq 0 ]
	cmp "$S/mine.sieve" "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	cmp "$S/mine.sieve" "$MT_TEST_DIR/mail/bob/sieve/mailtool.sieve"
}

@test "sieve diff: 0 and nothing marked when the same, 1 and the changed lines when not" {
	run --separate-stderr mt sieve diff --script "$S/mine.sieve"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "--- mailtool (not installed)" ]
	[ "${lines[2]}" = '+require "fileinto";' ]
	mt sieve put --script "$S/mine.sieve"
	run --separate-stderr mt sieve diff --script "$S/mine.sieve"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "the installed script is the same" ]
	sed 's/Lists/Lists\/dev/' "$S/mine.sieve" > "$S/changed.sieve"
	run --separate-stderr mt sieve diff --script "$S/changed.sieve"
	[ "$status" -eq 1 ]
	[ "${lines[2]}" = ' require "fileinto";' ]
	[[ "$output" == *'-  fileinto "Lists";'*'+  fileinto "Lists/dev";'* ]]
}

# rules for the -f tests: a regex, a flag, a copy, a trash, and one that
# means nothing at delivery
rules_f() {
	cat > "$S/rules.conf" <<'EOF'
rules = (
  { name = "invoices"; match = { subject = "(?i)invoice|facture"; }; flag = "$Invoice"; move = "Invoices"; create = true; },
  { name = "big"; match = { larger = "5M"; }; trash = true; },
  { name = "lists"; match = { list-id = "dev\\.example"; }; copy = "Lists"; create = true; continue = true; }
);
EOF
	cat > "$S/aged.conf" <<'EOF'
rules = (
  { name = "invoices"; match = { subject = "(?i)invoice"; }; move = "Invoices"; create = true; },
  { name = "old"; match = { older = "30d"; }; trash = true; }
);
EOF
}

@test "sieve put -f: the rules compiled, as filter --sieve prints them, into the account's \\Trash; a rerun sends nothing" {
	rules_f
	"$MT" filter --sieve -f "$S/rules.conf" --trash-folder Trash > "$S/want.sieve"
	run --separate-stderr mt sieve put -f "$S/rules.conf" --activate --trace
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "put mailtool ("*" bytes)" ]]
	[ "${lines[1]}" = "activated mailtool" ]
	# the \Trash folder was asked for over IMAP, the script checked first
	[[ "$stderr" == *'SPECIAL-USE'* ]]
	[ "$(grep -cE '^C: CHECKSCRIPT' <<<"$stderr")" -eq 1 ]
	# the server's state: exactly the compiled script, active
	cmp "$S/want.sieve" "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	grep -q 'fileinto "Trash";' "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	[ "$(readlink "$MT_TEST_DIR/mail/alice/.dovecot.sieve")" = "sieve/mailtool.sieve" ]
	# unchanged rules: no PUTSCRIPT, no SETACTIVE
	run --separate-stderr mt sieve put -f "$S/rules.conf" --activate --trace
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "unchanged mailtool" ]
	[ "$(grep -cE '^C: (PUTSCRIPT|SETACTIVE)' <<<"$stderr")" -eq 0 ]
	# --trash-folder is taken as it is, without asking IMAP
	run --separate-stderr mt sieve put -f "$S/rules.conf" --trash-folder Corbeille --trace
	[ "$status" -eq 0 ]
	grep -q 'fileinto "Corbeille";' "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	[ "$(grep -c 'SPECIAL-USE' <<<"$stderr")" -eq 0 ]
	# -p names the ManageSieve port: the IMAP server is unknown, the trash rule refused
	run --separate-stderr mt sieve diff -f "$S/rules.conf" -p "$MT_SIEVE_PORT"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'big': trash: -p names the ManageSieve port"*"--trash-folder names it"* ]]
}

@test "sieve put -f: a rule Sieve cannot say is refused before anything is sent; --skip-unsupported installs the rest" {
	rules_f
	run --separate-stderr mt sieve put -f "$S/aged.conf" --trace
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"aged.conf:3: rule 'old': older: an age means nothing at delivery"* ]]
	[ "$(grep -c '^C: ' <<<"$stderr")" -eq 0 ]
	[ ! -e "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve" ]
	run --separate-stderr mt sieve put -f "$S/aged.conf" --skip-unsupported
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"rule 'old': older: an age means nothing at delivery (every message is new) (left out)"* ]]
	grep -q "^# left out: rule 'old'" "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	grep -q 'fileinto :create "Invoices";' "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
	run --separate-stderr mt sieve put --script "$S/mine.sieve" --skip-unsupported
	[ "$status" -eq 64 ]
}

@test "sieve check -f: the server checks the compiled rules, nothing is installed" {
	rules_f
	run --separate-stderr mt sieve check -f "$S/rules.conf" --trace
	[ "$status" -eq 0 ]
	[ "$output" = "the server accepts the script" ]
	[ "$(grep -cE '^C: CHECKSCRIPT' <<<"$stderr")" -eq 1 ]
	[ "$(grep -cE '^C: (PUTSCRIPT|SETACTIVE)' <<<"$stderr")" -eq 0 ]
	[ "$(find "$MT_TEST_DIR/mail/alice/sieve" -name "*.sieve" 2>/dev/null | wc -l)" -eq 0 ]
	run --separate-stderr mt sieve check -f "$S/aged.conf"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 'old': older"* ]]
	run --separate-stderr mt sieve check -f "$S/aged.conf" --skip-unsupported
	[ "$status" -eq 0 ]
	[ "$(find "$MT_TEST_DIR/mail/alice/sieve" -name "*.sieve" 2>/dev/null | wc -l)" -eq 0 ]
}

@test "sieve diff -f: what put would change against what is installed, 0 once put" {
	rules_f
	run --separate-stderr mt sieve diff -f "$S/rules.conf"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "--- mailtool (not installed)" ]
	[ "${lines[1]}" = "+++ $S/rules.conf" ]
	[[ "$output" == *'+    fileinto :create "Invoices";'* ]]
	mt sieve put -f "$S/rules.conf"
	run --separate-stderr mt sieve diff -f "$S/rules.conf"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "the installed script is the same" ]
	# a changed rule: its lines, and nothing installed by diff
	sed 's/"Invoices"/"Factures"/' "$S/rules.conf" > "$S/changed.conf"
	cp "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve" "$S/before.sieve"
	run --separate-stderr mt sieve diff -f "$S/changed.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *'-    fileinto :create "Invoices";'*'+    fileinto :create "Factures";'* ]]
	cmp "$S/before.sieve" "$MT_TEST_DIR/mail/alice/sieve/mailtool.sieve"
}

@test "sieve over cleartext loopback when the account says tls = none" {
	run --separate-stderr mt sieve ls -a alice_plain --trace
	[ "$status" -eq 0 ]
	[ "$(grep -c '^C: STARTTLS' <<<"$stderr")" -eq 0 ]
	[[ "$stderr" == *"<credentials redacted>"* ]]
}

@test "sieve TLS: an untrusted certificate is refused before the login, a pinned one is taken" {
	run --separate-stderr mt sieve ls --ca-file "$MT_OTHER_CA" --trace
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted"* ]]
	[ "$(grep -c '^C: AUTHENTICATE' <<<"$stderr")" -eq 0 ]
	run --separate-stderr env MAILTOOL_PASSWORD=alice-secret-pw "$MT" sieve ls --config /dev/null -H 127.0.0.1 \
		-p "$MT_SIEVE_PORT" -u alice --fingerprint "$MT_SERVER_FP"
	[ "$status" -eq 0 ]
	[ "$output" = "name  active" ]
	run --separate-stderr env MAILTOOL_PASSWORD=alice-secret-pw "$MT" sieve ls --config /dev/null -H 127.0.0.1 \
		-p "$MT_SIEVE_PORT" -u alice --fingerprint "sha256:$(printf '0%.0s' {1..64})"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"does not match the pinned fingerprint"* ]]
}

@test "sieve usage errors come before any connection (64)" {
	run --separate-stderr mt sieve
	[ "$status" -eq 64 ]
	run --separate-stderr mt sieve frobnicate
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown subcommand 'frobnicate'"* ]]
	run --separate-stderr mt sieve get
	[ "$status" -eq 64 ]
	run --separate-stderr mt sieve rm x --activate
	[ "$status" -eq 64 ]
	run --separate-stderr mt sieve put --name mailtool-wrapper --script "$S/mine.sieve"
	[ "$status" -eq 64 ]
	run --separate-stderr mt sieve ls --persist 1m
	[ "$status" -eq 64 ]
}

# ---------------------------------------------------------------------------
# a scripted fake ManageSieve server (tests/lib/fakeimap.py, untagged)

CAPS='"IMPLEMENTATION" "fake"\r\n"SIEVE" "fileinto"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\n"VERSION" "1.0"'

fake_sieve() {
	FAKE_NOTAG=1 fake_server "$1"
}

# fake_sieve_in RULES: a fake server that lets the client log in, then RULES
fake_sieve_in() {
	fake_sieve "GREETING $CAPS\r\nOK \"ready\"
ON ^AUTHENTICATE => OK \"in\"
ON ^CAPABILITY => $CAPS\r\nOK \"caps\"
$1"
}

no_auth_sent() {
	[ "$(grep -ciE '^AUTHENTICATE' "$FAKE_LOG")" -eq 0 ]
}

@test "sieve hostile: data injected after STARTTLS before the handshake aborts before the login (76)" {
	fake_sieve "GREETING $CAPS\r\nOK \"ready\"
ON ^STARTTLS => OK \"begin TLS\"\r\n\"SASL\" \"PLAIN\"\r\nOK \"forged\""
	run --separate-stderr mt_fake sieve ls
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"data after STARTTLS before the TLS handshake"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	no_auth_sent
}

@test "sieve hostile: no STARTTLS offered is refused (69), nothing sent in clear" {
	fake_sieve 'GREETING "SASL" "PLAIN"\r\nOK "ready"'
	run --separate-stderr mt_fake sieve ls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"does not offer STARTTLS"* ]]
	no_auth_sent
}

@test "sieve hostile: an oversized literal is refused before it is read (76)" {
	fake_sieve_in "ON ^GETSCRIPT => {99999999999}\r\nxxxx<HUGE 100000>"
	run --separate-stderr mt_fake sieve get x --no-tls
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"GETSCRIPT: the server announced a literal of more than 16777216 bytes"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "sieve hostile: malformed responses end in one line and 76" {
	fake_sieve_in "ON ^LISTSCRIPTS => \"a\" BOGUS\r\nOK \"done\""
	run --separate-stderr mt_fake sieve ls --no-tls
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"LISTSCRIPTS: a line that is not \"NAME\" [ACTIVE]"* ]]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	fake_sieve "GREETING $CAPS\r\nOK \"ready\"
ON ^AUTHENTICATE => OK (SASL \"unclosed\""
	run --separate-stderr mt_fake sieve ls --no-tls
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"AUTHENTICATE: a malformed response code"* ]]
	fake_sieve 'GREETING "SASL" "PLAIN\r\nOK "ready"'
	run --separate-stderr mt_fake sieve ls --no-tls
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"greeting: a quoted string not closed on its line"* ]]
	fake_sieve 'GREETING * OK IMAP4rev1 here'
	run --separate-stderr mt_fake sieve ls --no-tls
	[ "$status" -eq 76 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "sieve hostile: BYE in the middle of a command is a temporary failure with the server's words (75)" {
	fake_sieve_in "ON ^LISTSCRIPTS => \"a\"\r\nBYE (TRYLATER) \"shutting down\"\r\n<CLOSE>"
	run --separate-stderr mt_fake sieve ls --no-tls
	[ "$status" -eq 75 ]
	[ "$stderr" = "mailtool sieve: LISTSCRIPTS: the server closed the session: shutting down" ]
	fake_sieve_in "ON ^GETSCRIPT => {100}\r\nkeep;<CLOSE>"
	run --separate-stderr mt_fake sieve get x --no-tls
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"GETSCRIPT: connection closed by the server"* ]]
}

@test "sieve hostile: a refused login is 77 with the server's text, a NO to a command 69" {
	fake_sieve "GREETING $CAPS\r\nOK \"ready\"
ON ^AUTHENTICATE => NO \"bad password\""
	run --separate-stderr mt_fake sieve ls --no-tls
	[ "$status" -eq 77 ]
	[ "$stderr" = "mailtool sieve: authentication as 'alice' refused: bad password" ]
	fake_sieve_in "ON ^LISTSCRIPTS => \"other\"\r\nOK \"done\"
ON ^DELETESCRIPT => NO (ACTIVE) {9}\r\nin use\r\n\r\n"
	run --separate-stderr mt_fake sieve rm other --no-tls
	[ "$status" -eq 69 ]
	[ "$stderr" = "mailtool sieve: DELETESCRIPT 'other' refused by the server (ACTIVE): in use" ]
}

@test "sieve hostile: a rule needing an extension the server lacks is refused by its capability, not sent" {
	printf 'rules = (\n { name = "re"; match = { subject = "a|b"; }; move = "X"; },\n { name = "lit"; match = { subject = "x"; }; move = "Y"; }\n);\n' > "$S/re.conf"
	# the lines of a script sent as a literal get no answer of their own
	local answers='ON ^LISTSCRIPTS => OK "none"
ON ^CHECKSCRIPT => OK "fine"
ON ^HAVESPACE => OK "room"
ON ^PUTSCRIPT => OK "stored"
ON ^LOGOUT => OK "bye"<CLOSE>
ON ^ => <RAW>'
	fake_sieve_in "$answers"
	run --separate-stderr mt_fake sieve put -f "$S/re.conf" --no-tls
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"rule 're': the server's Sieve has no 'regex' extension (SIEVE capability)"* ]]
	[ "$(grep -cE '^(CHECKSCRIPT|PUTSCRIPT)' "$FAKE_LOG")" -eq 0 ]
	fake_sieve_in "$answers"
	run --separate-stderr mt_fake sieve put -f "$S/re.conf" --no-tls --skip-unsupported
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"rule 're': the server's Sieve has no 'regex' extension (SIEVE capability) (left out)"* ]]
	[ "$(grep -cE '^PUTSCRIPT' "$FAKE_LOG")" -eq 1 ]
	grep -q 'require \["fileinto"\];' "$FAKE_LOG"
}

@test "sieve hostile: two scripts listed ACTIVE is a protocol error (76), nothing put" {
	printf 'rules = ( { name = "inv"; match = { subject = "invoice"; }; move = "Invoices"; } );\n' > "$S/inv.conf"
	fake_sieve_in "ON ^LISTSCRIPTS => \"one\" ACTIVE\r\n\"two\" ACTIVE\r\nOK \"done\"
ON ^GETSCRIPT => NO (NONEXISTENT) \"no\"
ON ^CHECKSCRIPT => OK \"fine\"
ON ^HAVESPACE => OK \"room\"
ON ^PUTSCRIPT => OK \"stored\"
ON ^SETACTIVE => OK \"active\"
ON ^LOGOUT => OK \"bye\"<CLOSE>
ON ^ => <RAW>"
	run --separate-stderr mt_fake sieve put -f "$S/inv.conf" --activate --no-tls --trash-folder Trash
	[ "$status" -eq 76 ]
	[ "$stderr" = "mailtool sieve: LISTSCRIPTS: a second script listed ACTIVE (at most one is)" ]
	[ "$(grep -cE '^(CHECKSCRIPT|PUTSCRIPT|SETACTIVE)' "$FAKE_LOG")" -eq 0 ]
}

@test "sieve hostile: without include, a foreign active script is not replaced unless --replace" {
	fake_sieve_in "ON ^LISTSCRIPTS => \"theirs\" ACTIVE\r\nOK \"done\""
	run --separate-stderr mt_fake sieve put --script "$S/mine.sieve" --activate --no-tls
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"the active script 'theirs' is not mailtool's"*"--replace"* ]]
	[ "$(grep -cE '^(PUTSCRIPT|CHECKSCRIPT|SETACTIVE)' "$FAKE_LOG")" -eq 0 ]
}

@test "sieve: the script put by mailtool decides delivery (LMTP through Pigeonhole)" {
	printf 'require "fileinto";\nif header :contains "subject" "[sievetest]" {\n  fileinto "Junk";\n}\n' > "$S/carol.sieve"
	run --separate-stderr mt sieve put -a admin --as carol --script "$S/carol.sieve" --activate
	[ "$status" -eq 0 ]
	run python3 - "$MT_LMTP_PORT" <<'PY'
import smtplib, sys
s = smtplib.LMTP("127.0.0.1", int(sys.argv[1]))
for subj in ("[sievetest] one", "plain two"):
    s.sendmail("x@example.org", ["carol"], "From: x@example.org\r\nTo: carol\r\nSubject: %s\r\n\r\nhello\r\n" % subj)
s.quit()
PY
	[ "$status" -eq 0 ]
	run dadm -f tab mailbox status -u carol messages Junk INBOX
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol
	[ "${lines[1]}" = "Junk	1" ]
	[ "${lines[2]}" = "INBOX	1" ]
}
