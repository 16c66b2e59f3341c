/* Local paths for server folder names (mt_lm_safe_path, lib/localmail.c):
 * the server chooses folder names. Input: a delimiter byte, a Maildir byte,
 * then two names separated by NUL. */
#include "fuzz.h"
#include "../../lib/localmail.h"

#include <ctype.h>

static void check(const char *p, const char *name, int maildir)
{
	FUZZ_ASSERT(p[0] != '/');
	for (const char *c = p;; c++) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		/* never empty, ".", ".." (nothing leaves the directory) */
		FUZZ_ASSERT(len > 0);
		FUZZ_ASSERT(!(len == 1 && c[0] == '.') && !(len == 2 && c[0] == '.' && c[1] == '.'));
		/* never a name a Maildir keeps for itself */
		if (maildir)
			FUZZ_ASSERT(!(len == 3 && (!memcmp(c, "cur", 3) || !memcmp(c, "new", 3) || !memcmp(c, "tmp", 3))) &&
				    !(len >= 7 && !memcmp(c, "dovecot", 7)));
		if (!end)
			break;
		c = end;
	}
	/* '%' only as an escape: no result is a temporary "NAME%tmp.XXXXXX" */
	for (const char *c = p; (c = strchr(c, '%')) != NULL; c++)
		FUZZ_ASSERT(isxdigit((unsigned char)c[1]) && isxdigit((unsigned char)c[2]) && !islower((unsigned char)c[1]) &&
			    !islower((unsigned char)c[2]));
	(void)name;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 2)
		return 0;
	char delim = (char)d[0];
	int maildir = d[1] & 1;
	char *s = fuzz_cstr(d + 2, n - 2);
	const char *a = s, *b = s + strlen(s) + 1 <= s + (n - 2) ? s + strlen(s) + 1 : "";
	char *pa = mt_lm_safe_path(a, delim, maildir), *pb = mt_lm_safe_path(b, delim, maildir);
	check(pa, a, maildir);
	check(pb, b, maildir);
	/* two folders never share a path */
	FUZZ_ASSERT(strcmp(a, b) == 0 || strcmp(pa, pb) != 0);
	free(pa);
	free(pb);
	free(s);
	return 0;
}
