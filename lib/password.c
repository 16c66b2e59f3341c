/* password.c — where passwords come from: MAILTOOL_PASSWORD, password_command,
 * password_file (owner-only), or a no-echo prompt on the terminal. Never argv. */
#include "session_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

static int from_command(const char *cmd, char **out, struct mt_err *e)
{
	int pfd[2];
	char buf[4096];
	size_t n = 0;
	int st;

	if (pipe(pfd) < 0)
		return mt_seterr(e, MT_EOS, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return mt_seterr(e, MT_EOS, "fork: %s", strerror(errno));
	if (pid == 0) {
		unsetenv("MAILTOOL_PASSWORD");
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		signal(SIGPIPE, SIG_DFL);
		execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, environ);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], buf + n, sizeof buf - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n >= sizeof buf - 1)
			break;
	}
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		memset(buf, 0, sizeof buf);
		return mt_seterr(e, MT_ECONFIG, "password_command failed (exit status %d)",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	*out = first_line(buf, n);
	memset(buf, 0, sizeof buf);
	if (**out == '\0') {
		free(*out);
		return mt_seterr(e, MT_ECONFIG, "password_command printed no password");
	}
	return MT_OK;
}

static int from_file(const char *path, char **out, struct mt_err *e)
{
	struct stat st;
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mt_seterr(e, MT_ECONFIG, "cannot read password_file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
		close(fd);
		return mt_seterr(e, MT_ECONFIG, "password_file '%s' is readable by group or others; chmod 600 it", path);
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return mt_seterr(e, MT_ECONFIG, "password_file '%s' is empty", path);
	*out = first_line(buf, (size_t)n);
	memset(buf, 0, sizeof buf);
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
	memset(buf, 0, sizeof buf);
	return MT_OK;
}

int mt_password_get(const struct mt_account *a, char **out, struct mt_err *e)
{
	const char *env = getenv("MAILTOOL_PASSWORD");
	if (env && *env) {
		*out = mt_xstrdup(env);
		return MT_OK;
	}
	if (a->password_command)
		return from_command(a->password_command, out, e);
	if (a->password_file)
		return from_file(a->password_file, out, e);
	return from_tty(a, out, e);
}
