#!/usr/bin/env python3
"""cyrus-check.py - the private Cyrus's own view, for tests/lib/cyrus.sh and tests/cyrus.bats.

Python 3 standard library only; independent of mailtool.  Speaks IMAP over
implicit TLS to 127.0.0.1:$MT_CY_IMAPS_PORT (verifying $MT_CY_CA); users and
passwords: alice, bob and $MT_CY_ADMIN (see PASSWORDS).  Folder names on the
command line and in the output are UTF-8 as the user sees them (Cyrus with
altnamespace + unixhierarchysep: "INBOX", "Lists/dev", "Projets/Été").

  cyrus-check.py seed DIR SPEC          create users, quota, alice's fixture (cyrus.sh)
  cyrus-check.py manifest USER          folder messages bytes deleted seen flagged large
  cyrus-check.py status USER            folder messages bytes (every selectable folder)
  cyrus-check.py count USER FOLDER [SEARCH...]   number of messages (matching SEARCH)
  cyrus-check.py size USER FOLDER       sum of RFC822.SIZE
  cyrus-check.py sizes USER FOLDER      RFC822.SIZE of each message, one a line
  cyrus-check.py unseen USER            folder<TAB>SEARCH UNSEEN count, every selectable folder (sorted)
  cyrus-check.py folders USER           LIST "" "*": name<TAB>flags (sorted)
  cyrus-check.py subscribed USER        LSUB "" "*" names (sorted)
  cyrus-check.py subscriptions USER     LIST (SUBSCRIBED) "" "*": name<TAB>ok|gone (sorted); Cyrus 3.6's
                                        LSUB leaves out subscriptions whose folder is gone, this does not
  cyrus-check.py quota USER             ROOT<TAB>RESOURCE<TAB>USAGE<TAB>LIMIT from GETQUOTAROOT INBOX
  cyrus-check.py adminquota ROOT        the same from the admin's GETQUOTA ROOT
  cyrus-check.py setquota ROOT KB       admin SETQUOTA ROOT (STORAGE KB); KB '-' = none
  cyrus-check.py clone USER SRC DST     CREATE DST, COPY 1:* from SRC (flags, dates kept)
  cyrus-check.py delete USER FOLDER...  DELETE + UNSUBSCRIBE (missing folders are fine; special-use too)
  cyrus-check.py subscribe USER FOLDER... / unsubscribe USER FOLDER...
  cyrus-check.py dates USER FOLDER      INTERNALDATE of every message, one epoch a line
  cyrus-check.py create USER FOLDER [USE]        CREATE (USE (\\Trash) etc. when USE is given)
  cyrus-check.py rmfolder USER FOLDER...         DELETE only: the subscription stays (as a client's would)
  cyrus-check.py xcopy SRCUSER SRC DSTUSER DST [USE]   CREATE DST for DSTUSER, APPEND every message
                                        of SRC with its flags and INTERNALDATE (across users)
  cyrus-check.py append USER FOLDER DAYS_AGO [FLAG...]  APPEND one small message, INTERNALDATE
                                        DAYS_AGO days ago, with FLAGs (e.g. \\Flagged)
"""

import calendar
import os
import re
import socket
import ssl
import sys

import time

from mutf7 import decode as mutf7_decode, encode as mutf7_encode  # tests/lib/mutf7.py

HOST = "127.0.0.1"
PASSWORDS = {"alice": "alice-secret-pw", "bob": "bob-secret-pw"}
LARGE = 1024 * 1024


# ---------------------------------------------------------------- mUTF-7

def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def qbox(name):
    return quote(mutf7_encode(name))


# ---------------------------------------------------------------- client

class Imap:
    def __init__(self, port=None, ca=None, timeout=30):
        port = int(port or os.environ["MT_CY_IMAPS_PORT"])
        ca = ca or os.environ["MT_CY_CA"]
        ctx = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection((HOST, port), timeout=timeout)
        self.s = ctx.wrap_socket(raw, server_hostname=HOST)
        self.f = self.s.makefile("rb")
        self.n = 0
        g = self.f.readline()
        if not g.startswith(b"* OK"):
            raise SystemExit("cyrus-check: bad greeting %r" % g)

    def _readresp(self):
        """one response line with its literals joined in: bytes"""
        line = self.f.readline()
        if not line:
            raise SystemExit("cyrus-check: connection closed")
        out = line
        while True:
            m = re.search(rb"\{(\d+)\}\r\n$", out)
            if not m:
                break
            data = self.f.read(int(m.group(1)))
            out = out[:m.start()] + quote(data.decode("utf-8", "replace")).encode() + b" " + self.f.readline()
        return out.rstrip(b"\r\n")

    def send_raw(self, payload):
        self.s.sendall(payload)

    def tag(self):
        self.n += 1
        return "c%d" % self.n

    def wait(self, tag, ok=True):
        untagged = []
        while True:
            r = self._readresp()
            if r.startswith(tag.encode() + b" "):
                st = r[len(tag) + 1:].decode("utf-8", "replace")
                if ok and not st.startswith("OK"):
                    raise SystemExit("cyrus-check: %s -> %s" % (self.last, st))
                return st, untagged
            if r.startswith(b"+"):
                continue
            untagged.append(r.decode("utf-8", "replace"))

    def cmd(self, text, ok=True):
        t = self.tag()
        self.last = text
        self.s.sendall(("%s %s\r\n" % (t, text)).encode())
        return self.wait(t, ok)

    def fetch_raw(self, seq):
        """(flags string, internaldate string, message bytes) of message seq of the selected folder"""
        t = self.tag()
        self.last = "FETCH %d" % seq
        self.s.sendall(("%s FETCH %d (FLAGS INTERNALDATE BODY.PEEK[])\r\n" % (t, seq)).encode())
        flags = date = data = None
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit("cyrus-check: connection closed")
            if line.startswith(t.encode() + b" "):
                if not line[len(t) + 1:].startswith(b"OK"):
                    raise SystemExit("cyrus-check: %s -> %r" % (self.last, line))
                return flags, date, data
            head = line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                data = self.f.read(int(m.group(1)))
                head = line + self.f.readline()
            fl = re.search(rb"FLAGS \(([^)]*)\)", head)
            if fl:
                flags = fl.group(1).decode()
            dt = re.search(rb'INTERNALDATE "([^"]+)"', head)
            if dt:
                date = dt.group(1).decode()

    def append(self, folder, flags, date, data):
        t = self.tag()
        self.last = "APPEND " + folder
        self.s.sendall(("%s APPEND %s (%s) %s {%d+}\r\n" % (t, qbox(folder), flags, quote(date), len(data))).encode()
                       + data + b"\r\n")
        self.wait(t)

    def login(self, user, pw):
        self.cmd("LOGIN %s %s" % (quote(user), quote(pw)))
        return self

    def close(self):
        try:
            self.cmd("LOGOUT", ok=False)
        except (SystemExit, OSError):
            pass
        self.s.close()


def admin_creds():
    return os.environ.get("MT_CY_ADMIN", "admin"), os.environ.get("MT_CY_ADMIN_PW", "admin-secret-pw")


def session(user):
    if user == "admin" or user == admin_creds()[0]:
        u, p = admin_creds()
    else:
        u, p = user, PASSWORDS[user]
    return Imap().login(u, p)


LIST_RE = re.compile(r'^\* (LIST|LSUB) \(([^)]*)\) (NIL|"(?:[^"\\]|\\.)*") (.*)$')


def unq(s):
    if s.startswith('"'):
        return re.sub(r"\\(.)", r"\1", s[1:-1])
    return s


def list_folders(c, cmd='LIST "" "*"'):
    _, un = c.cmd(cmd)
    res = []
    for line in un:
        m = LIST_RE.match(line)
        if m:
            res.append((mutf7_decode(unq(m.group(4))), m.group(2)))
    return sorted(res)


def selectable(c):
    return [n for n, fl in list_folders(c) if "\\noselect" not in fl.lower() and "\\nonexistent" not in fl.lower()]


FETCH_RE = re.compile(r"^\* (\d+) FETCH \((.*)\)$")


def fetch_meta(c, folder):
    """[(flags set, size, internaldate epoch)] for every message of folder"""
    _, un = c.cmd("EXAMINE %s" % qbox(folder))
    exists = 0
    for line in un:
        m = re.match(r"^\* (\d+) EXISTS", line)
        if m:
            exists = int(m.group(1))
    if exists == 0:
        return []
    _, un = c.cmd("FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE)")
    res = []
    for line in un:
        m = FETCH_RE.match(line)
        if not m:
            continue
        body = m.group(2)
        fl = re.search(r"FLAGS \(([^)]*)\)", body)
        sz = re.search(r"RFC822\.SIZE (\d+)", body)
        dt = re.search(r'INTERNALDATE "([^"]+)"', body)
        epoch = 0
        if dt:
            tt = time.strptime(dt.group(1)[:20].strip(), "%d-%b-%Y %H:%M:%S")
            off = dt.group(1)[21:].strip()
            sign = -1 if off.startswith("-") else 1
            epoch = calendar.timegm(tt) - sign * (int(off[1:3]) * 3600 + int(off[3:5]) * 60)
        res.append((set(fl.group(1).lower().split()) if fl else set(), int(sz.group(1)) if sz else 0, epoch))
    c.cmd("UNSELECT", ok=False)   # never CLOSE: it would expunge
    return res


def manifest_lines(c):
    out = ["folder\tmessages\tbytes\tdeleted\tseen\tflagged\tlarge"]
    for f in selectable(c):
        meta = fetch_meta(c, f)
        out.append("%s\t%d\t%d\t%d\t%d\t%d\t%d" % (
            f, len(meta), sum(m[1] for m in meta),
            sum(1 for m in meta if "\\deleted" in m[0]),
            sum(1 for m in meta if "\\seen" in m[0]),
            sum(1 for m in meta if "\\flagged" in m[0]),
            sum(1 for m in meta if m[1] > LARGE)))
    return out


def quota_lines(un):
    out = []
    for line in un:
        m = re.match(r'^\* QUOTA ("(?:[^"\\]|\\.)*"|\S+) \((.*)\)$', line)
        if m:
            root = mutf7_decode(unq(m.group(1)))
            toks = m.group(2).split()
            for i in range(0, len(toks) - 2, 3):
                out.append("%s\t%s\t%s\t%s" % (root, toks[i], toks[i + 1], toks[i + 2]))
    return out


# ---------------------------------------------------------------- seeding

SPECIAL = {"Sent": "\\Sent", "Trash": "\\Trash", "Junk": "\\Junk", "Archive": "\\Archive", "Drafts": "\\Drafts"}
FLAGMAP = {"S": "\\Seen", "F": "\\Flagged", "T": "\\Deleted", "R": "\\Answered", "D": "\\Draft"}


def idate(epoch):
    return time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(epoch))


def seed(d, quota_kb, bob_quota_kb):
    adm = session("admin")
    for u in ("alice", "bob"):
        adm.cmd("CREATE %s" % quote("user/" + u))
    adm.cmd("SETQUOTA %s (STORAGE %d)" % (quote("user/alice"), int(quota_kb)))
    adm.cmd("SETQUOTA %s (STORAGE %d)" % (quote("user/bob"), int(bob_quota_kb)))
    adm.close()
    for u in ("alice", "bob"):
        root = os.path.join(d, "gen", u)
        paths = {}
        for dp, _, files in os.walk(root):
            for fn in files:
                paths[fn] = os.path.join(dp, fn)
        per = {}
        order = []
        with open(os.path.join(d, "gen", u + ".index.tsv"), encoding="utf-8") as fh:
            next(fh)
            for line in fh:
                f = line.rstrip("\n").split("\t")
                if f[0] not in per:
                    per[f[0]] = []
                    order.append(f[0])
                per[f[0]].append((f[2], int(f[4])))
        c = session(u)
        for folder in order:
            if folder != "INBOX":
                use = SPECIAL.get(folder)
                c.cmd("CREATE %s%s" % (qbox(folder), " (USE (%s))" % use if use else ""))
            c.cmd("SUBSCRIBE %s" % qbox(folder))
        for folder in order:
            # one MULTIAPPEND per folder with LITERAL+: no round trips
            t = c.tag()
            c.last = "APPEND " + folder
            chunks = [("%s APPEND %s" % (t, qbox(folder))).encode()]
            for fn, epoch in per[folder]:
                with open(paths[fn], "rb") as fh:
                    data = fh.read()
                fl = fn.rsplit(":2,", 1)[1] if ":2," in fn else ""
                flags = " ".join(FLAGMAP[x] for x in fl if x in FLAGMAP)
                chunks.append((" (%s) %s {%d+}\r\n" % (flags, quote(idate(epoch)), len(data))).encode())
                chunks.append(data)
            chunks.append(b"\r\n")
            c.send_raw(b"".join(chunks))
            c.wait(t)
        # Cyrus 3.6 makes the parents (Lists, Projets) real, selectable folders: subscribe them too
        for folder in selectable(c):
            c.cmd("SUBSCRIBE %s" % qbox(folder))
        c.close()
    c = session("alice")
    with open(os.path.join(d, "alice.manifest.tsv"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(manifest_lines(c)) + "\n")
    c.close()
    c = session("bob")
    with open(os.path.join(d, "bob.manifest.tsv"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(manifest_lines(c)) + "\n")
    c.close()


# ---------------------------------------------------------------- main

def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    op, a = argv[1], argv[2:]
    if op == "seed":
        seed(a[0], a[1], a[2])
        return
    if op in ("adminquota", "setquota"):
        c = session("admin")
        if op == "adminquota":
            _, un = c.cmd("GETQUOTA %s" % qbox(a[0]))
            print("\n".join(quota_lines(un)))
        else:
            c.cmd("SETQUOTA %s (%s)" % (qbox(a[0]), "" if a[1] == "-" else "STORAGE %d" % int(a[1])))
        c.close()
        return
    if op == "xcopy":
        src = session(a[0])
        dst = session(a[2])
        dst.cmd("CREATE %s%s" % (qbox(a[3]), " (USE (%s))" % a[4] if len(a) > 4 else ""))
        _, un = src.cmd("EXAMINE %s" % qbox(a[1]))
        exists = 0
        for line in un:
            m = re.match(r"^\* (\d+) EXISTS", line)
            if m:
                exists = int(m.group(1))
        for i in range(1, exists + 1):
            flags, date, data = src.fetch_raw(i)
            flags = " ".join(f for f in (flags or "").split() if f.lower() != "\\recent")
            dst.append(a[3], flags, date, data)
        src.cmd("UNSELECT", ok=False)
        src.close()
        dst.close()
        return
    c = session(a[0])
    if op == "manifest":
        print("\n".join(manifest_lines(c)))
    elif op == "status":
        for f in selectable(c):
            meta = fetch_meta(c, f)
            print("%s\t%d\t%d" % (f, len(meta), sum(m[1] for m in meta)))
    elif op == "count":
        _, un = c.cmd("EXAMINE %s" % qbox(a[1]))
        crit = " ".join(a[2:]) or "ALL"
        _, un = c.cmd("SEARCH %s" % crit)
        n = 0
        for line in un:
            if line.startswith("* SEARCH"):
                n += len(line.split()) - 2
        print(n)
    elif op == "unseen":
        for f in selectable(c):
            c.cmd("EXAMINE %s" % qbox(f))
            _, un = c.cmd("SEARCH UNSEEN")
            n = sum(len(x.split()) - 2 for x in un if x.startswith("* SEARCH"))
            c.cmd("UNSELECT", ok=False)
            print("%s\t%d" % (f, n))
    elif op == "size":
        print(sum(m[1] for m in fetch_meta(c, a[1])))
    elif op == "sizes":
        for m in fetch_meta(c, a[1]):
            print(m[1])
    elif op == "dates":
        for m in fetch_meta(c, a[1]):
            print(m[2])
    elif op == "folders":
        for n, fl in list_folders(c):
            print("%s\t%s" % (n, fl))
    elif op == "subscribed":
        for n, fl in list_folders(c, 'LSUB "" "*"'):
            print(n)
    elif op == "subscriptions":
        for n, fl in list_folders(c, 'LIST (SUBSCRIBED) "" "*"'):
            print("%s\t%s" % (n, "gone" if "\\nonexistent" in fl.lower() else "ok"))
    elif op == "quota":
        _, un = c.cmd("GETQUOTAROOT INBOX")
        print("\n".join(quota_lines(un)))
    elif op == "clone":
        c.cmd("CREATE %s" % qbox(a[2]))
        _, un = c.cmd("EXAMINE %s" % qbox(a[1]))   # read-only: CLOSE/UNSELECT never expunge
        if not any(re.match(r"^\* 0 EXISTS", x) for x in un):
            c.cmd("COPY 1:* %s" % qbox(a[2]))
        c.cmd("UNSELECT", ok=False)
    elif op == "delete":
        for f in a[1:]:   # Cyrus 3.6 keeps the subscription of a deleted folder
            st, _ = c.cmd("DELETE %s" % qbox(f), ok=False)
            if "SPECIAL-USE" in st:   # a special-use folder: take the flag off first
                c.cmd("SETMETADATA %s (/private/specialuse NIL)" % qbox(f), ok=False)
                c.cmd("DELETE %s" % qbox(f), ok=False)
            c.cmd("UNSUBSCRIBE %s" % qbox(f), ok=False)
    elif op == "create":
        c.cmd("CREATE %s%s" % (qbox(a[1]), " (USE (%s))" % a[2] if len(a) > 2 else ""))
    elif op == "rmfolder":
        for f in a[1:]:
            c.cmd("DELETE %s" % qbox(f))
    elif op == "append":
        epoch = int(time.time()) - int(float(a[2]) * 86400)
        body = ("From: checker <checker@example.org>\r\nTo: %s@example.org\r\n"
                "Subject: appended %s days ago\r\nDate: %s\r\n"
                "Message-ID: <check-%d-%d@example.org>\r\n\r\nappended by cyrus-check.py\r\n" % (
                    a[0], a[2], time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(epoch)),
                    epoch, os.getpid())).encode()
        c.append(a[1], " ".join(a[3:]), idate(epoch), body)
    elif op in ("subscribe", "unsubscribe"):
        for f in a[1:]:
            c.cmd("%s %s" % (op.upper(), qbox(f)), ok=False)
    else:
        sys.exit("cyrus-check: unknown command %s" % op)
    c.close()


if __name__ == "__main__":
    main(sys.argv)
