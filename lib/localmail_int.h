/* localmail_int.h — what lib/localmail.c (paths, writing, verification) and
 * lib/localread.c (reading) share; nothing else includes it. */
#ifndef MT_LOCALMAIL_INT_H
#define MT_LOCALMAIL_INT_H

#include "localmail.h"

#include <stddef.h>

/* The system flags as an mbox's X-Status letters (in this order) and a
 * Maildir name's info letters (\Seen is 'S' there, "Status: RO" in an mbox). */
struct mt_lm_flag {
	unsigned f;
	char mbox, maildir;
};
#define MT_LM_NFLAGS 4
extern const struct mt_lm_flag mt_lm_flagmap[MT_LM_NFLAGS];

/* "shown/rel" (its first rlen bytes) for messages; owned. */
char *mt_lm_disp(const char *shown, const char *rel, size_t rlen);

/* The directory holding rel's last component, below dirfd, each component
 * opened without following a symbolic link (missing ones made 0700 when
 * make); *leaf is that last component ("." when rel is "."). -1 with e set,
 * or -1 with *missing set (and e untouched) when a component does not exist
 * and !make. */
int mt_lm_open_parent(int dirfd, const char *shown, const char *rel, int make, const char **leaf, int *missing,
		      struct mt_err *e);

/* The signature ending an mbox export's X-Mailtool line: HMAC-SHA256 under
 * the exporter's key of what was written for the message before it (head:
 * the From_ line and flag lines; mark: the rest up to the signature), in
 * hex, cut to MT_LM_MAC_HEX digits; content is the SHA-256 of the message's
 * stored bytes after the block, so a block holds for its own message only.
 * Only the key's holder can make one, so a sender cannot write flag lines
 * an import believes. */
#define MT_LM_MAC_HEX 32
void mt_lm_mark_mac(const unsigned char key[32], const char *head, size_t hn, const char *mark, size_t mn,
		    const unsigned char content[32], char out[MT_LM_MAC_HEX + 1]);

#endif
