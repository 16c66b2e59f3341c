/* auth.c — login decisions shared by the IMAP session and the ManageSieve client. */
#include "auth.h"

#include "session_int.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* the longest access token taken from token_command: Microsoft's JWTs run
 * to a few KiB with group claims; anything past this is not a token */
#define MT_TOKEN_MAX 16384

int mt_auth_cleartext_check(const struct mt_account *a, int have_tls, const struct mt_conn *c, struct mt_err *e)
{
	/* cleartext credentials only to loopback (or a tunnel) unless explicitly allowed */
	if (!have_tls && !c->child && !c->loopback && !a->allow_plaintext_auth)
		return mt_seterr(e, MT_EUNAVAIL,
				 "refusing to send the %s in cleartext to %s (set allow_plaintext_auth = true to override)",
				 mt_account_oauth(a) ? "token" : "password", c->peer);
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

const char *mt_auth_oauth_mech(const struct mt_account *a)
{
	return a->auth == MT_AUTH_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER";
}

const char *mt_auth_oauth_user(const struct mt_account *a)
{
	return a->as_user ? a->as_user : a->user;
}

int mt_auth_token(const struct mt_account *a, double deadline_ms, char **tok, struct mt_err *e)
{
	if (a->token_command == NULL || *a->token_command == '\0')
		return mt_seterr(e, MT_ECONFIG, "auth = \"%s\" needs token_command in account '%s'",
				 a->auth == MT_AUTH_XOAUTH2 ? "xoauth2" : "oauthbearer", a->name ? a->name : "?");
	double limit = (a->token_timeout > 0 ? a->token_timeout : 30) * 1000.0;
	if (deadline_ms > 0 && deadline_ms - mt_now_ms() < limit)
		limit = deadline_ms - mt_now_ms() > 0 ? deadline_ms - mt_now_ms() : 1;
	const struct mt_secret_cmd c = { .what = "token_command", .cmd = a->token_command, .user = mt_auth_oauth_user(a),
					 .limit_ms = limit, .max_len = MT_TOKEN_MAX, .whole_output = 1,
					 .timeout_code = MT_ETEMP, .pass_sysexits = 1 };
	return mt_secret_command(&c, tok, e);
}

/* RFC 5801 saslname: "," and "=" escaped; owned */
static char *saslname(const char *u)
{
	char *o = mt_xmalloc(3 * strlen(u) + 1), *p = o;
	for (; *u; u++) {
		if (*u == ',' || *u == '=')
			p += sprintf(p, "=%s", *u == ',' ? "2C" : "3D");
		else
			*p++ = *u;
	}
	*p = '\0';
	return o;
}

char *mt_sasl_oauth(const struct mt_account *a, const char *user, const char *host, int port, const char *token)
{
	char *raw;
	if (a->auth == MT_AUTH_XOAUTH2) {
		raw = mt_xasprintf("user=%s\001auth=Bearer %s\001\001", user, token);
	} else {
		char *name = saslname(user);
		char *where = host && port > 0 ? mt_xasprintf("\001host=%s\001port=%d", host, port) : mt_xstrdup("");
		raw = mt_xasprintf("n,a=%s,%s\001auth=Bearer %s\001\001", name, where, token);
		free(name);
		free(where);
	}
	size_t n = strlen(raw);
	char *out = mt_xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, (int)n);
	OPENSSL_cleanse(raw, n);
	free(raw);
	return out;
}

/* The "status" of the server's JSON error challenge (RFC 7628 3.2.2),
 * printable and short, or "" */
static void challenge_status(const char *b64, char *out, size_t outsz)
{
	size_t l = strlen(b64);
	out[0] = '\0';
	if (l == 0 || l > 4096 || outsz < 2)
		return;
	unsigned char *raw = mt_xmalloc(l + 1);
	int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)l);
	if (n > 0) {
		raw[n] = '\0';
		const char *p = strstr((char *)raw, "\"status\"");
		if (p) {
			p += 8;
			while (*p == ' ' || *p == ':')
				p++;
			if (*p == '"')
				p++;
			size_t k = 0;
			while (*p && *p != '"' && k + 1 < outsz && isprint((unsigned char)*p))
				out[k++] = *p++;
			out[k] = '\0';
		}
	}
	free(raw);
}

int mt_auth_token_refused(const struct mt_account *a, const char *user, const char *challenge, const char *text,
			  struct mt_err *e)
{
	char status[65];
	challenge_status(challenge ? challenge : "", status, sizeof status);
	return mt_seterr(e, MT_EAUTH, "the server refused the access token for '%s' (%s%s%s%s): %s", user,
			 mt_auth_oauth_mech(a), *status ? ", status \"" : "", status, *status ? "\"" : "",
			 text && *text ? text : "no reason given");
}

int mt_auth_oauth_begin(const struct mt_account *a, int have_tls, const struct mt_conn *c, const char *host,
			char **blob, struct mt_err *e)
{
	const char *user = mt_auth_oauth_user(a);
	char *tok = NULL;
	int r;
	*blob = NULL;
	if (user == NULL || *user == '\0')
		return mt_seterr(e, MT_EUSAGE, "no user name: give -u USER or set user in the account");
	for (const char *p = user; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return mt_seterr(e, MT_EDATA, "the user name holds a control character");
	if ((r = mt_auth_cleartext_check(a, have_tls, c, e)) != MT_OK)
		return r;
	if ((r = mt_auth_token(a, c->deadline, &tok, e)) != MT_OK || tok == NULL)
		return r != MT_OK ? r : MT_ESOFT;
	*blob = mt_sasl_oauth(a, user, c->child ? NULL : host, c->port, tok);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	return MT_OK;
}

void mt_auth_note_size(struct mt_err *e, size_t n)
{
	/* Dovecot 2.3's login processes close the connection on a SASL
	 * response above 8 KiB ("Authentication response too large") */
	if (n <= 8192 || e->code != MT_ETEMP)
		return;
	size_t l = strnlen(e->msg, sizeof e->msg - 1);
	snprintf(e->msg + l, sizeof e->msg - l, " (after a SASL response of %zu bytes from a long token: more than "
		 "some servers take, Dovecot 2.3 at most 8192)", n);
	e->code = MT_EUNAVAIL;
}
