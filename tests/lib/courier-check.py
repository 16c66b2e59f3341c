#!/usr/bin/env python3
"""courier-check.py - an independent view of a Courier mailbox (python imaplib
over STARTTLS, standard library only) for tests/lib/courier.sh and
tests/courier.bats.  Never uses mailtool.

  courier-check.py --port P --ca CA --user U --password PW COMMAND [ARGS]

  manifest            folder messages bytes deleted seen flagged large (TSV, with
                      header; folder = IMAP name decoded to UTF-8; bytes = sum of
                      RFC822.SIZE; large = RFC822.SIZE > 1 MiB)
  count FOLDER        number of messages (SELECT EXISTS)
  bytes FOLDER        sum of RFC822.SIZE
  subjects FOLDER     one decoded Subject per line, UID order
  flagcount FOLDER FLAG   messages carrying FLAG (e.g. '\\Deleted')
  list                LIST "" "*" : one IMAP folder name per line (UTF-8)
  lsub                LSUB "" "*"
  quota               GETQUOTAROOT INBOX -> "usage limit" (STORAGE, KiB)
  caps                CAPABILITY after login, one per line
FOLDER arguments are UTF-8 IMAP names (INBOX.Projets.Été).
"""
import argparse
import email.header
import imaplib
import re
import ssl
import sys

from mutf7 import decode as mutf7_decode, encode as mutf7_encode  # tests/lib/mutf7.py


def quote(name):
    return '"' + mutf7_encode(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?P<sep>[^"]*)"|NIL) (?P<name>.*)$')


def parse_list(data):
    res = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # literal name
            m = LIST_RE.match(item[0].rstrip(b"{0123456789}").rstrip() + b" x")
            name = item[1]
        else:
            m = LIST_RE.match(item)
            name = m.group("name")
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        flags = m.group("flags").decode().split()
        res.append((mutf7_decode(name.decode()), flags))
    return res


def connect(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    c = imaplib.IMAP4(a.host, a.port, timeout=20)
    c.starttls(ssl_context=ctx)
    c.login(a.user, a.password)
    return c


def select(c, folder):
    typ, data = c.select(quote(folder), readonly=True)
    if typ != "OK":
        sys.exit("SELECT %s: %s" % (folder, data))
    return int(data[0])


def fetch_all(c, what):
    typ, data = c.uid("FETCH", "1:*", "(%s)" % what)
    if typ != "OK":
        sys.exit("FETCH: %s" % data)
    return [d for d in data if d is not None and d != b")"]


def sizes_flags(c, folder):
    n = select(c, folder)
    if n == 0:
        return []
    out = []
    for d in fetch_all(c, "RFC822.SIZE FLAGS"):
        if isinstance(d, tuple):
            d = d[0]
        m = re.search(rb"RFC822\.SIZE (\d+)", d)
        f = re.search(rb"FLAGS \(([^)]*)\)", d)
        u = re.search(rb"UID (\d+)", d)
        out.append((int(u.group(1)), int(m.group(1)), f.group(1).decode().split()))
    out.sort()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    c = connect(a)
    cmd = a.cmd
    if cmd == "manifest":
        typ, data = c.list('""', '"*"')
        folders = sorted(n for n, fl in parse_list(data) if "\\Noselect" not in fl and "\\NoSelect" not in fl)
        print("folder\tmessages\tbytes\tdeleted\tseen\tflagged\tlarge")
        for f in folders:
            sf = sizes_flags(c, f)
            print("%s\t%d\t%d\t%d\t%d\t%d\t%d" % (
                f, len(sf), sum(s for _, s, _ in sf),
                sum("\\Deleted" in fl for _, _, fl in sf),
                sum("\\Seen" in fl for _, _, fl in sf),
                sum("\\Flagged" in fl for _, _, fl in sf),
                sum(s > 1048576 for _, s, _ in sf)))
    elif cmd == "count":
        print(select(c, a.args[0]))
    elif cmd == "bytes":
        print(sum(s for _, s, _ in sizes_flags(c, a.args[0])))
    elif cmd == "sizes":
        for u, s, _ in sizes_flags(c, a.args[0]):
            print("%d\t%d" % (u, s))
    elif cmd == "flagcount":
        print(sum(a.args[1] in fl for _, _, fl in sizes_flags(c, a.args[0])))
    elif cmd == "subjects":
        if select(c, a.args[0]):
            for d in fetch_all(c, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"):
                if isinstance(d, tuple):
                    raw = d[1].decode("utf-8", "replace").strip()
                    raw = re.sub(r"^Subject:\s*", "", raw, flags=re.I).replace("\r\n", "")
                    print(str(email.header.make_header(email.header.decode_header(raw))))
    elif cmd in ("list", "lsub"):
        typ, data = (c.list if cmd == "list" else c.lsub)('""', '"*"')
        for n, fl in parse_list(data):
            print(n)
    elif cmd == "quota":
        typ, data = c.getquotaroot("INBOX")
        for d in data[1]:
            m = re.search(rb"STORAGE (\d+) (\d+)", d or b"")
            if m:
                print(m.group(1).decode(), m.group(2).decode())
    elif cmd == "caps":
        typ, data = c.capability()
        print("\n".join(data[0].decode().split()))
    else:
        sys.exit("unknown command " + cmd)
    c.logout()


if __name__ == "__main__":
    main()
