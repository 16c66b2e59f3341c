/* info.c — the help-desk's first command: does the account work, and how
 * (greeting, TLS, capabilities before and after login, namespaces, timings). */
#include "../tool/tool.h"
#include "../lib/transport.h"

#include <stdlib.h>
#include <string.h>

static const struct mt_opt info_opts[] = {
	MT_OPT_END,
};

enum { I_ACCOUNT, I_SERVER, I_TRANSPORT, I_GREETING, I_TLS_PROTO, I_TLS_CIPHER, I_CERT_SUBJECT,
       I_CERT_ISSUER, I_CERT_EXPIRES, I_CERT_FP, I_CERT_PINNED, I_AUTH, I_USER, I_CAPS_GREETING,
       I_CAPS_PRELOGIN, I_CAPS_POSTLOGIN, I_MECHS, I_NAMESPACE, I_DELIM, I_COMPRESS,
       I_MS_CONNECT, I_MS_TLS, I_MS_GREETING, I_MS_STARTTLS, I_MS_AUTH, I_MS_COMPRESS, I_MS_TOTAL,
       I_ERROR, I_STATUS, I_NCOLS };

static const struct mt_col info_cols[I_NCOLS] = {
	[I_ACCOUNT] = { "account", MT_COL_STR },
	[I_SERVER] = { "server", MT_COL_STR },
	[I_TRANSPORT] = { "transport", MT_COL_STR },
	[I_GREETING] = { "greeting", MT_COL_STR },
	[I_TLS_PROTO] = { "tls_protocol", MT_COL_STR },
	[I_TLS_CIPHER] = { "tls_cipher", MT_COL_STR },
	[I_CERT_SUBJECT] = { "cert_subject", MT_COL_STR },
	[I_CERT_ISSUER] = { "cert_issuer", MT_COL_STR },
	[I_CERT_EXPIRES] = { "cert_expires", MT_COL_STR },
	[I_CERT_FP] = { "cert_fingerprint", MT_COL_STR },
	[I_CERT_PINNED] = { "cert_pinned", MT_COL_BOOL },
	[I_AUTH] = { "auth", MT_COL_STR },
	[I_USER] = { "user", MT_COL_STR },
	[I_CAPS_GREETING] = { "caps_greeting", MT_COL_STR },
	[I_CAPS_PRELOGIN] = { "caps_before_login", MT_COL_STR },
	[I_CAPS_POSTLOGIN] = { "caps_after_login", MT_COL_STR },
	[I_MECHS] = { "auth_mechanisms", MT_COL_STR },
	[I_NAMESPACE] = { "namespaces", MT_COL_STR },
	[I_DELIM] = { "delimiter", MT_COL_STR },
	[I_COMPRESS] = { "compression", MT_COL_STR },
	[I_MS_CONNECT] = { "ms_connect", MT_COL_NUM },
	[I_MS_TLS] = { "ms_tls", MT_COL_NUM },
	[I_MS_GREETING] = { "ms_greeting", MT_COL_NUM },
	[I_MS_STARTTLS] = { "ms_starttls", MT_COL_NUM },
	[I_MS_AUTH] = { "ms_auth", MT_COL_NUM },
	[I_MS_COMPRESS] = { "ms_compress", MT_COL_NUM },
	[I_MS_TOTAL] = { "ms_total", MT_COL_NUM },
	[I_ERROR] = { "error", MT_COL_STR },
	[I_STATUS] = { "exit_status", MT_COL_NUM },
};

/* "AUTH=PLAIN AUTH=LOGIN" → "PLAIN LOGIN" */
static char *mechanisms(const char *caps)
{
	char *out = mt_xmalloc(strlen(caps) + 1), *o = out;
	for (const char *p = caps; *p;) {
		size_t w = strcspn(p, " ");
		if (w > 5 && strncmp(p, "AUTH=", 5) == 0) {
			if (o != out)
				*o++ = ' ';
			memcpy(o, p + 5, w - 5);
			o += w - 5;
		}
		p += w;
		while (*p == ' ')
			p++;
	}
	*o = '\0';
	return out;
}

/* One row of what session s showed; s is an open session, or (failed) the
 * record of an attempt that stopped at e: then what it got that far. */
static void fill(struct mt_ctx *ctx, struct mt_table *t, int row, struct mt_session *s, const char *ns,
		 char delim, const struct mt_err *failed, int logged_in)
{
	const struct mt_tls_info *tls = mt_session_tls_seen(s);
	const struct mt_timings *tm = mt_session_timings(s);
	char buf[600];

	mt_table_str(t, row, I_ACCOUNT, ctx->acct.name);
	if (ctx->acct.tunnel)
		snprintf(buf, sizeof buf, "tunnel: %s", ctx->acct.tunnel);
	else if (mt_session_peer(s)[0])
		snprintf(buf, sizeof buf, "%s (%s)", ctx->acct.host, mt_session_peer(s));
	else
		snprintf(buf, sizeof buf, "%s", ctx->acct.host ? ctx->acct.host : "");
	mt_table_str(t, row, I_SERVER, buf);
	if (mt_session_transport(s))
		mt_table_str(t, row, I_TRANSPORT, mt_session_transport(s));
	if (mt_session_greeting(s)[0])
		mt_table_str(t, row, I_GREETING, mt_session_greeting(s));
	if (tls) {
		if (tls->protocol[0])
			mt_table_str(t, row, I_TLS_PROTO, tls->protocol);
		if (tls->cipher[0])
			mt_table_str(t, row, I_TLS_CIPHER, tls->cipher);
		mt_table_str(t, row, I_CERT_SUBJECT, tls->subject);
		mt_table_str(t, row, I_CERT_ISSUER, tls->issuer);
		mt_table_str(t, row, I_CERT_EXPIRES, tls->not_after);
		mt_table_str(t, row, I_CERT_FP, tls->fingerprint);
		const char *how = !mt_session_tls(s) ? "no (not trusted: see the error)"
				  : tls->pinned ? "yes (fingerprint matched)" : "no (verified by CA and host name)";
		if (ctx->fmt == MT_FMT_HUMAN)
			mt_table_label(t, row, I_CERT_PINNED, how);
		else
			mt_table_bool(t, row, I_CERT_PINNED, mt_session_tls(s) && tls->pinned);
	}
	if (!failed || logged_in)
		mt_table_str(t, row, I_AUTH, mt_session_auth_method(s));
	else if (strcmp(mt_session_auth_method(s), "none") != 0) {
		snprintf(buf, sizeof buf, "%s (%s)", mt_session_auth_method(s),
			 failed->code == MT_EAUTH ? "refused" : "not completed");
		mt_table_str(t, row, I_AUTH, buf);
	}
	if (ctx->acct.as_user && mt_account_oauth(&ctx->acct))
		snprintf(buf, sizeof buf, "%s (its own token, from token_command)", ctx->acct.as_user);
	else if (ctx->acct.as_user)
		snprintf(buf, sizeof buf, "%s (authenticated as %s)", ctx->acct.as_user, ctx->acct.user);
	else
		snprintf(buf, sizeof buf, "%s", ctx->acct.user ? ctx->acct.user : "(preauthenticated)");
	mt_table_str(t, row, I_USER, buf);
	static const int capcol[3] = { I_CAPS_GREETING, I_CAPS_PRELOGIN, I_CAPS_POSTLOGIN };
	for (int p = MT_CAPS_GREETING; p <= MT_CAPS_POSTLOGIN; p++)
		if (!failed || mt_session_caps(s, p)[0])
			mt_table_str(t, row, capcol[p], mt_session_caps(s, p));
	if (!failed || mt_session_caps(s, MT_CAPS_PRELOGIN)[0]) {
		char *mech = mechanisms(mt_session_caps(s, MT_CAPS_PRELOGIN));
		if (*mech)
			mt_table_str(t, row, I_MECHS, mech);
		else
			mt_table_label(t, row, I_MECHS, "(none announced)");
		free(mech);
	}
	if (!failed) {
		mt_table_str(t, row, I_NAMESPACE, ns);
		snprintf(buf, sizeof buf, "%c", delim ? delim : '-');
		if (delim)
			mt_table_str(t, row, I_DELIM, buf);
		else
			mt_table_label(t, row, I_DELIM, "(flat)");
	}
	if (!failed || logged_in)
		mt_table_str(t, row, I_COMPRESS, mt_session_compressed(s) ? "DEFLATE" : "none");
	/* the timings of the steps that were taken */
	static const int mscol[] = { I_MS_CONNECT, I_MS_TLS, I_MS_GREETING, I_MS_STARTTLS, I_MS_AUTH,
				     I_MS_COMPRESS };
	const double ms[] = { tm->connect, tm->tls, tm->greeting, tm->starttls, tm->auth, tm->compress };
	for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
		if (ms[i] > 0 || ((!failed || logged_in) && (mscol[i] == I_MS_CONNECT || mscol[i] == I_MS_GREETING ||
					      mscol[i] == I_MS_AUTH)))
			mt_table_num(t, row, mscol[i], (long long)(ms[i] + 0.5));
	mt_table_num(t, row, I_MS_TOTAL, (long long)(tm->total + 0.5));
	if (failed) {
		mt_table_str(t, row, I_ERROR, failed->msg[0] ? failed->msg : "failed");
		mt_table_num(t, row, I_STATUS, failed->code ? failed->code : MT_ESOFT);
	}
}

static void show(struct mt_ctx *ctx, struct mt_session *s, const char *ns, char delim, const struct mt_err *failed,
		 int logged_in)
{
	struct mt_table t;
	mt_table_init(&t, info_cols, I_NCOLS, ctx->fmt, 0);
	t.type = "server";
	t.vertical = 1;
	fill(ctx, &t, mt_table_row(&t), s, ns, delim, failed, logged_in);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
}

static int info_main(struct mt_ctx *ctx)
{
	struct mt_session *s = ctx->s;
	const char *ns = NULL;
	char delim = 0;

	if (ctx->args.argc > 0)
		return mt_fail(ctx, MT_EUSAGE, "info takes no arguments");
	if (mt_namespace_text(s, &ns, &ctx->err) != MT_OK || mt_delimiter(s, &delim, &ctx->err) != MT_OK) {
		/* logged in, then a step failed: still what was learned */
		show(ctx, s, NULL, 0, &ctx->err, 1);
		fflush(stdout);
		return mt_fail_err(ctx, &ctx->err);
	}
	show(ctx, s, ns, delim, NULL, 0);
	return MT_OK;
}

/* The help desk's first question is why: what the attempt learned up to the
 * failure (greeting, certificate, capabilities, mechanisms, timings), then
 * the failure and its exit status, on stdout; the usual line on stderr. */
static int info_session_failed(struct mt_ctx *ctx)
{
	if (ctx->failed && ctx->args.argc == 0) {
		fflush(stderr);
		show(ctx, ctx->failed, NULL, 0, &ctx->err, 0);
		fflush(stdout);
	}
	return mt_fail_err(ctx, &ctx->err);
}

static const struct mt_applet info_applet = {
	.name = "info",
	.summary = "show what the server offers: greeting, TLS, capabilities, namespaces, timings",
	.usage = "[options]",
	.description = "Connects, secures and logs in exactly as every other applet does, then reports\n"
		       "each step. The first command to run when an account does not work.",
	.opts = info_opts,
	.flags = MT_APPLET_SESSION | MT_APPLET_FRESH,
	.main = info_main,
	.session_failed = info_session_failed,
};
MT_APPLET(info_applet);
