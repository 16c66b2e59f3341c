/* RFC 2047 decoding and unfolding of header values (mail/header.c). */
#include "fuzz.h"
#include "../../mail/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s = mt_decode_header((const char *)d, n);
	FUZZ_ASSERT(s != NULL);
	/* one line: no CR, LF or other control character survives, not even
	 * from an encoded-word */
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		FUZZ_ASSERT(*c >= 0x20 && *c != 0x7f);
	free(s);
	return 0;
}
