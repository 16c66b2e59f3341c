/* query.h — the one condition language of mailtool. filter's rules,
 * expunge's and archive's criteria and compact's policy steps are all trees
 * of these conditions, and one compiler turns a tree into what a folder is
 * asked: the SEARCH the server can decide (exactly, or as a sound superset),
 * what must be fetched of the candidates for the rest, and the exact check
 * made here on what was fetched. No I/O: lib/ runs the plan (select.h). */
#ifndef MT_FILTERS_QUERY_H
#define MT_FILTERS_QUERY_H

#include "../lib/mt.h"
#include "../lib/select.h"
#include "regex.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum mt_cond_kind {
	MT_C_ALL, MT_C_ANY, MT_C_NOT,
	MT_C_HEADER,     /* regex on a named header (decoded, unfolded) */
	MT_C_ANYHEADER,  /* regex on every header line "Name: value" (decoded) */
	MT_C_BODY,       /* regex on the decoded text parts */
	MT_C_LARGER, MT_C_SMALLER,
	MT_C_OLDER, MT_C_NEWER,  /* an age, by INTERNALDATE or (by_date_header) the Date field */
	MT_C_BEFORE,     /* dated before a day (UTC midnight), likewise */
	MT_C_FLAG,       /* a system flag (MT_F_*) or keyword is set (want=1) or not */
};

struct mt_cond {
	enum mt_cond_kind kind;
	struct mt_cond **kids;   /* all/any/not; owned */
	size_t nkids;
	char *header;            /* MT_C_HEADER: lower-case field name */
	char *pattern;
	struct mt_re *re;        /* owned */
	uint64_t size;
	int64_t age;             /* seconds */
	time_t when;             /* MT_C_BEFORE */
	int by_date_header;      /* ages and days from the Date field, not INTERNALDATE */
	unsigned sysflag;        /* MT_F_* or 0 for a keyword */
	char *keyword;
	int want;
};

/* Building trees (every node owned by its parent; mt_cond_free frees a tree). */
struct mt_cond *mt_cond_new(enum mt_cond_kind kind);
void mt_cond_add(struct mt_cond *parent, struct mt_cond *kid);
void mt_cond_free(struct mt_cond *c);
struct mt_cond *mt_cond_flag(unsigned sysflag, const char *keyword, int want);
struct mt_cond *mt_cond_size(enum mt_cond_kind larger_or_smaller, uint64_t bytes);
struct mt_cond *mt_cond_age(enum mt_cond_kind older_or_newer, int64_t seconds, int by_date_header);
struct mt_cond *mt_cond_before(time_t day, int by_date_header);
/* A regex condition on a header (name), every header (MT_C_ANYHEADER) or the
 * body; NULL and why[] when the expression is not valid. */
struct mt_cond *mt_cond_regex(enum mt_cond_kind kind, const char *header, const char *pattern,
			      const struct mt_re_limits *lim, char *why, size_t whylen);
/* all(a, b): a when b is NULL, and the other way round */
struct mt_cond *mt_cond_and(struct mt_cond *a, struct mt_cond *b);

/* The tree reads flags (an incremental run must then look at changes too);
 * it names \Deleted (a rule leaves deleted mail alone unless it does). */
int mt_cond_uses_flags(const struct mt_cond *c);
int mt_cond_mentions_deleted(const struct mt_cond *c);

/* What the client check reads: fetched for the candidates of an inexact
 * SEARCH (and whatever a report adds). */
struct mt_needs {
	int size, date, flags, all_headers, body;
	char **hdrs;             /* NULL-terminated, owned, no duplicates */
	size_t nhdrs;
};
void mt_needs_add_header(struct mt_needs *n, const char *name);
/* Add what deciding c wholly here reads (whatever the server could decide). */
void mt_cond_needs(const struct mt_cond *c, struct mt_needs *n);
void mt_needs_release(struct mt_needs *n);

/* A compiled condition, for one server: within = it has WITHIN. */
struct mt_query {
	char *search;            /* SEARCH criteria, owned; "ALL" when the server can narrow nothing */
	char *loose;             /* owned: search without text keys (see mt_uid_search_text), or NULL */
	int exact;               /* the server decides exactly: no fetch, no check here */
	struct mt_needs needs;   /* what the check here reads (empty when exact) */
};
void mt_query_compile(const struct mt_cond *c, int within, time_t now, struct mt_query *q);
void mt_query_release(struct mt_query *q);

/* Decide a condition on one fetched message: 1, 0, or -1 when a regular
 * expression could not be decided (a PCRE2 limit: *why says which) where
 * that could change the answer — never a silent "no". */
int mt_cond_match(const struct mt_cond *c, const struct mt_fetched *m, time_t now, const char **why);

/* The condition in words, as --explain shows it. */
void mt_cond_text(const struct mt_cond *c, FILE *f);

/* The literal substrings one of which every match of `pattern` must contain
 * (a top-level alternation of literal runs), for a server-side pre-filter.
 * Returns the count (0: none usable, e.g. ".*" or a branch without a literal
 * of 3+ plain characters); *out is owned (mt_words_free). */
int mt_regex_literals(const char *pattern, char ***out);

#endif
