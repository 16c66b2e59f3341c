/* auth.c — login decisions shared by the IMAP session and the ManageSieve client. */
#include "auth.h"

#include "session_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

int mt_auth_cleartext_check(const struct mt_account *a, int have_tls, const struct mt_conn *c, struct mt_err *e)
{
	/* cleartext credentials only to loopback (or a tunnel) unless explicitly allowed */
	if (!have_tls && !c->child && !c->loopback && !a->allow_plaintext_auth)
		return mt_seterr(e, MT_EUNAVAIL,
				 "refusing to send the password in cleartext to %s (set allow_plaintext_auth = true to override)",
				 c->peer);
	return MT_OK;
}

void mt_auth_identity(const struct mt_account *a, char **login, const char **authzid)
{
	*authzid = "";
	if (a->as_user && a->impersonation == MT_IMP_MASTER_LOGIN) {
		*login = mt_xasprintf("%s%s%s", a->as_user, a->master_separator ? a->master_separator : "*", a->user);
	} else {
		*login = mt_xstrdup(a->user);
		if (a->as_user)
			*authzid = a->as_user;
	}
}

char *mt_sasl_plain(const char *authzid, const char *login, const char *pw)
{
	size_t lz = strlen(authzid), ll = strlen(login), lp = strlen(pw), n = lz + ll + lp + 2;
	unsigned char *raw = mt_xmalloc(n);
	memcpy(raw, authzid, lz);
	raw[lz] = '\0';
	memcpy(raw + lz + 1, login, ll);
	raw[lz + 1 + ll] = '\0';
	memcpy(raw + lz + ll + 2, pw, lp);
	char *out = mt_xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	OPENSSL_cleanse(raw, n);
	free(raw);
	return out;
}

int mt_auth_password(const struct mt_account *a, double idle_s, double deadline_ms, char **pw, struct mt_err *e)
{
	double limit = idle_s * 1000.0;
	if (deadline_ms > 0 && deadline_ms - mt_now_ms() < limit)
		limit = deadline_ms - mt_now_ms() > 0 ? deadline_ms - mt_now_ms() : 1;
	return mt_password_get(a, limit, pw, e);
}
