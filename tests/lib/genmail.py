#!/usr/bin/env python3
"""genmail.py - deterministic (seeded) Maildir fixture generator for mailtool tests.

Python 3 standard library only.  The same arguments always produce byte-identical
files with identical names and mtimes (no pid, hostname or wall clock is used).

Usage:
  genmail.py --maildir PATH [--seed N] [--preset NAME] [--folders SPEC]
             [--inbox-count N] [--large N] [--ref-date YYYY-MM-DD] [--years N]
             [--user NAME] [--manifest FILE|-] [--index FILE] [--lf]

  --maildir PATH     Maildir root of ONE user (e.g. ~/Maildir).  INBOX is PATH
                     itself, other folders are Maildir++ subfolders
                     PATH/.<name>, hierarchy separator '/' on the IMAP side is
                     '.' on disk, non-ASCII names are modified UTF-7
                     ("Projets/Été" -> ".Projets.&AMk-t&AOk-").  Created if missing.
                     Existing files are left alone (use an empty PATH).
  --seed N           RNG seed (default 1).  Each folder uses its own RNG derived
                     from (seed, folder name), so changing one folder's count
                     does not change the other folders.
  --preset NAME      standard | demo | small | empty   (default: standard)
                       standard: INBOX=300,Sent=80,Drafts=5,Trash=20,Junk=30,
                                 Archive=100,Lists/dev=40,Lists/announce=15,
                                 Projets/Été=6,Old Stuff=4            (600 msgs)
                       demo:     same folders, 3000 msgs in total
                       small:    INBOX=25,Bobs=3
                       empty:    no messages (an empty INBOX Maildir)
  --folders SPEC     Overrides the preset: comma separated NAME=COUNT list, e.g.
                     "INBOX=10,Lists/dev=5,Old Stuff=2".  Names use '/' as the
                     hierarchy separator, are UTF-8, and must not contain
                     ',', '=', '.', '~' or control characters.
  --inbox-count N    Override the INBOX count of the preset/spec.
  --large N          Number of large (1-3 MiB) multipart messages with a base64
                     attachment, spread over INBOX/Archive/Sent/other personal
                     folders.  Default: min(8, total // 100).
  --ref-date D       Fixed reference date (UTC midnight), default 2026-11-01.
                     Message dates are spread over the --years (default 3)
                     years before it.
  --user NAME        Mailbox owner (default: alice) -> NAME@example.org.
  --manifest FILE    Write the per-folder manifest (TSV) to FILE ('-' = stdout,
                     the default).  Columns (header line first):
                       folder messages bytes deleted seen flagged large
                     bytes = sum of file sizes (= RFC822.SIZE / vsize with CRLF).
                     deleted = messages carrying \\Deleted (maildir flag T).
  --index FILE       Also write a per-message TSV:
                       folder n filename size epoch flags message_id subject
                     (n = 1-based position in the folder = UID order on a fresh
                     import; subject is the decoded UTF-8 subject).
  --lf               Use LF line endings instead of CRLF (W= then differs from S=).

Message properties: From/To/Cc/Date/Message-ID/Subject/MIME-Version/
Content-Type (+ List-Id/List-Post/Precedence in Lists/* folders, In-Reply-To/
References for replies); ~10% subjects RFC 2047 base64 UTF-8, ~5% quoted-
printable ISO-8859-1; text/plain (utf-8 8bit, ISO-8859-1 QP), multipart/
alternative, multipart/mixed with a base64 attachment; sizes ~1 KB .. ~100 KB
plus the large ones.  File mtime == Date: header (Dovecot's INTERNALDATE).
Flags: ~5% T (\\Deleted), S (\\Seen) per folder type, ~5% F (\\Flagged),
some R (\\Answered), D (\\Draft) in Drafts.  File names:
  <epoch>.M<seq>P<seed>.mailtool,S=<size>,W=<vsize>:2,<flags>
"""

import argparse
import base64
import binascii
import datetime as dt
import os
import random
import sys

from mutf7 import encode as mutf7  # tests/lib/mutf7.py

PRESETS = {
    "standard": [("INBOX", 300), ("Sent", 80), ("Drafts", 5), ("Trash", 20),
                 ("Junk", 30), ("Archive", 100), ("Lists/dev", 40),
                 ("Lists/announce", 15), ("Projets/Été", 6), ("Old Stuff", 4)],
    "demo": [("INBOX", 1500), ("Sent", 400), ("Drafts", 10), ("Trash", 60),
             ("Junk", 100), ("Archive", 600), ("Lists/dev", 250),
             ("Lists/announce", 60), ("Projets/Été", 12), ("Old Stuff", 8)],
    "small": [("INBOX", 25), ("Bobs", 3)],
    "empty": [],
}

WORDS = """the a of to and in is that for it as with was on be by this are or
from at an have not but which all can they were one has more will if their
about would there what so up out been when who them some could into than
its time only other new these two may then do first any like now my such
over our even most made after also did many before must through back years
where much your way well down should because each just those people how too
little state good very make world still own see men work long get here
between both life being under never day same another know while last might
us great old year off come since against go came right used take three
server client mailbox message folder quota backup restore archive sync
release build patch review merge branch deploy config cluster storage index
cache header body flag search thread report invoice meeting schedule budget
draft agenda minutes proposal contract project deadline update status issue
ticket customer support network latency throughput benchmark migration
""".split()

FR_WORDS = """été café crème déjà élève fenêtre forêt garçon hôtel leçon
naïve noël où père mère très à bientôt réunion problème système reçu
déménagement théâtre château fête épée hiver printemps automne""".split()

UTF8_SUBJECTS = [
    "Réunion de l'équipe – ordre du jour",
    "Grüße aus München",
    "Привет, как дела?",
    "日本語のテスト件名",
    "Ünïcödé ✓ status report",
    "Καλημέρα από την Αθήνα",
    "Café ☕ on Friday?",
    "Zażółć gęślą jaźń",
    "Résumé du projet été 2025",
    "Año nuevo – planificación",
]
LATIN1_SUBJECTS = [
    "Réservation confirmée",
    "Größe der Datei",
    "Année fiscale: résultats",
    "Señor García - factura",
    "Déjà vu à l'hôtel",
    "Crème brûlée pour la fête",
]
TOPICS = ["quarterly report", "server migration", "backup failure",
          "meeting notes", "invoice", "holiday plans", "release candidate",
          "build broken", "code review", "quota warning", "disk usage",
          "team lunch", "travel booking", "password policy", "new hire",
          "conference talk", "contract renewal", "security advisory",
          "performance regression", "weekly sync", "budget 2026",
          "mailbox cleanup", "IMAP latency", "TLS certificate renewal"]
SPAM_SUBJECTS = ["You have WON a prize!!!", "Cheap watches, best prices",
                 "URGENT: verify your account", "Make money fast from home",
                 "Your parcel could not be delivered", "Hot singles nearby",
                 "Limited offer - 90% off", "Re: your invoice #99231"]
FIRST = ["John", "Mary", "Peter", "Linda", "Ahmed", "Mei", "Olga", "Carlos",
         "Fatima", "Hans", "Ingrid", "Kenji", "Lucas", "Nora", "Omar", "Priya",
         "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Yuki"]
LAST = ["Smith", "Jones", "Müller", "García", "Dubois", "Rossi", "Tanaka",
        "Nowak", "Ivanova", "Kim", "Nguyen", "Larsen", "O'Brien", "Costa",
        "Schmidt", "Haddad", "Lefèvre", "Andersson", "Kowalski", "Silva"]
DOMAINS = ["example.com", "example.net", "corp.example.com", "mail.example.net",
           "university.example.edu", "partner.example"]
SPAM_DOMAINS = ["win-big.example", "cheap-deals.example", "secure-login.example",
                "parcel-track.example"]
TZ_OFFSETS = [0, 60, 120, -300, -480, 330, 540, -180, 60, 60]
ATTACHMENTS = [("application/pdf", "report.pdf"), ("image/png", "screenshot.png"),
               ("application/zip", "logs.zip"), ("image/jpeg", "photo.jpg"),
               ("application/octet-stream", "dump.bin"),
               ("application/vnd.oasis.opendocument.text", "notes.odt")]

FORBIDDEN = set(",=.~")


def folder_dir(root, name):
    if name == "INBOX":
        return root
    return os.path.join(root, "." + ".".join(mutf7(p) for p in name.split("/")))


def enc_b_utf8(text):
    """RFC 2047 base64 UTF-8 encoded words (each <= 75 chars), folded."""
    words, cur = [], b""
    for ch in text:
        b = ch.encode("utf-8")
        if len(cur) + len(b) > 36:
            words.append(cur)
            cur = b""
        cur += b
    if cur:
        words.append(cur)
    return "\r\n ".join("=?UTF-8?B?" + base64.b64encode(w).decode() + "?=" for w in words)


def enc_q_latin1(text):
    """RFC 2047 Q-encoded ISO-8859-1 words, folded."""
    words, cur = [], ""
    for byte in text.encode("iso-8859-1"):
        c = chr(byte)
        if c == " ":
            piece = "_"
        elif c.isalnum() and byte < 128:
            piece = c
        else:
            piece = "=%02X" % byte
        if len(cur) + len(piece) > 45:
            words.append(cur)
            cur = ""
        cur += piece
    if cur:
        words.append(cur)
    return "\r\n ".join("=?ISO-8859-1?Q?" + w + "?=" for w in words)


def addr(name, email):
    if any(ord(c) > 127 for c in name):
        return "%s <%s>" % (enc_b_utf8(name), email)
    if "'" in name or "." in name:
        return '"%s" <%s>' % (name, email)
    return "%s <%s>" % (name, email)


class Person:
    __slots__ = ("name", "email")

    def __init__(self, name, email):
        self.name, self.email = name, email

    def hdr(self):
        return addr(self.name, self.email)


def ascii_slug(s):
    return "".join(c.lower() for c in s if c.isascii() and c.isalnum()) or "x"


def random_person(rng, spam=False):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    dom = rng.choice(SPAM_DOMAINS if spam else DOMAINS)
    return Person("%s %s" % (f, l), "%s.%s@%s" % (ascii_slug(f), ascii_slug(l), dom))


class TextPool:
    """Pre-generated pool of sentence lines; messages take slices of it.
    Much faster than drawing every word per message, still deterministic."""

    def __init__(self, rng, words, nlines=4096):
        lines = []
        for _ in range(nlines):
            line = " ".join(rng.choices(words, k=rng.randint(6, 12)))
            lines.append(line[0].upper() + line[1:] + ".")
            if rng.random() < 0.15:
                lines.append("")
        self.lines = lines + lines          # doubled: slices may wrap
        self.n = len(lines)
        self.avg = sum(len(x) + 2 for x in lines) / len(lines)

    def get(self, rng, nbytes):
        k = max(1, int(nbytes / self.avg))
        if k > self.n:
            return (self.lines[:self.n] * (k // self.n + 1))[:k]
        off = rng.randrange(self.n)
        return self.lines[off:off + k]


POOLS = {}


def text_lines(rng, nbytes, kind="ascii"):
    """~nbytes of text as a list of lines (kind: ascii | latin1 | utf8)."""
    return POOLS[kind].get(rng, nbytes)


def init_pools(seed):
    r = random.Random("%d:textpool" % seed)
    POOLS["ascii"] = TextPool(r, WORDS)
    POOLS["latin1"] = TextPool(r, WORDS + FR_WORDS * 3, 1024)
    POOLS["utf8"] = TextPool(r, WORDS + FR_WORDS * 2 +
                             ["naïveté", "Grüße", "日本", "ελληνικά"], 1024)


def b64_lines(data):
    s = binascii.b2a_base64(data, newline=False).decode("ascii")
    return [s[i:i + 76] for i in range(0, len(s), 76)]


def folder_kind(name):
    top = name.split("/")[0]
    if name.startswith("Lists/"):
        return "list"
    return {"Sent": "sent", "Drafts": "drafts", "Junk": "junk",
            "Trash": "trash", "Archive": "archive"}.get(top, "personal")


def pick_size(rng):
    r = rng.random()
    if r < 0.55:
        return rng.randint(700, 3000)
    if r < 0.85:
        return rng.randint(3000, 12000)
    if r < 0.97:
        return rng.randint(12000, 40000)
    return rng.randint(40000, 100000)


def flags_for(rng, kind):
    f = set()
    seen_p = {"personal": 0.65, "sent": 1.0, "drafts": 0.5, "junk": 0.3,
              "trash": 0.8, "archive": 0.95, "list": 0.85}[kind]
    if rng.random() < seen_p:
        f.add("S")
        if kind in ("personal", "archive") and rng.random() < 0.15:
            f.add("R")
    if kind == "drafts":
        f.add("D")
    if kind != "junk" and rng.random() < 0.05:
        f.add("F")
    if rng.random() < 0.05:
        f.add("T")
    return "".join(sorted(f))


def make_message(rng, kind, folder, n, epoch, me, list_info, prev_ids, large_size,
                 seed):
    tzmin = rng.choice(TZ_OFFSETS)
    tz = dt.timezone(dt.timedelta(minutes=tzmin))
    date = dt.datetime.fromtimestamp(epoch, tz)
    date_s = date.strftime("%a, %d %b %Y %H:%M:%S ") + "%s%02d%02d" % (
        "+" if tzmin >= 0 else "-", abs(tzmin) // 60, abs(tzmin) % 60)

    spam = kind == "junk"
    if kind in ("sent", "drafts"):
        frm = me
        to = [random_person(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    elif kind == "list":
        frm = random_person(rng)
        to = [Person(list_info[0] + " list", list_info[1])]
    else:
        frm = random_person(rng, spam)
        to = [me] + ([random_person(rng)] if rng.random() < 0.2 else [])
    cc = [random_person(rng) for _ in range(rng.randint(1, 3))] \
        if (not spam and rng.random() < 0.25) else []

    # Subject
    reply_to = None
    r = rng.random()
    if spam:
        subj_plain = rng.choice(SPAM_SUBJECTS)
        subj_hdr = subj_plain
    elif r < 0.10:
        subj_plain = rng.choice(UTF8_SUBJECTS)
        subj_hdr = enc_b_utf8(subj_plain)
    elif r < 0.15:
        subj_plain = rng.choice(LATIN1_SUBJECTS)
        subj_hdr = enc_q_latin1(subj_plain)
    else:
        subj_plain = "%s %s #%d" % (rng.choice(["", "", "[%s] " % rng.choice(
            ["ops", "dev", "hr", "fin"])]) + rng.choice(TOPICS).capitalize(),
            rng.choice(["", "(draft)", "- follow up", "v2", "", ""]),
            rng.randint(1, 999))
        subj_plain = " ".join(subj_plain.split())
        subj_hdr = subj_plain
    if kind == "list":
        tag = "[%s] " % list_info[0]
        subj_plain = tag + subj_plain
        subj_hdr = tag + subj_hdr
    if prev_ids and not spam and rng.random() < 0.25:
        reply_to = rng.choice(prev_ids)
        subj_plain = "Re: " + subj_plain
        subj_hdr = "Re: " + subj_hdr

    msgid = "<%d.%s.%d.%08x@%s>" % (seed, ascii_slug(folder), n,
                                    rng.getrandbits(32), me.email.split("@")[1]
                                    if kind in ("sent", "drafts") else
                                    frm.email.split("@")[1])

    h = []
    if kind not in ("sent", "drafts"):
        h.append("Return-Path: <%s>" % frm.email)
        h.append("Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\r\n\tby imap.example.org"
                 " with ESMTPS id %08X\r\n\tfor <%s>; %s" % (
                     n % 3 + 1, frm.email.split("@")[1], n % 3 + 1,
                     frm.email.split("@")[1], rng.randint(1, 254),
                     rng.getrandbits(32), me.email, date_s))
    h.append("Date: " + date_s)
    h.append("From: " + frm.hdr())
    h.append("To: " + ",\r\n ".join(p.hdr() for p in to))
    if cc:
        h.append("Cc: " + ",\r\n ".join(p.hdr() for p in cc))
    h.append("Subject: " + subj_hdr)
    h.append("Message-ID: " + msgid)
    if reply_to:
        h.append("In-Reply-To: " + reply_to)
        h.append("References: " + reply_to)
    if kind == "list":
        h.append("List-Id: %s list <%s>" % (list_info[0], list_info[1].replace("@", ".")))
        h.append("List-Post: <mailto:%s>" % list_info[1])
        h.append("List-Unsubscribe: <mailto:%s-unsubscribe@%s>" % tuple(
            list_info[1].split("@")))
        h.append("Precedence: list")
    if rng.random() < 0.3:
        h.append("X-Mailer: " + rng.choice(["Thunderbird 115.3", "mutt 2.2.9",
                                            "Apple Mail (2.3731)", "Outlook 16.0"]))
    h.append("MIME-Version: 1.0")

    size = pick_size(rng)
    body = []  # list of str lines (may contain non-ASCII for 8bit utf-8)
    r = rng.random()
    boundary = "=_mt_%d_%d_%08x" % (seed, n, rng.getrandbits(32))
    multipart = bool(large_size) or r < 0.25
    if large_size or r < 0.10:
        # multipart/mixed with base64 attachment
        if large_size:
            raw = large_size * 3 // 4 - 2048
        else:
            raw = rng.randint(2000, 60000)
        ctype, fname = rng.choice(ATTACHMENTS)
        h.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
        body.append("This is a multi-part message in MIME format.")
        body.append("")
        body.append("--" + boundary)
        body.append("Content-Type: text/plain; charset=us-ascii")
        body.append("Content-Transfer-Encoding: 7bit")
        body.append("")
        body.extend(text_lines(rng, rng.randint(200, 1500)))
        body.append("")
        body.append("--" + boundary)
        body.append('Content-Type: %s; name="%s"' % (ctype, fname))
        body.append("Content-Transfer-Encoding: base64")
        body.append('Content-Disposition: attachment; filename="%s"' % fname)
        body.append("")
        body.extend(b64_lines(rng.randbytes(raw)))
        body.append("--" + boundary + "--")
        body.append("")
    elif r < 0.25:
        h.append('Content-Type: multipart/alternative; boundary="%s"' % boundary)
        txt = text_lines(rng, size // 2)
        body.append("--" + boundary)
        body.append("Content-Type: text/plain; charset=utf-8")
        body.append("Content-Transfer-Encoding: 7bit")
        body.append("")
        body.extend(txt)
        body.append("")
        body.append("--" + boundary)
        body.append("Content-Type: text/html; charset=utf-8")
        body.append("Content-Transfer-Encoding: 7bit")
        body.append("")
        body.append("<html><body>")
        body.extend("<p>%s</p>" % line for line in txt if line)
        body.append("</body></html>")
        body.append("")
        body.append("--" + boundary + "--")
        body.append("")
    elif r < 0.35:
        h.append("Content-Type: text/plain; charset=ISO-8859-1")
        h.append("Content-Transfer-Encoding: quoted-printable")
        txt = "\n".join(text_lines(rng, size, "latin1"))
        qp = binascii.b2a_qp(txt.encode("iso-8859-1"), quotetabs=False, istext=True)
        body.extend(qp.decode("ascii").split("\n"))
    elif r < 0.45:
        h.append("Content-Type: text/plain; charset=utf-8")
        h.append("Content-Transfer-Encoding: 8bit")
        body.extend(text_lines(rng, size, "utf8"))
    else:
        h.append("Content-Type: text/plain; charset=us-ascii")
        h.append("Content-Transfer-Encoding: 7bit")
        body.extend(text_lines(rng, size))
    if kind != "list" and not spam and not multipart and rng.random() < 0.3:
        body.extend(["", "-- ", frm.name])
    return h, body, msgid, subj_plain


def parse_spec(spec):
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise SystemExit("genmail: bad folder spec item %r (want NAME=COUNT)" % item)
        name, cnt = item.rsplit("=", 1)
        out.append((name.strip(), int(cnt)))
    return out


def validate(name):
    if not name or any(c in FORBIDDEN or ord(c) < 32 for c in name) \
            or name.startswith("/") or name.endswith("/") or "//" in name:
        raise SystemExit("genmail: invalid folder name %r" % name)
    if name.upper() == "INBOX" and name != "INBOX":
        raise SystemExit("genmail: spell INBOX in upper case")


def mkmaildir(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def main():
    ap = argparse.ArgumentParser(description="deterministic Maildir generator (see file header)")
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="standard", choices=sorted(PRESETS))
    ap.add_argument("--folders")
    ap.add_argument("--inbox-count", type=int)
    ap.add_argument("--large", type=int)
    ap.add_argument("--ref-date", default="2026-11-01")
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--manifest", default="-")
    ap.add_argument("--index")
    ap.add_argument("--lf", action="store_true")
    a = ap.parse_args()

    folders = parse_spec(a.folders) if a.folders is not None else list(PRESETS[a.preset])
    if a.inbox_count is not None:
        if any(n == "INBOX" for n, _ in folders):
            folders = [(n, a.inbox_count if n == "INBOX" else c) for n, c in folders]
        else:
            folders.insert(0, ("INBOX", a.inbox_count))
    seen_names = set()
    for name, cnt in folders:
        validate(name)
        if name in seen_names or cnt < 0:
            raise SystemExit("genmail: duplicate folder or negative count: %r" % name)
        seen_names.add(name)

    ref = dt.datetime.strptime(a.ref_date, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    ref_epoch = int(ref.timestamp())
    span = int(a.years * 365 * 86400)
    me = Person(a.user.capitalize() + " Example", "%s@example.org" % a.user)

    total = sum(c for _, c in folders)
    nlarge = min(8, total // 100) if a.large is None else a.large
    eligible = [(f, i) for f, c in folders
                if folder_kind(f) in ("personal", "archive", "sent") for i in range(c)]
    if len(eligible) < nlarge:
        eligible = [(f, i) for f, c in folders for i in range(c)]
    lrng = random.Random("%d:large" % a.seed)
    large = {}
    for key in lrng.sample(eligible, min(nlarge, len(eligible))):
        large[key] = lrng.randint(1 << 20, 3 << 20)

    init_pools(a.seed)
    root = a.maildir
    mkmaildir(root)
    manifest = []
    index_rows = []
    seq = 0
    for folder, count in folders:
        kind = folder_kind(folder)
        rng = random.Random("%d:%s" % (a.seed, folder))
        fdir = folder_dir(root, folder)
        mkmaildir(fdir)
        if folder != "INBOX":
            open(os.path.join(fdir, "maildirfolder"), "a").close()
        list_info = None
        if kind == "list":
            lname = folder.split("/", 1)[1]
            list_info = (lname, "%s@lists.example.org" % ascii_slug(lname))
        if kind == "drafts":
            lo = ref_epoch - 60 * 86400
        else:
            lo = ref_epoch - span
        epochs = sorted(rng.randint(lo, ref_epoch - 3600) for _ in range(count))
        for i in range(1, len(epochs)):      # unique, strictly increasing
            if epochs[i] <= epochs[i - 1]:
                epochs[i] = epochs[i - 1] + 1
        stats = {"messages": 0, "bytes": 0, "deleted": 0, "seen": 0, "flagged": 0, "large": 0}
        prev_ids = []
        curdir = os.path.join(fdir, "cur")
        for i, epoch in enumerate(epochs):
            seq += 1
            lsize = large.get((folder, i))
            h, body, msgid, subj = make_message(rng, kind, folder, i + 1, epoch, me,
                                                list_info, prev_ids[-20:], lsize, a.seed)
            prev_ids.append(msgid)
            flags = flags_for(rng, kind)
            text = "\r\n".join(h) + "\r\n\r\n" + "\r\n".join(body)
            if not text.endswith("\r\n"):
                text += "\r\n"
            if a.lf:
                text = text.replace("\r\n", "\n")
            data = text.encode("utf-8")
            size = len(data)
            vsize = size + (data.count(b"\n") if a.lf else 0)
            fname = "%d.M%dP%d.mailtool,S=%d,W=%d:2,%s" % (epoch, seq, a.seed, size, vsize, flags)
            path = os.path.join(curdir, fname)
            with open(path, "wb") as fh:
                fh.write(data)
            os.utime(path, (epoch, epoch))
            stats["messages"] += 1
            stats["bytes"] += vsize
            stats["deleted"] += "T" in flags
            stats["seen"] += "S" in flags
            stats["flagged"] += "F" in flags
            stats["large"] += bool(lsize)
            if a.index:
                index_rows.append("\t".join([folder, str(i + 1), fname, str(vsize), str(epoch),
                                             flags, msgid, subj.replace("\t", " ")]))
        manifest.append((folder, stats))

    lines = ["folder\tmessages\tbytes\tdeleted\tseen\tflagged\tlarge"]
    for folder, s in manifest:
        lines.append("\t".join([folder] + [str(s[k]) for k in
                                           ("messages", "bytes", "deleted", "seen", "flagged", "large")]))
    out = "\n".join(lines) + "\n"
    if a.manifest == "-":
        sys.stdout.write(out)
    else:
        with open(a.manifest, "w", encoding="utf-8") as fh:
            fh.write(out)
    if a.index:
        with open(a.index, "w", encoding="utf-8") as fh:
            fh.write("folder\tn\tfilename\tsize\tepoch\tflags\tmessage_id\tsubject\n")
            fh.write("\n".join(index_rows) + ("\n" if index_rows else ""))


if __name__ == "__main__":
    main()
