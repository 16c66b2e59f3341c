#!/usr/bin/env bats
# The multi-call binary: applet table, help, version, symlinks, unknown names.
load helpers

@test "--help lists every applet with a description" {
	run "$MT" --help
	[ "$status" -eq 0 ]
	for a in info ls quota du; do
		[[ "$output" == *"  $a "* ]]
	done
}

@test "--version prints the version" {
	run "$MT" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^mailtool\ [0-9]+\.[0-9]+ ]]
}

@test "no arguments is a usage error (64)" {
	run "$MT"
	[ "$status" -eq 64 ]
}

@test "unknown applet exits 127 and suggests the nearest name" {
	run -127 --separate-stderr "$MT" qouta
	[ "$status" -eq 127 ]
	[[ "$stderr" == *"unknown applet 'qouta'"*"did you mean 'quota'"* ]]
}

@test "help APPLET and APPLET --help print the same usage" {
	run "$MT" help du
	[ "$status" -eq 0 ]
	a=$output
	run "$MT" du --help
	[ "$status" -eq 0 ]
	[ "$output" = "$a" ]
	[[ "$output" == "usage: mailtool du "* ]]
}

@test "unknown option is a usage error with a suggestion" {
	run --separate-stderr "$MT" du --sotr size
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown option '--sotr'"*"--sort"* ]]
}

@test "--install -s creates one mailtool-APPLET link per applet, and links dispatch" {
	d="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$d"
	run "$MT" --install -s "$d"
	[ "$status" -eq 0 ]
	run "$MT" --list
	for a in $output; do
		[ -L "$d/mailtool-$a" ]
	done
	run "$d/mailtool-du" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: mailtool du "* ]]
	run "$d/mailtool-quota" --help
	[[ "$output" == "usage: mailtool quota "* ]]
}

@test "a symlink with an unknown applet name exits 127" {
	ln -s "$MT" "$BATS_TEST_TMPDIR/mailtool-nosuch"
	run -127 "$BATS_TEST_TMPDIR/mailtool-nosuch"
	[ "$status" -eq 127 ]
}

@test "every applet's --help shows every option of its option table" {
	run "$MT" --list
	for a in $output; do
		opts=$("$MT" "$a" --complete-options | cut -f1)
		help=$("$MT" "$a" --help)
		for o in $opts; do
			[[ "$help" == *"$o"* ]] || { echo "$a: $o missing from --help"; false; }
		done
	done
}

@test "common options before the applet work as after it: -a NAME quota, --config FILE du, -e" {
	run -0 "$MT" quota --tsv
	want=$output
	run -0 "$MT" -a alice quota --tsv
	[ "$output" = "$want" ]
	run -0 "$MT" --config "$MAILTOOL_CONFIG" -v --json du INBOX
	[[ "$output" == *'"INBOX"'* ]]
	run -0 "$MT" -qa alice du INBOX
	[ -z "$output" ]
	run -0 "$MT" --account=alice -e 'quota --tsv'
	[[ "$output" == *"$(echo "$want" | tail -1)"* ]]
	# the applet's own options are not global; typos are said, nothing runs
	run --separate-stderr "$MT" --recursive du INBOX
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"unknown option '--recursive' before the applet"* ]]
	run --separate-stderr "$MT" -a
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"option '-a' needs a value"* ]]
	run -64 --separate-stderr "$MT" -q -a admin
	[[ "$stderr" == *"no applet after the options"* ]]
	# the dispatcher's own words still work after them
	run -0 "$MT" -a admin --help
	[[ "$output" == "usage: mailtool [common options] APPLET"* ]]
	run -0 "$MT" -v --version
	run -0 "$MT" -q help quota
	[[ "$output" == "usage: mailtool quota "* ]]
	run -127 --separate-stderr "$MT" -a x qouta
	[[ "$stderr" == *"did you mean 'quota'"* ]]
}
