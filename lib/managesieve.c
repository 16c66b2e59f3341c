/* managesieve.c — RFC 5804 on lib/transport.c: a response is read as lines
 * of tokens (atoms, quoted strings, literals, parentheses); every size the
 * server announces is bounded before a byte of it is read. */
#include "managesieve.h"

#include "auth.h"
#include "trace.h"
#include "transport.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE (64u << 10)      /* bytes of one line outside literals */
#define MAX_TOKENS 64             /* tokens on one line */
#define MAX_LINES 100000          /* data lines of one response */
#define MAX_CAPS 64

enum { T_ATOM, T_STRING, T_LPAR, T_RPAR };

struct tok {
	int type;
	char *s;                  /* owned, never NULL, NUL-terminated (a literal may hold NULs too) */
	size_t len;
};

struct line {
	struct tok v[MAX_TOKENS];
	int n;
};

enum { RESP_OK, RESP_NO, RESP_BYE };

struct mt_msieve {
	struct mt_conn conn;
	struct mt_tls_info tls;
	int have_tls;
	int dead;                 /* BYE, a lost connection or a protocol error: no LOGOUT */
	struct mt_trace tr;
	double idle_timeout_s;
	unsigned char buf[16384];
	size_t pos, len;
	char *capn[MAX_CAPS], *capv[MAX_CAPS];   /* owned; names upper case */
	int ncap;
	char **ext;               /* owned, NULL-terminated: the SIEVE words */
	char code[160];           /* response code of the last final response */
	char *text;               /* owned: its human text */
};

/* ---- reading ------------------------------------------------------------- */

static int io_error(struct mt_msieve *m, const char *what, struct mt_err *e)
{
	m->dead = 1;
	if (m->conn.timed_out)
		return mt_seterr(e, MT_ETEMP, "%s: timed out waiting for the server (%.0f s)", what, m->idle_timeout_s);
	if (m->conn.closed || m->conn.ioerr[0] == '\0')
		return mt_seterr(e, MT_ETEMP, "%s: connection closed by the server", what);
	return mt_seterr(e, MT_ETEMP, "%s: connection lost: %s", what, m->conn.ioerr);
}

static int proto_error(struct mt_msieve *m, const char *what, const char *why, struct mt_err *e)
{
	m->dead = 1;
	mt_seterr(e, MT_EPROTO, "%s: %s", what, why);
	return MT_EPROTO;
}

/* The next byte from the server, or -1 (e set). */
static int next_byte(struct mt_msieve *m, const char *what, struct mt_err *e)
{
	if (m->pos == m->len) {
		ssize_t n = mt_conn_read(&m->conn, m->buf, sizeof m->buf);
		if (n <= 0) {
			io_error(m, what, e);
			return -1;
		}
		mt_trace_out(&m->tr, MT_TRACE_SERVER, (const char *)m->buf, (size_t)n);
		m->pos = 0;
		m->len = (size_t)n;
	}
	return m->buf[m->pos++];
}

static void line_release(struct line *L)
{
	for (int i = 0; i < L->n; i++)
		free(L->v[i].s);
	L->n = 0;
}

static int add_tok(struct mt_msieve *m, struct line *L, int type, char *s, size_t len, const char *what, struct mt_err *e)
{
	if (L->n == MAX_TOKENS) {
		free(s);
		return proto_error(m, what, "more than 64 items on one line of the response", e);
	}
	L->v[L->n++] = (struct tok){ .type = type, .s = s, .len = len };
	return MT_OK;
}

/* {N} or {N+} after the '{': the literal's bytes (N bounded first). */
static int read_literal(struct mt_msieve *m, struct line *L, const char *what, struct mt_err *e)
{
	uint64_t n = 0;
	int c, digits = 0;
	char msg[160];
	while ((c = next_byte(m, what, e)) >= 0 && isdigit(c)) {
		if (++digits > 20)
			return proto_error(m, what, "a literal size of more than 20 digits", e);
		n = n > UINT64_MAX / 10 ? UINT64_MAX : n * 10 + (uint64_t)(c - '0');
		if (n > MT_MSIEVE_MAX_LITERAL) {
			snprintf(msg, sizeof msg, "the server announced a literal of more than %u bytes (the limit is %u MiB)",
				 MT_MSIEVE_MAX_LITERAL, MT_MSIEVE_MAX_LITERAL >> 20);
			return proto_error(m, what, msg, e);
		}
	}
	if (c < 0)
		return MT_ETEMP;
	if (c == '+')
		c = next_byte(m, what, e);
	if (c < 0)
		return MT_ETEMP;
	if (digits == 0 || c != '}')
		return proto_error(m, what, "a malformed literal (expected {N})", e);
	if ((c = next_byte(m, what, e)) == '\r')
		c = next_byte(m, what, e);
	if (c < 0)
		return MT_ETEMP;
	if (c != '\n')
		return proto_error(m, what, "a literal size not followed by a line end", e);
	char *s = mt_xmalloc((size_t)n + 1);
	for (size_t got = 0; got < n;) {
		if (m->pos == m->len) {
			if (next_byte(m, what, e) < 0) {
				free(s);
				return MT_ETEMP;
			}
			m->pos--;   /* refilled: the bytes are taken from the buffer below */
		}
		size_t k = m->len - m->pos < n - got ? m->len - m->pos : (size_t)n - got;
		memcpy(s + got, m->buf + m->pos, k);
		m->pos += k;
		got += k;
	}
	return add_tok(m, L, T_STRING, s, (size_t)n, what, e);
}

/* One line of the response: its tokens in L (released by the caller). */
static int read_line(struct mt_msieve *m, struct line *L, const char *what, struct mt_err *e)
{
	size_t linelen = 0;
	int c, r;
	L->n = 0;
	for (;;) {
		if ((c = next_byte(m, what, e)) < 0)
			return MT_ETEMP;
		if (++linelen > MAX_LINE)
			return proto_error(m, what, "a response line longer than 64 KiB", e);
		if (c == ' ')
			continue;
		if (c == '\r') {
			if ((c = next_byte(m, what, e)) < 0)
				return MT_ETEMP;
			if (c != '\n')
				return proto_error(m, what, "a carriage return without a line feed", e);
		}
		if (c == '\n')
			return L->n ? MT_OK : proto_error(m, what, "an empty response line", e);
		if (c == '(' || c == ')') {
			if ((r = add_tok(m, L, c == '(' ? T_LPAR : T_RPAR, mt_xstrdup(c == '(' ? "(" : ")"), 1, what, e)) != MT_OK)
				return r;
		} else if (c == '{') {
			if ((r = read_literal(m, L, what, e)) != MT_OK)
				return r;
		} else if (c == '"') {
			size_t cap = 64, n = 0;
			char *s = mt_xmalloc(cap);
			for (;;) {
				if ((c = next_byte(m, what, e)) < 0 || ++linelen > MAX_LINE || c == '\r' || c == '\n' || c == 0) {
					free(s);
					return c < 0 ? MT_ETEMP : proto_error(m, what, linelen > MAX_LINE ?
						"a response line longer than 64 KiB" : "a quoted string not closed on its line", e);
				}
				if (c == '"')
					break;
				if (c == '\\' && ((c = next_byte(m, what, e)) < 0 || (c != '"' && c != '\\'))) {
					free(s);
					return c < 0 ? MT_ETEMP : proto_error(m, what, "a bad escape in a quoted string", e);
				}
				if (n + 1 == cap)
					s = mt_xrealloc(s, cap *= 2);
				s[n++] = (char)c;
			}
			s[n] = '\0';
			if ((r = add_tok(m, L, T_STRING, s, n, what, e)) != MT_OK)
				return r;
		} else if (c > ' ' && c < 0x7f) {
			char a[128];
			size_t n = 0;
			a[n++] = (char)c;
			for (;;) {
				if (m->pos == m->len) {
					if (next_byte(m, what, e) < 0)
						return MT_ETEMP;
					m->pos--;   /* refilled: looked at, not taken */
				}
				c = m->buf[m->pos];
				if (c <= ' ' || c >= 0x7f || strchr("(){\"", c))
					break;
				if (n + 1 == sizeof a)
					return proto_error(m, what, "an atom longer than 127 bytes", e);
				a[n++] = (char)c;
				m->pos++;
				linelen++;
			}
			a[n] = '\0';
			if ((r = add_tok(m, L, T_ATOM, mt_xstrdup(a), n, what, e)) != MT_OK)
				return r;
		} else {
			return proto_error(m, what, "a control character in the response", e);
		}
	}
}

/* The line is a final response (OK, NO, BYE with an optional code and
 * text): its kind and the code and text kept in m; -1 for a data line. */
static int final_kind(const struct line *L)
{
	if (L->v[0].type != T_ATOM)
		return -1;
	if (strcasecmp(L->v[0].s, "OK") == 0)
		return RESP_OK;
	if (strcasecmp(L->v[0].s, "NO") == 0)
		return RESP_NO;
	if (strcasecmp(L->v[0].s, "BYE") == 0)
		return RESP_BYE;
	return -1;
}

static int take_final(struct mt_msieve *m, const struct line *L, const char *what, struct mt_err *e)
{
	int i = 1;
	m->code[0] = '\0';
	free(m->text);
	m->text = NULL;
	if (i < L->n && L->v[i].type == T_LPAR) {
		/* (ATOM [string]): QUOTA/MAXSIZE, TAG "x", SASL "..." */
		if (i + 2 >= L->n || L->v[i + 1].type != T_ATOM)
			return proto_error(m, what, "a malformed response code", e);
		snprintf(m->code, sizeof m->code, "%s", L->v[i + 1].s);
		i += 2;
		if (L->v[i].type == T_STRING)
			i++;
		if (i >= L->n || L->v[i].type != T_RPAR)
			return proto_error(m, what, "a malformed response code", e);
		i++;
	}
	if (i < L->n && L->v[i].type == T_STRING) {
		m->text = mt_xmalloc(L->v[i].len + 1);
		/* the text is one line for the user: line ends in it become blanks */
		for (size_t k = 0; k < L->v[i].len; k++)
			m->text[k] = L->v[i].s[k] == '\r' || L->v[i].s[k] == '\n' || L->v[i].s[k] == '\0' ? ' ' : L->v[i].s[k];
		m->text[L->v[i].len] = '\0';
		for (size_t k = L->v[i].len; k > 0 && m->text[k - 1] == ' '; k--)
			m->text[k - 1] = '\0';
		i++;
	}
	if (i != L->n)
		return proto_error(m, what, "unexpected items after the response's text", e);
	return MT_OK;
}

/* Lines up to the final response; data lines go to each (NULL: none is
 * expected). *kind is RESP_OK or RESP_NO; a BYE is an error (75). */
static int read_response(struct mt_msieve *m, const char *what, int (*each)(struct mt_msieve *, struct line *, void *, struct mt_err *),
			 void *arg, int *kind, struct mt_err *e)
{
	struct line L = { .n = 0 };
	for (int lines = 0; lines <= MAX_LINES; lines++) {
		int r = read_line(m, &L, what, e);
		if (r != MT_OK) {
			line_release(&L);
			return r;
		}
		int k = final_kind(&L);
		if (k >= 0) {
			r = take_final(m, &L, what, e);
			line_release(&L);
			if (r != MT_OK)
				return r;
			if (k == RESP_BYE) {
				m->dead = 1;
				return mt_seterr(e, MT_ETEMP, "%s: the server closed the session: %s", what,
						 m->text ? m->text : "BYE");
			}
			*kind = k;
			return MT_OK;
		}
		if (each == NULL) {
			line_release(&L);
			return proto_error(m, what, "an unexpected line in the response", e);
		}
		r = each(m, &L, arg, e);
		line_release(&L);
		if (r != MT_OK)
			return r;
	}
	return proto_error(m, what, "more than 100000 lines in one response", e);
}

/* ---- writing ------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = mt_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* A string argument: quoted when short and plain, else a literal {N+}. */
static void sb_string(struct sbuf *b, const char *s, size_t n, int literal)
{
	int quote = !literal && n <= 1024;
	for (size_t i = 0; quote && i < n; i++)
		quote = s[i] != '\r' && s[i] != '\n' && s[i] != '\0';
	sb_add(b, " ", 1);
	if (quote) {
		sb_add(b, "\"", 1);
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '"' || s[i] == '\\')
				sb_add(b, "\\", 1);
			sb_add(b, s + i, 1);
		}
		sb_add(b, "\"", 1);
	} else {
		char head[32];
		int k = snprintf(head, sizeof head, "{%zu+}\r\n", n);
		sb_add(b, head, (size_t)k);
		sb_add(b, s, n);
	}
}

static int send_buf(struct mt_msieve *m, struct sbuf *b, const char *what, struct mt_err *e)
{
	sb_add(b, "\r\n", 2);
	mt_trace_out(&m->tr, MT_TRACE_CLIENT, b->p, b->n);
	int r = mt_conn_write(&m->conn, b->p, b->n) < 0 ? io_error(m, what, e) : MT_OK;
	free(b->p);
	b->p = NULL;
	return r;
}

/* A command of up to two string arguments (the second a literal when
 * literal is set) and an optional number; its response; NO is refused (69). */
static int command(struct mt_msieve *m, const char *what, const char *a1, size_t n1, const char *a2, size_t n2,
		   int literal, int (*each)(struct mt_msieve *, struct line *, void *, struct mt_err *), void *arg,
		   int *kind, struct mt_err *e)
{
	struct sbuf b = { 0 };
	int r;
	if (m->dead)
		return mt_seterr(e, MT_ETEMP, "%s: the connection is gone", what);
	sb_add(&b, what, strlen(what));
	if (a1)
		sb_string(&b, a1, n1, 0);
	if (a2)
		sb_string(&b, a2, n2, literal);
	if ((r = send_buf(m, &b, what, e)) != MT_OK)
		return r;
	return read_response(m, what, each, arg, kind, e);
}

static int refused(struct mt_msieve *m, const char *what, const char *name, struct mt_err *e)
{
	return mt_seterr(e, MT_EUNAVAIL, "%s%s%s%s refused by the server%s%s%s: %s", what, name ? " '" : "", name ? name : "",
			 name ? "'" : "", m->code[0] ? " (" : "", m->code, m->code[0] ? ")" : "",
			 m->text && *m->text ? m->text : "no reason given");
}

/* ---- capabilities ---------------------------------------------------------- */

static void forget_caps(struct mt_msieve *m)
{
	for (int i = 0; i < m->ncap; i++) {
		free(m->capn[i]);
		free(m->capv[i]);
	}
	m->ncap = 0;
	if (m->ext)
		mt_words_free(m->ext);
	m->ext = NULL;
}

static int cap_line(struct mt_msieve *m, struct line *L, void *arg, struct mt_err *e)
{
	(void)arg;
	if (L->v[0].type != T_STRING || L->n > 2 || (L->n == 2 && L->v[1].type != T_STRING))
		return proto_error(m, "capabilities", "a capability line that is not \"NAME\" [\"VALUE\"]", e);
	if (m->ncap == MAX_CAPS)
		return proto_error(m, "capabilities", "more than 64 capabilities", e);
	char *n = mt_xstrdup(L->v[0].s);
	for (char *p = n; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	m->capn[m->ncap] = n;
	m->capv[m->ncap++] = mt_xstrdup(L->n == 2 ? L->v[1].s : "");
	return MT_OK;
}

/* Read a capability response (greeting, after STARTTLS, or asked for). */
static int read_caps(struct mt_msieve *m, const char *what, int ask, struct mt_err *e)
{
	int kind = RESP_NO, r;
	forget_caps(m);
	r = ask ? command(m, "CAPABILITY", NULL, 0, NULL, 0, 0, cap_line, NULL, &kind, e)
		: read_response(m, what, cap_line, NULL, &kind, e);
	if (r != MT_OK)
		return r;
	if (kind != RESP_OK)
		return mt_seterr(e, MT_EUNAVAIL, "%s: the server said NO: %s", what, m->text ? m->text : "no reason given");
	const char *sv = mt_msieve_cap(m, "SIEVE");
	if (mt_split_words(sv ? sv : "", 0, &m->ext, NULL) < 0)
		return proto_error(m, what, "a SIEVE capability that is not a list of words", e);
	return MT_OK;
}

const char *mt_msieve_cap(const struct mt_msieve *m, const char *name)
{
	for (int i = 0; i < m->ncap; i++)
		if (strcasecmp(m->capn[i], name) == 0)
			return m->capv[i];
	return NULL;
}

int mt_msieve_has_ext(const struct mt_msieve *m, const char *ext)
{
	for (char **w = m->ext; w && *w; w++)
		if (strcasecmp(*w, ext) == 0)
			return 1;
	return 0;
}

const char *const *mt_msieve_extensions(const struct mt_msieve *m)
{
	return (const char *const *)m->ext;
}

const char *mt_msieve_last_code(const struct mt_msieve *m) { return m->code; }
const char *mt_msieve_transport(const struct mt_msieve *m) { return m->have_tls ? "STARTTLS" : "cleartext"; }

/* Whether the space-separated list has word (SASL mechanisms). */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	if (list == NULL)
		return 0;
	for (const char *p = list; *p;) {
		size_t w = strcspn(p, " ");
		if (w == n && strncasecmp(p, word, n) == 0)
			return 1;
		p += w;
		while (*p == ' ')
			p++;
	}
	return 0;
}

/* ---- open / close ---------------------------------------------------------- */

static int starttls(struct mt_msieve *m, const struct mt_account *a, struct mt_err *e)
{
	int kind = RESP_NO, r;
	if (mt_msieve_cap(m, "STARTTLS") == NULL)
		return mt_seterr(e, MT_EUNAVAIL, "the ManageSieve server does not offer STARTTLS; refusing to continue in "
				 "cleartext (tls = \"none\" in the account if cleartext is really wanted)");
	if ((r = command(m, "STARTTLS", NULL, 0, NULL, 0, 0, NULL, NULL, &kind, e)) != MT_OK)
		return r;
	if (kind != RESP_OK)
		return mt_seterr(e, MT_EUNAVAIL, "the server refused STARTTLS: %s", m->text ? m->text : "no reason given");
	/* Anything buffered now was sent before TLS and could be forged (CVE-2020-15953 class). */
	if (m->pos < m->len || mt_conn_pending(&m->conn)) {
		m->dead = 1;
		return mt_seterr(e, MT_EPROTO, "server sent data after STARTTLS before the TLS handshake "
				 "(possible injection); aborting before authentication");
	}
	if ((r = mt_conn_tls(&m->conn, a->host, a->ca_file, a->fingerprint, &m->tls, e)) != MT_OK) {
		m->dead = 1;
		return r;
	}
	m->have_tls = 1;
	/* RFC 5804 2.2: the server says its capabilities again, unasked; a
	 * server from before the RFC says nothing and is asked */
	int unasked = (m->conn.ssl && SSL_pending(m->conn.ssl) > 0) || mt_conn_readable(&m->conn, 2000);
	return read_caps(m, "capabilities after STARTTLS", !unasked, e);
}

/* AUTHENTICATE "MECH" "blob": the command goes out whole; the trace shows
 * it without the blob. */
static int send_authenticate(struct mt_msieve *m, const char *mech, const char *blob, struct mt_err *e)
{
	struct sbuf b = { 0 };
	sb_add(&b, "AUTHENTICATE \"", 14);
	sb_add(&b, mech, strlen(mech));
	sb_add(&b, "\" \"", 3);
	sb_add(&b, blob, strlen(blob));
	sb_add(&b, "\"\r\n", 3);
	char *shown = mt_xasprintf("AUTHENTICATE \"%s\" <credentials redacted>\n", mech);
	mt_trace_out(&m->tr, MT_TRACE_CLIENT, shown, strlen(shown));
	free(shown);
	int r = mt_conn_write(&m->conn, b.p, b.n) < 0 ? io_error(m, "AUTHENTICATE", e) : MT_OK;
	OPENSSL_cleanse(b.p, b.n);
	free(b.p);
	return r;
}

/* OAUTHBEARER / XOAUTH2 (RFC 7628 over RFC 5804): a refused token comes
 * back as a challenge string holding the JSON error, answered ("AQ==", the
 * ^A; XOAUTH2: "") to get the NO. */
static int authenticate_oauth(struct mt_msieve *m, const struct mt_account *a, struct mt_err *e)
{
	const char *mech = mt_auth_oauth_mech(a), *user = mt_auth_oauth_user(a);
	char *blob, *challenge = NULL;
	int r, kind = RESP_NO;

	if (!has_word(mt_msieve_cap(m, "SASL"), mech))
		return mt_seterr(e, MT_EUNAVAIL, "the ManageSieve server does not offer SASL %s (it offers: %s)", mech,
				 mt_msieve_cap(m, "SASL") && *mt_msieve_cap(m, "SASL") ? mt_msieve_cap(m, "SASL") : "nothing");
	if ((r = mt_auth_oauth_begin(a, m->have_tls, &m->conn, a->host, &blob, e)) != MT_OK)
		return r;
	size_t sent = strlen(blob);
	r = send_authenticate(m, mech, blob, e);
	OPENSSL_cleanse(blob, sent);
	free(blob);
	for (int lines = 0; r == MT_OK && lines < 2; lines++) {
		struct line L = { .n = 0 };
		if ((r = read_line(m, &L, "AUTHENTICATE", e)) != MT_OK) {
			line_release(&L);
			if (challenge == NULL) {
				mt_auth_note_size(e, sent);
				r = e->code;
			}
			break;
		}
		int k = final_kind(&L);
		if (k >= 0) {
			r = take_final(m, &L, "AUTHENTICATE", e);
			line_release(&L);
			if (r == MT_OK && k == RESP_BYE) {
				m->dead = 1;
				r = mt_seterr(e, MT_ETEMP, "AUTHENTICATE: the server closed the session: %s", m->text ? m->text : "BYE");
			}
			kind = k;
			break;
		}
		if (challenge || L.n != 1 || L.v[0].type != T_STRING) {
			line_release(&L);
			r = proto_error(m, "AUTHENTICATE", "an unexpected line in the response", e);
			break;
		}
		challenge = mt_xstrdup(L.v[0].s);
		line_release(&L);
		static const char bearer_ack[] = "\"AQ==\"\r\n", empty[] = "\"\"\r\n";
		const char *ack = a->auth == MT_AUTH_XOAUTH2 ? empty : bearer_ack;
		mt_trace_out(&m->tr, MT_TRACE_CLIENT, ack, strlen(ack));
		if (mt_conn_write(&m->conn, ack, strlen(ack)) < 0)
			r = io_error(m, "AUTHENTICATE", e);
	}
	if (r == MT_OK && kind != RESP_OK)
		r = mt_auth_token_refused(a, user, challenge, m->text, e);
	free(challenge);
	return r;
}

static int authenticate(struct mt_msieve *m, const struct mt_account *a, struct mt_err *e)
{
	char *login = NULL, *pw = NULL, *blob;
	const char *authzid;
	int r, kind = RESP_NO;

	if (mt_account_oauth(a))
		return authenticate_oauth(m, a, e);
	if (a->user == NULL || *a->user == '\0')
		return mt_seterr(e, MT_EUSAGE, "no user name: give -u USER or set user in the account");
	if ((r = mt_auth_cleartext_check(a, m->have_tls, &m->conn, e)) != MT_OK)
		return r;
	if (!has_word(mt_msieve_cap(m, "SASL"), "PLAIN"))
		return mt_seterr(e, MT_EUNAVAIL, "the ManageSieve server does not offer SASL PLAIN (it offers: %s)",
				 mt_msieve_cap(m, "SASL") && *mt_msieve_cap(m, "SASL") ? mt_msieve_cap(m, "SASL") : "nothing");
	if ((r = mt_auth_password(a, m->idle_timeout_s, m->conn.deadline, &pw, e)) != MT_OK)
		return r;
	mt_auth_identity(a, &login, &authzid);
	blob = mt_sasl_plain(authzid, login, pw);
	OPENSSL_cleanse(pw, strlen(pw));
	free(pw);

	r = send_authenticate(m, "PLAIN", blob, e);
	OPENSSL_cleanse(blob, strlen(blob));
	free(blob);
	/* a challenge (a string line) is not what PLAIN with its initial response gets */
	if (r == MT_OK)
		r = read_response(m, "AUTHENTICATE", NULL, NULL, &kind, e);
	if (r == MT_OK && kind != RESP_OK)
		r = mt_seterr(e, MT_EAUTH, "authentication as '%s'%s%s%s refused: %s", login, *authzid ? " for '" : "",
			      authzid, *authzid ? "'" : "", m->text ? m->text : "no reason given");
	free(login);
	return r;
}

/* rfd >= 0: the server is on these descriptors (taken like a tunnel, no
 * TLS); else connect to a->host at port. */
static int msieve_open(const struct mt_account *a, int port, FILE *trace, int rfd, int wfd, struct mt_msieve **out,
		       struct mt_err *e)
{
	struct mt_msieve *m = mt_xmalloc(sizeof *m);
	int r;

	*out = NULL;
	m->conn.fd = m->conn.wfd = -1;
	mt_trace_init(&m->tr, trace);
	m->idle_timeout_s = a->idle_timeout > 0 ? a->idle_timeout : 30;
	m->conn.idle_ms = m->idle_timeout_s * 1000.0;
	if (a->deadline > 0)
		m->conn.deadline = mt_now_ms() + a->deadline * 1000.0;
	if (rfd >= 0) {
		r = mt_conn_fds(&m->conn, rfd, wfd);
	} else if (a->host == NULL || *a->host == '\0') {
		r = a->tunnel ? mt_seterr(e, MT_ECONFIG, "ManageSieve needs a server's host name; the account has only a "
					  "tunnel (give -H HOST)")
			      : mt_seterr(e, MT_EUSAGE, "no server given: use -H HOST or an account in the configuration");
		goto fail;
	} else {
		r = mt_conn_tcp(&m->conn, a->host, port, a->connect_timeout * 1000.0, e);
	}
	if (r != MT_OK)
		goto fail;
	if ((r = read_caps(m, "greeting", 0, e)) != MT_OK)
		goto fail;
	if (rfd < 0 && a->tls != MT_TLS_NONE && (r = starttls(m, a, e)) != MT_OK)
		goto fail;
	if ((r = authenticate(m, a, e)) != MT_OK)
		goto fail;
	/* what the server offers may differ once it knows who is asking */
	if ((r = read_caps(m, "CAPABILITY", 1, e)) != MT_OK)
		goto fail;
	*out = m;
	return MT_OK;
fail:
	m->dead = 1;
	mt_msieve_close(m);
	return r ? r : MT_ESOFT;
}

int mt_msieve_open(const struct mt_account *a, int port, FILE *trace, struct mt_msieve **out, struct mt_err *e)
{
	return msieve_open(a, port, trace, -1, -1, out, e);
}

int mt_msieve_open_fds(const struct mt_account *a, int rfd, int wfd, struct mt_msieve **out, struct mt_err *e)
{
	return msieve_open(a, 0, NULL, rfd, wfd, out, e);
}

void mt_msieve_close(struct mt_msieve *m)
{
	if (m == NULL)
		return;
	if (!m->dead && m->conn.fd >= 0) {
		struct mt_err e;
		int kind;
		m->conn.idle_ms = 2000;   /* LOGOUT must not hang */
		command(m, "LOGOUT", NULL, 0, NULL, 0, 0, NULL, NULL, &kind, &e);
	}
	mt_conn_close(&m->conn);
	forget_caps(m);
	free(m->text);
	free(m);
}

/* ---- commands ---------------------------------------------------------------- */

struct list_arg {
	struct mt_msieve_script *v;
	size_t n;
	int active;              /* a script listed ACTIVE so far */
};

static int list_line(struct mt_msieve *m, struct line *L, void *arg, struct mt_err *e)
{
	struct list_arg *la = arg;
	if (L->v[0].type != T_STRING || L->n > 2 || (L->n == 2 && (L->v[1].type != T_ATOM || strcasecmp(L->v[1].s, "ACTIVE") != 0)))
		return proto_error(m, "LISTSCRIPTS", "a line that is not \"NAME\" [ACTIVE]", e);
	if (strlen(L->v[0].s) != L->v[0].len)
		return proto_error(m, "LISTSCRIPTS", "a script name with a NUL byte", e);
	/* RFC 5804 2.7: at most one script is active */
	if (L->n == 2 && la->active++)
		return proto_error(m, "LISTSCRIPTS", "a second script listed ACTIVE (at most one is)", e);
	la->v = mt_xrealloc(la->v, sizeof *la->v * (la->n + 1));
	la->v[la->n++] = (struct mt_msieve_script){ .name = mt_xstrdup(L->v[0].s), .active = L->n == 2 };
	return MT_OK;
}

int mt_msieve_list(struct mt_msieve *m, struct mt_msieve_script **v, size_t *n, struct mt_err *e)
{
	struct list_arg la = { 0 };
	int kind = RESP_NO, r = command(m, "LISTSCRIPTS", NULL, 0, NULL, 0, 0, list_line, &la, &kind, e);
	if (r == MT_OK && kind != RESP_OK)
		r = refused(m, "LISTSCRIPTS", NULL, e);
	if (r != MT_OK) {
		mt_msieve_scripts_free(la.v, la.n);
		return r;
	}
	*v = la.v;
	*n = la.n;
	return MT_OK;
}

void mt_msieve_scripts_free(struct mt_msieve_script *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

struct get_arg {
	char *text;
	size_t len;
};

static int get_line(struct mt_msieve *m, struct line *L, void *arg, struct mt_err *e)
{
	struct get_arg *g = arg;
	if (g->text || L->n != 1 || L->v[0].type != T_STRING)
		return proto_error(m, "GETSCRIPT", "a response that is not one script", e);
	g->text = L->v[0].s;
	g->len = L->v[0].len;
	L->v[0].s = NULL;
	return MT_OK;
}

int mt_msieve_get(struct mt_msieve *m, const char *name, char **text, size_t *len, struct mt_err *e)
{
	struct get_arg g = { 0 };
	int kind = RESP_NO, r = command(m, "GETSCRIPT", name, strlen(name), NULL, 0, 0, get_line, &g, &kind, e);
	if (r == MT_OK && kind != RESP_OK)
		r = refused(m, "GETSCRIPT", name, e);
	if (r == MT_OK && g.text == NULL)
		r = proto_error(m, "GETSCRIPT", "OK without the script", e);
	if (r != MT_OK) {
		free(g.text);
		return r;
	}
	*text = g.text;
	*len = g.len;
	return MT_OK;
}

int mt_msieve_check(struct mt_msieve *m, const char *text, size_t len, char **warnings, struct mt_err *e)
{
	int kind = RESP_NO, r = command(m, "CHECKSCRIPT", NULL, 0, text, len, 1, NULL, NULL, &kind, e);
	*warnings = NULL;
	if (r != MT_OK)
		return r;
	if (kind != RESP_OK)
		return mt_seterr(e, MT_EDATA, "the server finds the script wrong: %s", m->text ? m->text : "no reason given");
	if (strcasecmp(m->code, "WARNINGS") == 0 && m->text)
		*warnings = mt_xstrdup(m->text);
	return MT_OK;
}

int mt_msieve_havespace(struct mt_msieve *m, const char *name, size_t len, struct mt_err *e)
{
	struct sbuf b = { 0 };
	char num[32];
	int kind = RESP_NO, r;
	sb_add(&b, "HAVESPACE", 9);
	sb_string(&b, name, strlen(name), 0);
	snprintf(num, sizeof num, " %zu", len);
	sb_add(&b, num, strlen(num));
	if (m->dead)
		r = mt_seterr(e, MT_ETEMP, "HAVESPACE: the connection is gone");
	else if ((r = send_buf(m, &b, "HAVESPACE", e)) == MT_OK)
		r = read_response(m, "HAVESPACE", NULL, NULL, &kind, e);
	free(b.p);
	if (r == MT_OK && kind != RESP_OK)
		r = refused(m, "HAVESPACE", name, e);
	return r;
}

static int simple(struct mt_msieve *m, const char *what, const char *name, const char *text, size_t len, struct mt_err *e)
{
	int kind = RESP_NO, r = command(m, what, name, strlen(name), text, len, 1, NULL, NULL, &kind, e);
	if (r == MT_OK && kind != RESP_OK)
		r = refused(m, what, name, e);
	return r;
}

int mt_msieve_put(struct mt_msieve *m, const char *name, const char *text, size_t len, struct mt_err *e)
{
	return simple(m, "PUTSCRIPT", name, text, len, e);
}

int mt_msieve_setactive(struct mt_msieve *m, const char *name, struct mt_err *e)
{
	return simple(m, "SETACTIVE", name, NULL, 0, e);
}

int mt_msieve_delete(struct mt_msieve *m, const char *name, struct mt_err *e)
{
	return simple(m, "DELETESCRIPT", name, NULL, 0, e);
}

int mt_msieve_name_ok(const char *name)
{
	size_t n = strlen(name);
	uint32_t cp;
	if (n == 0 || n > 512)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p;) {
		int k = mt_utf8_seq(p, &cp);
		if (k == 0 || mt_term_unsafe(cp) || cp == 0x2028 || cp == 0x2029)
			return 0;
		p += k;
	}
	return 1;
}
