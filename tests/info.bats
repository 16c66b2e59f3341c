#!/usr/bin/env bats
# info: what the help desk asks first.
load helpers

@test "info reports greeting, TLS details, capabilities, mechanisms, namespaces, timings" {
	run "$MT" info
	[ "$status" -eq 0 ]
	for f in greeting tls_protocol tls_cipher cert_subject cert_issuer cert_expires cert_fingerprint \
		 caps_greeting caps_before_login caps_after_login auth_mechanisms namespaces delimiter ms_connect ms_tls ms_auth ms_total; do
		echo "$output" | grep -q "^$f:" || { echo "missing $f"; false; }
	done
	[[ "$output" == *"cert_subject:"*"CN"*"localhost"* ]]
	[[ "$output" == *"auth_mechanisms:"*"PLAIN"* ]]
	[[ "$output" == *"namespaces:"*"personal:"* ]]
	[[ "$output" == *"delimiter:"*"/"* ]]
	[[ "$output" == *"cert_fingerprint:"*"$MT_SERVER_FP"* ]]
}

@test "info --json is one valid JSON object" {
	run "$MT" info --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["transport"]=="implicit TLS"; assert d["ms_total"]>=0; assert "IMAP4REV1" in d["caps_after_login"]'
}

@test "info takes no arguments" {
	run "$MT" info extra
	[ "$status" -eq 64 ]
}

@test "info after a refused login shows what it learned up to the failure, then the failure and its status" {
	run --separate-stderr env MAILTOOL_PASSWORD=wrong-password "$MT" info -H localhost -p "$MT_IMAPS_PORT" --tls \
		-u alice --ca-file "$MT_CA" --config /dev/null
	[ "$status" -eq 77 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"refused"* ]]
	for f in greeting tls_protocol tls_cipher cert_subject cert_issuer cert_expires cert_fingerprint \
		 caps_before_login auth_mechanisms auth ms_connect ms_tls ms_total error exit_status; do
		echo "$output" | grep -q "^$f:" || { echo "missing $f"; false; }
	done
	[[ "$output" == *"cert_fingerprint:"*"$MT_SERVER_FP"* ]]
	[[ "$output" == *"auth_mechanisms:"*"PLAIN"* ]]
	[[ "$output" == *"exit_status:"*"77"* ]]
	[[ "$output" == *"auth:"*"PLAIN (refused)"* ]]
	# nothing it did not get: no capabilities after a login that did not happen
	run grep -c "^caps_after_login:\|^namespaces:" <<<"$output"
	[ "$output" = 0 ]
}

@test "info with an untrusted certificate shows the certificate it refused; --json carries the error" {
	run --separate-stderr env MAILTOOL_PASSWORD=alice-secret-pw "$MT" info --json -H localhost -p "$MT_IMAPS_PORT" \
		--tls -u alice --config /dev/null
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"fingerprint = \"$MT_SERVER_FP\""* ]]
	echo "$output" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["cert_fingerprint"] == sys.argv[1], d
assert "localhost" in d["cert_subject"], d
assert d["exit_status"] == 69, d
assert "not trusted" in d["error"], d
assert "caps_after_login" not in d or d["caps_after_login"] is None, d
' "$MT_SERVER_FP"
}

@test "info to a port where nobody listens: the failure, its status, and no invented details" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	run --separate-stderr env MAILTOOL_PASSWORD=x "$MT" info -H 127.0.0.1 -p "$port" --tls -u alice --config /dev/null
	[ "$status" -eq 75 ] || [ "$status" -eq 69 ]
	[[ "$output" == *"exit_status:"*"$status"* ]]
	run grep -c "^greeting:\|^cert_subject:" <<<"$output"
	[ "$output" = 0 ]
}

@test "info: a step after login that fails still shows what was learned, the login as done" {
	fake_server '
GREETING * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake
ON ^AUTHENTICATE => {tag} OK [CAPABILITY IMAP4rev1 NAMESPACE] logged in
ON ^NAMESPACE => * BYE going away<CLOSE>
ON ^LOGOUT => {tag} OK bye<CLOSE>'
	run --separate-stderr env MAILTOOL_PASSWORD=fake-secret-pw "$MT" info --config /dev/null -H 127.0.0.1 \
		-p "$FAKE_PORT" -u alice --no-tls --timeout 5s --json
	[ "$status" -eq 75 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	echo "$output" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["type"] == "server" and d["exit_status"] == 75, d
assert d["greeting"].startswith("[CAPABILITY") or "fake" in d["greeting"], d
assert d["auth"] == "AUTHENTICATE PLAIN", d
assert "NAMESPACE" in d["caps_after_login"], d
assert d["namespaces"] is None and d["error"], d
'
	[[ "$(cat "$FAKE_LOG")" != *"fake-secret-pw"* ]]
}
