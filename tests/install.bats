#!/usr/bin/env bats
# make install into a DESTDIR: binary, applet symlinks, man pages, completion, example config.
load helpers

@test "make install puts everything where PREFIX and DESTDIR say" {
	d="$BATS_TEST_TMPDIR/root"
	run make -C "$MT_REPO" -s install DESTDIR="$d" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	[ -x "$d/usr/local/bin/mailtool" ]
	run "$MT" --list
	for a in $output; do
		[ -L "$d/usr/local/bin/mailtool-$a" ]
		[ -f "$d/usr/local/share/man/man1/mailtool-$a.1" ]
	done
	[ -f "$d/usr/local/share/man/man1/mailtool.1" ]
	[ -f "$d/usr/local/share/man/man5/mailtool.conf.5" ]
	[ -f "$d/usr/local/share/bash-completion/completions/mailtool" ]
	[ -f "$d/usr/local/share/doc/mailtool/mailtool.conf.example" ]
	# the units start the binary where PREFIX put it
	run -0 grep '^ExecStart=' "$d/usr/local/lib/systemd/system/mailtool-compact@.service"
	[[ "$output" == "ExecStart=/usr/local/bin/mailtool compact "* ]]
	[ -f "$d/usr/local/lib/systemd/system/mailtool-compact@.timer" ]
	run -0 grep '^ExecStart=' "$d/usr/local/lib/systemd/system/mailtool-filter@.service"
	[[ "$output" == "ExecStart=/usr/local/bin/mailtool filter -a %i --watch "* ]]
	run "$d/usr/local/bin/mailtool-du" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: mailtool du "* ]]
}

@test "the shipped example mailtool.conf parses with every setting known" {
	# -H overrides the example's hosts; the connection itself is not the point here
	run --separate-stderr "$MT" info --config "$MT_REPO/mailtool.conf" -a local -p 1
	[ "$status" -eq 75 ]
	run --separate-stderr "$MT" info --config "$MT_REPO/mailtool.conf" -a work -H 127.0.0.1 -p 1
	[ "$status" -eq 75 ]
	[[ "$stderr" != *"mailtool.conf:"* ]]
}
