/* state.c — what the command-line layer keeps about an account between
 * runs and processes: the one key that names an account (the session cache,
 * persist sockets, filter's --new state, compact's lock), and the private
 * directories such things live in (XDG state and runtime directories). */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *mt_account_key(const struct mt_account *a)
{
	char *k = mt_xasprintf("%s|%s|%d|%d|%s|%s|%s|%s", a->name ? a->name : "", a->host ? a->host : "", a->port,
			       (int)a->tls, a->user ? a->user : "", a->as_user ? a->as_user : "",
			       a->tunnel ? a->tunnel : "", a->config_file ? a->config_file : "");
	/* one line, one field of a state file */
	for (char *c = k; *c; c++)
		if (*c == '\t' || *c == '\n' || *c == '\r')
			*c = ' ';
	return k;
}

/* dir made (with its parents) mode 0700, and it must be a directory of
 * ours that nobody else may write into */
static char *private_dir(char *dir, struct mt_err *e)
{
	struct stat st;
	for (char *p = dir + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
	mkdir(dir, 0700);
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		mt_seterr(e, MT_EIO, "'%s' must be a directory of mine, mode 0700%s%s", dir, errno ? ": " : "",
			  errno ? strerror(errno) : "");
		free(dir);
		return NULL;
	}
	return dir;
}

char *mt_state_dir(struct mt_err *e)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	errno = 0;
	if (x && *x == '/')
		return private_dir(mt_xasprintf("%s/mailtool", x), e);
	return private_dir(mt_xasprintf("%s/.local/state/mailtool", home && *home ? home : "."), e);
}

char *mt_runtime_dir(struct mt_err *e)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	errno = 0;
	return private_dir(rt && *rt ? mt_xasprintf("%s/mailtool", rt) : mt_xasprintf("/tmp/mailtool-%u", (unsigned)getuid()), e);
}
