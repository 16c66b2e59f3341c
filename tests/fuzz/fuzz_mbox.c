/* Reading mbox archives for import (lib/localmail.c): mboxo/mboxrd, "From "
 * quoting, the flag lines mailtool writes, Status/X-Status/X-Keywords of a
 * foreign file. The input is the mbox file. */
#include "fuzz.h"
#include "../../lib/localmail.h"

/* Read every message (none larger than max, if max); returns how many
 * carried flags or keywords, *seen how many messages there were. */
static int read_all(const char *path, size_t n, int trust, uint64_t max, int *seen)
{
	struct mt_lm_ropts o = { .trust_status_headers = trust, .max_message = max };
	struct mt_lm_reader *r;
	struct mt_err e;
	*seen = -1;
	if (mt_lm_reader_open(&r, path, &o, &e) != 0)
		return 0;
	struct mt_lm_msg m;
	int more, count = 0, flagged = 0;
	size_t total = 0;
	while ((more = mt_lm_next(r, &m, &e)) == 1 || more == MT_LM_TOOBIG) {
		FUZZ_ASSERT(++count <= (int)n + 1);
		if (more == MT_LM_TOOBIG) {
			FUZZ_ASSERT(max != 0 && e.msg[0] != '\0');
			continue;
		}
		FUZZ_ASSERT(max == 0 || m.len <= max);
		FUZZ_ASSERT(m.data != NULL || m.len == 0);
		total += m.len;
		flagged += m.sysflags != 0 || m.keywords != NULL;
		for (size_t i = 0; m.keywords && m.keywords[i]; i++) {
			FUZZ_ASSERT(m.keywords[i][0] != '\0');
			/* keywords mailtool wrote are atoms; a foreign header's are
			 * only split at blanks and commas (archive.c drops the rest) */
			FUZZ_ASSERT(trust || mt_lm_keyword_ok(m.keywords[i]));
		}
		mt_lm_msg_release(&m);
	}
	*seen = more == 0 ? count : -1;
	/* CRLF conversion at most doubles the bytes */
	FUZZ_ASSERT(total <= 2 * n + 2);
	mt_lm_reader_close(r);
	return flagged;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *path = fuzz_file(d, n, ".mbox");
	int seen, seen_max;
	int flagged = read_all(path, n, 0, 0, &seen);
	/* flags only from the lines mailtool writes at the top of a message,
	 * signed with the exporter's key: read without a key (and without
	 * --trust-status-headers), no file yields any, whatever it holds */
	FUZZ_ASSERT(flagged == 0);
	read_all(path, n, 1, 0, &seen);
	/* a size limit never changes where messages begin and end: the same
	 * number, some of them refused as too large */
	read_all(path, n, 1, 64, &seen_max);
	FUZZ_ASSERT(seen_max == seen);
	return 0;
}
