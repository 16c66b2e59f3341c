/* Modified UTF-7 folder names (RFC 3501 5.1.3, lib/util.c): decoding never
 * crashes, and what decodes re-encodes to something that decodes the same. */
#include "fuzz.h"
#include "../../lib/mt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *in = fuzz_cstr(d, n);
	char *dec = mt_mutf7_decode(in);
	if (dec) {
		char *enc = mt_mutf7_encode(dec);
		FUZZ_ASSERT(enc != NULL);
		char *again = mt_mutf7_decode(enc);
		FUZZ_ASSERT(again != NULL && strcmp(again, dec) == 0);
		free(again);
		free(enc);
	}
	/* read as UTF-8: what encodes must come back unchanged */
	char *enc = mt_mutf7_encode(in);
	if (enc) {
		for (const char *p = enc; *p; p++)
			FUZZ_ASSERT(*p >= 0x20 && *p < 0x7f);
		char *back = mt_mutf7_decode(enc);
		FUZZ_ASSERT(back != NULL && strcmp(back, in) == 0);
		free(back);
		free(enc);
	}
	free(dec);
	free(in);
	return 0;
}
