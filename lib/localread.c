/* localread.c — reading local mail for import and verification: mbox
 * (mboxrd, mboxo, mboxcl2; plain or gzip), Maildir and directories of .eml
 * files, every file opened without following a link; flags only from what
 * mailtool wrote (or, when told, a foreign file's Status fields); dates from
 * the file, Received: or Date: (mail/mail.h parses them). See localmail.h. */
#include "localmail_int.h"
#include "select.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

int mt_lm_datesrc_parse(const char *s)
{
	if (strcmp(s, "file") == 0 || strcmp(s, "mtime") == 0)
		return MT_LM_DATE_FILE;
	if (strcmp(s, "received") == 0)
		return MT_LM_DATE_RECEIVED;
	if (strcmp(s, "date") == 0)
		return MT_LM_DATE_DATE;
	return -1;
}

/* "+HHMM" / "-HHMM": seconds east of UTC in *off. */
static int fixed_offset(const char *z, long *off)
{
	if ((z[0] != '+' && z[0] != '-') || strlen(z) != 5 || strspn(z + 1, "0123456789") != 4)
		return 0;
	long h = (z[1] - '0') * 10 + (z[2] - '0'), m = (z[3] - '0') * 10 + (z[4] - '0');
	if (h > 14 || m > 59)
		return 0;
	*off = (z[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
	return 1;
}

int mt_lm_zone_ok(const char *zone)
{
	long off;
	struct stat st;
	if (strcasecmp(zone, "utc") == 0 || strcmp(zone, "local") == 0 || fixed_offset(zone, &off))
		return 1;
	/* an IANA name: a file of the zone database, never a path out of it */
	if (*zone == '\0' || *zone == '/' || strstr(zone, "..") || strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != strlen(zone))
		return 0;
	const char *dir = getenv("TZDIR");
	char *p = mt_xasprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
	int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
	free(p);
	return ok;
}

/* ---- dates ---------------------------------------------------------------- */

struct dates {
	time_t received, date;
};

/* The topmost Received: field's date (after its last ';') and Date:. */
static int date_field(const char *name, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct dates *d = ctx;
	if (nl == 8 && strncasecmp(name, "Received", 8) == 0 && d->received == 0) {
		const char *semi = NULL;
		for (size_t i = 0; i < vl; i++)
			if (v[i] == ';')
				semi = v + i;
		d->received = semi ? mt_header_date(semi + 1, vl - (size_t)(semi + 1 - v)) : 0;
		if (d->received == 0)
			d->received = -1;   /* the topmost one counts, even unreadable */
	} else if (nl == 4 && strncasecmp(name, "Date", 4) == 0 && d->date == 0) {
		d->date = mt_header_date(v, vl);
	}
	return 0;
}

/* ---- the reader ----------------------------------------------------------- */

enum rkind { R_MBOX, R_MAILDIR, R_EML };
/* whose flag lines an mbox's messages carry: decided by its first message */
enum trust { T_FOREIGN, T_OLD, T_TOKEN };

struct entry {
	int dir;                  /* index into dfd */
	char *name;
};

#define ZONE_BUCKETS 113          /* -14 h .. +14 h in quarter hours */

struct mt_lm_reader {
	enum rkind kind;
	char *path;               /* as messages show it */
	struct mt_lm_ropts o;
	struct mt_lm_rinfo info;
	/* mbox */
	gzFile gz;
	char buf[65536];          /* read ahead */
	size_t bpos, blen;
	char *line;               /* the "From " line read ahead */
	size_t lcap;
	int line_over;            /* the line was longer than max_message: only its head is in line */
	long pos;
	int eof;
	enum trust trust;
	int own;                  /* opened without options: an archive this process wrote, read back to
				   * verify it, where the token alone marks the flag lines */
	char token[17];
	enum mt_lm_mbox fmt;
	long zone_off;            /* a fixed --mbox-timezone, seconds east */
	int zone_fixed, zone_set; /* zone_set: TZ changed (restored at close) */
	char *old_tz;
	uint64_t zone_hist[ZONE_BUCKETS];
	/* Maildir / .eml */
	int dfd[2];               /* Maildir: cur/, new/; .eml: the directory */
	struct entry *files;      /* sorted */
	size_t nfiles, next;
	char **kw;                /* dovecot-keywords: letter -> name */
	size_t nkw;
};

struct sbuf {
	char *s;
	size_t n, cap;
	uint64_t max;             /* 0: no limit; else what would pass it is not kept, and over set */
	int over;
	uint64_t total;           /* bytes given, kept or not */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	b->total += n;
	if (b->over || (b->max && b->n + n > b->max)) {
		b->over = 1;
		if (b->s == NULL) {
			b->s = mt_xmalloc(1);
			b->cap = 1;
		}
		return;
	}
	if (b->s == NULL || b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		if (b->max && b->cap > b->max + 1)
			b->cap = (size_t)b->max + 1;   /* never more than the limit allows */
		b->s = mt_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* Fill the read-ahead buffer when empty: its length, 0 at the end, -1 on
 * a read error (truncated gzip data). */
static ssize_t fill(struct mt_lm_reader *r)
{
	if (r->bpos < r->blen)
		return (ssize_t)(r->blen - r->bpos);
	int k = gzread(r->gz, r->buf, sizeof r->buf);
	if (k < 0)
		return -1;
	r->bpos = 0;
	r->blen = (size_t)k;
	if (k == 0) {
		int err;
		gzerror(r->gz, &err);
		return err != Z_OK && err != Z_STREAM_END ? -1 : 0;
	}
	return k;
}

/* A whole line (with its LF, if any) into r->line, NUL bytes and all
 * (gzgets would stop at a NUL and lose the rest of the line); its length,
 * 0 at the end, -1 on a read error. */
static ssize_t read_line(struct mt_lm_reader *r)
{
	size_t n = 0, max = r->o.max_message ? (size_t)r->o.max_message + 1 : SIZE_MAX - 1;
	r->line_over = 0;
	for (;;) {
		ssize_t k = fill(r);
		if (k <= 0)
			return k < 0 ? -1 : (ssize_t)n;
		const char *nl = memchr(r->buf + r->bpos, '\n', r->blen - r->bpos);
		size_t take = nl ? (size_t)(nl - (r->buf + r->bpos)) + 1 : r->blen - r->bpos, keep = take;
		/* a line longer than a message may be: its head only (enough to
		 * tell a From_ line), the rest read past, never held */
		if (n + keep > max) {
			keep = max - n;
			r->line_over = 1;
		}
		if (n + keep + 1 > r->lcap) {
			r->lcap = (n + keep + 1) * 2;
			if (r->lcap > max + 1)
				r->lcap = max + 1;
			r->line = mt_xrealloc(r->line, r->lcap);
		}
		memcpy(r->line + n, r->buf + r->bpos, keep);
		n += keep;
		r->bpos += take;
		r->line[n] = '\0';
		if (nl)
			return (ssize_t)n;
	}
}

/* Exactly n bytes onto b: 0, or -1 (the end came first, or a read error). */
static int read_bytes(struct mt_lm_reader *r, uint64_t n, struct sbuf *b)
{
	while (n > 0) {
		ssize_t k = fill(r);
		if (k <= 0)
			return -1;
		size_t take = (uint64_t)k < n ? (size_t)k : (size_t)n;
		sb_add(b, r->buf + r->bpos, take);
		r->bpos += take;
		n -= take;
	}
	return 0;
}

static int is_from_line(const char *l, size_t n)
{
	return n >= 5 && memcmp(l, "From ", 5) == 0;
}

/* From_ line date, in the zone --mbox-timezone says (RFC 4155: UTC). */
static time_t from_line_date(struct mt_lm_reader *r, const char *l)
{
	/* "From sender Sun Nov 22 10:00:00 2026" (ctime: two spaces before a one-digit day) */
	const char *p = l + 5;
	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	struct tm tm = { 0 };
	if (strptime(p, "%a %b %d %H:%M:%S %Y", &tm) == NULL)
		return 0;
	if (r->zone_fixed)
		return timegm(&tm) - r->zone_off;
	if (r->zone_set || (r->o.zone && strcmp(r->o.zone, "local") == 0)) {
		tm.tm_isdst = -1;
		return mktime(&tm);
	}
	return timegm(&tm);
}

/* One more keyword onto the NULL-terminated *kw holding *n: 1, or 0 when it
 * holds MT_LM_MAX_KEYWORDS already (the caller counts what it left out). The
 * array grows by doubling: a header of 20,000 keywords was read in time
 * quadratic in their number (it was walked to its end for each one). */
static int add_keyword(char ***kw, size_t *n, const char *k, size_t len)
{
	if (*n >= MT_LM_MAX_KEYWORDS)
		return 0;
	if ((*n & (*n + 1)) == 0 || *kw == NULL)   /* n + 2 slots needed; the capacity is the next 2^k - 1 */
		*kw = mt_xrealloc(*kw, sizeof **kw * (2 * *n + 2));
	(*kw)[*n] = mt_xasprintf("%.*s", (int)len, k);
	(*kw)[++*n] = NULL;
	return 1;
}

static void free_keywords(char **kw)
{
	for (size_t i = 0; kw && kw[i]; i++)
		free(kw[i]);
	free(kw);
}

struct status_ctx {
	struct mt_lm_msg *m;
	size_t nkw;
};

/* Flags from Status / X-Status / X-Keywords header values (foreign mbox
 * files, only when the user said to trust them). */
static int status_field(const char *name, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct status_ctx *sc = ctx;
	struct mt_lm_msg *m = sc->m;
	if (nl == 6 && strncasecmp(name, "Status", 6) == 0) {
		for (size_t i = 0; i < vl; i++)
			if (v[i] == 'R')
				m->sysflags |= MT_F_SEEN;
	} else if (nl == 8 && strncasecmp(name, "X-Status", 8) == 0) {
		for (size_t i = 0; i < vl; i++)
			for (size_t k = 0; k < MT_LM_NFLAGS; k++)
				if (v[i] == mt_lm_flagmap[k].mbox)
					m->sysflags |= mt_lm_flagmap[k].f;
	} else if (nl == 10 && strncasecmp(name, "X-Keywords", 10) == 0) {
		static const char sep[] = " ,\t\r\n";
		for (size_t i = 0; i < vl;) {
			size_t s = i;
			while (i < vl && !strchr(sep, v[i]))
				i++;
			if (i > s && !add_keyword(&m->keywords, &sc->nkw, v + s, i - s))
				m->keywords_over++;
			while (i < vl && strchr(sep, v[i]))
				i++;
		}
	}
	return 0;
}

/* The line at s[*off] (LF-terminated, a CR before the LF allowed) if it
 * starts with prefix: its rest in *v, *vl; advances *off. */
static int block_line(const char *s, size_t n, size_t *off, const char *prefix, const char **v, size_t *vl)
{
	size_t pl = strlen(prefix), o = *off;
	const char *eol = memchr(s + o, '\n', n - o);
	if (eol == NULL || (size_t)(eol - (s + o)) < pl || memcmp(s + o, prefix, pl) != 0)
		return 0;
	*v = s + o + pl;
	*vl = (size_t)(eol - *v);
	if (*vl && (*v)[*vl - 1] == '\r')
		(*vl)--;
	*off = (size_t)(eol - s) + 1;
	return 1;
}

static int all_digits(const char *v, size_t n, uint64_t *out)
{
	*out = 0;
	if (n == 0 || n > 19)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return 0;
		*out = *out * 10 + (uint64_t)(v[i] - '0');
	}
	return 1;
}

struct block {
	size_t len;               /* bytes; 0: no block */
	unsigned sys;
	char **kw;
	size_t nkw, kw_over;      /* kw_over: past MT_LM_MAX_KEYWORDS, left out */
	char token[17];           /* "" for the older three lines */
	enum mt_lm_mbox fmt;      /* what the X-Mailtool line says */
	uint64_t msglen;          /* mboxcl2: the message's stored length after the block */
	int signed_ok;            /* its signature is the exporter's key's (block_checks) */
	int has_sig;              /* its X-Mailtool line ends with a signature, sig */
	char sig[MT_LM_MAC_HEX + 1];
	size_t signed_len;        /* the bytes of the block before " SIGNATURE" */
};

/* The lines mailtool writes after the From_ line, exactly: "Status: RO" or
 * "Status: O"; "X-Status: " with A F T D in that order; "X-Keywords:" and
 * " keyword" for each; then, since exports carry one, "X-Mailtool: mboxrd
 * TOKEN", or "Content-Length: N" and "X-Mailtool: mboxcl2 TOKEN LENGTH"
 * (TOKEN: 16 of [a-z0-9]). */
static void own_block(const char *s, size_t n, struct block *b)
{
	const char *v;
	size_t vl, off = 0, k = 0;
	uint64_t num;
	memset(b, 0, sizeof *b);
	if (!block_line(s, n, &off, "Status: ", &v, &vl) || !((vl == 2 && memcmp(v, "RO", 2) == 0) || (vl == 1 && v[0] == 'O')))
		return;
	if (vl == 2)
		b->sys |= MT_F_SEEN;
	if (!block_line(s, n, &off, "X-Status: ", &v, &vl))
		return;
	for (size_t i = 0; i < vl; i++) {
		while (k < MT_LM_NFLAGS && mt_lm_flagmap[k].mbox != v[i])
			k++;
		if (k == MT_LM_NFLAGS)
			return;
		b->sys |= mt_lm_flagmap[k++].f;
	}
	if (!block_line(s, n, &off, "X-Keywords:", &v, &vl))
		return;
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
		if (!add_keyword(&b->kw, &b->nkw, v + st, i - st))
			b->kw_over++;
	}
	b->len = off;
	size_t o2 = off;
	int cl = block_line(s, n, &o2, "Content-Length: ", &v, &vl) && all_digits(v, vl, &num);
	if (!cl)
		o2 = off;
	if (!block_line(s, n, &o2, "X-Mailtool: ", &v, &vl))
		return;
	/* ... " SIGNATURE": what it signs is everything before it (see
	 * mt_lm_mark_mac), the From_ line included */
	const char *tok = NULL, *sig = NULL;
	if (vl > MT_LM_MAC_HEX + 1 && v[vl - MT_LM_MAC_HEX - 1] == ' ') {
		sig = v + vl - MT_LM_MAC_HEX;
		vl -= MT_LM_MAC_HEX + 1;
	}
	if (!cl && vl == 7 + 16 && memcmp(v, "mboxrd ", 7) == 0) {
		b->fmt = MT_LM_MBOXRD;
		tok = v + 7;
	} else if (cl && vl > 8 + 17 && memcmp(v, "mboxcl2 ", 8) == 0 && v[8 + 16] == ' ' &&
		   all_digits(v + 8 + 17, vl - 8 - 17, &b->msglen)) {
		b->fmt = MT_LM_MBOXCL2;
		tok = v + 8;
	}
	for (size_t i = 0; tok && i < 16; i++)
		if (!(islower((unsigned char)tok[i]) || isdigit((unsigned char)tok[i])))
			tok = NULL;
	if (tok == NULL) {
		b->fmt = 0;
		return;
	}
	memcpy(b->token, tok, 16);
	b->token[16] = '\0';
	b->len = o2;
	if (sig) {
		b->has_sig = 1;
		memcpy(b->sig, sig, MT_LM_MAC_HEX);
		b->sig[MT_LM_MAC_HEX] = '\0';
		b->signed_len = (size_t)(v + vl - s);
	}
	return;
bad:
	free_keywords(b->kw);
	b->kw = NULL;
	b->len = 0;
}

/* One message's stored lines as the server gets them: mboxrd takes one '>'
 * off ">*From " lines, every LF without a CR before it becomes CRLF (the
 * writer dropped those CRs; see mbox_line in localmail.c), a last line
 * without LF stays as it is. */
static void stored_to_message(const char *s, size_t n, int unquote, struct sbuf *out)
{
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (s + i)) + 1 : n - i, k = 0;
		const char *l = s + i;
		i += len;
		while (unquote && k < len && l[k] == '>')
			k++;
		if (k > 0 && len - k >= 5 && memcmp(l + k, "From ", 5) == 0) {
			l++;
			len--;
		}
		if (len >= 1 && l[len - 1] == '\n' && !(len >= 2 && l[len - 2] == '\r')) {
			sb_add(out, l, len - 1);
			sb_add(out, "\r\n", 2);
		} else {
			sb_add(out, l, len);
		}
	}
	if (out->s == NULL)
		sb_add(out, "", 0);
}

/* A message past max_message: read past (never held whole), reported. */
static int too_big(const struct mt_lm_reader *r, long pos, struct mt_err *e)
{
	return mt_seterr(e, MT_LM_TOOBIG, "message %ld of '%s' is larger than %llu bytes; not appended", pos, r->path,
			 (unsigned long long)r->o.max_message);
}

static int corrupt(struct mt_lm_reader *r, long pos, struct mt_err *e, const char *why)
{
	return mt_seterr(e, MT_EDATA, "'%s' message %ld: %s", r->path, pos, why);
}

/* After a message whose length is known: the blank separator line (unless
 * already read), then the next From_ line or the end. */
static int expect_separator(struct mt_lm_reader *r, long pos, int sep_read, struct mt_err *e)
{
	ssize_t n = read_line(r);
	if (!sep_read && n > 0 && (strcmp(r->line, "\n") == 0 || strcmp(r->line, "\r\n") == 0))
		n = read_line(r);
	if (n < 0)
		return mt_seterr(e, MT_EDATA, "'%s': truncated or corrupt gzip data after message %ld", r->path, pos);
	if (n == 0)
		r->eof = 1;
	else if (!is_from_line(r->line, (size_t)n))
		return corrupt(r, pos, e, "its length does not end at the next \"From \" line (a damaged mboxcl2 file?)");
	return MT_OK;
}

static int is_blank(const char *l)
{
	return strcmp(l, "\n") == 0 || strcmp(l, "\r\n") == 0;
}

/* The next line of a message onto raw: 1, or 0 at the next From_ line
 * (left in r->line) or the end, or -1 (e says why). */
static int message_line(struct mt_lm_reader *r, struct sbuf *raw, long pos, struct mt_err *e)
{
	ssize_t n = read_line(r);
	if (n < 0) {
		mt_seterr(e, MT_EDATA, "'%s': truncated or corrupt gzip data in message %ld", r->path, pos);
		return -1;
	}
	if (n == 0)
		r->eof = 1;
	if (n == 0 || is_from_line(r->line, (size_t)n))
		return 0;
	if (r->line_over)
		raw->over = 1;
	sb_add(raw, r->line, (size_t)n);
	return 1;
}

/* Lines until the next From_ line or the end, onto raw; header_only: stop
 * after the first empty line (the end of the header). 1: stopped at the
 * empty line; 0: at a From_ line or the end; -1: error. */
static int read_until_from(struct mt_lm_reader *r, struct sbuf *raw, int header_only, long pos, struct mt_err *e)
{
	int k;
	while ((k = message_line(r, raw, pos, e)) == 1)
		if (header_only && is_blank(r->line))
			return 1;
	return k;
}

/* The lines a block of mailtool's can have (see own_block), and no more:
 * the first line that cannot continue one is kept (it is the message's).
 * 1: stopped at a From_ line or the end; 0: otherwise; -1: error. */
static int read_block_lines(struct mt_lm_reader *r, struct sbuf *raw, long pos, struct mt_err *e)
{
	static const char *const want[] = { "Status: ", "X-Status: ", "X-Keywords:" };
	for (int i = 0; i < 5; i++) {
		int k = message_line(r, raw, pos, e);
		if (k <= 0)
			return k < 0 ? -1 : 1;
		int mark = strncmp(r->line, "X-Mailtool: ", 12) == 0;
		if (i < 3 ? strncmp(r->line, want[i], strlen(want[i])) != 0
			  : !(mark || (i == 3 && strncmp(r->line, "Content-Length: ", 16) == 0)) || mark)
			return 0;
	}
	return 0;
}

/* The value of the first Content-Length field in a stored header. */
static int content_length(const char *h, size_t n, uint64_t *out)
{
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(h + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (h + i)) : n - i;
		if (len == 0 || (len == 1 && h[i] == '\r'))
			return 0;
		if (len > 15 && strncasecmp(h + i, "Content-Length:", 15) == 0) {
			const char *v = h + i + 15, *end = h + i + len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			return all_digits(v, (size_t)(end - v), out);
		}
		i += len + 1;
	}
	return 0;
}

#define NO_HEADER_END ((size_t)-1)

/* Where the header of stored text ends (after its empty line). */
static size_t header_end(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (s + i)) + 1 : n - i;
		if (len == 1 || (len == 2 && s[i] == '\r'))
			return i + len;
		i += len;
	}
	return NO_HEADER_END;
}

/* Whether b's signature is the key's over the From_ line, the block and
 * the message's stored bytes after it (raw from b->len on, all of it read). */
static int block_checks(const struct mt_lm_reader *r, const char *from, const struct sbuf *raw, const struct block *b)
{
	if (!b->has_sig || r->o.key == NULL || raw->over || raw->n < b->len)
		return 0;
	unsigned char content[32];
	char want[MT_LM_MAC_HEX + 1];
	mt_sha256(raw->s + b->len, raw->n - b->len, content);
	mt_lm_mark_mac(r->o.key, from, strlen(from), raw->s, b->signed_len, content, want);
	return CRYPTO_memcmp(want, b->sig, MT_LM_MAC_HEX) == 0;
}

/* Flags come only from the block mailtool wrote at the top of the message:
 * the first message decides whose blocks the file has (a token, the older
 * three lines when trust_status_headers says so, or none), and only a later
 * block of the same kind counts.
 * Anything else is the message's own content and stays, unread, unless
 * trust_status_headers says to read its Status fields. Returns the bytes
 * of raw that are the block (taken off), 0 if none. */
static size_t mbox_flags(struct mt_lm_reader *r, struct mt_lm_msg *m, const struct block *b)
{
	int ours = b->len && ((r->trust == T_TOKEN && b->signed_ok && strcmp(b->token, r->token) == 0) ||
			      (r->trust == T_OLD && !b->token[0]));
	if (ours) {
		m->sysflags = b->sys;
		m->keywords = b->kw;
		m->keywords_over = b->kw_over;
		return b->len;
	}
	free_keywords(b->kw);
	m->untrusted_flags = b->len > 0 && !r->o.trust_status_headers;
	return 0;
}

/* A message whose length is known (mailtool's mboxcl2 block, or a
 * Content-Length): exactly that many bytes after have, then the separator. */
static int read_known(struct mt_lm_reader *r, struct sbuf *raw, size_t from, uint64_t len, long pos, struct mt_err *e)
{
	/* counted in the bytes read, not those kept: a message past the limit
	 * keeps only its head, and is still read to its exact end */
	uint64_t have = raw->total - from;
	int sep_read = 0;
	if (have > len) {
		/* the last line read ran past the end: only the separator may */
		if (have - len != 1 || raw->s == NULL || (!raw->over && raw->s[raw->n - 1] != '\n')) {
			corrupt(r, pos, e, "its length ends inside its header");
			return -1;
		}
		if (!raw->over)
			raw->n = from + len;
		sep_read = 1;
	} else if (read_bytes(r, len - have, raw) < 0) {
		corrupt(r, pos, e, "the file ends before the length it says");
		return -1;
	}
	return expect_separator(r, pos, sep_read, e) == MT_OK ? 0 : -1;
}

/* The stored bytes of one message (after its From_ line) into raw, as its
 * file's format says, with mailtool's block (if any) parsed into b. */
static int mbox_raw(struct mt_lm_reader *r, struct mt_lm_msg *m, const char *from, struct sbuf *raw, struct block *b,
		    struct mt_err *e)
{
	long pos = m->position;
	int rr = read_block_lines(r, raw, pos, e);
	if (rr < 0)
		return -1;
	own_block(raw->s, raw->n, b);
	/* a block that says it is a mailtool export's: its token, signed (or,
	 * read back by the process that wrote it, the token alone) */
	int claims = b->len && b->token[0] && (r->own || b->has_sig);
	if (pos == 1) {
		/* the first message says whose file this is: an export's, by its
		 * signed lines (decided once they are checked, in next_mbox); the
		 * three lines older exports wrote without a token are what any
		 * sender can put at the top of a message: an older export only
		 * when the user says so (--trust-status-headers) */
		if (claims && !r->own && r->o.key == NULL && r->o.mbox == MT_LM_AUTO && !r->o.trust_status_headers) {
			mt_seterr(e, MT_EDATA, "'%s' is a mailtool export whose signed flag lines cannot be checked here "
				  "(no archive.key in the state directory): its flags would not be read, and how to read "
				  "its text is its own word; say --mbox-format %s to read it as written, flags left as "
				  "text, or copy the exporting user's archive.key here; nothing imported", r->path,
				  b->fmt == MT_LM_MBOXCL2 ? "mboxcl2" : "mboxrd");
			return -1;
		}
		memcpy(r->token, b->token, sizeof r->token);
		r->trust = claims ? T_TOKEN : b->len && !b->token[0] && r->o.trust_status_headers ? T_OLD : T_FOREIGN;
		/* provisional until the block checks (mboxrd and mboxo read alike) */
		r->fmt = r->o.mbox != MT_LM_AUTO ? r->o.mbox : r->trust == T_OLD ? MT_LM_MBOXRD : MT_LM_MBOXO;
	}
	/* a claim that can be checked (a key here, or our own file) */
	int checkable = claims && (r->own || r->o.key);
	if (b->fmt == MT_LM_MBOXCL2 && checkable && r->trust == T_TOKEN && strcmp(b->token, r->token) == 0 &&
	    (r->own || r->o.mbox == MT_LM_AUTO)) {
		/* a From_ line read already is the next message's, not this one's */
		if (rr == 1 && raw->total - b->len < b->msglen) {
			corrupt(r, pos, e, "the file ends before the length it says");
			return -1;
		}
		if (read_known(r, raw, b->len, b->msglen, pos, e) < 0)
			return -1;
		/* the length was its word: the block must check, or nothing of
		 * the file is believed (the bytes it took may be other messages) */
		b->signed_ok = r->own || block_checks(r, from, raw, b);
		if (!b->signed_ok) {
			corrupt(r, pos, e, raw->over ? "its signed mboxcl2 lines cannot be checked: the message is larger "
				"than the limit (see --max-message)" : "its signed mboxcl2 lines do not check (altered, or "
				"another's): the file is not read by them; see --mbox-format");
			return -1;
		}
		if (pos == 1) {
			r->fmt = MT_LM_MBOXCL2;
			r->info.exported = 1;
			r->info.format = r->fmt;
		}
		return 0;
	}
	if (rr == 1)
		return 0;   /* a From_ line or the end right after the first lines */
	uint64_t cl;
	size_t hl = header_end(raw->s, raw->n);
	if (r->fmt == MT_LM_MBOXCL2) {
		if (hl == NO_HEADER_END && read_until_from(r, raw, 1, pos, e) < 0)
			return -1;
		hl = header_end(raw->s, raw->n);
		if (hl == NO_HEADER_END)
			return 0;   /* a header and no body, right before the next From_ line */
		if (!content_length(raw->s, raw->n, &cl)) {
			corrupt(r, pos, e, "no Content-Length (is it mboxcl2? see --mbox-format)");
			return -1;
		}
		return read_known(r, raw, hl, cl, pos, e);
	}
	/* split at the next From_ line: the blank line before it belongs to
	 * the separator */
	if (read_until_from(r, raw, 0, pos, e) < 0)
		return -1;
	hl = header_end(raw->s, raw->n);
	if (raw->n >= 1 && raw->s[raw->n - 1] == '\n') {
		size_t last = raw->n - 1;
		while (last > 0 && raw->s[last - 1] != '\n')
			last--;
		if (raw->n - last == 1 || (raw->n - last == 2 && raw->s[last] == '\r'))
			raw->n = last;
	}
	/* a Content-Length that disagrees with the From_ lines: mboxcl2? */
	size_t body = hl != NO_HEADER_END && raw->n > hl ? raw->n - hl : 0;
	if (r->o.mbox == MT_LM_AUTO && !checkable && !raw->over && hl != NO_HEADER_END && content_length(raw->s, hl, &cl) &&
	    cl != body && cl != body + 1)
		r->info.cl_mismatch++;
	return 0;
}

static int next_mbox(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e)
{
	if (r->eof)
		return 0;
	/* the stored bytes may pass the limit by their block and quoting, the
	 * message (its LFs made CRLF) not */
	uint64_t max = r->o.max_message;
	struct sbuf raw = { .max = max ? max + 4096 : 0 }, msg = { .max = max };
	struct block b = { 0 };
	m->position = ++r->pos;
	m->internaldate = from_line_date(r, r->line);
	sb_add(&raw, "", 0);   /* never NULL below */
	char *from = mt_xstrdup(r->line);   /* signed with the flag lines */
	int rr = mbox_raw(r, m, from, &raw, &b, e);
	if (rr < 0) {
		free(from);
		free_keywords(b.kw);
		free(raw.s);
		return e->code;
	}
	/* the block counts when it checks over the whole message (read back
	 * by its writer: by its token) */
	if (!b.signed_ok && b.len && b.token[0])
		b.signed_ok = r->own || block_checks(r, from, &raw, &b);
	free(from);
	if (m->position == 1) {
		/* what the first message's block claimed stands only if it checks;
		 * one too large to check leaves the file's flavour unknown */
		if (r->trust == T_TOKEN && !b.signed_ok && raw.over && r->o.key) {
			free_keywords(b.kw);
			free(raw.s);
			return corrupt(r, 1, e, "it is larger than the limit (see --max-message), so the signed lines "
				       "that say how to read the file cannot be checked; nothing imported");
		}
		if (r->trust == T_TOKEN && !b.signed_ok)
			r->trust = T_FOREIGN;
		else if (r->trust == T_TOKEN && r->o.mbox == MT_LM_AUTO && b.fmt)
			r->fmt = b.fmt;
		r->info.exported = r->trust != T_FOREIGN;
		r->info.format = r->fmt;
	}
	size_t skip = mbox_flags(r, m, &b);
	if (!raw.over)
		stored_to_message(raw.s + skip, raw.n - skip, r->fmt == MT_LM_MBOXRD, &msg);
	free(raw.s);
	if (raw.over || msg.over) {
		free(msg.s);
		mt_lm_msg_release(m);
		m->position = r->pos;
		return too_big(r, r->pos, e);
	}
	if (!skip && r->o.trust_status_headers) {
		struct status_ctx sc = { .m = m };
		mt_header_fields(msg.s, msg.n, status_field, &sc);
	}
	m->data = msg.s;
	m->len = msg.n;
	return 1;
}

/* ---- Maildir and .eml ------------------------------------------------------ */

/* A Maildir name's delivery timestamp (its leading digits) and the rest,
 * compared with digit runs as numbers ("_2" before "_10"); the info part
 * (":2,flags") does not count. */
static int natcmp(const char *a, const char *b)
{
	while (*a && *b && *a != ':' && *b != ':') {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = strncmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	int ea = *a == '\0' || *a == ':', eb = *b == '\0' || *b == ':';
	return ea && eb ? 0 : ea ? -1 : eb ? 1 : (unsigned char)*a < (unsigned char)*b ? -1 : 1;
}

static int cmp_entry(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	int c = natcmp(a->name, b->name);
	return c ? c : a->dir != b->dir ? a->dir - b->dir : strcmp(a->name, b->name);
}

/* A directory's entries, read through a descriptor of its own (dfd stays
 * where it is); NULL with e set. listing_end: closed, and a read that
 * stopped early is an error, not fewer entries. */
static DIR *listing(const struct mt_lm_reader *r, int dfd, struct mt_err *e)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		mt_seterr(e, MT_EIO, "cannot read '%s': %s", r->path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return d;
}

static int listing_end(const struct mt_lm_reader *r, DIR *d, struct mt_err *e)
{
	int err = errno;
	closedir(d);
	if (err)
		return mt_seterr(e, MT_EIO, "cannot read '%s': %s", r->path, strerror(err));
	return MT_OK;
}

/* The names in directory dfd[idx] (not opened: a name is only a name
 * until next_file opens it without following links). A directory that
 * cannot be read to its end is an error, not fewer messages. */
static int add_files(struct mt_lm_reader *r, int idx, const char *suffix, struct mt_err *e)
{
	struct dirent *de;
	DIR *d = listing(r, r->dfd[idx], e);
	if (d == NULL)
		return e->code;
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		size_t n = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
		/* .eml, .EML, .Eml: one suffix */
		if (de->d_name[0] == '.' || (suffix && (n <= sl || strcasecmp(de->d_name + n - sl, suffix) != 0)))
			continue;
		r->files = mt_xrealloc(r->files, sizeof *r->files * (r->nfiles + 1));
		r->files[r->nfiles].dir = idx;
		r->files[r->nfiles++].name = mt_xstrdup(de->d_name);
	}
	return listing_end(r, d, e);
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

/* A Maildir++ root (Dovecot's ~/Maildir) holds its other folders as .Name
 * directories with a cur/: they are not this folder's mail, and an import
 * of the root does not take them; counted, and the first named, so that
 * the summary says what was left. */
static int maildirpp_subfolders(struct mt_lm_reader *r, int root, struct mt_err *e)
{
	struct dirent *de;
	DIR *d = listing(r, root, e);
	if (d == NULL)
		return e->code;
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int sub = open_dir_at(root, de->d_name), c = sub >= 0 ? open_dir_at(sub, "cur") : -1;
		if (c >= 0) {
			if (r->info.subfolders++ == 0)
				snprintf(r->info.subfolder, sizeof r->info.subfolder, "%s", de->d_name);
			close(c);
		}
		if (sub >= 0)
			close(sub);
	}
	return listing_end(r, d, e);
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
		if (rr == MT_OK)
			rr = maildirpp_subfolders(r, fd, e);
		close(fd);
		if (rr == MT_OK)
			rr = add_files(r, 0, NULL, e);
		if (rr == MT_OK && r->dfd[1] >= 0)
			rr = add_files(r, 1, NULL, e);
		if (rr != MT_OK)
			return rr;
	}
	/* delivery order: the names' timestamps, then their sequence parts */
	if (r->nfiles)
		mt_sort(r->files, r->nfiles, sizeof *r->files, cmp_entry);
	return MT_OK;
}

/* From_ dates in the zone asked for: a fixed offset, "local" as it is, or
 * an IANA zone put in TZ for as long as the reader is open. */
static void zone_start(struct mt_lm_reader *r)
{
	const char *z = r->o.zone;
	if (z == NULL || strcasecmp(z, "utc") == 0 || strcmp(z, "local") == 0)
		return;
	if (fixed_offset(z, &r->zone_off)) {
		r->zone_fixed = 1;
		return;
	}
	const char *old = getenv("TZ");
	r->old_tz = old ? mt_xstrdup(old) : NULL;
	setenv("TZ", z, 1);
	tzset();
	r->zone_set = 1;
}

/* A gzip file must be gzip members to its end: zlib reads past what follows
 * the last one unless it is another member (`cat more.mbox >> a.mbox.gz`),
 * so the file is inflated once, output discarded, to find such bytes.
 * MT_OK (also for a plain file), or MT_EDATA naming where they start. */
static int gzip_whole(struct mt_lm_reader *r, int fd, struct mt_err *e)
{
	unsigned char in[65536], out[65536];
	ssize_t n = pread(fd, in, 2, 0);
	if (n < 2 || in[0] != 0x1f || in[1] != 0x8b)
		return MT_OK;
	z_stream z = { 0 };
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return mt_seterr(e, MT_EOS, "cannot read '%s'", r->path);
	off_t pos = 0;
	int rc = MT_OK, zr = Z_OK, fresh = 1;   /* fresh: at the start of a member */
	for (;;) {
		if (z.avail_in == 0) {
			n = pread(fd, in, sizeof in, pos);
			if (n < 0) {
				rc = mt_seterr(e, MT_EIO, "cannot read '%s': %s", r->path, strerror(errno));
				break;
			}
			if (n == 0)
				break;   /* truncated data: the reader says so where it is */
			pos += n;
			z.next_in = in;
			z.avail_in = (uInt)n;
		}
		if (fresh && (z.avail_in < 2 ? z.avail_in == 1 && in[z.next_in - in] != 0x1f
				     : z.next_in[0] != 0x1f || z.next_in[1] != 0x8b)) {
			rc = mt_seterr(e, MT_EDATA, "'%s': bytes that are not gzip data follow the gzip data at "
				       "offset %lld (a plain mbox appended to a compressed one?); nothing appended",
				       r->path, (long long)(pos - z.avail_in));
			break;
		}
		fresh = 0;
		z.next_out = out;
		z.avail_out = sizeof out;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			inflateReset(&z);
			fresh = 1;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			break;   /* corrupt data: the reader says so where it is */
		}
	}
	inflateEnd(&z);
	return rc;
}

static int reader_mbox(struct mt_lm_reader *r, int fd, struct mt_err *e)
{
	r->kind = R_MBOX;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (gzip_whole(r, fd, e) != MT_OK) {
		close(fd);
		return e->code;
	}
	if ((r->gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		return mt_seterr(e, MT_EOS, "cannot read '%s'", r->path);
	}
	zone_start(r);
	ssize_t n = read_line(r);
	if (n < 0)
		return mt_seterr(e, MT_EDATA, "'%s': truncated or corrupt gzip data", r->path);
	if (n == 0)
		r->eof = 1;
	else if (!is_from_line(r->line, (size_t)n))
		return mt_seterr(e, MT_EDATA, "'%s' is neither an mbox (no \"From \" line at its start), a Maildir, "
				 "nor a directory of .eml files", r->path);
	r->info.format = r->o.mbox;
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
	r->own = o == NULL;
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
	int pfd = mt_lm_open_parent(dirfd, shown, rel, 0, &leaf, NULL, e);
	if (pfd < 0)
		return e->code;
	char *d = mt_lm_disp(shown, rel, strlen(rel));
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

static void maildir_info(struct mt_lm_reader *r, const char *name, struct mt_lm_msg *m)
{
	const char *info = strstr(name, ":2,");
	size_t nkw = 0;
	for (const char *c = info ? info + 3 : ""; *c; c++) {
		if (*c == 'S')
			m->sysflags |= MT_F_SEEN;
		for (size_t k = 0; k < MT_LM_NFLAGS; k++)
			if (*c == mt_lm_flagmap[k].maildir)
				m->sysflags |= mt_lm_flagmap[k].f;
		if (*c >= 'a' && *c <= 'z' && (size_t)(*c - 'a') < r->nkw && r->kw[*c - 'a'])
			if (!add_keyword(&m->keywords, &nkw, r->kw[*c - 'a'], strlen(r->kw[*c - 'a'])))
				m->keywords_over++;
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
	if (r->o.max_message && (uint64_t)st.st_size > r->o.max_message) {
		/* never allocated: a sparse file says any size it likes */
		close(fd);
		free(p);
		return too_big(r, m->position, e);
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
	/* a file's bare LFs (Dovecot and mbsync write them) as the CRLF IMAP
	 * wants (some servers refuse bare LF); nothing added at the end */
	if (memchr(m->data, '\n', m->len)) {
		struct sbuf c = { .max = r->o.max_message };
		stored_to_message(m->data, m->len, 0, &c);
		free(m->data);
		m->data = c.s;
		m->len = c.n;
		if (c.over) {
			long pos = m->position;
			mt_lm_msg_release(m);
			return too_big(r, pos, e);
		}
	}
	m->internaldate = st.st_mtime;
	if (r->kind == R_MAILDIR)
		maildir_info(r, en->name, m);
	return 1;
}

/* The date --date-from asks for, and (mbox) whether the From_ line looks
 * like local time read as UTC: a whole number of quarter hours, at least
 * one hour, off the arrival time the message's own fields say. */
static void date_of(struct mt_lm_reader *r, struct mt_lm_msg *m)
{
	struct dates d = { 0 };
	enum mt_lm_datesrc src = MT_LM_DATE_FILE;
	mt_header_fields(m->data, m->len, date_field, &d);
	/* only dates an APPEND can carry: a year past 9999 (a sender's Date:
	 * of 31 Dec 9999 -0100, a From_ line shifted by --mbox-timezone, a
	 * file's mtime) is no date here, so it never reaches a command line
	 * (the server answers BAD to it, before reading the literal after it) */
	char buf[32];
	time_t recv = d.received > 0 && mt_imap_date_time(d.received, buf, sizeof buf) ? d.received : 0;
	if (d.date > 0 && !mt_imap_date_time(d.date, buf, sizeof buf))
		d.date = 0;
	if (r->o.date_from == MT_LM_DATE_RECEIVED && recv)
		src = MT_LM_DATE_RECEIVED;
	else if (r->o.date_from != MT_LM_DATE_FILE && d.date > 0)
		src = MT_LM_DATE_DATE;
	time_t arrived = recv ? recv : d.date;
	if (r->kind == R_MBOX && m->internaldate > 0 && arrived > 0) {
		long off = (long)(m->internaldate - arrived), q = (labs(off) + 450) / 900 * 900;
		if (labs(off) >= 3000 && q <= 14 * 3600 && labs(labs(off) - q) <= 300) {
			r->info.zone_suspect++;
			r->zone_hist[(off < 0 ? -q : q) / 900 + ZONE_BUCKETS / 2]++;
		}
	}
	if (src == MT_LM_DATE_RECEIVED)
		m->internaldate = recv;
	else if (src == MT_LM_DATE_DATE)
		m->internaldate = d.date;
	else if (!mt_imap_date_time(m->internaldate, buf, sizeof buf))
		src = MT_LM_DATE_NONE;
	if (src == MT_LM_DATE_NONE)
		m->internaldate = 0;   /* the server dates it */
	r->info.dated[src]++;
}

int mt_lm_next(struct mt_lm_reader *r, struct mt_lm_msg *m, struct mt_err *e)
{
	memset(m, 0, sizeof *m);
	if (r == NULL)
		return mt_seterr(e, MT_EUSAGE, "no archive open");
	int rr = r->kind == R_MBOX ? next_mbox(r, m, e) : next_file(r, m, e);
	if (rr == 1)
		date_of(r, m);
	return rr;
}

void mt_lm_msg_release(struct mt_lm_msg *m)
{
	free(m->data);
	free_keywords(m->keywords);
	memset(m, 0, sizeof *m);
}

const char *const *mt_lm_reader_keywords(const struct mt_lm_reader *r, size_t *n)
{
	*n = r->nkw;
	return (const char *const *)r->kw;
}

const struct mt_lm_rinfo *mt_lm_reader_info(const struct mt_lm_reader *r)
{
	/* the most common zone offset (a const view: computed on demand) */
	struct mt_lm_rinfo *info = (struct mt_lm_rinfo *)&r->info;
	uint64_t best = 0;
	for (int i = 0; i < ZONE_BUCKETS; i++)
		if (r->zone_hist[i] > best) {
			best = r->zone_hist[i];
			info->zone_offset = (long)(i - ZONE_BUCKETS / 2) * 900;
		}
	return &r->info;
}

void mt_lm_reader_close(struct mt_lm_reader *r)
{
	if (r == NULL)
		return;
	if (r->zone_set) {
		if (r->old_tz)
			setenv("TZ", r->old_tz, 1);
		else
			unsetenv("TZ");
		tzset();
	}
	free(r->old_tz);
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
