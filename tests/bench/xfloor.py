#!/usr/bin/env python3
"""xfloor.py — `make bench` helper (part xacct): the least an IMAP client
must do to move a folder to another account on another server: read each
message's text, flags and INTERNALDATE from the source, append them to the
target in MULTIAPPEND commands with LITERAL+ literals (batches of at most
8 MiB), then UID STORE \\Deleted + UID EXPUNGE the batch at the source. No
confirmation, no search for earlier copies, no safety checks: a floor to
put mailtool beside, not a tool.
usage: xfloor.py SRC-PORT SRC-CA SRC-USER SRC-PWFILE DST-PORT DST-CA DST-USER DST-PWFILE FOLDER TARGET
Prints "messages bytes" moved."""
import imaplib
import re
import ssl
import sys

(sport, sca, suser, spw, dport, dca, duser, dpw, folder, target) = sys.argv[1:11]


def login(port, ca, user, pwfile):
    with open(pwfile) as f:
        pw = f.read().strip()
    m = imaplib.IMAP4_SSL("localhost", int(port), ssl_context=ssl.create_default_context(cafile=ca))
    m.login(user, pw)
    return m


src, dst = login(sport, sca, suser, spw), login(dport, dca, duser, dpw)
dst.create(target)
typ, _ = src.select('"%s"' % folder)
assert typ == "OK", folder
uids = src.uid("SEARCH", "ALL")[1][0].split()
sizes = {}
for item in src.uid("FETCH", b",".join(uids).decode() if uids else "1", "(RFC822.SIZE)")[1]:
    mm = re.search(rb"UID (\d+) RFC822.SIZE (\d+)|RFC822.SIZE (\d+) UID (\d+)", item if isinstance(item, bytes) else item[0])
    if mm:
        u, s = (mm.group(1), mm.group(2)) if mm.group(1) else (mm.group(4), mm.group(3))
        sizes[u] = int(s)
moved = moved_bytes = 0
i = 0
while i < len(uids):
    batch, total = [], 0
    while i < len(uids) and (not batch or total + sizes.get(uids[i], 0) <= 8 << 20) and len(batch) < 100:
        batch.append(uids[i])
        total += sizes.get(uids[i], 0)
        i += 1
    msgs = []
    for item in src.uid("FETCH", b",".join(batch).decode(), "(FLAGS INTERNALDATE BODY.PEEK[])")[1]:
        if not isinstance(item, tuple):
            continue
        meta = item[0].decode()
        flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1).replace("\\Recent", "").strip()
        date = re.search(r'INTERNALDATE "([^"]*)"', meta).group(1)
        msgs.append((flags, date, item[1]))
    # one MULTIAPPEND, literals sent without waiting (LITERAL+)
    tag = dst._new_tag()
    cmd = tag + b" APPEND " + target.encode()
    for flags, date, body in msgs:
        cmd += b" (" + flags.encode() + b') "' + date.encode() + b'" {' + str(len(body)).encode() + b"+}\r\n" + body
    dst.send(cmd + b"\r\n")
    while True:
        line = dst.readline()
        if line.startswith(tag):
            if not line.split()[1] == b"OK":
                sys.exit("APPEND: %r" % line)
            break
    uidset = b",".join(batch).decode()
    src.uid("STORE", uidset, "+FLAGS.SILENT", "(\\Deleted)")
    src.uid("EXPUNGE", uidset)
    moved += len(msgs)
    moved_bytes += sum(len(b) for _, _, b in msgs)
src.logout()
dst.logout()
print(moved, moved_bytes)
