#!/usr/bin/env python3
"""fdnote.py LOG WORD [SECONDS] — for a command mailtool runs (token_command,
password_command): append to LOG the descriptors this process holds, as
"0 1 2<TAB>[(fd, link), ...]" (those still open once listed: not the
listing's own), wait SECONDS, then print WORD (a token, a password)."""
import os
import sys
import time

fds = []
for f in os.listdir("/proc/self/fd"):
    try:
        fds.append((int(f), os.readlink("/proc/self/fd/" + f)))
    except OSError:
        pass
fds.sort()
with open(sys.argv[1], "a") as log:
    log.write(" ".join(str(fd) for fd, _ in fds) + "\t" + repr(fds) + "\n")
if len(sys.argv) > 3:
    time.sleep(float(sys.argv[3]))
print(sys.argv[2])
