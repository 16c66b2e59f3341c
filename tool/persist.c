/* persist.c — session reuse across invocations, like ssh's ControlPersist:
 * with --persist DURATION (or persist = "10m"), the first run leaves a small
 * background process that holds the logged-in session behind a Unix socket
 * (0600, in a 0700 directory of the user's); later runs of the same account
 * hand it their arguments and their stdin/stdout/stderr (SCM_RIGHTS) and get
 * the exit status back. It exits after DURATION idle, or on `persist --stop`
 * (cmd/persist.c, the applet that lists and stops these processes). */
#include "../tool/tool.h"
#include "../lib/transport.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXREQ 65536
/* How long a run waits for a kept session to take it before it logs in
 * itself: the process answers at once unless it is serving another run. */
#define READY_MS 2000

static int g_in_daemon;

/* One socket per session key: account, user, server, --as, trust (CA
 * file, pin), authentication; the process checks the whole key again
 * before it lends a session (its cache, tool/run.c). */
static char *socket_path(const struct mt_ctx *ctx, const char *dir)
{
	/* "4|": the process says it is free before the request is sent; one of
	 * an older build (which would not) has another socket */
	char *acct = mt_session_key(&ctx->acct), *key = mt_xasprintf("4|%s", acct);
	char *p = mt_xasprintf("%s/persist-%08x.sock", dir, mt_fnv1a32(key));
	free(acct);
	free(key);
	return p;
}

/* The log of a tunnel's standard error beside socket "….sock": "….log". */
char *mt_persist_log_path(const char *sock)
{
	size_t n = strlen(sock);
	return mt_xasprintf("%.*s.log", (int)(n > 5 ? n - 5 : n), sock);
}

/* Connected, or -1 with errno: ENOENT or ECONNREFUSED when nobody is
 * there (a stale socket), EAGAIN when the process's queue is full (busy).
 * Never waits: a blocking connect to a full queue would. */
static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || fcntl(fd, F_SETFL, 0) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* The process sends one byte when it takes a connection: 1 once it did,
 * 0 when it did not within ms (it is serving another run), -1 when it
 * closed. Nothing is sent before: a run that gave up has asked nothing,
 * so nothing is done twice. */
static int wait_ready(int fd, int ms)
{
	double end = mt_now_ms() + ms;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = end - mt_now_ms();
		if (left <= 0)
			return 0;
		int r = poll(&p, 1, (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		char c;
		ssize_t n = r > 0 ? read(fd, &c, 1) : -1;
		if (n < 0 && errno == EINTR)
			continue;
		return n == 1 && c == 'R' ? 1 : -1;
	}
}

/* Connected to a process that took us, or -1: *busy says whether one is
 * there but serving another run. */
static int connect_ready(const char *path, int *busy)
{
	int fd = connect_to(path);
	*busy = fd < 0 && errno == EAGAIN;
	if (fd < 0)
		return -1;
	int w = wait_ready(fd, READY_MS);
	if (w != 1) {
		close(fd);
		*busy = w == 0;
		return -1;
	}
	return fd;
}

/* Send a request: "KIND\0field\0field..." with optional fds. */
static int send_req(int fd, const char *buf, size_t len, const int *fds, int nfds)
{
	uint32_t n = (uint32_t)len;
	struct iovec iov[2] = { { &n, sizeof n }, { (void *)buf, len } };
	union { char b[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	if (nfds) {
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)(sizeof n + len) ? 0 : -1;
}

static ssize_t read_full(int fd, void *buf, size_t len);

/* The run's status: 'H' bytes while it goes on (once a second while the
 * session waits on the server), then 'D' and the status. A session that
 * says nothing for longer than the run's own wait on a server (stopped,
 * wedged) is given up: the run fails as a lost connection does (75) and
 * the session, finding us gone, stops the run at its next wait. */
static int read_status(int fd, double quiet_ms, int32_t *rc)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, (int)quiet_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return 0;
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			return -1;
		if (c == 'D')
			return read_full(fd, rc, sizeof *rc) == (ssize_t)sizeof *rc ? 1 : -1;
		if (c != 'H')
			return -1;
	}
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ---- the background process ------------------------------------------- */

struct persisted {
	const struct mt_runner *run;   /* how to run an applet here (tool/run.c) */
	char *path, *desc;
	double idle_ms;
	double last;           /* mt_now_ms() of the last request: idle time in ms, not whole seconds */
};

static void serve_run(struct persisted *d, int cfd, char *buf, size_t len, int *fds)
{
	/* buf: "RUN\0cwd\0ARGC\0applet\0arg\0...\0NAME=VALUE\0...": the run's
	 * arguments, then the client's whole environment, which the applet sees
	 * instead of ours (XDG_STATE_HOME decides where filter --new keeps its
	 * state, TZ the dates of archive folders: nothing may change for being
	 * run here) */
	char *argv[258], **envp = mt_xmalloc(sizeof *envp);
	int argc = 0, want = -1, nenv = 0;
	for (char *p = buf + 4; p < buf + len; p += strlen(p) + 1) {
		if (want < 0) {
			if (argc == 1) {   /* after the directory: the count of what follows */
				char *end;
				long k = strtol(p, &end, 10);
				if (*end != '\0' || k < 0 || k > 255)
					break;
				want = (int)k + 2;
				continue;
			}
			argv[argc++] = p;
		} else if (argc < want) {
			argv[argc++] = p;
		} else {
			envp = mt_xrealloc(envp, sizeof *envp * (size_t)(nenv + 2));
			envp[nenv++] = p;
		}
	}
	argv[argc] = NULL;
	envp[nenv] = NULL;
	char **our_env = environ;
	if (want >= 2 && argc == want) {
		environ = envp;
		tzset();
		/* the client's password, for this run only: taken out of the request
		 * (wiped there) and forgotten when the run is over */
		mt_password_take_env();
	}
	int32_t rc = MT_EUSAGE;
	const struct mt_applet *ap = argc >= 2 ? mt_applet_find(argv[1]) : NULL;
	/* close-on-exec: what the run starts (a token or password command, a
	 * tunnel) gets its 0, 1 and 2, not the process's own kept aside */
	int saved[3] = { fcntl(0, F_DUPFD_CLOEXEC, 3), fcntl(1, F_DUPFD_CLOEXEC, 3), fcntl(2, F_DUPFD_CLOEXEC, 3) };
	fflush(stdout);
	fflush(stderr);
	dup2(fds[0], 0);
	dup2(fds[1], 1);
	dup2(fds[2], 2);
	/* the client is told the run goes on, and its going away stops it */
	mt_conn_watch(cfd);
	if (ap && argc == want && chdir(argv[0]) == 0)
		rc = d->run->applet(ap, argc - 2, argv + 2);
	mt_conn_watch(-1);
	fflush(stdout);
	fflush(stderr);
	mt_password_forget();
	environ = our_env;   /* (a setenv during the run made its own copy: a leak once per run at most) */
	tzset();
	free(envp);
	for (int i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
		close(fds[i]);
	}
	if (chdir("/") != 0) {
		/* nothing relies on the directory between requests */
	}
	char done[1 + sizeof rc] = { 'D' };
	memcpy(done + 1, &rc, sizeof rc);
	if (write(cfd, done, sizeof done) != (ssize_t)sizeof done) {
		/* the client went away; nothing to tell */
	}
	(void)d;
}

static void daemon_loop(struct persisted *d, int lfd)
{
	d->last = mt_now_ms();
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		double left = d->idle_ms - (mt_now_ms() - d->last);
		if (left <= 0)
			break;
		int pr = poll(&p, 1, (int)(left > 60000 ? 60000 : left + 1));
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		/* only the user who owns us; another local user is turned away */
		struct ucred cr;
		socklen_t cl = sizeof cr;
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != getuid() ||
		    send(cfd, "R", 1, MSG_NOSIGNAL) != 1) {   /* "ready": the client sends only after this */
			close(cfd);
			continue;
		}
		uint32_t n;
		char *buf = NULL;
		int fds[3] = { -1, -1, -1 }, nfds = 0;
		union { char b[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } u;
		struct iovec iov = { &n, sizeof n };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
		if (recvmsg(cfd, &m, MSG_CMSG_CLOEXEC) != sizeof n || n == 0 || n > MAXREQ) {
			close(cfd);
			continue;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				if (nfds > 3)
					nfds = 3;
				memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
			}
		buf = mt_xmalloc(n + 1);
		if (read_full(cfd, buf, n) < 0) {
			free(buf);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			close(cfd);
			continue;
		}
		buf[n] = '\0';
		d->last = mt_now_ms();
		if (strcmp(buf, "RUN") == 0 && nfds == 3) {
			serve_run(d, cfd, buf, n, fds);
			explicit_bzero(buf, n);   /* it carried the client's environment */
		} else {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			if (strcmp(buf, "STATUS") == 0) {
				char line[600];
				int len = snprintf(line, sizeof line, "%s; idle exit in %.0f s\n", d->desc,
						   (d->idle_ms - (mt_now_ms() - d->last)) / 1000.0);
				if (write(cfd, line, (size_t)len) < 0) { /* ignore */ }
			} else if (strcmp(buf, "STOP") == 0) {
				if (write(cfd, "stopped\n", 8) < 0) { /* ignore */ }
				free(buf);
				close(cfd);
				break;
			}
		}
		free(buf);
		close(cfd);
	}
}

/* Fork the background process; it listens on path and serves until idle. */
static int spawn_daemon(struct mt_ctx *ctx, const char *path, double idle_s, const struct mt_runner *run)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		int st;
		waitpid(pid, &st, 0);   /* the intermediate child exits at once */
		return 0;
	}
	/* double fork: the daemon is nobody's child and has no terminal */
	if (fork() != 0)
		_exit(0);
	setsid();
	/* it holds no password between runs: each run brings its own */
	mt_password_forget();
	signal(SIGHUP, SIG_IGN);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	umask(077);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 16) < 0)
		_exit(0);   /* another run was quicker: its daemon serves */
	chmod(path, 0600);
	g_in_daemon = 1;
	/* a tunnel this process opens writes its standard error to a file beside
	 * the socket, never to the descriptors of the run that opened it */
	char *logpath = mt_persist_log_path(path);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* (never fd 2 as the fallback: during a run that is the client's) */
	mt_conn_tunnel_stderr(logfd >= 0 ? logfd : open("/dev/null", O_WRONLY | O_CLOEXEC));
	struct persisted d = { .path = (char *)path, .idle_ms = idle_s * 1000.0 };
	d.desc = mt_xasprintf("%s: %s%s%s%s%s (%s), pid %ld", ctx->acct.name,
			      ctx->acct.user ? ctx->acct.user : "", ctx->acct.as_user ? " as " : "",
			      ctx->acct.as_user ? ctx->acct.as_user : "", ctx->acct.tunnel ? "" : "@",
			      ctx->acct.tunnel ? "" : ctx->acct.host ? ctx->acct.host : "", path, (long)getpid());
	d.run = run;
	run->cache(1);
	daemon_loop(&d, lfd);
	unlink(logpath);   /* first: once the socket is gone, a new process may open the same log */
	unlink(path);
	free(logpath);
	close(lfd);
	run->cache(0);
	free(d.desc);
	_exit(0);
}

/* The client side, called by the dispatcher for every session applet
 * (but --no-persist): a live process of the same session key runs it; with
 * idle_s > 0 (--persist, the account's persist) one is started when there
 * is none. Returns the applet's exit status, or -1 when the work should be
 * done here after all: no process (or a dead one's socket), or a busy one. */
int mt_persist_run(struct mt_ctx *ctx, double idle_s, int argc, char **argv, const struct mt_runner *run)
{
	char cwd[4096], *dir, *path;
	int fd, busy;

	if (g_in_daemon || getcwd(cwd, sizeof cwd) == NULL)
		return -1;
	if ((dir = idle_s > 0 ? mt_runtime_dir(&ctx->err) : mt_runtime_dir_found()) == NULL) {
		if (idle_s > 0)   /* asked for, and not to be had: said, and the run goes on here */
			mt_warn(ctx, "--persist: %s; no session kept", ctx->err.msg);
		return -1;
	}
	path = socket_path(ctx, dir);
	free(dir);
	fd = connect_ready(path, &busy);
	if (fd < 0 && !busy && idle_s > 0) {
		/* none there, or a stale socket of a process that died */
		unlink(path);
		fflush(stdout);
		fflush(stderr);
		if (spawn_daemon(ctx, path, idle_s, run) == 0)
			for (int i = 0; i < 100 && (fd = connect_ready(path, &busy)) < 0 && !busy; i++)
				usleep(20000);
	}
	if (fd < 0) {
		free(path);
		return -1;
	}
	if (argc > 255) {   /* more than the process takes: do the work here */
		close(fd);
		free(path);
		return -1;
	}
	char count[16];
	snprintf(count, sizeof count, "%d", argc);
	size_t len = 4 + strlen(cwd) + 1 + strlen(count) + 1 + strlen(ctx->ap->name) + 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	for (char **v = environ; v && *v; v++)
		len += strlen(*v) + 1;
	/* MAILTOOL_PASSWORD left our environment when we started: the process
	 * that runs for us gets it back for this run only (it may have to log
	 * in again), over the socket only our user can connect to */
	const char *pw = mt_password_env();
	if (pw)
		len += strlen("MAILTOOL_PASSWORD=") + strlen(pw) + 1;
	if (len > MAXREQ) {
		close(fd);
		free(path);
		return -1;
	}
	char *buf = mt_xmalloc(len), *o = buf;
	memcpy(o, "RUN", 4);
	o += 4;
	o = stpcpy(o, cwd) + 1;
	o = stpcpy(o, count) + 1;
	o = stpcpy(o, ctx->ap->name) + 1;
	for (int i = 0; i < argc; i++)
		o = stpcpy(o, argv[i]) + 1;
	for (char **v = environ; v && *v; v++)
		o = stpcpy(o, *v) + 1;
	if (pw)
		o = stpcpy(stpcpy(o, "MAILTOOL_PASSWORD="), pw) + 1;
	int fds[3] = { 0, 1, 2 };
	fflush(stdout);
	int32_t rc = -1;
	int sent = send_req(fd, buf, len, fds, 3);
	explicit_bzero(buf, len);
	/* the wait on a server the run allows, and some slack for the session's own work */
	double quiet = (ctx->acct.idle_timeout > 0 ? ctx->acct.idle_timeout : 30) * 1000.0 + 5000;
	int got = sent == 0 ? read_status(fd, quiet, &rc) : 1;   /* not sent: rc -1, run here */
	if (got < 0)
		rc = mt_fail(ctx, MT_ETEMP, "the persisted session process went away during the run");
	else if (got == 0)
		rc = mt_fail(ctx, MT_ETEMP, "the persisted session said nothing for %.0f s; given up (the run it was "
			     "doing for us stops)", quiet / 1000);
	free(buf);
	close(fd);
	free(path);
	return rc;
}

int mt_persist_ask(const char *path, const char *what, char *reply, size_t len)
{
	int busy, fd = connect_ready(path, &busy);
	if (fd < 0)
		return busy ? 1 : -1;
	int r = send_req(fd, what, strlen(what), NULL, 0);
	ssize_t n = r == 0 ? read(fd, reply, len - 1) : -1;
	close(fd);
	if (n < 0)
		return -1;
	reply[n] = '\0';
	return 0;
}
