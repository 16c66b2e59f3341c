/* quotafloor.c — `make bench` helper (the fleet part): the least an IMAP
 * client must do to read every user's quota through an admin, J users at a
 * time: connect, TLS (verified against CAFILE, name localhost), AUTHENTICATE
 * PLAIN with the user as authorization identity (SASL-IR), GETQUOTAROOT
 * INBOX, LOGOUT. Threads in one process, no configuration, no output per
 * user, no checks beyond each tagged OK: a floor to put mailtool
 * quota --users beside, not a tool.
 * usage: quotafloor PORT CAFILE ADMIN PASSWORD-FILE JOBS USERS-FILE
 * prints: users ok failed wall_ms */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static SSL_CTX *ctx;
static const char *admin, *password;
static char **users;
static size_t nusers;
static atomic_size_t next_user, ok_users;

/* read until a line starting with tag (then 0 if it is "tag OK"), -1 on error */
static int until_tagged(SSL *s, const char *tag)
{
	char buf[16384];
	size_t have = 0, tl = strlen(tag);
	for (;;) {
		char *nl;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - buf) + 1;
			int mine = len > tl + 3 && memcmp(buf, tag, tl) == 0 && buf[tl] == ' ';
			int ok = mine && memcmp(buf + tl + 1, "OK", 2) == 0;
			memmove(buf, buf + len, have - len);
			have -= len;
			if (mine)
				return ok ? 0 : -1;
		}
		if (have == sizeof buf)
			have = 0;   /* a long untagged line: only its end matters */
		int n = SSL_read(s, buf + have, (int)(sizeof buf - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
}

static int one_user(const char *user)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), r = -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	SSL *s = SSL_new(ctx);
	SSL_set_fd(s, fd);
	SSL_set_tlsext_host_name(s, "localhost");
	SSL_set1_host(s, "localhost");
	if (SSL_connect(s) == 1 && until_tagged(s, "*") == 0) {
		/* authzid NUL authcid NUL password, base64 */
		unsigned char plain[1024], b64[1400], cmd[1600];
		int pl = snprintf((char *)plain, sizeof plain, "%s%c%s%c%s", user, 0, admin, 0, password);
		int bl = EVP_EncodeBlock(b64, plain, pl);
		int cl = snprintf((char *)cmd, sizeof cmd, "a AUTHENTICATE PLAIN %.*s\r\n", bl, b64);
		if (SSL_write(s, cmd, cl) == cl && until_tagged(s, "a") == 0 &&
		    SSL_write(s, "b GETQUOTAROOT INBOX\r\n", 22) == 22 && until_tagged(s, "b") == 0 &&
		    SSL_write(s, "c LOGOUT\r\n", 10) == 10 && until_tagged(s, "c") == 0)
			r = 0;
	}
	SSL_free(s);
	close(fd);
	return r;
}

static void *worker(void *arg)
{
	(void)arg;
	size_t i;
	while ((i = atomic_fetch_add(&next_user, 1)) < nusers)
		if (one_user(users[i]) == 0)
			atomic_fetch_add(&ok_users, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: quotafloor PORT CAFILE ADMIN PASSWORD-FILE JOBS USERS-FILE\n");
		return 2;
	}
	port = atoi(argv[1]);
	admin = argv[3];
	int jobs = atoi(argv[5]);
	char line[512];
	FILE *f = fopen(argv[4], "r");
	if (f == NULL || fgets(line, sizeof line, f) == NULL)
		return 2;
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	password = strdup(line);
	if ((f = fopen(argv[6], "r")) == NULL)
		return 2;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line == '\0')
			continue;
		users = realloc(users, sizeof *users * (nusers + 1));
		users[nusers++] = strdup(line);
	}
	fclose(f);
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (jobs < 1 || jobs > 256 || SSL_CTX_load_verify_locations(ctx, argv[2], NULL) != 1)
		return 2;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t *t = calloc((size_t)jobs, sizeof *t);
	for (int i = 0; i < jobs; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < jobs; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	size_t ok = atomic_load(&ok_users);
	printf("%zu %zu %zu %ld\n", nusers, ok, nusers - ok, ms);
	return ok == nusers ? 0 : 1;
}
