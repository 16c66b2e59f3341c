/* mt.h — the types and helpers every part of mailtool shares: exit codes, errors,
 * option tables, applet registration, parsing of sizes/durations, output. */
#ifndef MT_H
#define MT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#define MT_VERSION "0.1.0"

/* Exit codes (sysexits style), documented in mailtool(1). */
enum {
	MT_OK = 0,
	MT_EUSAGE = EX_USAGE,       /* 64 bad command line */
	MT_EDATA = EX_DATAERR,      /* 65 bad input data (rule, size, date) */
	MT_ENOHOST = EX_NOHOST,     /* 68 host name unknown */
	MT_EUNAVAIL = EX_UNAVAILABLE, /* 69 service/capability unavailable, refused */
	MT_ESOFT = EX_SOFTWARE,     /* 70 internal error */
	MT_EOS = EX_OSERR,          /* 71 system error (fork, memory) */
	MT_ECANTCREAT = EX_CANTCREAT, /* 73 the output exists and is not ours to replace */
	MT_EIO = EX_IOERR,          /* 74 local I/O error */
	MT_ETEMP = EX_TEMPFAIL,     /* 75 temporary failure: timeout, connection lost */
	MT_EPROTO = EX_PROTOCOL,    /* 76 remote protocol error */
	MT_EAUTH = EX_NOPERM,       /* 77 authentication refused */
	MT_ECONFIG = EX_CONFIG,     /* 78 configuration error */
	MT_ENOAPPLET = 127,
};

/* An error: the code to exit with and one line saying what was wrong. */
struct mt_err {
	int code;
	char msg[512];
};

int mt_seterr(struct mt_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- pure parsing helpers (unit tested) -------------------------------- */

/* "500k", "10M", "1.5G", "123" (bytes), binary units. */
int mt_parse_size(const char *s, uint64_t *out, struct mt_err *e);
/* "90m" (minutes), "36h", "30d", "6w", "45s", "3mo" (calendar months),
 * "1y" (calendar years), and sums of them: "1y6mo", "2h30m"; seconds back
 * from now (months and years counted on the local calendar, a day the
 * month lacks taken as its last), or from `now` for the _at form. */
int mt_parse_duration(const char *s, uint64_t *out, struct mt_err *e);
int mt_parse_duration_at(const char *s, time_t now, uint64_t *out, struct mt_err *e);
/* libconfig (1.5) keeps 32 bits of an integer written without an L suffix
 * and says nothing: larger = 4294967396 reads as 100. MT_OK, or an
 * MT_ECONFIG naming file and line of the first such number in path (and
 * the files it @includes, by the same rules). */
int mt_cfg_check_ints(const char *path, struct mt_err *e);
/* "10/s", "10", "300/min": commands per second (0.001 to a million); -1 when not one. */
int mt_parse_rate(const char *s, double *per_s);
/* "85" or "85%", 0..max; -1 when not a percentage. */
int mt_parse_pct(const char *s, double max, double *out);
/* "YYYY-MM-DD" as UTC midnight; -1 when it is not one. */
int mt_parse_date(const char *s, time_t *out);
/* t as an RFC 3501 date-time without its quotes, "01-Jan-2024 10:00:00
 * +0000", into out (n >= 27); 0 when no date-time can say it (t not after
 * 1970, or past the year 9999: date-year is 4DIGIT, and a server answers
 * BAD to more, before reading a literal that follows), else 1. */
int mt_imap_date_time(time_t t, char *out, size_t n);
/* A folder name template of dates: only %Y, %m, %d (and %%), so that a name
 * never depends on the locale or the time of day, and no CR or LF. */
int mt_date_template_ok(const char *t);
/* The name the template gives the date `when` (UTC); owned. */
char *mt_date_name(const char *tmpl, time_t when);
/* human size: "1.5 MiB" */
char *mt_human_size(char *buf, size_t len, uint64_t bytes);

/* Modified UTF-7 (RFC 3501 5.1.3). Return malloc'd string or NULL on bad input. */
char *mt_mutf7_encode(const char *utf8);
char *mt_mutf7_decode(const char *mutf7);
/* 0 when the name may be used (no CR, LF, NUL — NUL is implied by C strings). */
int mt_mailbox_name_ok(const char *name);

/* UID sets: compress a sorted array into "1:5,7,9:12"; returns malloc'd string. */
char *mt_uidset(const uint32_t *uids, size_t n);
/* Parse a UID set; returns count, fills up to max; -1 on syntax error. */
long mt_uidset_parse(const char *s, uint32_t *out, size_t max);

/* Split one command line shell-style: blanks separate words, '...' and "..."
 * quote (\\ escapes inside "..." and outside quotes), # starts a comment at
 * a word's start. With semis, an unquoted ';' also ends the command (*rest is
 * set to what follows, else NULL). Returns the word count, -1 for an
 * unterminated quote; *words is a NULL-terminated array the caller frees
 * with mt_words_free. */
int mt_split_words(const char *line, int semis, char ***words, const char **rest);
void mt_words_free(char **words);

/* A hash index of strings (borrowed: they must outlive it) to numbers, for
 * lists of folders that can hold 200,000 names: lookups in O(1), never a
 * scan per name. */
struct mt_strindex;
struct mt_strindex *mt_strindex_new(void);
void mt_strindex_free(struct mt_strindex *ix);
/* The number stored for key, or -1. */
long mt_strindex_get(const struct mt_strindex *ix, const char *key);
/* Store val for key unless key is there; returns the number now stored. */
size_t mt_strindex_put(struct mt_strindex *ix, const char *key, size_t val);
/* 64-bit FNV-1a of n bytes, continuing from h (start with MT_FNV_INIT). */
#define MT_FNV_INIT 1469598103934665603ULL
uint64_t mt_fnv1a(uint64_t h, const void *data, size_t n);
/* 32-bit FNV-1a of a string: stable across machines and releases (shards,
 * socket names). */
uint32_t mt_fnv1a32(const char *s);
/* Order of two uint32_t (qsort, bsearch). */
int mt_cmp_u32(const void *a, const void *b);

/* Text for a terminal (human and TSV output, messages on stderr): C0 and C1
 * controls, DEL and bidirectional overrides as \xHH or \uXXXX, bytes that
 * are not UTF-8 as \xHH; everything else as it is. Owned by the caller. */
char *mt_term_safe(const char *s);
/* fputs of mt_term_safe(s) (s NULL: nothing). */
void mt_fputs_safe(const char *s, FILE *f);
/* The UTF-8 sequence at p: its length (1-4) and code point, 0 when the bytes
 * are not UTF-8 (overlong forms and surrogates included). */
int mt_utf8_seq(const unsigned char *p, uint32_t *cp);
/* A code point a terminal acts on rather than shows: C0 and C1 controls,
 * DEL, bidirectional overrides and isolates. */
int mt_term_unsafe(uint32_t c);

/* IMAP LIST wildcard match: '*' anything, '%' anything but delim. */
int mt_wildmatch(const char *pattern, const char *name, char delim);

/* Nearest applet name by edit distance. */
int mt_edit_distance(const char *a, const char *b);
/* When cand is a plausible correction of typed, a rank (lower is closer:
 * twice the edit distance, one less for the same letters), else 0. */
int mt_near_miss(const char *typed, const char *cand);

/* ---- misc ------------------------------------------------------------- */

/* qsort and bsearch that take an empty array as it is: a NULL base with
 * n = 0 is undefined behaviour for the C library's own (UBSan aborts). */
static inline void mt_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}
static inline void *mt_bsearch(const void *key, const void *base, size_t n, size_t size,
			       int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, base, n, size, cmp) : NULL;
}

double mt_now_ms(void);        /* monotonic milliseconds */
/* Memory that cannot be had ends the process (abort), after fn (set once
 * by the tool, which says so on stderr). */
void mt_on_oom(void (*fn)(void));
void *mt_xmalloc(size_t n) __attribute__((returns_nonnull, malloc));  /* zeroed; aborts on OOM */
void *mt_xrealloc(void *p, size_t n) __attribute__((returns_nonnull)); /* not zeroed; aborts on OOM */
char *mt_xstrdup(const char *s) __attribute__((returns_nonnull, nonnull));
char *mt_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), returns_nonnull, nonnull(1)));

#endif
