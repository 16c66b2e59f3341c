/* transport.h — bytes to and from the server: TCP, OpenSSL TLS, tunnel
 * command, COMPRESS=DEFLATE, deadlines. Internal to lib/. */
#ifndef MT_TRANSPORT_H
#define MT_TRANSPORT_H

#include "mt.h"

#include <openssl/ssl.h>
#include <sys/types.h>
#include <zlib.h>

struct mt_tls_info {
	char protocol[32];
	char cipher[96];
	char subject[256];
	char issuer[256];
	char not_after[64];
	char fingerprint[80];   /* sha256:hex of the peer certificate */
	int pinned;             /* accepted because the fingerprint matched */
};

struct mt_conn {
	int fd;                 /* socket, or the tunnel's stdout pipe (read side) */
	int wfd;                /* same as fd for sockets; the tunnel's stdin pipe */
	pid_t child;            /* tunnel command, or 0 */
	SSL_CTX *ctx;           /* one reference; the process keeps the context (mt_tls_prepare) */
	SSL *ssl;               /* owned; NULL until TLS is up */
	int compress;
	z_stream zin, zout;
	unsigned char zbuf[16384];
	int zin_pending;        /* inflate may hold more output */
	double idle_ms;         /* max wait for one read/write */
	double deadline;        /* absolute mt_now_ms() limit, 0 = none */
	uint64_t bytes_in, bytes_out;   /* on the wire (after TLS/compression) */
	uint64_t round_trips;   /* write→read turnarounds */
	double rate_ms;         /* --max-rate: at least this long between commands, 0 = no limit */
	double rate_next;       /* mt_now_ms() before which the next command waits */
	int rate_charge;        /* commands the next turnaround sends (pipelined), 0 = 1 */
	int last_was_write;
	int timed_out;          /* why the last I/O failed */
	int closed;             /* peer closed */
	char ioerr[160];
	int loopback;           /* peer address is loopback (or a tunnel) */
	int port;               /* TCP: the server's port */
	char peer[80];
};

/* A kept session's client (-1: none): told once a second that the run goes
 * on, and its hanging up stops the run at the next wait (tool/persist.c). */
void mt_conn_watch(int fd);
/* Connect to host:port with a timeout. */
int mt_conn_tcp(struct mt_conn *c, const char *host, int port, double timeout_ms, struct mt_err *e);
/* Spawn `command` via /bin/sh with pipes as its stdin/stdout (pipes, not a
 * socket: Dovecot's imap refuses a socket on stdin as "started from inetd"). */
int mt_conn_tunnel(struct mt_conn *c, const char *command, struct mt_err *e);
/* Give tunnel commands started from now on FD as standard error (-1: ours). */
void mt_conn_tunnel_stderr(int fd);
/* A server already connected on two descriptors (owned from now on), taken
 * like a tunnel: used by the fuzz target of server responses. */
int mt_conn_fds(struct mt_conn *c, int rfd, int wfd);
/* TLS handshake with verification; ca_file/fingerprint may be NULL. The
 * context (trust store included) is the process's, shared with every other
 * session trusting the same source; it is built anew when that source changes. */
int mt_conn_tls(struct mt_conn *c, const char *host, const char *ca_file, const char *fingerprint,
		struct mt_tls_info *info, struct mt_err *e);
/* Bytes already waiting on the socket (STARTTLS injection check). */
int mt_conn_pending(struct mt_conn *c);
int mt_conn_start_compress(struct mt_conn *c, struct mt_err *e);
ssize_t mt_conn_read(struct mt_conn *c, void *buf, size_t len);
ssize_t mt_conn_write(struct mt_conn *c, const void *buf, size_t len);
void mt_conn_close(struct mt_conn *c);
/* A tunnel command that has ended (waited for up to wait_ms): its wait
 * status, reaped; -1 while it runs or for a socket. */
int mt_conn_tunnel_ended(struct mt_conn *c, int wait_ms);
/* Whether the server has sent anything within ms (1), not (0). */
int mt_conn_readable(struct mt_conn *c, int ms);
/* A second connection to host:port that starts a TLS handshake (nothing
 * verified, nothing sent after it): 1 when a TLS server answers within
 * timeout_ms, else 0. For a port that sends no IMAP greeting. */
int mt_tls_probe(const char *host, int port, double timeout_ms);

#endif
