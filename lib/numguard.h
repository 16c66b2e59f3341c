/* numguard.h — a scan of every byte the server sends, before libetpan parses
 * it, for numbers libetpan 1.9 would silently get wrong: it reads IMAP
 * numbers into uint32_t without an overflow check ("* SEARCH 4294967297"
 * arrives as UID 1, a UID that exists) and makes nothing of a sign. The
 * session refuses the response instead (lib/session.c, exit 76). */
#ifndef MT_NUMGUARD_H
#define MT_NUMGUARD_H

#include <stddef.h>
#include <stdint.h>

struct mt_numguard {
	uint64_t linelen;         /* bytes of the line so far, literals not counted */
	uint64_t lit_left;        /* bytes of a literal still to pass over */
	int in_quote, quote_esc;
	int kind;                 /* what the line is, once its first words are read */
	int words;                /* words read on the line */
	int paren;                /* parenthesis depth */
	int bracket;              /* inside a [response code] */
	int paren_at_bracket;     /* the parenthesis depth where it began */
	int code_done;            /* the one response code of a status line is behind */
	int in_litspec;           /* inside {N} */
	uint64_t litspec;
	int pending_lit;          /* {N} seen: N bytes follow the line end */
	uint64_t pending_n;
	char word[40];            /* the current atom (its first bytes) */
	size_t wlen;
	int w_numeric, w_neg, w_big, w_digits;   /* the atom: digits and : , * only; a '-'; a part above 2^32-1 (2: 2^63-1) */
	uint64_t part;            /* the digits of the atom's current part, saturating */
	char wbig[24];            /* that part, for the message */
	char prev[24];            /* the atom before (upper case), for MODSEQ n and the like */
	char second[24];          /* "* N FETCH": N, and whether it was out of range */
	int second_bad;
	char err[256];            /* the first offence; empty if none */
};

void mt_numguard_init(struct mt_numguard *g);
/* Longest line accepted (literals not counted): a SEARCH of two million UIDs. */
#define MT_NUMGUARD_MAX_LINE (16u << 20)
/* Deepest parenthesis nesting accepted. A BODYSTRUCTURE takes about one
 * level a MIME level, and a sender decides how deep a message nests:
 * Dovecot stops parsing MIME at 100 levels (102 in its answer), other
 * servers may not, and a refused answer fails the whole folder's run. So
 * the bound is what libetpan's recursive parser takes safely, not what
 * mail usually needs: 2,000 levels use about 1 MB of stack (the sanitizer
 * build about 3 MB; tests/hostile.bats), where 20,000 overflowed it. */
#define MT_NUMGUARD_MAX_DEPTH 2000

/* Scan server bytes; returns 0, or -1 once something was refused (g->err). */
int mt_numguard_feed(struct mt_numguard *g, const char *buf, size_t n);

#endif
