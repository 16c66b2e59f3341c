/* localmail.c — mboxrd (plain or gzip) and Maildir archives, written message
 * by message in chunks (a message is never held whole) under a temporary
 * name created exclusively, then flushed and renamed; and the readers import
 * and verification use. Every path below an archive's directory is walked
 * with openat and O_NOFOLLOW. See localmail.h. */
#include "localmail.h"
#include "select.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LINE_DECIDE 4096   /* a line this long cannot be a "From " line: stream it */
#define TMP_MARK "%tmp."   /* NAME%tmp.XXXXXX: mt_lm_safe_path never writes '%' before a non-hex digit */

enum mt_lm_fmt mt_lm_format_of(const char *path)
{
	size_t n = strlen(path);
	if (n > 8 && strcmp(path + n - 8, ".mbox.gz") == 0)
		return MT_LM_MBOXGZ;
	if (n > 5 && strcmp(path + n - 5, ".mbox") == 0)
		return MT_LM_MBOX;
	return MT_LM_MAILDIR;
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

/* "shown/rel" (its first rlen bytes) for messages; owned. */
static char *disp(const char *shown, const char *rel, size_t rlen)
{
	if (shown == NULL || *shown == '\0')
		return mt_xasprintf("%.*s", (int)rlen, rel);
	return mt_xasprintf("%s%s%.*s", shown, shown[strlen(shown) - 1] == '/' ? "" : "/", (int)rlen, rel);
}

static int bad_component(const char *c, size_t n)
{
	return n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
}

/* The directory holding rel's last component, below dirfd, each component
 * opened without following a symbolic link (missing ones made 0700 when
 * make); *leaf is that last component. -1 with e set, or -1 with *missing
 * set (and e untouched) when a component does not exist and !make. */
static int open_parent(int dirfd, const char *shown, const char *rel, int make, const char **leaf, int *missing,
		       struct mt_err *e)
{
	const char *p = rel;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (missing)
		*missing = 0;
	if (fd < 0) {
		char *d = disp(shown, "", 0);
		io_err(e, "cannot open", d);
		free(d);
		return -1;
	}
	for (;;) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);
		if (bad_component(p, n)) {
			char *d = disp(shown, rel, strlen(rel));
			mt_seterr(e, MT_EDATA, "'%s': not a usable archive path", d);
			free(d);
			close(fd);
			return -1;
		}
		if (sl == NULL)
			break;
		char *c = mt_xasprintf("%.*s", (int)n, p);
		int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && make && (mkdirat(fd, c, 0700) == 0 || errno == EEXIST))
			nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		free(c);
		close(fd);
		if (nfd < 0) {
			char *d = disp(shown, rel, (size_t)(sl - rel));
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

int mt_lm_probe(int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt, int *exists, struct mt_err *e)
{
	const char *leaf;
	int missing, r = MT_OK;
	struct stat st;
	*exists = 0;
	int pfd = open_parent(dirfd, shown, rel, 0, &leaf, &missing, e);
	if (pfd < 0)
		return missing ? MT_OK : e->code;
	char *d = disp(shown, rel, strlen(rel));
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			r = mt_seterr(e, MT_EDATA, "'%s' is a symbolic link; not followed", d);
		else if (fmt == MT_LM_MAILDIR ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
			r = mt_seterr(e, MT_EDATA, "'%s' exists and is not a %s", d,
				      fmt == MT_LM_MAILDIR ? "directory" : "regular file");
		else
			*exists = 1;
	} else if (errno != ENOENT) {
		r = io_err(e, "cannot look at", d);
	}
	free(d);
	close(pfd);
	return r;
}

size_t mt_lm_stale(int dirfd, const char *rel, char ***names)
{
	const char *leaf;
	int missing;
	struct mt_err e;
	size_t n = 0;
	*names = NULL;
	int pfd = open_parent(dirfd, NULL, rel, 0, &leaf, &missing, &e);
	if (pfd < 0)
		return 0;
	DIR *d = fdopendir(pfd);
	if (d == NULL) {
		close(pfd);
		return 0;
	}
	size_t ll = strlen(leaf), ml = strlen(TMP_MARK);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, leaf, ll) == 0 && strncmp(de->d_name + ll, TMP_MARK, ml) == 0) {
			*names = mt_xrealloc(*names, sizeof **names * (n + 2));
			(*names)[n++] = mt_xasprintf("%.*s%s", (int)(leaf - rel), rel, de->d_name);
			(*names)[n] = NULL;
		}
	closedir(d);
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
	int digest_only, committed;
	char *shown;              /* the archive as messages name it */
	int pfd;                  /* the directory it goes into */
	char *leaf, *tmp;         /* its final and temporary names in pfd */
	int tmp_made;             /* tmp is ours (created exclusively) */
	dev_t tdev;
	ino_t tino;
	FILE *f;                  /* mbox */
	gzFile gz;                /* mbox.gz */
	int gzfd;                 /* dup of the gz file's descriptor, for fsync */
	char token[17];           /* mbox: marks the flag lines this export wrote */
	/* the message being written */
	EVP_MD_CTX *md;
	char *line;
	size_t ll, lcap;
	size_t gt;                /* '>'s the line so far starts with */
	int passthrough, pending_cr, prev_cr, in_msg;
	char dig_last;            /* mbox digests: last byte seen, for line ends */
	/* Maildir */
	int tfd, sub[3], sub_made[3], kw_made;
	int mfd;
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
	unsigned char *dig;
	size_t nd, capd;
};

static int out(struct mt_lm_writer *w, const char *s, size_t n, struct mt_err *e)
{
	if (n == 0 || w->digest_only)
		return MT_OK;
	if (w->fmt == MT_LM_MBOXGZ) {
		if (gzwrite(w->gz, s, (unsigned)n) != (int)n)
			return io_err(e, "writing", w->shown);
	} else if (fwrite(s, 1, n, w->f) != n) {
		return io_err(e, "writing", w->shown);
	}
	return MT_OK;
}

/* The temporary's name as messages show it. */
static char *tmp_shown(const struct mt_lm_writer *w)
{
	size_t sl = strlen(w->shown), ll = strlen(w->leaf);
	return mt_xasprintf("%.*s%s", (int)(sl - ll), w->shown, w->tmp);
}

static int maildir_start(struct mt_lm_writer *w, struct mt_err *e)
{
	struct stat st;
	w->tfd = openat(w->pfd, w->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w->tfd < 0 || fstat(w->tfd, &st) < 0)
		goto fail;
	w->tdev = st.st_dev;
	w->tino = st.st_ino;
	for (int i = 0; i < 3; i++) {
		if (mkdirat(w->tfd, subname[i], 0700) < 0)
			goto fail;
		w->sub_made[i] = 1;
		if ((w->sub[i] = openat(w->tfd, subname[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			goto fail;
	}
	return MT_OK;
fail:;
	char *t = tmp_shown(w);
	int r = io_err(e, "creating", t);
	free(t);
	return r;
}

static int mbox_start(struct mt_lm_writer *w, int fd, struct mt_err *e)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return io_err(e, "creating", w->shown);
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
		return io_err(e, "creating", w->shown);
	}
	return MT_OK;
}

int mt_lm_open(struct mt_lm_writer **wp, int dirfd, const char *shown, const char *rel, enum mt_lm_fmt fmt,
	       unsigned flags, struct mt_err *e)
{
	struct stat st;
	const char *leaf;
	*wp = NULL;
	struct mt_lm_writer *w = mt_xmalloc(sizeof *w);
	w->fmt = fmt;
	w->shown = disp(shown, rel, strlen(rel));
	w->pfd = w->gzfd = w->mfd = w->tfd = w->sub[0] = w->sub[1] = w->sub[2] = -1;
	random_chars(w->token, 16);
	if (flags & MT_LM_DIGEST_ONLY) {
		w->digest_only = 1;
		*wp = w;
		return MT_OK;
	}
	if ((w->pfd = open_parent(dirfd, shown, rel, 1, &leaf, NULL, e)) < 0) {
		mt_lm_free(w);
		return e->code;
	}
	w->leaf = mt_xstrdup(leaf);
	if (fstatat(w->pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		mt_seterr(e, MT_EUSAGE, "'%s' already exists; not overwriting an archive", w->shown);
		mt_lm_free(w);
		return MT_EUSAGE;
	}
	/* a fresh name each time: an earlier run's temporary (or anything
	 * planted under such a name) is never written into, nor removed */
	int fd = -1, r = MT_OK;
	for (int tries = 0; tries < 100; tries++) {
		char rnd[7];
		random_chars(rnd, 6);
		free(w->tmp);
		w->tmp = mt_xasprintf("%s%s%s", leaf, TMP_MARK, rnd);
		if (fmt == MT_LM_MAILDIR) {
			if (mkdirat(w->pfd, w->tmp, 0700) == 0) {
				w->tmp_made = 1;
				break;
			}
		} else if ((fd = openat(w->pfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0) {
			w->tmp_made = 1;
			break;
		}
		if (errno != EEXIST)
			break;
	}
	if (!w->tmp_made) {
		char *t = tmp_shown(w);
		r = io_err(e, "creating", t);
		free(t);
		mt_lm_free(w);
		return r;
	}
	r = fmt == MT_LM_MAILDIR ? maildir_start(w, e) : mbox_start(w, fd, e);
	if (r != MT_OK) {
		mt_lm_abort(w);
		return r;
	}
	*wp = w;
	return MT_OK;
}

static const struct { unsigned f; char mbox, maildir; } flagmap[] = {
	{ MT_F_ANSWERED, 'A', 'R' }, { MT_F_FLAGGED, 'F', 'F' }, { MT_F_DRAFT, 'T', 'D' }, { MT_F_DELETED, 'D', 'T' },
};

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
	for (size_t k = 0; k < sizeof flagmap / sizeof *flagmap; k++)
		if (sysflags & flagmap[k].f)
			letters[flagmap[k].maildir - 'A'] = 1;
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

/* "From addr date", then the flags as the first header lines, marked as this
 * export's with its token (read back only from there: see own_block) */
static int mbox_head(struct mt_lm_writer *w, const char *sender, time_t idate, unsigned sysflags,
		     const char *const *keywords, struct mt_err *e)
{
	char date[64], xs[8];
	struct tm tm;
	size_t n = 0;
	int lost = 0;
	gmtime_r(&idate, &tm);
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
	char *addr = mt_xstrdup(sender && *sender ? sender : "MAILER-DAEMON");
	for (char *c = addr; *c; c++)
		if (isspace((unsigned char)*c) || (unsigned char)*c < 0x20)
			*c = '_';
	for (size_t k = 0; k < sizeof flagmap / sizeof *flagmap; k++)
		if (sysflags & flagmap[k].f)
			xs[n++] = flagmap[k].mbox;
	xs[n] = '\0';
	char *head = mt_xasprintf("From %s %s\nStatus: %s\nX-Status: %s\nX-Keywords:", addr, date,
				  (sysflags & MT_F_SEEN) ? "RO" : "O", xs);
	int r = out(w, head, strlen(head), e);
	for (size_t k = 0; r == MT_OK && keywords && keywords[k]; k++) {
		if (!mt_lm_keyword_ok(keywords[k])) {
			lose_keyword(w, keywords[k]);
			lost = 1;
			continue;
		}
		r = out(w, " ", 1, e);
		if (r == MT_OK)
			r = out(w, keywords[k], strlen(keywords[k]), e);
	}
	w->lost_msgs += lost;
	free(head);
	head = mt_xasprintf("\nX-Mailtool: mboxrd %s\n", w->token);
	if (r == MT_OK)
		r = out(w, head, strlen(head), e);
	free(head);
	free(addr);
	return r;
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
	w->in_msg = 1;
	w->dig_last = '\n';
	w->idate = idate;
	if (w->fmt != MT_LM_MAILDIR)
		return mbox_head(w, sender, idate, sysflags, keywords, e);
	maildir_flags(w, sysflags, keywords);
	free(w->mname);
	w->mname = mt_xasprintf("%010u.mailtool", uid);
	if (w->digest_only)
		return MT_OK;
	w->mfd = openat(w->sub[SUB_TMP], w->mname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->mfd >= 0)
		return MT_OK;
	char *p = mt_xasprintf("%s/tmp/%s", w->shown, w->mname);
	int r = io_err(e, "creating", p);
	free(p);
	return r;
}

/* One complete line (or a long line's head) of an mbox message, stored so
 * that the reader gives back exactly the canonical text (see
 * digest_canonical): the CR of a CRLF is dropped unless another CR precedes
 * it (the reader turns "X\n" into "X\r\n" and keeps "X\r\r\n" as it is);
 * and mboxrd quoting: ">*From " gets one more '>'. A head is always long
 * enough to hold the '>'s and "From " (see mt_lm_write). */
static int mbox_line(struct mt_lm_writer *w, const char *l, size_t n, int complete, struct mt_err *e)
{
	size_t k = 0;
	while (k < n && l[k] == '>')
		k++;
	if (n - k >= 5 && memcmp(l + k, "From ", 5) == 0 && out(w, ">", 1, e) != MT_OK)
		return e->code;
	if (complete && n >= 2 && l[n - 2] == '\r' && l[n - 1] == '\n' && !(n >= 3 && l[n - 3] == '\r')) {
		int r = out(w, l, n - 2, e);
		return r == MT_OK ? out(w, "\n", 1, e) : r;
	}
	return out(w, l, n, e);
}

/* An mbox stores line ends canonically: what it gives back (and so what its
 * digest covers) has CRLF for every bare LF and a line end at the end. For
 * messages as RFC 5322 wants them that is the very bytes the server sent. */
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

static int maildir_write(struct mt_lm_writer *w, const char *data, size_t len, struct mt_err *e)
{
	size_t done = 0;
	EVP_DigestUpdate(w->md, data, len);
	while (!w->digest_only && done < len) {
		ssize_t k = write(w->mfd, data + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return io_err(e, "writing", w->shown);
		done += (size_t)k;
	}
	return MT_OK;
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

int mt_lm_write(struct mt_lm_writer *w, const char *data, size_t len, struct mt_err *e)
{
	if (w->fmt == MT_LM_MAILDIR)
		return maildir_write(w, data, len, e);
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
	if (futimens(w->mfd, ts) < 0 || fsync(w->mfd) < 0)
		r = io_err(e, "writing", w->shown);
	close(w->mfd);
	w->mfd = -1;
	if (r == MT_OK && rename_noreplace(w->sub[SUB_TMP], w->mname, w->sub[SUB_CUR], to, 0) < 0)
		r = io_err(e, "finishing a message in", w->shown);
	if (r == MT_OK) {
		w->made = mt_xrealloc(w->made, sizeof *w->made * (w->nmade + 1));
		w->made[w->nmade++] = to;
		w->in_msg = 0;
	} else {
		free(to);
	}
	return r;
}

int mt_lm_end(struct mt_lm_writer *w, struct mt_err *e)
{
	unsigned char d[32];
	unsigned int dn = 32;
	int r = MT_OK;
	if (w->fmt != MT_LM_MAILDIR && w->dig_last != '\n')
		EVP_DigestUpdate(w->md, "\r\n", 2);
	EVP_DigestFinal_ex(w->md, d, &dn);
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
	if (w->fmt == MT_LM_MAILDIR) {
		r = maildir_end(w, e);
	} else {
		/* a message ends with a line end (after a last CR, one the reader
		 * keeps: canonical text ends "\r\r\n" there); then the blank line
		 * before the next "From " */
		int last_cr = w->pending_cr || (w->ll && w->line[w->ll - 1] == '\r');
		w->in_msg = 0;
		if (w->pending_cr)
			r = out(w, "\r", 1, e);
		if (r == MT_OK && w->ll)
			r = mbox_line(w, w->line, w->ll, 0, e);
		if (r == MT_OK && (w->ll || w->passthrough))
			r = last_cr ? out(w, "\r\n", 2, e) : out(w, "\n", 1, e);
		w->ll = w->gt = 0;
		w->passthrough = w->pending_cr = w->prev_cr = 0;
		if (r == MT_OK)
			r = out(w, "\n", 1, e);
	}
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

static int maildir_commit(struct mt_lm_writer *w, struct mt_err *e)
{
	int r = MT_OK;
	char *t = tmp_shown(w);
	if (w->nkw) {
		int fd = openat(w->tfd, "dovecot-keywords", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		w->kw_made = fd >= 0;
		for (size_t i = 0; fd >= 0 && r == MT_OK && i < w->nkw; i++) {
			char *l = mt_xasprintf("%zu %s\n", i, w->kw[i]);
			if (write_all(fd, l, strlen(l)) < 0)
				r = io_err(e, "writing the keywords of", t);
			free(l);
		}
		if (r == MT_OK && (fd < 0 || fsync(fd) < 0))
			r = io_err(e, "writing the keywords of", t);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; r == MT_OK && i < 3; i++)
		if (fsync(w->sub[i]) < 0)
			r = io_err(e, "flushing", t);
	if (r == MT_OK && fsync(w->tfd) < 0)
		r = io_err(e, "flushing", t);
	free(t);
	return r;
}

int mt_lm_commit(struct mt_lm_writer *w, struct mt_err *e)
{
	int r = MT_OK;
	if (w->nd)
		qsort(w->dig, w->nd, 32, cmp_digest);
	if (w->digest_only)
		return MT_OK;
	char *t = tmp_shown(w);
	if (w->fmt == MT_LM_MAILDIR) {
		r = maildir_commit(w, e);
	} else if (w->fmt == MT_LM_MBOXGZ) {
		int zr = gzclose(w->gz);
		w->gz = NULL;
		if (zr != Z_OK)
			r = mt_seterr(e, MT_EIO, "writing '%s': %s", t, zr == Z_ERRNO ? strerror(errno) : "gzip error");
		if (r == MT_OK && fsync(w->gzfd) < 0)
			r = io_err(e, "flushing", t);
		close(w->gzfd);
		w->gzfd = -1;
	} else {
		if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
			r = io_err(e, "flushing", t);
		if (fclose(w->f) != 0 && r == MT_OK)
			r = io_err(e, "closing", t);
		w->f = NULL;
	}
	free(t);
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
	return w->tmp_made && !w->committed && fstatat(w->pfd, w->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
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
		if (w->mfd >= 0)
			close(w->mfd);
		w->mfd = -1;
		if (w->in_msg && w->mname && w->sub[SUB_TMP] >= 0)
			unlinkat(w->sub[SUB_TMP], w->mname, 0);
		for (size_t i = 0; i < w->nmade; i++)
			unlinkat(w->sub[SUB_CUR], w->made[i], 0);
		if (w->kw_made)
			unlinkat(w->tfd, "dovecot-keywords", 0);
		for (int i = 0; i < 3; i++)
			if (w->sub_made[i])
				unlinkat(w->tfd, subname[i], AT_REMOVEDIR);
		if (tmp_is_ours(w))
			unlinkat(w->pfd, w->tmp, AT_REMOVEDIR);
	} else {
		if (w->gz)
			gzclose(w->gz);
		w->gz = NULL;
		if (w->f)
			fclose(w->f);
		w->f = NULL;
		if (tmp_is_ours(w))
			unlinkat(w->pfd, w->tmp, 0);
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

void mt_lm_free(struct mt_lm_writer *w)
{
	if (w == NULL)
		return;
	if (w->md)
		EVP_MD_CTX_free(w->md);
	if (w->gz)
		gzclose(w->gz);
	if (w->f)
		fclose(w->f);
	int fds[] = { w->gzfd, w->mfd, w->tfd, w->sub[0], w->sub[1], w->sub[2], w->pfd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (size_t i = 0; i < w->nkw; i++)
		free(w->kw[i]);
	free(w->kw);
	for (size_t i = 0; i < w->nlost; i++)
		free(w->lost[i]);
	free(w->lost);
	for (size_t i = 0; i < w->nmade; i++)
		free(w->made[i]);
	free(w->made);
	free(w->line);
	free(w->mname);
	free(w->dig);
	free(w->shown);
	free(w->leaf);
	free(w->tmp);
	free(w);
}

/* ---- reading ------------------------------------------------------------ */

enum rkind { R_MBOX, R_MAILDIR, R_EML };
/* whose flag lines an mbox's messages carry: decided by its first message */
enum trust { T_FOREIGN, T_OLD, T_TOKEN };

struct entry {
	int dir;                  /* index into dfd */
	char *name;
};

struct mt_lm_reader {
	enum rkind kind;
	char *path;               /* as messages show it */
	struct mt_lm_ropts o;
	gzFile gz;
	char buf[65536];          /* mbox: read ahead */
	size_t bpos, blen;
	char *line;               /* mbox: the "From " line read ahead, or NULL */
	size_t lcap;
	long pos;
	int eof;
	enum trust trust;
	char token[17];
	int dfd[2];               /* Maildir: cur/, new/; .eml: the directory */
	struct entry *files;      /* sorted */
	size_t nfiles, next;
	char **kw;                /* dovecot-keywords: letter -> name */
	size_t nkw;
};

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->s == NULL || b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = mt_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* A whole line (with its LF, if any) from gz into r->line, NUL bytes and
 * all (gzgets would stop at a NUL and lose the rest of the line); its
 * length, 0 at the end, -1 on a read error (a truncated gzip file). */
static ssize_t gz_line(struct mt_lm_reader *r)
{
	size_t n = 0;
	for (;;) {
		if (r->bpos == r->blen) {
			int k = gzread(r->gz, r->buf, sizeof r->buf);
			if (k < 0)
				return -1;
			r->bpos = 0;
			r->blen = (size_t)k;
			if (k == 0) {
				int err;
				gzerror(r->gz, &err);
				return err != Z_OK && err != Z_STREAM_END ? -1 : (ssize_t)n;
			}
		}
		const char *nl = memchr(r->buf + r->bpos, '\n', r->blen - r->bpos);
		size_t take = nl ? (size_t)(nl - (r->buf + r->bpos)) + 1 : r->blen - r->bpos;
		if (n + take + 1 > r->lcap) {
			r->lcap = (n + take + 1) * 2;
			r->line = mt_xrealloc(r->line, r->lcap);
		}
		memcpy(r->line + n, r->buf + r->bpos, take);
		n += take;
		r->bpos += take;
		r->line[n] = '\0';
		if (nl)
			return (ssize_t)n;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->dir != y->dir ? x->dir - y->dir : strcmp(x->name, y->name);
}

/* The names in directory dfd[idx] (not opened: a name is only a name
 * until read_entry opens it without following links). A directory that
 * cannot be read to its end is an error, not fewer messages. */
static int add_files(struct mt_lm_reader *r, int idx, const char *suffix, struct mt_err *e)
{
	int fd = fcntl(r->dfd[idx], F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return mt_seterr(e, MT_EIO, "cannot read '%s': %s", r->path, strerror(errno));
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		size_t n = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
		if (de->d_name[0] == '.' || (suffix && (n <= sl || strcmp(de->d_name + n - sl, suffix) != 0)))
			continue;
		r->files = mt_xrealloc(r->files, sizeof *r->files * (r->nfiles + 1));
		r->files[r->nfiles].dir = idx;
		r->files[r->nfiles++].name = mt_xstrdup(de->d_name);
	}
	int err = errno;
	closedir(d);
	if (err)
		return mt_seterr(e, MT_EIO, "cannot read '%s': %s", r->path, strerror(err));
	return MT_OK;
}

/* A regular file at name below dfd, never through a symbolic link, opened
 * only once it is known to be one (a FIFO would block, a device act); the
 * descriptor, or -1 with errno (ELOOP: a link, EINVAL: not a regular file). */
static int open_regular(int dfd, const char *name)
{
	struct stat a, b;
	if (fstatat(dfd, name, &a, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISLNK(a.st_mode) || !S_ISREG(a.st_mode)) {
		errno = S_ISLNK(a.st_mode) ? ELOOP : EINVAL;
		return -1;
	}
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &b) < 0 || !S_ISREG(b.st_mode) || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static int refused(struct mt_err *e, int code, const char *what, int err)
{
	if (err == ELOOP)
		return mt_seterr(e, code, "'%s' is a symbolic link; not followed", what);
	if (err == EINVAL)
		return mt_seterr(e, code, "'%s' is not a regular file; not read", what);
	return mt_seterr(e, code == MT_LM_SKIP ? MT_LM_SKIP : MT_EIO, "cannot read '%s': %s", what, strerror(err));
}

/* dovecot-keywords: "N name" lines, letter N ('a' + N) of the file names */
static int read_keywords(struct mt_lm_reader *r, int root, struct mt_err *e)
{
	int fd = open_regular(root, "dovecot-keywords");
	if (fd < 0) {
		if (errno == ENOENT)
			return MT_OK;
		char *p = mt_xasprintf("%s/dovecot-keywords", r->path);
		int rr = refused(e, MT_EDATA, p, errno);
		free(p);
		return rr;
	}
	FILE *f = fdopen(fd, "r");
	char *line = NULL;
	size_t cap = 0;
	if (f == NULL) {
		close(fd);
		return mt_seterr(e, MT_EOS, "cannot read '%s/dovecot-keywords'", r->path);
	}
	while (getline(&line, &cap, f) > 0) {
		char *sp = strchr(line, ' '), *end;
		long idx = strtol(line, &end, 10);
		if (sp == NULL || end != sp || idx < 0 || idx >= 26)
			continue;
		sp[strcspn(sp, "\r\n")] = '\0';
		if (sp[1] == '\0')
			continue;
		if ((size_t)idx >= r->nkw) {
			r->kw = mt_xrealloc(r->kw, sizeof *r->kw * (size_t)(idx + 1));
			for (size_t k = r->nkw; k <= (size_t)idx; k++)
				r->kw[k] = NULL;
			r->nkw = (size_t)idx + 1;
		}
		free(r->kw[idx]);
		r->kw[idx] = mt_xstrdup(sp + 1);
	}
	free(line);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return mt_seterr(e, MT_EIO, "cannot read '%s/dovecot-keywords'", r->path);
	return MT_OK;
}

static int open_dir_at(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int reader_dir(struct mt_lm_reader *r, int fd, struct mt_err *e)
{
	int cur = open_dir_at(fd, "cur");
	if (cur < 0 && errno != ENOENT) {
		char *p = mt_xasprintf("%s/cur", r->path);
		int rr = mt_seterr(e, MT_EDATA, "'%s' is a symbolic link or not a directory; not followed", p);
		free(p);
		close(fd);
		return rr;
	}
	if (cur < 0) {
		r->kind = R_EML;
		r->dfd[0] = fd;
		if (add_files(r, 0, ".eml", e) != MT_OK)
			return e->code;
	} else {
		r->kind = R_MAILDIR;
		r->dfd[0] = cur;
		r->dfd[1] = open_dir_at(fd, "new");
		if (r->dfd[1] < 0 && errno != ENOENT) {
			char *p = mt_xasprintf("%s/new", r->path);
			int rr = mt_seterr(e, MT_EDATA, "'%s' is a symbolic link or not a directory; not followed", p);
			free(p);
			close(fd);
			return rr;
		}
		int rr = read_keywords(r, fd, e);
		close(fd);
		if (rr == MT_OK)
			rr = add_files(r, 0, NULL, e);
		if (rr == MT_OK && r->dfd[1] >= 0)
			rr = add_files(r, 1, NULL, e);
		if (rr != MT_OK)
			return rr;
	}
	if (r->nfiles)
		qsort(r->files, r->nfiles, sizeof *r->files, cmp_entry);
	return MT_OK;
}

static int reader_mbox(struct mt_lm_reader *r, int fd, struct mt_err *e)
{
	r->kind = R_MBOX;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if ((r->gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		return mt_seterr(e, MT_EOS, "cannot read '%s'", r->path);
	}
	ssize_t n = gz_line(r);
	if (n < 0)
		return mt_seterr(e, MT_EDATA, "'%s': truncated or corrupt gzip data", r->path);
	if (n == 0)
		r->eof = 1;
	else if (n < 5 || memcmp(r->line, "From ", 5) != 0)
		return mt_seterr(e, MT_EDATA, "'%s' is neither an mbox (no \"From \" line at its start), a Maildir, "
				 "nor a directory of .eml files", r->path);
	return MT_OK;
}

/* The reader over fd (a directory or an mbox file, opened O_NOFOLLOW). */
static int reader_fd(struct mt_lm_reader **rp, int fd, char *shown, const struct mt_lm_ropts *o, struct mt_err *e)
{
	struct stat st;
	struct mt_lm_reader *r = mt_xmalloc(sizeof *r);
	r->path = shown;
	r->dfd[0] = r->dfd[1] = -1;
	if (o)
		r->o = *o;
	int rr;
	if (fstat(fd, &st) < 0) {
		rr = mt_seterr(e, MT_EIO, "cannot read '%s': %s", shown, strerror(errno));
		close(fd);
	} else if (S_ISDIR(st.st_mode)) {
		rr = reader_dir(r, fd, e);
	} else if (S_ISREG(st.st_mode)) {
		rr = reader_mbox(r, fd, e);
	} else {
		rr = mt_seterr(e, MT_EDATA, "'%s' is not a regular file or a directory; not read", shown);
		close(fd);
	}
	if (rr != MT_OK) {
		mt_lm_reader_close(r);
		return rr;
	}
	*rp = r;
	return MT_OK;
}

int mt_lm_reader_open(struct mt_lm_reader **rp, const char *path, const struct mt_lm_ropts *o, struct mt_err *e)
{
	*rp = NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return mt_seterr(e, MT_EDATA, "'%s' is a symbolic link; not followed (give what it points to)", path);
	if (fd < 0)
		return mt_seterr(e, MT_EIO, "cannot read '%s': %s", path, strerror(errno));
	return reader_fd(rp, fd, mt_xstrdup(path), o, e);
}

int mt_lm_reader_openat(struct mt_lm_reader **rp, int dirfd, const char *shown, const char *rel,
			const struct mt_lm_ropts *o, struct mt_err *e)
{
	const char *leaf;
	*rp = NULL;
	int pfd = open_parent(dirfd, shown, rel, 0, &leaf, NULL, e);
	if (pfd < 0)
		return e->code;
	char *d = disp(shown, rel, strlen(rel));
	int fd = openat(pfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int err = errno;
	close(pfd);
	if (fd < 0) {
		int rr = err == ELOOP ? mt_seterr(e, MT_EDATA, "'%s' is a symbolic link; not followed", d)
				      : mt_seterr(e, MT_EIO, "cannot read '%s': %s", d, strerror(err));
		free(d);
		return rr;
	}
	return reader_fd(rp, fd, d, o, e);
}

static time_t from_line_date(const char *l)
{
	/* "From sender Sun Nov 22 10:00:00 2026" */
	const char *p = l + 5;
	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	struct tm tm = { 0 };
	const char *end = strptime(p, "%a %b %d %H:%M:%S %Y", &tm);
	return end ? timegm(&tm) : 0;
}

static void add_keyword(char ***kw, const char *k, size_t len)
{
	size_t n = 0;
	while (*kw && (*kw)[n])
		n++;
	*kw = mt_xrealloc(*kw, sizeof **kw * (n + 2));
	(*kw)[n] = mt_xasprintf("%.*s", (int)len, k);
	(*kw)[n + 1] = NULL;
}

static void free_keywords(char **kw)
{
	for (size_t i = 0; kw && kw[i]; i++)
		free(kw[i]);
	free(kw);
}

/* Flags from Status / X-Status / X-Keywords header values (foreign mbox
 * files, only when the user said to trust them). */
static int status_field(const char *name, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct mt_lm_msg *m = ctx;
	if (nl == 6 && strncasecmp(name, "Status", 6) == 0) {
		for (size_t i = 0; i < vl; i++)
			if (v[i] == 'R')
				m->sysflags |= MT_F_SEEN;
	} else if (nl == 8 && strncasecmp(name, "X-Status", 8) == 0) {
		for (size_t i = 0; i < vl; i++)
			for (size_t k = 0; k < sizeof flagmap / sizeof *flagmap; k++)
				if (v[i] == flagmap[k].mbox)
					m->sysflags |= flagmap[k].f;
	} else if (nl == 10 && strncasecmp(name, "X-Keywords", 10) == 0) {
		static const char sep[] = " ,\t\r\n";
		for (size_t i = 0; i < vl;) {
			size_t s = i;
			while (i < vl && !strchr(sep, v[i]))
				i++;
			if (i > s)
				add_keyword(&m->keywords, v + s, i - s);
			while (i < vl && strchr(sep, v[i]))
				i++;
		}
	}
	return 0;
}

/* The line at s[*off] (CRLF-terminated) if it starts with prefix: its rest
 * in *v, *vl; advances *off. */
static int block_line(const char *s, size_t n, size_t *off, const char *prefix, const char **v, size_t *vl)
{
	size_t pl = strlen(prefix), o = *off;
	const char *eol = memchr(s + o, '\n', n - o);
	if (eol == NULL || (size_t)(eol - (s + o)) < pl + 1 || eol[-1] != '\r' || memcmp(s + o, prefix, pl) != 0)
		return 0;
	*v = s + o + pl;
	*vl = (size_t)(eol - 1 - *v);
	*off = (size_t)(eol - s) + 1;
	return 1;
}

/* The lines mt_lm_begin writes before a message's own header, exactly:
 * "Status: RO" or "Status: O"; "X-Status: " with A F T D in that order;
 * "X-Keywords:" and " keyword" for each; then, since exports carry one,
 * "X-Mailtool: mboxrd TOKEN" (16 of [a-z0-9]). Their length (0: not such a
 * block), with the flags they say and the token ("" for the older form). */
static size_t own_block(const char *s, size_t n, unsigned *sys, char ***kw, char token[17])
{
	const char *v;
	size_t vl, off = 0;
	*sys = 0;
	*kw = NULL;
	token[0] = '\0';
	if (!block_line(s, n, &off, "Status: ", &v, &vl) || !((vl == 2 && memcmp(v, "RO", 2) == 0) || (vl == 1 && v[0] == 'O')))
		return 0;
	if (vl == 2)
		*sys |= MT_F_SEEN;
	if (!block_line(s, n, &off, "X-Status: ", &v, &vl))
		return 0;
	size_t k = 0;
	for (size_t i = 0; i < vl; i++) {
		while (k < sizeof flagmap / sizeof *flagmap && flagmap[k].mbox != v[i])
			k++;
		if (k == sizeof flagmap / sizeof *flagmap)
			return 0;
		*sys |= flagmap[k++].f;
	}
	if (!block_line(s, n, &off, "X-Keywords:", &v, &vl))
		return 0;
	for (size_t i = 0; i < vl;) {
		size_t st = ++i;   /* past the space before each keyword */
		if (v[st - 1] != ' ')
			goto bad;
		while (i < vl && v[i] != ' ')
			i++;
		char *one = mt_xasprintf("%.*s", (int)(i - st), v + st);
		int ok = mt_lm_keyword_ok(one);
		free(one);
		if (!ok)
			goto bad;
		add_keyword(kw, v + st, i - st);
	}
	size_t three = off;
	if (block_line(s, n, &off, "X-Mailtool: mboxrd ", &v, &vl) && vl == 16) {
		for (size_t i = 0; i < 16; i++)
			if (!(islower((unsigned char)v[i]) || isdigit((unsigned char)v[i])))
				return three;
		memcpy(token, v, 16);
		token[16] = '\0';
		return off;
	}
	return three;
bad:
	free_keywords(*kw);
	*kw = NULL;
	return 0;
}

/* Flags come only from the block mailtool wrote at the top of the message:
 * the first message decides whose blocks the file has (a token, the older
 * three lines, or none), and only a later block of the same kind counts.
 * Anything else is the message's own content and stays, unread, unless
 * trust_status_headers says to read its Status fields. */
static void mbox_take_flags(struct mt_lm_reader *r, struct mt_lm_msg *m, struct sbuf *b)
{
	char tok[17], **kw;
	unsigned sys;
	size_t bl = own_block(b->s, b->n, &sys, &kw, tok);
	if (m->position == 1)
		r->trust = bl == 0 ? T_FOREIGN : tok[0] ? T_TOKEN : T_OLD;
	if (m->position == 1 && tok[0])
		memcpy(r->token, tok, sizeof tok);
	int ours = bl && ((r->trust == T_TOKEN && strcmp(tok, r->token) == 0) || (r->trust == T_OLD && !tok[0]));
	if (ours) {
		m->sysflags = sys;
		m->keywords = kw;
		memmove(b->s, b->s + bl, b->n - bl + 1);
		b->n -= bl;
		return;
	}
	free_keywords(kw);
	if (r->o.trust_status_headers)
		mt_header_fields(b->s, b->n, status_field, m);
	else if (bl)
		m->untrusted_flags = 1;
}

static int next_mbox(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e)
{
	if (r->eof)
		return 0;
	struct sbuf b = { 0 };
	m->internaldate = from_line_date(r->line);
	m->position = ++r->pos;
	/* the lines up to the next "From " line (or the end) */
	int lines = 0;
	size_t last_start = 0;
	for (;;) {
		ssize_t n = gz_line(r);
		if (n < 0) {
			free(b.s);
			return mt_seterr(e, MT_EDATA, "'%s': truncated or corrupt gzip data in message %ld", r->path, m->position);
		}
		if (n == 0) {
			r->eof = 1;
			break;
		}
		if (n >= 5 && memcmp(r->line, "From ", 5) == 0)
			break;
		const char *l = r->line;
		size_t len = (size_t)n, k = 0;
		while (k < len && l[k] == '>')
			k++;
		if (k > 0 && len - k >= 5 && memcmp(l + k, "From ", 5) == 0) {
			l++;     /* mboxrd: one '>' less */
			len--;
		}
		last_start = b.n;
		if (len >= 2 && l[len - 2] == '\r' && l[len - 1] == '\n')
			sb_add(&b, l, len);
		else if (len >= 1 && l[len - 1] == '\n') {
			sb_add(&b, l, len - 1);
			sb_add(&b, "\r\n", 2);
		} else {
			sb_add(&b, l, len);
		}
		lines++;
	}
	/* the blank line before the next "From " belongs to the separator */
	if (lines > 0 && b.n - last_start == 2 && memcmp(b.s + last_start, "\r\n", 2) == 0)
		b.n = last_start;
	if (b.s == NULL)
		sb_add(&b, "", 0);
	b.s[b.n] = '\0';
	mbox_take_flags(r, m, &b);
	m->data = b.s;
	m->len = b.n;
	return 1;
}

static void maildir_info(struct mt_lm_reader *r, const char *name, struct mt_lm_msg *m)
{
	const char *info = strstr(name, ":2,");
	for (const char *c = info ? info + 3 : ""; *c; c++) {
		if (*c == 'S')
			m->sysflags |= MT_F_SEEN;
		for (size_t k = 0; k < sizeof flagmap / sizeof *flagmap; k++)
			if (*c == flagmap[k].maildir)
				m->sysflags |= flagmap[k].f;
		if (*c >= 'a' && *c <= 'z' && (size_t)(*c - 'a') < r->nkw && r->kw[*c - 'a'])
			add_keyword(&m->keywords, r->kw[*c - 'a'], strlen(r->kw[*c - 'a']));
	}
}

static int next_file(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e)
{
	if (r->next >= r->nfiles)
		return 0;
	const struct entry *en = &r->files[r->next++];
	struct stat st;
	m->position = (long)r->next;
	char *p = r->kind == R_MAILDIR ? mt_xasprintf("%s/%s/%s", r->path, en->dir ? "new" : "cur", en->name)
				       : mt_xasprintf("%s/%s", r->path, en->name);
	int fd = open_regular(r->dfd[en->dir], en->name);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int rr = refused(e, MT_LM_SKIP, p, errno);
		if (fd >= 0)
			close(fd);
		free(p);
		return rr;
	}
	m->data = mt_xmalloc((size_t)st.st_size + 1);
	while (m->len < (size_t)st.st_size) {
		ssize_t k = read(fd, m->data + m->len, (size_t)st.st_size - m->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int rr = mt_seterr(e, MT_EIO, "cannot read '%s': %s", p, strerror(errno));
			close(fd);
			free(p);
			return rr;
		}
		if (k == 0)
			break;
		m->len += (size_t)k;
	}
	close(fd);
	free(p);
	m->internaldate = st.st_mtime;
	if (r->kind == R_MAILDIR)
		maildir_info(r, en->name, m);
	return 1;
}

int mt_lm_next(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e)
{
	memset(m, 0, sizeof *m);
	if (r == NULL)
		return mt_seterr(e, MT_EUSAGE, "no archive open");
	return r->kind == R_MBOX ? next_mbox(r, m, e) : next_file(r, m, e);
}

void mt_lm_msg_release(struct mt_lm_msg *m)
{
	free(m->data);
	free_keywords(m->keywords);
	memset(m, 0, sizeof *m);
}

void mt_lm_reader_close(struct mt_lm_reader *r)
{
	if (r == NULL)
		return;
	if (r->gz)
		gzclose(r->gz);
	for (int i = 0; i < 2; i++)
		if (r->dfd[i] >= 0)
			close(r->dfd[i]);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].name);
	free(r->files);
	for (size_t i = 0; i < r->nkw; i++)
		free(r->kw[i]);
	free(r->kw);
	free(r->line);
	free(r->path);
	free(r);
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
		qsort(*got, *k, 32, cmp_digest);
	return MT_OK;
}

int mt_lm_verify(int dirfd, const char *shown, const char *rel, const unsigned char *digests, size_t n,
		 struct mt_err *e)
{
	unsigned char *got;
	size_t k;
	int rc = archive_digests(dirfd, shown, rel, &got, &k, e);
	char *d = disp(shown, rel, strlen(rel));
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
		qsort(want, n, 32, cmp_digest);
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
		char *d = disp(shown, rel, strlen(rel));
		rc = mt_seterr(e, MT_EDATA, "'%s' exists but lacks %zu of the %zu messages selected", d, missing, n);
		free(d);
	}
	return rc;
}
