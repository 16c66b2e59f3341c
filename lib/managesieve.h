/* managesieve.h — a ManageSieve client (RFC 5804): the user's Sieve scripts
 * on the server, over mailtool's own transport (the certificate checks and
 * STARTTLS injection guard of IMAP), logged in as IMAP logs in. No printing:
 * every failure is an mt_err with the server's own words in it. */
#ifndef MT_MANAGESIEVE_H
#define MT_MANAGESIEVE_H

#include "account.h"
#include "mt.h"

#include <stdio.h>

struct mt_msieve;

/* The longest literal (a script, a message) taken from a server. */
#define MT_MSIEVE_MAX_LITERAL (16u << 20)

struct mt_msieve_script {
	char *name;     /* owned, UTF-8 */
	int active;
};

/* Connect to a->host at port, STARTTLS (unless a->tls is MT_TLS_NONE),
 * AUTHENTICATE PLAIN (authzid for --as), capabilities re-read after TLS and
 * after login. trace: the conversation, the credentials redacted, or NULL.
 * On error *out is NULL and e says why: 69 refused or missing capability,
 * 77 authentication refused, 75 connection trouble, 76 protocol error. */
int mt_msieve_open(const struct mt_account *a, int port, FILE *trace, struct mt_msieve **out, struct mt_err *e);
/* The same with the server already on rfd/wfd (owned from now on), taken
 * like a tunnel: no TLS. For tests/fuzz/fuzz_msieve.c. */
int mt_msieve_open_fds(const struct mt_account *a, int rfd, int wfd, struct mt_msieve **out, struct mt_err *e);
/* LOGOUT (best effort, on a short leash) and free. */
void mt_msieve_close(struct mt_msieve *m);

/* A capability's value ("" when it has none), or NULL when not announced. */
const char *mt_msieve_cap(const struct mt_msieve *m, const char *name);
/* Whether the SIEVE capability lists ext ("include", "fileinto", ...). */
int mt_msieve_has_ext(const struct mt_msieve *m, const char *ext);
/* The words of the SIEVE capability, NULL-terminated; owned by m. */
const char *const *mt_msieve_extensions(const struct mt_msieve *m);
/* The response code of the last NO or OK ("NONEXISTENT", "QUOTA/MAXSIZE",
 * "WARNINGS"), "" when none; owned by m. */
const char *mt_msieve_last_code(const struct mt_msieve *m);
/* "STARTTLS" or "cleartext". */
const char *mt_msieve_transport(const struct mt_msieve *m);

/* LISTSCRIPTS: *v (owned by the caller, mt_msieve_scripts_free) and *n. */
int mt_msieve_list(struct mt_msieve *m, struct mt_msieve_script **v, size_t *n, struct mt_err *e);
void mt_msieve_scripts_free(struct mt_msieve_script *v, size_t n);
/* GETSCRIPT: the script in *text (owned, NUL-terminated) and *len. */
int mt_msieve_get(struct mt_msieve *m, const char *name, char **text, size_t *len, struct mt_err *e);
/* CHECKSCRIPT: MT_OK (*warnings: the server's warnings, owned, or NULL),
 * 65 when the server finds the script wrong (e: its words). */
int mt_msieve_check(struct mt_msieve *m, const char *text, size_t len, char **warnings, struct mt_err *e);
/* HAVESPACE: MT_OK, or 69 with the server's reason (QUOTA). */
int mt_msieve_havespace(struct mt_msieve *m, const char *name, size_t len, struct mt_err *e);
/* PUTSCRIPT, SETACTIVE ("" makes none active), DELETESCRIPT: MT_OK or the refusal (69). */
int mt_msieve_put(struct mt_msieve *m, const char *name, const char *text, size_t len, struct mt_err *e);
int mt_msieve_setactive(struct mt_msieve *m, const char *name, struct mt_err *e);
int mt_msieve_delete(struct mt_msieve *m, const char *name, struct mt_err *e);

/* A script name a server can take: UTF-8, 1-512 bytes, no control characters. */
int mt_msieve_name_ok(const char *name);

#endif
