#!/usr/bin/env python3
"""killproxy.py - a tunnel that SIGKILLs its mailtool after the Kth IMAP command.

Usage (as mailtool's tunnel command):  killproxy.py DIR K [SECONDS]

Runs the shell command in DIR/inner (the real tunnel, e.g. Dovecot's imap
binary with -u alice) and relays IMAP between it and this process's
stdin/stdout (mailtool's pipes), counting the client's commands (a
command's literals, {N} or {N+}, are part of it: an APPEND's messages are
relayed as they are, and the command ends with its last line).  With
K > 0, after forwarding the Kth line it stops relaying (the client never
sees the answer), waits (at most 2 s) until the server has answered it, and
sends SIGKILL to the mailtool process: the nearest ancestor whose name is
"mailtool" (the tunnel runs under mailtool's "sh -c").  K = 0 only counts.

At the end (client gone, or SECONDS, default 30, passed) it closes the
server's input, waits (bounded) for the server process to finish, and writes
DIR/count (lines forwarded; with K = 0 also DIR/commands, their first
72 characters: PREAUTH tunnels carry no credentials), DIR/killed (the pid, when it killed one) and
last DIR/done, so a test can wait until the server has settled.
"""
import os
import re
import select
import signal
import subprocess
import sys
import time

d, k = sys.argv[1], int(sys.argv[2])
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
deadline = time.time() + limit


def mailtool_ancestor():
    pid = os.getppid()
    for _ in range(6):
        try:
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
            if comm == "mailtool" or comm.startswith("mailtool-"):
                return pid
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
            pid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            return None
        if pid <= 1:
            return None
    return None


with open(os.path.join(d, "inner")) as f:
    inner = f.read().strip()
srv = subprocess.Popen(["/bin/sh", "-c", inner], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
CIN, COUT = 0, 1
sout = srv.stdout.fileno()
lines = 0
log = []
pending = b""
literal = 0       # bytes of a literal still to relay
first = None      # the first line of the command in hand (its tag)
LITERAL_END = re.compile(rb"\{([0-9]+)\+?\}\r?$")
killed = None
done = False
while not done and time.time() < deadline:
    r, _, _ = select.select([CIN, sout], [], [], 0.1)
    for s in r:
        data = os.read(s, 65536)
        if not data:
            done = True
            break
        if s == sout:
            try:
                os.write(COUT, data)
            except OSError:
                done = True
                break
            continue
        pending += data
        while pending:
            if literal:
                chunk, pending = pending[:literal], pending[literal:]
                try:
                    srv.stdin.write(chunk)
                except OSError:
                    done = True
                    break
                literal -= len(chunk)
                continue
            if b"\n" not in pending:
                break
            line, pending = pending.split(b"\n", 1)
            try:
                srv.stdin.write(line + b"\n")
            except OSError:   # the server is gone
                done = True
                break
            if first is None:
                first = line
            m = LITERAL_END.search(line)
            if m:
                literal = int(m.group(1))
                continue   # the command goes on after its literal
            line, first = first, None
            lines += 1
            if k == 0:
                log.append(line.rstrip(b"\r")[:72].decode("utf-8", "replace"))
            if k > 0 and lines >= k:
                # let the server carry it out: swallow its answer up to the
                # tagged completion (at most 2 s), so mailtool never sees it
                tag = line.split(b" ", 1)[0]
                seen = b"\n"
                end = time.time() + 2
                while time.time() < end:
                    rr, _, _ = select.select([sout], [], [], max(0.0, end - time.time()))
                    if not rr:
                        continue
                    more = os.read(sout, 65536)
                    if not more:
                        break
                    seen = (seen + more)[-65536:]
                    if re.search(b"\n" + re.escape(tag) + b" (OK|NO|BAD)[^\n]*\n", seen):
                        break
                killed = mailtool_ancestor()
                if killed:
                    os.kill(killed, signal.SIGKILL)
                done = True
                break
        if done:
            break
try:
    srv.stdin.close()
except OSError:
    pass
# drain the server's last words until it exits (bounded)
end = time.time() + 10
while srv.poll() is None and time.time() < end:
    rr, _, _ = select.select([sout], [], [], 0.1)
    if rr and not os.read(sout, 65536):
        break
try:
    srv.wait(timeout=max(0.1, end - time.time()))
except subprocess.TimeoutExpired:
    srv.kill()
    srv.wait()
with open(os.path.join(d, "count"), "w") as f:
    f.write(str(lines))
if k == 0:
    with open(os.path.join(d, "commands"), "w") as f:
        f.write("".join(x + "\n" for x in log))
if killed:
    with open(os.path.join(d, "killed"), "w") as f:
        f.write(str(killed))
with open(os.path.join(d, "done"), "w") as f:
    f.write("done")
