#!/usr/bin/env python3
"""imapfloor.py — `make bench` helper: the least any IMAP client must send for
the bench's filter job ("Subject contains invoice or facture -> Invoices;
larger than 1 MiB -> Big", first rule first): CREATE both folders, SELECT,
one UID SEARCH per rule, one UID MOVE per target. No confirmation of the
server's substring match, no safety checks, no state: a floor to put the
real tools beside, not a tool.
usage: imapfloor.py PORT CAFILE USER PASSWORD-FILE"""
import imaplib
import ssl
import sys

port, ca, user, pwfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with open(pwfile) as f:
    password = f.read().strip()
m = imaplib.IMAP4_SSL("localhost", port, ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, password)
for folder in ("Invoices", "Big"):
    m.create(folder)
m.select("INBOX")
inv = m.uid("SEARCH", "UNDELETED OR SUBJECT invoice SUBJECT facture")[1][0].split()
seen = set(inv)
big = [u for u in m.uid("SEARCH", "UNDELETED LARGER 1048576")[1][0].split() if u not in seen]
for uids, target in ((inv, "Invoices"), (big, "Big")):
    if uids:
        typ, _ = m.uid("MOVE", b",".join(uids).decode(), target)
        if typ != "OK":
            sys.exit("MOVE to %s: %s" % (target, typ))
m.logout()
