/* localmail.c — mboxrd/mboxcl2 (plain or gzip) and Maildir archives, written
 * message by message in chunks (a message is never held whole) under a
 * temporary name created exclusively, then flushed and renamed, and read
 * back for verification; local paths for folder names. Every path below an
 * archive's directory is walked with openat and O_NOFOLLOW. The readers are
 * in localread.c. See localmail.h. */
#include "localmail_int.h"
#include "select.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LINE_DECIDE 4096   /* a line this long cannot be a "From " line: stream it */
/* Temporaries are "%tmp.XXXXXX.NAME" (or "%tmp.XXXXXX" inside a directory a
 * Maildir is committed into): mt_lm_safe_path never writes '%' before a
 * non-hex digit and a Maildir++ folder starts with '.', so no folder ever
 * maps to one, and Dovecot never takes one for a folder. */
#define TMP_MARK "%tmp."
#define TMP_LEN 11          /* "%tmp." and six random characters */

const struct mt_lm_flag mt_lm_flagmap[MT_LM_NFLAGS] = {
	{ MT_F_ANSWERED, 'A', 'R' }, { MT_F_FLAGGED, 'F', 'F' }, { MT_F_DRAFT, 'T', 'D' }, { MT_F_DELETED, 'D', 'T' },
};

int mt_lm_mbox_parse(const char *s)
{
	static const char *const names[] = { "auto", "mboxrd", "mboxo", "mboxcl2" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

const char *mt_lm_mbox_name(enum mt_lm_mbox f)
{
	return f == MT_LM_MBOXRD ? "mboxrd" : f == MT_LM_MBOXO ? "mboxo" : f == MT_LM_MBOXCL2 ? "mboxcl2" : "";
}

char *mt_lm_maildirpp_path(const char *folder, char delim, struct mt_err *e)
{
	if (strcasecmp(folder, "INBOX") == 0)
		return mt_xstrdup(".");
	char *out = mt_xstrdup("");
	for (const char *p = folder;;) {
		const char *end = delim ? strchr(p, delim) : NULL;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *comp = mt_xasprintf("%.*s", (int)len, p), *enc = len ? mt_mutf7_encode(comp) : NULL;
		const char *why = len == 0 ? "an empty name" : memchr(p, '.', len) ? "a '.' (its hierarchy separator)"
				: memchr(p, '/', len) ? "a '/'" : enc == NULL ? "bytes that are not UTF-8" : NULL;
		free(comp);
		if (why) {
			free(enc);
			free(out);
			mt_seterr(e, MT_EDATA, "folder '%s' cannot be a Maildir++ folder: it has %s; use --layout fs", folder, why);
			return NULL;
		}
		char *n = mt_xasprintf("%s.%s", out, enc);
		free(out);
		free(enc);
		out = n;
		if (!end)
			break;
		p = end + 1;
	}
	return out;
}

enum mt_lm_fmt mt_lm_format_of(const char *path)
{
	size_t n = strlen(path);
	if (n > 8 && strcmp(path + n - 8, ".mbox.gz") == 0)
		return MT_LM_MBOXGZ;
	if (n > 5 && strcmp(path + n - 5, ".mbox") == 0)
		return MT_LM_MBOX;
	return MT_LM_MAILDIR;
}

int mt_lm_format_named(const char *path)
{
	size_t n = strlen(path);
	if (n && path[n - 1] == '/')
		return MT_LM_MAILDIR;   /* "x.zip/": a directory, said so */
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t bn = strlen(base);
	if (bn > 8 && strcmp(base + bn - 8, ".mbox.gz") == 0)
		return MT_LM_MBOXGZ;
	if (bn > 5 && strcmp(base + bn - 5, ".mbox") == 0)
		return MT_LM_MBOX;
	const char *dot = strrchr(base, '.');
	if (dot == NULL || dot == base || strpbrk(dot, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == NULL)
		return MT_LM_MAILDIR;   /* no extension (".hidden", "backup.2024-12" have none) */
	if (strcmp(dot, ".d") == 0 || strcasecmp(dot, ".maildir") == 0)
		return MT_LM_MAILDIR;
	return -1;
}

int mt_lm_format_parse(const char *s)
{
	if (strcmp(s, "mbox") == 0)
		return MT_LM_MBOX;
	if (strcmp(s, "mbox.gz") == 0)
		return MT_LM_MBOXGZ;
	if (strcmp(s, "maildir") == 0)
		return MT_LM_MAILDIR;
	return -1;
}

const char *mt_lm_format_ext(enum mt_lm_fmt f)
{
	return f == MT_LM_MBOX ? ".mbox" : f == MT_LM_MBOXGZ ? ".mbox.gz" : "";
}

/* Names a Maildir keeps for itself inside a folder's directory. */
static int maildir_reserved(const char *p, size_t len)
{
	return (len == 3 && (memcmp(p, "cur", 3) == 0 || memcmp(p, "new", 3) == 0 || memcmp(p, "tmp", 3) == 0)) ||
	       (len >= 7 && memcmp(p, "dovecot", 7) == 0);
}

/* Writes the escaped form of folder to out (when not NULL); returns its
 * length. Two passes of the same code: the buffer is exactly that long. */
static size_t safe_path_emit(const char *folder, char delim, int maildir, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	const char *p = folder;
#define PUT(c) do { if (out) out[o] = (c); o++; } while (0)
#define PUTS(s) do { for (const char *s_ = (s); *s_; s_++) PUT(*s_); } while (0)
	for (;;) {
		const char *end = delim ? strchr(p, delim) : NULL;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			PUTS("%00");
		else if (len == 1 && p[0] == '.')
			PUTS("%2E");
		else if (len == 2 && p[0] == '.' && p[1] == '.')
			PUTS("%2E%2E");
		else
			for (size_t i = 0; i < len; i++) {
				unsigned char c = (unsigned char)p[i];
				/* '/' inside a name (another delimiter), '%' and '\\' are
				 * escaped, and the first letter of a name a Maildir keeps */
				if (c == '/' || c == '%' || c == '\\' || (i == 0 && maildir && maildir_reserved(p, len))) {
					PUT('%');
					PUT(hex[c >> 4]);
					PUT(hex[c & 15]);
				} else {
					PUT((char)c);
				}
			}
		if (!end)
			break;
		PUT('/');
		p = end + 1;
	}
	PUT('\0');
#undef PUT
#undef PUTS
	return o;
}

char *mt_lm_safe_path(const char *folder, char delim, int maildir)
{
	char *out = mt_xmalloc(safe_path_emit(folder, delim, maildir, NULL));
	safe_path_emit(folder, delim, maildir, out);
	return out;
}

int mt_lm_keyword_ok(const char *k)
{
	if (*k == '\0')
		return 0;
	for (const char *p = k; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("(){%*\"\\]", *p))
			return 0;
	return 1;
}

void mt_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* ---- places ------------------------------------------------------------- */

static int io_err(struct mt_err *e, const char *what, const char *path)
{
	if (errno == ENOSPC)
		return mt_seterr(e, MT_EIO, "%s '%s': no space left on device", what, path);
	return mt_seterr(e, MT_EIO, "%s '%s': %s", what, path, strerror(errno));
}

char *mt_lm_disp(const char *shown, const char *rel, size_t rlen)
{
	if (shown == NULL || *shown == '\0')
		return mt_xasprintf("%.*s", (int)rlen, rel);
	if (rlen == 1 && rel[0] == '.')
		return mt_xstrdup(shown);
	return mt_xasprintf("%s%s%.*s", shown, shown[strlen(shown) - 1] == '/' ? "" : "/", (int)rlen, rel);
}

static int bad_component(const char *c, size_t n)
{
	return n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
}

static int open_dir_nofollow(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int mt_lm_open_parent(int dirfd, const char *shown, const char *rel, int make, const char **leaf, int *missing,
		      struct mt_err *e)
{
	const char *p = rel;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (missing)
		*missing = 0;
	if (fd < 0) {
		char *d = mt_lm_disp(shown, ".", 1);
		io_err(e, "cannot open", d);
		free(d);
		return -1;
	}
	if (strcmp(rel, ".") == 0) {
		*leaf = rel;
		return fd;
	}
	for (;;) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);
		if (bad_component(p, n)) {
			char *d = mt_lm_disp(shown, rel, strlen(rel));
			mt_seterr(e, MT_EDATA, "'%s': not a usable archive path", d);
			free(d);
			close(fd);
			return -1;
		}
		if (sl == NULL)
			break;
		char *c = mt_xasprintf("%.*s", (int)n, p);
		int nfd = open_dir_nofollow(fd, c);
		if (nfd < 0 && errno == ENOENT && make && (mkdirat(fd, c, 0700) == 0 || errno == EEXIST))
			nfd = open_dir_nofollow(fd, c);
		int err = errno;
		free(c);
		close(fd);
		if (nfd < 0) {
			char *d = mt_lm_disp(shown, rel, (size_t)(sl - rel));
			if (err == ENOENT && !make && missing)
				*missing = 1;
			else if (err == ELOOP || err == ENOTDIR)
				mt_seterr(e, MT_EDATA, "'%s' is a symbolic link or not a directory; not followed", d);
			else {
				errno = err;
				io_err(e, "cannot open", d);
			}
			free(d);
			return -1;
		}
		fd = nfd;
		p = sl + 1;
	}
	*leaf = p;
	return fd;
}

/* What is at leaf in pfd for an archive of format fmt: 0 nothing yet (or,
 * for a Maildir, a directory without cur/ to commit into: *into set), 1 an
 * archive, or an error. */
static int leaf_state(int pfd, const char *leaf, const char *d, enum mt_lm_fmt fmt, int *into, struct mt_err *e)
{
	struct stat st;
	*into = 0;
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -io_err(e, "cannot look at", d);
	if (S_ISLNK(st.st_mode))
		return -mt_seterr(e, MT_EDATA, "'%s' is a symbolic link; not followed", d);
	if (fmt != MT_LM_MAILDIR)
		return S_ISREG(st.st_mode) ? 1 : -mt_seterr(e, MT_EDATA, "'%s' exists and is not a regular file", d);
	if (!S_ISDIR(st.st_mode))
		return -mt_seterr(e, MT_EDATA, "'%s' exists and is not a directory", d);
	int lfd = open_dir_nofollow(pfd, leaf);
	if (lfd < 0)
		return -io_err(e, "cannot open", d);
	int r = fstatat(lfd, "cur", &st, AT_SYMLINK_NOFOLLOW);
	close(lfd);
	if (r < 0 && errno == ENOENT) {
		*into = 1;
		return 0;
	}
	if (r < 0)
		return -io_err(e, "cannot look at", d);
	return S_ISDIR(st.st_mode) ? 1 : -mt_seterr(e, MT_EDATA, "'%s/cur' is a symbolic link or not a directory", d);
}

int mt_lm_names_ok(const char *shown, const char *rel, struct mt_err *e)
{
	const char *leaf = strrchr(rel, '/');
	leaf = leaf ? leaf + 1 : rel;
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		/* the leaf is first written as "%tmp.XXXXXX.LEAF" beside it */
		size_t need = p == leaf && strcmp(leaf, ".") != 0 ? TMP_LEN + 1 + n : n;
		if (need > NAME_MAX) {
			char *d = mt_lm_disp(shown, rel, strlen(rel));
			int r = mt_seterr(e, MT_EDATA, "'%s': %s'%.*s%s' (%zu bytes) is longer than a file name may be (%d)", d,
					  need != n ? "the temporary name of " : "", (int)(n > 40 ? 40 : n), p, n > 40 ? "..." : "",
					  need, NAME_MAX);
			free(d);
			return r;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return MT_OK;
}

int mt_lm_probe(int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt, int *exists, struct mt_err *e)
{
	const char *leaf;
	int missing, into;
	*exists = 0;
	int pfd = mt_lm_open_parent(dirfd, shown, rel, 0, &leaf, &missing, e);
	if (pfd < 0)
		return missing ? MT_OK : e->code;
	char *d = mt_lm_disp(shown, rel, strlen(rel));
	int st = leaf_state(pfd, leaf, d, fmt, &into, e);
	free(d);
	close(pfd);
	if (st < 0)
		return -st;
	*exists = st;
	return MT_OK;
}

/* A temporary of this file's making: "%tmp.XXXXXX" then rest. */
static int is_tmp(const char *name, const char *rest)
{
	if (strncmp(name, TMP_MARK, strlen(TMP_MARK)) != 0 || strlen(name) < TMP_LEN)
		return 0;
	return strcmp(name + TMP_LEN, rest) == 0;
}

static void list_tmps(int dfd, const char *prefix, const char *rest, char ***names, size_t *n)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (d == NULL && fd >= 0)
		close(fd);
	while (d && (de = readdir(d)) != NULL)
		if (is_tmp(de->d_name, rest)) {
			*names = mt_xrealloc(*names, sizeof **names * (*n + 2));
			(*names)[(*n)++] = mt_xasprintf("%s%s", prefix, de->d_name);
			(*names)[*n] = NULL;
		}
	if (d)
		closedir(d);
}

size_t mt_lm_stale(int dirfd, const char *rel, char ***names)
{
	const char *leaf;
	int missing;
	struct mt_err e;
	size_t n = 0;
	*names = NULL;
	int pfd = mt_lm_open_parent(dirfd, NULL, rel, 0, &leaf, &missing, &e);
	if (pfd < 0)
		return 0;
	char *prefix = mt_xasprintf("%.*s", (int)(leaf - rel), rel);
	if (strcmp(leaf, ".") != 0) {
		char *rest = mt_xasprintf(".%s", leaf);
		list_tmps(pfd, prefix, rest, names, &n);
		free(rest);
	}
	/* a Maildir committed into a directory keeps its temporary inside it */
	int lfd = strcmp(leaf, ".") == 0 ? fcntl(pfd, F_DUPFD_CLOEXEC, 0) : open_dir_nofollow(pfd, leaf);
	if (lfd >= 0) {
		char *inside = strcmp(leaf, ".") == 0 ? mt_xstrdup(prefix) : mt_xasprintf("%s%s/", prefix, leaf);
		list_tmps(lfd, inside, "", names, &n);
		free(inside);
		close(lfd);
	}
	free(prefix);
	close(pfd);
	return n;
}

/* rename, but never over anything: RENAME_NOREPLACE, or on file systems
 * without it link + unlink (files) or a check just before (directories). */
static int rename_noreplace(int ofd, const char *old, int nfd, const char *new, int isdir)
{
	struct stat st;
	if (renameat2(ofd, old, nfd, new, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (!isdir) {
		if (linkat(ofd, old, nfd, new, 0) < 0)
			return -1;
		unlinkat(ofd, old, 0);
		return 0;
	}
	if (fstatat(nfd, new, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(ofd, old, nfd, new);
}

/* n random characters [a-z0-9] */
static void random_chars(char *out, size_t n)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static unsigned long fallback;
	unsigned char rnd[32];
	if (n > sizeof rnd)
		n = sizeof rnd;
	if (getrandom(rnd, n, 0) != (ssize_t)n) {
		/* no entropy source: unique enough for a name created with O_EXCL */
		unsigned long x = (unsigned long)getpid() * 2654435761u ^ (unsigned long)time(NULL) ^ ++fallback * 40503u;
		for (size_t i = 0; i < n; i++, x = x * 6364136223846793005u + 1442695040888963407u)
			rnd[i] = (unsigned char)(x >> 33);
	}
	for (size_t i = 0; i < n; i++)
		out[i] = al[rnd[i] % 36];
	out[n] = '\0';
}

/* ---- writing ----------------------------------------------------------- */

enum { SUB_TMP, SUB_NEW, SUB_CUR };
static const char *const subname[3] = { "tmp", "new", "cur" };

struct mt_lm_writer {
	enum mt_lm_fmt fmt;
	int digest_only, cl2, mdfolder, committed;
	int spool_rd;             /* mboxrd, signed: spooled until whole, as mboxcl2 */
	int exact;                /* no "From " quoting, the end kept as it is: mboxcl2 and Maildir */
	char *shown;              /* the archive as messages name it */
	int pfd;                  /* the directory it goes into */
	char *leaf;               /* its name there ("." : pfd itself) */
	int into, leafd;          /* Maildir committed into the existing directory leafd */
	int hold;                 /* the directory holding the temporary (pfd, or leafd) */
	char *tmp, *tmp_shown;    /* the temporary's name in hold, and in messages */
	int tmp_made;             /* tmp is ours (created exclusively) */
	dev_t tdev;
	ino_t tino;
	FILE *f;                  /* mbox */
	gzFile gz;                /* mbox.gz */
	int gzfd;                 /* dup of the gz file's descriptor, for fsync */
	char token[17];           /* mbox: marks the flag lines this export wrote */
	unsigned char key[32];    /* signs them (mt_lm_set_key) */
	int has_key;
	/* the message being written */
	EVP_MD_CTX *md;
	char *line;
	size_t ll, lcap;
	size_t gt;                /* '>'s the line so far starts with */
	int passthrough, pending_cr, prev_cr, in_msg;
	char dig_last;            /* mbox digests: last byte seen, for line ends */
	/* mboxcl2: the message is spooled until its length is known */
	char *head;               /* its "From " and flag lines */
	FILE *spool;
	uint64_t spooled, body_start;
	int hdr_done;
	/* Maildir */
	int tfd, sub[3], sub_made[3], kw_made, mdf_made;
	int into_made[4];         /* committed into leafd: new/, tmp/, dovecot-keywords, maildirfolder */
	FILE *mf;                 /* the message file being written */
	char *mname;
	time_t idate;
	char flagstr[40];
	char **made;              /* message files made in cur/ */
	size_t nmade;
	char **kw;                /* keywords seen, letter = index */
	size_t nkw;
	char **lost;              /* keywords that got no letter, distinct, NULL-terminated */
	size_t nlost;
	uint64_t lost_msgs;
	uint32_t *lost_uids;      /* the messages that lost some, in the order written */
	size_t nlost_uids;
	unsigned char *dig;
	size_t nd, capd;
};

/* Archive bytes: into the message's file (Maildir), into the spool while
 * an mboxcl2 message is being written, else to the file. */
static int out(struct mt_lm_writer *w, const char *s, size_t n, struct mt_err *e)
{
	if (n == 0 || w->digest_only)
		return MT_OK;
	if (w->mf) {
		if (fwrite(s, 1, n, w->mf) != n)
			return io_err(e, "writing", w->tmp_shown);
	} else if ((w->cl2 || w->spool_rd) && w->in_msg) {
		if (fwrite(s, 1, n, w->spool) != n)
			return io_err(e, "spooling a message of", w->shown);
		w->spooled += n;
	} else if (w->fmt == MT_LM_MBOXGZ) {
		if (gzwrite(w->gz, s, (unsigned)n) != (int)n)
			return io_err(e, "writing", w->shown);
	} else if (fwrite(s, 1, n, w->f) != n) {
		return io_err(e, "writing", w->shown);
	}
	return MT_OK;
}

static int maildir_start(struct mt_lm_writer *w, struct mt_err *e)
{
	struct stat st;
	w->tfd = open_dir_nofollow(w->hold, w->tmp);
	if (w->tfd < 0 || fstat(w->tfd, &st) < 0)
		goto fail;
	w->tdev = st.st_dev;
	w->tino = st.st_ino;
	for (int i = 0; i < 3; i++) {
		if (mkdirat(w->tfd, subname[i], 0700) < 0)
			goto fail;
		w->sub_made[i] = 1;
		if ((w->sub[i] = open_dir_nofollow(w->tfd, subname[i])) < 0)
			goto fail;
	}
	if (w->mdfolder) {
		int fd = openat(w->tfd, "maildirfolder", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			goto fail;
		w->mdf_made = 1;
		close(fd);
	}
	return MT_OK;
fail:
	return io_err(e, "creating", w->tmp_shown);
}

/* The spool of an mboxcl2 writer: a file nobody can open by name (O_TMPFILE
 * beside the archive; else one of ours, created exclusively and unlinked). */
static int spool_start(struct mt_lm_writer *w, struct mt_err *e)
{
	int fd = openat(w->hold, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char *name = mt_xasprintf("%s.spool", w->tmp);
		fd = openat(w->hold, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlinkat(w->hold, name, 0);
		free(name);
	}
	if (fd < 0 || (w->spool = fdopen(fd, "w+")) == NULL) {
		if (fd >= 0)
			close(fd);
		return io_err(e, "creating a spool beside", w->shown);
	}
	return MT_OK;
}

static int mbox_start(struct mt_lm_writer *w, int fd, struct mt_err *e)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return io_err(e, "creating", w->tmp_shown);
	}
	w->tdev = st.st_dev;
	w->tino = st.st_ino;
	if (w->fmt == MT_LM_MBOXGZ) {
		w->gzfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		w->gz = gzdopen(fd, "wb6");
		if (w->gz == NULL || w->gzfd < 0) {
			if (w->gz == NULL)
				close(fd);
			return mt_seterr(e, MT_EOS, "cannot start gzip output");
		}
	} else if ((w->f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return io_err(e, "creating", w->tmp_shown);
	}
	return w->cl2 ? spool_start(w, e) : MT_OK;
}

/* The temporary, created exclusively under a fresh name each time: an
 * earlier run's (or anything planted under such a name) is never written
 * into, nor removed. Returns the mbox file's descriptor (0 for a Maildir). */
static int make_tmp(struct mt_lm_writer *w, struct mt_err *e)
{
	size_t sl = strlen(w->shown), ll = strlen(w->leaf);
	for (int tries = 0; tries < 100; tries++) {
		char rnd[7];
		int fd = 0;
		random_chars(rnd, 6);
		free(w->tmp);
		free(w->tmp_shown);
		w->tmp = w->into ? mt_xasprintf("%s%s", TMP_MARK, rnd) : mt_xasprintf("%s%s.%s", TMP_MARK, rnd, w->leaf);
		w->tmp_shown = w->into ? mt_xasprintf("%s/%s", w->shown, w->tmp)
				       : mt_xasprintf("%.*s%s", (int)(sl - ll), w->shown, w->tmp);
		if (w->fmt == MT_LM_MAILDIR)
			fd = mkdirat(w->hold, w->tmp, 0700);
		else
			fd = openat(w->hold, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			w->tmp_made = 1;
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	return -io_err(e, "creating", w->tmp_shown);
}

int mt_lm_open(struct mt_lm_writer **wp, int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt,
	       unsigned flags, struct mt_err *e)
{
	const char *leaf;
	*wp = NULL;
	struct mt_lm_writer *w = mt_xmalloc(sizeof *w);
	w->fmt = fmt;
	w->cl2 = fmt != MT_LM_MAILDIR && (flags & MT_LM_CL2);
	w->exact = w->cl2 || fmt == MT_LM_MAILDIR;
	w->mdfolder = fmt == MT_LM_MAILDIR && (flags & MT_LM_MAILDIRFOLDER);
	w->shown = mt_lm_disp(shown, rel, strlen(rel));
	w->pfd = w->leafd = w->hold = w->gzfd = w->tfd = w->sub[0] = w->sub[1] = w->sub[2] = -1;
	random_chars(w->token, 16);
	if (flags & MT_LM_DIGEST_ONLY) {
		w->digest_only = 1;
		*wp = w;
		return MT_OK;
	}
	if ((w->pfd = mt_lm_open_parent(dirfd, shown, rel, 1, &leaf, NULL, e)) < 0) {
		mt_lm_free(w);
		return e->code;
	}
	w->leaf = mt_xstrdup(leaf);
	int st = leaf_state(w->pfd, leaf, w->shown, fmt, &w->into, e);
	if (st != 0) {
		if (st > 0)
			mt_seterr(e, MT_EUSAGE, "'%s' already exists; not overwriting an archive", w->shown);
		mt_lm_free(w);
		return e->code;
	}
	if (w->into && (w->leafd = strcmp(leaf, ".") == 0 ? fcntl(w->pfd, F_DUPFD_CLOEXEC, 0)
							   : open_dir_nofollow(w->pfd, leaf)) < 0) {
		int r = io_err(e, "cannot open", w->shown);
		mt_lm_free(w);
		return r;
	}
	w->hold = w->into ? w->leafd : w->pfd;
	int fd = make_tmp(w, e);
	if (fd < 0) {
		mt_lm_free(w);
		return -fd;
	}
	int r = fmt == MT_LM_MAILDIR ? maildir_start(w, e) : mbox_start(w, fd, e);
	if (r != MT_OK) {
		mt_lm_abort(w);
		return r;
	}
	*wp = w;
	return MT_OK;
}

static void lose_keyword(struct mt_lm_writer *w, const char *k)
{
	for (size_t i = 0; i < w->nlost; i++)
		if (strcmp(w->lost[i], k) == 0)
			return;
	w->lost = mt_xrealloc(w->lost, sizeof *w->lost * (w->nlost + 2));
	w->lost[w->nlost++] = mt_xstrdup(k);
	w->lost[w->nlost] = NULL;
}

/* Flags in the name, in ASCII order as the Maildir spec wants; keywords as
 * letters a-z of dovecot-keywords, which has room for 26 per folder. */
static void maildir_flags(struct mt_lm_writer *w, unsigned sysflags, const char *const *keywords)
{
	char fl[40];
	size_t n = 0;
	unsigned char letters[26] = { 0 }, kwl[26] = { 0 };
	int lost = 0;
	for (size_t k = 0; k < MT_LM_NFLAGS; k++)
		if (sysflags & mt_lm_flagmap[k].f)
			letters[mt_lm_flagmap[k].maildir - 'A'] = 1;
	if (sysflags & MT_F_SEEN)
		letters['S' - 'A'] = 1;
	for (size_t k = 0; keywords && keywords[k]; k++) {
		size_t j = 0;
		if (!mt_lm_keyword_ok(keywords[k])) {
			lose_keyword(w, keywords[k]);
			lost = 1;
			continue;
		}
		while (j < w->nkw && strcmp(w->kw[j], keywords[k]) != 0)
			j++;
		if (j == w->nkw && w->nkw < 26) {
			w->kw = mt_xrealloc(w->kw, sizeof *w->kw * (w->nkw + 1));
			w->kw[w->nkw++] = mt_xstrdup(keywords[k]);
		}
		if (j < 26) {
			kwl[j] = 1;
		} else {
			lose_keyword(w, keywords[k]);
			lost = 1;
		}
	}
	w->lost_msgs += lost;
	/* at most 26 + 26 letters were marked; fl has room for the 5 flags in use and 26 */
	for (int c = 0; c < 26; c++)
		if (letters[c] && n + 1 < sizeof fl)
			fl[n++] = (char)('A' + c);
	for (int c = 0; c < 26; c++)
		if (kwl[c] && n + 1 < sizeof fl)
			fl[n++] = (char)('a' + c);
	fl[n] = '\0';
	memcpy(w->flagstr, fl, n + 1);
}

/* "From addr date", then the flags as the first header lines; owned. The
 * lines that mark them as this export's (see mt_lm_end, own_block in
 * localread.c) follow. */
static char *mbox_head(struct mt_lm_writer *w, const char *sender, time_t idate, unsigned sysflags,
		       const char *const *keywords)
{
	char date[64], xs[8];
	struct tm tm;
	size_t n = 0, len = 0;
	int lost = 0;
	gmtime_r(&idate, &tm);
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
	char *addr = mt_xstrdup(sender && *sender ? sender : "MAILER-DAEMON");
	for (char *c = addr; *c; c++)
		if (isspace((unsigned char)*c) || (unsigned char)*c < 0x20)
			*c = '_';
	for (size_t k = 0; k < MT_LM_NFLAGS; k++)
		if (sysflags & mt_lm_flagmap[k].f)
			xs[n++] = mt_lm_flagmap[k].mbox;
	xs[n] = '\0';
	char *head = NULL;
	FILE *f = open_memstream(&head, &len);
	if (f == NULL)
		abort();
	fprintf(f, "From %s %s\nStatus: %s\nX-Status: %s\nX-Keywords:", addr, date, (sysflags & MT_F_SEEN) ? "RO" : "O", xs);
	for (size_t k = 0; keywords && keywords[k]; k++) {
		if (mt_lm_keyword_ok(keywords[k])) {
			fprintf(f, " %s", keywords[k]);
		} else {
			lose_keyword(w, keywords[k]);
			lost = 1;
		}
	}
	fputc('\n', f);
	if (fclose(f) != 0)
		abort();
	w->lost_msgs += lost;
	free(addr);
	return head;
}

void mt_lm_known_keywords(struct mt_lm_writer *w, const char *const *names, size_t n)
{
	if (w->nkw != 0 || n == 0)
		return;
	w->kw = mt_xmalloc(sizeof *w->kw * n);
	for (size_t i = 0; i < n; i++)   /* a letter without a name matches no keyword */
		w->kw[i] = mt_xstrdup(names[i] ? names[i] : "");
	w->nkw = n;
}

/* uid lost keywords if the count grew past before */
static void lost_uid(struct mt_lm_writer *w, uint32_t uid, uint64_t before)
{
	if (w->lost_msgs == before)
		return;
	w->lost_uids = mt_xrealloc(w->lost_uids, sizeof *w->lost_uids * (w->nlost_uids + 1));
	w->lost_uids[w->nlost_uids++] = uid;
}

void mt_lm_mark_mac(const unsigned char key[32], const char *head, size_t hn, const char *mark, size_t mn,
		    const unsigned char content[32], char out[MT_LM_MAC_HEX + 1])
{
	static const char dom[] = "mailtool archive flag lines v2\n";
	size_t n = sizeof dom - 1 + hn + mn + 32;
	unsigned char *buf = mt_xmalloc(n), md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	memcpy(buf, dom, sizeof dom - 1);
	memcpy(buf + sizeof dom - 1, head, hn);
	memcpy(buf + sizeof dom - 1 + hn, mark, mn);
	memcpy(buf + sizeof dom - 1 + hn + mn, content, 32);
	if (HMAC(EVP_sha256(), key, 32, buf, n, md, &mdlen) == NULL || mdlen < MT_LM_MAC_HEX / 2)
		abort();
	free(buf);
	for (unsigned i = 0; i < MT_LM_MAC_HEX / 2; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[MT_LM_MAC_HEX] = '\0';
}

int mt_lm_set_key(struct mt_lm_writer *w, const unsigned char key[32], struct mt_err *e)
{
	memcpy(w->key, key, sizeof w->key);
	w->has_key = 1;
	/* the signature covers the message: an mboxrd message is spooled, as
	 * an mboxcl2 one is, until it is whole */
	if (w->fmt != MT_LM_MAILDIR && !w->cl2 && !w->digest_only && w->spool == NULL) {
		w->spool_rd = 1;
		return spool_start(w, e);
	}
	return MT_OK;
}

/* The X-Mailtool line (after the Content-Length of mboxcl2), mark, ended
 * by the signature of everything written for the message before it: its
 * From_ line, flag lines and mark (mt_lm_mark_mac). Takes mark. */
static char *signed_mark(struct mt_lm_writer *w, char *mark, const unsigned char content[32])
{
	char mac[MT_LM_MAC_HEX + 1] = "";
	if (w->has_key)
		mt_lm_mark_mac(w->key, w->head, strlen(w->head), mark, strlen(mark), content, mac);
	char *line = mt_xasprintf("%s%s%s\n", mark, w->has_key ? " " : "", mac);
	free(mark);
	return line;
}

int mt_lm_begin(struct mt_lm_writer *w, uint32_t uid, const char *sender, time_t idate, unsigned sysflags,
		const char *const *keywords, struct mt_err *e)
{
	if (w->md)
		EVP_MD_CTX_free(w->md);
	w->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
	w->ll = w->gt = 0;
	w->passthrough = w->pending_cr = w->prev_cr = 0;
	w->dig_last = '\n';
	w->idate = idate;
	uint64_t lost_before = w->lost_msgs;
	if (w->fmt != MT_LM_MAILDIR) {
		free(w->head);
		w->head = mbox_head(w, sender, idate, sysflags, keywords);
		lost_uid(w, uid, lost_before);
		w->spooled = w->body_start = 0;
		w->hdr_done = 0;
		if (w->cl2 || w->spool_rd) {
			w->in_msg = 1;
			if (w->spool && (fflush(w->spool) != 0 || ftruncate(fileno(w->spool), 0) < 0 || fseeko(w->spool, 0, SEEK_SET) < 0))
				return io_err(e, "spooling a message of", w->shown);
			return MT_OK;
		}
		/* unsigned (no key: a test's writer) */
		int r = out(w, w->head, strlen(w->head), e);
		char *mark = signed_mark(w, mt_xasprintf("X-Mailtool: mboxrd %s", w->token), NULL);
		if (r == MT_OK)
			r = out(w, mark, strlen(mark), e);
		free(mark);
		w->in_msg = 1;
		return r;
	}
	w->in_msg = 1;
	maildir_flags(w, sysflags, keywords);
	lost_uid(w, uid, lost_before);
	free(w->mname);
	w->mname = mt_xasprintf("%010u.mailtool", uid);
	if (w->digest_only)
		return MT_OK;
	int fd = openat(w->sub[SUB_TMP], w->mname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && (w->mf = fdopen(fd, "w")) != NULL)
		return MT_OK;
	if (fd >= 0)
		close(fd);
	return io_err(e, "creating a message in", w->tmp_shown);
}

/* One complete line (or a long line's head) of an mbox message, stored so
 * that the reader gives back exactly the canonical text (see
 * digest_canonical): the CR of a CRLF is dropped unless another CR precedes
 * it (the reader turns "X\n" into "X\r\n" and keeps "X\r\r\n" as it is);
 * and for mboxrd the quoting: ">*From " gets one more '>'. A head is always
 * long enough to hold the '>'s and "From " (see mt_lm_write). */
static int mbox_line(struct mt_lm_writer *w, const char *l, size_t n, int complete, struct mt_err *e)
{
	size_t k = 0;
	int r;
	while (k < n && l[k] == '>')
		k++;
	if (!w->exact && n - k >= 5 && memcmp(l + k, "From ", 5) == 0 && out(w, ">", 1, e) != MT_OK)
		return e->code;
	if (complete && n >= 2 && l[n - 2] == '\r' && l[n - 1] == '\n' && !(n >= 3 && l[n - 3] == '\r')) {
		r = out(w, l, n - 2, e);
		if (r == MT_OK)
			r = out(w, "\n", 1, e);
	} else {
		r = out(w, l, n, e);
	}
	/* mboxcl2: the body, whose length Content-Length says, starts after
	 * the first empty line */
	if (complete && !w->hdr_done && (n == 1 || (n == 2 && l[0] == '\r'))) {
		w->hdr_done = 1;
		w->body_start = w->spooled;
	}
	return r;
}

/* What an archive gives back (and so what its digest covers) has CRLF for
 * every bare LF, and in an mbox (but mboxcl2, which says where a message
 * ends) a line end at the end. For messages as RFC 5322 wants them that is
 * the very bytes the server sent. */
static void digest_canonical(struct mt_lm_writer *w, const char *data, size_t len)
{
	size_t from = 0;
	for (size_t i = 0; i < len; i++) {
		char prev = i ? data[i - 1] : w->dig_last;
		if (data[i] == '\n' && prev != '\r') {
			EVP_DigestUpdate(w->md, data + from, i - from);
			EVP_DigestUpdate(w->md, "\r\n", 2);
			from = i + 1;
		}
	}
	EVP_DigestUpdate(w->md, data + from, len - from);
	if (len)
		w->dig_last = data[len - 1];
}

/* The rest of a very long line, byte by byte: a CR is held back until the
 * next byte says whether it ends the line (dropped, as in mbox_line, unless
 * a CR came before it). */
static int passthrough_byte(struct mt_lm_writer *w, char c, struct mt_err *e)
{
	int r = MT_OK;
	if (w->pending_cr && c == '\n') {
		r = w->prev_cr ? out(w, "\r\n", 2, e) : out(w, "\n", 1, e);
		w->pending_cr = w->prev_cr = w->passthrough = 0;
		return r;
	}
	if (w->pending_cr)
		r = out(w, "\r", 1, e);
	w->prev_cr = w->pending_cr;
	w->pending_cr = c == '\r';
	if (r == MT_OK && c != '\r')
		r = out(w, &c, 1, e);
	if (c == '\n')
		w->passthrough = w->prev_cr = 0;
	return r;
}

/* A message's bytes, line by line: stored with LF line ends as mail
 * software keeps them (see mbox_line; the reader puts the CRs back). */
int mt_lm_write(struct mt_lm_writer *w, const char *data, size_t len, struct mt_err *e)
{
	digest_canonical(w, data, len);
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		int r = MT_OK;
		if (w->passthrough) {
			if ((r = passthrough_byte(w, c, e)) != MT_OK)
				return r;
			continue;
		}
		if (w->ll + 1 > w->lcap) {
			w->lcap = w->lcap ? w->lcap * 2 : 256;
			w->line = mt_xrealloc(w->line, w->lcap);
		}
		if (w->gt == w->ll && c == '>')
			w->gt++;
		w->line[w->ll++] = c;
		if (c == '\n') {
			r = mbox_line(w, w->line, w->ll, 1, e);
			w->ll = w->gt = 0;
		} else if (w->ll >= LINE_DECIDE && w->ll >= w->gt + 5) {
			/* long enough to know whether it is a ">*From " line: the
			 * head goes out, the rest streams; a trailing CR waits */
			size_t n = w->ll;
			if (w->line[n - 1] == '\r') {
				n--;
				w->pending_cr = 1;
				w->prev_cr = w->line[n - 1] == '\r';
			}
			r = mbox_line(w, w->line, n, 0, e);
			w->ll = w->gt = 0;
			w->passthrough = 1;
		}
		if (r != MT_OK)
			return r;
	}
	return MT_OK;
}

static void add_digest(struct mt_lm_writer *w, const unsigned char d[32])
{
	if (w->nd == w->capd) {
		w->capd = w->capd ? w->capd * 2 : 64;
		w->dig = mt_xrealloc(w->dig, w->capd * 32);
	}
	memcpy(w->dig + 32 * w->nd++, d, 32);
}

static int maildir_end(struct mt_lm_writer *w, struct mt_err *e)
{
	int r = MT_OK;
	if (w->digest_only)
		return MT_OK;
	char *to = mt_xasprintf("%s:2,%s", w->mname, w->flagstr);
	struct timespec ts[2] = { { .tv_sec = w->idate }, { .tv_sec = w->idate } };
	if (fflush(w->mf) != 0 || futimens(fileno(w->mf), ts) < 0 || fsync(fileno(w->mf)) < 0)
		r = io_err(e, "writing", w->tmp_shown);
	if (fclose(w->mf) != 0 && r == MT_OK)
		r = io_err(e, "writing", w->tmp_shown);
	w->mf = NULL;
	if (r == MT_OK && rename_noreplace(w->sub[SUB_TMP], w->mname, w->sub[SUB_CUR], to, 0) < 0)
		r = io_err(e, "finishing a message in", w->tmp_shown);
	if (r == MT_OK) {
		w->made = mt_xrealloc(w->made, sizeof *w->made * (w->nmade + 1));
		w->made[w->nmade++] = to;
		w->in_msg = 0;
	} else {
		free(to);
	}
	return r;
}

/* A spooled message (mboxcl2, or signed mboxrd): its lines (mboxcl2: and
 * lengths), signed over them and the message, then the message. */
static int spool_end(struct mt_lm_writer *w, struct mt_err *e)
{
	char buf[65536];
	size_t k;
	w->in_msg = 0;
	if (w->digest_only)
		return MT_OK;
	unsigned char content[32];
	unsigned dn = 32;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	if (fflush(w->spool) != 0 || fseeko(w->spool, 0, SEEK_SET) < 0) {
		EVP_MD_CTX_free(md);
		return io_err(e, "spooling a message of", w->shown);
	}
	while ((k = fread(buf, 1, sizeof buf, w->spool)) > 0)
		EVP_DigestUpdate(md, buf, k);
	EVP_DigestFinal_ex(md, content, &dn);
	EVP_MD_CTX_free(md);
	if (ferror(w->spool) || fseeko(w->spool, 0, SEEK_SET) < 0)
		return io_err(e, "spooling a message of", w->shown);
	char *mark = w->cl2 ? mt_xasprintf("Content-Length: %llu\nX-Mailtool: mboxcl2 %s %llu",
					   (unsigned long long)(w->hdr_done ? w->spooled - w->body_start : 0), w->token,
					   (unsigned long long)w->spooled)
			    : mt_xasprintf("X-Mailtool: mboxrd %s", w->token);
	mark = signed_mark(w, mark, content);
	int r = out(w, w->head, strlen(w->head), e);
	if (r == MT_OK)
		r = out(w, mark, strlen(mark), e);
	free(mark);
	while (r == MT_OK && (k = fread(buf, 1, sizeof buf, w->spool)) > 0)
		r = out(w, buf, k, e);
	if (r == MT_OK && ferror(w->spool))
		r = io_err(e, "spooling a message of", w->shown);
	return r == MT_OK ? out(w, "\n", 1, e) : r;
}

int mt_lm_end(struct mt_lm_writer *w, struct mt_err *e)
{
	unsigned char d[32];
	unsigned int dn = 32;
	int r = MT_OK;
	if (!w->exact && w->dig_last != '\n')
		EVP_DigestUpdate(w->md, "\r\n", 2);
	EVP_DigestFinal_ex(w->md, d, &dn);
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
	/* mboxrd: a message ends with a line end (after a last CR, one the
	 * reader keeps: canonical text ends "\r\r\n" there); mboxcl2 and a
	 * Maildir keep the end as it is. Then, in an mbox, the blank line before
	 * the next "From " */
	int last_cr = w->pending_cr || (w->ll && w->line[w->ll - 1] == '\r');
	if (w->pending_cr)
		r = out(w, "\r", 1, e);
	if (r == MT_OK && w->ll)
		r = mbox_line(w, w->line, w->ll, 0, e);
	if (r == MT_OK && !w->exact && (w->ll || w->passthrough))
		r = last_cr ? out(w, "\r\n", 2, e) : out(w, "\n", 1, e);
	w->ll = w->gt = 0;
	w->passthrough = w->pending_cr = w->prev_cr = 0;
	if (r == MT_OK && w->fmt == MT_LM_MAILDIR)
		r = maildir_end(w, e);
	else if (r == MT_OK && (w->cl2 || w->spool_rd))
		r = spool_end(w, e);
	else if (r == MT_OK)
		r = out(w, "\n", 1, e);
	w->in_msg = w->fmt == MT_LM_MAILDIR && r != MT_OK;
	if (r == MT_OK)
		add_digest(w, d);
	return r;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int maildir_flush(struct mt_lm_writer *w, struct mt_err *e)
{
	int r = MT_OK;
	if (w->nkw) {
		int fd = openat(w->tfd, "dovecot-keywords", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		w->kw_made = fd >= 0;
		for (size_t i = 0; fd >= 0 && r == MT_OK && i < w->nkw; i++) {
			char *l = mt_xasprintf("%zu %s\n", i, w->kw[i]);
			if (write_all(fd, l, strlen(l)) < 0)
				r = io_err(e, "writing the keywords of", w->tmp_shown);
			free(l);
		}
		if (r == MT_OK && (fd < 0 || fsync(fd) < 0))
			r = io_err(e, "writing the keywords of", w->tmp_shown);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; r == MT_OK && i < 3; i++)
		if (fsync(w->sub[i]) < 0)
			r = io_err(e, "flushing", w->tmp_shown);
	if (r == MT_OK && fsync(w->tfd) < 0)
		r = io_err(e, "flushing", w->tmp_shown);
	return r;
}

/* A Maildir into an existing directory: its files first, cur/ last (that
 * rename is the commit), each never over anything; new/ and tmp/ made when
 * missing; then the emptied temporary goes. */
static int maildir_commit_into(struct mt_lm_writer *w, struct mt_err *e)
{
	static const char *const files[] = { "dovecot-keywords", "maildirfolder" };
	int have[2] = { w->kw_made, w->mdf_made };
	for (int i = 0; i < 2; i++) {
		if (!have[i])
			continue;
		if (rename_noreplace(w->tfd, files[i], w->leafd, files[i], 0) < 0)
			return errno == EEXIST ? mt_seterr(e, MT_EUSAGE, "'%s/%s' exists; not overwriting it", w->shown, files[i])
					       : io_err(e, "committing", w->shown);
		w->into_made[2 + i] = 1;
	}
	for (int i = SUB_TMP; i <= SUB_NEW; i++) {
		if (mkdirat(w->leafd, subname[i], 0700) == 0)
			w->into_made[i] = 1;
		else if (errno != EEXIST)
			return io_err(e, "committing", w->shown);
	}
	if (rename_noreplace(w->tfd, "cur", w->leafd, "cur", 1) < 0)
		return errno == EEXIST ? mt_seterr(e, MT_EUSAGE, "'%s' appeared during the export; not overwriting it", w->shown)
				       : io_err(e, "committing", w->shown);
	w->committed = 1;
	unlinkat(w->tfd, "new", AT_REMOVEDIR);
	unlinkat(w->tfd, "tmp", AT_REMOVEDIR);
	unlinkat(w->hold, w->tmp, AT_REMOVEDIR);
	return fsync(w->leafd) < 0 ? io_err(e, "flushing", w->shown) : MT_OK;
}

int mt_lm_commit(struct mt_lm_writer *w, struct mt_err *e)
{
	int r = MT_OK;
	if (w->nd)
		mt_sort(w->dig, w->nd, 32, cmp_digest);
	if (w->digest_only)
		return MT_OK;
	if (w->fmt == MT_LM_MAILDIR) {
		r = maildir_flush(w, e);
		if (r == MT_OK && w->into)
			return maildir_commit_into(w, e);
	} else if (w->fmt == MT_LM_MBOXGZ) {
		int zr = gzclose(w->gz);
		w->gz = NULL;
		if (zr != Z_OK)
			r = mt_seterr(e, MT_EIO, "writing '%s': %s", w->tmp_shown, zr == Z_ERRNO ? strerror(errno) : "gzip error");
		if (r == MT_OK && fsync(w->gzfd) < 0)
			r = io_err(e, "flushing", w->tmp_shown);
		close(w->gzfd);
		w->gzfd = -1;
	} else {
		if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
			r = io_err(e, "flushing", w->tmp_shown);
		if (fclose(w->f) != 0 && r == MT_OK)
			r = io_err(e, "closing", w->tmp_shown);
		w->f = NULL;
	}
	if (r == MT_OK && rename_noreplace(w->pfd, w->tmp, w->pfd, w->leaf, w->fmt == MT_LM_MAILDIR) < 0)
		r = errno == EEXIST ? mt_seterr(e, MT_EUSAGE, "'%s' appeared during the export; not overwriting it", w->shown)
				    : io_err(e, "renaming to", w->shown);
	if (r == MT_OK) {
		w->committed = 1;
		/* the rename is durable only once its directory is: until then
		 * nothing may be removed from the server on the archive's word */
		if (fsync(w->pfd) < 0)
			r = io_err(e, "flushing the directory of", w->shown);
	}
	return r;
}

/* The temporary is still the one this writer created (not replaced since). */
static int tmp_is_ours(const struct mt_lm_writer *w)
{
	struct stat st;
	return w->tmp_made && !w->committed && fstatat(w->hold, w->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_dev == w->tdev && st.st_ino == w->tino;
}

void mt_lm_abort(struct mt_lm_writer *w)
{
	if (w == NULL)
		return;
	if (w->committed || w->digest_only) {
		mt_lm_free(w);
		return;
	}
	/* exactly what this writer made; a directory that holds anything else
	 * stays (rmdir fails) */
	if (w->fmt == MT_LM_MAILDIR) {
		static const char *const files[] = { "dovecot-keywords", "maildirfolder" };
		if (w->mf)
			fclose(w->mf);
		w->mf = NULL;
		if (w->in_msg && w->mname && w->sub[SUB_TMP] >= 0)
			unlinkat(w->sub[SUB_TMP], w->mname, 0);
		for (size_t i = 0; i < w->nmade; i++)
			unlinkat(w->sub[SUB_CUR], w->made[i], 0);
		for (int i = 0; i < 2; i++)
			if (w->into_made[2 + i])
				unlinkat(w->leafd, files[i], 0);
			else if (i == 0 ? w->kw_made : w->mdf_made)
				unlinkat(w->tfd, files[i], 0);
		for (int i = SUB_TMP; i <= SUB_NEW; i++)
			if (w->into_made[i])
				unlinkat(w->leafd, subname[i], AT_REMOVEDIR);
		for (int i = 0; i < 3; i++)
			if (w->sub_made[i])
				unlinkat(w->tfd, subname[i], AT_REMOVEDIR);
		if (tmp_is_ours(w))
			unlinkat(w->hold, w->tmp, AT_REMOVEDIR);
	} else {
		if (w->gz)
			gzclose(w->gz);
		w->gz = NULL;
		if (w->f)
			fclose(w->f);
		w->f = NULL;
		if (tmp_is_ours(w))
			unlinkat(w->hold, w->tmp, 0);
	}
	mt_lm_free(w);
}

const unsigned char *mt_lm_digests(const struct mt_lm_writer *w, size_t *n)
{
	*n = w->nd;
	return w->dig;
}

uint64_t mt_lm_keywords_lost(const struct mt_lm_writer *w, const char *const **names)
{
	*names = (const char *const *)w->lost;
	return w->lost_msgs;
}

const uint32_t *mt_lm_keywords_lost_uids(const struct mt_lm_writer *w, size_t *n)
{
	*n = w->nlost_uids;
	return w->lost_uids;
}

void mt_lm_free(struct mt_lm_writer *w)
{
	if (w == NULL)
		return;
	explicit_bzero(w->key, sizeof w->key);
	if (w->md)
		EVP_MD_CTX_free(w->md);
	if (w->gz)
		gzclose(w->gz);
	if (w->f)
		fclose(w->f);
	if (w->spool)
		fclose(w->spool);
	if (w->mf)
		fclose(w->mf);
	int fds[] = { w->gzfd, w->tfd, w->sub[0], w->sub[1], w->sub[2], w->pfd, w->leafd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (size_t i = 0; i < w->nkw; i++)
		free(w->kw[i]);
	free(w->kw);
	for (size_t i = 0; i < w->nlost; i++)
		free(w->lost[i]);
	free(w->lost);
	free(w->lost_uids);
	for (size_t i = 0; i < w->nmade; i++)
		free(w->made[i]);
	free(w->made);
	free(w->line);
	free(w->mname);
	free(w->head);
	free(w->dig);
	free(w->shown);
	free(w->leaf);
	free(w->tmp);
	free(w->tmp_shown);
	free(w);
}

/* SHA-256 of every message of an archive, sorted; *got owned by the caller. */
static int archive_digests(int dirfd, const char *shown, const char *rel, unsigned char **got, size_t *k,
			   struct mt_err *e)
{
	struct mt_lm_reader *r;
	struct mt_lm_msg m;
	size_t cap = 64;
	int more, rc = mt_lm_reader_openat(&r, dirfd, shown, rel, NULL, e);
	*got = NULL;
	*k = 0;
	if (rc != MT_OK)
		return rc;
	*got = mt_xmalloc(32 * cap);
	/* an entry that is not a regular file is not a message we wrote: a
	 * difference, which the count below reports */
	while ((more = mt_lm_next(r, &m, e)) == 1 || more == MT_LM_SKIP) {
		if (more == MT_LM_SKIP)
			continue;
		if (*k == cap) {
			cap *= 2;
			*got = mt_xrealloc(*got, 32 * cap);
		}
		mt_sha256(m.data, m.len, *got + 32 * (*k)++);
		mt_lm_msg_release(&m);
	}
	mt_lm_reader_close(r);
	if (more != 0) {
		free(*got);
		*got = NULL;
		return more;
	}
	if (*k)
		mt_sort(*got, *k, 32, cmp_digest);
	return MT_OK;
}

int mt_lm_verify(int dirfd, const char *shown, const char *rel, const unsigned char *digests, size_t n,
		 struct mt_err *e)
{
	unsigned char *got;
	size_t k;
	int rc = archive_digests(dirfd, shown, rel, &got, &k, e);
	char *d = mt_lm_disp(shown, rel, strlen(rel));
	if (rc == MT_OK && k != n)
		rc = mt_seterr(e, MT_EDATA, "verification of '%s' failed: %zu messages read back, %zu written", d, k, n);
	else if (rc == MT_OK && n && memcmp(got, digests, 32 * n) != 0)
		rc = mt_seterr(e, MT_EDATA, "verification of '%s' failed: a message read back differs from what the server sent", d);
	free(d);
	free(got);
	return rc;
}

int mt_lm_verify_subset(int dirfd, const char *shown, const char *rel, const unsigned char *digests, size_t n,
			struct mt_err *e)
{
	unsigned char *got, *want = mt_xmalloc(32 * (n + 1));
	size_t k, j = 0, missing = 0;
	int rc = archive_digests(dirfd, shown, rel, &got, &k, e);
	if (rc != MT_OK) {
		free(want);
		return rc;
	}
	if (n) {
		memcpy(want, digests, 32 * n);
		mt_sort(want, n, 32, cmp_digest);
	}
	/* both sorted: each wanted digest takes one equal archived one */
	for (size_t i = 0; i < n; i++) {
		while (j < k && memcmp(got + 32 * j, want + 32 * i, 32) < 0)
			j++;
		if (j < k && memcmp(got + 32 * j, want + 32 * i, 32) == 0)
			j++;
		else
			missing++;
	}
	free(got);
	free(want);
	if (missing) {
		char *d = mt_lm_disp(shown, rel, strlen(rel));
		rc = mt_seterr(e, MT_EDATA, "'%s' exists but lacks %zu of the %zu messages selected", d, missing, n);
		free(d);
	}
	return rc;
}
