/* session.c — open an IMAP session: transport, greeting, STARTTLS, capability
 * bookkeeping, authentication, compression; trace with credentials redacted. */
#include "session_int.h"
#include "auth.h"

#include <ctype.h>
#include <poll.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <strings.h>

/* ---- libetpan stream driver over struct mt_conn ------------------------- */

static ssize_t low_read(mailstream_low *low, void *buf, size_t len)
{
	struct mt_session *s = low->data;
	ssize_t n = mt_conn_read(&s->conn, buf, len);
	/* numbers libetpan would wrap, lines without end: refused before it
	 * parses them (mt_imap_error then says why, exit 76) */
	if (n > 0 && mt_numguard_feed(&s->guard, buf, (size_t)n) < 0)
		return -1;
	/* End of stream is an error for IMAP, and must be one for libetpan:
	 * its literal reader takes 0 as "nothing yet" and spun for ever on a
	 * server that closed inside a literal (found by
	 * tests/fuzz/fuzz_response.c). s->conn.closed still says why. */
	return n == 0 && len > 0 ? -1 : n;
}

static ssize_t low_write(mailstream_low *low, const void *buf, size_t len)
{
	struct mt_session *s = low->data;
	return mt_conn_write(&s->conn, buf, len);
}

static int low_close(mailstream_low *low)
{
	(void)low;  /* the session closes the connection itself */
	return 0;
}

static int low_get_fd(mailstream_low *low)
{
	struct mt_session *s = low->data;
	return s->conn.fd;
}

static void low_free(mailstream_low *low)
{
	free(low);
}

static void low_cancel(mailstream_low *low)
{
	(void)low;
}

static struct mailstream_cancel *low_get_cancel(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static carray *low_get_chain(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static mailstream_low_driver mt_low_driver = {
	.mailstream_read = low_read,
	.mailstream_write = low_write,
	.mailstream_close = low_close,
	.mailstream_get_fd = low_get_fd,
	.mailstream_free = low_free,
	.mailstream_cancel = low_cancel,
	.mailstream_get_cancel = low_get_cancel,
	.mailstream_get_certificate_chain = low_get_chain,
};

/* ---- trace ------------------------------------------------------------- */

static void trace_logger(mailimap *imap, int log_type, const char *str, size_t size, void *ctx)
{
	struct mt_session *s = ctx;
	(void)imap;
	if (!s->tr.f)
		return;
	switch (log_type) {
	case MAILSTREAM_LOG_TYPE_DATA_RECEIVED:
		mt_trace_out(&s->tr, MT_TRACE_SERVER, str, size);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT: {
		/* belt and braces: never print a registered secret, even outside private sends */
		for (int k = 0; k < 3; k++)
			if (s->secrets[k] && *s->secrets[k] && memmem(str, size, s->secrets[k], strlen(s->secrets[k]))) {
				mt_trace_redacted(&s->tr, MT_TRACE_CLIENT);
				return;
			}
		mt_trace_out(&s->tr, MT_TRACE_CLIENT, str, size);
		break;
	}
	case MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE:
		mt_trace_redacted(&s->tr, MT_TRACE_CLIENT);
		break;
	default:
		break;
	}
}

/* A tunnel that ended before its server's greeting: why, from its exit
 * status (the shell's 127 is a command it could not find, 126 one it could
 * not run: a configuration error; another failure stays temporary, as
 * a lost connection is), or MT_OK when that says nothing more than the
 * closed pipe. */
static int tunnel_failed(struct mt_session *s, const char *cmd, struct mt_err *e)
{
	int st = cmd ? mt_conn_tunnel_ended(&s->conn, 300) : -1;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) == 0)
		return MT_OK;
	/* a command that ran and spoke was found: its 127 is its own (ssh's
	 * remote command, say) */
	if (s->conn.bytes_in > 0)
		return mt_seterr(e, MT_ETEMP, "tunnel command exited with status %d in the greeting: %s",
				 WEXITSTATUS(st), cmd);
	if (WEXITSTATUS(st) == 127)
		return mt_seterr(e, MT_ECONFIG, "tunnel command not found (No such file or directory; the shell "
			      "exited 127): %s", cmd);
	if (WEXITSTATUS(st) == 126)
		return mt_seterr(e, MT_ECONFIG, "tunnel command cannot be run (not executable; the shell exited 126): %s",
				 cmd);
	return mt_seterr(e, MT_ETEMP, "tunnel command exited with status %d before the server's greeting: %s",
			 WEXITSTATUS(st), cmd);
}

/* ---- errors and raw commands ------------------------------------------ */

int mt_imap_error(struct mt_session *s, int r, const char *what, struct mt_err *e)
{
	if (s->guard.err[0])
		return mt_seterr(e, MT_EPROTO, "%s: %s", what, s->guard.err);
	/* whatever libetpan made of a half-read response, a connection that
	 * ended under it is a lost connection: worth retrying */
	if (s->conn.closed && r != MAILIMAP_NO_ERROR)
		r = MAILIMAP_ERROR_STREAM;
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
		if (s->conn.timed_out)
			return mt_seterr(e, MT_ETEMP, "%s: timed out waiting for the server (%.0f s)", what,
					 s->idle_timeout_s);
		if (s->conn.closed || s->conn.ioerr[0] == '\0')
			return mt_seterr(e, MT_ETEMP, "%s: connection closed by the server", what);
		return mt_seterr(e, MT_ETEMP, "%s: connection lost: %s", what, s->conn.ioerr);
	case MAILIMAP_ERROR_PARSE:
		return mt_seterr(e, MT_EPROTO, "%s: cannot parse the server's response", what);
	case MAILIMAP_ERROR_PROTOCOL:
		return mt_seterr(e, MT_EPROTO, "%s: server said BAD: %s", what, mt_imap_last_text(s));
	case MAILIMAP_ERROR_MEMORY:
		return mt_seterr(e, MT_EOS, "%s: out of memory", what);
	case MAILIMAP_ERROR_FATAL:
		return mt_seterr(e, MT_ETEMP, "%s: server closed the session: %s", what, mt_imap_last_text(s));
	default:
		return mt_seterr(e, MT_EPROTO, "%s: failed (%s, libetpan error %d)", what, mt_imap_last_text(s), r);
	}
}

const char *mt_imap_last_text(struct mt_session *s)
{
	return s->imap && s->imap->imap_response ? s->imap->imap_response : "";
}

char *mt_imap_quote(const char *str)
{
	size_t n = strlen(str);
	char *out = mt_xmalloc(2 * n + 3), *o = out;
	if (strpbrk(str, "\r\n")) {
		free(out);
		return NULL;
	}
	*o++ = '"';
	for (; *str; str++) {
		if (*str == '"' || *str == '\\')
			*o++ = '\\';
		*o++ = *str;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

static int send_line(struct mt_session *s, const char *line, int private_data)
{
	mailstream *ms = s->imap->imap_stream;
	int r;
	if (private_data) {
		/* flush first so the private line is logged (and redacted) on its own */
		if (mailstream_flush(ms) == -1)
			return MAILIMAP_ERROR_STREAM;
		mailstream_set_privacy(ms, 0);
	}
	r = mailimap_send_current_tag(s->imap);
	if (r != MAILIMAP_NO_ERROR) {
		mailstream_set_privacy(ms, 1);
		return r;
	}
	if (mailstream_write(ms, line, strlen(line)) < 0 || mailstream_write(ms, "\r\n", 2) < 0 ||
	    mailstream_flush(ms) == -1) {
		mailstream_set_privacy(ms, 1);
		return MAILIMAP_ERROR_STREAM;
	}
	mailstream_set_privacy(ms, 1);
	return MAILIMAP_NO_ERROR;
}

static int read_response(struct mt_session *s, struct mailimap_response **resp, int *status)
{
	struct mailimap_response *rp = NULL;
	if (mailimap_read_line(s->imap) == NULL)
		return MAILIMAP_ERROR_STREAM;
	int r = mailimap_parse_response(s->imap, &rp);
	if (r == MAILIMAP_ERROR_PROTOCOL) {
		*status = MT_RESP_BAD;
		return MAILIMAP_NO_ERROR;
	}
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (rp->rsp_resp_done == NULL || rp->rsp_resp_done->rsp_type != MAILIMAP_RESP_DONE_TYPE_TAGGED ||
	    rp->rsp_resp_done->rsp_data.rsp_tagged == NULL) {
		/* a fatal "* BYE" ended the command: no tagged state to read */
		mailimap_response_free(rp);
		*status = MT_RESP_BAD;
		return MAILIMAP_NO_ERROR;
	}
	int t = rp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	*status = t == MAILIMAP_RESP_COND_STATE_OK ? MT_RESP_OK : t == MAILIMAP_RESP_COND_STATE_NO ? MT_RESP_NO : MT_RESP_BAD;
	if (resp)
		*resp = rp;
	else
		mailimap_response_free(rp);
	return MAILIMAP_NO_ERROR;
}

int mt_imap_run(struct mt_session *s, const char *cmd, int private_data,
		struct mailimap_response **resp, int *status, struct mt_err *e)
{
	char what[64];
	int r;
	/* name the command in errors, never its arguments (they may be secret) */
	snprintf(what, sizeof what, "%.*s", (int)strcspn(cmd, " "), cmd);
	if (resp)
		*resp = NULL;
	r = send_line(s, cmd, private_data);
	if (r == MAILIMAP_NO_ERROR)
		r = read_response(s, resp, status);
	if (r != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, r, what, e);
	return MT_OK;
}

int mt_imap_run_pipelined(struct mt_session *s, const char *const *cmds, int n,
			  void (*each)(struct mt_session *s, int i, int status, void *arg), void *arg,
			  struct mt_err *e)
{
	mailstream *ms = s->imap->imap_stream;
	int tags[MT_PIPELINE_MAX], r = MAILIMAP_NO_ERROR, i;
	char what[64];
	if (n < 1 || n > MT_PIPELINE_MAX)
		return mt_seterr(e, MT_ESOFT, "internal: %d pipelined commands", n);
	snprintf(what, sizeof what, "%.*s", (int)strcspn(cmds[0], " "), cmds[0]);
	s->conn.rate_charge = n;   /* --max-rate counts commands, not turnarounds */
	for (i = 0; i < n && r == MAILIMAP_NO_ERROR; i++) {
		r = mailimap_send_current_tag(s->imap);
		if (r == MAILIMAP_NO_ERROR &&
		    (mailstream_write(ms, cmds[i], strlen(cmds[i])) < 0 || mailstream_write(ms, "\r\n", 2) < 0))
			r = MAILIMAP_ERROR_STREAM;
		tags[i] = s->imap->imap_tag;
	}
	if (r == MAILIMAP_NO_ERROR && mailstream_flush(ms) == -1)
		r = MAILIMAP_ERROR_STREAM;
	int last = s->imap->imap_tag;
	for (i = 0; i < n && r == MAILIMAP_NO_ERROR; i++) {
		int status;
		s->imap->imap_tag = tags[i];   /* libetpan checks the tag of the response it parses */
		r = read_response(s, NULL, &status);
		if (r == MAILIMAP_NO_ERROR)
			each(s, i, status, arg);
	}
	s->imap->imap_tag = last;
	if (r != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, r, what, e);
	return MT_OK;
}

int mt_session_command(struct mt_session *s, const char *cmd, int *status, struct mt_err *e)
{
	return mt_imap_run(s, cmd, 0, NULL, status, e);
}

const char *mt_session_last_text(struct mt_session *s)
{
	return mt_imap_last_text(s);
}

/* ---- capabilities ------------------------------------------------------ */

static char *caps_string(struct mailimap_capability_data *cd)
{
	size_t cap = 16;
	clistiter *it;
	for (it = cd->cap_list ? clist_begin(cd->cap_list) : NULL; it; it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);
		const char *v = c->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE ? c->cap_data.cap_auth_type : c->cap_data.cap_name;
		cap += (v ? strlen(v) : 0) + 7;
	}
	char *out = mt_xmalloc(cap), *o = out;
	for (it = cd->cap_list ? clist_begin(cd->cap_list) : NULL; it; it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);
		const char *v = c->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE ? c->cap_data.cap_auth_type : c->cap_data.cap_name;
		if (v == NULL)
			continue;
		if (o != out)
			*o++ = ' ';
		if (c->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE)
			o += sprintf(o, "AUTH=");
		for (; *v; v++)
			*o++ = (char)toupper((unsigned char)*v);
	}
	*o = '\0';
	return out;
}

static void forget_caps(struct mt_session *s)
{
	if (s->imap->imap_connection_info && s->imap->imap_connection_info->imap_capability) {
		mailimap_capability_data_free(s->imap->imap_connection_info->imap_capability);
		s->imap->imap_connection_info->imap_capability = NULL;
	}
}

int mt_imap_caps(struct mt_session *s, enum mt_cap_phase phase, int force, struct mt_err *e)
{
	struct mailimap_capability_data *cd = NULL;
	free(s->caps[phase]);
	s->caps[phase] = NULL;
	if (!force && s->imap->imap_connection_info && s->imap->imap_connection_info->imap_capability) {
		s->caps[phase] = caps_string(s->imap->imap_connection_info->imap_capability);
		return MT_OK;
	}
	/* Not mailimap_capability(): libetpan 1.9 copies the capability list
	 * without checking that the server sent one, and crashed on a plain
	 * "tag OK" (found by tests/fuzz/fuzz_response.c). */
	int status = MT_RESP_BAD, r;
	forget_caps(s);
	if ((r = mt_imap_run(s, "CAPABILITY", 0, NULL, &status, e)) != MT_OK)
		return r;
	if (status != MT_RESP_OK)
		return mt_seterr(e, MT_EPROTO, "server refused CAPABILITY: %s", mt_imap_last_text(s));
	cd = s->imap->imap_connection_info ? s->imap->imap_connection_info->imap_capability : NULL;
	if (cd == NULL)
		return mt_seterr(e, MT_EPROTO, "server answered CAPABILITY without listing any capability");
	s->caps[phase] = caps_string(cd);
	return MT_OK;
}

static int current_phase(const struct mt_session *s)
{
	return s->caps[MT_CAPS_POSTLOGIN] ? MT_CAPS_POSTLOGIN :
	       s->caps[MT_CAPS_PRELOGIN] ? MT_CAPS_PRELOGIN : MT_CAPS_GREETING;
}

/* The capability word that is cap, or with value one "cap=...": where it
 * starts and (in *w) its length; NULL when the server did not say it. */
static const char *cap_word(const struct mt_session *s, const char *cap, int value, size_t *w)
{
	const char *c = s->caps[current_phase(s)];
	size_t n = strlen(cap);
	for (const char *p = c ? c : ""; *p;) {
		*w = strcspn(p, " ");
		if (strncasecmp(p, cap, n) == 0 && (value ? *w > n + 1 && p[n] == '=' : *w == n))
			return p;
		p += *w;
		while (*p == ' ')
			p++;
	}
	return NULL;
}

int mt_has_cap(const struct mt_session *s, const char *cap)
{
	size_t w;
	return cap_word(s, cap, 0, &w) != NULL;
}

int mt_cap_number(const struct mt_session *s, const char *cap, uint64_t *out)
{
	size_t w, n = strlen(cap), i = n + 1;
	const char *p = cap_word(s, cap, 1, &w);
	uint64_t v = 0;
	if (p == NULL)
		return 0;
	for (; i < w && i < n + 20 && isdigit((unsigned char)p[i]); i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	if (i != w)
		return 0;   /* no number, or one of 20 digits and more */
	*out = v;
	return 1;
}

/* ---- authentication ---------------------------------------------------- */

/* Write a SASL response line; private_data: a secret, redacted in the trace. */
static int send_response(struct mt_session *s, const char *text, int private_data)
{
	mailstream *ms = s->imap->imap_stream;
	int r = MAILIMAP_NO_ERROR;
	if (mailstream_flush(ms) == -1)
		return MAILIMAP_ERROR_STREAM;
	mailstream_set_privacy(ms, !private_data);
	if (mailstream_write(ms, text, strlen(text)) < 0 || mailstream_write(ms, "\r\n", 2) < 0 ||
	    mailstream_flush(ms) == -1)
		r = MAILIMAP_ERROR_STREAM;
	mailstream_set_privacy(ms, 1);
	return r;
}

/* AUTHENTICATE OAUTHBEARER / XOAUTH2 with the token from token_command:
 * the initial response with the command where SASL-IR allows, else after
 * the server's "+"; a refused token comes back as an error challenge,
 * answered (RFC 7628 3.2.3: with ^A; XOAUTH2: empty) to get the NO. */
static int authenticate_oauth(struct mt_session *s, const struct mt_account *a, struct mt_err *e)
{
	const char *mech = mt_auth_oauth_mech(a), *user = mt_auth_oauth_user(a);
	char *blob, *cmd, *challenge = NULL;
	int r, status = MT_RESP_BAD;
	char cap[32];

	snprintf(cap, sizeof cap, "AUTH=%s", mech);
	if (!mt_has_cap(s, cap))
		return mt_seterr(e, MT_EUNAVAIL, "the server does not offer %s (the account says auth = \"%s\")", cap,
				 a->auth == MT_AUTH_XOAUTH2 ? "xoauth2" : "oauthbearer");
	if ((r = mt_auth_oauth_begin(a, s->have_tls, &s->conn, a->host, &blob, e)) != MT_OK)
		return r;
	forget_caps(s);
	s->secrets[1] = mt_xstrdup(blob);
	s->auth_method = a->auth == MT_AUTH_XOAUTH2 ? "AUTHENTICATE XOAUTH2" : "AUTHENTICATE OAUTHBEARER";
	int ir = mt_has_cap(s, "SASL-IR");
	cmd = ir ? mt_xasprintf("AUTHENTICATE %s %s", mech, blob) : mt_xasprintf("AUTHENTICATE %s", mech);
	r = send_line(s, cmd, ir);
	OPENSSL_cleanse(cmd, strlen(cmd));
	free(cmd);
	char *line = r == MAILIMAP_NO_ERROR ? mailimap_read_line(s->imap) : NULL;
	if (line && !ir && line[0] == '+') {
		r = send_response(s, blob, 1);
		line = r == MAILIMAP_NO_ERROR ? mailimap_read_line(s->imap) : NULL;
	}
	if (line && line[0] == '+') {
		/* the error challenge: keep its JSON for the message, then answer it */
		const char *c = line + 1;
		while (*c == ' ')
			c++;
		challenge = mt_xasprintf("%.*s", (int)strcspn(c, "\r\n"), c);
		r = send_response(s, a->auth == MT_AUTH_XOAUTH2 ? "" : "AQ==", 0);
		line = r == MAILIMAP_NO_ERROR ? mailimap_read_line(s->imap) : NULL;
	}
	if (line == NULL) {
		r = mt_imap_error(s, r == MAILIMAP_NO_ERROR ? MAILIMAP_ERROR_STREAM : r, "AUTHENTICATE", e);
		if (challenge == NULL) {
			mt_auth_note_size(e, strlen(blob));
			r = e->code;
		}
	} else {
		/* the line read is the response's first: parse it with the rest */
		struct mailimap_response *rp = NULL;
		r = mailimap_parse_response(s->imap, &rp);
		if (r == MAILIMAP_NO_ERROR && rp->rsp_resp_done && rp->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED &&
		    rp->rsp_resp_done->rsp_data.rsp_tagged) {
			int t = rp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
			status = t == MAILIMAP_RESP_COND_STATE_OK ? MT_RESP_OK : t == MAILIMAP_RESP_COND_STATE_NO ? MT_RESP_NO : MT_RESP_BAD;
		}
		if (rp)
			mailimap_response_free(rp);
		r = r == MAILIMAP_NO_ERROR || r == MAILIMAP_ERROR_PROTOCOL ? MT_OK : mt_imap_error(s, r, "AUTHENTICATE", e);
	}
	OPENSSL_cleanse(blob, strlen(blob));
	free(blob);
	OPENSSL_cleanse(s->secrets[1], strlen(s->secrets[1]));
	free(s->secrets[1]);
	s->secrets[1] = NULL;
	if (s->imap->imap_stream && s->imap->imap_stream->write_buffer)
		OPENSSL_cleanse(s->imap->imap_stream->write_buffer, s->imap->imap_stream->buffer_max_size);
	if (r == MT_OK && status != MT_RESP_OK)
		r = mt_auth_token_refused(a, user, challenge, mt_imap_last_text(s), e);
	free(challenge);
	return r;
}

static int authenticate(struct mt_session *s, const struct mt_account *a, struct mt_err *e)
{
	if (mt_account_oauth(a))
		return authenticate_oauth(s, a, e);
	char *pw = NULL, *login = NULL, *cmd = NULL;
	const char *authzid = "";
	int r, status = MT_RESP_BAD;
	int plain_ok = mt_has_cap(s, "AUTH=PLAIN");
	int login_ok = !mt_has_cap(s, "LOGINDISABLED");

	if (a->user == NULL || *a->user == '\0')
		return mt_seterr(e, MT_EUSAGE, "no user name: give -u USER or set user in the account");
	if ((r = mt_auth_cleartext_check(a, s->have_tls, &s->conn, e)) != MT_OK)
		return r;
	mt_auth_identity(a, &login, &authzid);
	if (*authzid && a->auth == MT_AUTH_LOGIN) {
		free(login);
		return mt_seterr(e, MT_ECONFIG, "--as needs AUTHENTICATE PLAIN (authzid), but the account says auth = \"login\" "
				 "(use impersonation = \"master-login\" for LOGIN)");
	}
	if (*authzid && !plain_ok) {
		free(login);
		return mt_seterr(e, MT_EUNAVAIL, "--as needs AUTH=PLAIN, which the server does not offer "
				 "(try impersonation = \"master-login\")");
	}
	if (a->auth == MT_AUTH_PLAIN && !plain_ok) {
		free(login);
		return mt_seterr(e, MT_EUNAVAIL, "the server does not offer AUTH=PLAIN");
	}
	if (!plain_ok && (!login_ok || a->auth == MT_AUTH_PLAIN)) {
		free(login);
		return mt_seterr(e, MT_EUNAVAIL, "the server offers no usable authentication (no AUTH=PLAIN%s)",
				 login_ok ? "" : ", LOGINDISABLED");
	}
	/* a password_command gets the time a server answer may take, within the deadline */
	if ((r = mt_auth_password(a, s->idle_timeout_s, s->conn.deadline, &pw, e)) != MT_OK) {
		free(login);
		return r;
	}

	forget_caps(s);
	s->secrets[0] = mt_xstrdup(pw);
	if (plain_ok && a->auth != MT_AUTH_LOGIN) {
		char *blob = mt_sasl_plain(authzid, login, pw);
		s->secrets[1] = mt_xstrdup(blob);
		s->auth_method = "AUTHENTICATE PLAIN";
		if (mt_has_cap(s, "SASL-IR")) {
			cmd = mt_xasprintf("AUTHENTICATE PLAIN %s", blob);
			r = mt_imap_run(s, cmd, 1, NULL, &status, e);
		} else {
			r = send_line(s, "AUTHENTICATE PLAIN", 0);
			char *line = r == MAILIMAP_NO_ERROR ? mailimap_read_line(s->imap) : NULL;
			if (line == NULL)
				r = mt_imap_error(s, r == MAILIMAP_NO_ERROR ? MAILIMAP_ERROR_STREAM : r, "AUTHENTICATE", e);
			else if (line[0] != '+') {
				r = mt_seterr(e, MT_EAUTH, "AUTHENTICATE PLAIN refused: %.200s", line);
			} else {
				mailstream *ms = s->imap->imap_stream;
				mailstream_set_privacy(ms, 0);
				if (mailstream_write(ms, blob, strlen(blob)) < 0 || mailstream_write(ms, "\r\n", 2) < 0 ||
				    mailstream_flush(ms) == -1)
					r = MAILIMAP_ERROR_STREAM;
				else
					r = MAILIMAP_NO_ERROR;
				mailstream_set_privacy(ms, 1);
				if (r == MAILIMAP_NO_ERROR)
					r = read_response(s, NULL, &status);
				r = r == MAILIMAP_NO_ERROR ? MT_OK : mt_imap_error(s, r, "AUTHENTICATE", e);
			}
		}
		OPENSSL_cleanse(blob, strlen(blob));
		free(blob);
	} else {
		char *qu = mt_imap_quote(login), *qp = mt_imap_quote(pw);
		s->auth_method = "LOGIN";
		if (qu == NULL || qp == NULL) {
			r = mt_seterr(e, MT_EDATA, "user name or password contains a line break");
		} else {
			cmd = mt_xasprintf("LOGIN %s %s", qu, qp);
			s->secrets[2] = mt_xstrdup(qp);
			r = mt_imap_run(s, cmd, 1, NULL, &status, e);
		}
		free(qu);
		if (qp) {
			OPENSSL_cleanse(qp, strlen(qp));
			free(qp);
		}
	}
	if (cmd) {
		OPENSSL_cleanse(cmd, strlen(cmd));
		free(cmd);
	}
	OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	/* the credentials were only needed (and only redacted) for this: the
	 * copies go now, and so do the bytes libetpan's output buffer still holds */
	for (int i = 0; i < 3; i++)
		if (s->secrets[i]) {
			OPENSSL_cleanse(s->secrets[i], strlen(s->secrets[i]));
			free(s->secrets[i]);
			s->secrets[i] = NULL;
		}
	if (s->imap->imap_stream && s->imap->imap_stream->write_buffer)
		OPENSSL_cleanse(s->imap->imap_stream->write_buffer, s->imap->imap_stream->buffer_max_size);
	if (r == MT_OK && status != MT_RESP_OK) {
		r = mt_seterr(e, MT_EAUTH, "authentication as '%s'%s%s%s refused: %s", login,
			      *authzid ? " for '" : "", authzid, *authzid ? "'" : "", mt_imap_last_text(s));
	}
	free(login);
	return r;
}

/* ---- open / close ------------------------------------------------------ */

/* rfd/wfd >= 0: the server is already on these descriptors and is treated
 * like a tunnel (see mt_session_open_fds); else connect as `a` says. */
/* An IMAP server greets at once, a TLS one waits for our hello: a port
 * silent for a while gets a TLS handshake on a second connection, so that
 * --starttls to port 993 says so instead of waiting out the timeout. MT_OK
 * with the connection's wait cut to what is left of --timeout for the
 * greeting (*saved: the wait to restore after it), or the error. */
static int tls_port_check(struct mt_session *s, const struct mt_account *a, enum mt_tls tls, double *saved,
			  struct mt_err *e)
{
	double idle = a->idle_timeout > 0 ? a->idle_timeout * 1000.0 : 30000;
	double wait = idle < 1500 ? idle : 1500, probe = idle - wait < 2000 ? idle - wait : 2000;
	double t_wait = mt_now_ms();
	if (!mt_conn_readable(&s->conn, (int)wait) && probe >= 100 && mt_tls_probe(a->host, s->conn.port, probe))
		return mt_seterr(e, MT_EUNAVAIL, "port %d sends no IMAP greeting and answers a TLS handshake: it "
				 "speaks implicit TLS: use --tls%s", s->conn.port,
				 tls == MT_TLS_STARTTLS ? " instead of --starttls" : "");
	*saved = s->conn.idle_ms;
	double left = idle - (mt_now_ms() - t_wait);
	s->conn.idle_ms = left > 1 ? left : 1;
	return MT_OK;
}

static int session_open(const struct mt_account *a, FILE *trace, int rfd, int wfd,
			struct mt_session **out, struct mt_session **failed, struct mt_err *e)
{
	struct mt_session *s = mt_xmalloc(sizeof *s);
	int r, preauth = 0;
	double t, greet_idle = -1;
	enum mt_tls tls = a->tls;
	int port = a->port;
	const int tunnel = a->tunnel != NULL || rfd >= 0;

	*out = NULL;
	if (failed)
		*failed = NULL;
	mt_numguard_init(&s->guard);
	s->conn.fd = s->conn.wfd = -1;
	mt_trace_init(&s->tr, trace);
	s->idle_timeout_s = a->idle_timeout > 0 ? a->idle_timeout : 30;
	s->conn.idle_ms = s->idle_timeout_s * 1000.0;
	s->t0 = t = mt_now_ms();
	if (a->deadline > 0)
		s->conn.deadline = s->t0 + a->deadline * 1000.0;
	mailstream_debug = 0;   /* libetpan must never write its own debug log */

	if (rfd >= 0) {
		s->transport = "tunnel";
		r = mt_conn_fds(&s->conn, rfd, wfd);
	} else if (a->tunnel) {
		s->transport = "tunnel";
		r = mt_conn_tunnel(&s->conn, a->tunnel, e);
	} else {
		if (a->host == NULL || *a->host == '\0') {
			r = mt_seterr(e, MT_EUSAGE, "no server given: use -H HOST, --tunnel, or an account in the configuration");
			goto fail;
		}
		if (tls == MT_TLS_UNSET)
			tls = port == 143 ? MT_TLS_STARTTLS : MT_TLS_IMPLICIT;
		if (port == 0)
			port = tls == MT_TLS_IMPLICIT ? 993 : 143;
		s->transport = tls == MT_TLS_IMPLICIT ? "implicit TLS" : tls == MT_TLS_STARTTLS ? "STARTTLS" : "cleartext";
		r = mt_conn_tcp(&s->conn, a->host, port, a->connect_timeout * 1000.0, e);
	}
	if (r != MT_OK)
		goto fail;
	s->t.connect = mt_now_ms() - t;

	if (!tunnel && tls == MT_TLS_IMPLICIT) {
		t = mt_now_ms();
		if ((r = mt_conn_tls(&s->conn, a->host, a->ca_file, a->fingerprint, &s->tls, e)) != MT_OK)
			goto fail;
		s->have_tls = 1;
		s->t.tls = mt_now_ms() - t;
	}

	if (rfd < 0 && !tunnel && tls != MT_TLS_IMPLICIT && s->conn.port > 0 &&
	    (r = tls_port_check(s, a, tls, &greet_idle, e)) != MT_OK)
		goto fail;

	t = mt_now_ms();
	s->low = mailstream_low_new(s, &mt_low_driver);
	mailstream *ms = s->low ? mailstream_new(s->low, 8192) : NULL;
	s->imap = mailimap_new(0, NULL);
	if (ms == NULL || s->imap == NULL) {
		r = mt_seterr(e, MT_EOS, "out of memory");
		goto fail;
	}
	if (trace)
		mailimap_set_logger(s->imap, trace_logger, s);
	r = mailimap_connect(s->imap, ms);
	if (greet_idle >= 0)
		s->conn.idle_ms = greet_idle;
	if (s->imap->imap_response)
		s->greeting = mt_xstrdup(s->imap->imap_response);
	if (r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
		preauth = 1;
	} else if (r == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION) {
		r = mt_seterr(e, MT_ETEMP, "server refused the connection: %s", s->greeting ? s->greeting : "BYE");
		goto fail;
	} else if (r == MAILIMAP_ERROR_PARSE && s->imap->imap_stream_buffer) {
		/* show what came instead of a greeting: that is what the help desk needs */
		r = mt_seterr(e, MT_EPROTO, "not an IMAP greeting: %.200s", s->imap->imap_stream_buffer->str);
		goto fail;
	} else if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		int why = tunnel_failed(s, a->tunnel, e);
		r = why != MT_OK ? why : mt_imap_error(s, r, "greeting", e);
		goto fail;
	}
	s->t.greeting = mt_now_ms() - t;
	if (preauth && !tunnel) {
		r = mt_seterr(e, MT_EUNAVAIL, "server sent PREAUTH on a network connection; refusing "
			      "(PREAUTH is accepted only in tunnel mode)");
		goto fail;
	}
	if ((r = mt_imap_caps(s, MT_CAPS_GREETING, 0, e)) != MT_OK)
		goto fail;

	if (!tunnel && tls == MT_TLS_STARTTLS) {
		int status = MT_RESP_BAD;
		t = mt_now_ms();
		if (!mt_has_cap(s, "STARTTLS")) {
			r = mt_seterr(e, MT_EUNAVAIL, "server does not offer STARTTLS; refusing to continue in cleartext "
				      "(use --tls for port 993, or --no-tls if cleartext is really wanted)");
			goto fail;
		}
		if ((r = mt_imap_run(s, "STARTTLS", 0, NULL, &status, e)) != MT_OK)
			goto fail;
		if (status != MT_RESP_OK) {
			r = mt_seterr(e, MT_EUNAVAIL, "server refused STARTTLS: %s", mt_imap_last_text(s));
			goto fail;
		}
		/* Anything buffered now was sent before TLS and could be forged (CVE-2020-15953 class). */
		if (s->imap->imap_stream->read_buffer_len > 0 || mt_conn_pending(&s->conn)) {
			r = mt_seterr(e, MT_EPROTO, "server sent data after STARTTLS before the TLS handshake "
				      "(possible injection); aborting before authentication");
			goto fail;
		}
		if ((r = mt_conn_tls(&s->conn, a->host, a->ca_file, a->fingerprint, &s->tls, e)) != MT_OK)
			goto fail;
		s->have_tls = 1;
		/* capabilities announced before TLS are forgotten */
		forget_caps(s);
		if ((r = mt_imap_caps(s, MT_CAPS_PRELOGIN, 1, e)) != MT_OK)
			goto fail;
		s->t.starttls = mt_now_ms() - t;
	} else {
		s->caps[MT_CAPS_PRELOGIN] = mt_xstrdup(s->caps[MT_CAPS_GREETING] ? s->caps[MT_CAPS_GREETING] : "");
	}

	if (!preauth) {
		t = mt_now_ms();
		if ((r = authenticate(s, a, e)) != MT_OK)
			goto fail;
		/* authenticated by a raw command: tell libetpan, whose calls check the state */
		s->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
		s->t.auth = mt_now_ms() - t;
	} else {
		s->auth_method = "PREAUTH";
		forget_caps(s);
	}
	/* re-read capabilities after authentication (from the OK's code when sent) */
	if ((r = mt_imap_caps(s, MT_CAPS_POSTLOGIN, 0, e)) != MT_OK)
		goto fail;

	if ((a->compress > 0 || (a->compress < 0 && !s->conn.loopback)) && mt_has_cap(s, "COMPRESS=DEFLATE")) {
		int status = MT_RESP_BAD;
		t = mt_now_ms();
		if ((r = mt_imap_run(s, "COMPRESS DEFLATE", 0, NULL, &status, e)) != MT_OK)
			goto fail;
		if (status == MT_RESP_OK && (r = mt_conn_start_compress(&s->conn, e)) != MT_OK)
			goto fail;
		s->t.compress = mt_now_ms() - t;
	}
	if (mt_has_cap(s, "UTF8=ACCEPT")) {
		/* RFC 6855: mailbox names then travel as UTF-8 */
		int status = MT_RESP_BAD;
		if ((r = mt_imap_run(s, "ENABLE UTF8=ACCEPT", 0, NULL, &status, e)) != MT_OK)
			goto fail;
		s->utf8_accept = status == MT_RESP_OK;
	}
	s->t.total = mt_now_ms() - s->t0;
	/* --max-rate from here: the login's few commands are not what servers throttle */
	s->conn.rate_ms = a->max_rate > 0 ? 1000.0 / a->max_rate : 0;
	*out = s;
	return MT_OK;
fail:
	s->conn.closed = 1;   /* no LOGOUT on a session that failed to open */
	s->t.total = mt_now_ms() - s->t0;
	if (failed) {
		/* what was learned before the failure, for info to show
		 * (closed, without LOGOUT, by mt_session_close) */
		*failed = s;
	} else {
		mt_session_close(s);
	}
	return r ? r : MT_ESOFT;
}

int mt_session_open(const struct mt_account *a, FILE *trace, struct mt_session **out, struct mt_err *e)
{
	return session_open(a, trace, -1, -1, out, NULL, e);
}

int mt_session_open_report(const struct mt_account *a, FILE *trace, struct mt_session **out,
			   struct mt_session **failed, struct mt_err *e)
{
	return session_open(a, trace, -1, -1, out, failed, e);
}

int mt_session_open_fds(const struct mt_account *a, int rfd, int wfd, struct mt_session **out, struct mt_err *e)
{
	return session_open(a, NULL, rfd, wfd, out, NULL, e);
}

void mt_session_selected(struct mt_session *s, const char *wire, int rw)
{
	free(s->selected);
	s->selected = wire && rw ? mt_xstrdup(wire) : NULL;
	/* the UIDNEXT of this SELECT/EXAMINE bounds every later answer about the
	 * folder: a message that arrives afterwards is the next run's (select.c) */
	s->sel_open = wire != NULL;
	s->sel_uidnext = wire && s->imap && s->imap->imap_selection_info ? s->imap->imap_selection_info->sel_uidnext : 0;
}

void mt_session_set_limits(struct mt_session *s, const struct mt_account *a)
{
	s->idle_timeout_s = a->idle_timeout > 0 ? a->idle_timeout : 30;
	s->conn.idle_ms = s->idle_timeout_s * 1000.0;
	s->conn.deadline = a->deadline > 0 ? mt_now_ms() + a->deadline * 1000.0 : 0;
	s->conn.rate_ms = a->max_rate > 0 ? 1000.0 / a->max_rate : 0;
	s->conn.rate_next = 0;
	s->conn.timed_out = 0;
}

void mt_session_close(struct mt_session *s)
{
	if (s == NULL)
		return;
	free(s->selected);
	s->selected = NULL;
	if (s->imap) {
		if (s->imap->imap_stream && s->imap->imap_state != MAILIMAP_STATE_DISCONNECTED &&
		    !s->conn.closed && !s->conn.timed_out) {
			/* LOGOUT must not hang: give it a short leash */
			s->conn.idle_ms = 2000;
			mailimap_logout(s->imap);
		}
		/* mailimap_free would send LOGOUT itself on a still-open stream */
		if (s->imap->imap_stream) {
			mailstream_close(s->imap->imap_stream);
			s->imap->imap_stream = NULL;
		}
		mailimap_free(s->imap);
	} else if (s->low) {
		mailstream_low_free(s->low);
	}
	mt_conn_close(&s->conn);
	for (int i = 0; i < 3; i++) {
		free(s->caps[i]);
		if (s->secrets[i]) {
			OPENSSL_cleanse(s->secrets[i], strlen(s->secrets[i]));
			free(s->secrets[i]);
		}
	}
	free(s->greeting);
	free(s->ns_text);
	free(s->ns_personal);
	free(s);
}

const char *mt_session_greeting(const struct mt_session *s) { return s->greeting ? s->greeting : ""; }
const char *mt_session_caps(const struct mt_session *s, enum mt_cap_phase p) { return s->caps[p] ? s->caps[p] : ""; }
const struct mt_tls_info *mt_session_tls(const struct mt_session *s) { return s->have_tls ? &s->tls : NULL; }
const struct mt_tls_info *mt_session_tls_seen(const struct mt_session *s)
{
	return s->have_tls || s->tls.fingerprint[0] ? &s->tls : NULL;
}
const struct mt_timings *mt_session_timings(const struct mt_session *s) { return &s->t; }
const char *mt_session_transport(const struct mt_session *s) { return s->transport; }
const char *mt_session_auth_method(const struct mt_session *s) { return s->auth_method ? s->auth_method : "none"; }
const char *mt_session_peer(const struct mt_session *s) { return s->conn.peer; }
int mt_session_compressed(const struct mt_session *s) { return s->conn.compress; }

int mt_session_alive(const struct mt_session *s)
{
	if (s == NULL || s->conn.closed || s->conn.timed_out)
		return 0;
	/* anything waiting on an idle session is the server going away */
	if (s->imap && s->imap->imap_stream && s->imap->imap_stream->read_buffer_len > 0)
		return 0;
	if (s->conn.ssl && SSL_pending(s->conn.ssl) > 0)
		return 0;
	struct pollfd p = { .fd = s->conn.fd, .events = POLLIN };
	return poll(&p, 1, 0) == 0;
}

/* Leave the selected state before a kept session serves another run (batch,
 * --persist). A server answers STATUS of the folder a session has selected
 * from that session's own view, which does not see what other clients did
 * since its last command: Dovecot 2.3 reported no new mail to a persisted
 * `filter --new` after ten deliveries. UNSELECT where offered; otherwise an
 * EXAMINE of a name no server has fails, and a failed EXAMINE deselects
 * (RFC 3501 6.3.2). Never CLOSE: it expunges. */
int mt_session_deselect(struct mt_session *s, struct mt_err *e)
{
	int status = MT_RESP_NO, r = MT_OK;
	if (s->imap == NULL || s->imap->imap_state != MAILIMAP_STATE_SELECTED)
		return MT_OK;
	if (mt_has_cap(s, "UNSELECT"))
		r = mt_imap_run(s, "UNSELECT", 0, NULL, &status, e);
	if (r == MT_OK && status != MT_RESP_OK) {
		r = mt_imap_run(s, "EXAMINE \"mailtool-no-such-folder/deselect\"", 0, NULL, &status, e);
		/* only a NO deselects: a BAD (or a BYE) leaves the old folder selected */
		if (r == MT_OK && status == MT_RESP_OK)
			return mt_seterr(e, MT_EPROTO, "the server has a folder 'mailtool-no-such-folder/deselect'");
		if (r == MT_OK && status != MT_RESP_NO)
			return mt_seterr(e, MT_EPROTO, "the server refused to leave the selected folder: %s", mt_imap_last_text(s));
	}
	if (r != MT_OK)
		return r;
	s->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	mt_session_selected(s, NULL, 0);
	return MT_OK;
}

void mt_session_stats(const struct mt_session *s, uint64_t *rt, uint64_t *in, uint64_t *out)
{
	*rt = s->conn.round_trips;
	*in = s->conn.bytes_in;
	*out = s->conn.bytes_out;
}

void mt_account_release(struct mt_account *a)
{
	free(a->name);
	free(a->host);
	free(a->tunnel);
	free(a->user);
	free(a->as_user);
	free(a->master_separator);
	free(a->ca_file);
	free(a->fingerprint);
	free(a->password_command);
	free(a->password_file);
	free(a->token_command);
	free(a->config_file);
	memset(a, 0, sizeof *a);
}
