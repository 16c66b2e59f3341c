/* An archive written by mt_lm_begin/write/end and read back by the import
 * reader gives every message back as written (lib/localmail.c,
 * localread.c): canonically (every bare LF a CRLF; mboxrd adds a line end
 * at the end, mboxcl2 and Maildir keep the end as it is); the same flags,
 * keywords and date; and the digests the writer kept match what
 * mt_lm_verify reads. Input: a format byte (mboxrd, gz, Maildir, mboxcl2,
 * gz mboxcl2), a chunk-size byte, then messages separated by "\xff\xfe",
 * each led by a flags byte. */
#include "fuzz.h"
#include "../../lib/localmail.h"
#include "../../lib/select.h"

#include <fcntl.h>
#include <sys/stat.h>

static char root[256];


/* Canonical text: CRLF for every LF without a CR before it (and with
 * add_end, CRLF at the end if it has no LF there). */
static char *canonical(const uint8_t *s, size_t n, int add_end, size_t *out)
{
	char *c = malloc(2 * n + 3);
	size_t o = 0;
	if (c == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			c[o++] = '\r';
		c[o++] = (char)s[i];
	}
	if (add_end && n && s[n - 1] != '\n') {
		c[o++] = '\r';
		c[o++] = '\n';
	}
	*out = o;
	return c;
}

static const char *const kwpool[] = { "$Work", "$Junk", "NonJunk", "$Label1", "Important", "x", "a]b", "" };

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 2)
		return 0;
	if (root[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(root, sizeof root, "%s/mt-fuzz-rt-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
	}
	mkdir(root, 0700);
	fuzz_empty_dir(root);
	static const enum mt_lm_fmt fmts[5] = { MT_LM_MBOX, MT_LM_MBOXGZ, MT_LM_MAILDIR, MT_LM_MBOX, MT_LM_MBOXGZ };
	enum mt_lm_fmt fmt = fmts[d[0] % 5];
	int cl2 = d[0] % 5 >= 3;
	size_t chunk = (size_t)d[1] % 97 + 1;
	const char *rel = fmt == MT_LM_MAILDIR ? "a" : "a.mbox";
	int dirfd = open(root, O_RDONLY | O_DIRECTORY);
	struct mt_lm_writer *w;
	struct mt_err e;
	if (dirfd < 0 || mt_lm_open(&w, dirfd, root, rel, fmt, cl2 ? MT_LM_CL2 : 0, &e) != 0)
		abort();
	/* the messages, as written */
	const uint8_t *msg[32];
	size_t len[32], nm = 0;
	unsigned fl[32];
	for (const uint8_t *p = d + 2, *end = d + n; p < end && nm < 32;) {
		const uint8_t *sep = p;
		while (sep + 1 < end && !(sep[0] == 0xff && sep[1] == 0xfe))
			sep++;
		if (sep + 1 >= end)
			sep = end;
		fl[nm] = *p;
		msg[nm] = p + 1 < sep ? p + 1 : sep;
		len[nm] = (size_t)(sep - msg[nm]);
		nm++;
		p = sep + 2;
	}
	for (size_t i = 0; i < nm; i++) {
		const char *kw[4];
		size_t k = 0;
		for (size_t j = 0; j < 3; j++)
			if (fl[i] & (0x20u << j))
				kw[k++] = kwpool[(fl[i] + j) % 8];
		kw[k] = NULL;
		if (mt_lm_begin(w, (uint32_t)i + 1, "a@b", 1000000000 + (time_t)i * 86399, fl[i] & 31, kw, &e) != 0)
			abort();
		for (size_t o = 0; o < len[i]; o += chunk)
			if (mt_lm_write(w, (const char *)msg[i] + o, len[i] - o < chunk ? len[i] - o : chunk, &e) != 0)
				abort();
		if (mt_lm_end(w, &e) != 0)
			abort();
	}
	if (mt_lm_commit(w, &e) != 0)
		abort();
	size_t nd;
	const unsigned char *dig = mt_lm_digests(w, &nd);
	FUZZ_ASSERT(nd == nm);
	FUZZ_ASSERT(mt_lm_verify(dirfd, root, rel, dig, nd, &e) == 0);
	mt_lm_free(w);
	/* read back, in order */
	struct mt_lm_reader *r;
	FUZZ_ASSERT(mt_lm_reader_openat(&r, dirfd, root, rel, NULL, &e) == 0);
	struct mt_lm_msg m;
	size_t i = 0;
	int more;
	while ((more = mt_lm_next(r, &m, &e)) == 1) {
		FUZZ_ASSERT(i < nm);
		size_t cl;
		char *c = canonical(msg[i], len[i], fmt != MT_LM_MAILDIR && !cl2, &cl);
		FUZZ_ASSERT(m.len == cl && memcmp(m.data, c, cl) == 0);
		free(c);
		FUZZ_ASSERT(m.sysflags == (fl[i] & 31));
		FUZZ_ASSERT(m.internaldate == 1000000000 + (time_t)i * 86399);
		/* the keywords that are atoms (in order for an mbox; as a set for a
		 * Maildir, whose letters keep the folder's order) */
		size_t k = 0, got = 0;
		while (m.keywords && m.keywords[got])
			got++;
		for (size_t j = 0; j < 3; j++) {
			const char *want = kwpool[(fl[i] + j) % 8];
			int dup = 0;
			if (!(fl[i] & (0x20u << j)) || !mt_lm_keyword_ok(want))
				continue;
			for (size_t x = 0; x < j; x++)
				dup |= (fl[i] & (0x20u << x)) && strcmp(kwpool[(fl[i] + x) % 8], want) == 0;
			if (dup && fmt == MT_LM_MAILDIR)
				continue;
			if (fmt != MT_LM_MAILDIR) {
				FUZZ_ASSERT(k < got && strcmp(m.keywords[k], want) == 0);
			} else {
				int found = 0;
				for (size_t x = 0; x < got; x++)
					found |= strcmp(m.keywords[x], want) == 0;
				FUZZ_ASSERT(found);
			}
			k++;
		}
		FUZZ_ASSERT(k == got);
		mt_lm_msg_release(&m);
		i++;
	}
	FUZZ_ASSERT(more == 0 && i == nm);
	mt_lm_reader_close(r);
	close(dirfd);
	return 0;
}
