#!/usr/bin/env bash
# tests/lib/dovecot.sh - private Dovecot 2.3 instance(s) for mailtool tests.
#
#   dovecot.sh start DIR [--demo]     generate certs, users, mail; start; write DIR/env.sh
#   dovecot.sh stop DIR [--kill]      stop both instances (TERM, <=5 s, then KILL;
#                                     Dovecot's graceful shutdown takes ~2.5 s,
#                                     --kill sends SIGKILL at once: ~0.1 s)
#   dovecot.sh reset-user DIR USER    kick USER, regenerate USER's fixture, recalc quota
#   dovecot.sh status DIR             exit 0 if the main instance is running
#
# Everything (config, certs, base_dir, state_dir, log, mail, pid) lives in DIR;
# only if DIR is too long for unix socket paths is base_dir put in a short
# /tmp/mtdc.XXXXXX directory (recorded in DIR/.mt-state, removed by stop).
# Two Dovecot instances are started: the main one (STARTTLS + implicit TLS
# listeners) and a second one with ssl=no sharing the same users and mail
# (MT_NOTLS_PORT).  The main one also runs Pigeonhole: ManageSieve with
# STARTTLS (MT_SIEVE_PORT; scripts in each user's mail directory, ~/sieve,
# the active one ~/.dovecot.sieve) and LMTP delivery through Sieve
# (MT_LMTP_PORT).  Both authenticate OAUTHBEARER and XOAUTH2 through an
# oauth2 passdb asking tests/lib/introspect.py (a token endpoint on its own
# loopback port) about the tokens listed in MT_OAUTH2_TOKENS.
# See tests/lib/README.md for the exported variables.
#
# Environment knobs: MT_FIXTURE_MESSAGES (alice's INBOX count),
# MT_QUOTA_LIMIT_KB (alice's storage limit, default 1048576 = 1 GiB).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
GENMAIL=$HERE/genmail.py
DOVECOT=${DOVECOT:-/usr/sbin/dovecot}
DOVEADM_BIN=${DOVEADM_BIN:-/usr/bin/doveadm}
IMAP_BIN=${IMAP_BIN:-/usr/lib/dovecot/imap}
# prefer the system interpreter: wrapper shims (pyenv etc.) add ~0.25 s per call
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

NAME=dovecot.sh
. "$HERE/server-common.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }


# --------------------------------------------------------------------------
# helpers



# is PID (still) a dovecot process? guards against killing a recycled pid
is_dovecot_pid() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    case $exe in /usr/sbin/dovecot*|/usr/lib/dovecot/*|"$DOVECOT"*) return 0 ;; esac
    return 1
}


load_state() { # DIR
    [ -f "$1/.mt-state" ] || die "$1 has no .mt-state (not started with dovecot.sh start?)"
    # shellcheck disable=SC1091
    . "$1/.mt-state"
}

# --------------------------------------------------------------------------
# certificates (EC P-256: fast to generate)


# --------------------------------------------------------------------------
# fixture

genmail_args() { # USER -> prints genmail args, one per line
    case $1 in
        alice)
            printf '%s\n' --user alice --seed 1 --preset "$FIXTURE_PRESET"
            local n=${MT_FIXTURE_MESSAGES:-${FIXTURE_INBOX:-}}
            [ -n "$n" ] && printf '%s\n' --inbox-count "$n"
            ;;
        bob) printf '%s\n' --user bob --seed 2 --preset small ;;
        carol) printf '%s\n' --user carol --seed 3 --preset empty ;;
        *) return 1 ;;
    esac
    return 0
}

gen_user() { # DIR USER
    local d=$1 u=$2 args=()
    genmail_args "$u" >/dev/null || { log "unknown fixture user $u"; return 1; }
    mapfile -t args < <(genmail_args "$u")
    mkdir -p "$d/mail/$u" || return 1
    "$PYTHON" "$GENMAIL" --maildir "$d/mail/$u/Maildir" "${args[@]}" \
        --manifest "$d/$u.manifest.tsv" --index "$d/$u.index.tsv"
}

fix_owner() { # DIR USER
    if [ "$ROOTMODE" = 1 ]; then
        chown -R "$MAIL_UID:$MAIL_GID" "$1/mail/$2" || return 1
    fi
    chmod 0700 "$1/mail/$2"
}

# subscribe all generated folders, sync indexes, compare with the manifest
verify_user() { # DIR USER
    local d=$1 u=$2 out folders=()
    local -a da=("$DOVEADM_BIN" -c "$d/dovecot.conf")
    mapfile -t folders < <(awk -F'\t' 'NR>1 {print $1}' "$d/$u.manifest.tsv")
    if [ "${#folders[@]}" -gt 0 ]; then
        "${da[@]}" mailbox subscribe -u "$u" "${folders[@]}" || { log "subscribe failed for $u"; return 1; }
    fi
    out=$("${da[@]}" -f tab mailbox status -u "$u" "messages vsize" '*') \
        || { log "doveadm mailbox status failed for $u"; return 1; }
    printf '%s\n' "$out" >"$d/$u.status.tsv"
    # manifest: folder messages bytes ... ; status: mailbox messages vsize (header line first)
    awk -F'\t' -v u="$u" '
        FNR == 1 { next }
        NR == FNR { m[$1] = $2; b[$1] = $3; next }
        { s[$1] = $2; v[$1] = $3; tot += $2 }
        END {
            bad = 0
            for (f in m) if (s[f] != m[f] || v[f] != b[f]) {
                printf "dovecot.sh: %s/%s: generated %s msgs/%s bytes, dovecot reports %s/%s\n",
                    u, f, m[f], b[f], s[f], v[f] > "/dev/stderr"; bad = 1 }
            for (f in s) if (!(f in m) && s[f] != 0) {
                printf "dovecot.sh: %s/%s: unexpected %s msgs\n", u, f, s[f] > "/dev/stderr"; bad = 1 }
            exit bad
        }' "$d/$u.manifest.tsv" "$d/$u.status.tsv" || return 1
    "${da[@]}" quota recalc -u "$u" || { log "quota recalc failed for $u"; return 1; }
}

# --------------------------------------------------------------------------
# configuration

write_config() { # DIR
    local d=$1
    cat >"$d/dovecot-common.conf" <<EOF
# generated by tests/lib/dovecot.sh -- shared by dovecot.conf and dovecot-notls.conf
protocols = imap
listen = 127.0.0.1
log_path = $d/dovecot.log
info_log_path =
debug_log_path =
log_timestamp = "%Y-%m-%d %H:%M:%S "
default_login_user = $LOGIN_USER
default_internal_user = $INTERNAL_USER
default_internal_group = $INTERNAL_GROUP
first_valid_uid = 1
first_valid_gid = 1
shutdown_clients = yes

mail_location = maildir:~/Maildir
mail_fsync = never
# NOTIFY (RFC 5465) is offered only with the mailbox list index (filter --watch)
mailbox_list_index = yes
mail_plugins = \$mail_plugins quota zlib

disable_plaintext_auth = no
# OAUTHBEARER/XOAUTH2 go to the oauth2 passdb only, passwords to the
# passwd-file ones only: a wrong password never reaches the token endpoint
auth_mechanisms = plain login oauthbearer xoauth2
auth_master_user_separator = *
auth_verbose = no
auth_verbose_passwords = no
auth_debug = no
auth_debug_passwords = no
auth_failure_delay = 0
auth_cache_size = 0

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/master-users
  master = yes
  pass = yes
  mechanisms = plain login
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/users
  mechanisms = plain login
}
passdb {
  driver = oauth2
  args = $d/dovecot-oauth2.conf.ext
  mechanisms = oauthbearer xoauth2
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/users
  default_fields = uid=$MAIL_UID gid=$MAIL_GID home=$d/mail/%u
}

namespace inbox {
  inbox = yes
  prefix =
  separator = /
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
  }
}

protocol imap {
  mail_plugins = \$mail_plugins imap_quota imap_zlib
  mail_max_userip_connections = 100
  imap_logout_format = in=%i out=%o deleted=%{deleted} expunged=%{expunged} trashed=%{trashed} hdr_count=%{fetch_hdr_count} hdr_bytes=%{fetch_hdr_bytes} body_count=%{fetch_body_count} body_bytes=%{fetch_body_bytes}
}

plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=${QUOTA_KB}K
}

service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}

# Disable the anvil auth penalty: after a failed login Dovecot would delay the
# NEXT authentication from 127.0.0.1 by 2, 4, 8 .. 15 s (login_trusted_networks
# does not help in 2.3.19).  The auth process connects to "anvil-auth-penalty"
# and silently disables penalties when that socket does not exist.
service anvil {
  unix_listener anvil-auth-penalty {
    path = anvil-auth-penalty-disabled
  }
}
EOF
    if [ "$ROOTMODE" = 0 ]; then
        local s
        for s in anvil imap-login imap-urlauth-login ipc old-stats pop3-login submission-login aggregator director managesieve-login; do
            printf 'service %s {\n  chroot =\n}\n' "$s"
        done >>"$d/dovecot-common.conf"
    fi

    # the token endpoint is tests/lib/introspect.py (started before this)
    cat >"$d/dovecot-oauth2.conf.ext" <<EOF
# generated by tests/lib/dovecot.sh -- oauth2 passdb: RFC 7662 introspection
introspection_mode = post
introspection_url = http://127.0.0.1:$INTROSPECT_PORT/introspect
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
    cat >"$d/dovecot.conf" <<EOF
# generated by tests/lib/dovecot.sh -- main instance (STARTTLS + implicit TLS)
!include $d/dovecot-common.conf
instance_name = dovecot-mt$IMAP_PORT
base_dir = $BASE1
state_dir = $d/state
ssl = yes
ssl_cert = <$d/certs/server.pem
ssl_key = <$d/certs/server.key
ssl_min_protocol = TLSv1.2
protocols = imap sieve lmtp
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service managesieve-login {
  inet_listener sieve {
    address = 127.0.0.1
    port = $SIEVE_PORT
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
  postmaster_address = postmaster@localhost
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
EOF
    cat >"$d/dovecot-notls.conf" <<EOF
# generated by tests/lib/dovecot.sh -- second instance without any TLS (no STARTTLS)
!include $d/dovecot-common.conf
instance_name = dovecot-mt$NOTLS_PORT
base_dir = $BASE2
state_dir = $d/state-notls
ssl = no
# a server that offers OAUTHBEARER but not XOAUTH2 (tests/oauth2.bats)
auth_mechanisms = plain login oauthbearer
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $NOTLS_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
}

write_users() { # DIR
    local d=$1
    cat >"$d/users" <<EOF
alice:{PLAIN}alice-secret-pw::::::userdb_quota_rule=*:storage=${QUOTA_KB}K userdb_quota_rule2=*:messages=100000
bob:{PLAIN}bob-secret-pw::::::userdb_quota_rule=*:storage=${BOB_QUOTA_KB}K
carol:{PLAIN}carol-secret-pw::::::
EOF
    cat >"$d/master-users" <<EOF
admin:{PLAIN}admin-master-pw
EOF
    chmod 0644 "$d/users" "$d/master-users"
}

# --------------------------------------------------------------------------
# start / stop

start_instance() { # CONF BASEDIR -> 0 if master running
    local conf=$1 base=$2 i
    rm -f "$base/anvil-auth-penalty"   # stale socket would re-enable auth penalties
    # no inherited stdout/stderr: a daemon holding a caller's pipe would hang it (bats)
    "$DOVECOT" -c "$conf" </dev/null >>"$DIR/dovecot-start.err" 2>&1 || return 1
    for ((i = 0; i < 50; i++)); do   # pid file: <= 5 s
        [ -s "$base/master.pid" ] && pid_alive "$(cat "$base/master.pid")" && return 0
        sleep 0.1
    done
    return 1
}

stop_dir() { # DIR [SIGNAL] (uses .mt-state if present)
    local d=$1 sig=${2:-TERM} base pid pids=() kids=() i p
    local bases=()
    if [ -f "$d/.mt-state" ]; then
        # shellcheck disable=SC1091
        (. "$d/.mt-state"; printf '%s\n%s\n' "$BASE1" "$BASE2") >"$d/.mt-bases" 2>/dev/null
        mapfile -t bases <"$d/.mt-bases"
        rm -f "$d/.mt-bases"
    else
        bases=("$d/run" "$d/run2")
    fi
    for base in "${bases[@]}"; do
        [ -n "$base" ] && [ -s "$base/master.pid" ] || continue
        pid=$(cat "$base/master.pid" 2>/dev/null)
        case $pid in ''|*[!0-9]*) continue ;; esac
        pid_alive "$pid" && is_dovecot_pid "$pid" || continue
        pids+=("$pid")
        mapfile -t -O "${#kids[@]}" kids < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ')
        kill "-$sig" "$pid" 2>/dev/null
    done
    if [ "$sig" = KILL ]; then
        for p in "${kids[@]}"; do
            is_dovecot_pid "$p" && kill -KILL "$p" 2>/dev/null
        done
    fi
    for ((i = 0; i < 50; i++)); do   # <= 5 s
        local alive=0
        for p in "${pids[@]}"; do pid_alive "$p" && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do
        if pid_alive "$p" && is_dovecot_pid "$p"; then
            log "master $p did not exit after TERM, killing"
            kill -KILL "$p" 2>/dev/null
        fi
    done
    # children normally exit with the master; give them a moment, then KILL stragglers
    for ((i = 0; i < 20; i++)); do
        local alive=0
        for p in "${kids[@]}"; do pid_alive "$p" && is_dovecot_pid "$p" && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${kids[@]}"; do
        pid_alive "$p" && is_dovecot_pid "$p" && kill -KILL "$p" 2>/dev/null
    done
    for base in "${bases[@]}"; do
        rm -f "$base/master.pid" 2>/dev/null
    done
    return 0
}

# the oauth2 passdb's token endpoint: started by cmd_start, ended by pid
start_introspect() { # DIR -> sets INTROSPECT_PORT
    local d=$1 i
    : >"$d/oauth2-tokens"
    : >"$d/introspect.log"
    chmod 0644 "$d/oauth2-tokens" "$d/introspect.log"
    rm -f "$d/introspect.port"
    "$PYTHON" "$HERE/introspect.py" "$d/introspect.port" "$d/oauth2-tokens" "$d/introspect.log" \
        </dev/null >>"$d/introspect.err" 2>&1 &
    echo $! >"$d/introspect.pid"
    for ((i = 0; i < 50; i++)); do   # <= 5 s
        [ -s "$d/introspect.port" ] && break
        sleep 0.1
    done
    INTROSPECT_PORT=$(cat "$d/introspect.port" 2>/dev/null)
    [ -n "$INTROSPECT_PORT" ]
}

stop_introspect() { # DIR
    local pid
    pid=$(cat "$1/introspect.pid" 2>/dev/null) || return 0
    case $pid in ''|*[!0-9]*) return 0 ;; esac
    if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q introspect.py; then
        kill -TERM "$pid" 2>/dev/null
    fi
    rm -f "$1/introspect.pid"
    return 0
}

remove_shortbase() { # DIR
    if [ -f "$1/.mt-state" ]; then
        # shellcheck disable=SC1091
        (. "$1/.mt-state"; [ -n "${SHORTBASE:-}" ] && [ -d "$SHORTBASE" ] && rm -rf "$SHORTBASE")
    fi
    return 0
}

cmd_start() {
    local demo=0 arg
    DIR=
    for arg in "$@"; do
        case $arg in
            --demo) demo=1 ;;
            -*) die "unknown option $arg" ;;
            *) [ -z "$DIR" ] || usage; DIR=$arg ;;
        esac
    done
    [ -n "$DIR" ] || usage
    local t0; t0=$(now_ms)
    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd -P) || die "cannot cd $DIR"
    if [ -n "$(ls -A "$DIR")" ]; then
        die "$DIR is not empty (start needs an empty directory)"
    fi

    if [ "$(id -u)" -eq 0 ]; then
        ROOTMODE=1
        MAIL_UID=$(id -u nobody) && MAIL_GID=$(getent group nogroup | cut -d: -f3) \
            || die "need user nobody and group nogroup"
        [ -n "$MAIL_GID" ] || die "need group nogroup"
        LOGIN_USER=dovenull INTERNAL_USER=dovecot INTERNAL_GROUP=dovecot
        id dovenull >/dev/null 2>&1 && id dovecot >/dev/null 2>&1 || die "need users dovenull and dovecot"
        # every ancestor of DIR must be traversable by the mail/internal users
        chmod 0755 "$DIR" || die "chmod $DIR"
        local p=$DIR
        while p=$(dirname "$p"); [ "$p" != / ]; do
            if [ -z "$(find "$p" -maxdepth 0 -perm -o+x 2>/dev/null)" ]; then
                log "note: adding o+x to $p so the dovecot/mail users can reach $DIR"
                chmod o+x "$p" || die "chmod o+x $p"
            fi
        done
    else
        ROOTMODE=0
        MAIL_UID=$(id -u) MAIL_GID=$(id -g)
        LOGIN_USER=$(id -un) INTERNAL_USER=$(id -un) INTERNAL_GROUP=$(id -gn)
    fi
    QUOTA_KB=${MT_QUOTA_LIMIT_KB:-1048576}
    BOB_QUOTA_KB=51200
    case $QUOTA_KB in ''|*[!0-9]*) die "MT_QUOTA_LIMIT_KB must be a number of KiB" ;; esac
    FIXTURE_PRESET=standard
    [ "$demo" = 1 ] && FIXTURE_PRESET=demo
    FIXTURE_INBOX=${MT_FIXTURE_MESSAGES:-}
    case $FIXTURE_INBOX in *[!0-9]*) die "MT_FIXTURE_MESSAGES must be a number" ;; esac

    # unix socket paths (sun_path: 107 bytes) must fit: "<base>/login/imap-urlauth" etc.
    SHORTBASE=
    if [ "${#DIR}" -le 60 ]; then
        BASE1=$DIR/run BASE2=$DIR/run2
    else
        SHORTBASE=$(mktemp -d /tmp/mtdc.XXXXXX) || die "mktemp"
        chmod 0755 "$SHORTBASE"
        BASE1=$SHORTBASE/run BASE2=$SHORTBASE/run2
    fi
    mkdir -p "$DIR/state" "$DIR/state-notls" "$DIR/mail" "$BASE1" "$BASE2" || die "mkdir"
    chmod 0755 "$DIR/mail" "$BASE1" "$BASE2"
    : >"$DIR/dovecot.log"
    : >"$DIR/dovecot-start.err"

    # certs and mail generation run in parallel
    local pids=() rc=0 u
    gen_certs "$DIR/certs" "DNS:localhost" Dovecot & pids+=($!)
    for u in alice bob carol; do
        gen_user "$DIR" "$u" >/dev/null & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [ "$rc" = 0 ] || { cat "$DIR/certs/openssl.err" >&2 2>/dev/null; die "certificate or mail generation failed"; }
    for u in alice bob carol; do fix_owner "$DIR" "$u" || die "chown mail of $u"; done
    write_users "$DIR"
    start_introspect "$DIR" || { cat "$DIR/introspect.err" >&2; stop_introspect "$DIR"; die "token endpoint did not start"; }

    local attempt ok=0
    for attempt in 1 2 3; do
        read -r IMAP_PORT IMAPS_PORT NOTLS_PORT SIEVE_PORT LMTP_PORT < <(free_ports 5) || die "cannot pick free ports"
        [ -n "$LMTP_PORT" ] || die "cannot pick free ports"
        write_config "$DIR"
        cat >"$DIR/.mt-state" <<EOF
ROOTMODE=$ROOTMODE
MAIL_UID=$MAIL_UID
MAIL_GID=$MAIL_GID
BASE1='$BASE1'
BASE2='$BASE2'
SHORTBASE='$SHORTBASE'
FIXTURE_PRESET=$FIXTURE_PRESET
FIXTURE_INBOX=$FIXTURE_INBOX
QUOTA_KB=$QUOTA_KB
EOF
        local r1=0 r2=0 sp1 sp2
        start_instance "$DIR/dovecot.conf" "$BASE1" & sp1=$!
        start_instance "$DIR/dovecot-notls.conf" "$BASE2" & sp2=$!
        wait "$sp1" || r1=1
        wait "$sp2" || r2=1
        if [ "$r1$r2" = 00 ] &&
            wait_listening 5 "$DIR/certs/ca.pem" "$IMAP_PORT" "TLS:$IMAPS_PORT" "$NOTLS_PORT" \
                "ANY:$SIEVE_PORT" "ANY:$LMTP_PORT"; then
            ok=1
            break
        fi
        log "start attempt $attempt failed (ports $IMAP_PORT $IMAPS_PORT $NOTLS_PORT $SIEVE_PORT $LMTP_PORT)"
        stop_dir "$DIR" KILL
        # retry only for port races; anything else will fail again quickly anyway
        grep -qi 'address already in use' "$DIR/dovecot.log" "$DIR/dovecot-start.err" 2>/dev/null || break
    done
    if [ "$ok" != 1 ]; then
        cat "$DIR/dovecot-start.err" >&2
        tail_log "$DIR/dovecot.log"
        remove_shortbase "$DIR"
        stop_introspect "$DIR"
        rm -f "$DIR/.mt-state"
        die "failed to start dovecot in $DIR"
    fi

    local fail=0 vp=()
    for u in alice bob carol; do
        verify_user "$DIR" "$u" & vp+=($!)
    done
    for p in "${vp[@]}"; do wait "$p" || fail=1; done
    # PREAUTH tunnels: tiny wrapper scripts (work with sh -c and with plain exec).
    # Standalone imap logs to stderr ("Info: Disconnected: Logged out in=.. out=..");
    # the wrapper appends that to the dovecot log so tunnel users get a clean stderr.
    mkdir -p "$DIR/bin"
    for u in alice bob carol; do
        printf '#!/bin/sh\n# PREAUTH IMAP session for %s on stdin/stdout (tests/lib/dovecot.sh)\nexec %q -c %q -u %s 2>>%q\n' \
            "$u" "$IMAP_BIN" "$DIR/dovecot.conf" "$u" "$DIR/dovecot.log" >"$DIR/bin/tunnel-$u"
        chmod 0755 "$DIR/bin/tunnel-$u"
    done
    local tunnel=$DIR/bin/tunnel-alice
    local greet
    greet=$(printf 'a LOGOUT\r\n' | timeout 10 "$tunnel" | head -n 1)
    case $greet in
        '* PREAUTH'*) ;;
        *) log "tunnel check failed: $greet"; fail=1 ;;
    esac
    if [ "$fail" = 1 ]; then
        tail_log "$DIR/dovecot.log"
        stop_dir "$DIR" KILL
        remove_shortbase "$DIR"
        stop_introspect "$DIR"
        rm -f "$DIR/.mt-state"
        die "dovecot started but fixture verification failed"
    fi

    q() { printf '%q' "$1"; }
    cat >"$DIR/env.sh" <<EOF
# generated by tests/lib/dovecot.sh start -- source me
export MT_TEST_DIR=$(q "$DIR")
export MT_IMAP_HOST=127.0.0.1
export MT_IMAP_PORT=$IMAP_PORT
export MT_IMAPS_PORT=$IMAPS_PORT
export MT_NOTLS_PORT=$NOTLS_PORT
export MT_SIEVE_PORT=$SIEVE_PORT
export MT_LMTP_PORT=$LMTP_PORT
export MT_CA=$(q "$DIR/certs/ca.pem")
export MT_OTHER_CA=$(q "$DIR/certs/other-ca.pem")
export MT_SERVER_CERT=$(q "$DIR/certs/server.pem")
export MT_SERVER_FP=$(cat "$DIR/certs/server.fp")
export MT_DOVEADM=$(q "$DOVEADM_BIN -c $DIR/dovecot.conf")
export MT_DOVEADM_NOTLS=$(q "$DOVEADM_BIN -c $DIR/dovecot-notls.conf")
export MT_TUNNEL_ALICE=$(q "$DIR/bin/tunnel-alice")
export MT_TUNNEL_BOB=$(q "$DIR/bin/tunnel-bob")
export MT_DOVECOT_LOG=$(q "$DIR/dovecot.log")
export MT_QUOTA_LIMIT_KB=$QUOTA_KB
export MT_QUOTA_LIMIT_KB_BOB=$BOB_QUOTA_KB
export MT_QUOTA_MESSAGES_ALICE=100000
export MT_FIXTURE=$FIXTURE_PRESET
export MT_MANIFEST_ALICE=$(q "$DIR/alice.manifest.tsv")
export MT_MANIFEST_BOB=$(q "$DIR/bob.manifest.tsv")
export MT_OAUTH2_TOKENS=$(q "$DIR/oauth2-tokens")
export MT_INTROSPECT_LOG=$(q "$DIR/introspect.log")
EOF
    chmod 0644 "$DIR/env.sh"
    log "started in $DIR: imap=$IMAP_PORT imaps=$IMAPS_PORT notls=$NOTLS_PORT sieve=$SIEVE_PORT lmtp=$LMTP_PORT ($(( $(now_ms) - t0 )) ms)"
}

cmd_stop() {
    local d='' sig=TERM arg
    for arg in "$@"; do
        case $arg in
            --kill) sig=KILL ;;
            -*) die "unknown option $arg" ;;
            *) [ -z "$d" ] || usage; d=$arg ;;
        esac
    done
    [ -n "$d" ] || usage
    [ -d "$d" ] || { log "no such directory $d"; return 0; }
    d=$(cd "$d" && pwd -P)
    stop_dir "$d" "$sig"
    stop_introspect "$d"
    remove_shortbase "$d"
    rm -f "$d/.mt-state"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    DIR=$(cd "$1" 2>/dev/null && pwd -P) || exit 1
    load_state "$DIR"
    local pid
    pid=$(cat "$BASE1/master.pid" 2>/dev/null) && pid_alive "$pid"
}

cmd_reset_user() {
    [ $# -eq 2 ] || usage
    DIR=$(cd "$1" && pwd -P) || die "no such directory $1"
    local u=$2 i
    load_state "$DIR"
    genmail_args "$u" >/dev/null || die "unknown fixture user '$u' (alice, bob, carol)"
    local -a da1=("$DOVEADM_BIN" -c "$DIR/dovecot.conf") da2=("$DOVEADM_BIN" -c "$DIR/dovecot-notls.conf")
    # disconnect the user's sessions on both instances, wait (bounded) until gone
    "${da1[@]}" kick "$u" >/dev/null 2>&1
    "${da2[@]}" kick "$u" >/dev/null 2>&1
    for ((i = 0; i < 50; i++)); do
        [ -z "$("${da1[@]}" who "$u" 2>/dev/null | tail -n +2)" ] &&
            [ -z "$("${da2[@]}" who "$u" 2>/dev/null | tail -n +2)" ] && break
        sleep 0.1
    done
    local old=$DIR/mail/.old-$u-$$
    if [ -e "$DIR/mail/$u" ]; then
        mv "$DIR/mail/$u" "$old" || die "cannot move old mail of $u"
    fi
    rm -rf "$old"
    gen_user "$DIR" "$u" >/dev/null || die "mail generation failed for $u"
    fix_owner "$DIR" "$u" || die "chown failed for $u"
    verify_user "$DIR" "$u" || { tail_log "$DIR/dovecot.log"; die "verification failed for $u"; }
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    reset-user) shift; cmd_reset_user "$@" ;;
    *) usage ;;
esac
