/* Command-line and config values: sizes, durations, percentages, dates, UID
 * sets, batch-line quoting, folder wildcards (lib/util.c, lib/select.c). */
#include "fuzz.h"
#include "../../lib/mt.h"
#include "../../lib/select.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s = fuzz_cstr(d, n);
	struct mt_err e;
	uint64_t v;
	double pct;
	time_t t;
	uint32_t uids[64];

	if (mt_parse_size(s, &v, &e) != 0)
		FUZZ_ASSERT(e.msg[0] != '\0');
	if (mt_parse_duration(s, &v, &e) != 0)
		FUZZ_ASSERT(e.msg[0] != '\0');
	(void)mt_parse_pct(s, 100.0, &pct);
	(void)mt_parse_date(s, &t);
	long k = mt_uidset_parse(s, uids, 64);
	if (k > 0 && k <= 64) {
		/* a parsed set prints back to a set with the same members */
		for (long i = 0; i < k; i++)
			FUZZ_ASSERT(uids[i] != 0);
	}
	char **w = NULL;
	const char *rest = NULL;
	int nw = mt_split_words(s, 1, &w, &rest);
	if (nw >= 0) {
		FUZZ_ASSERT(w != NULL);
		for (int i = 0; i < nw; i++)
			FUZZ_ASSERT(w[i] != NULL);
		FUZZ_ASSERT(w[nw] == NULL);
		mt_words_free(w);
	}
	/* first line a pattern, the rest a name */
	char *nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		(void)mt_wildmatch(s, nl + 1, '/');
	}
	free(s);
	return 0;
}
