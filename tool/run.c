/* run.c — one applet invocation as the dispatcher, batch, a --users child
 * and a --persist process run it: options, account, session (reused from
 * the cache while a batch or a persist process has it on), the applet. */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	if ((v = ctx->user ? ctx->user : mt_arg(a, "as"))) { free(ac->as_user); ac->as_user = mt_xstrdup(v); }
	if (ctx->user_host) {
		/* --users USER<TAB>HOST[:PORT]: that user's server, the account's
		 * credentials and TLS settings (the name is checked against the
		 * server's certificate as usual) */
		char *h;
		int port;
		if (mt_parse_backend(ctx->user_host, &h, &port) < 0)
			return mt_seterr(e, MT_EDATA, "--users: '%s' is no server", ctx->user_host);
		if (ac->tunnel)
			return mt_seterr(e, MT_ECONFIG, "--users names a server for '%s', but account '%s' uses a tunnel",
					 ctx->user, ac->name);
		free(ac->host);
		ac->host = h;
		if (port)
			ac->port = port;
	}
	if ((v = mt_arg(a, "tunnel"))) { free(ac->tunnel); ac->tunnel = mt_xstrdup(v); }
	if ((v = mt_arg(a, "ca-file"))) {
		struct stat st;
		if (stat(v, &st) < 0 || access(v, R_OK) < 0)
			return mt_seterr(e, MT_EUSAGE, "--ca-file '%s': %s", v, strerror(errno));
		/* a FIFO would hang the load, a directory is no file of certificates */
		if (!S_ISREG(st.st_mode))
			return mt_seterr(e, MT_EUSAGE, "--ca-file '%s': not a regular file", v);
		free(ac->ca_file);
		ac->ca_file = mt_xstrdup(v);
	}
	if ((v = mt_arg(a, "fingerprint"))) {
		char *pin = mt_fingerprint_pin(v);
		if (pin == NULL)
			return mt_seterr(e, MT_EUSAGE, "--fingerprint '%s': expected sha256: and 64 hex digits "
					 "(as info prints it)", v);
		free(ac->fingerprint);
		ac->fingerprint = pin;
	}
	if ((v = mt_arg(a, "port")) && parse_port(v, &ac->port) < 0)
		return mt_seterr(e, MT_EUSAGE, "bad port '%s': expected 1-65535", v);
	if (mt_flag(a, "tls") + mt_flag(a, "starttls") + mt_flag(a, "no-tls") > 1)
		return mt_seterr(e, MT_EUSAGE, "--tls, --starttls and --no-tls exclude each other");
	if (mt_flag(a, "tls")) ac->tls = MT_TLS_IMPLICIT;
	if (mt_flag(a, "starttls")) ac->tls = MT_TLS_STARTTLS;
	if (mt_flag(a, "no-tls")) ac->tls = MT_TLS_NONE;
	if ((v = mt_arg(a, "max-rate")) && mt_parse_rate(v, &ac->max_rate) < 0)
		return mt_seterr(e, MT_EUSAGE, "bad --max-rate '%s': expected commands per second or minute, "
				 "such as 10/s or 300/min", v);
	if ((v = mt_arg(a, "timeout"))) {
		uint64_t secs;
		struct mt_err pe;
		if (mt_parse_duration(v, &secs, &pe) != MT_OK)
			return mt_seterr(e, MT_EUSAGE, "--timeout: %s", pe.msg);
		if (secs == 0)
			return mt_seterr(e, MT_EUSAGE, "--timeout '%s': at least one second", v);
		ac->idle_timeout = (double)secs;
		if (ac->connect_timeout > ac->idle_timeout)
			ac->connect_timeout = ac->idle_timeout;
	}
	if (ac->as_user && !mt_mailbox_name_ok(ac->as_user))
		return mt_seterr(e, MT_EUSAGE, "bad --as user name");
	return MT_OK;
}

char *mt_rules_path(struct mt_ctx *ctx)
{
	const char *path = mt_arg(&ctx->args, "rules");
	struct mt_config cfg = { 0 };
	char *out;
	if (path)
		return mt_xstrdup(path);
	if (mt_config_load(&cfg, mt_arg(&ctx->args, "config"), &ctx->err) != MT_OK)
		return NULL;
	out = cfg.path ? mt_xstrdup(cfg.path) : NULL;
	mt_config_release(&cfg);
	if (out == NULL)
		mt_seterr(&ctx->err, MT_ECONFIG, "no rules: give -f FILE, or a rules list in mailtool.conf");
	return out;
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

/* ---- sessions of other accounts (copies and moves there) -------------- */

struct mt_dest {
	char *name;
	struct mt_account acct;
	struct mt_session *s;
};

static int dest_account(struct mt_ctx *ctx, const char *account, struct mt_account *a, struct mt_err *e)
{
	/* an applet's check runs before the dispatcher loads the configuration:
	 * then it is read here for this question only */
	struct mt_config own = { 0 }, *cfg = &ctx->cfg;
	int r = MT_OK;
	if (ctx->cfg.path == NULL && ctx->cfg.cfg == NULL) {
		r = mt_config_load(&own, mt_arg(&ctx->args, "config"), e);
		cfg = &own;
	}
	if (r == MT_OK)
		r = mt_config_account(cfg, account, a, e);
	mt_config_release(&own);
	if (r != MT_OK)
		return r;
	/* an administrator's run for a user (--as, --users) acts as that user on both sides */
	const char *as = ctx->user ? ctx->user : mt_arg(&ctx->args, "as");
	if (as) {
		free(a->as_user);
		a->as_user = mt_xstrdup(as);
	}
	return MT_OK;
}

int mt_dest_account_check(struct mt_ctx *ctx, const char *account, struct mt_err *e)
{
	struct mt_account a;
	int r = *account ? dest_account(ctx, account, &a, e) : mt_seterr(e, MT_ECONFIG, "an empty account name");
	if (r == MT_OK)
		mt_account_release(&a);
	return r;
}

int mt_dest_session(void *arg, const char *account, struct mt_session **out, struct mt_err *e)
{
	struct mt_ctx *ctx = arg;
	for (size_t i = 0; i < ctx->ndests; i++) {
		if (strcmp(ctx->dests[i].name, account) != 0)
			continue;
		if (mt_session_alive(ctx->dests[i].s)) {
			*out = ctx->dests[i].s;
			return MT_OK;
		}
		/* its server dropped it (a restart, a kick, a timeout) while the
		 * run kept it, as a watcher does between passes: opened afresh
		 * below, once per call; a failing reopen is the caller's error */
		if (ctx->verbose)
			fprintf(stderr, "mailtool %s: account '%s': connection lost; reconnecting\n", ctx->ap->name,
				account);
		mt_session_close(ctx->dests[i].s);
		mt_account_release(&ctx->dests[i].acct);
		free(ctx->dests[i].name);
		ctx->dests[i] = ctx->dests[--ctx->ndests];
		break;
	}
	struct mt_dest d = { .name = mt_xstrdup(account) };
	int r = dest_account(ctx, account, &d.acct, e);
	if (r == MT_OK)
		r = mt_session_open(&d.acct, mt_flag(&ctx->args, "trace") ? stderr : NULL, &d.s, e);
	if (r != MT_OK) {
		if (r != MT_ECONFIG) {
			char *why = mt_xstrdup(e->msg);
			mt_seterr(e, r, "account '%s': %s", account, why);
			free(why);
		}
		free(d.name);
		mt_account_release(&d.acct);
		return r;
	}
	ctx->dests = mt_xrealloc(ctx->dests, sizeof *ctx->dests * (ctx->ndests + 1));
	ctx->dests[ctx->ndests++] = d;
	*out = d.s;
	return MT_OK;
}

static void dests_release(struct mt_ctx *ctx)
{
	for (size_t i = 0; i < ctx->ndests; i++) {
		if (ctx->verbose) {
			uint64_t rt, in, outb;
			mt_session_stats(ctx->dests[i].s, &rt, &in, &outb);
			fprintf(stderr, "mailtool %s: account '%s': %llu round trips, %llu bytes in, %llu bytes out%s\n",
				ctx->ap->name, ctx->dests[i].name, (unsigned long long)rt, (unsigned long long)in,
				(unsigned long long)outb, mt_session_compressed(ctx->dests[i].s) ? " (compressed)" : "");
		}
		mt_session_close(ctx->dests[i].s);
		mt_account_release(&ctx->dests[i].acct);
		free(ctx->dests[i].name);
	}
	free(ctx->dests);
	ctx->dests = NULL;
	ctx->ndests = 0;
}

/* ---- session reuse within one process (batch) ------------------------- */

struct cached {
	char *key;                  /* everything the session depends on (mt_session_key) */
	struct mt_session *s;
};
static struct cached *cache;
static size_t ncache;
static int cache_on;

static char *account_key(const struct mt_ctx *ctx)
{
	char *a = mt_session_key(&ctx->acct), *k = mt_xasprintf("%s|%s", a, mt_flag(&ctx->args, "trace") ? "trace" : "");
	free(a);
	return k;
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

static struct mt_session *cache_take(const char *key, const struct mt_account *a)
{
	for (size_t i = 0; i < ncache; i++)
		if (strcmp(cache[i].key, key) == 0) {
			struct mt_session *s = cache[i].s;
			free(cache[i].key);
			cache[i] = cache[--ncache];
			struct mt_err e = { 0 };
			/* this run's timeout, deadline and rate, not the first run's */
			mt_session_set_limits(s, a);
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
	cache = mt_xrealloc(cache, sizeof *cache * (ncache + 1));
	cache[ncache].key = key;
	cache[ncache++].s = s;
}

/* Open (or reuse) the session, run the applet, report -v figures. */
static int run_with_session(struct mt_ctx *ctx, char **key)
{
	const struct mt_applet *ap = ctx->ap;
	int r;
	if (ap->flags & MT_APPLET_SESSION) {
		r = ctx->acct.name ? MT_OK : setup_account(ctx);
		if (r == MT_OK && cache_on && !(ap->flags & MT_APPLET_FRESH)) {
			*key = account_key(ctx);
			ctx->s = cache_take(*key, &ctx->acct);
		}
		if (r == MT_OK && ctx->s == NULL)
			r = mt_session_open_report(&ctx->acct, mt_flag(&ctx->args, "trace") ? stderr : NULL, &ctx->s,
						   &ctx->failed, &ctx->err);
		if (r != MT_OK) {
			if (ap->session_failed)
				r = ap->session_failed(ctx);
			else
				r = mt_fail_err(ctx, &ctx->err);
			mt_session_close(ctx->failed);
			ctx->failed = NULL;
			return r;
		}
		if (ctx->verbose)
			print_verbose_open(ctx);
	} else if ((ap->flags & MT_APPLET_ACCOUNT) && !ctx->acct.name && (r = setup_account(ctx)) != MT_OK) {
		return mt_fail_err(ctx, &ctx->err);
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
 * so each inherits it instead of building its own, and note the account's
 * server (*host owned, NULL with a tunnel or when unknown; *port as the
 * session picks it) for --per-host and --resume. Errors are left to the
 * children, which report them per user as before. */
static void users_prepare(struct mt_ctx *ctx, char **host, int *port)
{
	*host = NULL;
	*port = 0;
	if ((ctx->ap->flags & (MT_APPLET_SESSION | MT_APPLET_ACCOUNT)) && setup_account(ctx) == MT_OK && !ctx->acct.tunnel) {
		const struct mt_account *ac = &ctx->acct;
		if (ac->tls != MT_TLS_NONE)
			mt_tls_prepare(ac->ca_file, ac->fingerprint);
		*host = ac->host ? mt_xstrdup(ac->host) : NULL;
		*port = ac->port ? ac->port : ac->tls == MT_TLS_STARTTLS || ac->tls == MT_TLS_NONE ? 143 : 993;
	}
	mt_account_release(&ctx->acct);
	mt_config_release(&ctx->cfg);
	memset(&ctx->err, 0, sizeof ctx->err);
}

/* One user of --users, in its own process: --as USER, then as usual. */
static int run_for_user(struct mt_ctx *ctx, const char *user)
{
	char *key = NULL;
	int r;
	ctx->user = user;
	mt_session_close(ctx->s);
	ctx->s = NULL;
	r = run_with_session(ctx, &key);
	mt_session_close(ctx->s);
	dests_release(ctx);
	free(key);
	return r;
}

static const struct mt_runner runner = { .applet = mt_run_applet, .cache = mt_session_cache };

/* One invocation: everything it sets up (options, output mode, -q, the
 * account, the session) is its own and gone when it returns. */
int mt_run_applet(const struct mt_applet *ap, int argc, char **argv)
{
	struct mt_ctx ctx;
	char *key = NULL;
	int r, quiet_saved = -1;

	memset(&ctx, 0, sizeof ctx);
	ctx.ap = ap;
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
	/* -q: nothing but errors, for this run only (a batch's next line, or the
	 * next run a --persist process serves, prints again); the exit status
	 * still says everything */
	if ((ap->flags & (MT_APPLET_SESSION | MT_APPLET_ACCOUNT)) && mt_flag(&ctx.args, "quiet")) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		fflush(stdout);
		if (null < 0 || (quiet_saved = fcntl(1, F_DUPFD_CLOEXEC, 3)) < 0 || dup2(null, 1) < 0) {
			if (null >= 0)
				close(null);
			r = mt_fail(&ctx, MT_EOS, "-q: cannot open /dev/null: %s", strerror(errno));
			goto out;
		}
		close(null);
	}

	if (ap->check && (r = ap->check(&ctx)) != MT_OK)
		goto out;
	if (ctx.offline) {   /* nothing to ask a server: no account, no session, no --users */
		r = ap->main(&ctx);
		goto out;
	}
	if (mt_arg(&ctx.args, "users")) {
		if (mt_arg(&ctx.args, "as"))
			r = mt_fail(&ctx, MT_EUSAGE, "--users and --as exclude each other");
		else {
			char *host;
			int port;
			users_prepare(&ctx, &host, &port);
			r = mt_run_users(&ctx, run_for_user, host, port);
			free(host);
		}
		goto out;
	}
	if ((ap->flags & MT_APPLET_ACCOUNT) && mt_arg(&ctx.args, "persist")) {
		r = mt_fail(&ctx, MT_EUSAGE, "--persist keeps IMAP sessions; %s opens a connection of its own", ap->name);
		goto out;
	}
	if ((mt_arg(&ctx.args, "jobs") || mt_arg(&ctx.args, "shard") || mt_arg(&ctx.args, "resume") ||
	     mt_flag(&ctx.args, "retry-failed") || mt_arg(&ctx.args, "per-host")) && !mt_arg(&ctx.args, "users")) {
		r = mt_fail(&ctx, MT_EUSAGE, "-j, --per-host, --shard, --resume and --retry-failed go with --users");
		goto out;
	}
	if (ap->flags & MT_APPLET_SESSION) {
		const char *pv = mt_arg(&ctx.args, "persist");
		int no = mt_flag(&ctx.args, "no-persist");
		uint64_t secs = 0;
		if (pv && no) {
			r = mt_fail(&ctx, MT_EUSAGE, "--persist and --no-persist exclude each other");
			goto out;
		}
		if (pv && mt_parse_duration(pv, &secs, &ctx.err) != MT_OK) {
			r = mt_fail(&ctx, MT_EUSAGE, "--persist: %s", ctx.err.msg);
			goto out;
		}
		if ((r = setup_account(&ctx)) != MT_OK) {
			r = ap->session_failed ? ap->session_failed(&ctx) : mt_fail_err(&ctx, &ctx.err);
			goto out;
		}
		/* a live kept session of the same key serves every run (a batch's
		 * lines have the batch's own, and its standard input); --persist
		 * or the account's persist leaves one when there is none */
		double idle = pv ? (double)secs : ctx.acct.persist;
		int pr = no || (ap->flags & MT_APPLET_FRESH) || (cache_on && idle <= 0) ? -1
			 : mt_persist_run(&ctx, idle, argc, argv, &runner);
		if (pr >= 0) {
			r = pr;
			goto out;
		}
	}
	r = run_with_session(&ctx, &key);
out:
	if (quiet_saved >= 0) {
		fflush(stdout);
		dup2(quiet_saved, 1);
		close(quiet_saved);
	}
	if (key && ctx.s && mt_session_alive(ctx.s)) {
		cache_put(key, ctx.s);   /* the next applet of the batch reuses it */
		key = NULL;
	} else {
		mt_session_close(ctx.s);
	}
	free(key);
	dests_release(&ctx);
	if (ap->release && ctx.state)
		ap->release(ctx.state);
	mt_account_release(&ctx.acct);
	mt_config_release(&ctx.cfg);
	mt_args_release(&ctx.args);
	return r;
}
