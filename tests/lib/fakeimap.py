#!/usr/bin/env python3
"""fakeimap.py - a scripted fake IMAP server for what real servers never send
(hostile or broken responses, injection, cut connections). Loopback only,
one connection, bounded in time: it exits by itself.

Usage: fakeimap.py PORTFILE SCRIPT LOG [SECONDS]

Writes its port to PORTFILE, serves one client, appends every line the client
sent to LOG (so tests can check, e.g., that no LOGIN was ever sent), and exits
after the client leaves, a <CLOSE>, or SECONDS (default 20).

SCRIPT, one directive per line ('#' comments):
  GREETING <text>          the greeting line (CRLF added)
  ON <regex> => <reply>    when a client line's command (after the tag) matches
                           regex (case-insensitive), send reply; the first
                           matching rule wins. In replies: {tag} is the
                           client's tag, \\r\\n escapes are honoured, CRLF is
                           added at the end unless the reply ends in <RAW>.
Markers inside a reply (alone or at its end):
  <CLOSE>      close the connection after sending what precedes
  <STALL>      send what precedes, then never answer again (until SECONDS)
  <DRIP>       send what precedes one byte every 0.2 s
  <HUGE n>     then send n bytes of 'x' without a line end
  <STARTTLS>   after sending what precedes, start TLS (server side)
  <TCPCLOSE>   like <CLOSE>, but over TLS without a TLS shutdown: no
               close_notify alert, the TCP connection just ends (FIN)
Commands no rule matches get "{tag} BAD unexpected".

ManageSieve (FAKE_NOTAG=1 in the environment): lines carry no tag, a rule
matches the whole line, {tag} is empty, and an unmatched line gets
'NO "unexpected"'.

TLS: with FAKE_TLS_CERT and FAKE_TLS_KEY (PEM files) in the environment the
server speaks implicit TLS from the start, unless FAKE_TLS_MODE=starttls, in
which case TLS begins at a <STARTTLS> marker. A failed handshake (the client
refused the certificate) is logged as "<TLS handshake failed: ...>" and ends
the connection.
"""
import re
import socket
import sys
import time

portfile, scriptfile, logfile = sys.argv[1], sys.argv[2], sys.argv[3]
limit = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
deadline = time.time() + limit

greeting = "* OK fake IMAP ready"
rules = []
for raw in open(scriptfile, encoding="utf-8"):
    line = raw.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    if line.startswith("GREETING "):
        greeting = line[len("GREETING "):]
    elif line.startswith("ON ") and " => " in line:
        pat, reply = line[3:].split(" => ", 1)
        rules.append((re.compile(pat, re.I), reply))
    else:
        sys.exit("fakeimap: bad script line: " + line)

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.settimeout(max(0.1, deadline - time.time()))
try:
    conn, _ = srv.accept()
except socket.timeout:
    sys.exit(0)
log = open(logfile, "a", encoding="utf-8", errors="replace")
tls_cert, tls_key = os.environ.get("FAKE_TLS_CERT"), os.environ.get("FAKE_TLS_KEY")
notag = os.environ.get("FAKE_NOTAG") == "1"


def start_tls():
    """Wrap conn in TLS; False when the client gave up on the handshake."""
    global conn
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_cert, tls_key)
    conn.settimeout(max(0.1, deadline - time.time()))
    try:
        conn = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError) as e:
        log.write("<TLS handshake failed: %s>\n" % e)
        log.flush()
        return False
    log.write("<TLS established>\n")
    log.flush()
    return True


if tls_cert and os.environ.get("FAKE_TLS_MODE") != "starttls" and not start_tls():
    sys.exit(0)


def send(text, tag):
    """Send one reply; returns False when the connection is to end."""
    text = text.replace("{tag}", tag)
    raw = text.endswith("<RAW>")
    if raw:
        text = text[: -len("<RAW>")]
    huge = re.search(r"<HUGE (\d+)>", text)
    tcpclose = "<TCPCLOSE>" in text
    close, stall, drip = "<CLOSE>" in text or tcpclose, "<STALL>" in text, "<DRIP>" in text
    starttls = "<STARTTLS>" in text
    body = re.sub(r"<(CLOSE|TCPCLOSE|STALL|DRIP|STARTTLS|HUGE \d+)>", "", text)
    data = body.encode("utf-8").decode("unicode_escape").encode("latin-1")
    if data and not raw and not (close or stall or huge):
        data += b"\r\n"
    # a slow client (the sanitizer build, a big reply) may take a while to
    # read: sending waits up to the deadline, not the 0.2 s of a read poll
    conn.settimeout(max(0.1, deadline - time.time()))
    try:
        if drip:
            for b in data:
                if time.time() > deadline:
                    return False
                conn.sendall(bytes([b]))
                time.sleep(0.2)
        else:
            conn.sendall(data)
        if huge:
            left = int(huge.group(1))
            chunk = b"x" * 65536
            while left > 0 and time.time() < deadline:
                conn.sendall(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    except OSError:
        return False
    conn.settimeout(0.2)
    if tcpclose:
        # end the TCP stream under the TLS layer: no close_notify is sent
        # (SSLSocket.close() sends none either, but this says so)
        try:
            socket.socket(fileno=os.dup(conn.fileno())).shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        log.write("<TCP closed without close_notify>\n")
        log.flush()
        return False
    if stall:
        while time.time() < deadline:
            time.sleep(0.1)
        return False
    if starttls:
        if not tls_cert or not start_tls():
            return False
        conn.settimeout(0.2)
    return not close


send(greeting, "*")
buf = b""
conn.settimeout(0.2)
alive = True
while alive and time.time() < deadline:
    try:
        chunk = conn.recv(65536)
    except socket.timeout:
        continue
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf and alive:
        line, buf = buf.split(b"\n", 1)
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        log.write(text + "\n")
        log.flush()
        if notag:
            tag, rest = "", text
        else:
            tag, _, rest = text.partition(" ")
        for pat, reply in rules:
            if pat.search(rest):
                alive = send(reply, tag)
                break
        else:
            alive = send('NO "unexpected"' if notag else "{tag} BAD unexpected", tag)
conn.close()
