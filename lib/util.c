/* util.c — pure helpers: sizes, durations, modified UTF-7, UID sets, errors.
 * Everything here is unit tested through tests/unit. */
#include "mt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int mt_seterr(struct mt_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return code;
}

static void (*oom_hook)(void);

void mt_on_oom(void (*fn)(void))
{
	oom_hook = fn;
}

static void out_of_memory(void)
{
	if (oom_hook)
		oom_hook();   /* the tool says so; the library never prints */
	abort();
}

void *mt_xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

void *mt_xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

char *mt_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = mt_xmalloc(n);
	memcpy(p, s, n);
	return p;
}

char *mt_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p = mt_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

double mt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Parse "<number>[.<fraction>]<unit>" with a unit table; shared by sizes and durations. */
struct unit { const char *suffix; uint64_t mult; };

static int parse_scaled(const char *s, const struct unit *units, uint64_t deflt_mult,
			uint64_t *out, const char *what, struct mt_err *e)
{
	const char *p = s;
	double v;
	char *end;
	uint64_t mult = deflt_mult;

	if (s == NULL || *s == '\0')
		return mt_seterr(e, MT_EDATA, "empty %s", what);
	if (!isdigit((unsigned char)*p) && *p != '.')
		return mt_seterr(e, MT_EDATA, "bad %s '%s': expected a number and a unit", what, s);
	errno = 0;
	v = strtod(p, &end);
	if (errno != 0 || end == p || !isfinite(v) || v < 0)
		return mt_seterr(e, MT_EDATA, "bad %s '%s': expected a number and a unit", what, s);
	if (*end != '\0') {
		const struct unit *u;
		for (u = units; u->suffix; u++)
			if (strcmp(end, u->suffix) == 0)
				break;
		if (u->suffix == NULL)
			return mt_seterr(e, MT_EDATA, "bad %s '%s': unknown unit '%s'", what, s, end);
		mult = u->mult;
	}
	v *= (double)mult;
	if (v >= 18446744073709551615.0)
		return mt_seterr(e, MT_EDATA, "bad %s '%s': too large", what, s);
	*out = (uint64_t)llround(v);
	return MT_OK;
}

int mt_parse_size(const char *s, uint64_t *out, struct mt_err *e)
{
	static const struct unit units[] = {
		{ "b", 1 }, { "B", 1 },
		{ "k", 1ULL << 10 }, { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "KB", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 }, { "MB", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "GB", 1ULL << 30 },
		{ "t", 1ULL << 40 }, { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 }, { "TB", 1ULL << 40 },
		{ NULL, 0 },
	};
	return parse_scaled(s, units, 1, out, "size", e);
}

/* Local time `months` calendar months before t, the day kept where the
 * month has it and else the month's last day (31 March - 1mo = 28 or 29
 * February), the time of day kept. */
static time_t months_back(time_t t, uint64_t months)
{
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL)
		return t;
	long long mon = (long long)tm.tm_year * 12 + tm.tm_mon - (long long)months;
	if (mon < -1900LL * 12)   /* before year 0: as far back as makes sense */
		mon = -1900LL * 12;
	int mday = tm.tm_mday;
	tm.tm_year = (int)(mon >= 0 ? mon / 12 : -((-mon + 11) / 12));
	tm.tm_mon = (int)(mon - (long long)tm.tm_year * 12);
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y = tm.tm_year + 1900;
	int last = days[tm.tm_mon] + (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	tm.tm_mday = mday < last ? mday : last;
	tm.tm_isdst = -1;
	time_t r = mktime(&tm);
	return r == (time_t)-1 ? t : r;
}

int mt_parse_duration_at(const char *s, time_t now, uint64_t *out, struct mt_err *e)
{
	static const struct unit units[] = {
		{ "s", 1 }, { "m", 60 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 },
		{ "w", 7 * 86400 }, { NULL, 0 },
	};
	const char *p = s;
	uint64_t secs = 0, months = 0;

	if (s == NULL || *s == '\0')
		return mt_seterr(e, MT_EDATA, "empty duration");
	/* A bare number is ambiguous for ages; insist on a unit. */
	if (isdigit((unsigned char)s[strlen(s) - 1]))
		return mt_seterr(e, MT_EDATA, "bad duration '%s': needs a unit (s, m, h, d, w, mo, y)", s);
	/* pieces: 1y6mo, 2d12h, 1h30m; each a number and a unit */
	while (*p) {
		size_t n = strspn(p, "0123456789.");
		size_t u = strcspn(p + n, "0123456789.");
		char piece[64];
		if (n == 0 || u == 0 || n + u >= sizeof piece)
			return mt_seterr(e, MT_EDATA, "bad duration '%s': expected numbers with units, e.g. 90d, 1y6mo, 2h30m", s);
		memcpy(piece, p, n + u);
		piece[n + u] = '\0';
		const char *unit = piece + n;
		if (strcmp(unit, "mo") == 0 || strcmp(unit, "y") == 0) {
			/* calendar months and years: whole numbers only */
			if (memchr(piece, '.', n))
				return mt_seterr(e, MT_EDATA, "bad duration '%s': months and years are whole numbers", s);
			errno = 0;
			unsigned long long v = strtoull(piece, NULL, 10);
			uint64_t k = unit[0] == 'y' ? 12 : 1;
			if (errno || v > 12000 || months + v * k > 12000)
				return mt_seterr(e, MT_EDATA, "bad duration '%s': too large", s);
			months += v * k;
		} else {
			uint64_t x = 0;
			struct mt_err pe;
			const struct unit *k = units;
			while (k->suffix && strcmp(k->suffix, unit) != 0)
				k++;
			if (k->suffix == NULL && strcmp(unit, "M") == 0)
				return mt_seterr(e, MT_EDATA, "bad duration '%s': unknown unit 'M' (m is minutes, "
						 "mo calendar months)", s);
			if (k->suffix == NULL)
				return mt_seterr(e, MT_EDATA, "bad duration '%s': unknown unit '%s' (s, m, h, d, w, mo, y)",
						 s, unit);
			if (parse_scaled(piece, units, 1, &x, "duration", &pe) != MT_OK)
				return mt_seterr(e, MT_EDATA, "bad duration '%s': '%s' is not a number and a unit", s, piece);
			if (x > UINT64_MAX / 2 - secs)
				return mt_seterr(e, MT_EDATA, "bad duration '%s': too large", s);
			secs += x;
		}
		p += n + u;
	}
	if (months) {
		time_t back = months_back(now, months);
		secs += now > back ? (uint64_t)(now - back) : 0;
	}
	/* what IMAP's OLDER and YOUNGER can carry (RFC 5032: a 32-bit number) */
	if (secs > UINT32_MAX)
		return mt_seterr(e, MT_EDATA, "bad duration '%s': too large (at most 136 years)", s);
	*out = secs;
	return MT_OK;
}

int mt_parse_duration(const char *s, uint64_t *out, struct mt_err *e)
{
	return mt_parse_duration_at(s, time(NULL), out, e);
}

/* a character of a setting name (or a number's dot), around a number */
static int cfg_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*' || c == '.';
}

static int cfg_scan(const char *path, int depth, struct mt_err *e)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return MT_OK;   /* libconfig says why when it reads it */
	char *text = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap)
			text = mt_xrealloc(text, cap = cap ? cap * 2 : 8192);
		size_t r = fread(text + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	text[n] = '\0';
	int line = 1, r = MT_OK;
	for (const char *p = text; *p && r == MT_OK;) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			if (*p)
				p += 2;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				line += *p == '\n';
			}
			if (*p)
				p++;
		} else if (*p == '@' && strncmp(p, "@include", 8) == 0) {
			/* @include "file": relative to this file's directory */
			const char *q = strchr(p, '"'), *end = q ? strchr(q + 1, '"') : NULL;
			if (q && end && depth < 10) {
				const char *slash = strrchr(path, '/');
				char *inc = q[1] == '/' || slash == NULL ? mt_xasprintf("%.*s", (int)(end - q - 1), q + 1)
					    : mt_xasprintf("%.*s/%.*s", (int)(slash - path), path, (int)(end - q - 1), q + 1);
				r = cfg_scan(inc, depth + 1, e);
				free(inc);
			}
			while (*p && *p != '\n')
				p++;
		} else if (isdigit((unsigned char)*p) && (p == text || !cfg_name_char(p[-1]) ||
							     (p[-1] == '-' && (p - 1 == text || !cfg_name_char(p[-2]))))) {
			const char *q = p;
			int hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
			if (hex)
				q += 2;
			while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q))
				q++;
			if (!hex && (*q == '.' || *q == 'e' || *q == 'E')) {   /* a float */
				p = q + 1;
				continue;
			}
			int wide = *q == 'L';
			char num[64];
			snprintf(num, sizeof num, "%.*s", (int)(q - p) < 60 ? (int)(q - p) : 60, p);
			errno = 0;
			unsigned long long v = strtoull(num, NULL, hex ? 16 : 10);
			if (!wide && (errno == ERANGE || v > 2147483647ULL))
				r = mt_seterr(e, MT_ECONFIG, "%s:%d: the number %s is too large for the configuration "
					      "syntax without an L suffix (it would be cut to 32 bits): write sizes as "
					      "strings such as \"5G\", or add L", path, line, num);
			p = q;
		} else {
			p++;
		}
	}
	free(text);
	return r;
}

int mt_cfg_check_ints(const char *path, struct mt_err *e)
{
	return cfg_scan(path, 0, e);
}

int mt_parse_rate(const char *s, double *per_s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !(v > 0) || !isfinite(v) || !isdigit((unsigned char)*s) ||
	    strspn(s, "0123456789.") != (size_t)(end - s))   /* no hex, no exponent */
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "/s") == 0)
		*per_s = v;
	else if (strcmp(end, "/min") == 0 || strcmp(end, "/m") == 0)
		*per_s = v / 60;
	else
		return -1;
	return *per_s >= 0.001 && *per_s <= 1e6 ? 0 : -1;
}

int mt_parse_pct(const char *s, double max, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || (*end != '\0' && strcmp(end, "%") != 0) || !(v >= 0 && v <= max))
		return -1;
	*out = v;
	return 0;
}

char *mt_human_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int i = 0;
	while (v >= 1024.0 && i < 5) {
		v /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, v < 10 ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

/* ---- modified UTF-7 ---------------------------------------------------- */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Decode one UTF-8 sequence; returns code point or -1. */
static long utf8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	long c;
	int n, i;
	if (p[0] < 0x80) { *pp = p + 1; return p[0]; }
	if ((p[0] & 0xE0) == 0xC0) { c = p[0] & 0x1F; n = 1; }
	else if ((p[0] & 0xF0) == 0xE0) { c = p[0] & 0x0F; n = 2; }
	else if ((p[0] & 0xF8) == 0xF0) { c = p[0] & 0x07; n = 3; }
	else return -1;
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (p[i] & 0x3F);
	}
	/* reject overlong forms, surrogates and out of range */
	if ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*pp = p + n + 1;
	return c;
}

char *mt_mutf7_encode(const char *utf8)
{
	const unsigned char *p = (const unsigned char *)utf8;
	size_t cap = strlen(utf8) * 4 + 8;
	char *out = mt_xmalloc(cap), *o = out;

	while (*p) {
		if (*p >= 0x20 && *p < 0x7F) {
			if (*p == '&') {
				*o++ = '&';
				*o++ = '-';
			} else {
				*o++ = (char)*p;
			}
			p++;
			continue;
		}
		/* a run of non-printable-ASCII characters as base64 of UTF-16BE */
		uint32_t bits = 0;
		int nbits = 0;
		*o++ = '&';
		while (*p && !(*p >= 0x20 && *p < 0x7F)) {
			long c = utf8_next(&p);
			uint16_t units[2];
			int nu = 0, k;
			if (c < 0) {
				free(out);
				return NULL;
			}
			if (c >= 0x10000) {
				c -= 0x10000;
				units[nu++] = (uint16_t)(0xD800 + (c >> 10));
				units[nu++] = (uint16_t)(0xDC00 + (c & 0x3FF));
			} else {
				units[nu++] = (uint16_t)c;
			}
			for (k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					*o++ = b64chars[(bits >> nbits) & 0x3F];
				}
			}
		}
		if (nbits > 0)
			*o++ = b64chars[(bits << (6 - nbits)) & 0x3F];
		*o++ = '-';
	}
	*o = '\0';
	return out;
}

static int b64val(int c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

static void put_utf8(char **o, uint32_t c)
{
	unsigned char *u = (unsigned char *)*o;
	if (c < 0x80) { *u++ = (unsigned char)c; }
	else if (c < 0x800) { *u++ = (unsigned char)(0xC0 | (c >> 6)); *u++ = (unsigned char)(0x80 | (c & 0x3F)); }
	else if (c < 0x10000) {
		*u++ = (unsigned char)(0xE0 | (c >> 12)); *u++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
		*u++ = (unsigned char)(0x80 | (c & 0x3F));
	} else {
		*u++ = (unsigned char)(0xF0 | (c >> 18)); *u++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
		*u++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); *u++ = (unsigned char)(0x80 | (c & 0x3F));
	}
	*o = (char *)u;
}

char *mt_mutf7_decode(const char *s)
{
	size_t cap = strlen(s) * 2 + 8;
	char *out = mt_xmalloc(cap), *o = out;
	const char *p = s;

	while (*p) {
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			goto bad;
		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		p++;
		if (*p == '-') {
			*o++ = '&';
			p++;
			continue;
		}
		uint32_t bits = 0, hi = 0;
		int nbits = 0, any = 0;
		while (*p && *p != '-') {
			int v = b64val(*p);
			if (v < 0)
				goto bad;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			p++;
			if (nbits >= 16) {
				uint32_t u = (bits >> (nbits - 16)) & 0xFFFF;
				nbits -= 16;
				any = 1;
				if (u >= 0xD800 && u <= 0xDBFF) {
					if (hi)
						goto bad;
					hi = u;
				} else if (u >= 0xDC00 && u <= 0xDFFF) {
					if (!hi)
						goto bad;
					put_utf8(&o, 0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00));
					hi = 0;
				} else {
					if (hi)
						goto bad;
					/* printable ASCII must not be base64-encoded */
					if (u >= 0x20 && u < 0x7F)
						goto bad;
					put_utf8(&o, u);
				}
			}
		}
		if (*p != '-' || !any || hi || (bits & ((1u << nbits) - 1)) != 0 || nbits >= 6)
			goto bad;
		p++;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int mt_mailbox_name_ok(const char *name)
{
	return name != NULL && *name != '\0' && strpbrk(name, "\r\n") == NULL;
}

/* ---- UID sets ---------------------------------------------------------- */

char *mt_uidset(const uint32_t *uids, size_t n)
{
	size_t cap = n * 22 + 2, i = 0;
	char *out = mt_xmalloc(cap), *o = out;
	while (i < n) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (o != out)
			*o++ = ',';
		if (j > i)
			o += sprintf(o, "%u:%u", uids[i], uids[j]);
		else
			o += sprintf(o, "%u", uids[i]);
		i = j + 1;
	}
	*o = '\0';
	return out;
}

static int parse_u32(const char **pp, uint32_t *v)
{
	const char *p = *pp;
	uint64_t x = 0;
	if (!isdigit((unsigned char)*p) || *p == '0')
		return -1;
	while (isdigit((unsigned char)*p)) {
		x = x * 10 + (uint64_t)(*p - '0');
		if (x > 0xFFFFFFFFu)
			return -1;
		p++;
	}
	*v = (uint32_t)x;
	*pp = p;
	return 0;
}

long mt_uidset_parse(const char *s, uint32_t *out, size_t max)
{
	const char *p = s;
	size_t n = 0;
	if (*p == '\0')
		return -1;
	for (;;) {
		uint32_t a, b;
		if (parse_u32(&p, &a) < 0)
			return -1;
		b = a;
		if (*p == ':') {
			p++;
			if (parse_u32(&p, &b) < 0)
				return -1;
		}
		if (b < a) {
			uint32_t t = a;
			a = b;
			b = t;
		}
		for (uint64_t u = a; u <= b; u++) {
			if (n >= max)
				return -1;
			out[n++] = (uint32_t)u;
		}
		if (*p == '\0')
			break;
		if (*p != ',')
			return -1;
		p++;
	}
	return (long)n;
}

/* cur[i]: the first i pattern characters match what was read so far; a
 * wildcard may also match nothing, so its state passes on to the next. */
static void wild_close(const char *p, size_t m, unsigned char *cur)
{
	for (size_t i = 0; i < m; i++)
		if (cur[i] && (p[i] == '*' || p[i] == '%'))
			cur[i + 1] = 1;
}

int mt_wildmatch(const char *p, const char *n, char delim)
{
	/* IMAP LIST wildcards (RFC 3501 6.3.8): '*' matches anything, '%' anything
	 * but the hierarchy delimiter. Run as a set of pattern positions over the
	 * name, O(pattern x name): backtracking took 12 s on a 60-byte pattern of
	 * '%'s (found by tests/fuzz/fuzz_values.c), and names come from servers. */
	size_t m = strlen(p);
	unsigned char *cur = mt_xmalloc(m + 1), *next = mt_xmalloc(m + 1);
	cur[0] = 1;
	wild_close(p, m, cur);
	for (; *n; n++) {
		int any = 0;
		memset(next, 0, m + 1);
		for (size_t i = 0; i < m; i++) {
			if (!cur[i])
				continue;
			if (p[i] == '*' || (p[i] == '%' && !(delim && *n == delim)))
				next[i] = any = 1;      /* the wildcard takes this character */
			else if (p[i] == *n)
				next[i + 1] = any = 1;
		}
		if (!any)
			break;
		wild_close(p, m, next);
		unsigned char *t = cur;
		cur = next;
		next = t;
	}
	int ok = *n == '\0' && cur[m];
	free(cur);
	free(next);
	return ok;
}

int mt_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[64][64];
	if (la >= 64 || lb >= 64)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
			/* two letters swapped is one slip ("qouta", "--sotr") */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

int mt_near_miss(const char *typed, const char *cand)
{
	size_t la = strlen(typed), lb = strlen(cand), l = la > lb ? la : lb;
	int d = mt_edit_distance(typed, cand);
	/* close only when at most a third of the longer word differs: 'quta' is
	 * quota, but 'top' (two of three letters off) is not 'tls' */
	if (d <= 0 || (size_t)d * 3 > l)
		return 0;
	/* ranked: the same letters in another order ('tvs': tsv) before as
	 * many other changes ('tvs': tls) */
	int same = la == lb;
	unsigned char ca[256] = { 0 };
	for (size_t i = 0; same && i < la; i++) {
		ca[(unsigned char)typed[i]]++;
		ca[(unsigned char)cand[i]]--;
	}
	for (int i = 0; same && i < 256; i++)
		same = ca[i] == 0;
	return 2 * d - same;
}

int mt_split_words(const char *line, int semis, char ***words, const char **rest)
{
	size_t cap = 8, n = 0, len = strlen(line);
	char **w = mt_xmalloc(sizeof *w * cap);
	char *buf = mt_xmalloc(len + 1);
	const char *p = line;
	if (rest)
		*rest = NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			break;
		if (semis && *p == ';') {
			if (rest)
				*rest = p + 1;
			break;
		}
		size_t b = 0;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && !(semis && *p == ';')) {
			if (*p == '\'') {
				const char *q = strchr(p + 1, '\'');
				if (q == NULL)
					goto unterminated;
				memcpy(buf + b, p + 1, (size_t)(q - p - 1));
				b += (size_t)(q - p - 1);
				p = q + 1;
			} else if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
						p++;
					buf[b++] = *p++;
				}
				if (*p != '"')
					goto unterminated;
				p++;
			} else if (*p == '\\' && p[1]) {
				buf[b++] = p[1];
				p += 2;
			} else {
				buf[b++] = *p++;
			}
		}
		if (n + 2 > cap) {
			cap *= 2;
			w = mt_xrealloc(w, sizeof *w * cap);
		}
		w[n] = mt_xmalloc(b + 1);
		memcpy(w[n], buf, b);
		n++;
	}
	w[n] = NULL;
	free(buf);
	*words = w;
	return (int)n;
unterminated:
	w[n] = NULL;
	free(buf);
	mt_words_free(w);
	*words = NULL;
	return -1;
}

void mt_words_free(char **words)
{
	for (char **p = words; p && *p; p++)
		free(*p);
	free(words);
}

/* ---- numbers and hashes ------------------------------------------------- */

int mt_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t mt_fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* ---- string index ------------------------------------------------------- */

uint64_t mt_fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

struct mt_strindex {
	const char **key;      /* open addressing, linear probing; NULL = empty */
	size_t *val;
	size_t cap, n;         /* cap a power of two, kept at most half full */
};

struct mt_strindex *mt_strindex_new(void)
{
	struct mt_strindex *ix = mt_xmalloc(sizeof *ix);
	ix->cap = 64;
	ix->key = mt_xmalloc(sizeof *ix->key * ix->cap);
	ix->val = mt_xmalloc(sizeof *ix->val * ix->cap);
	return ix;
}

void mt_strindex_free(struct mt_strindex *ix)
{
	if (ix == NULL)
		return;
	free(ix->key);
	free(ix->val);
	free(ix);
}

static size_t slot(const struct mt_strindex *ix, const char *key)
{
	size_t i = (size_t)mt_fnv1a(MT_FNV_INIT, key, strlen(key)) & (ix->cap - 1);
	while (ix->key[i] && strcmp(ix->key[i], key) != 0)
		i = (i + 1) & (ix->cap - 1);
	return i;
}

long mt_strindex_get(const struct mt_strindex *ix, const char *key)
{
	size_t i = slot(ix, key);
	return ix->key[i] ? (long)ix->val[i] : -1;
}

size_t mt_strindex_put(struct mt_strindex *ix, const char *key, size_t val)
{
	size_t i = slot(ix, key);
	if (ix->key[i])
		return ix->val[i];
	if (2 * (ix->n + 1) > ix->cap) {
		struct mt_strindex big = { .cap = ix->cap * 2 };
		big.key = mt_xmalloc(sizeof *big.key * big.cap);
		big.val = mt_xmalloc(sizeof *big.val * big.cap);
		for (size_t k = 0; k < ix->cap; k++)
			if (ix->key[k]) {
				size_t j = slot(&big, ix->key[k]);
				big.key[j] = ix->key[k];
				big.val[j] = ix->val[k];
			}
		free(ix->key);
		free(ix->val);
		ix->key = big.key;
		ix->val = big.val;
		ix->cap = big.cap;
		i = slot(ix, key);
	}
	ix->key[i] = key;
	ix->val[i] = val;
	ix->n++;
	return val;
}

/* ---- text for a terminal ------------------------------------------------ */

/* Length of the UTF-8 sequence at p (1-4), 0 when it is not one. */
int mt_utf8_seq(const unsigned char *p, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	int n = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
	if (n == 0)
		return 0;
	uint32_t c = p[0] & (0x7F >> n);
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3F);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* A code point a terminal would act on rather than show: C0 and C1
 * controls, DEL, and the bidirectional overrides and isolates that reorder
 * what follows them on the line. */
int mt_term_unsafe(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

char *mt_term_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), o = 0;
	char *out = mt_xmalloc(n * 6 + 1);   /* at most \uXXXX (6) per byte */
	while (*p) {
		uint32_t c = 0;
		int k = mt_utf8_seq(p, &c);
		if (k == 0) {
			o += (size_t)sprintf(out + o, "\\x%02X", *p);   /* not UTF-8 */
			p++;
		} else if (mt_term_unsafe(c)) {
			o += (size_t)(c < 0x80 ? sprintf(out + o, "\\x%02X", (unsigned)c) : sprintf(out + o, "\\u%04X", (unsigned)c));
			p += k;
		} else {
			memcpy(out + o, p, (size_t)k);
			o += (size_t)k;
			p += k;
		}
	}
	out[o] = '\0';
	return out;
}

int mt_imap_date_time(time_t t, char *out, size_t n)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (t <= 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900L > 9999 || n < 27)
		return 0;
	snprintf(out, n, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
	return 1;
}

int mt_date_template_ok(const char *t)
{
	for (const char *p = t; *p; p++)
		if (*p == '%' && (p[1] == 'Y' || p[1] == 'm' || p[1] == 'd' || p[1] == '%'))
			p++;
		else if (*p == '%')
			return 0;
	return mt_mailbox_name_ok(t);
}

char *mt_date_name(const char *tmpl, time_t when)
{
	/* a field of two characters becomes at most 11 (%Y of any int year):
	 * a fixed size would drop messages */
	size_t nl = 6 * strlen(tmpl) + 1;
	char *name = mt_xmalloc(nl);
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(name, nl, tmpl, &tm);
	return name;
}

void mt_fputs_safe(const char *s, FILE *f)
{
	if (s == NULL)
		return;
	char *t = mt_term_safe(s);
	fputs(t, f);
	free(t);
}

int mt_parse_date(const char *s, time_t *out)
{
	/* exactly YYYY-MM-DD, and a day the calendar has: strptime takes "24"
	 * as a year and timegm turns 2024-02-30 into 1 March */
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return -1;
	if (s[10] != '\0')
		return -1;
	struct tm tm = { 0 }, back;
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
	tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
		return -1;
	struct tm asked = tm;   /* timegm normalizes what it is given */
	time_t t = timegm(&tm);
	if (gmtime_r(&t, &back) == NULL || back.tm_year != asked.tm_year || back.tm_mon != asked.tm_mon ||
	    back.tm_mday != asked.tm_mday)
		return -1;
	*out = t;
	return 0;
}
