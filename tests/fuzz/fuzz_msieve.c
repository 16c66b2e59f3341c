/* What a ManageSieve server sends (lib/managesieve.c): the input is the
 * server's side of a connection taken like a tunnel (no TLS); the target
 * logs in and runs what the sieve applet runs: LISTSCRIPTS, GETSCRIPT,
 * CHECKSCRIPT, HAVESPACE, PUTSCRIPT, SETACTIVE, DELETESCRIPT, LOGOUT.
 * Whatever arrives, each call must end in a result or one clean error,
 * with no crash, leak or hang. */
#include "fuzz.h"
#include "../../lib/managesieve.h"

#include <fcntl.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static char pw[64];
	if (pw[0] == '\0') {
		/* the password the target logs in with, from a file of its own */
		snprintf(pw, sizeof pw, "%s/mt-fuzz-msieve-pw.%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
		int fd = open(pw, O_CREAT | O_WRONLY | O_TRUNC, 0600);
		if (fd < 0 || write(fd, "pw\n", 3) != 3)
			abort();
		close(fd);
	}
	int rfd, wfd;
	if (fuzz_server_fds(d, n, &rfd, &wfd) < 0)
		return 0;
	struct mt_account a;
	memset(&a, 0, sizeof a);
	a.user = "u";
	a.as_user = "bob";
	a.password_file = pw;
	a.tls = MT_TLS_NONE;
	a.idle_timeout = 1;
	a.deadline = 5;
	struct mt_msieve *m = NULL;
	struct mt_err e;
	if (mt_msieve_open_fds(&a, rfd, wfd, &m, &e) != 0) {
		FUZZ_ASSERT(e.msg[0] != '\0');
		return 0;   /* closed with both descriptors */
	}
	struct mt_msieve_script *v = NULL;
	size_t nv = 0, len = 0;
	char *text = NULL, *warn = NULL;
	if (mt_msieve_list(m, &v, &nv, &e) == 0)
		mt_msieve_scripts_free(v, nv);
	if (mt_msieve_get(m, "x", &text, &len, &e) == 0) {
		FUZZ_ASSERT(text[len] == '\0');
		free(text);
	}
	(void)mt_msieve_check(m, "keep;\r\n", 7, &warn, &e);
	free(warn);
	(void)mt_msieve_havespace(m, "x", 7, &e);
	(void)mt_msieve_put(m, "x", "keep;\r\n", 7, &e);
	(void)mt_msieve_setactive(m, "x", &e);
	(void)mt_msieve_delete(m, "x", &e);
	(void)mt_msieve_has_ext(m, "include");
	(void)mt_msieve_cap(m, "SIEVE");
	mt_msieve_close(m);
	return 0;
}
