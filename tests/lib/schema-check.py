#!/usr/bin/env python3
"""schema-check.py — check mailtool's --json records (stdin) or a --tsv header
against the record types and keys that mailtool(1) OUTPUT lists.

  schema-check.py MAN APPLET...         JSON lines on stdin, of these applets
  schema-check.py MAN --header APPLET H  H, a TSV header, is one type's keys
"""
import json
import re
import sys

BOOLS = {"subscribed", "selectable", "cert_pinned", "dry_run", "target_reached"}
NUMBERS = {"messages", "size", "uid", "status", "limit", "freed", "unseen", "appended",
           "skipped", "failed", "per_second"}


def kind(key):
    if key in BOOLS:
        return bool
    if key == "results":
        return list
    if (key in NUMBERS or key.startswith(("skipped_", "dated_by_", "ms_"))
            or key.endswith(("_used", "_limit", "_pct"))):
        return (int, float)
    return str


def table(man):
    """{(applet, type): [keys]} from the .Bl -column list of OUTPUT."""
    types = {}
    for line in open(man, encoding="utf-8"):
        m = re.match(r"^\.It (Fl \\-users|[a-z]+) Ta ([a-z]+) Ta (.+)$", line.rstrip("\n"))
        if m:
            applet = "--users" if m.group(1).startswith("Fl") else m.group(1)
            types[(applet, m.group(2))] = m.group(3).split()
    if not types:
        sys.exit("no record types found in " + man)
    return types


def check(rec, applets, types, where):
    if not isinstance(rec, dict):
        sys.exit(f"{where}: not an object")
    keys = list(rec)
    if keys[:2] != ["schema", "type"] or rec["schema"] != 1:
        sys.exit(f"{where}: does not start with schema 1 and a type: {keys[:2]}")
    t = rec["type"]
    found = [a for a in applets if (a, t) in types]
    if not found:
        sys.exit(f"{where}: type {t!r} is not documented for {applets}")
    want = types[(found[0], t)]
    if keys[2:] != want:
        sys.exit(f"{where}: {t} keys {keys[2:]} are not the documented {want}")
    for k in want:
        v = rec[k]
        if v is None:
            continue
        ok = kind(k)
        # a JSON true is not a number here
        if isinstance(v, bool) and ok is not bool:
            sys.exit(f"{where}: {k} is a boolean")
        if not isinstance(v, ok):
            sys.exit(f"{where}: {k}={v!r} is not {ok}")
    if t == "user":
        for i, r in enumerate(rec["results"]):
            check(r, [a for a in applets if a != "--users"], types, f"{where} result {i + 1}")


def main():
    man = sys.argv[1]
    types = table(man)
    if sys.argv[2] == "--header":
        applet, header = sys.argv[3], sys.argv[4].split("\t")
        if not any(k == header for (a, _), k in types.items() if a == applet):
            sys.exit(f"{applet}: TSV header {header} is no documented record type")
        return
    applets = sys.argv[2:] + ["--users"]
    n = 0
    for n, line in enumerate(sys.stdin, 1):
        check(json.loads(line), applets, types, f"line {n}")
    if n == 0:
        sys.exit("no records")


main()
