#!/usr/bin/env python3
"""blackhole.py PORTFILE SECONDS — listen on a free loopback port, accept
connections and never answer (a hung server). Writes the port to PORTFILE,
exits by itself after SECONDS."""
import os
import socket
import sys
import time

portfile, limit = sys.argv[1], float(sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
end = time.time() + limit
held = []
while time.time() < end:
    s.settimeout(max(0.1, end - time.time()))
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        break
