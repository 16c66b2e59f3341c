#!/usr/bin/env python3
"""lmtp-deliver.py PORT USER COUNT [options] — deliver COUNT messages to USER
by LMTP on 127.0.0.1:PORT (the suite's Dovecot, MT_LMTP_PORT), all over one
connection unless --each is given.

  --subject FMT     subject of message i (printf-style %d: its number, from
                    --start); default "Invoice %d"
  --start N         the number of the first message (default 1)
  --every K:FMT     every K-th message takes the subject FMT instead
  --latency DIR     after each delivery, wait until DIR (a Maildir folder:
                    new/ + cur/) holds one file more, and print the delay in
                    milliseconds, one line per message ("timeout" after 10 s)
  --pause MS        between deliveries (with --latency: after the file is seen)

Bounded: every socket operation times out after 20 s; --latency waits at
most 10 s per message."""
import os
import socket
import sys
import time

args = sys.argv[1:]
port, user, count = int(args[0]), args[1], int(args[2])
opts = {"--subject": "Invoice %d", "--start": "1", "--every": None, "--latency": None, "--pause": "0"}
i = 3
while i < len(args):
    opts[args[i]] = args[i + 1]
    i += 2
start = int(opts["--start"])
every = None
if opts["--every"]:
    k, fmt = opts["--every"].split(":", 1)
    every = (int(k), fmt)


class Lmtp:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.f = self.s.makefile("rb")
        self.reply()
        self.cmd("LHLO localhost")

    def reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit("lmtp: connection closed")
            if line[3:4] != b"-":
                if line[:1] not in (b"2", b"3"):
                    raise SystemExit("lmtp: " + line.decode(errors="replace").strip())
                return line

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n")
        return self.reply()

    def deliver(self, subject, n):
        self.cmd("MAIL FROM:<sender@example.org>")
        self.cmd("RCPT TO:<%s>" % user)
        self.cmd("DATA")
        msg = ("From: Sender <sender@example.org>\r\nTo: %s@example.org\r\nSubject: %s\r\n"
               "Message-ID: <watch-%d-%d@example.org>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\n"
               "message %d\r\n.\r\n") % (user, subject, n, os.getpid(), n)
        self.s.sendall(msg.encode())
        self.reply()


def files(d):
    return sum(len(os.listdir(os.path.join(d, s))) for s in ("new", "cur") if os.path.isdir(os.path.join(d, s)))


c = Lmtp()
for n in range(start, start + count):
    subj = every[1] if every and (n - start + 1) % every[0] == 0 else opts["--subject"]
    subj = subj % n if "%d" in subj else subj
    before = files(opts["--latency"]) if opts["--latency"] else 0
    c.deliver(subj, n)
    t0 = time.monotonic()   # LMTP has confirmed the delivery
    if opts["--latency"]:
        end = t0 + 10
        while files(opts["--latency"]) <= before and time.monotonic() < end:
            time.sleep(0.001)
        print("%.1f" % ((time.monotonic() - t0) * 1000) if files(opts["--latency"]) > before else "timeout", flush=True)
    if float(opts["--pause"]) > 0:
        time.sleep(float(opts["--pause"]) / 1000)
c.cmd("QUIT")
