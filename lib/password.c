/* password.c — where passwords come from: MAILTOOL_PASSWORD, password_command,
 * password_file (owner-only), or a no-echo prompt on the terminal. Never argv. */
#include "session_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

/* first line, without its line ending */
static char *first_line(const char *buf, size_t n)
{
	size_t l = 0;
	while (l < n && buf[l] != '\n' && buf[l] != '\r')
		l++;
	char *p = mt_xmalloc(l + 1);
	memcpy(p, buf, l);
	p[l] = '\0';
	return p;
}

/* The helper writes the secret and exits. It runs in its own process
 * group, so a helper that does not finish within `limit_ms` is killed with
 * all it started; a helper that exits leaving a child holding its standard
 * output is not waited for past its own exit. Its standard error is the
 * caller's: what it says about its failure reaches the person. */
int mt_secret_command(const struct mt_secret_cmd *c, char **out, struct mt_err *e)
{
	int pfd[2];
	/* one byte more than the longest accepted, to tell "too long" apart */
	size_t cap = c->max_len + 2;
	char *buf = mt_xmalloc(cap + 1);
	size_t n = 0;
	int st = 0, exited = 0, eof = 0;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		free(buf);
		return mt_seterr(e, MT_EOS, "pipe: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(buf);
		return mt_seterr(e, MT_EOS, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		setpgid(0, 0);
		unsetenv("MAILTOOL_PASSWORD");
		if (c->user)
			setenv("MAILTOOL_TOKEN_USER", c->user, 1);
		dup2(pfd[1], 1);
		signal(SIGPIPE, SIG_DFL);
		/* the user as $1, never pasted into the command text */
		execle("/bin/sh", "sh", "-c", c->cmd, "sh", c->user, (char *)NULL, environ);
		_exit(127);
	}
	setpgid(pid, pid);   /* (both sides: whichever runs first) */
	close(pfd[1]);
	double end = mt_now_ms() + c->limit_ms;
	/* read the first line (or, whole_output, all of it); the helper's exit also ends it */
	while (!eof && !exited && (c->whole_output || !memchr(buf, '\n', n)) && n < cap) {
		double left = end - mt_now_ms();
		if (left <= 0)
			break;
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int pr = poll(&p, 1, left > 100 ? 100 : (int)left + 1);
		if (pr > 0) {
			ssize_t r = read(pfd[0], buf + n, cap - n);
			if (r > 0)
				n += (size_t)r;
			else if (r == 0 || errno != EINTR)
				eof = 1;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			exited = 1;
			/* what it wrote before exiting is in the pipe already */
			ssize_t r;
			while (n < cap && poll(&p, 1, 0) > 0 && (r = read(pfd[0], buf + n, cap - n)) > 0)
				n += (size_t)r;
		}
	}
	close(pfd[0]);
	/* more than any token: no need to hear the rest of it */
	int overflow = c->whole_output && n >= cap;
	/* its exit status decides: wait for it, within the same limit */
	while (!exited && !overflow) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			exited = 1;
		else if (w < 0 && errno != EINTR)
			break;
		else if (mt_now_ms() >= end)
			break;
		else
			usleep(10000);
	}
	int r = MT_OK;
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	if (overflow)
		r = mt_seterr(e, MT_ECONFIG, "%s printed more than %zu bytes", c->what, c->max_len);
	else if (!exited)
		r = mt_seterr(e, c->timeout_code, "%s did not finish within %.0f s; killed", c->what, c->limit_ms / 1000);
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		/* a helper that says "try later" or "not allowed" in sysexits terms is heard */
		int mapped = c->pass_sysexits && (code == MT_ETEMP || code == MT_EAUTH) ? code : MT_ECONFIG;
		r = mt_seterr(e, mapped, "%s failed (exit status %d)", c->what, code);
	} else if (c->whole_output) {
		/* exactly one line: a second line or a control character is not
		 * part of any token, and cutting it off would send a guess */
		size_t len = n;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		size_t bad = 0;
		while (bad < len && (unsigned char)buf[bad] >= 0x20 && buf[bad] != 0x7f)
			bad++;
		if (len == 0)
			r = mt_seterr(e, MT_ECONFIG, "%s printed nothing", c->what);
		else if (len > c->max_len)
			r = mt_seterr(e, MT_ECONFIG, "%s printed more than %zu bytes", c->what, c->max_len);
		else if (bad < len)
			r = mt_seterr(e, MT_ECONFIG, "%s printed %s (byte %zu); expected one line", c->what,
				      buf[bad] == '\n' || buf[bad] == '\r' ? "more than one line" : "a control character",
				      bad + 1);
		else {
			*out = mt_xmalloc(len + 1);
			memcpy(*out, buf, len);
			(*out)[len] = '\0';
		}
	} else {
		*out = first_line(buf, n);
		if (**out == '\0') {
			free(*out);
			*out = NULL;
			r = mt_seterr(e, MT_ECONFIG, "%s printed no password", c->what);
		}
	}
	explicit_bzero(buf, cap + 1);
	free(buf);
	return r;
}

/* An owner-only regular file of the user running mailtool (or of root),
 * opened without following a link: a link could make root read another
 * file's first line and send it to a server. */
static int from_file(const char *path, char **out, struct mt_err *e)
{
	struct stat st;
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return mt_seterr(e, MT_ECONFIG, "cannot read password_file '%s': %s", path,
				 errno == ELOOP ? "a symbolic link; name the file itself" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mt_seterr(e, MT_ECONFIG, "password_file '%s' is not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return mt_seterr(e, MT_ECONFIG, "password_file '%s' is readable by group or others; chmod 600 it", path);
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		close(fd);
		return mt_seterr(e, MT_ECONFIG, "password_file '%s' belongs to another user (uid %u)", path, (unsigned)st.st_uid);
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return mt_seterr(e, MT_ECONFIG, "password_file '%s' is empty", path);
	*out = first_line(buf, (size_t)n);
	explicit_bzero(buf, sizeof buf);
	return MT_OK;
}

static int from_tty(const struct mt_account *a, char **out, struct mt_err *e)
{
	struct termios old, quiet;
	char buf[1024];
	/* bash completion asks for folder names: it must never prompt */
	const char *np = getenv("MAILTOOL_NO_PROMPT");
	int fd = np && *np ? -1 : open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || !isatty(fd)) {
		if (fd >= 0)
			close(fd);
		return mt_seterr(e, MT_ECONFIG, "no password for '%s': set password_command or password_file in the "
				 "account, or MAILTOOL_PASSWORD", a->user ? a->user : "?");
	}
	char *prompt = mt_xasprintf("Password for %s@%s: ", a->user ? a->user : "", a->host ? a->host : "tunnel");
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	free(prompt);
	tcgetattr(fd, &old);
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* ignore */
	}
	close(fd);
	if (n <= 0)
		return mt_seterr(e, MT_ECONFIG, "no password entered");
	*out = first_line(buf, (size_t)n);
	explicit_bzero(buf, sizeof buf);
	return MT_OK;
}

/* ---- MAILTOOL_PASSWORD ---------------------------------------------------
 * Taken out of the environment as the process starts (so no child, no
 * /proc/PID/environ and no core sees it) into one buffer of its own, kept
 * out of core dumps, and wiped when no longer needed. */

static char *env_pw;      /* page-aligned, MADV_DONTDUMP; NULL when none */
static size_t env_pw_len; /* the mapping's size */

void mt_password_forget(void)
{
	if (env_pw) {
		explicit_bzero(env_pw, env_pw_len);
		munmap(env_pw, env_pw_len);
	}
	env_pw = NULL;
	env_pw_len = 0;
}

void mt_password_take_env(void)
{
	static const char name[] = "MAILTOOL_PASSWORD=";
	const size_t nl = sizeof name - 1;
	char **entries = NULL;
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, name, nl) == 0) {
			entries = mt_xrealloc(entries, sizeof *entries * (n + 1));
			entries[n++] = *e;
		}
	if (n == 0)
		return;
	const char *v = entries[0] + nl;   /* the one getenv() would give */
	size_t len = strlen(v);
	if (len > 0) {
		mt_password_forget();
		long pg = sysconf(_SC_PAGESIZE);
		env_pw_len = ((len + 1 + (size_t)pg - 1) / (size_t)pg) * (size_t)pg;
		env_pw = mmap(NULL, env_pw_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (env_pw == MAP_FAILED)
			abort();
		madvise(env_pw, env_pw_len, MADV_DONTDUMP);
		mlock(env_pw, env_pw_len);   /* best effort: not swapped out either */
		memcpy(env_pw, v, len + 1);
	}
	/* out of the environment, then every such entry wiped where it lies (the
	 * environment block is what /proc/PID/environ shows) */
	unsetenv("MAILTOOL_PASSWORD");
	for (size_t i = 0; i < n; i++)
		explicit_bzero(entries[i], strlen(entries[i]));
	free(entries);
}

const char *mt_password_env(void)
{
	return env_pw;
}

int mt_password_get(const struct mt_account *a, double limit_ms, char **out, struct mt_err *e)
{
	if (env_pw) {
		*out = mt_xstrdup(env_pw);
		return MT_OK;
	}
	if (a->password_command) {
		const struct mt_secret_cmd c = { .what = "password_command", .cmd = a->password_command,
						 .limit_ms = limit_ms, .max_len = 4093, .timeout_code = MT_ECONFIG };
		return mt_secret_command(&c, out, e);
	}
	if (a->password_file)
		return from_file(a->password_file, out, e);
	return from_tty(a, out, e);
}
