#!/usr/bin/env python3
"""mailset.py - the messages tests/interop.bats hands to real mail software.

Usage: mailset.py DIR

Writes DIR/NN.eml (LF line ends, as an MTA hands a message to procmail) and
DIR/index.tsv ("NN<TAB>Message-ID<TAB>what"): RFC 2047 subjects, body lines
"From ", ">From ", ">>From ", a message without a final newline, one that
ends in an empty line, 8-bit bodies (UTF-8 and Latin-1 bytes), and a 3 MB
base64 attachment. Each has a Received: field with the time it is written
(so a test can write each right before delivering it: mailset.py DIR N
writes only message N, with the current time).
"""
import base64
import email.utils
import os
import random
import sys
import time

out = sys.argv[1]
only = int(sys.argv[2]) if len(sys.argv) > 2 else None
os.makedirs(out, exist_ok=True)


def head(n, subject, extra=b""):
    now = email.utils.formatdate(time.time(), usegmt=False)
    return (b"Received: from mx.example.net by mail.example.org with ESMTP id %d;\n\t%s\n" % (n, now.encode())
            + b"Date: Tue, 1 Dec 2026 09:00:00 +0100\nFrom: Sender %d <s%d@example.net>\nTo: alice@example.org\n" % (n, n)
            + b"Message-ID: <set%d@example.net>\nSubject: " % n + subject + b"\n" + extra)


rng = random.Random(21)
blob = bytes(rng.getrandbits(8) for _ in range(3 << 20))
att = base64.encodebytes(blob)
msgs = [
    ("rfc2047", head(1, b"=?UTF-8?Q?R=C3=A9union_d=C3=A9cal=C3=A9e?= =?ISO-8859-1?Q?=E0_l=27=E9t=E9?=") + b"\nplain body\n"),
    ("from-lines", head(2, b"quoting") + b"\nFrom the start\n>From quoted\n>>From twice\nFromage\n \nFrom \n"),
    ("no-final-newline", head(3, b"no newline") + b"\nthe last line has no end"),
    ("empty-last-line", head(4, b"empty last line") + b"\nbody\n\n"),
    ("8bit", head(5, b"huit bits", b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                   b"Content-Transfer-Encoding: 8bit\n") + "\nÉté à Noël, garçon\n".encode() + b"latin-1 \xe9t\xe9\n"),
    ("quoted-only", head(6, b"quoted only") + b"\n>From a quoted line\n>>From another\n"),
    ("attachment", head(7, b"big", b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n")
     + b"\n--b1\nContent-Type: text/plain\n\nsee attached\n\n--b1\nContent-Type: application/octet-stream\n"
       b"Content-Transfer-Encoding: base64\n\n" + att + b"--b1--\n"),
]
with open(os.path.join(out, "index.tsv"), "w") as idx:
    for i, (what, data) in enumerate(msgs, 1):
        idx.write("%02d\t<set%d@example.net>\t%s\n" % (i, i, what))
        if only is None or only == i:
            with open(os.path.join(out, "%02d.eml" % i), "wb") as f:
                f.write(data)
