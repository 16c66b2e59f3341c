/* users.c — --users FILE: run an applet for each user of a list through the
 * account's admin credentials (--as semantics), -j N at a time, optionally
 * only this machine's --shard K/N; one result per user and a summary.
 * Part of the dispatcher, not an applet. */
#include "tool.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

int mt_parse_shard(const char *s, unsigned *k, unsigned *n)
{
	char *end;
	unsigned long a = strtoul(s, &end, 10), b;
	if (end == s || *end != '/')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (*end != '\0' || b == 0 || a == 0 || a > b || b > 100000)
		return -1;
	*k = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

int mt_in_shard(const char *user, unsigned k, unsigned n)
{
	return mt_fnv1a32(user) % n == k - 1;
}

/* One entry of a users file */
struct entry {
	char *user;             /* owned */
	char *host;             /* owned: the server it names (canonical HOST[:PORT]), or NULL */
	char *key;              /* owned: the server it reaches (server_key) */
	long line;
};

/* The account's server: the one entries without a server of their own
 * share, and whose port entries without a port use */
struct acct_server {
	const char *host;       /* NULL: a tunnel, or not known */
	int port;               /* 0: not known */
};

/* The server an entry's HOST[:PORT] (or NULL: none) reaches, as one key:
 * "host:port", the host in lower case, the account's host and port where
 * the entry names none ("|account" when the account has no host: a
 * tunnel). What --per-host counts by, and --resume and the check for an
 * entry listed twice compare. Owned; NULL when entry is no server. */
static char *server_key(const char *entry, const struct acct_server *a)
{
	char *h = NULL, *key;
	int port = 0;
	if (entry == NULL && a->host == NULL)
		return mt_xstrdup("|account");
	if (entry == NULL)
		h = mt_xstrdup(a->host);
	else if (mt_parse_backend(entry, &h, &port) < 0)
		return NULL;
	if (port == 0)
		port = a->port ? a->port : 993;
	for (char *c = h; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	key = mt_xasprintf(strchr(h, ':') ? "[%s]:%d" : "%s:%d", h, port);
	free(h);
	return key;
}

static void free_entries(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].user);
		free(v[i].host);
		free(v[i].key);
	}
	free(v);
}

struct job {
	pid_t pid;
	const struct entry *e;
	size_t host;            /* its server's index in the run's list of servers */
	FILE *out, *err;        /* the child's stdout and stderr, on disk */
	int status;
};

/* --users --tsv: one header, the user's columns and then the applet's. A
 * user without rows of its own (one that failed) has the applet's columns
 * empty; until a header says how many there are, its line waits. */
struct tsv_out {
	int header;             /* the header went out */
	int ncols;              /* the applet's columns */
	char *pending;          /* owned: "user<TAB>status<TAB>error" lines waiting */
};

static void tsv_user_line(struct tsv_out *o, const char *user, int status, const char *error)
{
	if (!o->header) {
		char *more = mt_xasprintf("%s%s\t%d\t%s\n", o->pending ? o->pending : "", user, status, error);
		free(o->pending);
		o->pending = more;
		return;
	}
	printf("%s\t%d\t%s", user, status, error);
	for (int c = 0; c < o->ncols; c++)
		putchar('\t');
	putchar('\n');
}

static void tsv_header(struct tsv_out *o, const char *applet_header)
{
	o->header = 1;
	o->ncols = 0;
	if (applet_header) {
		o->ncols = 1;
		for (const char *p = applet_header; *p; p++)
			o->ncols += *p == '\t';
	}
	printf("user\tstatus\terror%s%s\n", applet_header ? "\t" : "", applet_header ? applet_header : "");
	char *waiting = o->pending, *line = waiting, *nl;
	o->pending = NULL;
	for (; line && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		printf("%s", line);
		for (int c = 0; c < o->ncols; c++)
			putchar('\t');
		putchar('\n');
	}
	free(waiting);
}

static void report(struct mt_ctx *ctx, struct job *j, struct tsv_out *o)
{
	char *line = NULL, *lasterr = NULL;
	size_t cap = 0;
	ssize_t len;

	fflush(j->out);
	fflush(j->err);
	rewind(j->err);
	while ((len = getline(&line, &cap, j->err)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len) {
			free(lasterr);
			lasterr = mt_xstrdup(line);
		}
	}
	rewind(j->out);
	/* the name and the last error line as the error lines show them
	 * (controls escaped): a users file and a command's stderr are input */
	char *user = mt_term_safe(j->e->user), *err = lasterr ? mt_term_safe(lasterr) : NULL;
	if (ctx->fmt == MT_FMT_JSON) {
		int first = 1;
		printf("{\"schema\":%d,\"type\":\"user\",\"applet\":\"%s\",\"user\":", MT_SCHEMA, ctx->ap->name);
		mt_json_str(stdout, j->e->user);
		fputs(",\"host\":", stdout);
		if (j->e->host)
			mt_json_str(stdout, j->e->host);
		else
			fputs("null", stdout);
		printf(",\"status\":%d,\"error\":", j->status);
		if (j->status == 0 || lasterr == NULL)
			fputs("null", stdout);
		else
			mt_json_str(stdout, lasterr);
		printf(",\"results\":[");
		while ((len = getline(&line, &cap, j->out)) >= 0) {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (len == 0)
				continue;
			/* the applet printed JSON objects, one per line */
			printf("%s%s", first ? "" : ",", line);
			first = 0;
		}
		printf("]}\n");
	} else if (ctx->fmt == MT_FMT_TSV) {
		int row = 0;
		while ((len = getline(&line, &cap, j->out)) >= 0) {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (row++ == 0) {
				/* the applet's header, once, behind our own columns */
				if (!o->header)
					tsv_header(o, line);
				continue;
			}
			printf("%s\t%d\t\t%s\n", user, j->status, line);
		}
		if (row <= 1)
			tsv_user_line(o, user, j->status, j->status && err ? err : "");
	} else {
		printf("== %s: %s\n", user, j->status == 0 ? "ok" : "failed");
		while ((len = getline(&line, &cap, j->out)) >= 0)
			fwrite(line, 1, (size_t)len, stdout);
		if (j->status && err)
			printf("%s\n", err);
	}
	fflush(stdout);
	free(line);
	free(lasterr);
	free(err);
	free(user);
}

/* Read the list; blank lines and '#' comments are skipped. */
/* A server named by a users file entry: HOST, HOST:PORT, [V6] or [V6]:PORT.
 * 0 and *host (owned) and *port (0: the account's) when it is one. */
int mt_parse_backend(const char *s, char **host, int *port)
{
	const char *h = s, *he, *p = NULL;
	*host = NULL;
	*port = 0;
	if (*s == '[') {
		h = s + 1;
		if ((he = strchr(h, ']')) == NULL || he == h)
			return -1;
		if (he[1] == ':')
			p = he + 2;
		else if (he[1] != '\0')
			return -1;
	} else {
		he = strchr(s, ':');
		if (he && strchr(he + 1, ':'))
			return -1;   /* a bare IPv6 address: say [addr] */
		if (he)
			p = he + 1;
		else
			he = s + strlen(s);
		if (he == s)
			return -1;
	}
	for (const char *c = h; c < he; c++)
		if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_' || (*s == '[' && *c == ':')))
			return -1;
	if (p) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (*p < '0' || *p > '9' || *end != '\0' || errno || v < 1 || v > 65535)
			return -1;
		*port = (int)v;
	}
	*host = mt_xasprintf("%.*s", (int)(he - h), h);
	return 0;
}

/* The entries of a users file: USER, or USER<TAB>HOST[:PORT] for users
 * spread over backends. */
static int read_users(struct mt_ctx *ctx, const char *path, const struct acct_server *acct, struct entry **out,
		      size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int r = MT_OK;
	*out = NULL;
	*n = 0;
	if (f == NULL)
		return mt_fail(ctx, MT_EIO, "--users: cannot read '%s': %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e = line + len;
		lineno++;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s || *s == '#')
			continue;
		*e = '\0';
		char *tab = strchr(s, '\t'), *host = NULL;
		int port = 0;
		if (tab) {
			char *h = tab + 1;
			while (*h == '\t' || *h == ' ')
				h++;
			char *ue = tab;
			while (ue > s && ue[-1] == ' ')
				ue--;
			*ue = '\0';
			if (mt_parse_backend(h, &host, &port) < 0) {
				r = mt_fail(ctx, MT_EDATA, "--users: %s:%ld: '%s' is no server (HOST, HOST:PORT or [ADDR]:PORT)",
					    path, lineno, h);
				break;
			}
		}
		*out = mt_xrealloc(*out, sizeof **out * (*n + 1));
		struct entry *en = &(*out)[(*n)++];
		en->user = mt_xstrdup(s);
		/* the canonical form: what the child reads and the record shows */
		en->host = host ? (port ? mt_xasprintf(strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port)
				   : mt_xasprintf(strchr(host, ':') ? "[%s]" : "%s", host)) : NULL;
		en->key = server_key(en->host, acct);
		en->line = lineno;
		free(host);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (r != MT_OK) {
		free_entries(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
	int c = strcasecmp(x->user, y->user);
	if (c == 0)
		c = strcmp(x->key, y->key);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* A user listed twice on one server would have two sessions on one
 * mailbox at once, each acting on what it saw (without MOVE, two COPYs of
 * one message): the file is refused, naming both lines. Names are compared
 * without case, as servers commonly take them (Dovecot's default
 * auth_username_format is %Lu). */
static int check_twice(struct mt_ctx *ctx, const char *path, const struct entry *v, size_t n)
{
	const struct entry **p = mt_xmalloc(sizeof *p * (n ? n : 1));
	int r = MT_OK;
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof *p, cmp_entry);
	for (size_t i = 1; i < n && r == MT_OK; i++)
		if (strcasecmp(p[i - 1]->user, p[i]->user) == 0 && strcmp(p[i - 1]->key, p[i]->key) == 0)
			r = mt_fail(ctx, MT_EDATA, "--users: %s:%ld and %s:%ld both name '%s' on %s: one mailbox, "
				    "two sessions at once", path, p[i - 1]->line, path, p[i]->line, p[i]->user,
				    p[i]->key[0] == '|' ? "the account's server" : p[i]->key);
	free(p);
	return r;
}

/* ---- --resume: the per-user records of an earlier --json run ---------- */

/* A JSON string at *p (after its opening quote) into *out (owned);
 * \uXXXX outside ASCII as UTF-8. -1 when it is not one. */
static int json_string(const char **p, char **out)
{
	const char *s = *p;
	size_t cap = 16, n = 0;
	char *b = mt_xmalloc(cap);
	for (;;) {
		unsigned c = (unsigned char)*s++;
		unsigned cp;
		if (c == '\0' || c < 0x20)
			goto bad;
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)*s++;
			switch (c) {
			case '"': case '\\': case '/': cp = c; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u': {
				char hex[5] = { 0 };
				for (int i = 0; i < 4; i++)
					if (!isxdigit((unsigned char)(hex[i] = *s++)))
						goto bad;
				cp = (unsigned)strtoul(hex, NULL, 16);
				/* no NUL (it would cut the name short), no surrogate
				 * halves (mailtool writes neither) */
				if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
					goto bad;
				break;
			}
			default:
				goto bad;
			}
		} else {
			cp = c;   /* a UTF-8 byte, kept as it is */
		}
		if (n + 4 >= cap)
			b = mt_xrealloc(b, cap *= 2);
		if (cp < 0x80 || (c != '\\' && cp == c))
			b[n++] = (char)cp;
		else if (cp < 0x800) {
			b[n++] = (char)(0xC0 | (cp >> 6));
			b[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			b[n++] = (char)(0xE0 | (cp >> 12));
			b[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			b[n++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	b[n] = '\0';
	*out = b;
	*p = s;
	return 0;
bad:
	free(b);
	return -1;
}

/* Past one JSON string at *p (after its opening quote). */
static int json_skip_string(const char **p)
{
	char *t;
	if (json_string(p, &t) < 0)
		return -1;
	free(t);
	return 0;
}

/* Past one JSON value at *p (nesting bounded); -1 when there is none. */
static int json_skip(const char **p, int depth)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (depth > 64)
		return -1;
	if (*s == '"') {
		s++;
		if (json_skip_string(&s) < 0)
			return -1;
	} else if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		s++;
		for (int first = 1;; first = 0) {
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s == close) {
				s++;
				break;
			}
			if (!first) {
				if (*s++ != ',')
					return -1;
				while (*s == ' ' || *s == '\t')
					s++;
			}
			if (close == '}') {
				if (*s++ != '"' || json_skip_string(&s) < 0)
					return -1;
				while (*s == ' ' || *s == '\t')
					s++;
				if (*s++ != ':')
					return -1;
			}
			if (json_skip(&s, depth + 1) < 0)
				return -1;
		}
	} else if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0) {
		s += 4;
	} else if (strncmp(s, "false", 5) == 0) {
		s += 5;
	} else {
		/* a JSON number: -?digits(.digits)?([eE][+-]?digits)? */
		const char *t = s;
		if (*s == '-')
			s++;
		size_t d = strspn(s, "0123456789");
		if (d == 0)
			return -1;
		s += d;
		if (*s == '.') {
			if ((d = strspn(++s, "0123456789")) == 0)
				return -1;
			s += d;
		}
		if (*s == 'e' || *s == 'E') {
			s++;
			if (*s == '+' || *s == '-')
				s++;
			if ((d = strspn(s, "0123456789")) == 0)
				return -1;
			s += d;
		}
		(void)t;
	}
	*p = s;
	return 0;
}

/* {"user": "...", "host": "..." or null, "status": N, ...}: the user, the
 * server (NULL: none, or no "host": a record of before it was there) and
 * the status; -1 for anything else (the caller names the line): a key
 * twice, something after the object. The applet's name, when the record
 * has one, must be applet: another applet's run says nothing of what this
 * one has done. */
static int user_record(const char *line, const char *applet, char **user, char **host, long *status)
{
	const char *s = line;
	int have_status = 0, have_host = 0;
	*user = NULL;
	*host = NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s++ != '{')
		return -1;
	for (int first = 1;; first = 0) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '}')
			break;
		if (!first && *s++ != ',')
			goto bad;
		while (*s == ' ' || *s == '\t')
			s++;
		char *key = NULL;
		if (*s++ != '"' || json_string(&s, &key) < 0)
			goto bad;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s++ != ':') {
			free(key);
			goto bad;
		}
		while (*s == ' ' || *s == '\t')
			s++;
		if (strcmp(key, "user") == 0) {
			free(key);
			if (*user || *s++ != '"' || json_string(&s, user) < 0)
				goto bad;
			continue;
		}
		if (strcmp(key, "host") == 0) {
			free(key);
			if (have_host++)
				goto bad;
			if (strncmp(s, "null", 4) == 0)
				s += 4;
			else if (*s++ != '"' || json_string(&s, host) < 0)
				goto bad;
			continue;
		}
		if (strcmp(key, "status") == 0) {
			free(key);
			if (have_status || !isdigit((unsigned char)*s))
				goto bad;
			char *end;
			*status = strtol(s, &end, 10);
			if (*status < 0 || *status > 255)
				goto bad;
			have_status = 1;
			s = end;
			continue;
		}
		if (strcmp(key, "applet") == 0 && *s == '"') {
			char *name = NULL;
			free(key);
			s++;
			if (json_string(&s, &name) < 0)
				goto bad;
			int same = strcmp(name, applet) == 0;
			free(name);
			if (!same)
				goto bad;
			continue;
		}
		free(key);
		if (json_skip(&s, 0) < 0)
			goto bad;
	}
	s++;   /* the closing brace */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*user && have_status && *s == '\0')
		return 0;
bad:
	free(*user);
	free(*host);
	*user = NULL;
	*host = NULL;
	return -1;
}

struct done_user { char *user, *key; long status; size_t seq; };

/* by user and server, then in the order read */
static int cmp_done(const void *a, const void *b)
{
	const struct done_user *x = a, *y = b;
	int c = strcmp(x->user, y->user);
	if (c == 0)
		c = strcmp(x->key, y->key);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static void free_done(struct done_user *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].user);
		free(v[i].key);
	}
	free(v);
}

/* Every user record of FILE, sorted by user and server (server_key); a
 * later record of one replaces an earlier one (runs appended to one file).
 * Lines that are not user records (a summary, blank lines) are refused:
 * the file is not what --resume reads. */
static int read_resume(struct mt_ctx *ctx, const char *path, const struct acct_server *acct, struct done_user **out,
		       size_t *n)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	*out = NULL;
	*n = 0;
	if (f == NULL)
		return mt_fail(ctx, MT_EUSAGE, "--resume: cannot read '%s': %s", path, strerror(errno));
	while (getline(&line, &cap, f) >= 0) {
		char *u, *h, *key = NULL;
		long st = -1;
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		int bad = user_record(line, ctx->ap->name, &u, &h, &st) < 0 || (key = server_key(h, acct)) == NULL;
		free(h);
		if (bad) {
			free(u);
			free(line);
			fclose(f);
			free_done(*out, *n);
			*out = NULL;
			*n = 0;
			return mt_fail(ctx, MT_EDATA, "--resume: %s:%ld: not a user record of %s --users --json "
				       "({\"user\": ..., \"status\": N, ...})", path, lineno, ctx->ap->name);
		}
		*out = mt_xrealloc(*out, sizeof **out * (*n + 1));
		(*out)[*n] = (struct done_user){ .user = u, .key = key, .status = st, .seq = *n };
		(*n)++;
	}
	free(line);
	fclose(f);
	if (*n)
		qsort(*out, *n, sizeof **out, cmp_done);
	return MT_OK;
}

/* The status an earlier run recorded last for user on the server key, or
 * -1 when none. */
static long done_status(const struct done_user *v, size_t n, const char *user, const char *key)
{
	size_t lo = 0, hi = n;
	long st = -1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v[mid].user, user);
		if (c == 0)
			c = strcmp(v[mid].key, key);
		if (c <= 0) {
			if (c == 0)
				st = v[mid].status;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return st;
}

/* --users: the users of one server, in list order, and how many of them run */
struct hostq {
	const char *key;    /* borrowed from the entries: server_key */
	size_t *v, n, at;
	long running;
};

static void free_hostq(struct hostq *hq, size_t nhq)
{
	for (size_t h = 0; h < nhq; h++)
		free(hq[h].v);
	free(hq);
}

int mt_run_users(struct mt_ctx *ctx, int (*one)(struct mt_ctx *ctx, const char *user), const char *acct_host,
		 int acct_port)
{
	const char *path = mt_arg(&ctx->args, "users"), *v;
	const struct acct_server acct = { .host = acct_host, .port = acct_port };
	struct entry *ent;
	size_t nent, done = 0, failed = 0, running = 0;
	unsigned k = 1, n = 1;
	long jobs = 4;
	int r, first_fail = 0;
	struct tsv_out tsv = { 0 };

	if ((v = mt_arg(&ctx->args, "jobs"))) {
		char *end;
		jobs = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || jobs < 1 || jobs > 64)
			return mt_fail(ctx, MT_EUSAGE, "bad -j '%s': expected 1 to 64 sessions at a time", v);
	}
	long per_host = 0;
	if ((v = mt_arg(&ctx->args, "per-host"))) {
		char *end;
		per_host = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || per_host < 1 || per_host > 64)
			return mt_fail(ctx, MT_EUSAGE, "bad --per-host '%s': expected 1 to 64 sessions to one server", v);
	}
	if ((v = mt_arg(&ctx->args, "shard")) && mt_parse_shard(v, &k, &n) < 0)
		return mt_fail(ctx, MT_EUSAGE, "bad --shard '%s': expected K/N with 1 <= K <= N", v);
	if (mt_flag(&ctx->args, "retry-failed") && !mt_arg(&ctx->args, "resume"))
		return mt_fail(ctx, MT_EUSAGE, "--retry-failed goes with --resume FILE (the earlier run's --json records)");
	struct done_user *done_v = NULL;
	size_t ndone = 0, skipped = 0;
	if ((v = mt_arg(&ctx->args, "resume")) && (r = read_resume(ctx, v, &acct, &done_v, &ndone)) != MT_OK)
		return r;
	if ((r = read_users(ctx, path, &acct, &ent, &nent)) != MT_OK ||
	    (r = check_twice(ctx, path, ent, nent)) != MT_OK) {
		free_entries(ent, nent);
		free_done(done_v, ndone);
		return r;
	}
	if (mt_arg(&ctx->args, "resume")) {
		/* --resume: what is not done yet (never reached, or failed);
		 * --retry-failed: only what failed there for a while (75). An
		 * entry is its user on its server. The list keeps its order;
		 * those left out are counted. */
		int retry = mt_flag(&ctx->args, "retry-failed");
		size_t k2 = 0;
		for (size_t i = 0; i < nent; i++) {
			long st = done_status(done_v, ndone, ent[i].user, ent[i].key);
			int run = retry ? st == MT_ETEMP : st != 0;
			if (run) {
				ent[k2++] = ent[i];
			} else {
				skipped += mt_in_shard(ent[i].user, k, n);
				free(ent[i].user);
				free(ent[i].host);
				free(ent[i].key);
			}
		}
		nent = k2;
		free_done(done_v, ndone);
	}
	struct job *slot = mt_xmalloc(sizeof *slot * (size_t)jobs);
	struct mt_progress pg;
	/* one queue of this shard's users per server, in list order: the
	 * next user started is the earliest listed whose server has a free
	 * --per-host place (users without a server of their own share the
	 * account's) */
	struct hostq *hq = NULL;
	size_t nhq = 0, mine = 0;
	for (size_t i = 0; i < nent; i++) {
		if (!mt_in_shard(ent[i].user, k, n))
			continue;
		mine++;
		size_t h;
		for (h = 0; h < nhq; h++)
			if (strcmp(hq[h].key, ent[i].key) == 0)
				break;
		if (h == nhq) {
			hq = mt_xrealloc(hq, sizeof *hq * (nhq + 1));
			hq[nhq++] = (struct hostq){ .key = ent[i].key };
		}
		hq[h].v = mt_xrealloc(hq[h].v, sizeof *hq[h].v * (hq[h].n + 1));
		hq[h].v[hq[h].n++] = i;
	}
	mt_progress_start(&pg, "users", mine, !mt_flag(&ctx->args, "quiet"));
	fflush(stdout);
	fflush(stderr);
	for (;;) {
		/* start jobs while there are free slots and users left */
		while (running < (size_t)jobs) {
			size_t h = nhq, first = SIZE_MAX;
			for (size_t q = 0; q < nhq; q++)
				if (hq[q].at < hq[q].n && (per_host == 0 || hq[q].running < per_host) && hq[q].v[hq[q].at] < first) {
					first = hq[q].v[hq[q].at];
					h = q;
				}
			if (h == nhq)
				break;
			hq[h].at++;
			size_t s;
			for (s = 0; slot[s].pid; s++)
				;
			struct job *j = &slot[s];
			j->e = &ent[first];
			j->host = h;
			j->out = tmpfile();
			j->err = tmpfile();
			/* close-on-exec: what one user's job starts (a token or
			 * password command, a tunnel) must not hold the other
			 * jobs' output (dup2 onto 1 and 2 clears it there) */
			if (j->out == NULL || j->err == NULL || fcntl(fileno(j->out), F_SETFD, FD_CLOEXEC) < 0 ||
			    fcntl(fileno(j->err), F_SETFD, FD_CLOEXEC) < 0) {
				if (j->out) fclose(j->out);
				if (j->err) fclose(j->err);
				free_entries(ent, nent);
				free_hostq(hq, nhq);
				free(slot);
				return mt_fail(ctx, MT_EIO, "--users: cannot create a temporary file: %s", strerror(errno));
			}
			j->pid = fork();
			if (j->pid < 0) {
				fclose(j->out);
				fclose(j->err);
				free_entries(ent, nent);
				free_hostq(hq, nhq);
				free(slot);
				return mt_fail(ctx, MT_EOS, "fork: %s", strerror(errno));
			}
			if (j->pid == 0) {
				ctx->user_host = j->e->host;
				dup2(fileno(j->out), 1);
				dup2(fileno(j->err), 2);
				int rc = one(ctx, j->e->user);
				fflush(stdout);
				fflush(stderr);
				_exit(rc);
			}
			running++;
			hq[h].running++;
		}
		if (running == 0)
			break;
		int st;
		pid_t pid = wait(&st);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (long s = 0; s < jobs; s++)
			if (slot[s].pid == pid) {
				struct job *j = &slot[s];
				j->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				mt_progress_end(&pg);
				report(ctx, j, &tsv);
				mt_progress_step(&pg, 1);
				done++;
				if (j->status) {
					failed++;
					if (!first_fail)
						first_fail = j->status;
				}
				fclose(j->out);
				fclose(j->err);
				j->pid = 0;
				running--;
				hq[j->host].running--;
			}
	}
	mt_progress_end(&pg);
	if (ctx->fmt == MT_FMT_TSV && (tsv.pending || !tsv.header))
		tsv_header(&tsv, NULL);   /* no user had rows: the user columns alone */
	fflush(stdout);
	char shard[64] = "";
	if (n > 1)
		snprintf(shard, sizeof shard, " (shard %u/%u of %zu listed)", k, n, nent);
	char skip[96] = "";
	if (mt_arg(&ctx->args, "resume"))
		snprintf(skip, sizeof skip, ", %zu skipped (%s in the --resume file)", skipped,
			 mt_flag(&ctx->args, "retry-failed") ? "not failed with 75" : "done");
	fprintf(stderr, "mailtool %s: %zu users, %zu ok, %zu failed%s%s\n", ctx->ap->name, done, done - failed, failed,
		skip, shard);
	free_entries(ent, nent);
	free_hostq(hq, nhq);
	free(slot);
	/* whether any user failed: the first failure's status */
	return failed ? first_fail : MT_OK;
}
