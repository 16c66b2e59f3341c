#!/usr/bin/env bash
# tests/lib/cyrus.sh - private Cyrus IMAP 3.6 instance for mailtool tests.
#
#   cyrus.sh install        download + unpack Debian's cyrus-common/cyrus-imapd into
#                           ${MT_SERVER_CACHE:-/var/cache/mailtool-test}/cyrus, apt-get
#                           install their libraries + sasl2-bin (root; idempotent)
#   cyrus.sh start DIR      certs, config, sasldb, start master, seed; write DIR/env.sh
#   cyrus.sh stop DIR       stop master (TERM, <=5 s, then KILL); idempotent
#   cyrus.sh status DIR     exit 0 if master is running
#
# Cyrus and Dovecot cannot be apt-installed together (the packages conflict), so
# Cyrus runs from the unpacked package tree (LD_LIBRARY_PATH) with every path in
# DIR.  Cyrus logs only to syslog; the LD_PRELOAD shim cyrus-syslog.c (built at
# install time) writes it to DIR/cyrus.log (printed when start fails).  The Cyrus
# quirks the tests meet are listed in the header of tests/cyrus.bats.
#
# DIR/env.sh: MT_CY_DIR MT_CY_HOST MT_CY_PORT (STARTTLS) MT_CY_IMAPS_PORT MT_CY_CA
# MT_CY_SIEVE_PORT (timsieved) MT_CY_LMTP_PORT (lmtpd -a: loopback delivery without AUTH)
# MT_CY_SERVER_FP MT_CY_LOG MT_CY_ADMIN MT_CY_ADMIN_PW MT_CY_CONF (mailtool.conf with
# accounts cy-alice, cy-bob, cy-admin [STARTTLS] and cy-alice-imaps) MT_CY_QUOTA_LIMIT_KB
# MT_CY_MANIFEST_ALICE MT_CY_MANIFEST_BOB MT_CY_CHECK MT_CY_VERSION.
# Users (private sasldb): alice/alice-secret-pw, bob/bob-secret-pw, admin/admin-secret-pw
# (the Cyrus admin).  Needs root: Cyrus runs as user cyrus (created by install).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
GENMAIL=$HERE/genmail.py
CHECK=$HERE/cyrus-check.py
SHIM_SRC=$HERE/cyrus-syslog.c
CACHE=${MT_SERVER_CACHE:-/var/cache/mailtool-test}/cyrus
ROOT=$CACHE/root
BIN=$ROOT/usr/lib/cyrus/bin
LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu
SHIM=$CACHE/mt-syslog.so
CY_USER=cyrus
CY_GROUP=mail
ADMIN=admin
ADMIN_PW=admin-secret-pw
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

NAME=cyrus.sh
. "$HERE/server-common.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# --------------------------------------------------------------------------
# install

lib_deps() { # DEB... -> library packages from Depends (alternatives: first one)
    local f
    for f in "$@"; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' |
        sed 's/(.*)//; s/|.*//; s/[[:space:]]//g' | grep '^lib' | sort -u
}

installed_ok() { # quick check: tree, libraries resolve, shim current, sasl tools, user
    [ -x "$BIN/master" ] && [ -x "$BIN/imapd" ] && [ -f "$CACHE/.installed" ] || return 1
    [ -f "$SHIM" ] && [ ! "$SHIM_SRC" -nt "$SHIM" ] || return 1
    command -v saslpasswd2 >/dev/null 2>&1 || return 1
    [ -e /usr/lib/x86_64-linux-gnu/sasl2/libsasldb.so ] || [ -n "$(ls /usr/lib/*/sasl2/libsasldb.so* 2>/dev/null)" ] || return 1
    id "$CY_USER" >/dev/null 2>&1 || return 1
    LD_LIBRARY_PATH=$LIBDIR ldd "$BIN/imapd" "$BIN/master" "$BIN/ctl_cyrusdb" 2>/dev/null | grep -q 'not found' && return 1
    return 0
}

do_install() {
    installed_ok && return 0
    [ "$(id -u)" -eq 0 ] || die "install needs root (apt-get, useradd); run 'sudo $0 install' once"
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    chmod 0755 "$CACHE" "$(dirname "$CACHE")"
    exec 9>"$CACHE/.lock"
    flock -w 300 9 || die "timeout waiting for another install ($CACHE/.lock)"
    installed_ok && return 0
    local t0 debs=() f
    t0=$(now_ms)
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -x "$BIN/master" ] || [ ! -f "$CACHE/.installed" ]; then
        rm -rf "$CACHE/debs" "$CACHE/root.new"
        mkdir -p "$CACHE/debs" || die "mkdir"
        if ! (cd "$CACHE/debs" && timeout 300 apt-get download cyrus-common cyrus-imapd) >"$CACHE/apt.log" 2>&1; then
            log "apt-get download failed, running apt-get update"
            timeout 300 apt-get update >>"$CACHE/apt.log" 2>&1
            (cd "$CACHE/debs" && timeout 300 apt-get download cyrus-common cyrus-imapd) >>"$CACHE/apt.log" 2>&1 ||
                { tail -n 20 "$CACHE/apt.log" >&2; die "apt-get download cyrus-common cyrus-imapd failed"; }
        fi
        for f in "$CACHE"/debs/*.deb; do
            dpkg-deb -x "$f" "$CACHE/root.new" || die "dpkg-deb -x $f failed"
        done
        rm -rf "$ROOT" && mv "$CACHE/root.new" "$ROOT" || die "cannot move tree into place"
        chmod -R a+rX "$ROOT"
    fi
    mapfile -t debs < <(ls "$CACHE"/debs/*.deb 2>/dev/null)
    local pkgs=()
    mapfile -t pkgs < <(lib_deps "${debs[@]}")
    # only libraries (and the SASL tools/modules); never the conflicting daemons
    timeout 600 apt-get install -y --no-install-recommends "${pkgs[@]}" sasl2-bin libsasl2-modules libsasl2-modules-db \
        >>"$CACHE/apt.log" 2>&1 || {
        timeout 300 apt-get update >>"$CACHE/apt.log" 2>&1
        timeout 600 apt-get install -y --no-install-recommends "${pkgs[@]}" sasl2-bin libsasl2-modules libsasl2-modules-db \
            >>"$CACHE/apt.log" 2>&1
    } || { tail -n 20 "$CACHE/apt.log" >&2; die "apt-get install of the Cyrus libraries failed"; }
    if ! id "$CY_USER" >/dev/null 2>&1; then
        getent group "$CY_GROUP" >/dev/null || groupadd -r "$CY_GROUP" || die "groupadd $CY_GROUP"
        useradd -r -g "$CY_GROUP" -d /nonexistent -M -s /usr/sbin/nologin -c "Cyrus IMAP (mailtool tests)" "$CY_USER" ||
            die "useradd $CY_USER"
    fi
    cc -shared -fPIC -O2 -Wall -o "$SHIM.new" "$SHIM_SRC" 2>"$CACHE/shim.err" && mv "$SHIM.new" "$SHIM" ||
        { cat "$CACHE/shim.err" >&2; die "cannot build the syslog shim (need cc)"; }
    chmod 0755 "$SHIM"
    dpkg-deb -f "$CACHE"/debs/cyrus-imapd_*.deb Version >"$CACHE/.installed"
    installed_ok || die "install finished but the tree does not check out (ldd: $(LD_LIBRARY_PATH=$LIBDIR ldd "$BIN/imapd" | grep 'not found' | tr -s ' \t' ' '))"
    log "installed Cyrus $(cat "$CACHE/.installed") in $CACHE ($(( $(now_ms) - t0 )) ms)"
}

# --------------------------------------------------------------------------
# helpers (as in dovecot.sh)




is_cyrus_pid() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    case $exe in "$BIN"/*) return 0 ;; esac
    return 1
}



# alice: every folder the brief asks for, a few dozen messages each, 3 large ones
ALICE_FOLDERS='INBOX=60,Sent=20,Drafts=4,Trash=15,Junk=15,Archive=30,Lists/dev=25,Lists/announce=12,Old Stuff=6,Projets/Été=8'
BOB_FOLDERS='INBOX=12,Bobs=3'

write_config() { # DIR
    local d=$1
    cat >"$d/imapd.conf" <<EOF
# generated by tests/lib/cyrus.sh
configdirectory: $d/conf
partition-default: $d/spool
servername: localhost
admins: $ADMIN
cyrus_user: $CY_USER
cyrus_group: $CY_GROUP
serverbin: $BIN
syslog_prefix: mt-cyrus-$IMAP_PORT
proc_path: $d/conf/proc
mboxname_lockpath: $d/conf/lock
idlesocket: $d/conf/socket/idle
notifysocket: $d/conf/socket/notify
# no idled runs: IDLE looks for changes every imapidlepoll seconds (default
# 60); filter --watch's test waits seconds, not a minute
imapidlepoll: 1
lmtpsocket: $d/conf/socket/lmtp
sievedir: $d/conf/sieve
statuscache: no
unixhierarchysep: yes
altnamespace: yes
virtdomains: no
allowplaintext: no
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: $d/certs/server.pem
tls_server_key: $d/certs/server.key
tls_client_ca_file: $d/certs/ca.pem
tls_versions: tls1_2 tls1_3
tls_session_timeout: 0
delete_mode: immediate
expunge_mode: immediate
specialusealways: 1
quota_db: quotalegacy
quotawarn: 90
maxlogins_per_user: 0
imapidresponse: no
hashimapspool: no
fulldirhash: no
conversations: no
search_engine: none
annotation_db_path: $d/conf/annotations.db
duplicate_db_path: $d/conf/deliver.db
ptscache_db_path: $d/conf/ptscache.db
statuscache_db_path: $d/conf/statuscache.db
zoneinfo_db_path: $d/conf/zoneinfo.db
EOF
    local c="-C $d/imapd.conf"
    cat >"$d/cyrus.conf" <<EOF
# generated by tests/lib/cyrus.sh -- master does not pass -C on: every cmd names it
START {
  recover cmd="$BIN/ctl_cyrusdb $c -r"
}
SERVICES {
  imap  cmd="$BIN/imapd $c" listen="127.0.0.1:$IMAP_PORT" prefork=0 maxchild=100
  imaps cmd="$BIN/imapd -s $c" listen="127.0.0.1:$IMAPS_PORT" prefork=0 maxchild=100
  sieve cmd="$BIN/timsieved $c" listen="127.0.0.1:$SIEVE_PORT" prefork=0 maxchild=100
  lmtp  cmd="$BIN/lmtpd -a $c" listen="127.0.0.1:$LMTP_PORT" prefork=0 maxchild=20
}
EVENTS {
}
DAEMON {
}
EOF
}

master_pid() { # DIR -> pid if running
    local p
    p=$(cat "$1/master.pid" 2>/dev/null) || return 1
    case $p in ''|*[!0-9]*) return 1 ;; esac
    pid_alive "$p" && is_cyrus_pid "$p" && printf '%s\n' "$p"
}

start_master() { # DIR
    local d=$1 i
    rm -f "$d/master.pid"
    # no inherited stdout/stderr: a daemon holding a caller's pipe would hang it (bats)
    env LD_LIBRARY_PATH="$LIBDIR" LD_PRELOAD="$SHIM" MT_CY_SYSLOG_FILE="$d/cyrus.log" \
        setsid "$BIN/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" -p "$d/master.pid" \
        </dev/null >>"$d/cyrus-start.err" 2>&1 &
    local bg=$!
    for ((i = 0; i < 100; i++)); do   # pid file: <= 10 s
        if [ -s "$d/master.pid" ] && master_pid "$d" >/dev/null; then return 0; fi
        pid_alive "$bg" || { wait "$bg"; log "master exited with status $?"; return 1; }
        sleep 0.1
    done
    return 1
}

stop_dir() { # DIR
    local d=$1 pid kids=() i p
    pid=$(master_pid "$d") || { rm -f "$d/master.pid"; return 0; }
    mapfile -t kids < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ')
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid" && is_cyrus_pid "$pid"; then
        log "master $pid did not exit after TERM, killing"
        kill -KILL "$pid" 2>/dev/null
    fi
    for ((i = 0; i < 20; i++)); do
        local alive=0
        for p in "${kids[@]}"; do pid_alive "$p" && is_cyrus_pid "$p" && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${kids[@]}"; do pid_alive "$p" && is_cyrus_pid "$p" && kill -KILL "$p" 2>/dev/null; done
    rm -f "$d/master.pid"
}

# --------------------------------------------------------------------------
# commands

cmd_start() {
    [ $# -eq 1 ] || usage
    DIR=$1
    local t0 ti
    t0=$(now_ms)
    do_install || exit 1
    ti=$(now_ms)
    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd -P) || die "cannot cd $DIR"
    [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty (start needs an empty directory)"
    [ "$(id -u)" -eq 0 ] || die "start needs root (Cyrus runs as user $CY_USER)"
    chmod 0755 "$DIR" || die "chmod $DIR"
    local p=$DIR
    while p=$(dirname "$p"); [ "$p" != / ]; do
        if [ -z "$(find "$p" -maxdepth 0 -perm -o+x 2>/dev/null)" ]; then
            log "note: adding o+x to $p so user $CY_USER can reach $DIR"
            chmod o+x "$p" || die "chmod o+x $p"
        fi
    done
    QUOTA_KB=${MT_QUOTA_LIMIT_KB:-1048576}
    BOB_QUOTA_KB=51200
    case $QUOTA_KB in ''|*[!0-9]*) die "MT_QUOTA_LIMIT_KB must be a number of KiB" ;; esac

    mkdir -p "$DIR"/conf/{proc,lock,socket,sieve,db,log,msg,ptclient,quota,user} "$DIR/spool" "$DIR/gen" || die mkdir
    : >"$DIR/cyrus.log"
    : >"$DIR/cyrus-start.err"

    local pids=() rc=0
    gen_certs "$DIR/certs" "DNS:localhost, IP:127.0.0.1" Cyrus & pids+=($!)
    "$PYTHON" "$GENMAIL" --maildir "$DIR/gen/alice" --user alice --seed 1 --folders "$ALICE_FOLDERS" --large 3 \
        --manifest "$DIR/gen/alice.manifest.tsv" --index "$DIR/gen/alice.index.tsv" & pids+=($!)
    "$PYTHON" "$GENMAIL" --maildir "$DIR/gen/bob" --user bob --seed 2 --folders "$BOB_FOLDERS" --large 0 \
        --manifest "$DIR/gen/bob.manifest.tsv" --index "$DIR/gen/bob.index.tsv" & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [ "$rc" = 0 ] || { cat "$DIR/certs/openssl.err" >&2 2>/dev/null; die "certificate or mail generation failed"; }
    # the server reads the key as $CY_USER
    chown "$CY_USER:$CY_GROUP" "$DIR/certs/server.key"

    rm -f "$DIR/sasldb2"
    local u pw
    for u in "alice:alice-secret-pw" "bob:bob-secret-pw" "$ADMIN:$ADMIN_PW"; do
        pw=${u#*:} u=${u%%:*}
        printf '%s' "$pw" | saslpasswd2 -c -p -f "$DIR/sasldb2" -u localhost "$u" 2>>"$DIR/cyrus-start.err" ||
            die "saslpasswd2 $u failed"
    done
    # the services (imapd as $CY_USER) append their syslog lines to cyrus.log themselves
    chown -R "$CY_USER:$CY_GROUP" "$DIR/conf" "$DIR/spool" "$DIR/sasldb2" "$DIR/cyrus.log"
    chmod 0640 "$DIR/sasldb2"
    chmod 0750 "$DIR/conf" "$DIR/spool"

    local attempt ok=0
    for attempt in 1 2 3; do
        read -r IMAP_PORT IMAPS_PORT SIEVE_PORT LMTP_PORT < <(free_ports 4) || die "cannot pick free ports"
        [ -n "$LMTP_PORT" ] || die "cannot pick free ports"
        write_config "$DIR"
        if start_master "$DIR" && wait_listening 10 "$DIR/certs/ca.pem" "$IMAP_PORT" "TLS:$IMAPS_PORT" "ANY:$SIEVE_PORT" "ANY:$LMTP_PORT" 2>>"$DIR/cyrus-start.err"; then
            ok=1
            break
        fi
        log "start attempt $attempt failed (ports $IMAP_PORT $IMAPS_PORT $SIEVE_PORT $LMTP_PORT)"
        stop_dir "$DIR"
        grep -qi 'address already in use' "$DIR/cyrus.log" "$DIR/cyrus-start.err" 2>/dev/null || break
    done
    if [ "$ok" != 1 ]; then
        tail_log "$DIR/cyrus-start.err" "$DIR/cyrus.log"
        die "failed to start cyrus in $DIR"
    fi
    local ts
    ts=$(now_ms)
    if ! MT_CY_IMAPS_PORT=$IMAPS_PORT MT_CY_CA=$DIR/certs/ca.pem MT_CY_ADMIN=$ADMIN MT_CY_ADMIN_PW=$ADMIN_PW \
        "$PYTHON" "$CHECK" seed "$DIR" "$QUOTA_KB" "$BOB_QUOTA_KB" 2>>"$DIR/cyrus-start.err"; then
        tail_log "$DIR/cyrus-start.err" "$DIR/cyrus.log"
        stop_dir "$DIR"
        die "cyrus started but seeding the fixture failed"
    fi
    # what the server reports must be what was generated (Cyrus 3.6 also lists the
    # intermediate parents Lists and Projets as empty selectable folders: ignored here)
    if ! diff <(LC_ALL=C sort "$DIR/gen/alice.manifest.tsv") \
        <(awk -F'\t' 'NR == 1 || $2 != 0' "$DIR/alice.manifest.tsv" | LC_ALL=C sort) >&2; then
        stop_dir "$DIR"
        die "server's view of alice differs from the generated fixture"
    fi
    umask 077
    printf 'alice-secret-pw\n' >"$DIR/alice.pw"
    printf 'bob-secret-pw\n' >"$DIR/bob.pw"
    printf '%s\n' "$ADMIN_PW" >"$DIR/admin.pw"
    umask 022
    local acc='host = "127.0.0.1"; port = '$IMAP_PORT'; tls = "starttls"; ca_file = "'$DIR/certs/ca.pem'"; timeout = 10; sieve_port = '$SIEVE_PORT';'
    cat >"$DIR/mailtool.conf" <<CONF
# generated by tests/lib/cyrus.sh
default = "cy-alice";
accounts = {
  cy-alice = { $acc user = "alice"; password_file = "$DIR/alice.pw"; };
  cy-bob = { $acc user = "bob"; password_file = "$DIR/bob.pw"; };
  cy-admin = { $acc user = "$ADMIN"; password_file = "$DIR/admin.pw"; };
  cy-alice-imaps = { host = "127.0.0.1"; port = $IMAPS_PORT; tls = "implicit"; ca_file = "$DIR/certs/ca.pem";
            timeout = 10; user = "alice"; password_file = "$DIR/alice.pw"; };
};
CONF
    chmod 0644 "$DIR/mailtool.conf"

    q() { printf '%q' "$1"; }
    cat >"$DIR/env.sh" <<EOF
# generated by tests/lib/cyrus.sh start -- source me
export MT_CY_DIR=$(q "$DIR")
export MT_CY_HOST=127.0.0.1
export MT_CY_PORT=$IMAP_PORT
export MT_CY_IMAPS_PORT=$IMAPS_PORT
export MT_CY_SIEVE_PORT=$SIEVE_PORT
export MT_CY_LMTP_PORT=$LMTP_PORT
export MT_CY_CA=$(q "$DIR/certs/ca.pem")
export MT_CY_SERVER_FP=$(cat "$DIR/certs/server.fp")
export MT_CY_LOG=$(q "$DIR/cyrus.log")
export MT_CY_ADMIN=$ADMIN
export MT_CY_ADMIN_PW=$ADMIN_PW
export MT_CY_CONF=$(q "$DIR/mailtool.conf")
export MT_CY_QUOTA_LIMIT_KB=$QUOTA_KB
export MT_CY_MANIFEST_ALICE=$(q "$DIR/alice.manifest.tsv")
export MT_CY_MANIFEST_BOB=$(q "$DIR/bob.manifest.tsv")
export MT_CY_CHECK=$(q "$CHECK")
export MT_CY_VERSION=$(q "$(cat "$CACHE/.installed")")
EOF
    chmod 0644 "$DIR/env.sh"
    log "started in $DIR: imap=$IMAP_PORT imaps=$IMAPS_PORT sieve=$SIEVE_PORT lmtp=$LMTP_PORT (install check $((ti - t0)) ms, seed $(( $(now_ms) - ts )) ms, total $(( $(now_ms) - t0 )) ms)"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    [ -d "$1" ] || { log "no such directory $1"; return 0; }
    stop_dir "$(cd "$1" && pwd -P)"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    master_pid "$(cd "$1" 2>/dev/null && pwd -P)" >/dev/null
}

case ${1:-} in
    install) shift; [ $# -eq 0 ] || usage; do_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    *) usage ;;
esac
