#!/usr/bin/env python3
"""endlessproxy.py - a relay whose server, once a client IDLEs, sends a line
that never ends.

Usage: endlessproxy.py PORTFILE UPSTREAM_PORT [SECONDS]

Listens on a free 127.0.0.1 port (written to PORTFILE) and relays every
client to 127.0.0.1:UPSTREAM_PORT. After a client's "IDLE" command line
and the server's "+" continuation, the relay stops forwarding the server
and sends that client "* OK " followed by an endless run of "x" (64 KiB
at a time) until the client goes away. Logins, passes and EXAMINE work as
on the real server, so a watcher comes back and fails again: what a
server with a runaway response does to a client. The number of client
connections so far is in PORTFILE.count. Exits after SECONDS (default 60).
"""
import os
import socket
import sys
import threading
import time

portfile, upstream = sys.argv[1], int(sys.argv[2])
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
deadline = time.time() + limit
count = 0
lock = threading.Lock()


def serve(c):
    u = socket.create_connection(("127.0.0.1", upstream))
    idled = threading.Event()

    def up():   # client -> server, watching for IDLE
        buf = b""
        try:
            while time.time() < deadline:
                d = c.recv(65536)
                if not d:
                    break
                buf = (buf + d)[-256:]
                if b" IDLE\r\n" in buf:
                    idled.set()   # (before the server can answer it)
                u.sendall(d)
        except OSError:
            pass
        for s in (u, c):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    threading.Thread(target=up, daemon=True).start()
    try:
        while time.time() < deadline:
            d = u.recv(65536)
            if not d:
                break
            c.sendall(d)
            if idled.is_set() and b"+ " in d:
                c.sendall(b"* OK ")
                chunk = b"x" * 65536
                while time.time() < deadline:
                    c.sendall(chunk)
                break
    except OSError:
        pass
    for s in (u, c):
        try:
            s.close()
        except OSError:
            pass


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
ls.settimeout(0.5)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while time.time() < deadline:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    with lock:
        count += 1
        with open(portfile + ".count", "w") as f:
            f.write(str(count))
    threading.Thread(target=serve, args=(c,), daemon=True).start()
