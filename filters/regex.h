/* regex.h — the one PCRE2 wrapper: every regular expression a rule, an
 * expunge criterion or anything else matches goes through it, compiled as
 * UTF-8 with Unicode properties (PCRE2_UTF | PCRE2_UCP) and matched under
 * explicit limits, so a pattern that backtracks without end on what a sender
 * wrote is an error with a reason, never a slow or silent "no match". */
#ifndef MT_FILTERS_REGEX_H
#define MT_FILTERS_REGEX_H

#include <stddef.h>
#include <stdint.h>

/* PCRE2's own limits, per match of one subject (a header value, a body):
 * match: backtracking points (PCRE2's match limit); depth: nested
 * backtracking (its depth limit); heap_kib: memory for backtracking.
 * Documented in mailtool-rules(5); a rules file may set them. */
struct mt_re_limits {
	uint32_t match, depth, heap_kib;
};
#define MT_RE_MATCH_LIMIT 200000u
#define MT_RE_DEPTH_LIMIT 1000000u
#define MT_RE_HEAP_LIMIT_KIB 65536u
#define MT_RE_LIMITS_DEFAULT { MT_RE_MATCH_LIMIT, MT_RE_DEPTH_LIMIT, MT_RE_HEAP_LIMIT_KIB }

struct mt_re;

/* Compile pattern; NULL and why[] ("at offset N: message") when it is not a
 * valid expression. lim NULL: the defaults. Owned (mt_re_free). */
struct mt_re *mt_re_compile(const char *pattern, const struct mt_re_limits *lim, char *why, size_t whylen);
void mt_re_free(struct mt_re *re);

/* 1 a match, 0 none, -1 the match could not be decided (a limit was hit, or
 * another PCRE2 error): *why then says which, and the caller must treat the
 * message as undecided, never as "no match". Bytes that are not UTF-8 are
 * matched as '?', so a broken message is decided, not refused. */
int mt_re_match(const struct mt_re *re, const char *s, size_t len, const char **why);

#endif
