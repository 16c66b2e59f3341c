/* auth.h — the parts of logging in that every protocol lib/ speaks shares:
 * whether credentials may go to this peer, who logs in as whom (--as), the
 * SASL PLAIN message, the password within the time left. Internal to lib/. */
#ifndef MT_AUTH_H
#define MT_AUTH_H

#include "account.h"
#include "transport.h"

/* MT_OK when a password may be sent on c: over TLS, to loopback or a
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

#endif
