/* main.c — the multi-call dispatcher: `mailtool APPLET ...` or a symlink named
 * `mailtool-APPLET`. Applets register themselves in the "mt_applets" linker
 * section (see MT_APPLET), so this file holds no list of them. */
#include "applet.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct mt_applet *const __start_mt_applets[];
extern const struct mt_applet *const __stop_mt_applets[];

static int cmp_applet(const void *a, const void *b)
{
	return strcmp((*(const struct mt_applet *const *)a)->name, (*(const struct mt_applet *const *)b)->name);
}

const struct mt_applet *const *mt_applets(size_t *n)
{
	static const struct mt_applet **sorted;
	static size_t count;
	if (sorted == NULL) {
		/* the linker puts both symbols at the ends of the one "mt_applets" section */
		// cppcheck-suppress comparePointers
		count = (size_t)(__stop_mt_applets - __start_mt_applets);
		sorted = mt_xmalloc(sizeof *sorted * (count + 1));
		memcpy(sorted, __start_mt_applets, sizeof *sorted * count);
		qsort(sorted, count, sizeof *sorted, cmp_applet);
		for (size_t i = 1; i < count; i++)
			if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
				fprintf(stderr, "mailtool: applet '%s' registered twice\n", sorted[i]->name);
				abort();
			}
	}
	*n = count;
	return sorted;
}

const struct mt_applet *mt_applet_find(const char *name)
{
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}

static const char *g_applet_name = "mailtool";
static const char *g_user;   /* the user of this --users child, or NULL */
static int run_applet(const struct mt_applet *ap, int argc, char **argv);

int mt_fail(struct mt_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;
	(void)ctx;
	fprintf(stderr, "mailtool %s: ", g_applet_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int mt_fail_err(struct mt_ctx *ctx, const struct mt_err *e)
{
	return mt_fail(ctx, e->code ? e->code : MT_ESOFT, "%s", e->msg[0] ? e->msg : "failed");
}

static void usage_all(FILE *f)
{
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	fputs("usage: mailtool APPLET [options] [args]\n"
	      "       mailtool-APPLET [options] [args]\n"
	      "       mailtool -e 'APPLET ARGS; APPLET ARGS...' (see mailtool-batch)\n"
	      "       mailtool help APPLET | --help | --version | --install [-s] DIR\n\n"
	      "IMAP mailbox maintenance for mail server admins.\n\napplets:\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-10s %s\n", v[i]->name, v[i]->summary);
	fputs("\nRun 'mailtool APPLET --help' for an applet's options; see mailtool(1).\n", f);
}

static int unknown_applet(const char *name)
{
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	const char *best = NULL;
	int bd = 4;
	for (size_t i = 0; i < n; i++) {
		int d = mt_edit_distance(name, v[i]->name);
		if (d < bd) {
			bd = d;
			best = v[i]->name;
		}
	}
	if (best)
		fprintf(stderr, "mailtool: unknown applet '%s' (did you mean '%s'?)\n", name, best);
	else
		fprintf(stderr, "mailtool: unknown applet '%s'; 'mailtool --help' lists them\n", name);
	return MT_ENOAPPLET;
}

/* mailtool --install [-s] DIR: one mailtool-APPLET link per applet */
static int install_links(int argc, char **argv)
{
	int sym = 0;
	const char *dir = NULL;
	char self[PATH_MAX];
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0)
			sym = 1;
		else if (dir == NULL)
			dir = argv[i];
		else {
			fputs("mailtool: usage: mailtool --install [-s] DIR\n", stderr);
			return MT_EUSAGE;
		}
	}
	if (dir == NULL) {
		fputs("mailtool: usage: mailtool --install [-s] DIR\n", stderr);
		return MT_EUSAGE;
	}
	ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
	if (l < 0) {
		fprintf(stderr, "mailtool: cannot find my own path: %s\n", strerror(errno));
		return MT_EOS;
	}
	self[l] = '\0';
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	for (size_t i = 0; i < n; i++) {
		char *path = mt_xasprintf("%s/mailtool-%s", dir, v[i]->name);
		unlink(path);
		if ((sym ? symlink(self, path) : link(self, path)) < 0) {
			fprintf(stderr, "mailtool: cannot create '%s': %s\n", path, strerror(errno));
			free(path);
			return MT_EIO;
		}
		free(path);
	}
	return MT_OK;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* Resolve the account: -a NAME, else ad hoc when -H/--tunnel is given, else the default. */
static int setup_account(struct mt_ctx *ctx)
{
	struct mt_args *a = &ctx->args;
	struct mt_err *e = &ctx->err;
	const char *acct = mt_arg(a, "account");
	int r;

	if ((r = mt_config_load(&ctx->cfg, mt_arg(a, "config"), e)) != MT_OK)
		return r;
	/* -H or --tunnel without -a: only the command line counts, so a default
	 * account's password source never goes to another server */
	if (acct == NULL && (mt_arg(a, "host") || mt_arg(a, "tunnel")))
		r = mt_config_account(&ctx->cfg, "", &ctx->acct, e);
	else
		r = mt_config_account(&ctx->cfg, acct, &ctx->acct, e);
	if (r != MT_OK)
		return r;

	struct mt_account *ac = &ctx->acct;
	const char *v;
	if ((v = mt_arg(a, "host"))) { free(ac->host); ac->host = mt_xstrdup(v); }
	if ((v = mt_arg(a, "user"))) { free(ac->user); ac->user = mt_xstrdup(v); }
	if ((v = g_user ? g_user : mt_arg(a, "as"))) { free(ac->as_user); ac->as_user = mt_xstrdup(v); }
	if ((v = mt_arg(a, "tunnel"))) { free(ac->tunnel); ac->tunnel = mt_xstrdup(v); }
	if ((v = mt_arg(a, "port")) && parse_port(v, &ac->port) < 0)
		return mt_seterr(e, MT_EUSAGE, "bad port '%s': expected 1-65535", v);
	if (mt_flag(a, "tls") + mt_flag(a, "starttls") + mt_flag(a, "no-tls") > 1)
		return mt_seterr(e, MT_EUSAGE, "--tls, --starttls and --no-tls exclude each other");
	if (mt_flag(a, "tls")) ac->tls = MT_TLS_IMPLICIT;
	if (mt_flag(a, "starttls")) ac->tls = MT_TLS_STARTTLS;
	if (mt_flag(a, "no-tls")) ac->tls = MT_TLS_NONE;
	if ((v = mt_arg(a, "timeout"))) {
		uint64_t secs;
		struct mt_err pe;
		if (mt_parse_duration(v, &secs, &pe) != MT_OK)
			return mt_seterr(e, MT_EUSAGE, "--timeout: %s", pe.msg);
		ac->idle_timeout = (double)secs;
		if (ac->connect_timeout > ac->idle_timeout)
			ac->connect_timeout = ac->idle_timeout;
	}
	if (ac->as_user && !mt_mailbox_name_ok(ac->as_user))
		return mt_seterr(e, MT_EUSAGE, "bad --as user name");
	return MT_OK;
}

static void print_verbose_open(struct mt_ctx *ctx)
{
	const struct mt_timings *t = mt_session_timings(ctx->s);
	char where[300];
	if (ctx->acct.tunnel)
		snprintf(where, sizeof where, "tunnel");
	else
		snprintf(where, sizeof where, "%s (%s) via %s", ctx->acct.host ? ctx->acct.host : "",
			 mt_session_peer(ctx->s), mt_session_transport(ctx->s));
	fprintf(stderr, "mailtool %s: connected to %s as %s; connect %.1f ms, tls %.1f ms, greeting %.1f ms, "
		"starttls %.1f ms, auth %.1f ms, compress %.1f ms, total %.1f ms\n",
		ctx->ap->name, where, mt_session_auth_method(ctx->s), t->connect, t->tls, t->greeting,
		t->starttls, t->auth, t->compress, t->total);
}

/* ---- session reuse within one process (batch) ------------------------- */

struct cached {
	char *key;                  /* everything that identifies the account */
	struct mt_session *s;
};
static struct cached *cache;
static size_t ncache;
static int cache_on;

static char *account_key(const struct mt_ctx *ctx)
{
	const struct mt_account *a = &ctx->acct;
	return mt_xasprintf("%s|%s|%d|%d|%s|%s|%s|%s|%s", a->name ? a->name : "", a->host ? a->host : "", a->port,
			    (int)a->tls, a->user ? a->user : "", a->as_user ? a->as_user : "",
			    a->tunnel ? a->tunnel : "", a->config_file ? a->config_file : "",
			    mt_flag(&ctx->args, "trace") ? "trace" : "");
}

void mt_session_cache(int on)
{
	cache_on = on;
	if (!on) {
		for (size_t i = 0; i < ncache; i++) {
			mt_session_close(cache[i].s);
			free(cache[i].key);
		}
		free(cache);
		cache = NULL;
		ncache = 0;
	}
}

static struct mt_session *cache_take(const char *key)
{
	for (size_t i = 0; i < ncache; i++)
		if (strcmp(cache[i].key, key) == 0) {
			struct mt_session *s = cache[i].s;
			free(cache[i].key);
			cache[i] = cache[--ncache];
			struct mt_err e = { 0 };
			if (!mt_session_alive(s) || mt_session_deselect(s, &e) != MT_OK) {
				/* the server dropped it: connect afresh, transparently */
				mt_session_close(s);
				return NULL;
			}
			return s;
		}
	return NULL;
}

static void cache_put(char *key, struct mt_session *s)
{
	cache = realloc(cache, sizeof *cache * (ncache + 1));
	if (cache == NULL)
		abort();
	cache[ncache].key = key;
	cache[ncache++].s = s;
}

int mt_run_applet(const struct mt_applet *ap, int argc, char **argv)
{
	const char *saved = g_applet_name;
	int r = run_applet(ap, argc, argv);
	g_applet_name = saved;
	return r;
}

/* Open (or reuse) the session, run the applet, report -v figures. */
static int run_with_session(struct mt_ctx *ctx, char **key)
{
	const struct mt_applet *ap = ctx->ap;
	int r;
	if (ap->flags & MT_APPLET_SESSION) {
		r = ctx->acct.name ? MT_OK : setup_account(ctx);
		if (r == MT_OK && cache_on) {
			*key = account_key(ctx);
			ctx->s = cache_take(*key);
		}
		if (r == MT_OK && ctx->s == NULL)
			r = mt_session_open(&ctx->acct, mt_flag(&ctx->args, "trace"), &ctx->s, &ctx->err);
		if (r != MT_OK) {
			if (ap->session_failed)
				r = ap->session_failed(ctx);
			else
				r = mt_fail_err(ctx, &ctx->err);
			return r;
		}
		if (ctx->verbose)
			print_verbose_open(ctx);
	}
	r = ap->main(ctx);
	if (ctx->s && ctx->verbose) {
		uint64_t rt, in, outb;
		mt_session_stats(ctx->s, &rt, &in, &outb);
		fprintf(stderr, "mailtool %s: %llu round trips, %llu bytes in, %llu bytes out%s\n", ap->name,
			(unsigned long long)rt, (unsigned long long)in, (unsigned long long)outb,
			mt_session_compressed(ctx->s) ? " (compressed)" : "");
	}
	return r;
}

/* --users: build the account's TLS context here, before the children fork,
 * so each inherits it instead of building its own. Errors are left to the
 * children, which report them per user as before. */
static void users_prepare_tls(struct mt_ctx *ctx)
{
	if ((ctx->ap->flags & MT_APPLET_SESSION) && setup_account(ctx) == MT_OK && !ctx->acct.tunnel &&
	    ctx->acct.tls != MT_TLS_NONE)
		mt_tls_prepare(ctx->acct.ca_file, ctx->acct.fingerprint);
	mt_account_release(&ctx->acct);
	mt_config_release(&ctx->cfg);
	memset(&ctx->err, 0, sizeof ctx->err);
}

/* One user of --users, in its own process: --as USER, then as usual. */
static int run_for_user(struct mt_ctx *ctx, const char *user)
{
	char *key = NULL;
	int r;
	g_user = user;
	mt_session_close(ctx->s);
	ctx->s = NULL;
	r = run_with_session(ctx, &key);
	mt_session_close(ctx->s);
	free(key);
	return r;
}

static int run_applet(const struct mt_applet *ap, int argc, char **argv)
{
	struct mt_ctx ctx;
	char *key = NULL;
	int r;

	memset(&ctx, 0, sizeof ctx);
	ctx.ap = ap;
	g_applet_name = ap->name;
	if (mt_args_parse(&ctx.args, ap, argc, argv, &ctx.err) != MT_OK) {
		mt_fail_err(&ctx, &ctx.err);
		fprintf(stderr, "usage: mailtool %s %s\n", ap->name, ap->usage);
		mt_args_release(&ctx.args);
		return MT_EUSAGE;
	}
	if (mt_flag(&ctx.args, "help")) {
		mt_applet_help(stdout, ap);
		mt_args_release(&ctx.args);
		return MT_OK;
	}
	if (mt_flag(&ctx.args, "complete-args")) {
		mt_applet_complete_args(stdout, ap);
		mt_args_release(&ctx.args);
		return MT_OK;
	}
	if (mt_flag(&ctx.args, "complete-options")) {
		mt_applet_complete_options(stdout, ap);
		mt_args_release(&ctx.args);
		return MT_OK;
	}
	ctx.verbose = mt_flag(&ctx.args, "verbose");
	if (mt_flag(&ctx.args, "json") && mt_flag(&ctx.args, "tsv")) {
		mt_args_release(&ctx.args);
		return mt_fail(&ctx, MT_EUSAGE, "--json and --tsv exclude each other");
	}
	ctx.fmt = mt_flag(&ctx.args, "json") ? MT_FMT_JSON : mt_flag(&ctx.args, "tsv") ? MT_FMT_TSV : MT_FMT_HUMAN;
	/* -q: nothing but errors; the exit status still says everything */
	if ((ap->flags & MT_APPLET_SESSION) && mt_flag(&ctx.args, "quiet")) {
		fflush(stdout);
		if (freopen("/dev/null", "w", stdout) == NULL)
			return mt_fail(&ctx, MT_EOS, "-q: cannot open /dev/null");
	}

	if (ap->check && (r = ap->check(&ctx)) != MT_OK)
		goto out;
	if (mt_arg(&ctx.args, "users") && !g_user) {
		if (mt_arg(&ctx.args, "as"))
			r = mt_fail(&ctx, MT_EUSAGE, "--users and --as exclude each other");
		else {
			users_prepare_tls(&ctx);
			r = mt_run_users(&ctx, run_for_user);
		}
		goto out;
	}
	if ((mt_arg(&ctx.args, "jobs") || mt_arg(&ctx.args, "shard")) && !mt_arg(&ctx.args, "users")) {
		r = mt_fail(&ctx, MT_EUSAGE, "-j and --shard go with --users");
		goto out;
	}
	if ((ap->flags & MT_APPLET_SESSION) && (mt_arg(&ctx.args, "persist") || !mt_arg(&ctx.args, "users"))) {
		const char *pv = mt_arg(&ctx.args, "persist");
		uint64_t secs = 0;
		if (pv && mt_parse_duration(pv, &secs, &ctx.err) != MT_OK) {
			r = mt_fail(&ctx, MT_EUSAGE, "--persist: %s", ctx.err.msg);
			goto out;
		}
		if ((r = setup_account(&ctx)) != MT_OK) {
			r = ap->session_failed ? ap->session_failed(&ctx) : mt_fail_err(&ctx, &ctx.err);
			goto out;
		}
		double idle = pv ? (double)secs : ctx.acct.persist;
		int pr = idle > 0 ? mt_persist_run(&ctx, idle, argc, argv) : -1;
		if (pr >= 0) {
			r = pr;
			goto out;
		}
	}
	r = run_with_session(&ctx, &key);
out:
	if (key && ctx.s && mt_session_alive(ctx.s)) {
		cache_put(key, ctx.s);   /* the next applet of the batch reuses it */
		key = NULL;
	} else {
		mt_session_close(ctx.s);
	}
	free(key);
	mt_account_release(&ctx.acct);
	mt_config_release(&ctx.cfg);
	mt_args_release(&ctx.args);
	return r;
}

int main(int argc, char **argv)
{
	char *prog = basename(argv[0]);
	const struct mt_applet *ap;

	/* a dead server must end in an error, not kill us */
	signal(SIGPIPE, SIG_IGN);

	if (strncmp(prog, "mailtool-", 9) == 0) {
		ap = mt_applet_find(prog + 9);
		if (ap == NULL)
			return unknown_applet(prog + 9);
		return run_applet(ap, argc - 1, argv + 1);
	}
	if (argc < 2) {
		usage_all(stderr);
		return MT_EUSAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage_all(stdout);
		return MT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("mailtool %s\n", MT_VERSION);
		return MT_OK;
	}
	if (strcmp(argv[1], "-e") == 0) {
		/* mailtool -e 'quota; du -h' [batch options]: a batch from the command line */
		ap = mt_applet_find("batch");
		if (ap == NULL)
			return unknown_applet("batch");
		return run_applet(ap, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "--install") == 0)
		return install_links(argc - 2, argv + 2);
	if (strcmp(argv[1], "--list") == 0) {
		/* plain applet names, for completion and scripts */
		size_t n;
		const struct mt_applet *const *v = mt_applets(&n);
		for (size_t i = 0; i < n; i++)
			puts(v[i]->name);
		return MT_OK;
	}
	if (strcmp(argv[1], "--complete-accounts") == 0) {
		/* account names of the configuration, for completion: [--config FILE] */
		struct mt_config cfg;
		struct mt_err e;
		const char *path = argc > 3 && strcmp(argv[2], "--config") == 0 ? argv[3] : NULL;
		if (mt_config_load(&cfg, path, &e) != MT_OK)
			return e.code;
		mt_config_list_accounts(&cfg, stdout);
		mt_config_release(&cfg);
		return MT_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			usage_all(stdout);
			return MT_OK;
		}
		ap = mt_applet_find(argv[2]);
		if (ap == NULL)
			return unknown_applet(argv[2]);
		mt_applet_help(stdout, ap);
		return MT_OK;
	}
	if (argv[1][0] == '-') {
		fprintf(stderr, "mailtool: unknown option '%s'\n", argv[1]);
		usage_all(stderr);
		return MT_EUSAGE;
	}
	ap = mt_applet_find(argv[1]);
	if (ap == NULL)
		return unknown_applet(argv[1]);
	return run_applet(ap, argc - 2, argv + 2);
}
