/* localmail.c — mboxrd (plain or gzip) and Maildir archives, written message
 * by message in chunks (a message is never held whole) under a temporary
 * name, then flushed and renamed; and the readers import and verification
 * use. See localmail.h. */
#include "localmail.h"
#include "select.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#define LINE_DECIDE 4096   /* a line this long cannot be a "From " line: stream it */

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

char *mt_lm_safe_path(const char *folder, char delim)
{
	size_t n = strlen(folder);
	char *out = mt_xmalloc(n * 3 + 8), *o = out;
	const char *p = folder;
	for (;;) {
		const char *end = delim ? strchr(p, delim) : NULL;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			o = stpcpy(o, "%00");
		else if (len == 1 && p[0] == '.')
			o = stpcpy(o, "%2E");
		else if (len == 2 && p[0] == '.' && p[1] == '.')
			o = stpcpy(o, "%2E%2E");
		else
			for (size_t i = 0; i < len; i++) {
				/* '/' inside a name (another delimiter) and '%' are escaped too */
				if (p[i] == '/' || p[i] == '%' || p[i] == '\\')
					o += sprintf(o, "%%%02X", (unsigned char)p[i]);
				else
					*o++ = p[i];
			}
		if (!end)
			break;
		*o++ = '/';
		p = end + 1;
	}
	*o = '\0';
	return out;
}

void mt_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* ---- writing ----------------------------------------------------------- */

struct mt_lm_writer {
	enum mt_lm_fmt fmt;
	char *path, *tmp;
	FILE *f;                  /* mbox */
	gzFile gz;                /* mbox.gz */
	int gzfd;                 /* dup of the gz file's descriptor, for fsync */
	/* the message being written */
	EVP_MD_CTX *md;
	char *line;
	size_t ll, lcap;
	int passthrough, pending_cr, in_msg;
	char dig_last;            /* mbox digests: last byte seen, for line ends */
	/* Maildir */
	int mfd;
	char *mname;
	time_t idate;
	char flagstr[40];
	char **kw;                /* keywords seen, letter = index */
	size_t nkw;
	unsigned char *dig;
	size_t nd, capd;
};

static int io_err(struct mt_err *e, const char *what, const char *path)
{
	if (errno == ENOSPC)
		return mt_seterr(e, MT_EIO, "%s '%s': no space left on device", what, path);
	return mt_seterr(e, MT_EIO, "%s '%s': %s", what, path, strerror(errno));
}

static int out(struct mt_lm_writer *w, const char *s, size_t n, struct mt_err *e)
{
	if (n == 0)
		return MT_OK;
	if (w->fmt == MT_LM_MBOXGZ) {
		if (gzwrite(w->gz, s, (unsigned)n) != (int)n)
			return io_err(e, "writing", w->tmp);
	} else if (fwrite(s, 1, n, w->f) != n) {
		return io_err(e, "writing", w->tmp);
	}
	return MT_OK;
}

int mt_lm_open(struct mt_lm_writer **wp, const char *path, enum mt_lm_fmt fmt, struct mt_err *e)
{
	struct stat st;
	*wp = NULL;
	if (lstat(path, &st) == 0)
		return mt_seterr(e, MT_EUSAGE, "'%s' already exists; not overwriting an archive", path);
	struct mt_lm_writer *w = mt_xmalloc(sizeof *w);
	w->fmt = fmt;
	w->path = mt_xstrdup(path);
	w->tmp = mt_xasprintf("%s.part", path);
	w->gzfd = w->mfd = -1;
	if (fmt == MT_LM_MAILDIR) {
		/* a stale .part from an interrupted run is started over */
		char *cmd = mt_xasprintf("%s/tmp", w->tmp);
		DIR *d;
		if ((d = opendir(cmd)) != NULL) {
			closedir(d);
			char *sub[3] = { mt_xasprintf("%s/tmp", w->tmp), mt_xasprintf("%s/new", w->tmp), mt_xasprintf("%s/cur", w->tmp) };
			for (int i = 0; i < 3; i++) {
				DIR *dd = opendir(sub[i]);
				struct dirent *de;
				while (dd && (de = readdir(dd)) != NULL)
					if (de->d_name[0] != '.') {
						char *f = mt_xasprintf("%s/%s", sub[i], de->d_name);
						unlink(f);
						free(f);
					}
				if (dd)
					closedir(dd);
				rmdir(sub[i]);
				free(sub[i]);
			}
			char *kwf = mt_xasprintf("%s/dovecot-keywords", w->tmp);
			unlink(kwf);
			free(kwf);
			rmdir(w->tmp);
		}
		free(cmd);
		int r = 0;
		if (mkdir(w->tmp, 0700) < 0)
			r = -1;
		for (int i = 0; r == 0 && i < 3; i++) {
			char *sd = mt_xasprintf("%s/%s", w->tmp, i == 0 ? "tmp" : i == 1 ? "new" : "cur");
			r = mkdir(sd, 0700);
			free(sd);
		}
		if (r < 0) {
			int rr = io_err(e, "creating", w->tmp);
			mt_lm_free(w);
			return rr;
		}
	} else {
		unlink(w->tmp);
		int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			int rr = io_err(e, "creating", w->tmp);
			mt_lm_free(w);
			return rr;
		}
		if (fmt == MT_LM_MBOXGZ) {
			w->gzfd = dup(fd);
			w->gz = gzdopen(fd, "wb6");
			if (w->gz == NULL || w->gzfd < 0) {
				close(fd);
				unlink(w->tmp);
				mt_lm_free(w);
				return mt_seterr(e, MT_EOS, "cannot start gzip output");
			}
		} else {
			w->f = fdopen(fd, "w");
		}
	}
	*wp = w;
	return MT_OK;
}

static const struct { unsigned f; char mbox, maildir; } flagmap[] = {
	{ MT_F_ANSWERED, 'A', 'R' }, { MT_F_FLAGGED, 'F', 'F' }, { MT_F_DRAFT, 'T', 'D' }, { MT_F_DELETED, 'D', 'T' },
};

int mt_lm_begin(struct mt_lm_writer *w, uint32_t uid, const char *sender, time_t idate, unsigned sysflags,
		const char *const *keywords, struct mt_err *e)
{
	w->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
	w->ll = 0;
	w->passthrough = w->pending_cr = 0;
	w->in_msg = 1;
	w->dig_last = '\n';
	w->idate = idate;
	if (w->fmt == MT_LM_MAILDIR) {
		/* flags in the name, in ASCII order as the Maildir spec wants; keywords a-z */
		char fl[40];
		size_t n = 0;
		unsigned char letters[32] = { 0 };
		for (size_t k = 0; k < sizeof flagmap / sizeof *flagmap; k++)
			if (sysflags & flagmap[k].f)
				letters[flagmap[k].maildir - 'A'] = 1;
		if (sysflags & MT_F_SEEN)
			letters['S' - 'A'] = 1;
		for (int c = 0; c < 26; c++)
			if (letters[c])
				fl[n++] = (char)('A' + c);
		for (size_t k = 0; keywords && keywords[k]; k++) {
			size_t j = 0;
			while (j < w->nkw && strcmp(w->kw[j], keywords[k]) != 0)
				j++;
			if (j == w->nkw && w->nkw < 26) {
				w->kw = mt_xrealloc(w->kw, sizeof *w->kw * (w->nkw + 1));
				w->kw[w->nkw++] = mt_xstrdup(keywords[k]);
			}
			if (j < 26 && n + 1 < sizeof fl)
				fl[n++] = (char)('a' + j);
		}
		/* lower-case keyword letters after the upper-case flags: sort those too */
		size_t upper = 0;
		while (upper < n && isupper((unsigned char)fl[upper]))
			upper++;
		for (size_t a = upper; a < n; a++)
			for (size_t b = a + 1; b < n; b++)
				if (fl[b] < fl[a]) {
					char t = fl[a];
					fl[a] = fl[b];
					fl[b] = t;
				}
		fl[n] = '\0';
		snprintf(w->flagstr, sizeof w->flagstr, "%s", fl);
		free(w->mname);
		w->mname = mt_xasprintf("%010u.mailtool", uid);
		char *p = mt_xasprintf("%s/tmp/%s", w->tmp, w->mname);
		w->mfd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		int r = w->mfd < 0 ? io_err(e, "creating", p) : MT_OK;
		free(p);
		return r;
	}
	/* mbox: the separator, then flags as the first header lines */
	char date[64], xs[8];
	struct tm tm;
	size_t n = 0;
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
		r = out(w, " ", 1, e);
		if (r == MT_OK)
			r = out(w, keywords[k], strlen(keywords[k]), e);
	}
	if (r == MT_OK)
		r = out(w, "\n", 1, e);
	free(head);
	free(addr);
	return r;
}

/* One complete line (or a long line's head) of an mbox message: CRLF -> LF,
 * and mboxrd quoting: ">*From " gets one more '>'. */
static int mbox_line(struct mt_lm_writer *w, const char *l, size_t n, int complete, struct mt_err *e)
{
	size_t k = 0;
	while (k < n && l[k] == '>')
		k++;
	if (n - k >= 5 && memcmp(l + k, "From ", 5) == 0 && out(w, ">", 1, e) != MT_OK)
		return e->code;
	if (complete && n >= 2 && l[n - 2] == '\r' && l[n - 1] == '\n') {
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

int mt_lm_write(struct mt_lm_writer *w, const char *data, size_t len, struct mt_err *e)
{
	if (w->fmt == MT_LM_MAILDIR)
		EVP_DigestUpdate(w->md, data, len);
	else
		digest_canonical(w, data, len);
	if (w->fmt == MT_LM_MAILDIR) {
		size_t done = 0;
		while (done < len) {
			ssize_t k = write(w->mfd, data + done, len - done);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return io_err(e, "writing", w->mname);
			done += (size_t)k;
		}
		return MT_OK;
	}
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		int r = MT_OK;
		if (w->passthrough) {
			/* the rest of a very long line: only CRLF -> LF */
			if (w->pending_cr && c != '\n')
				r = out(w, "\r", 1, e);
			w->pending_cr = 0;
			if (r == MT_OK && c == '\r')
				w->pending_cr = 1;
			else if (r == MT_OK)
				r = out(w, &c, 1, e);
			if (c == '\n')
				w->passthrough = 0;
			if (r != MT_OK)
				return r;
			continue;
		}
		if (w->ll + 1 > w->lcap) {
			w->lcap = w->lcap ? w->lcap * 2 : 256;
			w->line = mt_xrealloc(w->line, w->lcap);
		}
		w->line[w->ll++] = c;
		if (c == '\n') {
			r = mbox_line(w, w->line, w->ll, 1, e);
			w->ll = 0;
		} else if (w->ll >= LINE_DECIDE) {
			/* keep a trailing CR back: it may start a CRLF */
			size_t n = w->ll;
			if (w->line[n - 1] == '\r') {
				n--;
				w->pending_cr = 1;
			}
			r = mbox_line(w, w->line, n, 0, e);
			w->ll = 0;
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
	w->in_msg = 0;
	if (w->fmt == MT_LM_MAILDIR) {
		char *from = mt_xasprintf("%s/tmp/%s", w->tmp, w->mname);
		char *to = mt_xasprintf("%s/cur/%s:2,%s", w->tmp, w->mname, w->flagstr);
		struct timeval tv[2] = { { .tv_sec = w->idate }, { .tv_sec = w->idate } };
		if (fsync(w->mfd) < 0)
			r = io_err(e, "writing", from);
		close(w->mfd);
		w->mfd = -1;
		if (r == MT_OK && (utimes(from, tv) < 0 || rename(from, to) < 0))
			r = io_err(e, "finishing", from);
		free(from);
		free(to);
	} else {
		if (w->pending_cr)
			r = out(w, "\r", 1, e);
		w->pending_cr = 0;
		if (r == MT_OK && w->ll)
			r = mbox_line(w, w->line, w->ll, 0, e);
		/* a message ends with a line end; then the blank line before the next "From " */
		if (r == MT_OK && (w->ll || w->passthrough))
			r = out(w, "\n", 1, e);
		w->ll = 0;
		w->passthrough = 0;
		if (r == MT_OK)
			r = out(w, "\n", 1, e);
	}
	if (r == MT_OK)
		add_digest(w, d);
	return r;
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

static char *parent_of(const char *path)
{
	char *p = mt_xstrdup(path), *s = strrchr(p, '/');
	if (s == NULL) {
		free(p);
		return mt_xstrdup(".");
	}
	if (s == p)
		s[1] = '\0';
	else
		*s = '\0';
	return p;
}

int mt_lm_commit(struct mt_lm_writer *w, struct mt_err *e)
{
	int r = MT_OK;
	if (w->fmt == MT_LM_MAILDIR) {
		if (w->nkw) {
			char *kp = mt_xasprintf("%s/dovecot-keywords", w->tmp);
			FILE *f = fopen(kp, "w");
			for (size_t i = 0; f && i < w->nkw; i++)
				fprintf(f, "%zu %s\n", i, w->kw[i]);
			if (f == NULL || fflush(f) != 0 || fsync(fileno(f)) != 0)
				r = io_err(e, "writing", kp);
			if (f)
				fclose(f);
			free(kp);
		}
		char *cur = mt_xasprintf("%s/cur", w->tmp);
		if (r == MT_OK && (fsync_dir(cur) < 0 || fsync_dir(w->tmp) < 0))
			r = io_err(e, "flushing", w->tmp);
		free(cur);
	} else if (w->fmt == MT_LM_MBOXGZ) {
		int zr = gzclose(w->gz);
		w->gz = NULL;
		if (zr != Z_OK)
			r = mt_seterr(e, MT_EIO, "writing '%s': %s", w->tmp, zr == Z_ERRNO ? strerror(errno) : "gzip error");
		if (r == MT_OK && fsync(w->gzfd) < 0)
			r = io_err(e, "flushing", w->tmp);
		close(w->gzfd);
		w->gzfd = -1;
	} else {
		if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
			r = io_err(e, "flushing", w->tmp);
		if (fclose(w->f) != 0 && r == MT_OK)
			r = io_err(e, "closing", w->tmp);
		w->f = NULL;
	}
	if (r == MT_OK && rename(w->tmp, w->path) < 0)
		r = io_err(e, "renaming to", w->path);
	if (r == MT_OK) {
		char *parent = parent_of(w->path);
		fsync_dir(parent);
		free(parent);
		qsort(w->dig, w->nd, 32, cmp_digest);
	}
	return r;
}

void mt_lm_abort(struct mt_lm_writer *w)
{
	if (w == NULL)
		return;
	if (w->fmt == MT_LM_MAILDIR) {
		if (w->mfd >= 0)
			close(w->mfd);
		w->mfd = -1;
		static const char *const sub[] = { "tmp", "new", "cur" };
		for (int i = 0; i < 3; i++) {
			char *sd = mt_xasprintf("%s/%s", w->tmp, sub[i]);
			DIR *d = opendir(sd);
			struct dirent *de;
			while (d && (de = readdir(d)) != NULL)
				if (de->d_name[0] != '.') {
					char *f = mt_xasprintf("%s/%s", sd, de->d_name);
					unlink(f);
					free(f);
				}
			if (d)
				closedir(d);
			rmdir(sd);
			free(sd);
		}
		char *kp = mt_xasprintf("%s/dovecot-keywords", w->tmp);
		unlink(kp);
		free(kp);
		rmdir(w->tmp);
	} else {
		if (w->gz)
			gzclose(w->gz);
		w->gz = NULL;
		if (w->f)
			fclose(w->f);
		w->f = NULL;
		unlink(w->tmp);
	}
	mt_lm_free(w);
}

const unsigned char *mt_lm_digests(const struct mt_lm_writer *w, size_t *n)
{
	*n = w->nd;
	return w->dig;
}

void mt_lm_free(struct mt_lm_writer *w)
{
	if (w == NULL)
		return;
	if (w->md)
		EVP_MD_CTX_free(w->md);
	if (w->gzfd >= 0)
		close(w->gzfd);
	if (w->mfd >= 0)
		close(w->mfd);
	for (size_t i = 0; i < w->nkw; i++)
		free(w->kw[i]);
	free(w->kw);
	free(w->line);
	free(w->mname);
	free(w->dig);
	free(w->path);
	free(w->tmp);
	free(w);
}

/* ---- reading ------------------------------------------------------------ */

enum rkind { R_MBOX, R_MAILDIR, R_EML };

struct mt_lm_reader {
	enum rkind kind;
	char *path;
	gzFile gz;
	char *line;               /* mbox: the "From " line read ahead, or NULL */
	size_t lcap;
	long pos;
	int eof;
	char **files;             /* Maildir / .eml: full paths, sorted */
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

/* A whole line (with its LF, if any) from gz into r->line; its length, 0 at
 * the end, -1 on a read error (a truncated gzip file). */
static ssize_t gz_line(struct mt_lm_reader *r)
{
	size_t n = 0;
	if (r->lcap == 0) {
		r->lcap = 8192;
		r->line = mt_xmalloc(r->lcap);
	}
	for (;;) {
		if (gzgets(r->gz, r->line + n, (int)(r->lcap - n)) == NULL)
			break;
		n += strlen(r->line + n);
		if (n > 0 && r->line[n - 1] == '\n')
			break;
		if (n + 1 >= r->lcap) {
			r->lcap *= 2;
			r->line = mt_xrealloc(r->line, r->lcap);
		} else if (gzeof(r->gz)) {
			break;
		}
	}
	int err;
	gzerror(r->gz, &err);
	if (err != Z_OK && err != Z_STREAM_END)
		return -1;
	return (ssize_t)n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_files(struct mt_lm_reader *r, const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
		if (de->d_name[0] == '.' || (suffix && (n <= sl || strcmp(de->d_name + n - sl, suffix) != 0)))
			continue;
		r->files = mt_xrealloc(r->files, sizeof *r->files * (r->nfiles + 1));
		r->files[r->nfiles++] = mt_xasprintf("%s/%s", dir, de->d_name);
	}
	if (d)
		closedir(d);
}

int mt_lm_reader_open(struct mt_lm_reader **rp, const char *path, struct mt_err *e)
{
	struct stat st;
	*rp = NULL;
	if (stat(path, &st) < 0)
		return mt_seterr(e, MT_EIO, "cannot read '%s': %s", path, strerror(errno));
	struct mt_lm_reader *r = mt_xmalloc(sizeof *r);
	r->path = mt_xstrdup(path);
	if (S_ISDIR(st.st_mode)) {
		char *cur = mt_xasprintf("%s/cur", path), *nw = mt_xasprintf("%s/new", path);
		struct stat cs;
		if (stat(cur, &cs) == 0 && S_ISDIR(cs.st_mode)) {
			r->kind = R_MAILDIR;
			add_files(r, cur, NULL);
			add_files(r, nw, NULL);
			char *kp = mt_xasprintf("%s/dovecot-keywords", path);
			FILE *f = fopen(kp, "r");
			char line[512];
			while (f && fgets(line, sizeof line, f)) {
				char *sp = strchr(line, ' ');
				long idx = strtol(line, NULL, 10);
				if (sp == NULL || idx < 0 || idx >= 26)
					continue;
				sp[strcspn(sp, "\r\n")] = '\0';
				if ((size_t)idx >= r->nkw) {
					r->kw = mt_xrealloc(r->kw, sizeof *r->kw * (size_t)(idx + 1));
					for (size_t k = r->nkw; k <= (size_t)idx; k++)
						r->kw[k] = NULL;
					r->nkw = (size_t)idx + 1;
				}
				free(r->kw[idx]);
				r->kw[idx] = mt_xstrdup(sp + 1);
			}
			if (f)
				fclose(f);
			free(kp);
		} else {
			r->kind = R_EML;
			add_files(r, path, ".eml");
		}
		free(cur);
		free(nw);
		/* Maildir names sort by time/UID; compare the base names */
		qsort(r->files, r->nfiles, sizeof *r->files, cmp_str);
		*rp = r;
		return MT_OK;
	}
	r->kind = R_MBOX;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (r->gz = gzdopen(fd, "rb")) == NULL) {
		int rr = mt_seterr(e, MT_EIO, "cannot read '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		mt_lm_reader_close(r);
		return rr;
	}
	ssize_t n = gz_line(r);
	if (n < 0) {
		mt_lm_reader_close(r);
		return mt_seterr(e, MT_EDATA, "'%s': truncated or corrupt gzip data", path);
	}
	if (n == 0) {
		r->eof = 1;
	} else if (n < 5 || memcmp(r->line, "From ", 5) != 0) {
		mt_lm_reader_close(r);
		return mt_seterr(e, MT_EDATA, "'%s' is neither an mbox (no \"From \" line at its start), a Maildir, "
				 "nor a directory of .eml files", path);
	}
	*rp = r;
	return MT_OK;
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

/* Flags from Status / X-Status / X-Keywords header values. */
static void mbox_flags(struct mt_lm_msg *m, const char *name, size_t nl, const char *v, size_t vl)
{
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
		char *copy = mt_xasprintf("%.*s", (int)vl, v), *save = NULL;
		size_t n = 0;
		while (m->keywords && m->keywords[n])
			n++;
		for (char *t = strtok_r(copy, " ,\t\r\n", &save); t; t = strtok_r(NULL, " ,\t\r\n", &save)) {
			m->keywords = mt_xrealloc(m->keywords, sizeof *m->keywords * (n + 2));
			m->keywords[n++] = mt_xstrdup(t);
			m->keywords[n] = NULL;
		}
		free(copy);
	}
}

struct hdr_scan {
	struct mt_lm_msg *m;
};

static int scan_field(const char *name, size_t nl, const char *v, size_t vl, void *ctx)
{
	mbox_flags(((struct hdr_scan *)ctx)->m, name, nl, v, vl);
	return 0;
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
	/* our own flag lines lead the header: take them off again */
	static const char *const own[] = { "Status: ", "X-Status: ", "X-Keywords:" };
	size_t off = 0;
	int ours = 1;
	for (int i = 0; i < 3 && ours; i++) {
		size_t ol = strlen(own[i]);
		const char *eol = memchr(b.s + off, '\n', b.n - off);
		if (b.n - off < ol || strncmp(b.s + off, own[i], ol) != 0 || eol == NULL)
			ours = 0;
		else
			off = (size_t)(eol - b.s) + 1;
	}
	/* flags from wherever they are in the header */
	struct hdr_scan hs = { m };
	mt_header_fields(b.s, b.n, scan_field, &hs);
	if (ours) {
		memmove(b.s, b.s + off, b.n - off + 1);
		b.n -= off;
	}
	m->data = b.s;
	m->len = b.n;
	return 1;
}

static int next_file(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e)
{
	if (r->next >= r->nfiles)
		return 0;
	const char *p = r->files[r->next++];
	struct stat st;
	m->position = (long)r->next;
	FILE *f = fopen(p, "rb");
	if (f == NULL || fstat(fileno(f), &st) < 0) {
		if (f)
			fclose(f);
		return mt_seterr(e, MT_EIO, "cannot read '%s': %s", p, strerror(errno));
	}
	m->data = mt_xmalloc((size_t)st.st_size + 1);
	m->len = fread(m->data, 1, (size_t)st.st_size, f);
	fclose(f);
	m->internaldate = st.st_mtime;
	if (r->kind == R_MAILDIR) {
		const char *info = strstr(strrchr(p, '/') ? strrchr(p, '/') : p, ":2,");
		size_t nk = 0;
		for (const char *c = info ? info + 3 : ""; *c; c++) {
			if (*c == 'S')
				m->sysflags |= MT_F_SEEN;
			for (size_t k = 0; k < sizeof flagmap / sizeof *flagmap; k++)
				if (*c == flagmap[k].maildir)
					m->sysflags |= flagmap[k].f;
			if (*c >= 'a' && *c <= 'z' && (size_t)(*c - 'a') < r->nkw && r->kw[*c - 'a']) {
				m->keywords = mt_xrealloc(m->keywords, sizeof *m->keywords * (nk + 2));
				m->keywords[nk++] = mt_xstrdup(r->kw[*c - 'a']);
				m->keywords[nk] = NULL;
			}
		}
	}
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
	for (size_t i = 0; m->keywords && m->keywords[i]; i++)
		free(m->keywords[i]);
	free(m->keywords);
	memset(m, 0, sizeof *m);
}

void mt_lm_reader_close(struct mt_lm_reader *r)
{
	if (r == NULL)
		return;
	if (r->gz)
		gzclose(r->gz);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	for (size_t i = 0; i < r->nkw; i++)
		free(r->kw[i]);
	free(r->kw);
	free(r->line);
	free(r->path);
	free(r);
}

/* SHA-256 of every message of an archive, sorted; *got owned by the caller. */
static int archive_digests(const char *path, unsigned char **got, size_t *k, struct mt_err *e)
{
	struct mt_lm_reader *r;
	struct mt_lm_msg m;
	size_t cap = 64;
	int more, rc = mt_lm_reader_open(&r, path, e);
	*got = NULL;
	*k = 0;
	if (rc != MT_OK)
		return rc;
	*got = mt_xmalloc(32 * cap);
	while ((more = mt_lm_next(r, &m, e)) == 1) {
		if (*k == cap) {
			cap *= 2;
			*got = realloc(*got, 32 * cap);
			if (*got == NULL)
				abort();
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
	qsort(*got, *k, 32, cmp_digest);
	return MT_OK;
}

int mt_lm_verify(const char *path, const unsigned char *digests, size_t n, struct mt_err *e)
{
	unsigned char *got;
	size_t k;
	int rc = archive_digests(path, &got, &k, e);
	if (rc != MT_OK)
		return rc;
	if (k != n) {
		free(got);
		return mt_seterr(e, MT_EDATA, "verification of '%s' failed: %zu messages read back, %zu written", path, k, n);
	}
	int same = n == 0 || memcmp(got, digests, 32 * n) == 0;
	free(got);
	if (!same)
		return mt_seterr(e, MT_EDATA, "verification of '%s' failed: a message read back differs from what the server sent", path);
	return MT_OK;
}

int mt_lm_verify_subset(const char *path, const unsigned char *digests, size_t n, struct mt_err *e)
{
	unsigned char *got, *want = mt_xmalloc(32 * (n + 1));
	size_t k, j = 0, missing = 0;
	int rc = archive_digests(path, &got, &k, e);
	if (rc != MT_OK) {
		free(want);
		return rc;
	}
	memcpy(want, digests, 32 * n);
	qsort(want, n, 32, cmp_digest);
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
	if (missing)
		return mt_seterr(e, MT_EDATA, "'%s' exists but lacks %zu of the %zu messages selected", path, missing, n);
	return MT_OK;
}
