#!/usr/bin/env python3
"""introspect.py PORTFILE TOKENS LOG — a small OAuth 2.0 token-introspection
endpoint (RFC 7662) for the suite's Dovecot oauth2 passdb, on a free
loopback port (written to PORTFILE once listening).

POST /introspect with "token=..." (Dovecot's introspection_mode = post)
answers {"active": true, "username": USER} for a token listed in TOKENS as
"TOKEN<TAB>USER<TAB>active", and {"active": false} for one listed as
inactive (expired, revoked) or not listed at all. TOKENS is read again for
every request, so a test adds or revokes tokens by rewriting it. Each answer
is logged to LOG as "USER-or-?<TAB>active|inactive" (never the token).
Runs until killed (tests/lib/dovecot.sh stop)."""
import http.server
import json
import os
import sys
import urllib.parse

portfile, tokens_path, log_path = sys.argv[1], sys.argv[2], sys.argv[3]


def lookup(token):
    try:
        with open(tokens_path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[0] == token:
                    return parts[1], parts[2] == "active"
    except OSError:
        pass
    return None, False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 65536)).decode("utf-8", "replace")
        token = urllib.parse.parse_qs(body).get("token", [""])[0]
        user, active = lookup(token)
        answer = {"active": True, "username": user} if active else {"active": False}
        with open(log_path, "a", encoding="utf-8") as f:
            f.write("%s\t%s\n" % (user or "?", "active" if active else "inactive"))
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
