#!/bin/sh
# demo.sh start|stop — `make demo`: a private Dovecot on 127.0.0.1 with a
# generated sample mailbox of a few thousand messages, a demo configuration,
# and a short tour of the applets. `make demo-stop` ends the sandbox.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${MAILTOOL_DEMO_DIR:-/tmp/mailtool-demo}

stop() {
	if [ -f "$dir/dovecot/env.sh" ]; then
		"$repo/tests/lib/dovecot.sh" stop "$dir/dovecot" >/dev/null 2>&1 || true
	fi
	case "$dir" in /tmp/mailtool-demo*) rm -rf "$dir" ;; esac
}

case "${1:-start}" in
stop)
	stop
	echo "demo sandbox stopped"
	exit 0
	;;
start) ;;
*) echo "usage: demo.sh start|stop" >&2; exit 64 ;;
esac

stop
mkdir -p "$dir"
chmod 755 "$dir"
echo "starting a private Dovecot on 127.0.0.1 with a sample mailbox in $dir ..."
"$repo/tests/lib/dovecot.sh" start "$dir/dovecot" --demo >"$dir/start.log" 2>&1 || {
	cat "$dir/start.log" >&2
	exit 1
}
"$repo/tests/lib/write-config.sh" "$dir"
. "$dir/dovecot/env.sh"
export MAILTOOL_CONFIG="$dir/mailtool.conf"
PATH="$repo:$PATH"
export PATH

run() {
	printf '\n$ %s\n' "$*"
	"$@" || printf '(exit status %d)\n' "$?"
}

echo
echo "export MAILTOOL_CONFIG=$MAILTOOL_CONFIG   # accounts: alice (default), alice_starttls, admin, tunnel"
run mailtool info
run mailtool ls --status -h
run mailtool du -h --sort size
run mailtool du -h --depth 1 --top 5
run mailtool du --json 'Lists/*'
run mailtool quota -h
run mailtool quota --warn 80 --crit 90
run mailtool ls -a admin --as bob
run mailtool du -a tunnel -v --no-total --top 3
run mailtool expunge --deleted --dry-run -h 'Lists/*' INBOX
run mailtool compact --dry-run -h
run mailtool archive --older 2y --dry-run INBOX
run mailtool subs check
run mailtool -e 'quota --tsv; du --tsv --top 2 --sort size'
cat <<MSG

The sandbox keeps running. Try more one-liners with
    export MAILTOOL_CONFIG=$MAILTOOL_CONFIG PATH=$repo:\$PATH
    mailtool du -h --sort count
Stop it with: make demo-stop
MSG
