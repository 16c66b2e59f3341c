/* The decoded text of a message's text parts (mail/mime.c over
 * libetpan's MIME parser): any bytes, any truncation. */
#include "fuzz.h"
#include "../../mail/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *t = mt_body_text((const char *)d, n);
	free(t);
	return 0;
}
