#!/usr/bin/env bats
# What a new admin reads when something is wrong (issue "what a new admin
# trips over", its diagnostics part): the wrong transport for a port, a
# certificate to pin, a tunnel that does not exist, a password option, and
# suggestions only when they are close. Against the suite's real Dovecot.
load helpers

@test "implicit TLS to the plain port: one line saying it speaks plain IMAP and to use --starttls" {
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAP_PORT" --tls -u alice --ca-file "$MT_CA"
	[ "$status" -eq 69 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"port $MT_IMAP_PORT speaks plain IMAP"*"--starttls"* ]]
}

@test "--starttls to the implicit-TLS port says to use --tls, long before the timeout" {
	SECONDS=0
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --starttls -u alice --ca-file "$MT_CA" --timeout 30s
	echo "$status $stderr, $SECONDS s"
	[ "$status" -eq 69 ]
	[ "$SECONDS" -lt 6 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"port $MT_IMAPS_PORT"*"implicit TLS: use --tls instead of --starttls"* ]]
	# and the right mode works on both ports
	run mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --ca-file "$MT_CA"
	[ "$status" -eq 0 ]
	run mt_fresh quota -H localhost -p "$MT_IMAP_PORT" --starttls -u alice --ca-file "$MT_CA"
	[ "$status" -eq 0 ]
}

@test "an untrusted certificate: the error names it and gives the exact line that pins it, which then works" {
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice
	[ "$status" -eq 69 ]
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"not trusted"* ]]
	[[ "$stderr" == *"fingerprint = \"$MT_SERVER_FP\""* ]]
	[[ "$stderr" == *"--fingerprint $MT_SERVER_FP"* ]]
	[[ "$stderr" == *"subject /O=mailtool tests/CN=localhost"*"issuer "*"valid until "* ]]
	run mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --fingerprint "$MT_SERVER_FP"
	[ "$status" -eq 0 ]
	# the colon form openssl prints works too; another certificate's does not
	colons=$(openssl x509 -in "$MT_SERVER_CERT" -noout -fingerprint -sha256 | cut -d= -f2)
	run mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --fingerprint "sha256:$colons"
	[ "$status" -eq 0 ]
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice \
		--fingerprint "sha256:$(printf 'ab%.0s' $(seq 32))"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"does not match the pinned fingerprint"* ]]
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --fingerprint "sha256:abc"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"64 hex digits"* ]]
}

@test "--ca-file: the right CA verifies, another CA is refused, a missing file is a usage error" {
	run mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --ca-file "$MT_CA"
	[ "$status" -eq 0 ]
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --ca-file "$MT_OTHER_CA"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"not trusted"* ]]
	run --separate-stderr mt_fresh quota -H localhost -p "$MT_IMAPS_PORT" --tls -u alice --ca-file "$BATS_TEST_TMPDIR/none.pem"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--ca-file"*"No such file or directory"* ]]
}

@test "a tunnel command that does not exist says so (78), one that cannot run too, one that fails stays temporary (75)" {
	run --separate-stderr "$MT" quota --config /dev/null --tunnel "$BATS_TEST_TMPDIR/no-such-imapd"
	[ "$status" -eq 78 ]
	[ "$(echo "$stderr" | grep -c '^mailtool')" -eq 1 ]
	[[ "$stderr" == *"tunnel command not found (No such file or directory"*"no-such-imapd"* ]]
	[[ "$stderr" != *"closed by the server"* ]]
	printf 'not a program\n' > "$BATS_TEST_TMPDIR/notexec"
	chmod 644 "$BATS_TEST_TMPDIR/notexec"
	run --separate-stderr "$MT" quota --config /dev/null --tunnel "$BATS_TEST_TMPDIR/notexec"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"cannot be run"* ]]
	run --separate-stderr "$MT" quota --config /dev/null --tunnel "exit 3"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"tunnel command exited with status 3 before the server's greeting"* ]]
	# a tunnel that works is unchanged
	run "$MT" quota --config /dev/null --tunnel "$MT_TUNNEL_ALICE"
	[ "$status" -eq 0 ]
}

@test "--password says where passwords come from; nothing is tried" {
	run --separate-stderr "$MT" quota --config /dev/null -H localhost -u alice --password secret
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown option '--password'"*"MAILTOOL_PASSWORD"*"password_command"*"password_file"* ]]
	run --separate-stderr "$MT" du --config /dev/null --passwd=x
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"MAILTOOL_PASSWORD"* ]]
}

@test "suggestions only when close: --top is not --tls, version is --version, not persist" {
	run --separate-stderr "$MT" quota --top
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown option '--top'"* ]]
	[[ "$stderr" != *"did you mean"* ]]
	run -127 --separate-stderr "$MT" version
	[[ "$stderr" == *"did you mean '--version'"* ]]
	[[ "$stderr" != *persist* ]]
	run -127 --separate-stderr "$MT" quta
	[[ "$stderr" == *"did you mean 'quota'"* ]]
	run --separate-stderr "$MT" du --jsn
	[[ "$stderr" == *"did you mean '--json'"* ]]
	run --separate-stderr "$MT" ls --dryrun
	[[ "$stderr" != *"did you mean"* ]]
	run --separate-stderr "$MT" expunge --dryrun
	[[ "$stderr" == *"did you mean '--dry-run'"* ]]
	run -127 --separate-stderr "$MT" lx
	[[ "$stderr" != *"did you mean"* ]]
}

# the configuration's fingerprint is read as --fingerprint is: openssl's
# colon form works, and a pin that is not 64 hex digits is refused at load
# (78, file and line) instead of failing every connection later
@test "fingerprint = in the configuration takes what --fingerprint takes, and refuses what it refuses" {
	colons=$(openssl x509 -in "$MT_SERVER_CERT" -noout -fingerprint -sha256 | cut -d= -f2)
	printf 'accounts = { p = { host = "localhost"; port = %s; user = "alice"; fingerprint = "sha256:%s"; }; };\n' \
		"$MT_IMAPS_PORT" "$colons" > "$BATS_TEST_TMPDIR/pin.conf"
	run env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config "$BATS_TEST_TMPDIR/pin.conf" -a p
	[ "$status" -eq 0 ]
	printf 'accounts = { p = { host = "localhost"; port = %s; user = "alice"; fingerprint = "sha256:abc"; }; };\n' \
		"$MT_IMAPS_PORT" > "$BATS_TEST_TMPDIR/bad.conf"
	run --separate-stderr env MAILTOOL_PASSWORD=alice-secret-pw "$MT" quota --config "$BATS_TEST_TMPDIR/bad.conf" -a p
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"bad.conf"*"64 hex digits"* ]]
}
