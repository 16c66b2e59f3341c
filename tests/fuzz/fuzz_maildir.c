/* Reading Maildirs for import (lib/localmail.c): dovecot-keywords, flags and
 * keyword letters in file names, entries that are links, directories or
 * FIFOs. Input: the dovecot-keywords text, then entries "name\0content\0"...
 * (a name starting with 'L' becomes a symbolic link, 'D' a directory, 'P' a
 * FIFO, 'N' goes to new/; '/' in a name becomes '_'). */
#include "fuzz.h"
#include "../../lib/localmail.h"
#include "../../lib/select.h"

#include <sys/stat.h>

static char root[256];


int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char p[1024];
	if (root[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(root, sizeof root, "%s/mt-fuzz-md-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
	}
	static const char *const sub[] = { "cur", "new", "tmp" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", root, sub[i]);
		mkdir(root, 0700);
		mkdir(p, 0700);
		fuzz_empty_dir(p);
	}
	const uint8_t *end = d + n, *z = memchr(d, '\0', n);
	snprintf(p, sizeof p, "%s/dovecot-keywords", root);
	FILE *f = fopen(p, "wb");
	if (f == NULL)
		abort();
	fwrite(d, 1, z ? (size_t)(z - d) : n, f);
	fclose(f);
	size_t entries = 0;
	for (const uint8_t *q = z ? z + 1 : end; q < end && entries < 64;) {
		const uint8_t *nz = memchr(q, '\0', (size_t)(end - q));
		if (nz == NULL)
			break;
		char name[200];
		size_t nl = (size_t)(nz - q) < sizeof name - 1 ? (size_t)(nz - q) : sizeof name - 1;
		memcpy(name, q, nl);
		name[nl] = '\0';
		for (char *c = name; *c; c++)
			if (*c == '/')
				*c = '_';
		if (nl == 0 || name[0] == '.')
			name[0] = 'x', name[1] = '\0';
		const uint8_t *body = nz + 1, *bz = memchr(body, '\0', (size_t)(end - body));
		size_t bl = bz ? (size_t)(bz - body) : (size_t)(end - body);
		snprintf(p, sizeof p, "%s/%s/%s", root, name[0] == 'N' ? "new" : "cur", name);
		if (name[0] == 'L') {
			char t[512];
			snprintf(t, sizeof t, "%s/dovecot-keywords", root);
			if (symlink(t, p) != 0) { /* a name already there */ }
		} else if (name[0] == 'D') {
			mkdir(p, 0700);
		} else if (name[0] == 'P') {
			mkfifo(p, 0600);
		} else if ((f = fopen(p, "wb")) != NULL) {
			fwrite(body, 1, bl, f);
			fclose(f);
		}
		entries++;
		q = bz ? bz + 1 : end;
	}
	struct mt_lm_reader *r;
	struct mt_err e;
	/* a small limit: a message past it is reported, never read whole */
	struct mt_lm_ropts o = { .max_message = 256 };
	if (mt_lm_reader_open(&r, root, &o, &e) != 0)
		return 0;
	struct mt_lm_msg m;
	int more;
	size_t got = 0;
	while ((more = mt_lm_next(r, &m, &e)) == 1 || more == MT_LM_SKIP || more == MT_LM_TOOBIG) {
		if (more == MT_LM_SKIP || more == MT_LM_TOOBIG) {
			FUZZ_ASSERT(e.msg[0] != '\0');
			got++;
			continue;
		}
		FUZZ_ASSERT((m.sysflags & ~(unsigned)(MT_F_SEEN | MT_F_ANSWERED | MT_F_FLAGGED | MT_F_DELETED | MT_F_DRAFT)) == 0);
		for (size_t i = 0; m.keywords && m.keywords[i]; i++)
			FUZZ_ASSERT(m.keywords[i][0] != '\0' && strchr(m.keywords[i], '\n') == NULL);
		FUZZ_ASSERT(m.len <= n && m.len <= 256);
		mt_lm_msg_release(&m);
		got++;
	}
	/* every entry is either read or reported, none twice */
	FUZZ_ASSERT(more == 0 && got <= entries);
	mt_lm_reader_close(r);
	return 0;
}
