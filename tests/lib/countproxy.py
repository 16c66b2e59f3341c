#!/usr/bin/env python3
"""countproxy.py - a TCP relay that counts how many connections it carries at
once, for tests that bound sessions per server (--per-host). Loopback only,
bounded in time.

Usage: countproxy.py PORTFILE TARGET_PORT STATFILE [SECONDS]

Listens on 127.0.0.1 (a free port, written to PORTFILE), relays every
connection to 127.0.0.1:TARGET_PORT, and keeps STATFILE up to date with two
numbers: the most connections open at one time, and the connections in all.
Exits after SECONDS (default 60).
"""
import os
import socket
import sys
import threading
import time

portfile, target, statfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
lock = threading.Lock()
state = {"open": 0, "max": 0, "total": 0}


def write_stat():
    tmp = statfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (state["max"], state["total"]))
    os.replace(tmp, statfile)


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (dst,):
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def serve(c):
    try:
        u = socket.create_connection(("127.0.0.1", target), timeout=10)
        u.settimeout(None)
    except OSError:
        c.close()
        return
    # a session ends when its client closes; that end and the next
    # client's start can reach this process in either order, so a new
    # connection is counted after a moment in which a close already sent
    # is taken in (the sessions measured last far longer)
    time.sleep(0.1)
    with lock:
        state["open"] += 1
        state["total"] += 1
        state["max"] = max(state["max"], state["open"])
        write_stat()
    t = threading.Thread(target=pump, args=(u, c), daemon=True)
    t.start()
    pump(c, u)
    with lock:
        state["open"] -= 1
    t.join(seconds)
    c.close()
    u.close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
write_stat()
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.replace(portfile + ".tmp", portfile)
end = time.monotonic() + seconds
ls.settimeout(0.5)
while time.monotonic() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
