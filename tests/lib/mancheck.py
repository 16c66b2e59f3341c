#!/usr/bin/env python3
"""mancheck.py PAGE... — read what mandoc -Tutf8 renders (stdin of each page
is the rendered text, given as files) and name each paragraph whose quotes
do not balance or whose words show a macro ate text: an empty quote, quote
marks doubled, "the not", a doubled word, a comma or full stop after a
blank. mandoc -Tlint passes such pages, readers do not."""
import re
import sys

PAIRS = (("\u201c", "\u201d"), ("\u2018", "\u2019"))


def paragraphs(text):
    text = re.sub(r".\x08", "", text)          # overstrike (bold, underline)
    lines = text.splitlines()
    body = lines[1:-1] if len(lines) > 2 else lines   # header and footer lines
    para = []
    for line in body + [""]:
        if line.strip() == "":
            if para:
                yield " ".join(para)
            para = []
        else:
            para.append(line.strip())


def problems(p):
    out = []
    # a literal (‘\"’) may hold one double quote on its own
    if re.sub("\u2018[^\u2019]*\u2019", "", p).count('"') % 2:
        out.append("odd number of \" marks")
    for o, c in PAIRS:
        if p.count(o) != p.count(c):
            out.append("unbalanced %s%s" % (o, c))
    checks = [
        (r'\S""|\u201c\u201d|\u2018\u2019', "quote marks doubled after a word, or an empty quote"),
        (r"\bthe (not|and|or|of|to|a|an|the)\b", "a word missing after 'the'"),
        (r"(?<![-\w])(\w{3,}) \1\b", "a doubled word"),
        (r"\s[,;](\s|$)", "a comma or semicolon after a blank"),
        (r"\(\s*\)", "empty parentheses"),
    ]
    for rx, why in checks:
        m = re.search(rx, p)
        if m:
            out.append("%s at '...%s...'" % (why, p[max(0, m.start() - 30):m.end() + 30]))
    return out


bad = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        for p in paragraphs(f.read()):
            for why in problems(p):
                print("%s: %s" % (path, why))
                bad += 1
sys.exit(1 if bad else 0)
