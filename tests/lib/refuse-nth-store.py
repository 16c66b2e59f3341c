#!/usr/bin/env python3
# refuse-nth-store.py N INNER...: a tunnel relaying to INNER, but the Nth
# "UID STORE ... (\Deleted)" the client sends goes out as a STORE the server
# answers with BAD (a server refusing a removal part-way; expunge.bats)
import subprocess, sys, threading, re
n_target = int(sys.argv[1]); inner = " ".join(sys.argv[2:])
p = subprocess.Popen(["/bin/sh", "-c", inner], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
def out():
    while True:
        b = p.stdout.read1(65536) if hasattr(p.stdout, "read1") else p.stdout.read(65536)
        if not b: break
        sys.stdout.buffer.write(b); sys.stdout.buffer.flush()
t = threading.Thread(target=out, daemon=True); t.start()
seen = 0
for line in sys.stdin.buffer:
    if b"UID STORE" in line and b"\\Deleted" in line:
        seen += 1
        if seen == n_target:
            tag = line.split(b" ", 1)[0]
            line = tag + b" UID STORE 1 +FLAGS.SILENT (\\Bogus)\r\n"
    p.stdin.write(line); p.stdin.flush()
p.stdin.close(); t.join(timeout=10)
