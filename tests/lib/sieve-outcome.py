#!/usr/bin/env python3
"""Where a message ends up, as one comparable line: "FOLDER{flags} ..."
sorted, flags lower-case and sorted, \\Recent left out; "" when it is gone.

  sieve-outcome.py sieve < sieve-test output      what the script would do
  sieve-outcome.py doveadm MSGID < doveadm -f tab fetch "mailbox hdr.message-id flags" all
                                                  where filter left that message
"""
import sys


def line(places):
    return " ".join(sorted("%s{%s}" % (f, " ".join(sorted(x.lower() for x in fl if x.lower() != "\\recent")))
                           for f, fl in places))


def sieve(text):
    places, cur = [], None
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("* store message in folder: "):
            cur = [s[len("* store message in folder: "):], []]
            places.append(cur)
        elif s.startswith("+ add IMAP flags: ") and cur is not None:
            cur[1].extend(s[len("+ add IMAP flags: "):].split())
        elif s.startswith("*"):
            cur = None     # discard, or an action this comparison does not know
            if s != "* discard":
                places.append(["?" + s, []])
    return line(places)


def doveadm(text, msgid):
    places = []
    for raw in text.splitlines()[1:]:
        cols = raw.split("\t")
        if len(cols) >= 3 and cols[1].strip("<>") == msgid:
            places.append((cols[0], cols[2].split()))
    return line(places)


if __name__ == "__main__":
    data = sys.stdin.read()
    print(sieve(data) if sys.argv[1] == "sieve" else doveadm(data, sys.argv[2]))
