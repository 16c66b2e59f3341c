#!/usr/bin/env python3
"""lieproxy.py - a tunnel that makes a real server lie about one message.

Usage (as mailtool's tunnel command):  lieproxy.py RULE... -- INNER

Runs INNER (a shell command speaking IMAP on stdin/stdout, e.g. Dovecot's
imap binary for alice) and relays between it and this process's stdin and
stdout, changing what the server says in FETCH responses that carry
"UID <uid>" (literals are parsed, so bodies are never mistaken for
responses). RULE:
  size=UID:N    RFC822.SIZE of UID reported as N (a server that under- or
                over-reports it; some do)
  nil=UID       every BODY[] (and BODY[]<origin>) of UID sent as NIL
                (RFC 2180 allows it for a message another session expunged)
  cut=UID:N     every BODY[] of UID cut to its first N bytes (a short copy
                the server says nothing about)
  drop=UID[:K]  no FETCH response about UID after its first K (default 0),
                as if the server had nothing to give
  nul=UID:N     byte N of every whole BODY[] of UID sent as a NUL (Dovecot
                sends 0x80 for a stored NUL; other servers send it as it is)
The state stays real: nothing on the server is changed by the proxy, so a
test can compare the server's own view (doveadm) before and after. Ends
when either side closes, or after 120 s.
"""
import os
import re
import select
import subprocess
import sys
import time

args = sys.argv[1:]
sep = args.index("--")
rules, inner = args[:sep], " ".join(args[sep + 1:])
size_of, nil, cut, nul, drop, answered = {}, set(), {}, {}, {}, {}
for r in rules:
    kind, _, val = r.partition("=")
    if kind == "size":
        u, n = val.split(":")
        size_of[int(u)] = int(n)
    elif kind == "nil":
        nil.add(int(val))
    elif kind == "cut":
        u, n = val.split(":")
        cut[int(u)] = int(n)
    elif kind == "drop":
        u, _, k = val.partition(":")
        drop[int(u)] = int(k or 0)
    elif kind == "nul":
        u, n = val.split(":")
        nul[int(u)] = int(n)
    else:
        sys.exit("lieproxy: bad rule " + r)

deadline = time.time() + 120
srv = subprocess.Popen(["/bin/sh", "-c", inner], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
sout = srv.stdout.fileno()
LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
BODY = re.compile(rb"BODY\[\](<\d+>)? $")


def responses(buf):
    """Split complete responses off buf: lists of (text, literal-or-None)."""
    out = []
    while True:
        parts, pos = [], 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                return out, buf
            text = buf[pos:nl + 1]
            m = LITERAL.search(text)
            if not m:
                parts.append((text, None))
                pos = nl + 1
                break
            n = int(m.group(1))
            if len(buf) < nl + 1 + n:
                return out, buf
            parts.append((text, buf[nl + 1:nl + 1 + n]))
            pos = nl + 1 + n
        out.append(parts)
        buf = buf[pos:]


def rewrite(parts):
    text = b"".join(t for t, _ in parts)
    m = re.match(rb"\* \d+ FETCH .*?\bUID (\d+)", text, re.S)
    if not m:
        return b"".join(t + (lit or b"") for t, lit in parts)
    uid = int(m.group(1))
    answered[uid] = answered.get(uid, 0) + 1
    if uid in drop and answered[uid] > drop[uid]:
        return b""
    out = b""
    for t, lit in parts:
        if uid in size_of:
            t = re.sub(rb"RFC822\.SIZE \d+", b"RFC822.SIZE %d" % size_of[uid], t)
        if lit is not None:
            body = BODY.search(t[:LITERAL.search(t).start()])
            if body and uid in nil:
                t = t[:LITERAL.search(t).start()] + b"NIL"
                lit = None
                out += t
                continue
            if body and not body.group(1) and uid in nul and nul[uid] < len(lit):
                lit = lit[:nul[uid]] + b"\0" + lit[nul[uid] + 1:]
            if body and uid in cut:
                lit = lit[:cut[uid]]
                t = LITERAL.sub(b"{%d}\r\n" % len(lit), t)
        out += t + (lit or b"")
    return out


pending = b""
done = False
while not done and time.time() < deadline:
    r, _, _ = select.select([0, sout], [], [], 0.2)
    for fd in r:
        data = os.read(fd, 65536)
        if not data:
            done = True
            break
        if fd == 0:
            try:
                srv.stdin.write(data)
            except OSError:
                done = True
            continue
        pending += data
        whole, pending = responses(pending)
        try:
            for parts in whole:
                data = rewrite(parts)
                while data:
                    data = data[os.write(1, data):]
        except OSError:
            done = True
try:
    srv.stdin.close()
except OSError:
    pass
try:
    srv.wait(timeout=10)
except subprocess.TimeoutExpired:
    srv.kill()
    srv.wait()
