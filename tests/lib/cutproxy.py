#!/usr/bin/env python3
"""cutproxy.py - a fault-injecting TCP proxy for loopback (cleartext IMAP).

Usage: cutproxy.py PORTFILE UPSTREAM_PORT MODE [ARG] [SECONDS]

Listens on a free 127.0.0.1 port (written to PORTFILE), serves ONE client,
forwarding to 127.0.0.1:UPSTREAM_PORT, and exits after the client leaves or
SECONDS (default 20). MODE:
  after-command K   forward the client's first K command lines, let the
                    server act on the Kth, then cut both sides (the client
                    never sees its answer)
  after-bytes N     cut after N bytes from the server
  delay MS          hold every chunk from the server MS milliseconds
  drip              send the server's bytes one at a time, 2 ms apart
  blackhole         accept, read, never forward anything
Counts client commands in COUNTFILE (PORTFILE + ".count") at the end, so a
test can learn how many commands a whole run sends. A command's literals
({N} or {N+}, an APPEND's messages) are part of it: their bytes are
forwarded as they are and the command ends with its last line.

With CUTPROXY_DROP_CAPS (space-separated capability names, e.g. "MOVE") in
the environment, those names are taken out of every CAPABILITY the server
sends (greeting, LOGIN's OK, CAPABILITY answers): the cuts then run against
the server's fallback paths (a move without MOVE is UID COPY + UID EXPUNGE).
"""
import os
import re
import select
import socket
import sys
import time

portfile, upstream, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
arg = int(sys.argv[4]) if len(sys.argv) > 4 and mode != "drip" and mode != "blackhole" else 0
limit = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
deadline = time.time() + limit
drop_caps = [re.compile(rb"(?m)^([^\r\n]*CAPABILITY[^\r\n]*?) " + re.escape(c.encode()) + rb"(?=[ \]\r\n])", re.I)
             for c in os.environ.get("CUTPROXY_DROP_CAPS", "").split()]


def trim_caps(data):
    for rx in drop_caps:
        for _ in range(8):
            data, n = rx.subn(rb"\1", data)
            if not n:
                break
    return data

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
srv.settimeout(limit)
try:
    cli, _ = srv.accept()
except socket.timeout:
    sys.exit(0)
up = None if mode == "blackhole" else socket.create_connection(("127.0.0.1", upstream), timeout=5)
lines = 0
from_server = 0
pending = b""
literal = 0   # bytes of a literal still to forward
LITERAL_END = re.compile(rb"\{([0-9]+)\+?\}\r?$")
cut = False
def relay():
    global cut, lines, pending, from_server, literal
    socks = [cli] + ([up] if up else [])
    r, _, _ = select.select(socks, [], [], 0.1)
    for s in r:
        data = s.recv(65536)
        if not data:
            cut = True
            break
        if s is cli:
            if up is None:
                continue
            pending += data
            while pending:
                if literal:
                    chunk, pending = pending[:literal], pending[literal:]
                    up.sendall(chunk)
                    literal -= len(chunk)
                    continue
                if b"\n" not in pending:
                    break
                line, pending = pending.split(b"\n", 1)
                up.sendall(line + b"\n")
                m = LITERAL_END.search(line)
                if m:
                    literal = int(m.group(1))
                    continue   # the command goes on after its literal
                lines += 1
                if mode == "after-command" and lines >= arg:
                    time.sleep(0.2)   # let the server carry it out
                    cut = True
                    break
        else:
            if drop_caps:
                data = trim_caps(data)
            if mode == "after-bytes" and from_server + len(data) >= arg:
                cli.sendall(data[: max(0, arg - from_server)])
                cut = True
                break
            from_server += len(data)
            if mode == "delay":
                time.sleep(arg / 1000.0)
            if mode == "drip":
                for b in data:
                    if time.time() > deadline:
                        break
                    cli.sendall(bytes([b]))
                    time.sleep(0.002)
            else:
                cli.sendall(data)
# a peer that resets (RST) or a write to a closed socket ends the session
# like a close: the count is written whatever happened
while not cut and time.time() < deadline:
    try:
        relay()
    except OSError:
        cut = True
for s in (cli, up):
    if s:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
with open(portfile + ".count", "w") as f:
    f.write(str(lines))
