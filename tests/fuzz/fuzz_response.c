/* What a server sends (lib/session.c, lib/imap.c, lib/select.c over libetpan's
 * parser and our STATUS=SIZE extension). The input is the server's side of a
 * PREAUTH tunnel; the target opens a session on it (as mailtool does for
 * `--tunnel`) and runs what the applets run: capabilities, LIST "" "",
 * NAMESPACE, LIST, pipelined STATUS, GETQUOTAROOT, SELECT with CONDSTORE,
 * UID SEARCH, UID FETCH of headers and bodies. libetpan does not check tags,
 * so the seeds' responses need not guess them. Whatever arrives, each call must
 * end in a result or a clean error, with no crash, leak or hang. */
#include "fuzz.h"
#include "../../lib/session.h"
#include "../../lib/select.h"
#include "../../tool/config.h"

#include <fcntl.h>
#include <strings.h>

int mt_session_open_fds(const struct mt_account *a, int rfd, int wfd, struct mt_session **out, struct mt_err *e);

static int count_cb(const struct mt_fetched *m, void *ctx)
{
	(void)m;
	++*(size_t *)ctx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	/* libetpan reserves a literal's announced size before reading it; a
	 * {4294967296} costs seconds of ASan bookkeeping per input and is
	 * covered by tests/hostile.bats under prlimit --as. Literals here stay
	 * below 1 MB so the fuzzer spends its time on parsing. */
	for (size_t i = 0; i < n; i++)
		if (d[i] == '{') {
			size_t j = i + 1, digits = 0;
			while (j < n && d[j] == '0')
				j++;
			while (j < n && d[j] >= '0' && d[j] <= '9')
				j++, digits++;
			if (digits > 6)
				return 0;
		}
	/* libetpan 1.9's mailimap_connect() leaks the parsed greeting when it is
	 * a BYE (the connection is refused and mailtool exits 75 right after):
	 * a known leak of a few bytes per process, kept out of the way. */
	for (size_t i = 0; i + 3 <= n && d[i] != '\n'; i++)
		if (strncasecmp((const char *)d + i, "BYE", 3) == 0)
			return 0;
	int rfd, wfd;
	if (fuzz_server_fds(d, n, &rfd, &wfd) < 0)
		return 0;
	struct mt_account a;
	memset(&a, 0, sizeof a);
	a.compress = 0;
	a.idle_timeout = 1;
	a.deadline = 5;
	struct mt_session *s = NULL;
	struct mt_err e;
	if (mt_session_open_fds(&a, rfd, wfd, &s, &e) != 0) {
		FUZZ_ASSERT(e.msg[0] != '\0');
		return 0;   /* the session closed both descriptors */
	}
	char delim;
	const char *ns;
	(void)mt_delimiter(s, &delim, &e);
	(void)mt_namespace_text(s, &ns, &e);
	struct mt_mailboxes m;
	memset(&m, 0, sizeof m);
	if (mt_list(s, "*", &m, &e) == 0 && m.n > 0) {
		struct mt_status *st = calloc(m.n, sizeof *st);
		if (st && mt_status_many(s, m.v, m.n, MT_ST_MESSAGES | MT_ST_SIZE | MT_ST_UIDNEXT | MT_ST_UIDVALIDITY,
					 st, &e) == 0)
			mt_status_release(st, m.n);
		free(st);
	}
	mt_mailboxes_release(&m);
	struct mt_quotas q;
	memset(&q, 0, sizeof q);
	if (mt_getquotaroot(s, "INBOX", &q, &e) == 0)
		mt_quotas_release(&q);
	char *wire = NULL;
	struct mt_folder_state fs;
	if (mt_open_folder(s, "INBOX", 1, &wire, &fs, &e) == 0) {
		uint32_t *uids = NULL;
		size_t nu = 0, seen = 0;
		if (mt_uid_search(s, "ALL", &uids, &nu, &e) == 0 && nu > 0) {
			static const char *const hdrs[] = { "Subject", "From", "Message-ID", NULL };
			struct mt_fetch_spec spec = { .size = 1, .date = 1, .flags = 1, .headers = hdrs, .body_prefix = 512 };
			(void)mt_fetch_each(s, uids, nu, &spec, count_cb, &seen, &e);
		}
		free(uids);
	}
	free(wire);
	mt_session_close(s);
	return 0;
}
