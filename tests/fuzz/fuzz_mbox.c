/* Reading mbox archives for import (lib/localmail.c): mboxo/mboxrd, "From "
 * quoting, Status/X-Status/X-Keywords. The input is the mbox file. */
#include "fuzz.h"
#include "../../lib/localmail.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *path = fuzz_file(d, n, ".mbox");
	struct mt_lm_reader *r;
	struct mt_err e;
	if (mt_lm_reader_open(&r, path, &e) != 0)
		return 0;
	struct mt_lm_msg m;
	int more, count = 0;
	size_t total = 0;
	while ((more = mt_lm_next(r, &m, &e)) == 1) {
		FUZZ_ASSERT(m.data != NULL || m.len == 0);
		total += m.len;
		mt_lm_msg_release(&m);
		FUZZ_ASSERT(++count <= (int)n + 1);
	}
	/* CRLF conversion at most doubles the bytes */
	FUZZ_ASSERT(total <= 2 * n + 2);
	mt_lm_reader_close(r);
	return 0;
}
