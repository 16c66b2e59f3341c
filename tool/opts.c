/* opts.c — one option table per applet drives parsing, --help and completion,
 * so usage text cannot drift from what the parser accepts. */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

const struct mt_opt mt_common_opts[] = {
	{ .lng = "account", .shrt = 'a', .kind = MT_ARG, .metavar = "NAME",
	  .help = "use account NAME from the configuration", .complete = "account" },
	{ .lng = "config", .kind = MT_ARG, .metavar = "FILE",
	  .help = "read configuration from FILE", .complete = "file" },
	{ .lng = "host", .shrt = 'H', .kind = MT_ARG, .metavar = "HOST", .help = "server host name" },
	{ .lng = "port", .shrt = 'p', .kind = MT_ARG, .metavar = "PORT", .help = "server port" },
	{ .lng = "user", .shrt = 'u', .kind = MT_ARG, .metavar = "USER", .help = "login name" },
	{ .lng = "as", .kind = MT_ARG, .metavar = "USER",
	  .help = "authenticate as the account's (admin) user, act as USER" },
	{ .lng = "tls", .kind = MT_FLAG, .help = "implicit TLS (port 993)" },
	{ .lng = "starttls", .kind = MT_FLAG, .help = "STARTTLS on the plain port (143), required" },
	{ .lng = "no-tls", .kind = MT_FLAG, .help = "no TLS at all (cleartext)" },
	{ .lng = "ca-file", .kind = MT_ARG, .metavar = "FILE",
	  .help = "trust the CA certificates in FILE (PEM) instead of the system's", .complete = "file" },
	{ .lng = "fingerprint", .kind = MT_ARG, .metavar = "sha256:HEX",
	  .help = "accept exactly the server certificate with this SHA-256 fingerprint (info shows it)" },
	{ .lng = "tunnel", .kind = MT_ARG, .metavar = "COMMAND",
	  .help = "speak IMAP to COMMAND's stdin/stdout (PREAUTH allowed)", .complete = "cmd" },
	{ .lng = "timeout", .kind = MT_ARG, .metavar = "DURATION",
	  .help = "longest wait for any server response, e.g. 30s (the default)" },
	{ .lng = "persist", .kind = MT_ARG, .metavar = "DURATION",
	  .help = "keep the logged-in session for later runs, until idle for DURATION" },
	{ .lng = "no-persist", .kind = MT_FLAG, .help = "log in afresh: no kept session, none left behind" },
	{ .lng = "max-rate", .kind = MT_ARG, .metavar = "N/s",
	  .help = "send at most N commands a second per session (N/s or N/min), for servers that throttle" },
	{ .lng = "trace", .kind = MT_FLAG, .help = "write the IMAP conversation to stderr, credentials redacted" },
	{ .lng = "verbose", .shrt = 'v', .kind = MT_COUNT, .help = "more detail (timings per phase)" },
	{ .lng = "quiet", .shrt = 'q', .kind = MT_FLAG, .help = "nothing but errors (no output, no progress line)" },
	{ .lng = "json", .kind = MT_FLAG, .help = "one JSON object per line" },
	{ .lng = "tsv", .kind = MT_FLAG, .help = "tab-separated values with a header line" },
	{ .lng = "users", .kind = MT_ARG, .metavar = "FILE",
	  .help = "run for every user listed in FILE (- for stdin) as the account's admin", .complete = "file" },
	{ .lng = "jobs", .shrt = 'j', .kind = MT_ARG, .metavar = "N", .help = "with --users: N sessions at a time (default 4)" },
	{ .lng = "per-host", .kind = MT_ARG, .metavar = "N",
	  .help = "with --users: at most N of the -j sessions to one server (users file: USER<TAB>HOST[:PORT])" },
	{ .lng = "shard", .kind = MT_ARG, .metavar = "K/N", .help = "with --users: only the users of shard K of N" },
	{ .lng = "resume", .kind = MT_ARG, .metavar = "FILE",
	  .help = "with --users: skip the users an earlier run's --json records in FILE show done", .complete = "file" },
	{ .lng = "retry-failed", .kind = MT_FLAG,
	  .help = "with --resume: run only the users that failed there with a temporary error (75)" },
	MT_OPT_END,
};

static const struct mt_opt help_opt[] = {
	{ .lng = "help", .kind = MT_FLAG, .help = "show this help" },
	{ .lng = "complete-options", .kind = MT_FLAG, .help = NULL }, /* hidden: for bash completion */
	{ .lng = "complete-args", .kind = MT_FLAG, .help = NULL },    /* hidden: for bash completion */
	MT_OPT_END,
};

static void add_table(struct mt_args *a, const struct mt_opt *t)
{
	for (; t && t->lng; t++)
		if (a->nopts < MT_MAXOPTS)
			a->opt[a->nopts++] = t;
}

/* what users of other tools type for a password */
static int is_password_option(const char *nm)
{
	static const char *const v[] = { "password", "pass", "passwd", "pw", "pwd", "secret", NULL };
	for (int i = 0; v[i]; i++)
		if (strcmp(nm, v[i]) == 0)
			return 1;
	return strncmp(nm, "password", 8) == 0;   /* --password-file, --password=... */
}

/* and for an OAuth2 access token */
static int is_token_option(const char *nm)
{
	static const char *const v[] = { "token", "access-token", "oauth-token", "bearer", "oauth2-token", NULL };
	for (int i = 0; v[i]; i++)
		if (strcmp(nm, v[i]) == 0)
			return 1;
	return strncmp(nm, "token", 5) == 0;   /* --token-file, --token=... */
}

static void collect(struct mt_args *a, const struct mt_applet *ap)
{
	memset(a, 0, sizeof *a);
	add_table(a, ap->opts);
	if (ap->flags & (MT_APPLET_SESSION | MT_APPLET_ACCOUNT))
		add_table(a, mt_common_opts);
	add_table(a, help_opt);
}

static int find_long(const struct mt_args *a, const char *name, size_t len)
{
	for (int i = 0; i < a->nopts; i++)
		if (strlen(a->opt[i]->lng) == len && strncmp(a->opt[i]->lng, name, len) == 0)
			return i;
	return -1;
}

static int find_short(const struct mt_args *a, char c)
{
	for (int i = 0; i < a->nopts; i++)
		if (a->opt[i]->shrt == c)
			return i;
	return -1;
}

static void store(struct mt_args *a, int i, const char *val)
{
	a->count[i]++;
	a->val[i] = val;
	if (a->opt[i]->kind == MT_MULTI) {
		int n = 0;
		while (a->multi[i] && a->multi[i][n])
			n++;
		const char **m = mt_xrealloc(a->multi[i], sizeof *m * (size_t)(n + 2));
		m[n] = val;
		m[n + 1] = NULL;
		a->multi[i] = m;
	}
}

int mt_args_parse(struct mt_args *a, const struct mt_applet *ap, int argc, char **argv,
		  struct mt_err *e)
{
	char **pos = mt_xmalloc(sizeof *pos * (size_t)(argc + 1));
	int npos = 0, i;

	collect(a, ap);
	for (i = 0; i < argc; i++) {
		char *s = argv[i];
		if (strcmp(s, "--") == 0) {
			for (i++; i < argc; i++)
				pos[npos++] = argv[i];
			break;
		}
		if (s[0] == '-' && s[1] == '-') {
			const char *name = s + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			int k = find_long(a, name, len);
			if (k < 0) {
				/* suggest the nearest option */
				const char *best = NULL;
				int bd = 99;
				char nm[64];
				snprintf(nm, sizeof nm, "%.*s", (int)len, name);
				free(pos);
				if (is_password_option(nm))
					return mt_seterr(e, MT_EUSAGE, "unknown option '--%s': a password is never given on the "
							 "command line (other users can read it there); mailtool reads it from "
							 "MAILTOOL_PASSWORD, the account's password_command or password_file "
							 "(mailtool.conf(5)), or asks for it on a terminal", nm);
				if (is_token_option(nm))
					return mt_seterr(e, MT_EUSAGE, "unknown option '--%s': an access token is never given "
							 "on the command line (other users can read it there); mailtool runs "
							 "the account's token_command for it, with auth = \"oauthbearer\" or "
							 "\"xoauth2\" (mailtool.conf(5))", nm);
				for (int j = 0; j < a->nopts; j++) {
					int d = mt_near_miss(nm, a->opt[j]->lng);
					if (d && d < bd) { bd = d; best = a->opt[j]->lng; }
				}
				if (best)
					return mt_seterr(e, MT_EUSAGE, "unknown option '--%s' (did you mean '--%s'?)", nm, best);
				return mt_seterr(e, MT_EUSAGE, "unknown option '--%s'", nm);
			}
			if (a->opt[k]->kind == MT_ARG || a->opt[k]->kind == MT_MULTI) {
				const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
				if (v == NULL) {
					free(pos);
					return mt_seterr(e, MT_EUSAGE, "option '--%s' needs a value (%s)",
							 a->opt[k]->lng, a->opt[k]->metavar);
				}
				store(a, k, v);
			} else {
				if (eq) {
					free(pos);
					return mt_seterr(e, MT_EUSAGE, "option '--%s' takes no value", a->opt[k]->lng);
				}
				store(a, k, NULL);
			}
			continue;
		}
		if (s[0] == '-' && s[1] != '\0') {
			for (const char *c = s + 1; *c; c++) {
				int k = find_short(a, *c);
				if (k < 0) {
					free(pos);
					return mt_seterr(e, MT_EUSAGE, "unknown option '-%c'", *c);
				}
				if (a->opt[k]->kind == MT_ARG || a->opt[k]->kind == MT_MULTI) {
					const char *v = c[1] ? c + 1 : (i + 1 < argc ? argv[++i] : NULL);
					if (v == NULL) {
						free(pos);
						return mt_seterr(e, MT_EUSAGE, "option '-%c' needs a value (%s)",
								 *c, a->opt[k]->metavar);
					}
					store(a, k, v);
					break;
				}
				store(a, k, NULL);
			}
			continue;
		}
		pos[npos++] = s;
	}
	pos[npos] = NULL;
	a->argc = npos;
	a->argv = pos;
	return MT_OK;
}

/* `mailtool -a admin --config F quota`: how many of argv's leading words
 * are common options with their values (as busybox, git and doveadm users
 * type them before the command); the word after them is the applet. */
int mt_common_prefix(int argc, char **argv)
{
	struct mt_args a;
	int i;
	memset(&a, 0, sizeof a);
	add_table(&a, mt_common_opts);
	for (i = 0; i < argc; i++) {
		const char *s = argv[i];
		int k = -1;
		if (s[0] != '-' || s[1] == '\0' || strcmp(s, "--") == 0)
			break;
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			k = find_long(&a, s + 2, eq ? (size_t)(eq - s - 2) : strlen(s + 2));
			if (k < 0)
				break;
			if ((a.opt[k]->kind == MT_ARG || a.opt[k]->kind == MT_MULTI) && eq == NULL && ++i >= argc)
				return -1 - (i - 1);   /* its value is missing */
			continue;
		}
		/* -vq, -a NAME, -aNAME */
		const char *c;
		for (c = s + 1; *c; c++) {
			k = find_short(&a, *c);
			if (k < 0)
				break;
			if (a.opt[k]->kind == MT_ARG || a.opt[k]->kind == MT_MULTI) {
				if (c[1] == '\0' && ++i >= argc)
					return -1 - (i - 1);   /* its value is missing */
				c = "";   /* the rest of the word is the value */
				break;
			}
		}
		if (k < 0)
			break;
	}
	return i < argc ? i : argc;
}

void mt_args_release(struct mt_args *a)
{
	for (int i = 0; i < a->nopts; i++)
		free(a->multi[i]);
	free(a->argv);
	memset(a, 0, sizeof *a);
}

static int idx(const struct mt_args *a, const char *lng)
{
	for (int i = 0; i < a->nopts; i++)
		if (strcmp(a->opt[i]->lng, lng) == 0)
			return i;
	return -1;
}

const char *mt_arg(const struct mt_args *a, const char *lng)
{
	int i = idx(a, lng);
	return i < 0 ? NULL : a->val[i];
}

int mt_flag(const struct mt_args *a, const char *lng)
{
	int i = idx(a, lng);
	return i < 0 ? 0 : a->count[i];
}

const char *const *mt_args_multi(const struct mt_args *a, const char *lng)
{
	int i = idx(a, lng);
	return i < 0 ? NULL : (const char *const *)a->multi[i];
}

static void print_opts(FILE *f, const struct mt_opt *t)
{
	for (; t && t->lng; t++) {
		char left[96];
		if (t->help == NULL)
			continue;
		if (t->shrt)
			snprintf(left, sizeof left, "-%c, --%s%s%s", t->shrt, t->lng,
				 t->metavar ? " " : "", t->metavar ? t->metavar : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", t->lng,
				 t->metavar ? " " : "", t->metavar ? t->metavar : "");
		if (strlen(left) > 26)
			fprintf(f, "  %s\n  %28s%s\n", left, "", t->help);
		else
			fprintf(f, "  %-26s  %s\n", left, t->help);
	}
}

void mt_applet_help(FILE *f, const struct mt_applet *ap)
{
	fprintf(f, "usage: mailtool %s %s\n\n%s.\n", ap->name, ap->usage, ap->summary);
	if (ap->description)
		fprintf(f, "\n%s\n", ap->description);
	if (ap->opts && ap->opts->lng) {
		fputs("\noptions:\n", f);
		print_opts(f, ap->opts);
	}
	if (ap->flags & (MT_APPLET_SESSION | MT_APPLET_ACCOUNT)) {
		fputs("\ncommon options:\n", f);
		print_opts(f, mt_common_opts);
	}
	fputs("      --help                  show this help\n", f);
	fprintf(f, "\nSee mailtool-%s(1).\n", ap->name);
}

/* One line per option: "--long[=]<TAB>-s<TAB>completion-hint". */
void mt_applet_complete_options(FILE *f, const struct mt_applet *ap)
{
	const struct mt_opt *tabs[] = { ap->opts,
		(ap->flags & (MT_APPLET_SESSION | MT_APPLET_ACCOUNT)) ? mt_common_opts : NULL, help_opt };
	for (size_t k = 0; k < sizeof tabs / sizeof *tabs; k++)
		for (const struct mt_opt *t = tabs[k]; t && t->lng; t++) {
			if (t->help == NULL)
				continue;
			int arg = t->kind == MT_ARG || t->kind == MT_MULTI;
			fprintf(f, "--%s\t%s%c\t%s\t%s\n", t->lng, t->shrt ? "-" : "",
				t->shrt ? t->shrt : ' ', arg ? "arg" : "flag",
				t->complete ? t->complete : "");
		}
}

void mt_applet_complete_args(FILE *f, const struct mt_applet *ap)
{
	fprintf(f, "first\t%s\nrest\t%s\n", ap->complete_first ? ap->complete_first : "",
		ap->complete_rest ? ap->complete_rest : "");
}
