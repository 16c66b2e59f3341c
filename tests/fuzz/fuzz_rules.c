/* Rule files and mailtool.conf (filters/rules.c, filters/query.c, tool/config.c): whatever
 * libconfig accepts is checked by our code; a bad file is an error with a
 * message, never a crash. The input is the file. */
#include "fuzz.h"
#include "../../filters/rules.h"
#include "../../tool/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *path = fuzz_file(d, n, ".conf");
	struct mt_ruleset rs;
	struct mt_err e;
	memset(&rs, 0, sizeof rs);
	if (mt_rules_load(path, &rs, &e) == 0) {
		FILE *devnull = fopen("/dev/null", "w");
		for (size_t i = 0; i < rs.n; i++) {
			struct mt_query q;
			mt_rule_query(&rs.v[i], i & 1, 1700000000, &q);
			FUZZ_ASSERT(q.search != NULL && strpbrk(q.search, "\r\n") == NULL);
			mt_query_release(&q);
			struct mt_needs nd;
			memset(&nd, 0, sizeof nd);   /* mt_rule_needs adds to what is there */
			mt_rule_needs(&rs.v[i], &nd);
			mt_needs_release(&nd);
		}
		if (devnull) {
			mt_rules_explain(&rs, 1, NULL, NULL, NULL, devnull);
			fclose(devnull);
		}
		mt_rules_release(&rs);
	} else {
		FUZZ_ASSERT(e.msg[0] != '\0');
	}
	struct mt_config c;
	memset(&c, 0, sizeof c);
	if (mt_config_load(&c, path, &e) == 0) {
		struct mt_compact_policy p;
		memset(&p, 0, sizeof p);
		if (mt_config_compact(&c, &p, &e) == 0)
			mt_compact_policy_release(&p);
		struct mt_account a;
		memset(&a, 0, sizeof a);
		if (mt_config_account(&c, NULL, &a, &e) == 0)
			mt_account_release(&a);
		mt_config_release(&c);
	} else {
		FUZZ_ASSERT(e.msg[0] != '\0');
	}
	return 0;
}
