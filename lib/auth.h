/* auth.h — the parts of logging in that every protocol lib/ speaks shares:
 * whether credentials may go to this peer, who logs in as whom (--as), the
 * SASL PLAIN message, the password within the time left. Internal to lib/. */
#ifndef MT_AUTH_H
#define MT_AUTH_H

#include "account.h"
#include "transport.h"

/* MT_OK when a password (or token) may be sent on c: over TLS, to loopback or a
 * tunnel, or with allow_plaintext_auth; else the refusal (69). */
int mt_auth_cleartext_check(const struct mt_account *a, int have_tls, const struct mt_conn *c, struct mt_err *e);
/* The login name (owned) and the authorization identity (borrowed from a,
 * "" for none) for the account: --as is an authzid, or with impersonation
 * = "master-login" a login "USER*ADMIN". */
void mt_auth_identity(const struct mt_account *a, char **login, const char **authzid);
/* base64 of "authzid NUL login NUL password" (RFC 4616); owned: wipe with
 * OPENSSL_cleanse and free. */
char *mt_sasl_plain(const char *authzid, const char *login, const char *pw);
/* The password (owned, wipe and free), a password_command given the idle
 * time, cut to what is left of the deadline (0: none). */
int mt_auth_password(const struct mt_account *a, double idle_s, double deadline_ms, char **pw, struct mt_err *e);

/* The SASL mechanism's name for the account's auth setting. */
const char *mt_auth_oauth_mech(const struct mt_account *a);
/* Whose token, and who logs in with it: --as USER (a per-user token), else
 * the account's user. Borrowed from a. */
const char *mt_auth_oauth_user(const struct mt_account *a);
/* The access token (owned, wipe and free) from token_command, given the
 * user as $1 and MAILTOOL_TOKEN_USER, killed after token_timeout (cut to
 * what is left of the deadline, 0: none). */
int mt_auth_token(const struct mt_account *a, double deadline_ms, char **tok, struct mt_err *e);
/* base64 of the initial client response: OAUTHBEARER (RFC 7628 3.1, with
 * host and port when port > 0) or XOAUTH2. Owned: wipe and free. */
char *mt_sasl_oauth(const struct mt_account *a, const char *user, const char *host, int port, const char *token);
/* Before AUTHENTICATE OAUTHBEARER/XOAUTH2 on c (the server offers it):
 * the user checked, the cleartext rule applied, the token fetched (cut to
 * c's deadline) and made into the initial response *blob (owned: wipe and
 * free); host (NULL: none) and c's port go into OAUTHBEARER's. */
int mt_auth_oauth_begin(const struct mt_account *a, int have_tls, const struct mt_conn *c, const char *host,
			char **blob, struct mt_err *e);
/* After the connection was lost answering an initial response of n bytes:
 * a long token may be why (more than the server takes), said in e, and
 * retrying will not help (69 instead of 75). */
void mt_auth_note_size(struct mt_err *e, size_t n);
/* MT_EAUTH with the message that the token (not a password) for user was
 * refused; challenge: the server's error challenge (base64), or NULL;
 * text: the tagged response text. */
int mt_auth_token_refused(const struct mt_account *a, const char *user, const char *challenge, const char *text,
			  struct mt_err *e);

#endif
