#!/bin/sh
# mutt-copy.sh BOX OUT — mutt, in batch (through script(1), for the terminal it
# insists on), opens the mailbox BOX (mbox or Maildir, as it detects it) and
# copies every message to the mbox OUT, with the flags mutt read (Status,
# X-Status). The caller bounds it with timeout(1).
rc=$(mktemp) || exit 1
cat > "$rc" <<'RC'
set confirmcreate=no
set confirmappend=no
set quit=yes
set delete=no
set move=no
set mark_old=no
set mbox_type=mbox
set sort=mailbox-order
RC
TERM=vt100 script -qec "mutt -n -F '$rc' -f '$1' -e \"push '<tag-pattern>~A<enter><tag-prefix-cond><copy-message>$2<enter><quit>'\"" /dev/null >/dev/null 2>&1
st=$?
rm -f "$rc"
exit $st
