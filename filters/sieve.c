/* sieve.c — a rule set compiled to a Sieve script (RFC 5228) that does at
 * delivery what `filter` does to mail in INBOX (see sieve.h and the section
 * "At delivery time" of mailtool-rules(5)). Whatever would not mean exactly
 * the same at delivery is refused per rule, with the construct and why. */
#include "sieve.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

/* ---- text ------------------------------------------------------------------ */

struct sbuf {
	char *s;
	size_t n, cap;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = mt_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void puts_b(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putc_b(struct sbuf *b, char c)
{
	put(b, &c, 1);
}

static void putf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	put(b, s, (size_t)n);
	free(s);
}

/* s as a Sieve quoted string (RFC 5228 2.4.2: only '"' and '\' are escaped).
 * 0, and nothing written, when s holds what a quoted string cannot carry
 * with the same meaning: a control character (a bare CR or LF is not
 * allowed, CRLF would join lines) or bytes that are not UTF-8. */
static int quoted(struct sbuf *b, const char *s)
{
	if (s == NULL)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		uint32_t cp;
		int n = *p < 0x80 ? 1 : mt_utf8_seq(p, &cp);
		if (n == 0 || *p < 0x20 || *p == 0x7f)
			return 0;
		p += n;
	}
	putc_b(b, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			putc_b(b, '\\');
		putc_b(b, *p);
	}
	putc_b(b, '"');
	return 1;
}

/* For comments and messages: one line, UTF-8, whatever the rule file holds. */
static void comment_text(struct sbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		uint32_t cp;
		int n = *p < 0x80 ? 1 : mt_utf8_seq(p, &cp);
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			putc_b(b, '?');
			p += n ? n : 1;
			continue;
		}
		put(b, (const char *)p, (size_t)n);
		p += n;
	}
}

/* ---- regular expressions: the PCRE2 subset with an exact POSIX ERE twin ---- */

/* What the two sides match against, and why so little translates:
 * filter matches PCRE2 (UTF, UCP) against the value mt_decode_header makes:
 * RFC 2047 decoded, runs of blanks merged into one space, control
 * characters as spaces, a blank at the end kept, 8-bit bytes read as
 * ISO-8859-1, bytes that are not UTF-8 as '?', no blank at the start.
 * Pigeonhole matches glibc's regexec (REG_EXTENDED, REG_ICASE under
 * i;ascii-casemap) in the C locale, byte by byte, against the decoded value
 * as written, trimmed at the end and of the blanks after the colon (a fold
 * or an encoded word may still begin it with one); Cyrus likewise, trimmed
 * at both ends.
 * Runs of characters that are neither blank nor control nor '?' are the
 * same on both sides, so a pattern built only of such characters (ASCII,
 * literal or in a class), groups, alternation, repeats, '^' and '.*' means
 * the same; everything else is refused. */
struct rx {
	const char *pat, *p;
	int icase;
	int literal;             /* nothing but literal characters so far */
	struct sbuf ere, lit;
	char why[300];
};

static int rx_fail(struct rx *x, const char *at, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int rx_fail(struct rx *x, const char *at, size_t len, const char *fmt, ...)
{
	char reason[220];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	snprintf(x->why, sizeof x->why, "'%.*s' at offset %zu: %s", (int)len, at, (size_t)(at - x->pat), reason);
	return -1;
}

/* a character both sides see alike (or -1 and why) */
static int rx_char_ok(struct rx *x, const char *at, size_t len, int c)
{
	if (c >= 0x80)
		return rx_fail(x, at, len, "filter reads 8-bit bytes of a header as ISO-8859-1, Sieve as UTF-8");
	if (c == ' ')
		return rx_fail(x, at, len, "a blank: filter merges a run of blanks, tabs and line breaks in a header "
			       "into one space, Sieve keeps them as written");
	if (c < 0x20 || c == 0x7f)
		return rx_fail(x, at, len, "a control character: filter reads those in a header as spaces");
	if (c == '?')
		return rx_fail(x, at, len, "filter matches bytes that are not UTF-8 as '?'");
	if (x->icase && strchr("kKsS", c))
		return rx_fail(x, at, len, "(?i) with k or s: PCRE2 also folds the Kelvin sign and the long s to them, "
			       "i;ascii-casemap does not");
	return 0;
}

static void ere_char(struct sbuf *b, int c)
{
	if (strchr(".[\\()*+?{|^$", c))
		putc_b(b, '\\');
	putc_b(b, (char)c);
}

static const char *escape_name(int d)
{
	switch (d) {
	case 'd': case 'D': return "under PCRE2_UCP a class of every Unicode decimal digit, which POSIX ERE in "
				   "Pigeonhole's C locale cannot say";
	case 'w': case 'W': return "under PCRE2_UCP a class of Unicode letters and digits, which POSIX ERE cannot say";
	case 's': case 'S': return "a class of blanks: filter merges and rewrites blanks in a header";
	case 'b': case 'B': return "a word boundary: POSIX ERE has none";
	case 'h': case 'H': case 'v': case 'V': case 'R': case 'N': case 'X': case 'p': case 'P':
		return "a Unicode class POSIX ERE cannot say";
	case 'A': case 'z': case 'Z': case 'G': case 'K': return "an assertion POSIX ERE cannot say";
	case 'Q': case 'E': return "quoting: write the characters escaped one by one";
	case 'g': case 'k': return "a backreference: POSIX ERE has none";
	default:
		if (isdigit(d))
			return "a backreference (or octal escape): POSIX ERE has none";
		return "an escape POSIX ERE cannot say";
	}
}

static int rx_alt(struct rx *x, int depth);

/* A bracket expression [...] at x->p: a set of ASCII characters, written
 * back in an order POSIX reads the same way. */
static int rx_class(struct rx *x)
{
	const char *start = x->p;
	unsigned char set[128] = { 0 };
	x->p++;
	if (*x->p == '^')
		return rx_fail(x, start, 2, "a negated class also matches blanks and control characters, which filter "
			       "and Sieve see differently");
	int first = 1;
	while (*x->p && (*x->p != ']' || first)) {
		const char *at = x->p;
		int lo;
		first = 0;
		if (x->p[0] == '[' && (x->p[1] == ':' || x->p[1] == '.' || x->p[1] == '='))
			return rx_fail(x, at, 2, "a POSIX class: under PCRE2_UCP it is a Unicode class");
		if (*x->p == '\\') {
			int d = (unsigned char)x->p[1];
			if (d == '\0' || isalnum(d))
				return rx_fail(x, at, d ? 2 : 1, "%s", escape_name(d));
			lo = d;
			x->p += 2;
		} else {
			lo = (unsigned char)*x->p++;
		}
		if (rx_char_ok(x, at, (size_t)(x->p - at), lo) < 0)
			return -1;
		int hi = lo;
		if (x->p[0] == '-' && x->p[1] && x->p[1] != ']') {
			const char *rat = x->p + 1;
			if (*rat == '\\' || *rat == '[')
				return rx_fail(x, at, (size_t)(rat - at + 2), "a range to an escape or a class");
			hi = (unsigned char)*rat;
			x->p += 2;
			if (hi < lo)
				return rx_fail(x, at, (size_t)(x->p - at), "a range backwards");
			for (int c = lo; c <= hi; c++)
				if (rx_char_ok(x, at, (size_t)(x->p - at), c) < 0)
					return -1;
		}
		for (int c = lo; c <= hi; c++)
			set[c] = 1;
	}
	if (*x->p != ']')
		return rx_fail(x, start, strlen(start), "a class without its ']'");
	x->p++;
	int n = 0, only = 0;
	for (int c = 0; c < 128; c++)
		if (set[c]) {
			n++;
			only = c;
		}
	x->literal = 0;
	if (n == 1) {
		ere_char(&x->ere, only);
		return 0;
	}
	/* ']' first, '[' after the plain members (never "[:"), '^' not
	 * first, '-' last: no member reads as syntax */
	putc_b(&x->ere, '[');
	if (set[']'])
		putc_b(&x->ere, ']');
	for (int c = 0x21; c < 0x7f; c++) {
		if (!set[c] || strchr("]-^[", c))
			continue;
		int e = c;
		while (e + 1 < 0x7f && set[e + 1] && isalnum(e + 1) && isalnum(c) &&
		       (isdigit(c) ? isdigit(e + 1) : isupper(c) ? isupper(e + 1) : islower(e + 1)))
			e++;
		if (e - c >= 2) {
			putf(&x->ere, "%c-%c", c, e);
			c = e;
		} else {
			putc_b(&x->ere, (char)c);
		}
	}
	int plain = x->ere.s[x->ere.n - 1] != '[';
	if (set['['])
		putc_b(&x->ere, '[');
	if (set['^'] && set['-'] && !plain && !set['['])
		puts_b(&x->ere, "-^");          /* "[^-]" would be a negated class */
	else {
		if (set['^'])
			putc_b(&x->ere, '^');
		if (set['-'])
			putc_b(&x->ere, '-');
	}
	putc_b(&x->ere, ']');
	return 0;
}

/* {n}, {n,} or {n,m} at x->p; 0 when it is one (copied), -1 when not */
static int rx_count(struct rx *x)
{
	const char *p = x->p + 1;
	char *end;
	if (!isdigit((unsigned char)*p))
		return rx_fail(x, x->p, 1, "'{' that is not a repeat count {n}, {n,} or {n,m}");
	unsigned long n = strtoul(p, &end, 10), m = n;
	p = end;
	if (*p == ',') {
		p++;
		m = isdigit((unsigned char)*p) ? strtoul(p, &end, 10) : (unsigned long)-1;
		if (isdigit((unsigned char)*p))
			p = end;
	}
	if (*p != '}')
		return rx_fail(x, x->p, 1, "'{' that is not a repeat count {n}, {n,} or {n,m}");
	if (n > 255 || (m != (unsigned long)-1 && (m > 255 || m < n)))
		return rx_fail(x, x->p, (size_t)(p + 1 - x->p), "a repeat count above 255 (POSIX's RE_DUP_MAX)");
	put(&x->ere, x->p, (size_t)(p + 1 - x->p));
	x->p = p + 1;
	return 0;
}

/* A quantifier after an atom, if any: copied; a lazy one ("+?") as the
 * greedy one (filter asks only whether there is a match, and both have one
 * on the same values); a possessive one refused. */
static int rx_quant(struct rx *x, int can_repeat)
{
	const char *at = x->p;
	if (*x->p != '*' && *x->p != '+' && *x->p != '?' && *x->p != '{')
		return 0;
	if (!can_repeat)
		return rx_fail(x, at, 1, "a repeated anchor");
	x->literal = 0;
	if (*x->p == '{') {
		if (rx_count(x) < 0)
			return -1;
	} else {
		putc_b(&x->ere, *x->p++);
	}
	if (*x->p == '+')
		return rx_fail(x, at, (size_t)(x->p + 1 - at), "a possessive repeat: POSIX ERE has none");
	if (*x->p == '?')
		x->p++;
	if (*x->p == '*' || *x->p == '+' || *x->p == '?' || *x->p == '{')
		return rx_fail(x, at, (size_t)(x->p + 1 - at), "a repeat of a repeat");
	return 0;
}

/* One branch: atoms and their repeats, up to '|', ')' or the end. */
static int rx_branch(struct rx *x, int depth)
{
	const char *start = x->p;
	while (*x->p && *x->p != '|' && *x->p != ')') {
		const char *at = x->p;
		int c = (unsigned char)*x->p;
		int can_repeat = 1;
		if (c == '(') {
			x->literal = 0;
			if (x->p[1] == '?' && x->p[2] != ':') {
				const char *what = x->p[2] == '=' || x->p[2] == '!' ? "a lookahead"
						   : x->p[2] == '<' && (x->p[3] == '=' || x->p[3] == '!') ? "a lookbehind"
						   : x->p[2] == '#' ? "a comment group"
						   : "an inline option or special group";
				return rx_fail(x, at, 3, "%s: POSIX ERE has none", what);
			}
			if (x->p[1] == '*')
				return rx_fail(x, at, 2, "a PCRE2 verb: POSIX ERE has none");
			x->p += x->p[1] == '?' ? 3 : 1;
			if (depth > 32)
				return rx_fail(x, at, 1, "groups nested more than 32 deep");
			putc_b(&x->ere, '(');
			if (rx_alt(x, depth + 1) < 0)
				return -1;
			if (*x->p != ')')
				return rx_fail(x, at, 1, "a group without its ')'");
			x->p++;
			putc_b(&x->ere, ')');
		} else if (c == '[') {
			if (rx_class(x) < 0)
				return -1;
		} else if (c == '.') {
			x->literal = 0;
			if (x->p[1] != '*' || x->p[2] == '+')
				return rx_fail(x, at, 1, "'.' other than '.*': filter matches one character of a value whose "
					       "blanks it has merged, Sieve one byte of the value as written");
			puts_b(&x->ere, ".*");
			x->p += 2;
			if (*x->p == '?')
				x->p++;     /* lazy: the same values match */
			if (*x->p == '*' || *x->p == '+' || *x->p == '?' || *x->p == '{')
				return rx_fail(x, at, (size_t)(x->p + 1 - at), "a repeat of a repeat");
			continue;
		} else if (c == '^') {
			/* filter's value never begins with a blank; Pigeonhole's
			 * may, after a fold that starts it ("Subject:\r\n x") or
			 * from an encoded word: '^' passes over them */
			x->literal = 0;
			puts_b(&x->ere, "^[[:cntrl:] ]*");
			x->p++;
			can_repeat = 0;
		} else if (c == '$') {
			return rx_fail(x, at, 1, "filter keeps a blank that ends a header value, Sieve trims it, so '$' "
				       "decides differently");
		} else if (c == '\\') {
			int d = (unsigned char)x->p[1];
			if (d == '\0' || isalnum(d))
				return rx_fail(x, at, d ? 2 : 1, "%s", escape_name(d));
			if (rx_char_ok(x, at, 2, d) < 0)
				return -1;
			ere_char(&x->ere, d);
			putc_b(&x->lit, (char)d);
			x->p += 2;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (c == '{')
				return rx_fail(x, at, 1, "'{' that is not a repeat count {n}, {n,} or {n,m}");
			return rx_fail(x, at, 1, "a repeat of nothing");
		} else {
			if (rx_char_ok(x, at, 1, c) < 0)
				return -1;
			ere_char(&x->ere, c);
			putc_b(&x->lit, (char)c);
			x->p++;
		}
		if (rx_quant(x, can_repeat) < 0)
			return -1;
	}
	if (x->p == start)
		return rx_fail(x, start, 1, "an empty alternative (POSIX leaves its meaning undefined)");
	return 0;
}

static int rx_alt(struct rx *x, int depth)
{
	for (;;) {
		if (rx_branch(x, depth) < 0)
			return -1;
		if (*x->p != '|')
			return 0;
		x->literal = 0;
		putc_b(&x->ere, '|');
		x->p++;
	}
}

/* The ERE twin of a PCRE2 pattern (owned), or NULL and why. *literal: the
 * pattern is one plain string (owned in *lit), for :contains. */
static char *rx_translate(const char *pattern, int *icase, char **lit, char *why, size_t whylen)
{
	struct rx x = { .pat = pattern, .p = pattern, .literal = 1 };
	*lit = NULL;
	if (strncmp(x.p, "(?i)", 4) == 0) {
		x.icase = 1;
		x.p += 4;
	}
	int r = rx_alt(&x, 0);
	if (r == 0 && *x.p == ')')
		r = rx_fail(&x, x.p, 1, "a ')' without its '('");
	*icase = x.icase;
	if (r < 0) {
		snprintf(why, whylen, "%s", x.why);
		free(x.ere.s);
		free(x.lit.s);
		return NULL;
	}
	if (x.literal)
		*lit = x.lit.s;
	else
		free(x.lit.s);
	return x.ere.s;
}

/* ---- conditions -------------------------------------------------------------- */

enum { X_COPY = 1, X_FILEINTO = 2, X_IMAP4FLAGS = 4, X_MAILBOX = 8, X_REGEX = 16 };
static const char *const ext_names[] = { "copy", "fileinto", "imap4flags", "mailbox", "regex" };

struct comp {
	unsigned uses;           /* X_* of the rule being compiled */
	char why[400];
};

static const char *const flag_keys[] = { "seen", "answered", "flagged", "deleted", "draft" };

static int cond_sieve(const struct mt_cond *c, struct comp *k, struct sbuf *b)
{
	/* what means nothing at delivery is the reason given first */
	if (c->kind == MT_C_ALL || c->kind == MT_C_ANY || c->kind == MT_C_NOT) {
		struct sbuf scratch = { 0 };
		for (size_t i = 0; i < c->nkids; i++) {
			enum mt_cond_kind kk = c->kids[i]->kind;
			if ((kk == MT_C_OLDER || kk == MT_C_NEWER || kk == MT_C_BEFORE || kk == MT_C_FLAG) &&
			    cond_sieve(c->kids[i], k, &scratch) < 0) {
				free(scratch.s);
				return -1;
			}
		}
		free(scratch.s);
	}
	switch (c->kind) {
	case MT_C_ALL:
	case MT_C_ANY:
		puts_b(b, c->kind == MT_C_ALL ? "allof(" : "anyof(");
		for (size_t i = 0; i < c->nkids; i++) {
			if (i)
				puts_b(b, ", ");
			if (cond_sieve(c->kids[i], k, b) < 0)
				return -1;
		}
		putc_b(b, ')');
		return 0;
	case MT_C_NOT:
		puts_b(b, "not ");
		return cond_sieve(c->kids[0], k, b);
	case MT_C_LARGER:
	case MT_C_SMALLER:
		/* filter's larger is size > N and smaller size < N (query.c), as
		 * Sieve's :over and :under (RFC 5228 5.9) */
		putf(b, "size %s %llu", c->kind == MT_C_LARGER ? ":over" : ":under", (unsigned long long)c->size);
		return 0;
	case MT_C_HEADER: {
		int icase;
		char *lit, rwhy[320];
		char *ere = rx_translate(c->pattern, &icase, &lit, rwhy, sizeof rwhy);
		if (ere == NULL) {
			snprintf(k->why, sizeof k->why, "%s: regex %s", c->header, rwhy);
			return -1;
		}
		putf(b, "header %s :comparator \"%s\" ", lit ? ":contains" : ":regex", icase ? "i;ascii-casemap" : "i;octet");
		int ok = quoted(b, c->header);
		putc_b(b, ' ');
		ok = ok && quoted(b, lit ? lit : ere);
		if (!lit)
			k->uses |= X_REGEX;
		free(ere);
		free(lit);
		if (!ok) {
			snprintf(k->why, sizeof k->why, "%s: the name cannot be written as a Sieve string", c->header);
			return -1;
		}
		return 0;
	}
	case MT_C_ANYHEADER:
		snprintf(k->why, sizeof k->why, "any-header: Sieve has no test over every header field");
		return -1;
	case MT_C_BODY:
		snprintf(k->why, sizeof k->why, "body: filter searches the decoded text parts within the first body_limit "
			 "bytes of a message, Sieve's body test every text part whole, decoded its own way");
		return -1;
	case MT_C_OLDER:
	case MT_C_NEWER:
		snprintf(k->why, sizeof k->why, "%s: an age means nothing at delivery (every message is new)",
			 c->kind == MT_C_OLDER ? "older" : "newer");
		return -1;
	case MT_C_BEFORE:
		snprintf(k->why, sizeof k->why, "before: a day in the past means nothing at delivery");
		return -1;
	case MT_C_FLAG: {
		const char *key = "keyword";
		for (size_t i = 0; !c->keyword && i < sizeof flag_keys / sizeof *flag_keys; i++)
			if (c->sysflag == (1u << i))
				key = flag_keys[i];
		snprintf(k->why, sizeof k->why, "%s: stored flags mean nothing at delivery (a new message has none)", key);
		return -1;
	}
	}
	snprintf(k->why, sizeof k->why, "a condition Sieve cannot say");
	return -1;
}

/* ---- rules ----------------------------------------------------------------- */

/* At delivery all mail arrives in INBOX: a rule is the script's when its
 * folders name INBOX (in any case) or a pattern that matches it. */
static int reads_inbox(const struct mt_rule *r)
{
	for (size_t i = 0; r->folders[i]; i++) {
		char *up = mt_xstrdup(r->folders[i]);
		for (char *p = up; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		int m = mt_wildmatch(up, "INBOX", '\0');
		free(up);
		if (m)
			return 1;
	}
	return 0;
}

/* Folders filed into by the rules compiled so far that may let a message
 * go on to later rules (copy with continue), and how many actions (fileinto,
 * discard) those rules can give one message. */
struct filed {
	const char **v;
	size_t n;
	size_t actions;
};

/* Pigeonhole runs no script that gives a message more actions than this
 * (sieve_max_actions, 32 by default; flags are no actions, the implicit
 * keep is not counted): the message stays in INBOX, none of them done. */
#define MAX_ACTIONS 32

/* The rule file as the script records it: its base name, so that one file
 * named by another path compiles to the same script. */
static const char *file_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int sieve_flags(struct sbuf *b, const char *cmd, const char *flags)
{
	/* "\\Flagged $Invoice" as STORE takes it: one string per flag */
	char *copy = mt_xstrdup(flags), *save = NULL;
	int ok = 1;
	putf(b, "    %s [", cmd);
	int first = 1;
	for (char *f = strtok_r(copy, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
		puts_b(b, first ? "" : ", ");
		ok &= quoted(b, f);
		first = 0;
	}
	puts_b(b, "];\n");
	free(copy);
	return ok;
}

static int has_ext(const char *const *v, const char *name)
{
	for (size_t i = 0; v[i]; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

/* One rule as an if-block, or -1 and k->why. */
static int rule_sieve(const struct mt_rule *r, const struct mt_sieve_target *t, struct filed *fd, struct comp *k,
		      struct sbuf *b)
{
	struct sbuf test = { 0 };
	int rc = -1;
	const char *target = r->action == MT_A_TRASH ? t->trash : r->target;
	if (!reads_inbox(r)) {
		struct sbuf w = { 0 };
		for (size_t i = 0; r->folders[i]; i++) {
			puts_b(&w, i ? ", " : "");
			comment_text(&w, r->folders[i]);
		}
		snprintf(k->why, sizeof k->why, "folders: mail arrives in INBOX at delivery, and this rule reads only %s", w.s);
		free(w.s);
		return -1;
	}
	if (cond_sieve(r->cond, k, &test) < 0)
		goto out;
	if (r->account) {
		snprintf(k->why, sizeof k->why, "%s to another account: Sieve files into this account's folders only",
			 r->action == MT_A_COPY ? "copy" : "move");
		goto out;
	}
	if (r->action == MT_A_TRASH && target == NULL) {
		snprintf(k->why, sizeof k->why, "trash: %s", t->no_trash ? t->no_trash : "no Trash folder is known");
		goto out;
	}
	if (target && strcasecmp(target, "INBOX") == 0) {
		snprintf(k->why, sizeof k->why, "%s into INBOX: at delivery Sieve files a message into INBOX once, "
			 "so this would be no copy", r->action == MT_A_COPY ? "copy" : r->action == MT_A_TRASH ? "trash" : "move");
		goto out;
	}
	for (size_t i = 0; target && i < fd->n; i++)
		if (strcmp(fd->v[i], target) == 0) {
			struct sbuf w = { 0 };
			comment_text(&w, target);
			snprintf(k->why, sizeof k->why, "'%s' again: an earlier rule copies there and continues, and Sieve "
				 "files a message into a folder once", w.s);
			free(w.s);
			goto out;
		}
	int acts = r->action == MT_A_MOVE || r->action == MT_A_COPY || r->action == MT_A_TRASH || r->action == MT_A_EXPUNGE;
	if (acts && fd->actions + 1 > MAX_ACTIONS) {
		snprintf(k->why, sizeof k->why, "a message that every earlier rule with continue matches would get its "
			 "action %zu here, and Pigeonhole runs at most %d (sieve_max_actions): it would do none and keep "
			 "the message in INBOX", fd->actions + 1, MAX_ACTIONS);
		goto out;
	}
	struct sbuf body = { 0 };
	int ok = 1;
	putf(&body, "if %s {\n", test.s);
	if (r->flag) {
		ok &= sieve_flags(&body, "addflag", r->flag);
		k->uses |= X_IMAP4FLAGS;
	}
	if (r->unflag) {
		ok &= sieve_flags(&body, "removeflag", r->unflag);
		k->uses |= X_IMAP4FLAGS;
	}
	switch (r->action) {
	case MT_A_MOVE:
	case MT_A_COPY:
	case MT_A_TRASH:
		k->uses |= X_FILEINTO;
		puts_b(&body, "    fileinto ");
		if (r->action == MT_A_COPY) {
			puts_b(&body, ":copy ");
			k->uses |= X_COPY;
		}
		if (r->create) {
			puts_b(&body, ":create ");
			k->uses |= X_MAILBOX;
		}
		ok &= quoted(&body, target);
		puts_b(&body, ";\n");
		break;
	case MT_A_EXPUNGE:
		puts_b(&body, "    discard;\n");
		break;
	case MT_A_STOP:
	case MT_A_NONE:
		break;
	}
	/* the first rule that matches takes the message unless it continues */
	if (!r->cont)
		puts_b(&body, "    stop;\n");
	puts_b(&body, "}\n");
	if (!ok) {
		struct sbuf w = { 0 };
		comment_text(&w, target ? target : r->flag ? r->flag : r->unflag);
		snprintf(k->why, sizeof k->why, "'%s' cannot be written as a Sieve string (a control character, or not UTF-8)",
			 w.s);
		free(w.s);
		free(body.s);
		goto out;
	}
	/* what the server's Sieve cannot do is refused here, by its
	 * capability, rather than emitted (Cyrus and Pigeonhole differ) */
	for (size_t i = 0; t->extensions && i < sizeof ext_names / sizeof *ext_names; i++)
		if ((k->uses & (1u << i)) && !has_ext(t->extensions, ext_names[i])) {
			snprintf(k->why, sizeof k->why, "the server's Sieve has no '%s' extension (SIEVE capability)",
				 ext_names[i]);
			free(body.s);
			goto out;
		}
	if (r->action == MT_A_COPY && r->cont) {
		fd->v = mt_xrealloc(fd->v, sizeof *fd->v * (fd->n + 1));
		fd->v[fd->n++] = target;
	}
	if (acts && r->cont)
		fd->actions++;
	puts_b(b, "\n# rule '");
	comment_text(b, r->name);
	putf(b, "' (");
	comment_text(b, file_name(r->file));
	putf(b, ":%d)\n", r->line);
	puts_b(b, body.s);
	free(body.s);
	rc = 0;
out:
	free(test.s);
	return rc;
}

int mt_sieve_compile(const struct mt_ruleset *rs, const struct mt_sieve_target *t, struct mt_sieve_out *out,
		     struct mt_err *e)
{
	struct sbuf rules = { 0 };
	struct filed fd = { 0 };
	unsigned uses = 0;
	size_t compiled = 0;
	int r = MT_OK;
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < rs->n; i++) {
		struct comp k = { 0 };
		if (rule_sieve(&rs->v[i], t, &fd, &k, &rules) < 0) {
			out->refused = mt_xrealloc(out->refused, sizeof *out->refused * (out->nrefused + 1));
			out->refused[out->nrefused++] = (struct mt_sieve_refusal){ .rule = &rs->v[i], .why = mt_xstrdup(k.why) };
			continue;
		}
		uses |= k.uses;
		compiled++;
	}
	free(fd.v);
	size_t nx = 0;
	out->requires = mt_xmalloc(sizeof *out->requires * (sizeof ext_names / sizeof *ext_names + 1));
	for (size_t i = 0; i < sizeof ext_names / sizeof *ext_names; i++)
		if (uses & (1u << i))
			out->requires[nx++] = mt_xstrdup(ext_names[i]);
	if (out->nrefused && !t->skip_unsupported) {
		r = mt_seterr(e, MT_EDATA, "%zu rule%s cannot be compiled to Sieve with the same meaning", out->nrefused,
			      out->nrefused == 1 ? "" : "s");
		goto done;
	}
	if (compiled == 0) {
		r = mt_seterr(e, MT_EDATA, "no rule can be compiled to Sieve with the same meaning");
		goto done;
	}
	for (size_t i = 0; t->extensions && i < nx; i++)
		if (!has_ext(t->extensions, out->requires[i])) {
			r = mt_seterr(e, MT_EDATA, "the server's Sieve lacks the extension '%s' the script needs", out->requires[i]);
			goto done;
		}
	struct sbuf s = { 0 };
	puts_b(&s, MT_SIEVE_MARK " from the rules (mailtool-rules(5)): change them, not this\n");
	if (nx) {
		puts_b(&s, "require [");
		for (size_t i = 0; i < nx; i++)
			putf(&s, "%s\"%s\"", i ? ", " : "", out->requires[i]);
		puts_b(&s, "];\n");
	}
	for (size_t i = 0; i < out->nrefused; i++) {
		const struct mt_rule *rr = out->refused[i].rule;
		puts_b(&s, "\n# left out: rule '");
		comment_text(&s, rr->name);
		puts_b(&s, "' (");
		comment_text(&s, file_name(rr->file));
		putf(&s, ":%d): ", rr->line);
		comment_text(&s, out->refused[i].why);
		putc_b(&s, '\n');
	}
	puts_b(&s, rules.s);
	out->script = s.s;
done:
	free(rules.s);
	return r;
}

void mt_sieve_out_release(struct mt_sieve_out *out)
{
	free(out->script);
	for (size_t i = 0; out->requires && out->requires[i]; i++)
		free(out->requires[i]);
	free(out->requires);
	for (size_t i = 0; i < out->nrefused; i++)
		free(out->refused[i].why);
	free(out->refused);
	memset(out, 0, sizeof *out);
}
