/* localmail.h — local mail archives: writing mboxrd or mboxcl2 (plain or
 * gzip) and Maildir streamed message by message under a temporary name, and
 * reading mbox (mboxrd, mboxo, mboxcl2; gz), Maildir and directories of .eml
 * files back (lib/localmail.c writes, lib/localread.c reads).
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
/* The format a path's name asks for: .mbox, .mbox.gz, a Maildir without
 * an extension, with .d or .maildir, or with a final '/'; -1 for any other
 * extension (x.zip is not a Maildir named x.zip). */
int mt_lm_format_named(const char *path);
const char *mt_lm_format_ext(enum mt_lm_fmt f);   /* ".mbox", ".mbox.gz", "" */

/* The three ways an mbox keeps "From " lines in messages apart from its
 * separators: mboxrd quotes every ">*From " line with one more '>' (and
 * reading takes one off), mboxo quotes "From " only (so ">From " lines are
 * ambiguous: reading leaves them alone), mboxcl2 quotes nothing and says
 * each body's length in Content-Length. */
enum mt_lm_mbox { MT_LM_AUTO, MT_LM_MBOXRD, MT_LM_MBOXO, MT_LM_MBOXCL2 };
/* "mboxrd", "mboxo", "mboxcl2" (and "auto") -> format; -1 otherwise. */
int mt_lm_mbox_parse(const char *s);
const char *mt_lm_mbox_name(enum mt_lm_mbox f);

/* How a Maildir tree of several folders is laid out: one directory per
 * folder, nested (Dovecot's LAYOUT=fs:UTF-8), or Maildir++ (Dovecot's
 * default: the first folder's Maildir at the top, ".Folder.Sub" beside
 * its cur/, names in modified UTF-7). */
enum mt_lm_layout { MT_LM_LAYOUT_FS, MT_LM_LAYOUT_MAILDIRPP };
/* The Maildir++ directory of a folder (components split at delim): ".A.B"
 * in modified UTF-7, or "." for INBOX (the top). NULL (e says why) for a
 * name Maildir++ cannot hold: an empty component, or one with '.' or '/'. */
char *mt_lm_maildirpp_path(const char *folder, char delim, struct mt_err *e);

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

/* Every name along rel, and the temporary its leaf is first written as,
 * fits in a file name (NAME_MAX): MT_OK, or MT_EDATA saying which does not.
 * Pure: checked before anything is fetched or written. */
int mt_lm_names_ok(const char *shown, const char *rel, struct mt_err *e);

/* Temporaries an interrupted run left beside rel ("NAME%tmp.XXXXXX"):
 * never removed by mailtool, listed so the caller can say so. *names owned
 * (NULL-terminated, free each and the array); returns their number. */
size_t mt_lm_stale(int dirfd, const char *rel, char ***names);

/* ---- writing ---------------------------------------------------------- */

struct mt_lm_writer;

enum {
	MT_LM_DIGEST_ONLY = 1,        /* write nothing: only the digests */
	MT_LM_CL2 = 2,                /* mbox: mboxcl2 rather than mboxrd */
	MT_LM_MAILDIRFOLDER = 4,      /* Maildir: a Maildir++ subfolder (the empty "maildirfolder" file) */
};

/* Start an archive at rel below dirfd (rel must not exist; missing parent
 * directories are created 0700): everything goes to a temporary name that no
 * folder maps to, created exclusively beside it, until mt_lm_commit. A
 * Maildir whose rel is a directory already (a parent folder's, holding its
 * children's; "." for dirfd itself) is committed into it: its cur/ (and
 * dovecot-keywords) renamed in, never over anything. With
 * MT_LM_DIGEST_ONLY nothing is created (dirfd and rel only name it). */
int mt_lm_open(struct mt_lm_writer **w, int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt,
	       unsigned flags, struct mt_err *e);
/* The key that signs an mbox export's flag lines (mt_archive_key); without
 * one, an import reads them as a sender's (untrusted). */
int mt_lm_set_key(struct mt_lm_writer *w, const unsigned char key[32], struct mt_err *e);
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
/* The UIDs (as given to mt_lm_begin) of those messages, in the order written;
 * borrowed, *n of them. */
const uint32_t *mt_lm_keywords_lost_uids(const struct mt_lm_writer *w, size_t *n);
/* Before the first message: the letters a Maildir already names (its
 * dovecot-keywords, index = letter; NULL for none), so that a writer that
 * only digests an archive in place says which keywords that archive lost. */
void mt_lm_known_keywords(struct mt_lm_writer *w, const char *const *names, size_t n);
void mt_lm_free(struct mt_lm_writer *w);

/* ---- reading ---------------------------------------------------------- */

/* Keywords read per message at most: the rest are counted, not kept, so a
 * header of 20,000 of them costs no more than this many (no server keeps
 * that many on one message, and an APPEND line holds fewer anyway). */
#define MT_LM_MAX_KEYWORDS 1000

struct mt_lm_msg {
	char *data;            /* RFC822 bytes as they go to the server (CRLF), owned */
	size_t len;
	time_t internaldate;   /* 0 unknown */
	unsigned sysflags;     /* MT_F_* (lib/select.h) */
	char **keywords;       /* NULL-terminated, owned; at most MT_LM_MAX_KEYWORDS */
	size_t keywords_over;  /* keywords past MT_LM_MAX_KEYWORDS: not read */
	long position;         /* 1-based, in the source */
	int untrusted_flags;   /* flag lines of another export at its top: kept as content, not read */
};

/* Where a message's INTERNALDATE comes from: the file (a Maildir or .eml
 * file's modification time, an mbox's From_ line), the topmost Received:
 * field (where the message arrived; then Date:, then the file), or Date:
 * (then the file). Only dates an IMAP date-time can carry count
 * (mt_imap_date_time); without one (MT_LM_DATE_NONE, internaldate 0) the
 * server dates the message. */
enum mt_lm_datesrc { MT_LM_DATE_FILE, MT_LM_DATE_RECEIVED, MT_LM_DATE_DATE, MT_LM_DATE_NONE, MT_LM_NDATESRC };
/* "file" (or "mtime"), "received", "date" -> source; -1 otherwise. */
int mt_lm_datesrc_parse(const char *s);

struct mt_lm_ropts {
	/* take flags from Status/X-Status/X-Keywords fields of a message's own
	 * header (foreign mbox files), and read a file whose first message
	 * starts with the three flag lines of older exports (no token) as such
	 * an export (mboxrd); else flags only from the lines mailtool wrote
	 * with the file's token */
	int trust_status_headers;
	/* MT_LM_AUTO: what a mailtool export says it is, else mboxo (which
	 * never takes a byte away); a format given here is used as it is */
	enum mt_lm_mbox mbox;
	/* the zone of From_ line dates: NULL or "utc" (RFC 4155), "local",
	 * an IANA zone ("Europe/Paris"), or "+HHMM"/"-HHMM" */
	const char *zone;
	enum mt_lm_datesrc date_from;
	/* a message larger than this (as it goes to the server, CRLF) is read
	 * past, never held whole, and reported (MT_LM_TOOBIG); 0: no limit.
	 * The reader holds at most about twice this much. */
	uint64_t max_message;
	/* the exporter's key: flag lines count only when their X-Mailtool line
	 * ends with a signature made with it; NULL: none does */
	const unsigned char *key;
};

/* A zone --mbox-timezone accepts (see mt_lm_ropts.zone). */
int mt_lm_zone_ok(const char *zone);

/* What a reader found, for the summary. */
struct mt_lm_rinfo {
	enum mt_lm_mbox format;         /* an mbox's format, as read (0 for a Maildir or .eml directory) */
	int exported;                   /* a mailtool export (its flag lines) */
	uint64_t dated[MT_LM_NDATESRC]; /* messages dated from each source */
	uint64_t cl_mismatch;           /* auto: Content-Length disagreeing with the From_ lines (mboxcl2?) */
	uint64_t zone_suspect;          /* From_ date whole hours off the Received:/Date: time */
	long zone_offset;               /* the most common such offset, seconds (From_ minus Received:) */
	uint64_t subfolders;            /* a Maildir++ root: its .Name folders, not read */
	char subfolder[256];            /* the first of them */
};

struct mt_lm_reader;

/* An mbox (plain or gzip, mboxo or mboxrd), a Maildir (cur/ and new/), or a
 * directory of .eml files. PATH itself and everything under it are opened
 * without following symbolic links; only regular files are read. */
int mt_lm_reader_open(struct mt_lm_reader **r, const char *path, const struct mt_lm_ropts *o, struct mt_err *e);
/* (o NULL: an archive this process has just written, read back to verify
 * it: its flag lines are known by their token, no key needed; never for
 * anything an outsider may have written) */
/* The same for rel below dirfd (walked without following links). */
int mt_lm_reader_openat(struct mt_lm_reader **r, int dirfd, const char *shown, const char *rel,
			const struct mt_lm_ropts *o, struct mt_err *e);
/* Next message: 1, 0 at the end, MT_LM_SKIP for an entry that is not read
 * (a symbolic link, not a regular file: e says which and why; go on),
 * MT_LM_TOOBIG for a message larger than max_message (e says which; go on),
 * or an error code (e says why). */
enum { MT_LM_SKIP = 2, MT_LM_TOOBIG = 3 };
int mt_lm_next(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e);
void mt_lm_msg_release(struct mt_lm_msg *m);
/* A Maildir's dovecot-keywords: the name of each letter (index 0 = 'a';
 * NULL where none), *n of them; borrowed, valid until close. */
const char *const *mt_lm_reader_keywords(const struct mt_lm_reader *r, size_t *n);
/* Borrowed; valid until close (complete once mt_lm_next returned 0). */
const struct mt_lm_rinfo *mt_lm_reader_info(const struct mt_lm_reader *r);
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
