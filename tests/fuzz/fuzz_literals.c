/* Soundness of the server-side pre-filter (filters/rules.c
 * mt_regex_literals): when a regex matches a text, that text contains one of
 * the literals derived from the regex, ignoring ASCII case — otherwise the
 * SEARCH pre-filter would hide a message the rule should take. Input: the
 * regex, a NUL byte, the text. */
#include "fuzz.h"
#include "../../filters/rules.h"
#include "../../lib/mt.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <strings.h>

static int has_ci(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const uint8_t *z = memchr(d, 0, n);
	if (z == NULL || n > 4096)
		return 0;
	char *pat = fuzz_cstr(d, (size_t)(z - d));
	char *txt = fuzz_cstr(z + 1, n - (size_t)(z - d) - 1);
	char **lit = NULL;
	int nl = mt_regex_literals(pat, &lit);
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = nl > 0 ? pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
						&err, &off, NULL) : NULL;
	int ascii = 1;
	for (const char *p = txt; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	if (re && ascii) {
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
		pcre2_match_context *mc = pcre2_match_context_create(NULL);
		pcre2_set_match_limit(mc, 100000);
		int r = pcre2_match(re, (PCRE2_SPTR)txt, strlen(txt), 0, 0, md, mc);
		if (r >= 0) {
			int found = 0;
			for (int i = 0; i < nl; i++)
				if (has_ci(txt, lit[i]))
					found = 1;
			if (!found) {
				fprintf(stderr, "regex '%s' matches '%s' but contains none of its %d literals:", pat, txt, nl);
				for (int i = 0; i < nl; i++)
					fprintf(stderr, " '%s'", lit[i]);
				fprintf(stderr, "\n");
			}
			FUZZ_ASSERT(found);
		}
		pcre2_match_context_free(mc);
		pcre2_match_data_free(md);
	}
	pcre2_code_free(re);
	if (lit)
		mt_words_free(lit);
	free(pat);
	free(txt);
	return 0;
}
