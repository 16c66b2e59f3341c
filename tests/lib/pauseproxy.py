#!/usr/bin/env python3
"""pauseproxy.py PORTFILE UPSTREAM_PORT SECONDS — a loopback TCP proxy for
many clients that can go silent: a server (or a NAT) that stops answering
without closing anything.

Listens on a free 127.0.0.1 port (written to PORTFILE) and forwards each
client to 127.0.0.1:UPSTREAM_PORT. SIGUSR1 freezes: every connection open
at that moment, and every one accepted while frozen, is held open and never
answered again (what the client sends is read and dropped). SIGUSR2 thaws:
connections accepted from then on are forwarded; the frozen ones stay
silent. Exits by itself after SECONDS."""
import os
import select
import signal
import socket
import sys
import time

portfile, upstream, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + limit
frozen = False
freeze_now = False


def on_usr1(*_):
    global frozen, freeze_now
    frozen = freeze_now = True


def on_usr2(*_):
    global frozen
    frozen = False


signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGUSR2, on_usr2)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
peer = {}      # live socket -> the socket its bytes go to
held = set()   # silent sockets: read, never answered
while time.time() < end:
    if freeze_now:
        freeze_now = False
        for s in list(peer):
            if s.getpeername()[1] == upstream:
                s.close()        # the server side goes; the client is held
            else:
                held.add(s)
        peer.clear()
    try:
        r, _, _ = select.select([srv] + list(peer) + list(held), [], [], 0.2)
    except InterruptedError:
        continue
    for s in r:
        if s is srv:
            c, _ = srv.accept()
            if frozen:
                held.add(c)
                continue
            try:
                u = socket.create_connection(("127.0.0.1", upstream), timeout=5)
            except OSError:
                c.close()
                continue
            peer[c], peer[u] = u, c
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if s in held:
            if not data:
                held.discard(s)
                s.close()
            continue
        if s not in peer:
            continue
        other = peer[s]
        if not data:
            for x in (s, other):
                peer.pop(x, None)
                x.close()
            continue
        try:
            other.sendall(data)
        except OSError:
            for x in (s, other):
                peer.pop(x, None)
                x.close()
