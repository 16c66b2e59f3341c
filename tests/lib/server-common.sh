# server-common.sh — sourced by dovecot.sh, cyrus.sh and courier.sh: the
# pieces every private test server needs. The sourcing script sets NAME
# (for its messages) and PYTHON first.

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { log "$*"; exit 1; }
now_ms() { date +%s%3N; }

free_ports() { # N -> N distinct free TCP ports on 127.0.0.1 (held together while picked)
    "$PYTHON" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

wait_listening() { # SECONDS CA SPEC...: bounded wait for the "* OK" greeting on
    # each SPEC, a port (cleartext) or TLS:PORT (handshake verified against CA),
    # or ANY:PORT, any greeting at all (ManageSieve, LMTP);
    # gives up at once when a pid of $WATCH_PIDS (the server's) has died
    WATCH_PIDS=${WATCH_PIDS:-} "$PYTHON" - "$@" <<'PY'
import os, socket, ssl, sys, time
deadline = time.time() + float(sys.argv[1])
def dead():
    for p in os.environ.get("WATCH_PIDS", "").split():
        try:
            st = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return p
        if st == "Z":
            return p
    return None
ctx = ssl.create_default_context(cafile=sys.argv[2])
for spec in sys.argv[3:]:
    tls, anyg = spec.startswith("TLS:"), spec.startswith("ANY:")
    port = int(spec[4:] if tls or anyg else spec)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if tls:
                s = ctx.wrap_socket(s, server_hostname="localhost")
            s.settimeout(max(0.5, deadline - time.time()))
            g = s.recv(512)
            if not g.startswith(b"* OK") and not (anyg and g):
                raise OSError("bad greeting %r" % g)
            s.close()
            break
        except OSError as e:
            if dead():
                sys.exit("server process %s exited (port %d)" % (dead(), port))
            if time.time() > deadline:
                sys.exit("port %d not ready: %s" % (port, e))
            time.sleep(0.05)
PY
}

# alive and not a zombie (PID 1 of some containers reaps orphans slowly)
pid_alive() {
    local st
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

tail_log() { # FILE...: the end of each non-empty one, on stderr
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        log "---- last lines of $f ----"
        tail -n 30 "$f" >&2
        log "----"
    done
}

# gen_certs CERTDIR SAN LABEL: in CERTDIR a CA (ca.pem/ca.key), a second CA
# that signs nothing (other-ca.pem), and a server certificate for SAN
# (server.pem/server.key, EC P-256) signed by the first; server.fp is
# "sha256:" + the SHA-256 of its DER form.
gen_certs() {
    local c=$1 san=$2 label=$3 serial tag
    mkdir -p "$c" || return 1
    cat >"$c/openssl.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
CNF
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    openssl req -x509 "${ec[@]}" -config "$c/openssl.cnf" -extensions v3_ca -days 3650 \
        -subj "/O=mailtool tests/CN=mailtool $label test CA $tag" \
        -keyout "$c/ca.key" -out "$c/ca.pem" 2>"$c/openssl.err" || return 1
    openssl req -x509 "${ec[@]}" -config "$c/openssl.cnf" -extensions v3_ca -days 3650 \
        -subj "/O=mailtool tests/CN=mailtool OTHER test CA $tag" \
        -keyout "$c/other-ca.key" -out "$c/other-ca.pem" 2>>"$c/openssl.err" || return 1
    openssl req -new "${ec[@]}" -config "$c/openssl.cnf" -subj "/O=mailtool tests/CN=localhost" \
        -keyout "$c/server.key" -out "$c/server.csr" 2>>"$c/openssl.err" || return 1
    serial=0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" \
        -set_serial "$serial" -days 825 -extfile "$c/openssl.cnf" -extensions v3_server \
        -out "$c/server.pem" 2>>"$c/openssl.err" || return 1
    openssl x509 -in "$c/server.pem" -outform DER -out "$c/server.der" 2>>"$c/openssl.err" || return 1
    sha256sum "$c/server.der" | awk '{print "sha256:" $1}' >"$c/server.fp" || return 1
    chmod 0644 "$c"/*.pem "$c"/server.fp
    chmod 0600 "$c"/*.key
}
