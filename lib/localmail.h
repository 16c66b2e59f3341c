/* localmail.h — local mail archives: writing mboxrd (plain or gzip) and
 * Maildir streamed message by message under a temporary name, and reading
 * mbox (mboxo/mboxrd, gz), Maildir and directories of .eml files back.
 * No IMAP here: cmd/archive.c feeds it what the server sends. */
#ifndef MT_LOCALMAIL_H
#define MT_LOCALMAIL_H

#include "mt.h"

#include <stdint.h>
#include <time.h>

enum mt_lm_fmt { MT_LM_MBOX, MT_LM_MBOXGZ, MT_LM_MAILDIR };

/* The format a path names: ".mbox" -> mbox, ".mbox.gz" -> mbox.gz, else Maildir. */
enum mt_lm_fmt mt_lm_format_of(const char *path);
/* "mbox", "mbox.gz", "maildir" -> format; -1 otherwise. */
int mt_lm_format_parse(const char *s);
const char *mt_lm_format_ext(enum mt_lm_fmt f);   /* ".mbox", ".mbox.gz", "" */

/* A relative path for a server folder name (components split at delim),
 * that can never leave the directory it is joined to: "." and ".." and
 * empty components are escaped (%2E, %2E%2E, %00), as is '%' itself. Owned. */
char *mt_lm_safe_path(const char *folder, char delim);

/* ---- writing ---------------------------------------------------------- */

struct mt_lm_writer;

/* Start an archive at path (which must not exist): everything goes to a
 * temporary name beside it until mt_lm_commit. */
int mt_lm_open(struct mt_lm_writer **w, const char *path, enum mt_lm_fmt fmt, struct mt_err *e);
/* One message: begin, any number of chunks of its RFC822 bytes, end.
 * keywords: NULL-terminated or NULL. sender: an address for the mbox
 * "From " line (NULL: MAILER-DAEMON). */
int mt_lm_begin(struct mt_lm_writer *w, uint32_t uid, const char *sender, time_t internaldate, unsigned sysflags,
		const char *const *keywords, struct mt_err *e);
int mt_lm_write(struct mt_lm_writer *w, const char *data, size_t len, struct mt_err *e);
int mt_lm_end(struct mt_lm_writer *w, struct mt_err *e);
/* Flush, fsync and rename into place. */
int mt_lm_commit(struct mt_lm_writer *w, struct mt_err *e);
/* Remove what was written (nothing under the final name). Frees w. */
void mt_lm_abort(struct mt_lm_writer *w);
/* SHA-256 of every message written (of the bytes given), sorted; valid until free. */
const unsigned char *mt_lm_digests(const struct mt_lm_writer *w, size_t *n);
void mt_lm_free(struct mt_lm_writer *w);

/* ---- reading ---------------------------------------------------------- */

struct mt_lm_msg {
	char *data;            /* RFC822 bytes as they go to the server (CRLF), owned */
	size_t len;
	time_t internaldate;   /* 0 unknown */
	unsigned sysflags;     /* MT_F_* (lib/select.h) */
	char **keywords;       /* NULL-terminated, owned */
	long position;         /* 1-based, in the source */
};

struct mt_lm_reader;

/* An mbox (plain or gzip, mboxo or mboxrd), a Maildir (cur/ and new/), or a
 * directory of .eml files. */
int mt_lm_reader_open(struct mt_lm_reader **r, const char *path, struct mt_err *e);
/* Next message: 1, 0 at the end, or an error code (e says why). */
int mt_lm_next(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e);
void mt_lm_msg_release(struct mt_lm_msg *m);
void mt_lm_reader_close(struct mt_lm_reader *r);

/* Re-read an archive and compare the SHA-256 of every message with the
 * writer's (as multisets): MT_OK, or MT_EDATA saying what differs. */
int mt_lm_verify(const char *path, const unsigned char *digests, size_t n, struct mt_err *e);
/* Every one of the n digests (a multiset, any order) is a message of the
 * archive at path: MT_OK, or MT_EDATA saying how many are not. */
int mt_lm_verify_subset(const char *path, const unsigned char *digests, size_t n, struct mt_err *e);

/* SHA-256 of data. */
void mt_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
