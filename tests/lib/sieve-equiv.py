#!/usr/bin/env python3
"""The delivery equivalence test's helper (tests/sieve-deliver.bats): the
generated messages, their delivery over LMTP, and where each one ended up in
the server's own view. Python 3 standard library only; every socket has a
timeout and every loop a bound.

  sieve-equiv.py gen DIR BASE              the messages, DIR/NNN.eml; BASE: the raw size
                                           the size group is built around (BASE-2 .. BASE+2),
                                           its middle one also alone in DIR/mid/
  sieve-equiv.py lmtp PORT USER TAG DIR    deliver every DIR/*.eml to USER, Message-ID
                                           <TAG-NNN@eq.example> (TAG: one letter and digits,
                                           the same length for the two runs compared)
  sieve-equiv.py drop RULES OUT NAME...    RULES without the rules NAME... (libconfig text)
  sieve-equiv.py dovecot TAG < doveadm -f tab fetch "mailbox hdr.message-id flags size.virtual" all
  sieve-equiv.py imap USER PASSWORD TAG    the same from Cyrus over implicit TLS
                                           ($MT_CY_IMAPS_PORT, $MT_CY_CA)
      -> "NNN<TAB>FOLDER{flags} FOLDER{flags}<TAB>SIZE" for each message NNN of TAG,
         sorted; flags lower-case and sorted, \\Recent left out; SIZE the size of
         its copy in INBOX or else of any copy (0 when it is gone)
"""
import base64
import email.header
import os
import re
import smtplib
import socket
import ssl
import sys

DOMAIN = "eq.example"


def qp_word(text, charset="utf-8"):
    return email.header.Header(text, charset).encode(maxlinelen=998)


def b_word(text):
    return "=?utf-8?b?%s?=" % base64.b64encode(text.encode()).decode()


def multipart(text, cte):
    body = text.encode("utf-8")
    enc = base64.encodebytes(body).decode() if cte == "base64" else \
        re.sub(r"[^\x20-\x3c\x3e-\x7e\n]", lambda m: "".join("=%02X" % b for b in m.group().encode()), text)
    return ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b-eq\"\r\n",
            "--b-eq\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n\r\n%s\r\n"
            "--b-eq\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
            "--b-eq--\r\n" % (cte, enc.replace("\n", "\r\n"), base64.encodebytes(b"\x00\x01" * 40).decode().replace("\n", "\r\n")))


def messages(base):
    """(headers, body) pairs; Message-ID is added at delivery."""
    m = []
    subj = [
        # RFC 2047 subjects, both encodings, several charsets, split words
        "Subject: " + b_word("Facture n°7 à régler"),
        "Subject: =?ISO-8859-1?Q?Rechnung_f=FCr_M=E4rz?=",
        "Subject: " + qp_word("Receipt for your order"),
        "Subject: =?utf-8?q?Your_INVOICE?= =?utf-8?q?_is_ready?=",
        "Subject: =?utf-8?q?re=0Dchnung?=",
        "Subject: " + b_word("日本語のテスト"),
        "Subject: =?utf-8?q?[PATCH_1/3]_R=C3=A9union?=",
        # folded headers, a fold that starts the value, the obsolete blank
        "Subject: Your\r\n\tinvoice\r\n 42",
        "Subject:\r\n [PATCH 2/3] starts with a fold",
        "Subject : invoice with a blank before the colon",
        "Subject: [PATCH] no count",
        "Subject: keep me",
        "Subject: KEEP ME",
        "Subject: plain words",
    ]
    for s in subj:
        m.append((s + "\r\nFrom: Sender <s@example.org>\r\n", "hello\r\n"))
    lists = [
        "List-Id: Dev list <dev.lists.example.org>",
        "List-Id: Dev list\r\n  <dev.lists.example.org>",
        "List-Id: <announce.example.org>",
        "List-Id: =?utf-8?q?Annonces?= <announce.example.org>",
        "List-Id: other <other.example.net>\r\nList-Post: <mailto:other@example.net>",
        "List-ID: <DEV.LISTS.EXAMPLE.ORG>",
    ]
    for i, l in enumerate(lists):
        m.append(("Subject: list mail %d\r\nFrom: list@example.net\r\n%s\r\n" % (i, l), "list\r\n"))
    froms = [
        "From: \"=?utf-8?b?%s?=\" <b@example.com>" % base64.b64encode("Boulangerie Café".encode()).decode(),
        "From: =?utf-8?q?Boulangerie?= <b@example.com>",
        "From: \"Boulangerie\" <b@example.com>",
        "From: billing <invoices@billing.example.com>",
        "From: Spammer <s@spam.example>\r\nX-Spam-Flag: YES",
        "From: Boss <boss@example.org>\r\nX-Priority: 1 (Highest)",
    ]
    for f in froms:
        m.append(("Subject: hello\r\n%s\r\n" % f, "hi\r\n"))
    # multipart bodies with encoded text (the body rules are refused for
    # delivery; these weigh in the size rules and carry encoded headers)
    for i, (text, cte) in enumerate((("Montant dû : 120 €\nfacture jointe\n", "quoted-printable"),
                                     ("Rechnung über 80 €\n" * 30, "base64"))):
        h, b = multipart(text, cte)
        m.append(("Subject: " + qp_word("pièce jointe %d" % i) + "\r\nFrom: a@example.org\r\n" + h, b))
    # sizes around the threshold: BASE-2 .. BASE+2 bytes as delivered
    for d in (-2, -1, 0, 1, 2):
        m.append(("Subject: size %+d\r\nFrom: sizer@example.org\r\n" % d, None, base + d))
    return m


def build(n, item):
    head, body = item[0], item[1]
    date = "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nTo: someone@example.org\r\n"
    text = head + date
    if body is None:
        # the Message-ID "<TAG-NNN@eq.example>\r\n" is added in front, 25 bytes for a 3-char tag
        fixed = len(text.encode()) + len("Message-ID: <X00-000@%s>\r\n" % DOMAIN) + 2
        pad = item[2] - fixed - 2
        if pad < 1:
            raise SystemExit("BASE too small")
        body = "x" * pad + "\r\n"
    return (text + "\r\n" + body).encode()


def gen(d, base):
    os.makedirs(d, exist_ok=True)
    for n, item in enumerate(messages(base), 1):
        with open(os.path.join(d, "%03d.eml" % n), "wb") as f:
            f.write(build(n, item))
        if len(item) == 3 and item[2] == base:
            # the size group's middle message alone, to learn the size the
            # server gives it: DIR/mid/NNN.eml
            os.makedirs(os.path.join(d, "mid"), exist_ok=True)
            with open(os.path.join(d, "mid", "%03d.eml" % n), "wb") as f:
                f.write(build(n, item))


def lmtp(port, user, tag, d):
    names = sorted(x for x in os.listdir(d) if x.endswith(".eml"))[:500]
    for name in names:
        raw = open(os.path.join(d, name), "rb").read()
        mid = "Message-ID: <%s-%s@%s>\r\n" % (tag, name[:3], DOMAIN)
        # one session a message: Dovecot numbers the transactions of a
        # session in its Received field (id ...:T31), which would change
        # the size a message is given by where it came in the run
        s = smtplib.LMTP("127.0.0.1", int(port), timeout=20)
        try:
            refused = s.sendmail("sender@example.org", [user], mid.encode() + raw)
            if refused:
                raise SystemExit("LMTP refused %s: %r" % (name, refused))
        finally:
            s.quit()
    print(len(names))


def drop(rules, out, names):
    """Remove each '{ name = "X"; ... }' group (with its comma) from the list."""
    text = open(rules).read()
    for name in names:
        at = text.find('{ name = "%s";' % name)
        if at < 0:
            raise SystemExit("no rule %s in %s" % (name, rules))
        depth, i, instr = 0, at, False
        while i < len(text):
            c = text[i]
            if instr:
                if c == "\\":
                    i += 1
                elif c == '"':
                    instr = False
            elif c == '"':
                instr = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        end = i + 1
        # the comma after it, or else the one before it
        m = re.match(r"\s*,", text[end:])
        if m:
            end += m.end()
        else:
            before = text[:at].rstrip()
            if before.endswith(","):
                at = len(before) - 1
        text = text[:at] + text[end:]
    # a comma left before the list's end (comments may stand between)
    text = re.sub(r",((?:\s|#[^\n]*)*)\)(\s*;)", r"\1)\2", text)
    with open(out, "w") as f:
        f.write(text)


def report(rows, tag):
    """rows: (folder, message-id, flags list, size)"""
    per = {}
    for folder, mid, flags, size in rows:
        mm = re.fullmatch(r"<?%s-(\d{3})@%s>?" % (re.escape(tag), re.escape(DOMAIN)), mid.strip())
        if not mm:
            continue
        per.setdefault(mm.group(1), []).append((folder, flags, size))
    for n in sorted(per):
        places = per[n]
        line = " ".join(sorted("%s{%s}" % (f, " ".join(sorted(x.lower() for x in fl if x.lower() != "\\recent")))
                               for f, fl, _ in places))
        inbox = [s for f, _, s in places if f == "INBOX"]
        print("%s\t%s\t%s" % (n, line, (inbox or [places[0][2]])[0]))


def dovecot(tag):
    rows = []
    lines = sys.stdin.read().splitlines()
    for raw in lines[1:]:
        cols = raw.split("\t")
        if len(cols) >= 4:
            rows.append((cols[0], cols[1], cols[2].split(), int(cols[3] or 0)))
    report(rows, tag)


def imap(user, password, tag):
    ctx = ssl.create_default_context(cafile=os.environ["MT_CY_CA"])
    import imaplib
    m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["MT_CY_IMAPS_PORT"]), ssl_context=ctx, timeout=20)
    m.login(user, password)
    typ, data = m.list('""', "*")
    rows = []
    for entry in data[:1000]:
        line = entry.decode()
        if "\\Noselect" in line:
            continue
        name = re.match(r'\(.*?\) (?:"."|NIL) (.*)$', line).group(1)
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        typ, _ = m.select('"%s"' % name.replace("\\", "\\\\").replace('"', '\\"'), readonly=True)
        if typ != "OK":
            raise SystemExit("cannot select %s" % name)
        typ, d = m.fetch("1:*", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for part in d:
            if not isinstance(part, tuple):
                continue
            meta, hdr = part[0].decode(), part[1].decode(errors="replace")
            flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
            size = int(re.search(r"RFC822\.SIZE (\d+)", meta).group(1))
            mid = re.search(r"(?im)^message-id:\s*(\S+)", hdr)
            if mid:
                rows.append((name, mid.group(1), flags, size))
    m.logout()
    report(rows, tag)


if __name__ == "__main__":
    socket.setdefaulttimeout(20)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0], int(args[1]))
    elif cmd == "lmtp":
        lmtp(*args)
    elif cmd == "drop":
        drop(args[0], args[1], args[2:])
    elif cmd == "dovecot":
        dovecot(args[0])
    elif cmd == "imap":
        imap(*args)
    else:
        raise SystemExit(__doc__)
