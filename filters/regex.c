/* regex.c — the one PCRE2 wrapper (see regex.h). */
#include "regex.h"

#include "../lib/mt.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

struct mt_re {
	pcre2_code *code;
	pcre2_match_context *mc;
	pcre2_match_data *md;    /* one per pattern: mailtool matches on one thread */
	char why[160];           /* the last error's text (mt_re_match's *why) */
};

struct mt_re *mt_re_compile(const char *pattern, const struct mt_re_limits *lim, char *why, size_t whylen)
{
	static const struct mt_re_limits dflt = MT_RE_LIMITS_DEFAULT;
	int err;
	PCRE2_SIZE off;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
	if (code == NULL) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof msg);
		snprintf(why, whylen, "at offset %zu: %s", (size_t)off, (const char *)msg);
		return NULL;
	}
	if (lim == NULL)
		lim = &dflt;
	struct mt_re *re = mt_xmalloc(sizeof *re);
	re->code = code;
	re->mc = pcre2_match_context_create(NULL);
	re->md = pcre2_match_data_create_from_pattern(code, NULL);
	if (re->mc == NULL || re->md == NULL)
		abort();
	pcre2_set_match_limit(re->mc, lim->match);
	pcre2_set_depth_limit(re->mc, lim->depth);
	pcre2_set_heap_limit(re->mc, lim->heap_kib);
	return re;
}

void mt_re_free(struct mt_re *re)
{
	if (re == NULL)
		return;
	pcre2_match_data_free(re->md);
	pcre2_match_context_free(re->mc);
	pcre2_code_free(re->code);
	free(re);
}

static int verdict(struct mt_re *re, int r, const char **why)
{
	if (r >= 0)
		return 1;
	if (r == PCRE2_ERROR_NOMATCH)
		return 0;
	switch (r) {
	case PCRE2_ERROR_MATCHLIMIT:
		snprintf(re->why, sizeof re->why, "regular expression match limit reached (PCRE2 match limit)");
		break;
	case PCRE2_ERROR_DEPTHLIMIT:
		snprintf(re->why, sizeof re->why, "regular expression depth limit reached (PCRE2 depth limit)");
		break;
	case PCRE2_ERROR_HEAPLIMIT:
		snprintf(re->why, sizeof re->why, "regular expression heap limit reached (PCRE2 heap limit)");
		break;
	default: {
		PCRE2_UCHAR msg[120];
		pcre2_get_error_message(r, msg, sizeof msg);
		snprintf(re->why, sizeof re->why, "regular expression error: %s", (const char *)msg);
	}
	}
	if (why)
		*why = re->why;
	return -1;
}

int mt_re_match(const struct mt_re *cre, const char *s, size_t len, const char **why)
{
	struct mt_re *re = (struct mt_re *)cre;   /* match data and the message are scratch */
	int r = pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), s ? len : 0, 0, 0, re->md, re->mc);
	if (s && r <= PCRE2_ERROR_UTF8_ERR1 && r >= PCRE2_ERROR_UTF8_ERR21) {
		/* not UTF-8 (a broken message): those bytes become '?' and it is matched again */
		char *clean = mt_xmalloc(len + 1);
		for (size_t i = 0; i < len; i++)
			clean[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
		r = pcre2_match(re->code, (PCRE2_SPTR)clean, len, 0, 0, re->md, re->mc);
		free(clean);
	}
	return verdict(re, r, why);
}
