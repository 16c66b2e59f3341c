/* query.c — the condition language: building trees, compiling them to
 * SEARCH plus what is fetched and checked here, deciding them on fetched
 * messages, and saying them in words (see query.h). */
#include "query.h"
#include "../mail/mail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *key; unsigned flag; } flagnames[] = {
	{ "seen", MT_F_SEEN }, { "answered", MT_F_ANSWERED }, { "flagged", MT_F_FLAGGED },
	{ "deleted", MT_F_DELETED }, { "draft", MT_F_DRAFT },
};

/* ---- trees ---------------------------------------------------------------- */

void mt_cond_free(struct mt_cond *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nkids; i++)
		mt_cond_free(c->kids[i]);
	free(c->kids);
	free(c->header);
	free(c->pattern);
	free(c->keyword);
	mt_re_free(c->re);
	free(c);
}

struct mt_cond *mt_cond_new(enum mt_cond_kind k)
{
	struct mt_cond *c = mt_xmalloc(sizeof *c);
	c->kind = k;
	c->want = 1;
	return c;
}

void mt_cond_add(struct mt_cond *parent, struct mt_cond *kid)
{
	parent->kids = mt_xrealloc(parent->kids, sizeof *parent->kids * (parent->nkids + 1));
	parent->kids[parent->nkids++] = kid;
}

struct mt_cond *mt_cond_flag(unsigned sysflag, const char *keyword, int want)
{
	struct mt_cond *c = mt_cond_new(MT_C_FLAG);
	c->sysflag = keyword ? 0 : sysflag;
	c->keyword = keyword ? mt_xstrdup(keyword) : NULL;
	c->want = want;
	return c;
}

struct mt_cond *mt_cond_size(enum mt_cond_kind kind, uint64_t bytes)
{
	struct mt_cond *c = mt_cond_new(kind);
	c->size = bytes;
	return c;
}

struct mt_cond *mt_cond_age(enum mt_cond_kind kind, int64_t seconds, int by_date_header)
{
	struct mt_cond *c = mt_cond_new(kind);
	c->age = seconds;
	c->by_date_header = by_date_header;
	return c;
}

struct mt_cond *mt_cond_before(time_t day, int by_date_header)
{
	struct mt_cond *c = mt_cond_new(MT_C_BEFORE);
	c->when = day;
	c->by_date_header = by_date_header;
	return c;
}

struct mt_cond *mt_cond_regex(enum mt_cond_kind kind, const char *header, const char *pattern,
			      const struct mt_re_limits *lim, char *why, size_t whylen)
{
	struct mt_re *re = mt_re_compile(pattern, lim, why, whylen);
	if (re == NULL)
		return NULL;
	struct mt_cond *c = mt_cond_new(kind);
	c->re = re;
	c->pattern = mt_xstrdup(pattern);
	if (header) {
		c->header = mt_xstrdup(header);
		for (char *p = c->header; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	return c;
}

struct mt_cond *mt_cond_and(struct mt_cond *a, struct mt_cond *b)
{
	if (a == NULL || b == NULL)
		return a ? a : b;
	if (a->kind == MT_C_ALL) {
		mt_cond_add(a, b);
		return a;
	}
	struct mt_cond *all = mt_cond_new(MT_C_ALL);
	mt_cond_add(all, a);
	mt_cond_add(all, b);
	return all;
}

int mt_cond_uses_flags(const struct mt_cond *c)
{
	if (c == NULL)
		return 0;
	if (c->kind == MT_C_FLAG)
		return 1;
	for (size_t i = 0; i < c->nkids; i++)
		if (mt_cond_uses_flags(c->kids[i]))
			return 1;
	return 0;
}

int mt_cond_mentions_deleted(const struct mt_cond *c)
{
	if (c->kind == MT_C_FLAG && c->sysflag == MT_F_DELETED)
		return 1;
	for (size_t i = 0; i < c->nkids; i++)
		if (mt_cond_mentions_deleted(c->kids[i]))
			return 1;
	return 0;
}

/* ---- literals a regex match must contain --------------------------------- */

/* characters a literal may carry to the server: plain ASCII that no IMAP
 * server folds, normalizes or tokenizes differently */
static int plain(int c)
{
	return isalnum(c) || c == '@' || c == '.' || c == '_' || c == '-';
}

/* Longest required run of plain literal characters in one branch [p, end);
 * 0 when the branch cannot be read safely. */
static size_t branch_literal(const char *p, const char *end, char *best, size_t bestcap)
{
	char run[256];
	size_t n = 0, bn = 0;
#define FLUSH() do { if (n > bn && n < bestcap) { memcpy(best, run, n); bn = n; } n = 0; } while (0)
	while (p < end) {
		int lit = -1;       /* a literal character, or -1 for another atom */
		char c = *p;
		if (c == '\\') {
			if (p + 1 >= end)
				return 0;
			char d = p[1];
			if (d == 'Q' || d == 'E' || d == 'x' || d == 'o' || d == 'c' || d == 'N' || d == 'p' || d == 'P' ||
			    d == 'g' || d == 'k')
				return 0;   /* forms not worth reading: give up on the branch */
			if (!isalnum((unsigned char)d))
				lit = (unsigned char)d;
			p += 2;
		} else if (c == '[') {
			const char *q = p + 1;
			if (q < end && *q == '^')
				q++;
			if (q < end && *q == ']')
				q++;
			while (q < end && *q != ']') {
				if (*q == '\\')
					q++;
				q++;
			}
			if (q >= end)
				return 0;
			p = q + 1;
		} else if (c == '(') {
			int depth = 0;
			const char *q = p;
			for (; q < end; q++) {
				if (*q == '\\') {
					q++;
					continue;
				}
				if (*q == '(')
					depth++;
				else if (*q == ')' && --depth == 0)
					break;
			}
			if (q >= end)
				return 0;
			p = q + 1;
		} else if (c == '*' || c == '+' || c == '?' || c == '{' || c == ')') {
			return 0;   /* a quantifier with nothing before it: not a pattern we read */
		} else {
			if (c != '.' && c != '^' && c != '$')
				lit = (unsigned char)c;
			p++;
		}
		/* a quantifier on this atom? */
		int optional = 0, quantified = 0;
		if (p < end && (*p == '*' || *p == '?')) {
			optional = quantified = 1;
			p++;
		} else if (p < end && *p == '+') {
			quantified = 1;
			p++;
		} else if (p < end && *p == '{' && p + 1 < end && isdigit((unsigned char)p[1])) {
			quantified = 1;
			optional = p[1] == '0' && (p + 2 >= end || !isdigit((unsigned char)p[2]));
			while (p < end && *p != '}')
				p++;
			if (p < end)
				p++;
		}
		if (quantified && p < end && (*p == '?' || *p == '+'))
			p++;    /* lazy or possessive */
		if (lit >= 0 && !optional && plain(lit) && n + 1 < sizeof run)
			run[n++] = (char)lit;
		if (lit < 0 || optional || !plain(lit) || quantified)
			FLUSH();
	}
	FLUSH();
#undef FLUSH
	return bn;
}

int mt_regex_literals(const char *pattern, char ***out)
{
	const char *p = pattern;
	*out = NULL;
	/* Extended mode ((?x), (?xx), also inline as (?ix) or (?x:...)) gives
	 * blanks and '#' other meanings, so no literal can be read from such a
	 * pattern: give up wherever an option group sets it (found by
	 * tests/fuzz/fuzz_literals.c: "(?ix)#in voice" matched everything yet
	 * yielded "voice"). Being conservative costs only the pre-filter. */
	for (const char *q = pattern; (q = strstr(q, "(?")) != NULL; q += 2)
		for (const char *o = q + 2; *o && (isalpha((unsigned char)*o) || *o == '^' || *o == '-'); o++)
			if (*o == 'x')
				return 0;
	if (strstr(p, "(*"))
		return 0;
	/* leading option settings such as (?i) or (?im) */
	while (p[0] == '(' && p[1] == '?') {
		const char *q = p + 2;
		while (*q && strchr("imsnuUJ-^", *q))
			q++;
		if (*q != ')')
			break;
		p = q + 1;
	}
	/* split at top-level '|' */
	size_t nb = 0;
	char **v = mt_xmalloc(sizeof *v * (strlen(p) / 2 + 2));
	const char *start = p;
	int depth = 0, in_class = 0;
	for (const char *q = p;; q++) {
		if (*q == '\\' && q[1]) {
			q++;
			continue;
		}
		if (in_class) {
			if (*q == ']')
				in_class = 0;
			if (*q)
				continue;
		}
		if (*q == '[') {
			in_class = 1;
			if (q[1] == '^')
				q++;
			if (q[1] == ']')
				q++;
			continue;
		}
		if (*q == '(')
			depth++;
		else if (*q == ')')
			depth--;
		if (*q == '\0' || (*q == '|' && depth == 0)) {
			char best[256];
			size_t n = branch_literal(start, q, best, sizeof best);
			if (n < 3 || depth != 0 || in_class) {
				for (size_t i = 0; i < nb; i++)
					free(v[i]);
				free(v);
				return 0;
			}
			v[nb++] = mt_xasprintf("%.*s", (int)n, best);
			if (*q == '\0')
				break;
			start = q + 1;
		}
	}
	v[nb] = NULL;
	*out = v;
	return (int)nb;
}

/* ---- compiling ----------------------------------------------------------- */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static char *imap_date(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	return mt_xasprintf("%d-%s-%d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
}

/* IMAP SEARCH key for a literal in a header field. Not FROM/TO/CC/BCC:
 * servers match those against the parsed addresses (Dovecot drops a
 * comment and text after the address: 'From: cheap (pills) <a@b>' is no
 * FROM "pills"), where a rule reads the field as written; HEADER reads
 * that too. */
static char *header_key(const char *header, const char *lit)
{
	if (strcmp(header, "subject") == 0)
		return mt_xasprintf("SUBJECT \"%s\"", lit);
	return mt_xasprintf("HEADER %s \"%s\"", header, lit);
}

/* OR over n keys: OR a (OR b c) */
static char *or_keys(char **k, size_t n)
{
	if (n == 1)
		return mt_xstrdup(k[0]);
	char *rest = or_keys(k + 1, n - 1);
	char *s = mt_xasprintf("OR (%s) (%s)", k[0], rest);
	free(rest);
	return s;
}

/* Server keys for a condition: NULL when the server can narrow nothing. */
static char *cond_search(const struct mt_cond *c, int within, time_t now, int text, int *exact)
{
	char *q = NULL;
	*exact = 1;
	switch (c->kind) {
	case MT_C_LARGER:
		return mt_xasprintf("LARGER %llu", (unsigned long long)c->size);
	case MT_C_SMALLER:
		return mt_xasprintf("SMALLER %llu", (unsigned long long)c->size);
	case MT_C_OLDER:
	case MT_C_NEWER: {
		if (within && !c->by_date_header)
			return mt_xasprintf("%s %lld", c->kind == MT_C_OLDER ? "OLDER" : "YOUNGER",
					    (long long)(c->age > 0 ? c->age : 1));
		/* day granularity in the server's zone (or the Date field's own):
		 * a superset two days wide, checked here to the second */
		*exact = 0;
		char *d = imap_date(c->kind == MT_C_OLDER ? now - c->age + 2 * 86400 : now - c->age - 86400);
		q = mt_xasprintf("%s%s %s", c->by_date_header ? "SENT" : "", c->kind == MT_C_OLDER ? "BEFORE" : "SINCE", d);
		free(d);
		return q;
	}
	case MT_C_BEFORE: {
		/* INTERNALDATE's day decides (RFC 3501 BEFORE); the Date field is
		 * read in its own zone by SENTBEFORE, so that is a superset here */
		char *d = imap_date(c->by_date_header ? c->when + 86400 : c->when);
		q = mt_xasprintf("%s %s", c->by_date_header ? "SENTBEFORE" : "BEFORE", d);
		free(d);
		if (c->by_date_header)
			*exact = 0;
		return q;
	}
	case MT_C_FLAG: {
		if (c->keyword)
			return mt_xasprintf("%s %s", c->want ? "KEYWORD" : "UNKEYWORD", c->keyword);
		static const struct { unsigned f; const char *on, *off; } k[] = {
			{ MT_F_SEEN, "SEEN", "UNSEEN" }, { MT_F_ANSWERED, "ANSWERED", "UNANSWERED" },
			{ MT_F_FLAGGED, "FLAGGED", "UNFLAGGED" }, { MT_F_DELETED, "DELETED", "UNDELETED" },
			{ MT_F_DRAFT, "DRAFT", "UNDRAFT" },
		};
		for (size_t i = 0; i < sizeof k / sizeof *k; i++)
			if (k[i].f == c->sysflag)
				return mt_xstrdup(c->want ? k[i].on : k[i].off);
		*exact = 0;
		return NULL;
	}
	case MT_C_HEADER:
	case MT_C_BODY: {
		char **lits = NULL;
		*exact = 0;
		int n = text ? mt_regex_literals(c->pattern, &lits) : 0;
		if (n <= 0)
			return NULL;
		char **keys = mt_xmalloc(sizeof *keys * (size_t)n);
		for (int i = 0; i < n; i++)
			keys[i] = c->kind == MT_C_BODY ? mt_xasprintf("BODY \"%s\"", lits[i]) : header_key(c->header, lits[i]);
		q = or_keys(keys, (size_t)n);
		for (int i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
		mt_words_free(lits);
		return q;
	}
	case MT_C_ANYHEADER:
		*exact = 0;
		return NULL;
	case MT_C_ALL: {
		for (size_t i = 0; i < c->nkids; i++) {
			int ex;
			char *k = cond_search(c->kids[i], within, now, text, &ex);
			if (!ex)
				*exact = 0;
			if (k == NULL)
				continue;
			char *next = mt_xasprintf("%s%s(%s)", q ? q : "", q ? " " : "", k);
			free(q);
			free(k);
			q = next;
		}
		return q;
	}
	case MT_C_ANY: {
		char **keys = mt_xmalloc(sizeof *keys * c->nkids);
		size_t n = 0;
		for (size_t i = 0; i < c->nkids; i++) {
			int ex;
			char *k = cond_search(c->kids[i], within, now, text, &ex);
			if (!ex)
				*exact = 0;
			if (k == NULL) {
				/* one branch the server cannot narrow: the whole OR cannot be */
				for (size_t j = 0; j < n; j++)
					free(keys[j]);
				free(keys);
				*exact = 0;
				return NULL;
			}
			keys[n++] = k;
		}
		q = or_keys(keys, n);
		for (size_t j = 0; j < n; j++)
			free(keys[j]);
		free(keys);
		return q;
	}
	case MT_C_NOT: {
		int ex;
		char *k = cond_search(c->kids[0], within, now, text, &ex);
		if (k == NULL || !ex) {
			/* NOT of a superset is not a superset of NOT */
			free(k);
			*exact = 0;
			return NULL;
		}
		q = mt_xasprintf("NOT (%s)", k);
		free(k);
		return q;
	}
	}
	*exact = 0;
	return NULL;
}

void mt_needs_add_header(struct mt_needs *n, const char *name)
{
	for (size_t i = 0; i < n->nhdrs; i++)
		if (strcasecmp(n->hdrs[i], name) == 0)
			return;
	n->hdrs = mt_xrealloc(n->hdrs, sizeof *n->hdrs * (n->nhdrs + 2));
	n->hdrs[n->nhdrs++] = mt_xstrdup(name);
	n->hdrs[n->nhdrs] = NULL;
}

void mt_cond_needs(const struct mt_cond *c, struct mt_needs *n)
{
	switch (c->kind) {
	case MT_C_HEADER: mt_needs_add_header(n, c->header); break;
	case MT_C_ANYHEADER: n->all_headers = 1; break;
	case MT_C_BODY: n->body = 1; break;
	case MT_C_LARGER: case MT_C_SMALLER: n->size = 1; break;
	case MT_C_OLDER: case MT_C_NEWER: case MT_C_BEFORE:
		if (c->by_date_header)
			mt_needs_add_header(n, "Date");
		else
			n->date = 1;
		break;
	case MT_C_FLAG: n->flags = 1; break;
	default: break;
	}
	for (size_t i = 0; i < c->nkids; i++)
		mt_cond_needs(c->kids[i], n);
}

void mt_needs_release(struct mt_needs *n)
{
	for (size_t i = 0; i < n->nhdrs; i++)
		free(n->hdrs[i]);
	free(n->hdrs);
	memset(n, 0, sizeof *n);
}

void mt_query_compile(const struct mt_cond *c, int within, time_t now, struct mt_query *q)
{
	memset(q, 0, sizeof *q);
	q->search = c ? cond_search(c, within, now, 1, &q->exact) : NULL;
	if (c) {
		/* the same without text keys: what mt_uid_search_text looks
		 * through for text the server may not read as the rule does */
		int ex;
		q->loose = cond_search(c, within, now, 0, &ex);
		if (q->loose == NULL)
			q->loose = mt_xstrdup("ALL");
	}
	if (c == NULL)
		q->exact = 1;
	if (q->search == NULL)
		q->search = mt_xstrdup("ALL");
	if (q->loose && strcmp(q->loose, q->search) == 0) {
		free(q->loose);
		q->loose = NULL;
	}
	if (!q->exact)
		mt_cond_needs(c, &q->needs);
}

void mt_query_release(struct mt_query *q)
{
	free(q->search);
	free(q->loose);
	mt_needs_release(&q->needs);
	memset(q, 0, sizeof *q);
}

/* ---- deciding ------------------------------------------------------------ */

struct field_match {
	const char *name;       /* NULL: every field, as "Name: value" */
	const struct mt_re *re;
	const char **why;
	int undecided;          /* a field could not be matched (a PCRE2 limit or error) */
};

static int field_re(const char *n, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct field_match *f = ctx;
	if (f->name && (strlen(f->name) != nl || strncasecmp(f->name, n, nl) != 0))
		return 0;
	char *dec = mt_decode_header(v, vl);
	int hit;
	if (f->name) {
		hit = mt_re_match(f->re, dec, strlen(dec), f->why);
	} else {
		char *line = mt_xasprintf("%.*s: %s", (int)nl, n, dec);
		hit = mt_re_match(f->re, line, strlen(line), f->why);
		free(line);
	}
	free(dec);
	if (hit < 0)
		f->undecided = 1;   /* a later field may still match: that decides */
	return hit > 0;
}

struct view {
	const struct mt_fetched *m;
	char *body;
	int body_done;
	time_t date;             /* the Date field, parsed once (0 absent or unreadable) */
	int date_done;
	const char **why;
};

static int take_date(const char *n, size_t nl, const char *v, size_t vl, void *ctx)
{
	if (nl != 4 || strncasecmp(n, "date", 4) != 0)
		return 0;
	*(time_t *)ctx = mt_header_date(v, vl);
	return 1;
}

static time_t date_field(struct view *v)
{
	if (!v->date_done) {
		const char *h = v->m->header ? v->m->header : v->m->body;
		size_t hl = v->m->header ? v->m->header_len : v->m->body_len;
		if (h)
			mt_header_fields(h, hl, take_date, &v->date);
		v->date_done = 1;
	}
	return v->date;
}

/* 1, 0, or -1 when a regex could not be decided and that could change the
 * answer (Kleene's three values: all() is false if any part is false, any()
 * true if any part is true, whatever the undecided parts) */
static int cond_match(const struct mt_cond *c, struct view *v, time_t now)
{
	const struct mt_fetched *m = v->m;
	switch (c->kind) {
	case MT_C_ALL:
	case MT_C_ANY: {
		int any_true = c->kind == MT_C_ANY, undecided = 0;
		for (size_t i = 0; i < c->nkids; i++) {
			int k = cond_match(c->kids[i], v, now);
			if (k < 0)
				undecided = 1;
			else if (k == any_true)
				return any_true;
		}
		return undecided ? -1 : !any_true;
	}
	case MT_C_NOT: {
		int k = cond_match(c->kids[0], v, now);
		return k < 0 ? -1 : !k;
	}
	case MT_C_HEADER:
	case MT_C_ANYHEADER: {
		struct field_match f = { .name = c->kind == MT_C_HEADER ? c->header : NULL, .re = c->re, .why = v->why };
		const char *h = m->header ? m->header : m->body;
		size_t hl = m->header ? m->header_len : m->body_len;
		if (h && mt_header_fields(h, hl, field_re, &f))
			return 1;
		return f.undecided ? -1 : 0;
	}
	case MT_C_BODY:
		if (!v->body_done) {
			v->body = m->body ? mt_body_text(m->body, m->body_len) : NULL;
			v->body_done = 1;
		}
		return v->body ? mt_re_match(c->re, v->body, strlen(v->body), v->why) : 0;
	case MT_C_LARGER: return m->size > c->size;
	case MT_C_SMALLER: return m->size < c->size;
	case MT_C_OLDER:
	case MT_C_NEWER:
	case MT_C_BEFORE: {
		time_t t = c->by_date_header ? date_field(v) : m->internaldate;
		if (c->by_date_header && t == 0)
			return 0;   /* no Date field that can be read: never guessed */
		return c->kind == MT_C_OLDER ? t <= now - c->age : c->kind == MT_C_NEWER ? t > now - c->age : t < c->when;
	}
	case MT_C_FLAG: {
		int set = 0;
		if (c->keyword) {
			for (size_t i = 0; m->keywords && m->keywords[i]; i++)
				set |= strcasecmp(m->keywords[i], c->keyword) == 0;
		} else {
			set = (m->sysflags & c->sysflag) != 0;
		}
		return set == c->want;
	}
	}
	return 0;
}

int mt_cond_match(const struct mt_cond *c, const struct mt_fetched *m, time_t now, const char **why)
{
	const char *dummy = NULL;
	struct view v = { .m = m, .why = why ? why : &dummy };
	int hit = cond_match(c, &v, now);
	free(v.body);
	return hit;
}

/* ---- explaining ---------------------------------------------------------- */

void mt_cond_text(const struct mt_cond *c, FILE *f)
{
	switch (c->kind) {
	case MT_C_ALL:
	case MT_C_ANY:
		fputs(c->kind == MT_C_ALL ? "all(" : "any(", f);
		for (size_t i = 0; i < c->nkids; i++) {
			if (i)
				fputs(", ", f);
			mt_cond_text(c->kids[i], f);
		}
		fputc(')', f);
		break;
	case MT_C_NOT: fputs("not(", f); mt_cond_text(c->kids[0], f); fputc(')', f); break;
	/* names and patterns come from a rules file someone else may have
	 * written: shown escaped */
	case MT_C_HEADER:
		mt_fputs_safe(c->header, f);
		fputs(" =~ /", f);
		mt_fputs_safe(c->pattern, f);
		fputc('/', f);
		break;
	case MT_C_ANYHEADER:
	case MT_C_BODY:
		fputs(c->kind == MT_C_BODY ? "body text =~ /" : "any header =~ /", f);
		mt_fputs_safe(c->pattern, f);
		fputc('/', f);
		break;
	case MT_C_LARGER: fprintf(f, "size > %llu", (unsigned long long)c->size); break;
	case MT_C_SMALLER: fprintf(f, "size < %llu", (unsigned long long)c->size); break;
	case MT_C_OLDER: fprintf(f, "%sage >= %llds", c->by_date_header ? "Date " : "", (long long)c->age); break;
	case MT_C_NEWER: fprintf(f, "%sage < %llds", c->by_date_header ? "Date " : "", (long long)c->age); break;
	case MT_C_BEFORE: {
		char day[16];
		struct tm tm;
		gmtime_r(&c->when, &tm);
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		fprintf(f, "%s before %s", c->by_date_header ? "Date" : "arrived", day);
		break;
	}
	case MT_C_FLAG:
		if (c->keyword) {
			fputs(c->want ? "keyword " : "no keyword ", f);
			mt_fputs_safe(c->keyword, f);
		} else
			for (size_t i = 0; i < sizeof flagnames / sizeof *flagnames; i++)
				if (flagnames[i].flag == c->sysflag)
					fprintf(f, "%s%s", c->want ? "" : "not ", flagnames[i].key);
		break;
	}
}

