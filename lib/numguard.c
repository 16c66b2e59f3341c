/* numguard.c — refuse server numbers libetpan 1.9 would read wrong (see
 * numguard.h). The scan follows lines, quoted strings and literals (whose
 * bytes, message text, are passed over) and looks at the atoms made only of
 * digits, ':', ',', '*' and '-' where numbers that matter stand: every atom
 * of SEARCH, ESEARCH, SORT, FETCH and VANISHED answers, the attribute lists of
 * STATUS and QUOTA, the message number of FETCH/EXISTS/EXPUNGE/RECENT, and
 * response codes ([UIDNEXT n], [COPYUID ...]) of status lines. A number
 * above 2^32-1 (2^63-1 after MODSEQ, HIGHESTMODSEQ, SIZE and the like,
 * which are 64-bit) or with a sign is refused. Mailbox names, flags and
 * human text are never taken for numbers. */
#include "numguard.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { K_UNKNOWN, K_ALL, K_PARENS, K_BRACKETS, K_NONE };

void mt_numguard_init(struct mt_numguard *g)
{
	memset(g, 0, sizeof *g);
	g->w_numeric = 1;
}

static void word_reset(struct mt_numguard *g)
{
	g->wlen = 0;
	g->word[0] = '\0';
	g->w_numeric = 1;
	g->w_neg = g->w_big = g->w_digits = 0;
	g->wbig[0] = '\0';
}

static void line_reset(struct mt_numguard *g)
{
	g->linelen = 0;
	g->in_quote = g->quote_esc = 0;
	g->kind = K_UNKNOWN;
	g->words = g->paren = g->bracket = g->code_done = 0;
	g->in_litspec = g->pending_lit = 0;
	g->prev[0] = '\0';
	g->second_bad = 0;
	word_reset(g);
}

/* a number after one of these may use 63 bits */
static int wide_context(const char *prev)
{
	static const char *const wide[] = { "MODSEQ", "HIGHESTMODSEQ", "SIZE", "APPENDLIMIT",
					    "X-GM-MSGID", "X-GM-THRID", NULL };
	for (const char *const *w = wide; *w; w++)
		if (strcmp(prev, *w) == 0)
			return 1;
	return 0;
}

static const char *line_name(const struct mt_numguard *g)
{
	switch (g->kind) {
	case K_BRACKETS: return "response code";
	case K_PARENS: return "STATUS or QUOTA answer";
	default: return "SEARCH, SORT, FETCH or VANISHED answer";
	}
}

static int refuse(struct mt_numguard *g, const char *what, const char *where)
{
	if (g->err[0] == '\0')
		snprintf(g->err, sizeof g->err, "the server sent %s '%.24s' in a %.40s, which is no valid IMAP number",
			 what, g->wbig[0] ? g->wbig : g->word, where);
	return -1;
}

static int malformed_code(struct mt_numguard *g)
{
	snprintf(g->err, sizeof g->err, "the server sent a malformed response code (unbalanced brackets, "
		 "parentheses or quotes)");
	return -1;
}

/* the atom just read; r = -1 once something is refused */
static int end_word(struct mt_numguard *g)
{
	int numeric = g->wlen > 0 && g->w_numeric && g->w_digits;
	int r = 0;
	if (g->wlen == 0)
		return 0;
	g->words++;
	if (g->kind == K_UNKNOWN) {
		if (g->words == 1) {
			if (strcmp(g->word, "+") == 0)
				g->kind = K_NONE;
		} else if (g->words == 2 && numeric) {
			/* "* N FETCH": N is a message number */
			g->second_bad = g->w_neg || g->w_big;
			snprintf(g->second, sizeof g->second, "%.20s", g->word);
		} else {
			const char *w = g->word;
			if (g->words == 3 && strcasecmp(w, "FETCH") == 0)
				g->kind = K_ALL;
			else if (g->words == 2 && (strcasecmp(w, "SEARCH") == 0 || strcasecmp(w, "ESEARCH") == 0 ||
						   strcasecmp(w, "SORT") == 0 || strcasecmp(w, "VANISHED") == 0))
				g->kind = K_ALL;
			else if (g->words == 2 && (strcasecmp(w, "STATUS") == 0 || strcasecmp(w, "QUOTA") == 0))
				g->kind = K_PARENS;
			else if (g->words == 2 && (strcasecmp(w, "OK") == 0 || strcasecmp(w, "NO") == 0 ||
						   strcasecmp(w, "BAD") == 0 || strcasecmp(w, "BYE") == 0 ||
						   strcasecmp(w, "PREAUTH") == 0))
				g->kind = K_BRACKETS;
			else
				g->kind = K_NONE;
			if (g->words == 3 && g->second_bad) {
				char where[64];
				snprintf(where, sizeof where, "%.20s response", g->word);
				snprintf(g->wbig, sizeof g->wbig, "%s", g->second);
				r = refuse(g, "the message number", where);
			}
		}
	} else {
		int active = g->kind == K_ALL || (g->kind == K_PARENS && g->paren > 0) ||
			     (g->kind == K_BRACKETS && g->bracket > 0);
		if (active && numeric) {
			if (g->w_neg)
				r = refuse(g, "the signed number", line_name(g));
			else if (g->w_big && !(g->w_big == 1 && wide_context(g->prev)))
				r = refuse(g, "the number", line_name(g));
		}
	}
	if (!numeric) {
		size_t i;
		for (i = 0; i + 1 < sizeof g->prev && g->word[i]; i++)
			g->prev[i] = (char)toupper((unsigned char)g->word[i]);
		g->prev[i] = '\0';
	}
	word_reset(g);
	return r;
}

/* one more byte of an atom */
static void word_byte(struct mt_numguard *g, char c)
{
	if (g->wlen == 0)
		g->part = 0;
	if (g->wlen + 1 < sizeof g->word) {
		g->word[g->wlen] = c;
		g->word[g->wlen + 1] = '\0';
	}
	g->wlen++;
	if (!g->w_numeric)
		return;
	if (c >= '0' && c <= '9') {
		g->w_digits = 1;
		if (g->part <= UINT64_C(0xFFFFFFFFFFFFFFFF) / 10 - 1)
			g->part = g->part * 10 + (uint64_t)(c - '0');
		else
			g->part = UINT64_C(0xFFFFFFFFFFFFFFFF);
		/* 1: above 2^32-1; 2: above 2^63-1 */
		int big = g->part > UINT64_C(0x7FFFFFFFFFFFFFFF) ? 2 : g->part > UINT64_C(0xFFFFFFFF) ? 1 : 0;
		if (big > g->w_big) {
			g->w_big = big;
			snprintf(g->wbig, sizeof g->wbig, "%.20s", g->word);
		}
	} else if (c == ':' || c == ',' || c == '*') {
		g->part = 0;
	} else if (c == '-') {
		g->w_neg = 1;
	} else {
		g->w_numeric = 0;
	}
}

int mt_numguard_feed(struct mt_numguard *g, const char *buf, size_t n)
{
	size_t i = 0;
	if (g->err[0])
		return -1;
	while (i < n) {
		if (g->lit_left) {
			size_t k = n - i < g->lit_left ? n - i : (size_t)g->lit_left;
			g->lit_left -= k;
			i += k;
			continue;
		}
		char c = buf[i++];
		if (++g->linelen > MT_NUMGUARD_MAX_LINE) {
			snprintf(g->err, sizeof g->err, "the server sent a line of more than %u MiB without a line end",
				 MT_NUMGUARD_MAX_LINE >> 20);
			return -1;
		}
		if (c == '\n') {
			if (end_word(g) < 0)
				return -1;
			/* libetpan waits for the rest of a response code it cannot
			 * parse until the timeout: refuse it at once */
			if (g->kind == K_BRACKETS && g->bracket > 0 && !g->pending_lit)
				return malformed_code(g);
			if (g->pending_lit) {
				/* the line goes on after the literal's bytes */
				g->lit_left = g->pending_n;
				g->pending_lit = 0;
				g->in_quote = 0;
			} else {
				line_reset(g);
			}
			continue;
		}
		if (g->in_quote) {
			if (g->quote_esc)
				g->quote_esc = 0;
			else if (c == '\\')
				g->quote_esc = 1;
			else if (c == '"')
				g->in_quote = 0;
			continue;
		}
		if (g->in_litspec) {
			if (c >= '0' && c <= '9') {
				if (g->litspec < UINT64_C(1) << 60)
					g->litspec = g->litspec * 10 + (uint64_t)(c - '0');
			} else if (c == '}') {
				g->in_litspec = 0;
				g->pending_lit = 1;
				g->pending_n = g->litspec;
				/* libetpan reads the size as 32 bits: {4294967296} would be {0} */
				if (g->litspec > UINT64_C(0xFFFFFFFF)) {
					snprintf(g->err, sizeof g->err,
						 "the server announced a literal of %llu bytes, above 2^32-1",
						 (unsigned long long)g->litspec);
					return -1;
				}
			} else if (c != '+') {
				g->in_litspec = 0;
			}
			continue;
		}
		switch (c) {
		case ' ': case '\r': case '\t':
		case '(': case ')': case '[': case ']': case '{': case '"':
			if (end_word(g) < 0)
				return -1;
			if (c == '(') {
				/* libetpan parses nested lists (BODYSTRUCTURE) by
				 * recursion: a server nesting thousands deep would
				 * overflow the stack */
				if (++g->paren > MT_NUMGUARD_MAX_DEPTH) {
					snprintf(g->err, sizeof g->err,
						 "the server nested parentheses more than %d deep", MT_NUMGUARD_MAX_DEPTH);
					return -1;
				}
			} else if (c == ')') {
				if (g->kind == K_BRACKETS && g->bracket > 0 && g->paren <= g->paren_at_bracket)
					return malformed_code(g);
				if (g->paren > 0)
					g->paren--;
			} else if (c == '[') {
				/* in a status line only "OK [CODE ...]" is a response code;
				 * brackets in the human text after it are text */
				if (g->kind != K_BRACKETS || (g->bracket == 0 && g->words == 2 && !g->code_done)) {
					if (g->bracket++ == 0)
						g->paren_at_bracket = g->paren;
				} else if (g->bracket > 0) {
					g->bracket++;
				}
			} else if (c == ']' && g->bracket > 0) {
				if (g->kind == K_BRACKETS && g->bracket == 1) {
					if (g->paren != g->paren_at_bracket)
						return malformed_code(g);
					g->code_done = 1;
				}
				g->bracket--;
			}
			else if (c == '{') {
				g->in_litspec = 1;
				g->litspec = 0;
			} else if (c == '"') {
				g->in_quote = 1;
				g->words++;   /* a quoted string is a word too (never a number) */
				if (g->kind == K_UNKNOWN && g->words >= 2)
					g->kind = K_NONE;
			}
			break;
		default:
			word_byte(g, c);
		}
	}
	return g->err[0] ? -1 : 0;
}
