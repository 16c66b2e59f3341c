/* transport.c — sockets, OpenSSL and zlib under libetpan's mailstream.
 * libetpan's own TLS (GnuTLS in Debian) does not verify certificates, so TLS
 * is done here and libetpan only ever sees a plain byte stream. */
#include "transport.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Milliseconds we may wait now, honouring idle timeout and overall deadline. */
static int wait_budget(struct mt_conn *c)
{
	double ms = c->idle_ms > 0 ? c->idle_ms : 30000;
	if (c->deadline > 0) {
		double left = c->deadline - mt_now_ms();
		if (left < ms)
			ms = left;
	}
	return ms <= 0 ? 0 : (int)(ms + 0.5);
}

/* A kept session's run (tool/persist.c): the client that asked for it.
 * While it waits on the server the session tells the client it is alive
 * once a second, and the client's hanging up (it was killed) stops the
 * run at its next wait, as a kill stops a run of its own. */
static int g_watch_fd = -1;
static double g_last_beat;

void mt_conn_watch(int fd)
{
	g_watch_fd = fd;
	g_last_beat = 0;
}

/* 0, or -1 when the client is gone */
static int watch_beat(void)
{
	double now = mt_now_ms();
	if (now - g_last_beat < 1000)
		return 0;
	g_last_beat = now;
	return send(g_watch_fd, "H", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 || errno == EAGAIN ? 0 : -1;
}

static int watch_stop(struct mt_conn *c)
{
	snprintf(c->ioerr, sizeof c->ioerr, "the run was stopped (its client went away)");
	c->closed = 1;
	return -1;
}

/* Wait for the socket; 1 ready, 0 timeout, -1 error. */
static int wait_fd(struct mt_conn *c, short events)
{
	struct pollfd p[2] = { { .fd = events == POLLOUT ? c->wfd : c->fd, .events = events },
			       { .fd = g_watch_fd, .events = POLLIN } };
	int np = g_watch_fd >= 0 ? 2 : 1;
	double end = mt_now_ms() + wait_budget(c);   /* the idle timeout counts from here */
	for (int tries = 0; tries < 100000; tries++) {
		double left = end - mt_now_ms();
		int budget = left <= 0 ? 0 : (int)(left + 0.5);
		if (budget <= 0)
			break;
		if (np == 2) {
			if (watch_beat() < 0)
				return watch_stop(c);
			if (budget > 1000)
				budget = 1000;   /* the next sign of life */
		}
		int r = poll(p, (nfds_t)np, budget);
		if (r > 0 && np == 2 && p[1].revents)
			return watch_stop(c);   /* the client hung up (it writes nothing else) */
		if (r > 0)
			return 1;
		if (r == 0) {
			if (np == 2 && end - mt_now_ms() > 0)
				continue;
			break;
		}
		if (errno != EINTR) {
			snprintf(c->ioerr, sizeof c->ioerr, "poll: %s", strerror(errno));
			return -1;
		}
	}
	c->timed_out = 1;
	return 0;
}

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

int mt_conn_tcp(struct mt_conn *c, const char *host, int port, double timeout_ms, struct mt_err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC }, *res, *ai;
	char portstr[16];
	int r, last_errno = 0;

	snprintf(portstr, sizeof portstr, "%d", port);
	c->port = port;
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		if (r == EAI_NONAME || r == EAI_NODATA || r == EAI_FAIL)
			return mt_seterr(e, MT_ENOHOST, "host '%s' not found: %s", host, gai_strerror(r));
		return mt_seterr(e, MT_ETEMP, "cannot resolve '%s': %s", host, gai_strerror(r));
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		set_nonblock(fd);
		c->fd = c->wfd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			double save = c->idle_ms;
			c->idle_ms = timeout_ms;
			int w = wait_fd(c, POLLOUT);
			c->idle_ms = save;
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
				c->loopback = is_loopback(ai->ai_addr);
				if (ai->ai_family == AF_INET6)
					inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, c->peer, sizeof c->peer);
				else
					inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, c->peer, sizeof c->peer);
				c->timed_out = 0;
				freeaddrinfo(res);
				return MT_OK;
			}
			last_errno = w == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		} else {
			last_errno = errno;
		}
		close(fd);
		c->fd = c->wfd = -1;
	}
	freeaddrinfo(res);
	c->timed_out = 0;
	if (last_errno == ECONNREFUSED)
		return mt_seterr(e, MT_ETEMP, "cannot connect to %s port %d: connection refused", host, port);
	if (last_errno == ETIMEDOUT)
		return mt_seterr(e, MT_ETEMP, "cannot connect to %s port %d: timed out after %.0f ms", host, port, timeout_ms);
	return mt_seterr(e, MT_ETEMP, "cannot connect to %s port %d: %s", host, port, strerror(last_errno));
}

/* Where a tunnel command's standard error goes: -1, ours (the terminal of
 * the run that opened the session). A --persist process sets a file of its
 * own: a tunnel it opens outlives the run whose standard error it would
 * otherwise keep open, and `out=$(mailtool ... --tunnel CMD --persist 10m)`
 * waited the whole idle time for that descriptor to close. */
static int tunnel_stderr = -1;

void mt_conn_tunnel_stderr(int fd)
{
	tunnel_stderr = fd;
}

int mt_conn_tunnel(struct mt_conn *c, const char *command, struct mt_err *e)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return mt_seterr(e, MT_EOS, "pipe: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return mt_seterr(e, MT_EOS, "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0) {
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		return mt_seterr(e, MT_EOS, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* the password never reaches the tunnel's environment */
		unsetenv("MAILTOOL_PASSWORD");
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (tunnel_stderr >= 0)
			dup2(tunnel_stderr, 2);
		signal(SIGPIPE, SIG_DFL);
		execle("/bin/sh", "sh", "-c", command, (char *)NULL, environ);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->fd = out[0];
	c->wfd = in[1];
	c->child = pid;
	c->loopback = 1;
	snprintf(c->peer, sizeof c->peer, "tunnel");
	set_nonblock(c->fd);
	set_nonblock(c->wfd);
	return MT_OK;
}

int mt_conn_tunnel_ended(struct mt_conn *c, int wait_ms)
{
	int st;
	if (c->child <= 0)
		return -1;
	for (int i = 0; i <= wait_ms / 10; i++) {
		pid_t p = waitpid(c->child, &st, WNOHANG);
		if (p == c->child) {
			c->child = 0;
			return st;
		}
		if (p < 0)
			return -1;
		if (i < wait_ms / 10)
			usleep(10000);
	}
	return -1;
}

int mt_conn_readable(struct mt_conn *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

int mt_tls_probe(const char *host, int port, double timeout_ms)
{
	struct mt_conn c = { .fd = -1, .wfd = -1 };
	struct mt_err e;
	int ok = 0;
	c.idle_ms = timeout_ms;
	c.deadline = mt_now_ms() + timeout_ms;
	if (mt_conn_tcp(&c, host, port, timeout_ms, &e) != MT_OK)
		return 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	if (ssl && SSL_set_fd(ssl, c.fd) == 1) {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		for (int tries = 0; tries < 1000; tries++) {
			int rc = SSL_connect(ssl);
			if (rc == 1) {
				ok = 1;
				break;
			}
			int err = SSL_get_error(ssl, rc);
			if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ||
			    wait_fd(&c, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) <= 0)
				break;
		}
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(c.fd);
	return ok;
}

int mt_conn_fds(struct mt_conn *c, int rfd, int wfd)
{
	c->fd = rfd;
	c->wfd = wfd;
	c->child = 0;
	c->loopback = 1;
	snprintf(c->peer, sizeof c->peer, "descriptors");
	set_nonblock(c->fd);
	set_nonblock(c->wfd);
	return MT_OK;
}

static void hex(char *out, const unsigned char *md, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* subject, issuer, end of validity and SHA-256 fingerprint of cert */
static void cert_info(X509 *cert, struct mt_tls_info *info)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	X509_digest(cert, EVP_sha256(), md, &mdlen);
	memset(info, 0, sizeof *info);
	strcpy(info->fingerprint, "sha256:");
	hex(info->fingerprint + 7, md, mdlen);
	X509_NAME_oneline(X509_get_subject_name(cert), info->subject, sizeof info->subject);
	X509_NAME_oneline(X509_get_issuer_name(cert), info->issuer, sizeof info->issuer);
	BIO *b = BIO_new(BIO_s_mem());
	if (b) {
		ASN1_TIME_print(b, X509_get0_notAfter(cert));
		int n = BIO_read(b, info->not_after, sizeof info->not_after - 1);
		info->not_after[n > 0 ? n : 0] = '\0';
		BIO_free(b);
	}
}

static void ssl_errors(char *buf, size_t len)
{
	unsigned long err = ERR_get_error();
	if (err)
		ERR_error_string_n(err, buf, len);
	else
		snprintf(buf, len, "handshake failed");
	ERR_clear_error();
}

/* ---- TLS contexts: built once per process, per trust source ------------
 *
 * Building an SSL_CTX costs more than the handshake it serves (OpenSSL 3.0
 * fetches every cipher and digest through its providers), and the system
 * trust store cost most of all: SSL_CTX_set_default_verify_paths() parses
 * the whole bundle (about 140 certificates, 30-45 ms of CPU) for every context.
 * So a context is kept for the process and shared by every session that
 * trusts the same source (batch, persist, both accounts of a move); --users
 * builds it before its children fork (mt_tls_prepare), and they inherit it.
 *
 * The system store is what SSL_CTX_set_default_verify_paths() sets up (the
 * same three lookups in the same order: the file, the hashed directories,
 * the directory as an OSSL_STORE URI; SSL_CERT_FILE and SSL_CERT_DIR read by
 * OpenSSL itself), with one difference: the default bundle is not parsed
 * when OpenSSL's default directory, hashed, is among the directories.
 * update-ca-certificates builds both from the same certificates, so the
 * directory's lazy lookup (the issuer's hash, one small file) finds what the
 * bundle would have. Another file in SSL_CERT_FILE, or a default directory
 * without hash links (Fedora's, a broken one), gets the file loaded as before. */

struct tls_ctx_slot {
	char *key;              /* owned: which trust source, see ctx_key() */
	char *stamp;            /* owned: the trust files' state when built */
	SSL_CTX *ctx;           /* one reference, owned */
};
static struct tls_ctx_slot *tls_ctxs;
static size_t n_tls_ctxs;

/* The environment as OpenSSL reads it (not at all in a set-uid program). */
static const char *cert_env(const char *name)
{
	return secure_getenv(name);
}

/* Append one path's identity and times to a stamp: a file replaced (the
 * bundle is renamed into place), a directory whose links changed or a
 * ca_file edited makes a different stamp, and the context is built anew. */
static void stamp_path(char **stamp, const char *path)
{
	struct stat st;
	char *old = *stamp, *add;
	if (stat(path, &st) == 0)
		add = mt_xasprintf("%s|%s:%llu:%llu:%lld:%lld.%09ld:%lld.%09ld", old, path,
				   (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)st.st_size,
				   (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				   (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	else
		add = mt_xasprintf("%s|%s:-", old, path);
	free(old);
	*stamp = add;
}

/* The state of every file and directory the trust source reads; owned by caller. */
static char *ctx_stamp(const char *ca_file, int pinned)
{
	char *stamp = mt_xstrdup("");
	if (ca_file) {
		stamp_path(&stamp, ca_file);
		return stamp;
	}
	if (pinned)
		return stamp;
	const char *file = cert_env(X509_get_default_cert_file_env());
	const char *dirs = cert_env(X509_get_default_cert_dir_env());
	stamp_path(&stamp, file ? file : X509_get_default_cert_file());
	char *list = mt_xstrdup(dirs ? dirs : X509_get_default_cert_dir()), *save = NULL;
	for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
		stamp_path(&stamp, d);
	free(list);
	return stamp;
}

/* "file\nPATH", "pin", or "system\n" and the two variables (set or not): a
 * persist process runs each request under its client's environment. */
static char *ctx_key(const char *ca_file, int pinned)
{
	if (ca_file)
		return mt_xasprintf("file\n%s", ca_file);
	if (pinned)
		return mt_xstrdup("pin");
	const char *file = cert_env(X509_get_default_cert_file_env());
	const char *dirs = cert_env(X509_get_default_cert_dir_env());
	return mt_xasprintf("system\n%c%s\n%c%s", file ? '+' : '-', file ? file : "", dirs ? '+' : '-', dirs ? dirs : "");
}

/* A name "%08lx.N": what openssl rehash (run by update-ca-certificates) makes. */
static int hash_link_name(const char *n)
{
	size_t i;
	for (i = 0; i < 8; i++)
		if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return 0;
	if (n[i++] != '.' || n[i] < '0' || n[i] > '9')
		return 0;
	while (n[i] >= '0' && n[i] <= '9')
		i++;
	return n[i] == '\0';
}

/* Both paths name one file or directory (symbolic links followed). */
static int same_inode(const char *a, const char *b, int want_dir)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
	       !S_ISDIR(sa.st_mode) == !want_dir;
}

/* May the bundle go unparsed? Only OpenSSL's default bundle (named by
 * SSL_CERT_FILE or not), and only when OpenSSL's default directory is among
 * the lookup directories (with directories of one's own in SSL_CERT_DIR,
 * OpenSSL trusts the default bundle beside them, not the default directory)
 * and holds hash links at all. */
static int bundle_covered_by_dir(void)
{
	const char *file = cert_env(X509_get_default_cert_file_env());
	const char *dirs = cert_env(X509_get_default_cert_dir_env());
	const char *def = X509_get_default_cert_dir();
	int listed = dirs == NULL, hashed = 0;

	if (file && !same_inode(file, X509_get_default_cert_file(), 0))
		return 0;
	if (dirs) {
		char *list = mt_xstrdup(dirs), *save = NULL;
		for (char *d = strtok_r(list, ":", &save); d && !listed; d = strtok_r(NULL, ":", &save))
			listed = same_inode(d, def, 1);
		free(list);
	}
	if (!listed)
		return 0;
	DIR *dir = opendir(def);
	if (dir == NULL)
		return 0;
	const struct dirent *de;
	for (int n = 0; !hashed && n < 100000 && (de = readdir(dir)) != NULL; n++)
		hashed = hash_link_name(de->d_name);
	closedir(dir);
	return hashed;
}

/* SSL_CTX_set_default_verify_paths(), but see above for the bundle. */
static int load_system_store(SSL_CTX *ctx)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu;

	if (!bundle_covered_by_dir()) {
		if ((lu = X509_STORE_add_lookup(store, X509_LOOKUP_file())) == NULL)
			return -1;
		X509_LOOKUP_load_file(lu, NULL, X509_FILETYPE_DEFAULT);
	}
	if ((lu = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir())) == NULL)
		return -1;
	X509_LOOKUP_add_dir(lu, NULL, X509_FILETYPE_DEFAULT);
	if ((lu = X509_STORE_add_lookup(store, X509_LOOKUP_store())) == NULL)
		return -1;
	X509_LOOKUP_add_store(lu, NULL);
	/* a missing file or directory is no error here: a store that knows no CA refuses every certificate */
	ERR_clear_error();
	return 0;
}

static int new_ctx(const char *ca_file, int pinned, SSL_CTX **out, struct mt_err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	*out = NULL;
	if (ctx == NULL)
		return mt_seterr(e, MT_ESOFT, "cannot create TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A ca_file is loaded even under a pin (a bad one is an error, as it
	 * always was); a pin without one needs no store at all: the fingerprint
	 * decides, and an empty store costs nothing to search. */
	if (ca_file) {
		/* a FIFO named there would hang the load: regular files only */
		struct stat st;
		if (stat(ca_file, &st) < 0 || !S_ISREG(st.st_mode)) {
			SSL_CTX_free(ctx);
			return mt_seterr(e, MT_ECONFIG, "cannot load CA file '%s': not a regular file", ca_file);
		}
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return mt_seterr(e, MT_ECONFIG, "cannot load CA file '%s'", ca_file);
		}
	} else if (!pinned && load_system_store(ctx) != 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return mt_seterr(e, MT_ECONFIG, "cannot load the system trust store");
	}
	*out = ctx;
	return MT_OK;
}

/* A reference to the process's context for this trust source, built when
 * there is none yet or when its files changed since (a CA added or removed
 * with update-ca-certificates counts from the next session on, as when
 * every session built its own). */
static int tls_ctx_get(const char *ca_file, int pinned, SSL_CTX **out, struct mt_err *e)
{
	char *key = ctx_key(ca_file, pinned), *stamp = ctx_stamp(ca_file, pinned);
	struct tls_ctx_slot *slot = NULL;
	int r;

	*out = NULL;
	for (size_t i = 0; i < n_tls_ctxs; i++)
		if (strcmp(tls_ctxs[i].key, key) == 0)
			slot = &tls_ctxs[i];
	if (slot && strcmp(slot->stamp, stamp) == 0) {
		free(key);
		free(stamp);
		SSL_CTX_up_ref(slot->ctx);
		*out = slot->ctx;
		return MT_OK;
	}
	SSL_CTX *ctx;
	if ((r = new_ctx(ca_file, pinned, &ctx, e)) != MT_OK) {
		free(key);
		free(stamp);
		return r;
	}
	if (slot == NULL) {
		struct tls_ctx_slot *v = mt_xrealloc(tls_ctxs, sizeof *v * (n_tls_ctxs + 1));
		tls_ctxs = v;
		slot = &tls_ctxs[n_tls_ctxs++];
		slot->key = key;
	} else {
		/* sessions still using the old one keep it alive until they close */
		SSL_CTX_free(slot->ctx);
		free(slot->stamp);
		free(key);
	}
	slot->stamp = stamp;
	slot->ctx = ctx;
	SSL_CTX_up_ref(ctx);
	*out = ctx;
	return MT_OK;
}

void mt_tls_prepare(const char *ca_file, const char *fingerprint)
{
	SSL_CTX *ctx;
	struct mt_err e;
	/* best effort: a context that cannot be built is the sessions' error to report */
	if (tls_ctx_get(ca_file, fingerprint != NULL, &ctx, &e) == MT_OK)
		SSL_CTX_free(ctx);   /* the process keeps its own reference */
}

int mt_conn_tls(struct mt_conn *c, const char *host, const char *ca_file, const char *fingerprint,
		struct mt_tls_info *info, struct mt_err *e)
{
	unsigned char addr[16];
	int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	int r = tls_ctx_get(ca_file, fingerprint != NULL, &c->ctx, e);

	if (r != MT_OK)
		return r;
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL)
		return mt_seterr(e, MT_ESOFT, "cannot create TLS session");
	SSL_set_fd(c->ssl, c->fd);
	if (!is_ip)
		SSL_set_tlsext_host_name(c->ssl, host);
	/* With a pinned fingerprint the pin decides; otherwise chain and name must verify. */
	if (fingerprint == NULL) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(vp, host);
		else
			X509_VERIFY_PARAM_set1_host(vp, host, 0);
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}

	for (int tries = 0; tries < 10000; tries++) {
		int rc = SSL_connect(c->ssl);
		if (rc == 1)
			break;
		int err = SSL_get_error(c->ssl, rc);
		int w;
		if (err == SSL_ERROR_WANT_READ)
			w = wait_fd(c, POLLIN);
		else if (err == SSL_ERROR_WANT_WRITE)
			w = wait_fd(c, POLLOUT);
		else {
			long vr = SSL_get_verify_result(c->ssl);
			char buf[200];
			if (vr != X509_V_OK) {
				/* the certificate refused, and the line that would pin it:
				 * the chain is kept though the handshake stopped */
				STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
				X509 *leaf = chain && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
				ERR_clear_error();
				if (leaf == NULL)
					return mt_seterr(e, MT_EUNAVAIL, "TLS certificate of '%s' not trusted: %s", host,
							 X509_verify_cert_error_string(vr));
				cert_info(leaf, info);
				/* names cut so that the whole line fits the message */
				return mt_seterr(e, MT_EUNAVAIL, "TLS certificate of '%.60s' not trusted: %s; to trust this "
						 "one certificate, after checking it by other means: fingerprint = \"%s\" "
						 "in the account, or --fingerprint %s; it is subject %.60s, issuer %.60s, "
						 "valid until %s", host, X509_verify_cert_error_string(vr),
						 info->fingerprint, info->fingerprint, info->subject, info->issuer,
						 info->not_after);
			}
			/* a plain IMAP greeting read as a TLS record: the port speaks cleartext */
			int plain = ERR_GET_REASON(ERR_peek_error()) == SSL_R_WRONG_VERSION_NUMBER;
			ssl_errors(buf, sizeof buf);
			if (plain)
				return mt_seterr(e, MT_EUNAVAIL, "TLS handshake with '%s' failed: port %d speaks plain IMAP, "
						 "not TLS: use --starttls on it, or implicit TLS on port 993 (%s)",
						 host, c->port, buf);
			return mt_seterr(e, MT_EUNAVAIL, "TLS handshake with '%s' failed: %s", host, buf);
		}
		if (w <= 0)
			return mt_seterr(e, MT_ETEMP, "TLS handshake with '%s' timed out", host);
	}

	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	if (cert == NULL)
		return mt_seterr(e, MT_EUNAVAIL, "TLS: '%s' presented no certificate", host);
	cert_info(cert, info);
	X509_free(cert);
	snprintf(info->protocol, sizeof info->protocol, "%s", SSL_get_version(c->ssl));
	snprintf(info->cipher, sizeof info->cipher, "%s", SSL_get_cipher_name(c->ssl));
	if (fingerprint) {
		if (strcasecmp(fingerprint, info->fingerprint) != 0)
			return mt_seterr(e, MT_EUNAVAIL, "TLS certificate of '%s' does not match the pinned fingerprint (server has %s)",
					 host, info->fingerprint);
		info->pinned = 1;
	}
	return MT_OK;
}

int mt_conn_pending(struct mt_conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0;
}

int mt_conn_start_compress(struct mt_conn *c, struct mt_err *e)
{
	memset(&c->zin, 0, sizeof c->zin);
	memset(&c->zout, 0, sizeof c->zout);
	if (inflateInit2(&c->zin, -15) != Z_OK)
		return mt_seterr(e, MT_ESOFT, "zlib inflateInit failed");
	if (deflateInit2(&c->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&c->zin);
		return mt_seterr(e, MT_ESOFT, "zlib deflateInit failed");
	}
	c->compress = 1;
	return MT_OK;
}

static ssize_t raw_read(struct mt_conn *c, void *buf, size_t len)
{
	if (c->last_was_write) {
		c->round_trips++;
		c->last_was_write = 0;
	}
	for (int tries = 0; tries < 100000; tries++) {
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
			if (r > 0) {
				c->bytes_in += (uint64_t)r;
				return r;
			}
			int err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_ZERO_RETURN) {
				c->closed = 1;
				return 0;
			}
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				if (wait_fd(c, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) <= 0)
					return -1;
				continue;
			}
			if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
				/* EOF without close_notify: treat as a lost connection */
				c->closed = 1;
				return 0;
			}
			ssl_errors(c->ioerr, sizeof c->ioerr);
			return -1;
		}
		n = read(c->fd, buf, len);
		if (n > 0) {
			c->bytes_in += (uint64_t)n;
			return n;
		}
		if (n == 0) {
			c->closed = 1;
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if (wait_fd(c, POLLIN) <= 0)
				return -1;
			continue;
		}
		snprintf(c->ioerr, sizeof c->ioerr, "read: %s", strerror(errno));
		return -1;
	}
	return -1;
}

/* --max-rate: the first write of a turnaround waits its turn, and books
 * one interval per command it carries (a pipelined batch books all of
 * them), so a session never sends more than the rate, on average or in a
 * burst after a pause. Never past the run's deadline. */
static int rate_wait(struct mt_conn *c)
{
	double now = mt_now_ms();
	double until = c->rate_next;
	if (c->deadline > 0 && until > c->deadline)
		until = c->deadline;
	while (now < until) {
		double left = until - now;
		int ms = left > 1000 ? 1000 : (int)left + 1;
		if (g_watch_fd >= 0) {
			/* a kept session's client: alive, or gone and nothing more is sent */
			struct pollfd p = { .fd = g_watch_fd, .events = POLLIN };
			if (watch_beat() < 0 || poll(&p, 1, ms) > 0)
				return watch_stop(c);
		} else {
			usleep((useconds_t)ms * 1000);
		}
		now = mt_now_ms();
	}
	double base = c->rate_next > now ? c->rate_next : now;
	c->rate_next = base + c->rate_ms * (c->rate_charge > 0 ? c->rate_charge : 1);
	c->rate_charge = 0;
	return 0;
}

static ssize_t raw_write_all(struct mt_conn *c, const unsigned char *buf, size_t len)
{
	size_t done = 0;
	if (!c->last_was_write && c->rate_ms > 0 && rate_wait(c) < 0)
		return -1;
	if (!c->last_was_write && g_watch_fd >= 0) {
		/* a kept session sends no new command for a client that is gone,
		 * as a run of its own that was killed would not */
		struct pollfd p = { .fd = g_watch_fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0)
			return watch_stop(c);
	}
	c->last_was_write = 1;
	for (int tries = 0; done < len && tries < 100000; tries++) {
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, buf + done, (int)(len - done > 1 << 30 ? 1 << 30 : len - done));
			if (r > 0) {
				done += (size_t)r;
				c->bytes_out += (uint64_t)r;
				continue;
			}
			int err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				if (wait_fd(c, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) <= 0)
					return -1;
				continue;
			}
			ssl_errors(c->ioerr, sizeof c->ioerr);
			c->closed = 1;
			return -1;
		}
		ssize_t n = write(c->wfd, buf + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			c->bytes_out += (uint64_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_fd(c, POLLOUT) <= 0)
				return -1;
			continue;
		}
		snprintf(c->ioerr, sizeof c->ioerr, "write: %s", strerror(errno));
		c->closed = errno == EPIPE || errno == ECONNRESET;
		return -1;
	}
	return done == len ? (ssize_t)len : -1;
}

ssize_t mt_conn_read(struct mt_conn *c, void *buf, size_t len)
{
	if (!c->compress)
		return raw_read(c, buf, len);
	for (int tries = 0; tries < 100000; tries++) {
		if (c->zin.avail_in > 0 || c->zin_pending) {
			c->zin.next_out = buf;
			c->zin.avail_out = (uInt)len;
			int r = inflate(&c->zin, Z_SYNC_FLUSH);
			size_t got = len - c->zin.avail_out;
			c->zin_pending = c->zin.avail_out == 0;
			if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) {
				snprintf(c->ioerr, sizeof c->ioerr, "COMPRESS: bad deflate data from server");
				return -1;
			}
			if (got > 0)
				return (ssize_t)got;
		}
		ssize_t n = raw_read(c, c->zbuf, sizeof c->zbuf);
		if (n <= 0)
			return n;
		c->zin.next_in = c->zbuf;
		c->zin.avail_in = (uInt)n;
	}
	return -1;
}

ssize_t mt_conn_write(struct mt_conn *c, const void *buf, size_t len)
{
	if (!c->compress)
		return raw_write_all(c, buf, len);
	unsigned char out[16384];
	c->zout.next_in = (unsigned char *)(uintptr_t)buf;
	c->zout.avail_in = (uInt)len;
	do {
		c->zout.next_out = out;
		c->zout.avail_out = sizeof out;
		if (deflate(&c->zout, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
			return -1;
		size_t n = sizeof out - c->zout.avail_out;
		if (n && raw_write_all(c, out, n) < 0)
			return -1;
	} while (c->zout.avail_out == 0);
	return (ssize_t)len;
}

void mt_conn_close(struct mt_conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->ctx) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
	if (c->compress) {
		inflateEnd(&c->zin);
		deflateEnd(&c->zout);
		c->compress = 0;
	}
	if (c->wfd >= 0 && c->wfd != c->fd)
		close(c->wfd);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = c->wfd = -1;
	if (c->child > 0) {
		/* give the tunnel a moment to exit after EOF, then insist */
		int st;
		for (int i = 0; i < 50; i++) {
			if (waitpid(c->child, &st, WNOHANG) != 0)
				goto reaped;
			usleep(10000);
		}
		kill(c->child, SIGTERM);
		for (int i = 0; i < 50; i++) {
			if (waitpid(c->child, &st, WNOHANG) != 0)
				goto reaped;
			usleep(10000);
		}
		kill(c->child, SIGKILL);
		waitpid(c->child, &st, 0);
reaped:
		c->child = 0;
	}
}
