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
