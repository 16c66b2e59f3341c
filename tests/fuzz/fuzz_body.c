/* The decoded text of a message's text parts (filters/message.c over
 * libetpan's MIME parser): any bytes, any truncation. */
#include "fuzz.h"
#include "../../filters/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *t = mt_body_text((const char *)d, n);
	free(t);
	return 0;
}
