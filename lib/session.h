/* session.h — an authenticated IMAP session and the mailbox operations the
 * applets need. No libetpan or OpenSSL type crosses this header. */
#ifndef MT_SESSION_H
#define MT_SESSION_H

#include "account.h"
#include "mt.h"

#include <time.h>

struct mt_session;

struct mt_timings {
	double connect, tls, greeting, starttls, auth, compress, total;  /* ms */
};

struct mt_tls_info;

enum mt_cap_phase { MT_CAPS_GREETING, MT_CAPS_PRELOGIN, MT_CAPS_POSTLOGIN };

/* Connect, secure, authenticate. On error *out is NULL and e says why.
 * trace: where to write the conversation (credentials redacted), or NULL. */
int mt_session_open(const struct mt_account *a, FILE *trace, struct mt_session **out, struct mt_err *e);
/* The same; on error, *failed (when not NULL) is what the attempt learned
 * before it failed (greeting, certificate, capabilities, timings), its
 * connection closed: for the getters below only, freed by mt_session_close. */
int mt_session_open_report(const struct mt_account *a, FILE *trace, struct mt_session **out,
			   struct mt_session **failed, struct mt_err *e);
/* The time limits and rate of account a on a session opened for another
 * run (a kept or cached one): its idle timeout, its deadline from now, its
 * --max-rate. */
void mt_session_set_limits(struct mt_session *s, const struct mt_account *a);
/* LOGOUT (best effort) and free. */
void mt_session_close(struct mt_session *s);
/* Build the TLS context (trust store included) that sessions trusting
 * ca_file (NULL: the system store) would build, once for this process and
 * the children it forks after; best effort (lib/transport.c). */
void mt_tls_prepare(const char *ca_file, const char *fingerprint);

/* MAILTOOL_PASSWORD is taken out of the environment once, first thing in a
 * process (the value in the environment block is wiped, the variable
 * removed), into a buffer kept out of core dumps: no child, no
 * /proc/PID/environ and no core sees it. mt_password_env is it (NULL when
 * none), for a --persist client to hand to the process that runs for it;
 * mt_password_forget wipes it. */
void mt_password_take_env(void);
const char *mt_password_env(void);
void mt_password_forget(void);

const char *mt_session_greeting(const struct mt_session *s);
const char *mt_session_caps(const struct mt_session *s, enum mt_cap_phase phase); /* space separated */
int mt_has_cap(const struct mt_session *s, const char *cap);
/* The number of a capability "CAP=N" (APPENDLIMIT=35651584, RFC 7889): 1
 * with it in *out, 0 when the server does not say one (or says no number). */
int mt_cap_number(const struct mt_session *s, const char *cap, uint64_t *out);
const struct mt_tls_info *mt_session_tls(const struct mt_session *s);  /* NULL when cleartext */
/* The server's certificate once one was seen, verified or not (a failed
 * attempt's refused certificate included); NULL when none was. */
const struct mt_tls_info *mt_session_tls_seen(const struct mt_session *s);
const struct mt_timings *mt_session_timings(const struct mt_session *s);
const char *mt_session_transport(const struct mt_session *s);  /* "implicit TLS", "STARTTLS", ... */
const char *mt_session_auth_method(const struct mt_session *s);
const char *mt_session_peer(const struct mt_session *s);
int mt_session_compressed(const struct mt_session *s);
/* False once the connection was lost or timed out, or when the server has
 * said something unasked while idle (a BYE before it hangs up): do not reuse it. */
int mt_session_alive(const struct mt_session *s);
/* Leave the selected state (UNSELECT, or a failing EXAMINE): before a kept
 * session serves the next run. MT_OK, or an error (the connection, or a
 * server that will not leave the folder): then the session is not to be reused. */
int mt_session_deselect(struct mt_session *s, struct mt_err *e);
void mt_session_stats(const struct mt_session *s, uint64_t *round_trips, uint64_t *bytes_in, uint64_t *bytes_out);

/* One raw command line (it may carry LITERAL+ literals, "{n+}\r\n...") and
 * its tagged result: *status 0 OK, 1 NO, 2 BAD. For what libetpan cannot
 * say (MULTIAPPEND); the text of that result is mt_session_last_text(). */
int mt_session_command(struct mt_session *s, const char *cmd, int *status, struct mt_err *e);
/* Quote a string as an IMAP quoted string (refuses CR/LF); owned by caller. */
char *mt_imap_quote(const char *s);
const char *mt_session_last_text(struct mt_session *s);

/* ---- mailbox operations (lib/imap.c) ---------------------------------- */

enum {
	MT_MBX_NOSELECT = 1 << 0,
	MT_MBX_NONEXISTENT = 1 << 1,
	MT_MBX_SUBSCRIBED = 1 << 2,
	MT_MBX_HASCHILDREN = 1 << 3,
};

struct mt_mailbox {
	char *name;       /* UTF-8, as shown to people; owned */
	char *wire;       /* as sent to the server (modified UTF-7 or UTF-8); owned */
	char delim;       /* 0 = flat */
	unsigned flags;   /* MT_MBX_* */
	char *special;    /* "\\Trash \\Junk" etc., owned, may be "" */
};

struct mt_mailboxes {
	struct mt_mailbox *v;
	size_t n, cap;
};

/* The hierarchy delimiter of the personal namespace (LIST "" ""), cached. */
int mt_delimiter(struct mt_session *s, char *delim, struct mt_err *e);
/* Describe NAMESPACE as text: "personal: \"\" /; other: ...". Owned by s. */
int mt_namespace_text(struct mt_session *s, const char **out, struct mt_err *e);
/* The personal namespace's prefix ("INBOX." on Courier, "" on Dovecot and
 * on servers without NAMESPACE), owned by s; one NAMESPACE, cached. */
int mt_personal_prefix(struct mt_session *s, const char **prefix, struct mt_err *e);
/* NAME as it stands under the personal namespace prefix, when the server has
 * one and NAME is not INBOX, not already under it and not in another
 * namespace: "Sent" -> "INBOX.Sent" on Courier. NULL when nothing applies;
 * else owned by the caller. Users type names as their mail client shows
 * them, and clients hide the prefix. */
char *mt_prefixed_name(struct mt_session *s, const char *name);
/* A folder NAME for another account's session s (a copy or move there), as
 * that server names it: '/' (how a rule or --to writes a level) taken for
 * its hierarchy delimiter when that is another one, then under its personal
 * namespace prefix as mt_prefixed_name puts it: "Archive/2024" ->
 * "INBOX.Archive.2024" on Courier, unchanged on Dovecot. A NAME with both
 * '/' and that other delimiter is ambiguous: MT_EDATA. *out owned. */
int mt_foreign_name(struct mt_session *s, const char *name, char **out, struct mt_err *e);

/* LIST (with subscription and special-use information) of a UTF-8 pattern. */
int mt_list(struct mt_session *s, const char *pattern, struct mt_mailboxes *out, struct mt_err *e);
void mt_mailboxes_release(struct mt_mailboxes *m);

enum {
	MT_ST_MESSAGES = 1 << 0,
	MT_ST_UNSEEN = 1 << 1,
	MT_ST_SIZE = 1 << 2,
	MT_ST_UIDNEXT = 1 << 3,
	MT_ST_UIDVALIDITY = 1 << 4,
	MT_ST_RECENT = 1 << 5,
};

struct mt_status {
	unsigned have;        /* MT_ST_* that were answered */
	uint32_t messages, unseen, uidnext, uidvalidity, recent;
	uint64_t size;
	char *error;          /* owned; per-mailbox failure (NO) or NULL */
};

/* STATUS of many mailboxes, pipelined in batches (one round trip per batch).
 * MT_ST_SIZE uses STATUS=SIZE when offered, else sums RFC822.SIZE by FETCH. */
int mt_status_many(struct mt_session *s, const struct mt_mailbox *boxes, size_t n, unsigned want,
		   struct mt_status *out, struct mt_err *e);
void mt_status_release(struct mt_status *st, size_t n);

struct mt_quota {
	char *root;           /* owned */
	char *resource;       /* "STORAGE", "MESSAGE", ... owned */
	uint64_t usage, limit; /* STORAGE in bytes (protocol KiB x 1024) */
};

struct mt_quotas {
	struct mt_quota *v;
	size_t n;
	char **roots;         /* every quota root named by QUOTAROOT, even without resources */
	size_t nroots;
};

int mt_getquotaroot(struct mt_session *s, const char *mailbox, struct mt_quotas *out, struct mt_err *e);
void mt_quotas_release(struct mt_quotas *q);
/* SETQUOTA root (RESOURCE value ...); values as the protocol wants them (STORAGE in KiB). */
int mt_setquota(struct mt_session *s, const char *root, const char *const *resources,
		const uint64_t *values, size_t n, struct mt_err *e);

/* CREATE a UTF-8 folder (with USE (\\Archive) etc. when special is given and
 * the server has CREATE-SPECIAL-USE). An existing folder is not an error. */
int mt_create(struct mt_session *s, const char *name, const char *special, struct mt_err *e);

/* APPEND one message with flags (MT_F_* of select.h, keywords) and a date
 * (0: the server's now); *refused when the server said NO. */
int mt_append(struct mt_session *s, const char *wire, unsigned sysflags, const char *const *keywords, time_t date,
	      const char *data, size_t len, int *refused, struct mt_err *e);

/* SUBSCRIBE (on) or UNSUBSCRIBE a UTF-8 folder name. */
int mt_subscribe(struct mt_session *s, const char *name, int on, struct mt_err *e);

/* Convert a user-typed UTF-8 name to the wire form (refuses CR/LF). Owned by caller. */
int mt_mailbox_wire(struct mt_session *s, const char *utf8, char **wire, struct mt_err *e);

#endif
