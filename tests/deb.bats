#!/usr/bin/env bats
# The Debian package (make deb, debian/): built, checked by lintian,
# installed into this machine with dpkg -i (the suite runs as root), used
# against the suite's Dovecot, then purged. Its systemd units and the
# Nagios commands of contrib/ are run as written. One pass only: dpkg has
# one database per machine.
load helpers

setup_file() {
	mt_other_pass plain && return 0
	alice_snapshot
	[ "$(id -u)" -eq 0 ] || return 0
	# a package left by an interrupted run is not this one
	dpkg --purge mailtool >/dev/null 2>&1 || true
	make -C "$MT_REPO" -s deb DEB_OUT="$BATS_FILE_TMPDIR" >"$BATS_FILE_TMPDIR/deb.name" 2>"$BATS_FILE_TMPDIR/deb.log" || true
}

teardown_file() {
	mt_other_pass plain && return 0
	dpkg --purge mailtool >/dev/null 2>&1 || true
}

setup() {
	mt_other_pass plain && skip "the plain pass installs the package"
	[ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
	DEB="$BATS_FILE_TMPDIR/$(cat "$BATS_FILE_TMPDIR/deb.name")"
	[ -f "$DEB" ] || { cat "$BATS_FILE_TMPDIR/deb.log"; false; }
}

@test "make deb builds mailtool_VERSION_amd64.deb with generated shared-library Depends; lintian finds nothing" {
	[[ "$(basename "$DEB")" =~ ^mailtool_[0-9.]+_amd64\.deb$ ]]
	run -0 dpkg-deb -f "$DEB" Depends
	[[ "$output" == *"libssl3"* ]]
	[[ "$output" == *"libetpan"* ]]
	[[ "$output" == *"libpcre2-8-0"* ]]
	run -0 dpkg-deb -f "$DEB" Version
	[ "$output" = "$("$MT" --version | cut -d' ' -f2)" ]
	# errors and warnings, the overrides of debian/ applied
	run -0 --separate-stderr lintian --fail-on error,warning "$DEB"
	[ -z "$output" ]
	run -0 dpkg-deb -I "$DEB" conffiles
	[ "$output" = "/etc/mailtool.conf" ]
}

@test "installed: binary, applet links, man pages, completion by bash -i, /etc/mailtool.conf 0640, units" {
	run -0 dpkg -i "$DEB"
	run -0 /usr/bin/mailtool --version
	[ "$output" = "$("$MT" --version)" ]
	for a in $("$MT" --list); do
		[ -L "/usr/bin/mailtool-$a" ]
		run -0 man -w "mailtool-$a"
		[ "$output" = "/usr/share/man/man1/mailtool-$a.1.gz" ]
	done
	run -0 man -w 5 mailtool.conf
	run -0 stat -c '%a %U %G' /etc/mailtool.conf
	[ "$output" = "640 root root" ]
	# an interactive shell with bash-completion on (Debian's /etc/bash.bashrc
	# has the lines, commented out) loads it on demand from where it lies
	bc='. /usr/share/bash-completion/bash_completion; _completion_loader mailtool'
	run -0 bash -i -c "$bc; complete -p mailtool" </dev/null
	[[ "$(echo "$output" | tail -1)" == *"_mailtool"*" mailtool" ]]
	run -0 bash -i -c "$bc; COMP_WORDS=(mailtool qu); COMP_CWORD=1; _mailtool; echo \"\${COMPREPLY[*]}\"" </dev/null
	[ "$(echo "$output" | tail -1)" = "quota" ]
	run -0 bash -i -c ". /usr/share/bash-completion/bash_completion; _completion_loader mailtool-du; complete -p mailtool-du" </dev/null
	run -0 systemd-analyze verify /lib/systemd/system/mailtool-compact@.service /lib/systemd/system/mailtool-compact@.timer \
		/lib/systemd/system/mailtool-filter@.service
	# the Nagios plugin where Debian's monitoring looks ($USER1$), the commands as an example
	[ -x /usr/lib/nagios/plugins/check_mailtool_login ]
	[ -f /usr/share/doc/mailtool/examples/nagios/mailtool.cfg ]
}

@test "the installed binary works against the suite's Dovecot as the build tree's does" {
	run -0 "$MT" quota --tsv
	want=$output
	run -0 /usr/bin/mailtool quota --tsv
	[ "$output" = "$want" ]
	run -0 /usr/bin/mailtool-du --tsv INBOX
}

@test "the filter --watch unit: restarted on failure, reloaded by SIGHUP, hardened as compact's" {
	unit=/lib/systemd/system/mailtool-filter@.service
	for h in Restart=on-failure 'ExecReload=/bin/kill -HUP $MAINPID' ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
		StateDirectory=mailtool LogsDirectory=mailtool 'SystemCallFilter=@system-service' CapabilityBoundingSet=; do
		grep -qx "$h" "$unit"
	done
	exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
	[[ "$exec_line" == "/usr/bin/mailtool filter -a %i --watch "* ]]
}

@test "the compact unit's command line, as systemd runs it, compacts the account" {
	unit=/lib/systemd/system/mailtool-compact@.service
	grep -q '^Persistent=true' /lib/systemd/system/mailtool-compact@.timer
	grep -q '^RandomizedDelaySec=' /lib/systemd/system/mailtool-compact@.timer
	for h in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes StateDirectory=mailtool; do
		grep -qx "$h" "$unit"
	done
	exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
	[[ "$exec_line" == "/usr/bin/mailtool compact -a %i "* ]]
	# %i is the instance; $COMPACT_ARGS comes from /etc/mailtool/compact-%i.env
	cmd=${exec_line//%i/alice}
	[ "$(dadm search -u alice all deleted | wc -l)" -gt 0 ]
	run -0 env COMPACT_ARGS="--config $MAILTOOL_CONFIG" sh -c "exec $cmd"
	# -q: a timer's run says nothing unless something fails
	[ -z "$output" ]
	[ "$(dadm search -u alice all deleted | wc -l)" -eq 0 ]
	alice_restore
}

# the command_line of a command of contrib/nagios/mailtool.cfg, $ARGn$ and $USER1$ filled in
nagios_command() {
	local name=$1 line
	shift
	line=$(awk -v n="$name" '$1 == "command_name" && $2 == n {f = 1} f && $1 == "command_line" {sub(/^[ \t]*command_line[ \t]+/, ""); print; exit}' \
		"$MT_REPO/contrib/nagios/mailtool.cfg")
	[ -n "$line" ] || return 1
	line=${line//\$USER1\$/$MT_REPO/contrib/nagios}
	local i=1
	for a in "$@"; do
		line=${line//\$ARG$i\$/$a}
		i=$((i + 1))
	done
	echo "$line"
}

@test "contrib/nagios: the exact command lines of mailtool.cfg give OK, WARNING, CRITICAL as monitoring expects" {
	run -0 dpkg -s mailtool
	cmd=$(nagios_command check_mailtool_quota admin alice 80 90)
	run -0 sh -c "$cmd"
	[[ "$output" == "QUOTA OK - "*"|"* ]]
	cmd=$(nagios_command check_mailtool_quota admin alice 0 90)
	run -1 sh -c "$cmd"
	[[ "$output" == "QUOTA WARNING - "* ]]
	cmd=$(nagios_command check_mailtool_login alice)
	run -0 sh -c "$cmd"
	[[ "$output" == "MAILTOOL LOGIN OK - logged in in "*" ms | time="*"ms;;;0" ]]
	# a refused login is CRITICAL with the reason; an unknown account UNKNOWN
	run -2 env MAILTOOL_PASSWORD=wrong sh -c "$(nagios_command check_mailtool_login alice_plain)"
	[[ "$output" == "MAILTOOL LOGIN CRITICAL - "*"refused"*"(exit 77)" ]]
	run -3 sh -c "$(nagios_command check_mailtool_login nosuch)"
	[[ "$output" == "MAILTOOL LOGIN UNKNOWN - "*"nosuch"*"(exit 78)" ]]
	# a server's text cannot add perfdata; no mailtool at all is UNKNOWN
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
open(sys.argv[2], "w").close()
c, _ = s.accept(); c.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi\r\n")
f = c.makefile("rb")
for line in f:
    tag = line.split()[0].decode()
    c.sendall(("%s NO OK all good | time=1ms;;;0 users=999\r\n" % tag).encode()); break
' "$port" "$BATS_TEST_TMPDIR/ready" &
	for _ in $(seq 100); do [ -e "$BATS_TEST_TMPDIR/ready" ] && break; sleep 0.1; done
	run -2 env MAILTOOL_PASSWORD=x "$MT_REPO/contrib/nagios/check_mailtool_login" --config /dev/null -H 127.0.0.1 -p "$port" --no-tls -u x
	wait
	[[ "$output" == "MAILTOOL LOGIN CRITICAL - "*"OK all good"*"(exit 77)" ]]
	[ "$(grep -o '|' <<<"$output" | wc -l)" -eq 0 ]
	run -3 env MAILTOOL=/nonexistent/mailtool "$MT_REPO/contrib/nagios/check_mailtool_login" -a alice
}

@test "dpkg --purge leaves nothing behind" {
	run -0 dpkg -i "$DEB"
	files=$(dpkg -L mailtool | grep -v '^/\.$')
	run -0 dpkg --purge mailtool
	left=""
	for f in $files; do
		# directories that other packages share stay
		[ -d "$f" ] && continue
		[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
	done
	[ -z "$left" ] || { echo "left:$left"; false; }
	[ ! -e /etc/mailtool.conf ]
	[ ! -e /usr/share/doc/mailtool ]
	run dpkg -s mailtool
	[ "$status" -ne 0 ]
}
