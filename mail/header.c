/* header.c — header fields of a message as a person reads them: fields
 * walked with folding undone, RFC 2047 encoded words decoded to UTF-8, the
 * Date field parsed. Pure functions over bytes: no session, no I/O. */
#include "mail.h"

#include "../lib/mt.h"

#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One run of text between double quotes (or outside them) decoded by
 * libetpan: RFC 2047 words decoded, blanks merged into one space, 8-bit
 * bytes read as ISO-8859-1. A blank that began or ended the run is kept as
 * one space (libetpan drops a leading one), so that a run's text stays
 * apart from the quote next to it. Owned. */
static char *decode_run(const char *s, size_t n)
{
	char *raw = strndup(s, n), *dec = NULL;
	size_t idx = 0;
	if (raw == NULL)
		abort();
	if (mailmime_encoded_phrase_parse("iso-8859-1", raw, n, &idx, "utf-8", &dec) != MAILIMF_NO_ERROR || dec == NULL) {
		free(dec);
		return raw;
	}
	free(raw);
	int lead = n && (s[0] == ' ' || s[0] == '\t');
	int trail = n && (s[n - 1] == ' ' || s[n - 1] == '\t');
	size_t dl = strlen(dec);
	if (dl == 0 && (lead || trail)) {
		free(dec);
		return mt_xstrdup(" ");
	}
	lead = lead && dec[0] != ' ';
	trail = trail && dec[dl - 1] != ' ';
	if (!lead && !trail)
		return dec;
	char *out = mt_xasprintf("%s%s%s", lead ? " " : "", dec, trail ? " " : "");
	free(dec);
	return out;
}

/* The B-encoded payload p[0..n) with every encoded NUL made a blank, as a
 * new canonical payload (owned), or NULL when it holds no NUL or is not
 * plain base64 (left to libetpan as it is). */
static char *b_without_nul(const char *p, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char *bytes = mt_xmalloc(n + 1);
	size_t nb = 0, bits = 0;
	unsigned acc = 0;
	int nul = 0;
	for (size_t i = 0; i < n; i++) {
		const char *c = p[i] ? strchr(b64, p[i]) : NULL;
		if (p[i] == '=')
			break;   /* padding: what came before is the data */
		if (c == NULL) {
			free(bytes);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			bytes[nb] = (unsigned char)(acc >> bits);
			nul |= bytes[nb] == 0;
			if (bytes[nb] == 0)
				bytes[nb] = ' ';
			nb++;
			acc &= (1u << bits) - 1;
		}
	}
	if (!nul) {
		free(bytes);
		return NULL;
	}
	char *out = mt_xmalloc(4 * (nb / 3 + 1) + 1), *o = out;
	for (size_t i = 0; i < nb; i += 3) {
		unsigned v = (unsigned)bytes[i] << 16 | (i + 1 < nb ? (unsigned)bytes[i + 1] << 8 : 0) |
			     (i + 2 < nb ? bytes[i + 2] : 0);
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < nb ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < nb ? b64[v & 63] : '=';
	}
	*o = '\0';
	free(bytes);
	return out;
}

char *mt_decode_header(const char *raw, size_t len)
{
	/* unfold: a line break (CRLF, or LF) followed by white space becomes
	 * that white space. A CR that ends no line is a control character like
	 * any other (a blank, below), as a server's SEARCH and Sieve read it:
	 * 'cheap pi<CR>lls' is no 'cheap pills' */
	char *unf = mt_xmalloc(len + 1), *o = unf;
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\n' || (raw[i] == '\r' && i + 1 < len && raw[i + 1] == '\n'))
			continue;
		/* (now: libetpan's phrase parser would end the value at it) */
		*o++ = raw[i] == '\r' ? ' ' : raw[i];
	}
	*o = '\0';
	/* An encoded NUL (=00 in a Q-encoded word, a zero byte in a B-encoded
	 * one) would end libetpan's decoded string and hide the rest of the
	 * value: as a control character it becomes a blank (below) in any
	 * case, so it is one here */
	for (char *w = unf; (w = strstr(w, "=?")) != NULL;) {
		char *cs = w + 2, *q = strchr(cs, '?');
		if (q == NULL)
			break;
		if (strchr("bB", q[1]) != NULL && q[1] != '\0' && q[2] == '?') {
			char *end = strstr(q + 3, "?="), *fixed;
			if (end == NULL)
				break;
			if ((fixed = b_without_nul(q + 3, (size_t)(end - (q + 3)))) != NULL) {
				/* the same word, its payload re-encoded (perhaps longer
				 * by its padding): the string made anew around it */
				size_t at = (size_t)(q + 3 - unf), fl = strlen(fixed);
				char *again = mt_xmalloc(at + fl + strlen(end) + 1);
				strcpy(stpcpy((char *)mempcpy(again, unf, at), fixed), end);
				end = again + at + fl;
				free(fixed);
				free(unf);
				unf = again;
			}
			w = end + 2;
			continue;
		}
		if (strchr("qQ", q[1]) == NULL || q[1] == '\0' || q[2] != '?') {
			w = q;
			continue;
		}
		char *end = strstr(q + 3, "?="), *stop = end ? end : q + 3 + strlen(q + 3);
		for (char *t = q + 3; t + 2 < stop; t++)
			if (t[0] == '=' && t[1] == '0' && t[2] == '0')
				t[1] = '2';
		w = end ? end + 2 : q + 3;
	}
	/* Decoded run by run between double quotes, each quote kept: libetpan
	 * takes "=?utf-8?q?Caf=C3=A9?=" for a quoted encoded word and drops the
	 * quotes, where Pigeonhole's and Cyrus's Sieve keep them (RFC 2047
	 * 5: no encoded word in a quoted string, which both decode anyway).
	 * Kept, they read alike: mailtool-rules(5), "At delivery time". */
	size_t cap = 2 * strlen(unf) + 8, n = 0;
	char *dec = mt_xmalloc(cap);
	for (const char *p = unf;;) {
		const char *q = strchr(p, '"');
		size_t rl = q ? (size_t)(q - p) : strlen(p);
		char *run = decode_run(p, rl);
		size_t k = strlen(run);
		if (n + k + 2 > cap) {
			cap = (n + k + 2) * 2;
			dec = mt_xrealloc(dec, cap);
		}
		memcpy(dec + n, run, k);
		n += k;
		free(run);
		if (q == NULL)
			break;
		dec[n++] = '"';
		p = q + 1;
	}
	dec[n] = '\0';
	free(unf);
	/* An encoded-word can carry any byte (=?utf-8?q?a=0Ab?=): control
	 * characters become blanks, so a decoded subject is one line in every
	 * output format and log (found by tests/fuzz/fuzz_header.c). */
	for (unsigned char *c = (unsigned char *)dec; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = ' ';
	/* No blank begins a value, whether it came after the colon, from a
	 * fold that starts the value or from an encoded word, as Cyrus's Sieve
	 * reads it (Pigeonhole keeps some: the compiled '^' allows for them) */
	size_t lead = strspn(dec, " ");
	if (lead)
		memmove(dec, dec + lead, strlen(dec + lead) + 1);
	return dec;
}

/* Broken-down time with a zone like -0130 (as -130) to UTC seconds; 0 (no
 * date) for fields no calendar or zone has. The fields come from a sender's
 * Date:/Received: or a server's INTERNALDATE as any int libetpan could read:
 * a year of 2^31 overflowed year - 1900, a zone of INT_MIN its negation. */
time_t mt_zoned_time(int year, int month, int day, int hour, int min, int sec, int zone)
{
	if (year < 0 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
	    min < 0 || min > 59 || sec < 0 || sec > 60 || zone < -9959 || zone > 9959 || abs(zone) % 100 > 59)
		return 0;
	struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	int off = (abs(zone) / 100) * 3600 + (abs(zone) % 100) * 60;
	return timegm(&tm) - (zone < 0 ? -off : off);
}

time_t mt_header_date(const char *v, size_t len)
{
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;
	time_t t = 0;
	if (mailimf_date_time_parse(v, len, &idx, &dt) == MAILIMF_NO_ERROR && dt) {
		t = mt_zoned_time(dt->dt_year, dt->dt_month, dt->dt_day, dt->dt_hour, dt->dt_min, dt->dt_sec, dt->dt_zone);
		mailimf_date_time_free(dt);
	}
	return t;
}

int mt_header_fields(const char *h, size_t len,
		     int (*cb)(const char *name, size_t nlen, const char *value, size_t vlen, void *ctx), void *ctx)
{
	const char *p = h, *end = h + len;
	while (p < end) {
		const char *line = p, *colon;
		/* a field runs to a line end not followed by white space */
		const char *q = p;
		while (q < end) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			if (nl == NULL) {
				q = end;
				break;
			}
			q = nl + 1;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		p = q;
		if (line[0] == '\r' || line[0] == '\n')
			break;          /* the blank line that ends the header */
		colon = memchr(line, ':', (size_t)(q - line));
		if (colon == NULL)
			continue;
		const char *v = colon + 1, *ne = colon;
		while (v < q && (*v == ' ' || *v == '\t'))
			v++;
		/* "Subject : x" is a Subject (RFC 5322 4.5, the obsolete syntax), as
		 * Dovecot and both servers' Sieve read it */
		while (ne > line && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		int r = cb(line, (size_t)(ne - line), v, (size_t)(q - v), ctx);
		if (r)
			return r;
	}
	return 0;
}

struct first_field {
	const char *name;
	char *value;
};

static int first_field(const char *n, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct first_field *f = ctx;
	if (strlen(f->name) != nl || strncasecmp(f->name, n, nl) != 0)
		return 0;
	f->value = mt_decode_header(v, vl);
	return 1;
}

char *mt_header_get(const char *block, size_t len, const char *name)
{
	struct first_field f = { .name = name };
	if (block)
		mt_header_fields(block, len, first_field, &f);
	return f.value;
}

