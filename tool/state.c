/* state.c — what the command-line layer keeps about an account between
 * runs and processes: the one key that names an account (the session cache,
 * persist sockets, filter's --new state, compact's lock), and the private
 * directories such things live in (XDG state and runtime directories). */
#include "tool.h"

#include <errno.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/file.h>
#include <sys/random.h>
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

/* A file as the key names it: its real path and what it holds now (size,
 * change time), so a CA file edited or replaced under the same name is
 * another trust; the name as given when it cannot be looked at. */
static char *file_id(const char *path)
{
	struct stat st;
	char *real = path ? realpath(path, NULL) : NULL;
	char *id;
	if (real && stat(real, &st) == 0)
		id = mt_xasprintf("%s:%llu:%lld.%09ld", real, (unsigned long long)st.st_size, (long long)st.st_ctim.tv_sec,
				  st.st_ctim.tv_nsec);
	else
		id = mt_xstrdup(path ? path : "");
	free(real);
	return id;
}

/* What the run's password is, where that is cheap to know: a kept session
 * opened with another password (MAILTOOL_PASSWORD, or what password_file
 * holds now) serves no run, so a changed or wrong password logs in and is
 * refused as it should be. A digest keyed by the account, never the
 * password; password_command (it may ask a person) and the prompt are
 * named by their source alone. */
static char *password_id(const struct mt_account *a)
{
	const char *pw = mt_password_env();
	char buf[4096];
	size_t n = 0;
	if (pw == NULL && a->password_file) {
		int fd = open(a->password_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			ssize_t r = read(fd, buf, sizeof buf - 1);
			n = r > 0 ? (size_t)r : 0;
		}
		if (fd >= 0)
			close(fd);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		pw = buf;
	}
	if (pw == NULL)
		return mt_xstrdup(a->password_command ? "command" : "prompt");
	unsigned char md[32];
	unsigned int mdlen = 0;
	const char *salt = a->user ? a->user : "";
	HMAC(EVP_sha256(), salt, (int)strlen(salt), (const unsigned char *)pw, strlen(pw), md, &mdlen);
	explicit_bzero(buf, sizeof buf);
	char *hex = mt_xmalloc(2 * mdlen + 1);
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return hex;
}

char *mt_session_key(const struct mt_account *a)
{
	char *acct = mt_account_key(a), *ca = file_id(a->ca_file);
	/* without a CA file the system's store decides, as the environment says */
	const char *cf = a->ca_file ? "" : secure_getenv("SSL_CERT_FILE"),
		   *cd = a->ca_file ? "" : secure_getenv("SSL_CERT_DIR");
	/* a token is named by its source, as password_command is: the token
	 * is fetched only to log in, and a kept session the server accepted
	 * serves the runs with the same token_command and user (--as) */
	char *pwd = mt_account_oauth(a) ? mt_xasprintf("token %s", a->token_command ? a->token_command : "")
					: password_id(a);
	char *k = mt_xasprintf("%s|uid %lu|auth %d|imp %d|%s|ca %s|pin %s|certs %s|%s|plain %d|pw %s|%s|%s|z %d", acct,
			       (unsigned long)getuid(), (int)a->auth, (int)a->impersonation,
			       a->master_separator ? a->master_separator : "", ca, a->fingerprint ? a->fingerprint : "",
			       cf ? cf : "", cd ? cd : "", a->allow_plaintext_auth,
			       a->password_command ? a->password_command : "", a->password_file ? a->password_file : "",
			       pwd, a->compress);
	free(pwd);
	free(acct);
	free(ca);
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

/* $XDG_STATE_HOME/mailtool or ~/.local/state/mailtool; owned */
static char *state_path(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (x && *x == '/')
		return mt_xasprintf("%s/mailtool", x);
	return mt_xasprintf("%s/.local/state/mailtool", home && *home ? home : ".");
}

char *mt_state_dir(struct mt_err *e)
{
	char *dir = state_path();
	errno = 0;
	return private_dir(dir, e);
}

/* $XDG_RUNTIME_DIR/mailtool or /tmp/mailtool-UID; owned */
static char *runtime_path(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	return rt && *rt ? mt_xasprintf("%s/mailtool", rt) : mt_xasprintf("/tmp/mailtool-%u", (unsigned)getuid());
}

char *mt_runtime_dir(struct mt_err *e)
{
	errno = 0;
	return private_dir(runtime_path(), e);
}

char *mt_runtime_dir_found(void)
{
	char *dir = runtime_path();
	struct stat st;
	struct mt_err e;
	if (lstat(dir, &st) < 0) {
		free(dir);
		return NULL;
	}
	return private_dir(dir, &e);
}

/* Read exactly 32 bytes from the regular file name in dir (no link), 1;
 * 0 when there is none; -1 (e set) when it is unusable. */
static int read_key(int dir, const char *shown, unsigned char key[32], struct mt_err *e)
{
	/* O_NONBLOCK: a FIFO planted there must not hang the run */
	int fd = openat(dir, "archive.key", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		mt_seterr(e, MT_EIO, "'%s': %s", shown, strerror(errno));
		return -1;
	}
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() && !(st.st_mode & 077) && st.st_size == 32)
		n = read(fd, key, 32);
	close(fd);
	if (n != 32) {
		mt_seterr(e, MT_EIO, "'%s' is not a key of mine: 32 bytes, mode 0600, owned by me", shown);
		return -1;
	}
	return 1;
}

int mt_archive_key(unsigned char key[32], int create, struct mt_err *e)
{
	/* only an export makes the directory; reading makes nothing */
	char *dir;
	if (create) {
		dir = mt_state_dir(e);
	} else {
		dir = state_path();
		struct stat st;
		if (lstat(dir, &st) < 0 && errno == ENOENT) {
			free(dir);
			return 0;
		}
	}
	if (dir == NULL)
		return -1;
	char *shown = mt_xasprintf("%s/archive.key", dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r = -1;
	if (dfd < 0) {
		mt_seterr(e, MT_EIO, "'%s': %s", dir, strerror(errno));
		goto out;
	}
	r = read_key(dfd, shown, key, e);
	if (r != 0 || !create)
		goto out;
	/* made once, exclusively: two exports starting together keep one key */
	unsigned char k[32];
	char tmp[64];
	if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
		r = -1;
		mt_seterr(e, MT_EOS, "no random bytes for '%s'", shown);
		goto out;
	}
	snprintf(tmp, sizeof tmp, "archive.key.%ld", (long)getpid());
	unlinkat(dfd, tmp, 0);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, k, sizeof k) != (ssize_t)sizeof k || fsync(fd) < 0) {
		mt_seterr(e, MT_EIO, "writing '%s': %s", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlinkat(dfd, tmp, 0);
		r = -1;
		goto out;
	}
	close(fd);
	/* link, not rename: an existing key is never replaced */
	if (linkat(dfd, tmp, dfd, "archive.key", 0) < 0 && errno != EEXIST) {
		mt_seterr(e, MT_EIO, "creating '%s': %s", shown, strerror(errno));
		unlinkat(dfd, tmp, 0);
		r = -1;
		goto out;
	}
	unlinkat(dfd, tmp, 0);
	r = read_key(dfd, shown, key, e);
	if (r == 0) {
		mt_seterr(e, MT_EIO, "'%s' vanished", shown);
		r = -1;
	}
	explicit_bzero(k, sizeof k);
out:
	if (dfd >= 0)
		close(dfd);
	free(shown);
	free(dir);
	return r;
}

/* Where the box locks live: one place per user of the machine, whatever
 * the environment says, so that a cron job, a login shell and every
 * systemd instance meet there (XDG_RUNTIME_DIR differs between them and
 * is set per unit instance). MAILTOOL_LOCK_DIR names another one (a test
 * suite, two independent setups on one machine). Root: /run/mailtool;
 * anyone else: the state directory, which depends on HOME alone. */
static char *lock_dir(struct mt_err *e)
{
	const char *d = getenv("MAILTOOL_LOCK_DIR");
	errno = 0;
	if (d && *d) {
		if (*d != '/') {
			mt_seterr(e, MT_ECONFIG, "MAILTOOL_LOCK_DIR '%s' is not an absolute path", d);
			return NULL;
		}
		return private_dir(mt_xstrdup(d), e);
	}
	if (getuid() == 0)
		return private_dir(mt_xstrdup("/run/mailtool"), e);
	return private_dir(mt_xasprintf("%s/locks", state_path()), e);
}

/* One lock per box and purpose: overlapping runs (cron's compact, two
 * filter --watch, a shell's filter beside a unit's) do not both act. */
int mt_account_lock(struct mt_ctx *ctx, const char *purpose, int *fd, int *busy)
{
	char *dir = lock_dir(&ctx->err);
	if (dir == NULL)
		return mt_fail_err(ctx, &ctx->err);
	/* named after the box the run acts on: the user acted as (or logged in
	 * as) at the server, whichever account or --users entry reaches it, so
	 * that 'quota -a bob' and an admin's '--users' run for bob, or two
	 * accounts for one server, share the lock; an admin can tell whose run
	 * holds it. The server is the address the session reached (127.0.0.1
	 * and localhost are one server), else the name in the account. */
	const struct mt_account *a = &ctx->acct;
	const char *who = a->as_user ? a->as_user : a->user ? a->user : "";
	const char *peer = ctx->s ? mt_session_peer(ctx->s) : NULL;
	const char *host = peer && (strchr(peer, '.') || strchr(peer, ':')) ? peer : a->host ? a->host : "";
	char *key = a->tunnel ? mt_xasprintf("%s-tunnel-%s", who, a->name)
			      : mt_xasprintf("%s@%s-%d", who, host,
					     a->port ? a->port : a->tls == MT_TLS_IMPLICIT || a->tls == MT_TLS_UNSET ? 993 : 143);
	for (char *c = key; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (char *c = key; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.' && *c != '@')
			*c = '_';
	char *path = mt_xasprintf("%s/%s-%s.lock", dir, purpose, key);
	free(dir);
	free(key);
	if (busy)
		*busy = 0;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		int r = mt_fail(ctx, MT_EIO, "cannot open lock '%s': %s", path, strerror(errno));
		free(path);
		return r;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		if (busy) {   /* the caller waits its turn, retrying flock on *fd */
			*busy = 1;
			free(path);
			return MT_OK;
		}
		int r = mt_fail(ctx, MT_ETEMP, "another %s run holds '%s'; not starting a second one", purpose, path);
		close(*fd);
		*fd = -1;
		free(path);
		return r;
	}
	free(path);
	return MT_OK;
}
