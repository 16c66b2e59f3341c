/* session_int.h — the session as lib/ sees it (libetpan and transport types).
 * Only lib/session.c and lib/imap.c include this. */
#ifndef MT_SESSION_INT_H
#define MT_SESSION_INT_H

#include "session.h"
#include "transport.h"
#include "numguard.h"
#include "trace.h"

#include <libetpan/libetpan.h>

/* Walk a libetpan list that a hostile or odd server may have left NULL. */
#define MT_EACH(it, list) for (clistiter *it = (list) ? clist_begin(list) : NULL; it; it = clist_next(it))

struct mt_session {
	struct mt_conn conn;
	mailimap *imap;                 /* owned */
	mailstream_low *low;            /* owned by imap's stream */
	struct mt_tls_info tls;
	int have_tls;
	int utf8_accept;                /* UTF8=ACCEPT enabled: names go as UTF-8 */
	char *greeting;
	char *caps[3];                  /* enum mt_cap_phase; upper-cased, space separated */
	const char *transport;
	const char *auth_method;
	struct mt_timings t;
	double t0;
	struct mt_trace tr;             /* the conversation (--trace), or tr.f NULL */
	char *secrets[3];               /* strings never to print, owned */
	char delim;                     /* cached, -1 unknown */
	int delim_known;
	char *ns_text;
	char *ns_personal;              /* prefix of the first personal namespace (UTF-8), NULL until known */
	double idle_timeout_s;
	char *selected;                 /* wire name of the folder SELECTed read-write, or NULL */
	int sel_open;                   /* a folder is selected (read-write or read-only) */
	uint32_t sel_uidnext;           /* its UIDNEXT when it was selected; 0 unknown */
	struct mt_numguard guard;       /* every server byte passes it before libetpan (numguard.h) */
};

/* Remember which folder is selected read-write (NULL: none, or read-only):
 * every SELECT/EXAMINE in lib/ reports here. */
void mt_session_selected(struct mt_session *s, const char *wire, int rw);

/* Tagged result of a command, with the parsed response for the caller to read. */
enum { MT_RESP_OK, MT_RESP_NO, MT_RESP_BAD };

/* Up to MT_PIPELINE_MAX command lines (no secrets) sent in one round trip;
 * each(i, status) is called after the tagged response of cmds[i] was read,
 * while imap_response_info still holds what that response carried (a
 * response libetpan cannot parse comes as MT_RESP_BAD). Kept small so
 * neither side's buffers fill up. */
#define MT_PIPELINE_MAX 64
int mt_imap_run_pipelined(struct mt_session *s, const char *const *cmds, int n,
			  void (*each)(struct mt_session *s, int i, int status, void *arg), void *arg,
			  struct mt_err *e);
/* Send one command line (without tag and CRLF) and read its response.
 * *resp (may be NULL when not wanted) is freed with mailimap_response_free.
 * Returns MT_OK and sets *status to MT_RESP_*, or an error code (connection). */
int mt_imap_run(struct mt_session *s, const char *cmd, int private_data,
		struct mailimap_response **resp, int *status, struct mt_err *e);
/* Map a libetpan error to an exit code and message. */
int mt_imap_error(struct mt_session *s, int r, const char *what, struct mt_err *e);
/* Tagged response text of the last command ("[CODE] text"). */
const char *mt_imap_last_text(struct mt_session *s);
/* Refresh s->caps[phase] from libetpan's connection info, or by CAPABILITY. */
int mt_imap_caps(struct mt_session *s, enum mt_cap_phase phase, int force, struct mt_err *e);

/* A session with a server already on rfd/wfd (owned, closed with the
 * session), taken like a tunnel (PREAUTH accepted, no TLS). For
 * tests/fuzz/fuzz_response.c, which feeds it arbitrary server bytes. */
int mt_session_open_fds(const struct mt_account *a, int rfd, int wfd, struct mt_session **out, struct mt_err *e);
/* The password, from MAILTOOL_PASSWORD (as taken by mt_password_take_env),
 * password_command (killed after limit_ms), password_file or the terminal;
 * owned, to be wiped (OPENSSL_cleanse) and freed right after use. */
int mt_password_get(const struct mt_account *a, double limit_ms, char **out, struct mt_err *e);
/* A command that prints a secret (password_command, token_command): run by
 * /bin/sh -c in its own process group, `user` as $1 and in
 * MAILTOOL_TOKEN_USER, killed with all it started after limit_ms. */
struct mt_secret_cmd {
	const char *what;       /* the setting's name, for messages */
	const char *cmd;
	const char *user;       /* NULL: none */
	double limit_ms;
	size_t max_len;         /* longest secret accepted */
	int whole_output;       /* 1: exactly one line, nothing else (else: its first line) */
	int timeout_code;       /* the status when killed for time */
	int pass_sysexits;      /* 1: the command's own 75 and 77 are the result's */
};
/* The secret (owned, wipe and free) or the error. */
int mt_secret_command(const struct mt_secret_cmd *c, char **out, struct mt_err *e);

#endif
