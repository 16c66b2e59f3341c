/* localmail.h — local mail archives: writing mboxrd (plain or gzip) and
 * Maildir streamed message by message under a temporary name, and reading
 * mbox (mboxo/mboxrd, gz), Maildir and directories of .eml files back.
 * No IMAP here: cmd/archive.c feeds it what the server sends.
 *
 * Nothing below an archive's directory is reached through a symbolic link:
 * paths are walked one component at a time (openat with O_NOFOLLOW), files
 * are created exclusively, only regular files are read, and nothing is ever
 * removed that this process did not create. */
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
 * that can never leave the directory it is joined to and that two folders
 * never share: "." and ".." and empty components are escaped (%2E, %2E%2E,
 * %00), as are '%', '/' and '\\' inside a name; for a Maildir tree also the
 * names a Maildir keeps for itself (cur, new, tmp, dovecot*: "%63ur"), which
 * a child folder would otherwise take inside its parent's Maildir. A '%'
 * in the result is always followed by two hex digits, so no result is ever
 * a temporary name of this file ("NAME%tmp.XXXXXX"). Owned. */
char *mt_lm_safe_path(const char *folder, char delim, int maildir);

/* A keyword that can be written to an archive and APPENDed: an IMAP atom
 * without '\\' (so not a system flag), printable ASCII. */
int mt_lm_keyword_ok(const char *k);

/* ---- places ------------------------------------------------------------ */

/* What is at rel below dirfd, walking every component without following a
 * symbolic link: MT_OK with *exists 0 (nothing yet: every existing parent is
 * a real directory) or 1 (an archive of format fmt: a regular file for mbox,
 * a directory for Maildir); MT_EDATA when a component is a symbolic link or
 * of the wrong kind. shown: how dirfd is named in messages. */
int mt_lm_probe(int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt, int *exists, struct mt_err *e);

/* Temporaries an interrupted run left beside rel ("NAME%tmp.XXXXXX"):
 * never removed by mailtool, listed so the caller can say so. *names owned
 * (NULL-terminated, free each and the array); returns their number. */
size_t mt_lm_stale(int dirfd, const char *rel, char ***names);

/* ---- writing ---------------------------------------------------------- */

struct mt_lm_writer;

enum { MT_LM_DIGEST_ONLY = 1 };   /* write nothing: only the digests */

/* Start an archive at rel below dirfd (rel must not exist; missing parent
 * directories are created 0700): everything goes to a temporary name that no
 * folder maps to, created exclusively beside it, until mt_lm_commit. With
 * MT_LM_DIGEST_ONLY nothing is created (dirfd and rel only name it). */
int mt_lm_open(struct mt_lm_writer **w, int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt,
	       unsigned flags, struct mt_err *e);
/* One message: begin, any number of chunks of its RFC822 bytes, end.
 * keywords: NULL-terminated or NULL. sender: an address for the mbox
 * "From " line (NULL: MAILER-DAEMON). */
int mt_lm_begin(struct mt_lm_writer *w, uint32_t uid, const char *sender, time_t internaldate, unsigned sysflags,
		const char *const *keywords, struct mt_err *e);
int mt_lm_write(struct mt_lm_writer *w, const char *data, size_t len, struct mt_err *e);
int mt_lm_end(struct mt_lm_writer *w, struct mt_err *e);
/* Flush, fsync and rename into place (never over anything). */
int mt_lm_commit(struct mt_lm_writer *w, struct mt_err *e);
/* Remove what this writer created (nothing under the final name). Frees w. */
void mt_lm_abort(struct mt_lm_writer *w);
/* SHA-256 of every message written (of the bytes given), sorted; valid until free. */
const unsigned char *mt_lm_digests(const struct mt_lm_writer *w, size_t *n);
/* Keywords a Maildir could not keep (its file names hold 26 letters a-z):
 * how many messages lost some, and the distinct keywords (NULL-terminated,
 * borrowed; NULL when none). */
uint64_t mt_lm_keywords_lost(const struct mt_lm_writer *w, const char *const **names);
void mt_lm_free(struct mt_lm_writer *w);

/* ---- reading ---------------------------------------------------------- */

struct mt_lm_msg {
	char *data;            /* RFC822 bytes as they go to the server (CRLF), owned */
	size_t len;
	time_t internaldate;   /* 0 unknown */
	unsigned sysflags;     /* MT_F_* (lib/select.h) */
	char **keywords;       /* NULL-terminated, owned */
	long position;         /* 1-based, in the source */
	int untrusted_flags;   /* flag lines of another export at its top: kept as content, not read */
};

struct mt_lm_ropts {
	/* take flags from Status/X-Status/X-Keywords fields of a message's own
	 * header (foreign mbox files); else only from the lines mailtool wrote */
	int trust_status_headers;
};

struct mt_lm_reader;

/* An mbox (plain or gzip, mboxo or mboxrd), a Maildir (cur/ and new/), or a
 * directory of .eml files. PATH itself and everything under it are opened
 * without following symbolic links; only regular files are read. */
int mt_lm_reader_open(struct mt_lm_reader **r, const char *path, const struct mt_lm_ropts *o, struct mt_err *e);
/* The same for rel below dirfd (walked without following links). */
int mt_lm_reader_openat(struct mt_lm_reader **r, int dirfd, const char *shown, const char *rel,
			const struct mt_lm_ropts *o, struct mt_err *e);
/* Next message: 1, 0 at the end, MT_LM_SKIP for an entry that is not read
 * (a symbolic link, not a regular file: e says which and why; go on), or an
 * error code (e says why). */
enum { MT_LM_SKIP = 2 };
int mt_lm_next(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e);
void mt_lm_msg_release(struct mt_lm_msg *m);
void mt_lm_reader_close(struct mt_lm_reader *r);

/* Re-read the archive at rel below dirfd and compare the SHA-256 of every
 * message with the writer's (as multisets): MT_OK, or MT_EDATA saying what
 * differs. */
int mt_lm_verify(int dirfd, const char *shown, const char *rel, const unsigned char *digests, size_t n,
		 struct mt_err *e);
/* Every one of the n digests (a multiset, any order) is a message of the
 * archive: MT_OK, or MT_EDATA saying how many are not. */
int mt_lm_verify_subset(int dirfd, const char *shown, const char *rel, const unsigned char *digests, size_t n,
			struct mt_err *e);

/* SHA-256 of data. */
void mt_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
