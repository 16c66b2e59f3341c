"""IMAP modified UTF-7 (RFC 3501 5.1.3) for the test tools: genmail.py and
the independent checkers of Cyrus and Courier (an implementation apart from
mailtool's own, so the tests do not check mailtool against itself)."""
import base64
import re


def encode(s):
    out, buf = [], []

    def flush():
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            buf.clear()

    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def decode(s):
    def rep(m):
        t = m.group(1)
        if t == "":
            return "&"
        t = t.replace(",", "/")
        return base64.b64decode(t + "=" * (-len(t) % 4)).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", rep, s)
