/* filter.c — server-side rules (filters/rules.c) run against a box: per rule
 * one UID SEARCH with what the server can decide (and literal pre-filters
 * for regexes), a batched FETCH of only the fields the rule still has to
 * check, then the actions in rule order with the exact engine of
 * lib/select.c (UID MOVE, or COPY + UID EXPUNGE of exactly those UIDs).
 * Incremental runs (--new) remember UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ
 * per folder and look only at what arrived (or, for flag rules, changed). */
#include "../tool/tool.h"
#include "../filters/rules.h"
#include "../filters/sieve.h"
#include "../lib/plan.h"
#include "../lib/idle.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct mt_opt filter_opts[] = {
	{ .lng = "rules", .shrt = 'f', .kind = MT_ARG, .metavar = "FILE",
	  .help = "rules from FILE (default: the rules list of mailtool.conf)", .complete = "file" },
	{ .lng = "new", .kind = MT_FLAG, .help = "incremental: only mail that arrived (or, for flag rules, changed) since the last run" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show per rule what would happen (-v: each message)" },
	{ .lng = "explain", .kind = MT_FLAG, .help = "print each rule's plan (SEARCH sent, fields fetched, client checks) without logging in" },
	{ .lng = "connect", .kind = MT_FLAG, .help = "with --explain: log in and use the server's capabilities and folders" },
	{ .lng = "log", .kind = MT_ARG, .metavar = "FILE", .help = "append one JSON line per message acted on", .complete = "file" },
	{ .lng = "body-limit", .kind = MT_ARG, .metavar = "SIZE", .help = "bytes of each message a body regex reads (default 256k)" },
	{ .lng = "sieve", .kind = MT_FLAG, .help = "print the rules as a Sieve script for delivery time, without logging in" },
	{ .lng = "skip-unsupported", .kind = MT_FLAG, .help = "with --sieve: leave out the rules Sieve cannot say, and list them" },
	{ .lng = "trash-folder", .kind = MT_ARG, .metavar = "NAME", .help = "with --sieve: the folder trash files into (else trash rules are refused)" },
	{ .lng = "watch", .kind = MT_FLAG, .help = "run until stopped, applying the rules to mail as it arrives (NOTIFY, IDLE or polling)" },
	{ .lng = "via", .kind = MT_ARG, .metavar = "HOW", .help = "with --watch: notify, idle or poll (default: the first the server offers)",
	  .complete = "notify idle poll" },
	{ .lng = "idle-interval", .kind = MT_ARG, .metavar = "DURATION", .help = "with --watch: renew IDLE and probe each connection this often (default 4m)" },
	{ .lng = "poll-interval", .kind = MT_ARG, .metavar = "DURATION", .help = "with --watch: look at folders no connection watches this often (default 1m)" },
	{ .lng = "max-connections", .kind = MT_ARG, .metavar = "N", .help = "with --watch: connections to the account at most (default 4)" },
	{ .lng = "give-up", .kind = MT_ARG, .metavar = "DURATION", .help = "with --watch: exit 75 after failing to reconnect this long (default 10m)" },
	MT_OPT_END,
};

/* The rules, read and compiled once by check (before any connection:
 * nothing is sent before the rules are good), for main. */
struct filter {
	struct mt_ruleset rules;
	int dry, incremental, sieve;
	/* --watch */
	int watch;
	const char *via;            /* "notify", "idle", "poll", or NULL: the best offered */
	double idle_ms, poll_ms, giveup_ms;
	int maxconn;                /* 0: the account's max_connections, else 4 */
};

/* A --watch run: its connections and what its passes share. */
struct watch {
	struct mt_ctx *ctx;
	struct filter *F;
	struct mt_account acct;       /* ctx->acct without a deadline (its strings borrowed) */
	char **folders;               /* the folders the last pass read */
	size_t nfolders;
	FILE *log;                    /* --log, open for the whole run */
	double notice_at;             /* mt_now_ms() the notice the pass follows was read; 0: none */
	struct mt_session **w;        /* the watching connections */
	size_t nw;
	int unwatched;                /* folders no connection watches: polled */
	const char *mode;             /* "notify", "idle", "poll" */
};

/* A duration option of --watch in milliseconds (at least 1 s), or MT_EUSAGE said. */
static int watch_duration(struct mt_ctx *ctx, const char *opt, double dflt_s, double *ms)
{
	const char *v = mt_arg(&ctx->args, opt);
	uint64_t secs = (uint64_t)dflt_s;
	struct mt_err pe;
	if (v && mt_parse_duration(v, &secs, &pe) != MT_OK)
		return mt_fail(ctx, MT_EUSAGE, "--%s: %s", opt, pe.msg);
	if (secs < 1 || secs > 86400 * 365)
		return mt_fail(ctx, MT_EUSAGE, "--%s: from 1 second to a year", opt);
	*ms = (double)secs * 1000.0;
	return MT_OK;
}

static int watch_check(struct mt_ctx *ctx, struct filter *F)
{
	static const char *const only[] = { "via", "idle-interval", "poll-interval", "max-connections", "give-up" };
	static const char *const never[] = { "dry-run", "explain", "connect", "sieve", "users", "persist" };
	const char *v;
	int r;
	F->watch = mt_flag(&ctx->args, "watch");
	for (size_t i = 0; i < sizeof only / sizeof *only; i++)
		if (!F->watch && mt_arg(&ctx->args, only[i]))
			return mt_fail(ctx, MT_EUSAGE, "--%s goes with --watch", only[i]);
	if (!F->watch)
		return MT_OK;
	for (size_t i = 0; i < sizeof never / sizeof *never; i++)
		if (mt_flag(&ctx->args, never[i]) || mt_arg(&ctx->args, never[i]))
			return mt_fail(ctx, MT_EUSAGE, "--watch runs until stopped: not with --%s", never[i]);
	F->incremental = 1;   /* a watch is --new, run again and again */
	/* a kept session (the account's persist) would run the watch in a
	 * background process of its own: this run keeps its connections */
	for (int i = 0; i < ctx->args.nopts; i++)
		if (strcmp(ctx->args.opt[i]->lng, "no-persist") == 0)
			ctx->args.count[i] = 1;
	if ((v = mt_arg(&ctx->args, "via"))) {
		if (strcmp(v, "notify") != 0 && strcmp(v, "idle") != 0 && strcmp(v, "poll") != 0)
			return mt_fail(ctx, MT_EUSAGE, "--via: '%s' is not notify, idle or poll", v);
		F->via = v;
	}
	if ((v = mt_arg(&ctx->args, "max-connections"))) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > 1000)
			return mt_fail(ctx, MT_EUSAGE, "--max-connections: '%s' is not a number from 1 to 1000", v);
		F->maxconn = (int)n;
	}
	if ((r = watch_duration(ctx, "idle-interval", 240, &F->idle_ms)) != MT_OK ||
	    (r = watch_duration(ctx, "poll-interval", 60, &F->poll_ms)) != MT_OK ||
	    (r = watch_duration(ctx, "give-up", 600, &F->giveup_ms)) != MT_OK)
		return r;
	/* past 29 minutes a server may end IDLE (RFC 2177) */
	if (F->idle_ms > 29 * 60 * 1000.0)
		return mt_fail(ctx, MT_EUSAGE, "--idle-interval: at most 29m (servers end IDLE after 30 minutes)");
	return MT_OK;
}

static void filter_release(void *state)
{
	struct filter *F = state;
	mt_rules_release(&F->rules);
	free(F);
}

static int filter_check(struct mt_ctx *ctx)
{
	const char *v;
	struct filter *F = mt_xmalloc(sizeof *F);
	ctx->state = F;
	F->dry = mt_flag(&ctx->args, "dry-run");
	F->incremental = mt_flag(&ctx->args, "new");
	if (mt_flag(&ctx->args, "connect") && !mt_flag(&ctx->args, "explain"))
		return mt_fail(ctx, MT_EUSAGE, "--connect goes with --explain");
	F->sieve = mt_flag(&ctx->args, "sieve");
	if (!F->sieve && (mt_flag(&ctx->args, "skip-unsupported") || mt_arg(&ctx->args, "trash-folder")))
		return mt_fail(ctx, MT_EUSAGE, "--%s goes with --sieve",
			       mt_flag(&ctx->args, "skip-unsupported") ? "skip-unsupported" : "trash-folder");
	if (F->sieve) {
		/* a compiler: nothing is asked of a server, nothing run */
		static const char *const runs[] = { "new", "dry-run", "explain", "connect", "log", "body-limit", "users", "as" };
		for (size_t i = 0; i < sizeof runs / sizeof *runs; i++)
			if (mt_flag(&ctx->args, runs[i]) || mt_arg(&ctx->args, runs[i]))
				return mt_fail(ctx, MT_EUSAGE, "--sieve compiles the rules without logging in: not with --%s", runs[i]);
		ctx->offline = 1;
	}
	/* --explain alone needs no server: it states what it assumes */
	ctx->offline |= mt_flag(&ctx->args, "explain") && !mt_flag(&ctx->args, "connect");
	if (ctx->offline && (mt_arg(&ctx->args, "users") || mt_arg(&ctx->args, "as")))
		return mt_fail(ctx, MT_EUSAGE, "--explain does not log in: --users and --as go with --connect or a run");
	if (ctx->args.argc > 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool filter %s", ctx->ap->usage);
	if (watch_check(ctx, F) != MT_OK)
		return MT_EUSAGE;
	/* -f FILE, else the configuration file (read here: check runs before
	 * the dispatcher loads it) */
	char *path = mt_rules_path(ctx);
	if (path == NULL)
		return mt_fail_err(ctx, &ctx->err);
	int r = mt_rules_load(path, &F->rules, &ctx->err);
	free(path);
	if (r != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if ((v = mt_arg(&ctx->args, "body-limit"))) {
		struct mt_err pe;
		if (mt_parse_size(v, &F->rules.body_limit, &pe) != MT_OK || F->rules.body_limit == 0)
			return mt_fail(ctx, MT_EUSAGE, "--body-limit: %s", F->rules.body_limit == 0 ? "must be above 0" : pe.msg);
	}
	return MT_OK;
}

/* ---- state of incremental runs ------------------------------------------ */

struct fstate {
	uint64_t hash, modseq;
	uint32_t uidvalidity, uidnext;
	int known;
};

/* The account's key in the state file (mt_account_key), and the key of the
 * releases before it: a state written then is still read, once, so that an
 * upgrade is no full run (which would copy again what copy rules copied). */
struct skey {
	char *key, *legacy;
};

static void skey_init(struct skey *k, const struct mt_ctx *ctx)
{
	const struct mt_account *a = &ctx->acct;
	k->key = mt_account_key(a);
	k->legacy = mt_xasprintf("%s|%s|%s|%d|%s", a->name, a->user ? a->user : "", a->tunnel ? a->tunnel : a->host ? a->host : "",
				 a->port, a->as_user ? a->as_user : "");
	for (char *c = k->legacy; *c; c++)
		if (*c == '\t' || *c == '\n' || *c == '\r')
			*c = ' ';
}

static void skey_release(struct skey *k)
{
	free(k->key);
	free(k->legacy);
}

/* Lines: "v1 TAB key TAB hash TAB uidvalidity TAB uidnext TAB modseq TAB folder".
 * Split into its 7 fields (in place); 0 when the line is not one. */
static int state_fields(char *line, char *fields[7])
{
	int n = 0;
	line[strcspn(line, "\n")] = '\0';
	for (char *p = line; n < 7 && p; n++) {
		fields[n] = p;
		p = n < 6 ? strchr(p, '\t') : NULL;
		if (p)
			*p++ = '\0';
	}
	return n == 7 && strcmp(fields[0], "v1") == 0;
}

static void state_get(const struct skey *key, const char *folder, struct fstate *st)
{
	struct mt_err e;
	char *dir = mt_state_dir(&e), *path = dir ? mt_xasprintf("%s/filter.state", dir) : NULL;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) : -1;
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL, *fields[7];
	size_t cap = 0;
	int current = 0;   /* found under the key of this release */
	/* (no state directory: nothing known, a full run, which says why it cannot record) */
	memset(st, 0, sizeof *st);
	while (f && getline(&line, &cap, f) > 0) {
		if (!state_fields(line, fields) || strcmp(fields[6], folder) != 0)
			continue;
		int now = strcmp(fields[1], key->key) == 0;
		if (!now && (current || strcmp(fields[1], key->legacy) != 0))
			continue;
		current |= now;
		st->hash = strtoull(fields[2], NULL, 16);
		st->uidvalidity = (uint32_t)strtoul(fields[3], NULL, 10);
		st->uidnext = (uint32_t)strtoul(fields[4], NULL, 10);
		st->modseq = strtoull(fields[5], NULL, 10);
		st->known = 1;
	}
	free(line);
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	free(path);
	free(dir);
}

/* Replace this account's line for folder (and a line of an earlier
 * release's key); under a lock, written to a temporary file, flushed and
 * renamed so a crash leaves the old state. */
static int state_put(struct mt_ctx *ctx, const struct skey *key, const char *folder, const struct fstate *st)
{
	char *dir = mt_state_dir(&ctx->err);
	if (dir == NULL)
		return mt_fail_err(ctx, &ctx->err);
	char *path = mt_xasprintf("%s/filter.state", dir), *tmp = mt_xasprintf("%s.tmp", path);
	char *lock = mt_xasprintf("%s.lock", path), *line = NULL, *fields[7];
	size_t cap = 0;
	int r = MT_OK, lfd = -1;
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 || flock(lfd, LOCK_EX) < 0) {
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", lock, strerror(errno));
		goto out;
	}
	int ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int ifd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	FILE *in = ifd >= 0 ? fdopen(ifd, "r") : NULL, *out = ofd >= 0 ? fdopen(ofd, "w") : NULL;
	if (out == NULL) {
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", tmp, strerror(errno));
		if (ofd >= 0)
			close(ofd);
		if (in)
			fclose(in);
		goto out;
	}
	while (in && getline(&line, &cap, in) > 0) {
		char *copy = mt_xstrdup(line);
		int ours = state_fields(copy, fields) && strcmp(fields[6], folder) == 0 &&
			   (strcmp(fields[1], key->key) == 0 || strcmp(fields[1], key->legacy) == 0);
		free(copy);
		if (!ours)
			fputs(line, out);
	}
	free(line);
	if (in)
		fclose(in);
	fprintf(out, "v1\t%s\t%llx\t%u\t%u\t%llu\t%s\n", key->key, (unsigned long long)st->hash, st->uidvalidity,
		st->uidnext, (unsigned long long)st->modseq, folder);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", tmp, strerror(errno));
		fclose(out);
		unlink(tmp);
		goto out;
	}
	fclose(out);
	if (rename(tmp, path) < 0)
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", path, strerror(errno));
out:
	if (lfd >= 0)
		close(lfd);
	free(lock);
	free(tmp);
	free(path);
	free(dir);
	return r;
}

/* ---- deciding one folder ------------------------------------------------- */

struct hit {
	uint32_t uid, size;
	time_t internaldate;     /* read only by --watch (the delay it reports) */
	char *from, *subject, *msgid;
};

/* What one rule took in one folder. */
struct rule_run {
	struct hit *v;
	size_t n, cap;
	size_t op;               /* its plan op that reports (the action, or the flag op) */
	int has_op;
};

static void hits_free(struct rule_run *rr)
{
	for (size_t i = 0; i < rr->n; i++) {
		free(rr->v[i].from);
		free(rr->v[i].subject);
		free(rr->v[i].msgid);
	}
	free(rr->v);
	memset(rr, 0, sizeof *rr);
}

/* One folder of the run: the rules it has, what they took, the state to
 * record once its part of the plan is done. */
struct fplan {
	const char *folder;
	const size_t *idx;       /* its rules, in order */
	size_t n;
	struct rule_run *rr;     /* per rule */
	int skipped;             /* nothing new since the last run: not opened */
	int planned;             /* decided (and so, in a real run, its state is recorded once done) */
	size_t op_lo, op_hi;     /* its ops in the plan */
	uint32_t uidvalidity, uidnext;
	uint64_t modseq;
};

struct watch;

struct run {
	struct mt_ctx *ctx;
	const struct watch *watch;   /* --watch: its pass (no tables, delays logged), or NULL */
	const struct mt_ruleset *rules;
	int dry, incremental, verbose, want_info;
	FILE *log;
	struct skey key;
	char *trash, *trash_wire;
	char **target_wire;       /* per rule */
	char **xtarget;           /* per rule to another account: its folder as that server names it (mt_foreign_name) */
	time_t now;
	struct mt_plan plan;
	const char *folder;       /* the folder being decided */
	uint32_t *undec;          /* its messages a rule could not decide: left alone */
	size_t nundec;
	uint64_t undecided;       /* over the run: the exit status says so */
};

static int cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int in_set(const uint32_t *v, size_t n, uint32_t uid)
{
	return mt_bsearch(&uid, v, n, sizeof *v, mt_cmp_u32) != NULL;
}

/* A regular expression could not be decided on a message (a PCRE2 limit or
 * error): the message is left alone by every rule of this run, and said so. */
static void undecided(struct run *R, const struct mt_rule *rule, uint32_t uid, const char *why)
{
	/* (no duplicates: an undecided message is in no later rule's scope) */
	R->undec = mt_xrealloc(R->undec, sizeof *R->undec * (R->nundec + 1));
	R->undec[R->nundec++] = uid;
	R->undecided++;
	mt_fail(R->ctx, MT_EDATA, "rule '%s': '%s' UID %u: %s; the message is left alone", rule->name, R->folder, uid,
		why ? why : "undecided");
}

static void add_hit(struct rule_run *rr, const struct mt_fetched *m, int want_info)
{
	if (rr->n == rr->cap) {
		rr->cap = rr->cap ? rr->cap * 2 : 64;
		rr->v = mt_xrealloc(rr->v, sizeof *rr->v * rr->cap);
	}
	struct hit *h = &rr->v[rr->n++];
	memset(h, 0, sizeof *h);
	h->uid = m->uid;
	h->size = m->size;
	h->internaldate = m->internaldate;
	if (want_info && m->header) {
		h->from = mt_header_get(m->header, m->header_len, "from");
		h->subject = mt_header_get(m->header, m->header_len, "subject");
		h->msgid = mt_header_get(m->header, m->header_len, "message-id");
	}
}

/* Incremental runs: a rule sees what arrived since the last run and, when it
 * reads flags, what changed since — except copy rules, which would copy a
 * changed message a second time. */
static int sees_changes(const struct mt_rule *r)
{
	return r->uses_flags && r->action != MT_A_COPY;
}

/* One rule over its SEARCH candidates. */
struct decide {
	struct run *R;
	const struct mt_rule *rule;
	struct rule_run *rr;
	int exact;
	struct mt_progress *pg;     /* a full run's, or NULL */
};

static int decide_one(const struct mt_fetched *m, void *arg)
{
	struct decide *d = arg;
	const char *why = NULL;
	int hit = d->exact ? 1 : mt_rule_match(d->rule, m, d->R->now, &why);
	if (d->pg)
		mt_progress_add(d->pg, 1, m->header_len + m->body_len);
	if (hit < 0)
		undecided(d->R, d->rule, m->uid, why);
	else if (hit)
		add_hit(d->rr, m, d->R->want_info);
	return 0;
}

/* A small incremental scope: one FETCH of what every rule needs, and every
 * rule decided here in order, instead of a SEARCH and a FETCH per rule. */
struct all_rules {
	struct run *R;
	struct fplan *fp;
	const uint32_t *fresh;     /* new since the last run (sorted) */
	size_t nfresh;
};

static int decide_all(const struct mt_fetched *m, void *arg)
{
	struct all_rules *A = arg;
	for (size_t k = 0; k < A->fp->n; k++) {
		const struct mt_rule *rule = &A->R->rules->v[A->fp->idx[k]];
		const char *why = NULL;
		if (!sees_changes(rule) && !in_set(A->fresh, A->nfresh, m->uid))
			continue;
		int hit = mt_rule_match(rule, m, A->R->now, &why);
		if (hit < 0) {
			undecided(A->R, rule, m->uid, why);
			break;   /* no later rule may take what this one might have */
		}
		if (!hit)
			continue;
		add_hit(&A->fp->rr[k], m, A->R->want_info);
		if (!rule->cont)
			break;
	}
	return 0;
}

static uint32_t *merge_sets(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t *n)
{
	uint32_t *v = mt_xmalloc(sizeof *v * (na + nb + 1));
	size_t u = 0;
	for (size_t i = 0, j = 0; i < na || j < nb;) {
		uint32_t x = j >= nb || (i < na && a[i] <= b[j]) ? a[i++] : b[j++];
		if (u == 0 || v[u - 1] != x)
			v[u++] = x;
	}
	*n = u;
	return v;
}

/* What a small incremental scope's one FETCH reads: every rule's needs. */
static void all_needs(struct run *R, const struct fplan *fp, struct mt_needs *need)
{
	for (size_t k = 0; k < fp->n; k++)
		mt_rule_needs(&R->rules->v[fp->idx[k]], need);
	if (R->want_info) {
		mt_needs_add_header(need, "From");
		mt_needs_add_header(need, "Subject");
		mt_needs_add_header(need, "Message-ID");
	}
	need->size = 1;   /* sizes are reported and logged */
	need->date |= R->watch != NULL;   /* a watch reports each action's delay from arrival */
}

/* Decide a few new messages here, every rule at once. */
static int decide_small(struct run *R, struct fplan *fp, const uint32_t *all, size_t nall, const uint32_t *fresh,
			size_t nfresh)
{
	struct mt_needs need = { 0 };
	all_needs(R, fp, &need);
	struct mt_fetch_spec spec = { .size = need.size, .date = need.date, .flags = 1,
				      .headers = (const char *const *)need.hdrs, .all_headers = need.all_headers,
				      .body_prefix = need.body ? R->rules->body_limit : 0 };
	struct all_rules A = { .R = R, .fp = fp, .fresh = fresh, .nfresh = nfresh };
	int r = mt_fetch_each(R->ctx->s, all, nall, &spec, decide_all, &A, &R->ctx->err);
	mt_needs_release(&need);
	for (size_t k = 0; k < fp->n; k++)
		mt_sort(fp->rr[k].v, fp->rr[k].n, sizeof *fp->rr[k].v, cmp_hit);
	return r;
}

/* One SEARCH per rule (full runs, and large incremental scopes); the first
 * matching rule takes a message (unless it says continue). */
static int decide_per_rule(struct run *R, struct fplan *fp, int full, const uint32_t *all, size_t nall,
			   const uint32_t *fresh, size_t nfresh)
{
	struct mt_session *s = R->ctx->s;
	uint32_t *taken = NULL;
	size_t ntaken = 0;
	int r = MT_OK;
	for (size_t k = 0; k < fp->n && r == MT_OK; k++) {
		const struct mt_rule *rule = &R->rules->v[fp->idx[k]];
		/* a full run: what the SELECT saw; an incremental one: the new (or changed) UIDs */
		const uint32_t *scope = sees_changes(rule) ? all : fresh;
		size_t nscope = sees_changes(rule) ? nall : nfresh;
		if (!full && nscope == 0)
			continue;
		struct mt_query qy;
		mt_rule_query(rule, mt_has_cap(s, "WITHIN"), R->now, &qy);
		uint32_t *cand = NULL;
		size_t nc = 0;
		struct mt_text_keys tk = { .loose = qy.loose, .fields = (const char *const *)qy.needs.hdrs,
					   .all_headers = qy.needs.all_headers, .body = qy.needs.body };
		r = mt_uid_search_text(s, full ? NULL : scope, nscope, qy.search, &tk, &cand, &nc, &R->ctx->err);
		/* what an earlier rule took is not this rule's */
		size_t keep = 0;
		for (size_t i = 0; r == MT_OK && i < nc; i++)
			if (!in_set(taken, ntaken, cand[i]))
				cand[keep++] = cand[i];
		nc = keep;
		struct decide d = { .R = R, .rule = rule, .rr = &fp->rr[k], .exact = qy.exact };
		struct mt_progress pg;
		char what[48];
		/* a cold run reads every candidate of every rule: one line per rule */
		snprintf(what, sizeof what, "filter, rule %zu of %zu", k + 1, fp->n);
		mt_progress_start(&pg, what, nc, full && nc > 64 && !mt_flag(&R->ctx->args, "quiet"));
		pg.unit = "messages";
		if (r == MT_OK && nc > 0 && (!qy.exact || R->want_info)) {
			d.pg = &pg;
			struct mt_needs need = { 0 };
			if (!qy.exact)
				mt_rule_needs(rule, &need);
			if (R->want_info) {
				mt_needs_add_header(&need, "From");
				mt_needs_add_header(&need, "Subject");
				mt_needs_add_header(&need, "Message-ID");
			}
			need.size = 1;
			need.date |= R->watch != NULL;
			struct mt_fetch_spec spec = { .size = need.size, .date = need.date, .flags = need.flags,
						      .headers = (const char *const *)need.hdrs, .all_headers = need.all_headers,
						      .body_prefix = need.body ? R->rules->body_limit : 0 };
			r = mt_fetch_each(s, cand, nc, &spec, decide_one, &d, &R->ctx->err);
			mt_progress_end(&pg);
			mt_needs_release(&need);
			mt_sort(fp->rr[k].v, fp->rr[k].n, sizeof *fp->rr[k].v, cmp_hit);
		} else if (r == MT_OK) {
			/* the server decided exactly and nothing is listed or logged: no FETCH */
			for (size_t i = 0; i < nc; i++) {
				struct mt_fetched m = { .uid = cand[i] };
				decide_one(&m, &d);
			}
		}
		mt_query_release(&qy);
		free(cand);
		/* what this rule took, and what no rule may take since this one could not decide it */
		size_t add = (!rule->cont ? fp->rr[k].n : 0) + R->nundec;
		if (add) {
			taken = mt_xrealloc(taken, sizeof *taken * (ntaken + add));
			for (size_t i = 0; !rule->cont && i < fp->rr[k].n; i++)
				taken[ntaken++] = fp->rr[k].v[i].uid;
			for (size_t i = 0; i < R->nundec; i++)
				taken[ntaken++] = R->undec[i];
			mt_sort(taken, ntaken, sizeof *taken, mt_cmp_u32);
		}
	}
	free(taken);
	return r;
}

/* A message some rule could not decide is no rule's: an earlier rule
 * (continue = true) may have matched it already. */
static void drop_undecided(struct run *R, struct fplan *fp)
{
	mt_sort(R->undec, R->nundec, sizeof *R->undec, mt_cmp_u32);
	for (size_t k = 0; R->nundec && k < fp->n; k++) {
		struct rule_run *rr = &fp->rr[k];
		size_t keep = 0;
		for (size_t i = 0; i < rr->n; i++) {
			if (in_set(R->undec, R->nundec, rr->v[i].uid)) {
				free(rr->v[i].from);
				free(rr->v[i].subject);
				free(rr->v[i].msgid);
			} else {
				rr->v[keep++] = rr->v[i];
			}
		}
		rr->n = keep;
	}
}

/* The folder's part of the plan, in rule order: flags first (so a moved
 * message carries them), then the copy, move, trash or expunge. */
static void plan_actions(struct run *R, struct fplan *fp, const char *wire, uint32_t uidvalidity)
{
	fp->op_lo = R->plan.n;
	for (size_t k = 0; k < fp->n; k++) {
		const struct mt_rule *rule = &R->rules->v[fp->idx[k]];
		struct rule_run *rr = &fp->rr[k];
		if (rr->n == 0)
			continue;
		uint32_t *uids = mt_xmalloc(sizeof *uids * rr->n), *sizes = mt_xmalloc(sizeof *sizes * rr->n);
		for (size_t i = 0; i < rr->n; i++) {
			uids[i] = rr->v[i].uid;
			sizes[i] = rr->v[i].size;
		}
		struct { enum mt_op_kind kind; const char *flags, *target; int on; } act[4];
		int na = 0;
		if (rule->flag)
			act[na++] = (typeof(act[0])){ MT_OP_FLAG, rule->flag, NULL, 1 };
		if (rule->unflag)
			act[na++] = (typeof(act[0])){ MT_OP_UNFLAG, rule->unflag, NULL, 1 };
		if (rule->action == MT_A_COPY)
			act[na++] = (typeof(act[0])){ MT_OP_COPY, NULL, rule->target, 1 };
		else if (rule->action == MT_A_MOVE)
			act[na++] = (typeof(act[0])){ MT_OP_MOVE, NULL, rule->target, 1 };
		else if (rule->action == MT_A_TRASH)
			act[na++] = (typeof(act[0])){ MT_OP_MOVE, NULL, R->trash, 1 };
		else if (rule->action == MT_A_EXPUNGE)
			act[na++] = (typeof(act[0])){ MT_OP_EXPUNGE, NULL, NULL, 1 };
		for (int a = 0; a < na; a++) {
			struct mt_op *op = mt_plan_add_uids(&R->plan, act[a].kind, fp->folder, wire, uidvalidity, uids, sizes, rr->n);
			op->label = mt_xstrdup(rule->name);
			op->flags = act[a].flags ? mt_xstrdup(act[a].flags) : NULL;
			op->account = act[a].target && rule->account ? mt_xstrdup(rule->account) : NULL;
			op->target = op->account ? mt_xstrdup(R->xtarget[fp->idx[k]])
				   : act[a].target ? mt_xstrdup(act[a].target) : NULL;
			op->dated = op->account && rule->dated;
			rr->op = R->plan.n - 1;   /* the last one reports: the action, or the flag op */
			rr->has_op = 1;
		}
		free(uids);
		free(sizes);
	}
	fp->op_hi = R->plan.n;
}

static int recover(struct run *R, const char *const *folders, size_t nfolders, int even_with_move);

/* Decide one folder: open it, look at what the run must (all of it, or
 * what is new), decide every rule, and add its part to the plan. */
static int plan_folder(struct run *R, struct fplan *fp)
{
	struct mt_ctx *ctx = R->ctx;
	struct mt_session *s = ctx->s;
	const char *folder = fp->folder;
	struct mt_folder_state st;
	struct fstate old = { 0 };
	char *wire = NULL;
	uint32_t *fresh = NULL, *changed = NULL, *all = NULL;
	size_t nfresh = 0, nchanged = 0, nall = 0;
	int r, flag_rules = 0, full = 1;
	uint64_t examined = 0;

	R->folder = folder;
	R->nundec = 0;
	fp->rr = mt_xmalloc(sizeof *fp->rr * (fp->n ? fp->n : 1));
	for (size_t k = 0; k < fp->n; k++)
		flag_rules |= sees_changes(&R->rules->v[fp->idx[k]]);
	/* incremental and no rule reads flags: STATUS says whether anything arrived,
	 * without opening the folder (opening a 70,000-message INBOX costs the server
	 * far more than a STATUS) */
	if (R->incremental && !flag_rules) {
		state_get(&R->key, folder, &old);
		if (old.known && old.hash == R->rules->hash) {
			struct mt_mailbox box = { .name = (char *)folder };
			struct mt_status sst = { 0 };
			if ((r = mt_mailbox_wire(s, folder, &box.wire, &ctx->err)) == MT_OK)
				r = mt_status_many(s, &box, 1, MT_ST_UIDNEXT | MT_ST_UIDVALIDITY | MT_ST_MESSAGES, &sst, &ctx->err);
			free(box.wire);
			int same = r == MT_OK && sst.error == NULL && (sst.have & MT_ST_UIDNEXT) && (sst.have & MT_ST_UIDVALIDITY) &&
				   sst.uidvalidity == old.uidvalidity && sst.uidnext == old.uidnext;
			uint32_t msgs = sst.messages;
			mt_status_release(&sst, 1);
			if (r != MT_OK)
				return r;
			if (same) {
				if (R->verbose && !R->watch)
					mt_warn(ctx, "%s: examined 0 of %u messages (nothing new since the last run)", folder, msgs);
				fp->skipped = 1;
				return MT_OK;
			}
		}
	}
	if ((r = mt_open_folder(s, folder, R->dry, &wire, &st, &ctx->err)) != MT_OK)
		goto out;
	/* a run without MOVE (another server version, a trimmed tunnel) was
	 * killed part-way through a move here: finish it first, then look again */
	if (!R->dry && st.marked && mt_has_cap(s, "MOVE")) {
		free(wire);
		wire = NULL;
		if ((r = recover(R, &folder, 1, 1)) != MT_OK) {
			r = -r;
			goto out;
		}
		if ((r = mt_open_folder(s, folder, R->dry, &wire, &st, &ctx->err)) != MT_OK)
			goto out;
	}
	/* incremental: only what arrived since, and for flag rules what changed */
	if (R->incremental) {
		state_get(&R->key, folder, &old);
		/* (a state ahead of the server, say a box restored from a backup,
		 * would hide new mail until UIDNEXT caught up: it is not trusted) */
		full = !old.known || old.hash != R->rules->hash || old.uidvalidity != st.uidvalidity || st.uidvalidity == 0 ||
		       st.uidnext == 0 || old.uidnext > st.uidnext ||
		       (flag_rules && (st.highestmodseq == 0 || old.modseq == 0 || old.modseq > st.highestmodseq));
		/* what arrived since the last run, up to what this SELECT saw: a
		 * message arriving during the run is the next run's, once */
		if (!full && st.uidnext > old.uidnext)
			r = mt_uid_search_range(s, old.uidnext, 0, "ALL", &fresh, &nfresh, &ctx->err);
		if (r == MT_OK && !full && flag_rules && st.highestmodseq != old.modseq)
			r = mt_uid_changed_since(s, old.modseq, &changed, &nchanged, &ctx->err);
		if (r != MT_OK)
			goto out;
		all = merge_sets(fresh, nfresh, changed, nchanged, &nall);
		if (!full)
			examined = nall;
	}
	if (full)
		examined = st.exists;
	if (R->verbose && !R->watch)
		mt_warn(ctx, "%s: examined %llu of %u messages (%s)", folder,
			(unsigned long long)examined, st.exists, full ? "full run" : "new since the last run");

	int any_body = 0;
	for (size_t k = 0; k < fp->n; k++) {
		struct mt_needs need = { 0 };
		mt_rule_needs(&R->rules->v[fp->idx[k]], &need);
		any_body |= need.body;
		mt_needs_release(&need);
	}
	int small = !full && nall <= 1000 && (!any_body || nall * R->rules->body_limit <= (16u << 20));
	if (small && nall > 0)
		r = decide_small(R, fp, all, nall, fresh, nfresh);
	else if (!small && examined > 0)
		r = decide_per_rule(R, fp, full, all, nall, fresh, nfresh);
	if (r != MT_OK)
		goto out;
	drop_undecided(R, fp);
	plan_actions(R, fp, wire, st.uidvalidity);
	/* what the state will say once this folder's part is done (values from
	 * the SELECT: what arrives after it is the next run's) */
	fp->planned = 1;
	fp->uidvalidity = st.uidvalidity;
	fp->uidnext = st.uidnext;
	fp->modseq = st.highestmodseq;
out:
	free(fresh);
	free(changed);
	free(all);
	free(wire);
	return r;
}

/* ---- reports, the log, the state ------------------------------------------ */

/* How long after its arrival a watch acted on h: from its INTERNALDATE
 * (whole seconds, so up to a second short) in ms, and from the server's
 * notice the pass follows (-1: none, the pass after a (re)connect or a poll). */
static void hit_delays(const struct run *R, const struct hit *h, double *from_date, double *from_notice)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	*from_date = h->internaldate > 0 ? ((double)now.tv_sec - (double)h->internaldate) * 1000.0 + now.tv_nsec / 1e6 : -1;
	*from_notice = R->watch && R->watch->notice_at > 0 ? mt_now_ms() - R->watch->notice_at : -1;
}

/* The log's line (and with a watch's -v, stderr's) per message the rule
 * acted on; one that a copy or move to another account left in place
 * (op->skipped) is logged as that. */
static void log_hits(const struct run *R, const struct mt_rule *r, const char *folder, const char *action,
		     const char *target, const struct rule_run *rr, const struct mt_op *op)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *log = R->log;
	struct mt_ctx *ctx = R->ctx;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t i = 0; (log || (R->watch && R->verbose)) && i < rr->n; i++) {
		const struct hit *h = &rr->v[i];
		double dd = -1, dn = -1;
		if (R->watch)
			hit_delays(R, h, &dd, &dn);
		const char *act = action;
		uint64_t sn, sb;
		for (size_t k = 0; op && k < op->nskipped; k++)
			if (op->skipped[k].uid == h->uid)
				act = mt_skip_row(op, op->skipped[k].why, &sn, &sb);

		if (R->watch && R->verbose) {
			char *t = target ? mt_xasprintf(" to '%s'", target) : NULL, nb[48] = "";
			if (dn >= 0)
				snprintf(nb, sizeof nb, ", %.0f ms after the server's notice", dn);
			mt_warn(ctx, "rule '%s': %s UID %u %s%s, %.0f ms after its INTERNALDATE%s", r->name, folder, h->uid, act,
				t ? t : "", dd, nb);
			free(t);
		}
		if (log == NULL)
			continue;
		fprintf(log, "{\"time\":\"%s\",\"account\":", ts);
		mt_json_str(log, ctx->acct.name);
		fputs(",\"user\":", log);
		mt_json_str(log, ctx->acct.as_user ? ctx->acct.as_user : ctx->acct.user ? ctx->acct.user : "");
		fputs(",\"rule\":", log);
		mt_json_str(log, r->name);
		fputs(",\"folder\":", log);
		mt_json_str(log, folder);
		fprintf(log, ",\"uid\":%u,\"size\":%u,\"message_id\":", h->uid, h->size);
		mt_json_str(log, h->msgid ? h->msgid : "");
		fputs(",\"from\":", log);
		mt_json_str(log, h->from ? h->from : "");
		fputs(",\"subject\":", log);
		mt_json_str(log, h->subject ? h->subject : "");
		fputs(",\"action\":", log);
		mt_json_str(log, act);
		if (target) {
			fputs(",\"target\":", log);
			mt_json_str(log, target);
		}
		/* a watch's delays, each named after what it counts from */
		if (R->watch) {
			fprintf(log, ",\"delay_internaldate_ms\":%.0f,\"delay_notice_ms\":", dd);
			if (dn >= 0)
				fprintf(log, "%.1f", dn);
			else
				fputs("null", log);
		}
		fputs("}\n", log);
	}
	if (log)
		fflush(log);
}

enum { R_RULE, R_FOLDER, R_ACTION, R_MESSAGES, R_NCOLS };
static const struct mt_col result_cols[R_NCOLS] = {
	[R_RULE] = { "rule", MT_COL_STR },
	[R_FOLDER] = { "folder", MT_COL_STR },
	[R_ACTION] = { "action", MT_COL_STR },
	[R_MESSAGES] = { "messages", MT_COL_NUM },
};
enum { M_RULE, M_FOLDER, M_UID, M_SIZE, M_FROM, M_SUBJECT, M_TARGET, M_NCOLS };
static const struct mt_col msg_cols[M_NCOLS] = {
	[M_RULE] = { "rule", MT_COL_STR },
	[M_FOLDER] = { "folder", MT_COL_STR },
	[M_UID] = { "uid", MT_COL_NUM },
	[M_SIZE] = { "size", MT_COL_SIZE },
	[M_FROM] = { "from", MT_COL_STR },
	[M_SUBJECT] = { "subject", MT_COL_STR },
	[M_TARGET] = { "target", MT_COL_STR },
};

static const char *action_name(const struct mt_rule *r, int dry)
{
	switch (r->action) {
	case MT_A_MOVE: return dry ? "would move" : "moved";
	case MT_A_COPY: return dry ? "would copy" : "copied";
	case MT_A_TRASH: return dry ? "would trash" : "trashed";
	case MT_A_EXPUNGE: return dry ? "would expunge" : "expunged";
	case MT_A_STOP: return dry ? "would stop" : "stopped";
	case MT_A_NONE: break;
	}
	return r->flag && r->unflag ? (dry ? "would flag/unflag" : "flagged/unflagged")
	       : r->flag ? (dry ? "would flag" : "flagged") : (dry ? "would unflag" : "unflagged");
}

/* After the plan (or, in a dry run, instead of it): a row per rule and
 * folder, the log, the listing of -v, and the state of --new. The rows of
 * a dry run are the plan; those of a real run the same rows with what was
 * done. Returns non-zero when the state could not be written. */
static int conclude(struct run *R, struct fplan *fp, struct mt_table *res, struct mt_table *msgs)
{
	int all_ran = 1;
	for (size_t i = fp->op_lo; i < fp->op_hi; i++)
		all_ran &= R->plan.v[i].ran;
	for (size_t k = 0; k < fp->n && fp->rr; k++) {
		const struct mt_rule *rule = &R->rules->v[fp->idx[k]];
		const struct rule_run *x = &fp->rr[k];
		const char *target = rule->action == MT_A_TRASH ? R->trash : rule->target;
		if (x->n == 0)
			continue;
		const struct mt_op *op = x->has_op ? &R->plan.v[x->op] : NULL;
		/* to another account a dry run reads what the real run would find there */
		int xacct = op && op->account && (op->kind == MT_OP_MOVE || op->kind == MT_OP_COPY);
		uint64_t n = (R->dry && !xacct) || op == NULL ? x->n : op->done;
		if (!R->dry && op && !op->ran)
			continue;   /* the run stopped before: the error says so */
		if (!R->dry && op)
			log_hits(R, rule, fp->folder,
				 rule->action == MT_A_NONE ? (rule->flag ? "flag" : "unflag") : action_name(rule, 0), target, x, op);
		int row = mt_table_row(res);
		mt_table_str(res, row, R_RULE, rule->name);
		mt_table_str(res, row, R_FOLDER, fp->folder);
		mt_table_str(res, row, R_ACTION, action_name(rule, R->dry));
		mt_table_num(res, row, R_MESSAGES, (long long)n);
		if (xacct && op->found) {
			/* of those, copies an interrupted run had made: not appended again */
			row = mt_table_row(res);
			mt_table_str(res, row, R_RULE, rule->name);
			mt_table_str(res, row, R_FOLDER, fp->folder);
			mt_table_str(res, row, R_ACTION, "already there");
			mt_table_num(res, row, R_MESSAGES, (long long)op->found);
		}
		/* and what stays where it is, by why (each named on stderr) */
		uint64_t sn, sb;
		const char *act;
		for (int w = 1; xacct && (act = mt_skip_row(op, w, &sn, &sb)) != NULL; w++)
			if (sn) {
				row = mt_table_row(res);
				mt_table_str(res, row, R_RULE, rule->name);
				mt_table_str(res, row, R_FOLDER, fp->folder);
				mt_table_str(res, row, R_ACTION, act);
				mt_table_num(res, row, R_MESSAGES, (long long)sn);
			}
		if (R->dry && R->verbose)
			for (size_t i = 0; i < x->n; i++) {
				int mr = mt_table_row(msgs);
				mt_table_str(msgs, mr, M_RULE, rule->name);
				mt_table_str(msgs, mr, M_FOLDER, fp->folder);
				mt_table_num(msgs, mr, M_UID, x->v[i].uid);
				mt_table_num(msgs, mr, M_SIZE, x->v[i].size);
				mt_table_str(msgs, mr, M_FROM, x->v[i].from ? x->v[i].from : "");
				mt_table_str(msgs, mr, M_SUBJECT, x->v[i].subject ? x->v[i].subject : "");
				mt_table_str(msgs, mr, M_TARGET, target ? target : action_name(rule, 1));
			}
	}
	/* remember where this run stopped looking, once the folder's part is done */
	if (!R->dry && fp->planned && all_ran) {
		struct fstate now = { .hash = R->rules->hash, .uidvalidity = fp->uidvalidity, .uidnext = fp->uidnext,
				      .modseq = fp->modseq, .known = 1 };
		return state_put(R->ctx, &R->key, fp->folder, &now);
	}
	return MT_OK;
}

/* ---- the applet ---------------------------------------------------------- */

/* A selectable folder of that name in a LIST "*" result (INBOX in any case). */
static int listed(const struct mt_mailboxes *all, const char *name)
{
	for (size_t i = 0; i < all->n; i++)
		if (!(all->v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) &&
		    (strcmp(all->v[i].name, name) == 0 ||
		     (strcasecmp(name, "INBOX") == 0 && strcmp(all->v[i].wire, "INBOX") == 0)))
			return 1;
	return 0;
}

/* A run killed between CREATE and SUBSCRIBE left the target existing but
 * unsubscribed (servers refuse to subscribe a name before it exists). With
 * create = true an existing, unsubscribed and still empty target is taken
 * for that: the plan subscribes it. One holding mail is the user's choice. */
static int unfinished_create(struct mt_ctx *ctx, const struct mt_mailboxes *all, const char *name, int *yes)
{
	*yes = 0;
	for (size_t i = 0; i < all->n; i++) {
		const struct mt_mailbox *b = &all->v[i];
		if (strcmp(b->name, name) != 0 || (b->flags & MT_MBX_SUBSCRIBED))
			continue;
		struct mt_status st = { 0 };
		int r = mt_status_many(ctx->s, b, 1, MT_ST_MESSAGES, &st, &ctx->err);
		*yes = r == MT_OK && st.error == NULL && (st.have & MT_ST_MESSAGES) && st.messages == 0;
		mt_status_release(&st, 1);
		return r;
	}
	return MT_OK;
}

/* Moves a killed run left half done without MOVE (see mt_recover_moves):
 * finished or undone before anything is decided, over every source folder
 * and every move target of the rules. With MOVE, only for a folder whose
 * FLAGS show the mark (plan_folder). */
static int recover(struct run *R, const char *const *folders, size_t nfolders, int even_with_move)
{
	struct mt_ctx *ctx = R->ctx;
	const char **tgt = mt_xmalloc(sizeof *tgt * (R->rules->n + 2));
	size_t nt = 0;
	uint64_t done = 0;
	int r = MT_OK;
	for (size_t i = 0; i < R->rules->n; i++)
		if (R->target_wire[i] && R->rules->v[i].action == MT_A_MOVE)
			tgt[nt++] = R->target_wire[i];
	if (R->trash_wire)
		tgt[nt++] = R->trash_wire;
	r = mt_recover_moves(ctx->s, folders, nfolders, tgt, nt, even_with_move, &done, &ctx->err);
	if (r == MT_OK && done && R->verbose)
		mt_warn(ctx, "finished %llu move(s) an interrupted run had left half done", (unsigned long long)done);
	free(tgt);
	return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
}

/* --log FILE: appended to, never through a symbolic link, and only when it
 * is a regular file (root's run must not write into whatever a link names). */
static int open_log(struct mt_ctx *ctx, const char *path, FILE **out)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0)
		return mt_fail(ctx, MT_EIO, "--log '%s': %s", path,
			       errno == ELOOP ? "is a symbolic link; not writing through it" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mt_fail(ctx, MT_EIO, "--log '%s': not a regular file", path);
	}
	if ((*out = fdopen(fd, "a")) == NULL) {
		close(fd);
		return mt_fail(ctx, MT_EOS, "--log '%s': %s", path, strerror(errno));
	}
	return MT_OK;
}

/* A rule's folders: plain names against the one LIST "*" of the run, patterns
 * through mt_expand_folders (the server's own LIST matching). */
static int rule_folders(struct mt_ctx *ctx, const struct mt_rule *rule, const struct mt_mailboxes *all,
			char ***out, size_t *nout)
{
	size_t na = 0;
	int wild = 0;
	while (rule->folders[na])
		wild |= strpbrk(rule->folders[na++], "*%") != NULL;
	if (wild)
		return mt_expand_folders(ctx->s, (const char *const *)rule->folders, na, 0, out, nout, &ctx->err);
	*out = mt_xmalloc(sizeof **out * na);
	*nout = 0;
	for (size_t i = 0; i < na; i++) {
		const char *name = rule->folders[i];
		char *pre = NULL;
		/* not there as written: under the personal namespace's prefix
		 * (Courier's "INBOX."), as every applet resolves a folder name */
		if (!listed(all, name) && ((pre = mt_prefixed_name(ctx->s, name)) == NULL || !listed(all, pre))) {
			free(pre);
			mt_free_folders(*out, *nout);
			*out = NULL;
			*nout = 0;
			return mt_seterr(&ctx->err, MT_EDATA, "no folder '%s'", name);
		}
		(*out)[(*nout)++] = pre ? pre : mt_xstrdup(strcasecmp(name, "INBOX") == 0 ? "INBOX" : name);
	}
	return MT_OK;
}

/* A move or copy to another account's folder: the account is one of
 * mailtool.conf (else 78 with the rule's place), its target there exists
 * or is planned (create = true); the session there is the run's to keep. */
static int xacct_target(struct run *R, size_t i)
{
	struct mt_ctx *ctx = R->ctx;
	const struct mt_rule *rule = &R->rules->v[i];
	struct mt_session *d;
	struct mt_mailboxes there;
	int r, exists = 0, planned = 0;
	if ((r = mt_dest_session(ctx, rule->account, &d, &ctx->err)) != MT_OK)
		return mt_fail(ctx, r, "%s:%d: rule '%s': %s", rule->file, rule->line, rule->name, ctx->err.msg);
	/* the folder as that server names it (Courier's "INBOX." and '.') */
	if ((r = mt_foreign_name(d, rule->target, &R->xtarget[i], &ctx->err)) != MT_OK)
		return mt_fail(ctx, r, "%s:%d: rule '%s': account '%s': %s", rule->file, rule->line, rule->name,
			       rule->account, ctx->err.msg);
	const char *target = R->xtarget[i];
	if (rule->dated)
		return MT_OK;   /* a folder per date: each made there as the run needs it */
	if ((r = mt_list(d, target, &there, &ctx->err)) != MT_OK)
		return mt_fail(ctx, r, "%s:%d: rule '%s': account '%s': %s", rule->file, rule->line, rule->name,
			       rule->account, ctx->err.msg);
	exists = listed(&there, target);
	mt_mailboxes_release(&there);
	if (!exists && !rule->create)
		return mt_fail(ctx, MT_EDATA, "%s:%d: rule '%s': folder '%s' does not exist on account '%s' (create = true; "
			       "makes it)", rule->file, rule->line, rule->name, target, rule->account);
	for (size_t o = 0; o < R->plan.n; o++)
		planned |= R->plan.v[o].account && strcmp(R->plan.v[o].account, rule->account) == 0 &&
			   strcmp(R->plan.v[o].folder, target) == 0;
	if (!exists && !planned) {
		struct mt_op *op = mt_plan_add(&R->plan, MT_OP_CREATE);
		op->folder = mt_xstrdup(target);
		op->account = mt_xstrdup(rule->account);
	}
	return MT_OK;
}

/* The folders the rules read (in order of appearance), each with its rules:
 * every rule's folders, targets and \Trash checked; the plan begins with
 * the targets to create or to subscribe. Nothing changes here. */
static int validate(struct run *R, const struct mt_mailboxes *all, char ***folders, size_t *nfolders, size_t ***fr,
		    size_t **nfr)
{
	struct mt_ctx *ctx = R->ctx;
	struct mt_strindex *ix = mt_strindex_new();   /* folder name -> index */
	size_t cap = 0;
	int r = MT_OK;
	for (size_t i = 0; i < R->rules->n && r == MT_OK; i++) {
		const struct mt_rule *rule = &R->rules->v[i];
		char **f = NULL;
		size_t nf = 0;
		if (rule_folders(ctx, rule, all, &f, &nf) != MT_OK) {
			r = mt_fail(ctx, ctx->err.code, "%s:%d: rule '%s': %s", rule->file, rule->line, rule->name, ctx->err.msg);
			break;
		}
		for (size_t k = 0; k < nf; k++) {
			long at = mt_strindex_get(ix, f[k]);
			size_t j = at >= 0 && *fr ? (size_t)at : *nfolders;
			if (j == *nfolders) {
				if (*fr == NULL || *nfolders == cap) {
					cap = cap ? 2 * cap : 16;
					*folders = mt_xrealloc(*folders, sizeof **folders * cap);
					*fr = mt_xrealloc(*fr, sizeof **fr * cap);
					*nfr = mt_xrealloc(*nfr, sizeof **nfr * cap);
				}
				(*folders)[j] = mt_xstrdup(f[k]);
				(*fr)[j] = NULL;
				(*nfr)[j] = 0;
				mt_strindex_put(ix, (*folders)[j], j);
				(*nfolders)++;
			}
			(*fr)[j] = mt_xrealloc((*fr)[j], sizeof ***fr * ((*nfr)[j] + 1));
			(*fr)[j][(*nfr)[j]++] = i;
		}
		mt_free_folders(f, nf);
		if (rule->action == MT_A_TRASH && R->trash == NULL) {
			if ((r = mt_special_folder(ctx->s, "\\Trash", &R->trash, &R->trash_wire, &ctx->err)) != MT_OK) {
				r = mt_fail_err(ctx, &ctx->err);
				break;
			}
			if (R->trash == NULL) {
				r = mt_fail(ctx, MT_EUNAVAIL, "%s:%d: rule '%s': trash: the server names no \\Trash folder (SPECIAL-USE)",
					    rule->file, rule->line, rule->name);
				break;
			}
		}
		if (rule->account) {
			if ((r = xacct_target(R, i)) != MT_OK)
				break;
			continue;
		}
		if (rule->target == NULL)
			continue;
		int exists = listed(all, rule->target), unfinished = 0;
		char delim = 0;
		if (!exists && mt_delimiter(ctx->s, &delim, &ctx->err) == MT_OK && delim &&
		    (rule->target[0] == '\0' || rule->target[0] == delim ||
		     rule->target[strlen(rule->target) - 1] == delim || strstr(rule->target, (char[]){ delim, delim, 0 }))) {
			/* what CREATE makes of it is up to the server ('x/' made 'x', then
			 * SUBSCRIBE 'x/' failed): refused before anything is done */
			r = mt_fail(ctx, MT_EDATA, "%s:%d: rule '%s': folder '%s' has an empty level (the separator is '%c')",
				    rule->file, rule->line, rule->name, rule->target, delim);
			break;
		}
		if (!exists && !rule->create) {
			r = mt_fail(ctx, MT_EDATA, "%s:%d: rule '%s': folder '%s' does not exist (create = true; makes it)",
				    rule->file, rule->line, rule->name, rule->target);
			break;
		}
		if ((r = mt_mailbox_wire(ctx->s, rule->target, &R->target_wire[i], &ctx->err)) != MT_OK ||
		    (exists && rule->create && (r = unfinished_create(ctx, all, rule->target, &unfinished)) != MT_OK)) {
			r = mt_fail_err(ctx, &ctx->err);
			break;
		}
		/* a target two rules name is created once */
		int planned = 0;
		for (size_t o = 0; o < R->plan.n; o++)
			planned |= !R->plan.v[o].account && strcmp(R->plan.v[o].folder, rule->target) == 0;
		if (!planned && (!exists || unfinished))
			mt_plan_add(&R->plan, exists ? MT_OP_SUBSCRIBE : MT_OP_CREATE)->folder = mt_xstrdup(rule->target);
	}
	mt_strindex_free(ix);
	return r;
}

/* --sieve: the rules as a Sieve script on stdout; each rule it cannot say
 * with the same meaning one line on stderr. Offline there is no server's
 * SIEVE capability to check against and no \\Trash to ask for: the script
 * requires what it uses, and trash files into --trash-folder, or is refused
 * (a guessed name would file into a folder the server may not have). */
static int sieve_print(struct mt_ctx *ctx, const struct mt_ruleset *rs)
{
	struct mt_sieve_target t = {
		.trash = mt_arg(&ctx->args, "trash-folder"),
		.no_trash = "filter --sieve does not log in to ask the server for its \\Trash folder: --trash-folder "
			    "names it (sieve put asks)",
		.skip_unsupported = mt_flag(&ctx->args, "skip-unsupported"),
	};
	struct mt_sieve_out out;
	int r = mt_sieve_compile(rs, &t, &out, &ctx->err);
	for (size_t i = 0; i < out.nrefused; i++) {
		const struct mt_rule *rule = out.refused[i].rule;
		mt_warn(ctx, "%s:%d: rule '%s': %s%s", rule->file, rule->line, rule->name, out.refused[i].why,
			t.skip_unsupported ? " (left out)" : "");
	}
	if (r == MT_OK && out.script) {
		fputs(out.script, stdout);
		if (fflush(stdout) != 0)
			r = mt_fail(ctx, MT_EIO, "stdout: cannot write the script");
	} else if (r != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
	}
	mt_sieve_out_release(&out);
	return r;
}

/* --explain: offline, what is assumed is said; with a session (--connect)
 * the server's WITHIN and each rule's folders as the real run resolves
 * them, or why the run would refuse the rule (then exit 65, as it would). */
static int explain(struct mt_ctx *ctx, const struct mt_ruleset *rs)
{
	if (ctx->s == NULL) {
		printf("assumed (not logged in; --connect asks the server): the server offers WITHIN; "
		       "folder patterns as written, not looked up\n");
		mt_rules_explain(rs, 1, NULL, NULL, NULL, stdout);
		return MT_OK;
	}
	struct mt_mailboxes all = { 0 };
	if (mt_list(ctx->s, "*", &all, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	int within = mt_has_cap(ctx->s, "WITHIN"), r = MT_OK;
	size_t n = rs->n ? rs->n : 1, refused = 0, first = 0;
	char ***folders = mt_xmalloc(sizeof *folders * n);
	size_t *nfolders = mt_xmalloc(sizeof *nfolders * n);
	char **why = mt_xmalloc(sizeof *why * n);
	size_t done = 0;
	for (; done < rs->n && r == MT_OK; done++) {
		folders[done] = NULL;
		nfolders[done] = 0;
		why[done] = NULL;
		r = rule_folders(ctx, &rs->v[done], &all, &folders[done], &nfolders[done]);
		if (r == MT_EDATA) {   /* a folder the run would refuse: said, and the rest explained */
			why[done] = mt_xstrdup(ctx->err.msg);
			if (refused++ == 0)
				first = done;
			r = MT_OK;
		}
	}
	if (r == MT_OK) {
		printf("server: %s WITHIN; folders as the run resolves them\n", within ? "offers" : "lacks");
		mt_rules_explain(rs, within, folders, nfolders, (const char *const *)why, stdout);
		if (refused)
			r = mt_fail(ctx, MT_EDATA, "%s:%d: rule '%s': %s%s", rs->v[first].file, rs->v[first].line,
				    rs->v[first].name, why[first], refused > 1 ? " (and more rules: see above)" : "");
	} else {
		r = mt_fail_err(ctx, &ctx->err);
	}
	for (size_t i = 0; i < done; i++) {
		mt_free_folders(folders[i], nfolders[i]);
		free(why[i]);
	}
	free(folders);
	free(nfolders);
	free(why);
	mt_mailboxes_release(&all);
	return r;
}

/* One run over every folder of the rules: a plain run, or one pass of a
 * watch (W: no tables, its log, and the folders read left in W). */
static int filter_pass(struct mt_ctx *ctx, struct filter *F, struct watch *W)
{
	struct run R = { .ctx = ctx, .rules = &F->rules, .dry = F->dry, .incremental = F->incremental,
			 .verbose = ctx->verbose, .now = time(NULL), .watch = W };
	char **folders = NULL;       /* union over rules, in order of appearance */
	size_t nfolders = 0, **fr = NULL, *nfr = NULL;   /* rules per folder */
	struct fplan *fp = NULL;
	int r = MT_OK;
	const char *logpath = mt_arg(&ctx->args, "log");
	struct mt_mailboxes all = { 0 };
	struct mt_table res, msgs;

	mt_table_init(&res, result_cols, R_NCOLS, ctx->fmt, 0);
	mt_table_init(&msgs, msg_cols, M_NCOLS, ctx->fmt, 0);
	res.type = "rule";
	msgs.type = "message";
	R.target_wire = mt_xmalloc(sizeof *R.target_wire * R.rules->n);
	R.xtarget = mt_xmalloc(sizeof *R.xtarget * R.rules->n);
	R.plan.dest = mt_dest_session;   /* rules that move or copy to another account */
	R.plan.dest_arg = ctx;
	/* everything is checked before anything changes: folders, targets, \Trash, the log */
	if (mt_list(ctx->s, "*", &all, &ctx->err) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	if ((r = validate(&R, &all, &folders, &nfolders, &fr, &nfr)) != MT_OK)
		goto out;
	if (W)
		R.log = W->log;
	else if (logpath && !R.dry && (r = open_log(ctx, logpath, &R.log)) != MT_OK)
		goto out;
	R.want_info = R.log != NULL || (R.dry && R.verbose) || W;
	skey_init(&R.key, ctx);
	/* moves an interrupted run left half done are finished before deciding */
	if (!R.dry && (r = recover(&R, (const char *const *)folders, nfolders, 0)) != MT_OK)
		goto out;
	/* the plan: every folder decided, nothing changed yet */
	fp = mt_xmalloc(sizeof *fp * (nfolders ? nfolders : 1));
	for (size_t j = 0; j < nfolders && r == MT_OK; j++) {
		fp[j] = (struct fplan){ .folder = folders[j], .idx = fr[j], .n = nfr[j] };
		r = plan_folder(&R, &fp[j]);
		if (r > 0)
			r = mt_fail_err(ctx, &ctx->err);
	}
	if (r == MT_OK && (r = mt_plan_check(ctx->s, &R.plan, &ctx->err)) != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	/* then act, in rule order, and say what was done; a dry run reads
	 * another account's targets as the real run would (lib/plan.h) */
	R.plan.dry_run = R.dry;
	if (r == MT_OK && (r = mt_plan_run(ctx->s, &R.plan, &ctx->err)) != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	uint64_t skipped = 0;   /* to another account: messages left where they are */
	for (size_t k = 0; k < R.plan.n; k++)
		skipped += mt_report_skips(ctx, &R.plan.v[k]);
	for (size_t j = 0; fp && j < nfolders; j++) {
		int sr = conclude(&R, &fp[j], &res, &msgs);
		if (r == MT_OK && sr != MT_OK)
			r = sr;
	}
	if (r < 0)
		r = -r;
	if (r == MT_OK && skipped) {
		/* the rest was done, but not what was asked: mailtool-filter(1), EXIT STATUS */
		int sr = mt_fail(ctx, MT_EDATA, "%llu message%s %s copied or moved to another account (named above): %s %s "
				 "where %s", (unsigned long long)skipped, skipped == 1 ? "" : "s",
				 R.dry ? "would not be" : skipped == 1 ? "was not" : "were not", skipped == 1 ? "it" : "they",
				 R.dry ? "would stay" : skipped == 1 ? "stays" : "stay", skipped == 1 ? "it is" : "they are");
		if (W == NULL)
			r = sr;   /* said; a watch goes on */
	}
	if (r == MT_OK && R.undecided && W)   /* said; the watch goes on */
		mt_fail(ctx, MT_EDATA, "%llu message%s left alone: a regular expression could not be decided on %s",
			    (unsigned long long)R.undecided, R.undecided == 1 ? "" : "s", R.undecided == 1 ? "it" : "them");
	else if (r == MT_OK && R.undecided)
		r = mt_fail(ctx, MT_EDATA, "%llu message%s left alone: a regular expression could not be decided on %s",
			    (unsigned long long)R.undecided, R.undecided == 1 ? "" : "s", R.undecided == 1 ? "it" : "them");
	/* a watch says what it did action by action (log_hits), not in tables */
	if (W) {
		mt_free_folders(W->folders, W->nfolders);
		W->folders = mt_xmalloc(sizeof *W->folders * (nfolders ? nfolders : 1));
		for (size_t j = 0; j < nfolders; j++)
			W->folders[j] = mt_xstrdup(folders[j]);
		W->nfolders = nfolders;
		goto out;
	}
	/* one record type per TSV stream: -v --dry-run --tsv is the message listing alone */
	int listing = R.dry && R.verbose, tsv = ctx->fmt == MT_FMT_TSV;
	if (msgs.rows || (tsv && listing))
		mt_table_print(&msgs, stdout);
	if (!(tsv && listing) && !mt_quiet_nothing(ctx, (uint64_t)res.rows) &&
	    (res.rows || ctx->verbose || ctx->fmt != MT_FMT_HUMAN))
		mt_table_print(&res, stdout);
out:
	mt_table_release(&res);
	mt_table_release(&msgs);
	if (R.log && !W) {
		fsync(fileno(R.log));
		fclose(R.log);
	}
	for (size_t i = 0; R.target_wire && i < R.rules->n; i++) {
		free(R.target_wire[i]);
		free(R.xtarget[i]);
	}
	free(R.target_wire);
	free(R.xtarget);
	for (size_t j = 0; j < nfolders; j++) {
		for (size_t k = 0; fp && fp[j].rr && k < fp[j].n; k++)
			hits_free(&fp[j].rr[k]);
		if (fp)
			free(fp[j].rr);
		free(folders[j]);
		free(fr[j]);
	}
	free(fp);
	free(folders);
	free(fr);
	free(nfr);
	free(R.trash);
	free(R.trash_wire);
	free(R.undec);
	skey_release(&R.key);
	mt_plan_release(&R.plan);
	mt_mailboxes_release(&all);
	return r;
}

/* ---- --watch ------------------------------------------------------------- */

static volatile sig_atomic_t stop_asked, reload_asked;

static void on_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
}

static void on_reload(int sig)
{
	(void)sig;
	reload_asked = 1;
}

/* Sleep up to ms; a signal ends it early. */
static void nap(double ms)
{
	if (ms > 0)
		poll(NULL, 0, ms > 2147483647.0 ? 2147483647 : (int)ms);
}

static int watch_open(struct watch *W, struct mt_session **s)
{
	struct mt_ctx *ctx = W->ctx;
	return mt_session_open(&W->acct, mt_flag(&ctx->args, "trace") ? stderr : NULL, s, &ctx->err);
}

static void watchers_close(struct watch *W)
{
	for (size_t i = 0; i < W->nw; i++) {
		unsigned n = 0;
		struct mt_err e;
		if (mt_session_alive(W->w[i]))
			mt_idle_done(W->w[i], 1000, &n, &e);
		mt_session_close(W->w[i]);
	}
	free(W->w);
	W->w = NULL;
	W->nw = 0;
}

/* SIGHUP: the rules again, from the same place; a file that does not load
 * leaves the rules in use, said in one line. 1 when the rules changed. */
static int reload(struct watch *W)
{
	struct mt_ctx *ctx = W->ctx;
	struct mt_ruleset fresh = { 0 };
	struct mt_err e = { 0 };
	const char *v = mt_arg(&ctx->args, "body-limit");
	char *path = mt_rules_path(ctx);
	int r = path ? mt_rules_load(path, &fresh, &e) : mt_seterr(&e, ctx->err.code, "%s", ctx->err.msg);
	reload_asked = 0;
	free(path);
	if (r != MT_OK) {
		mt_warn(ctx, "SIGHUP: %s; keeping the rules in use", e.msg);
		return 0;
	}
	if (v)
		mt_parse_size(v, &fresh.body_limit, &e);   /* (checked when the run began) */
	mt_rules_release(&W->F->rules);
	W->F->rules = fresh;
	if (ctx->verbose)
		mt_warn(ctx, "SIGHUP: %zu rule%s loaded", fresh.n, fresh.n == 1 ? "" : "s");
	return 1;
}

/* The connections that wait for mail: one NOTIFY connection for every
 * folder, else one IDLE connection per folder up to the cap (the working
 * connection counts), else none (the folders are polled). */
static int watchers_open(struct watch *W)
{
	struct mt_ctx *ctx = W->ctx;
	struct filter *F = W->F;
	int cap = F->maxconn ? F->maxconn : W->acct.max_connections ? W->acct.max_connections : 4, refused = 0, r;
	unsigned ignored = 0;   /* (the pass after the watchers are up sees that mail) */
	struct mt_session *s = NULL;
	const char *via = F->via;
	W->unwatched = 1;
	W->mode = "poll";
	if ((via && strcmp(via, "poll") == 0) || W->nfolders == 0)
		return MT_OK;
	if (cap < 2) {
		if (via)
			return mt_fail(ctx, MT_EUSAGE, "--via %s needs a connection besides the working one: --max-connections 2 or more", via);
		return MT_OK;
	}
	if ((via == NULL || strcmp(via, "notify") == 0) && mt_has_cap(ctx->s, "NOTIFY")) {
		if ((r = watch_open(W, &s)) != MT_OK)
			return r;
		if ((r = mt_notify_set(s, (const char *const *)W->folders, W->nfolders, &refused, &ctx->err)) == MT_OK && !refused)
			r = mt_idle_start(s, &refused, &ignored, &ctx->err);
		if (r != MT_OK || refused) {
			mt_session_close(s);
			if (r != MT_OK)
				return r;
			if (via)
				return mt_fail(ctx, MT_EUNAVAIL, "the server refused NOTIFY or IDLE");
		} else {
			W->w = mt_xmalloc(sizeof *W->w);
			W->w[W->nw++] = s;
			W->unwatched = 0;
			W->mode = "notify";
			return MT_OK;
		}
	}
	if (via && strcmp(via, "notify") == 0)
		return mt_fail(ctx, MT_EUNAVAIL, "the server does not offer NOTIFY (RFC 5465)");
	if (!mt_has_cap(ctx->s, "IDLE")) {
		if (via)
			return mt_fail(ctx, MT_EUNAVAIL, "the server does not offer IDLE (RFC 2177)");
		return MT_OK;
	}
	size_t n = W->nfolders < (size_t)cap - 1 ? W->nfolders : (size_t)cap - 1;
	W->w = mt_xmalloc(sizeof *W->w * n);
	W->mode = "idle";
	for (size_t i = 0; i < n; i++) {
		char *wire = NULL;
		struct mt_folder_state st;
		if ((r = watch_open(W, &s)) != MT_OK)
			return r;
		/* EXAMINE: a watching connection never changes anything */
		r = mt_open_folder(s, W->folders[i], 1, &wire, &st, &ctx->err);
		free(wire);
		if (r == MT_OK)
			r = mt_idle_start(s, &refused, &ignored, &ctx->err);
		if (r == MT_OK && refused)
			r = mt_seterr(&ctx->err, MT_EUNAVAIL, "'%s': the server refused IDLE", W->folders[i]);
		if (r != MT_OK) {
			mt_session_close(s);
			return r;
		}
		W->w[W->nw++] = s;
	}
	W->unwatched = W->nfolders > n;
	return MT_OK;
}

/* One pass on the working connection, which then leaves its folder: a
 * session's STATUS of its own selected folder would not see new mail. */
static int watch_pass(struct watch *W, double notice_at)
{
	struct mt_ctx *ctx = W->ctx;
	W->notice_at = notice_at;
	int r = filter_pass(ctx, W->F, W);
	if (r == MT_OK && mt_session_deselect(ctx->s, &ctx->err) != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	return r;
}

enum { WATCH_AGAIN = -1 };   /* the rules changed: a pass and new watchers */
/* a connection that watched this long worked: a failure after it is a new one */
#define WATCH_STABLE_MS 10000.0

/* 1 when the last pass read another set of folders than the watchers were
 * set up for (a folder a rule's pattern names was created or deleted) */
static int folders_changed(const struct watch *W, char *const *watched, size_t nwatched)
{
	if (W->nfolders != nwatched)
		return 1;
	for (size_t i = 0; i < nwatched; i++) {
		size_t k = 0;
		while (k < W->nfolders && strcmp(W->folders[k], watched[i]) != 0)
			k++;
		if (k == W->nfolders)
			return 1;
	}
	return 0;
}

/* Wait for mail and act on it until stopped (MT_OK), until a connection is
 * lost or silent (an error, said), or the rules change (WATCH_AGAIN). */
static int watch_wait(struct watch *W)
{
	struct mt_ctx *ctx = W->ctx;
	struct filter *F = W->F;
	double now = mt_now_ms(), next_tick = now + F->idle_ms, next_poll = now + F->poll_ms;
	unsigned *notices = mt_xmalloc(sizeof *notices * (W->nw ? W->nw : 1));
	int r = MT_OK;
	/* the folders the watchers were set up for */
	size_t nwatched = W->nfolders;
	char **watched = mt_xmalloc(sizeof *watched * (nwatched ? nwatched : 1));
	for (size_t i = 0; i < nwatched; i++)
		watched[i] = mt_xstrdup(W->folders[i]);
	while (!stop_asked && r == MT_OK) {
		if (reload_asked && reload(W)) {
			r = WATCH_AGAIN;
			break;
		}
		now = mt_now_ms();
		double until = next_tick < next_poll || !W->unwatched ? next_tick : next_poll, at = 0;
		memset(notices, 0, sizeof *notices * (W->nw ? W->nw : 1));
		if (W->nw)
			mt_idle_wait(W->w, W->nw, until - now > 0 ? (int)(until - now) : 0, notices, &at);
		else
			nap(until - now);
		unsigned any = 0;
		for (size_t i = 0; i < W->nw; i++)
			any |= notices[i];
		if (any & MT_NOTICE_MAIL)
			r = watch_pass(W, at);
		if (r == MT_OK && (any & MT_NOTICE_LOST))
			r = mt_fail(ctx, MT_ETEMP, "a %s connection was closed or ended by the server", W->mode);
		now = mt_now_ms();
		if (r == MT_OK && !stop_asked && W->unwatched && now >= next_poll) {
			r = watch_pass(W, 0);
			next_poll = mt_now_ms() + F->poll_ms;
		}
		if (r == MT_OK && !stop_asked && now >= next_tick) {
			/* IDLE renewed well within the server's 30 minutes (and a NAT's
			 * idea of a dead flow); each answer within the timeout, or the
			 * connection is silent and replaced */
			double limit = W->acct.idle_timeout > 0 ? W->acct.idle_timeout * 1000.0 : 30000.0;
			int refused = 0;
			unsigned n = 0;
			for (size_t i = 0; i < W->nw && r == MT_OK; i++) {
				r = mt_idle_done(W->w[i], limit, &n, &ctx->err);
				if (r == MT_OK)
					r = mt_idle_start(W->w[i], &refused, &n, &ctx->err);
				if (r == MT_OK && refused)
					r = mt_seterr(&ctx->err, MT_ETEMP, "the server refused to IDLE again");
			}
			if (r == MT_OK)
				r = mt_session_probe(ctx->s, limit, &ctx->err);
			if (r != MT_OK)
				r = mt_fail(ctx, MT_ETEMP, "%s; reconnecting", ctx->err.msg);
			else   /* (also what a folder created meanwhile holds) */
				r = watch_pass(W, (n & MT_NOTICE_MAIL) ? mt_now_ms() : 0);
			next_tick = mt_now_ms() + F->idle_ms;
		}
		/* a folder a rule's pattern names came or went: watched anew */
		if (r == MT_OK && !stop_asked && folders_changed(W, watched, nwatched)) {
			if (ctx->verbose)
				mt_warn(ctx, "the folders to watch changed (%zu now); setting up the watchers again", W->nfolders);
			r = WATCH_AGAIN;
		}
	}
	mt_free_folders(watched, nwatched);
	free(notices);
	return r;
}

/* --watch: a pass on every (re)connect, then the rules applied to mail as
 * it arrives; reconnects with exponential backoff and jitter, exit 75
 * after --give-up of failing, 0 on SIGTERM (the pass in hand finished). */
static int watch_run(struct mt_ctx *ctx, struct filter *F)
{
	struct watch W = { .ctx = ctx, .F = F, .acct = ctx->acct };
	struct sigaction sa = { .sa_handler = on_stop }, hup = { .sa_handler = on_reload };
	const char *logpath = mt_arg(&ctx->args, "log");
	double fail_since = 0, backoff = 0;
	int r = MT_OK, lock = -1, busy = 0;

	W.acct.deadline = 0;   /* a watch has no end; each read keeps its timeout */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&hup.sa_mask);
	/* no SA_RESTART: a signal ends the wait it comes in */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &hup, NULL);
	if (ctx->s)
		mt_session_set_limits(ctx->s, &W.acct);
	if (logpath && (r = open_log(ctx, logpath, &W.log)) != MT_OK)
		goto out;
	while (!stop_asked) {
		if (reload_asked)
			reload(&W);
		if (ctx->s == NULL && (r = watch_open(&W, &ctx->s)) != MT_OK)
			mt_warn(ctx, "%s", ctx->err.msg);
		/* two runs on one box would both act: the lock is named after the
		 * server's address, known once connected; a watcher that finds
		 * it held waits its turn, then starts afresh */
		if (r == MT_OK && lock < 0) {
			if ((r = mt_account_lock(ctx, "filter", &lock, &busy)) != MT_OK)
				goto out;
			if (busy) {
				mt_warn(ctx, "another filter run on this box holds its lock; waiting to take over");
				mt_session_close(ctx->s);
				ctx->s = NULL;
				while (!stop_asked && flock(lock, LOCK_EX | LOCK_NB) < 0)
					nap(1000);
				if (stop_asked)
					goto out;
				if (ctx->verbose)
					mt_warn(ctx, "took over the lock");
				continue;
			}
		}
		/* every (re)connect begins with a pass: what arrived meanwhile */
		if (r == MT_OK)
			r = watch_pass(&W, 0);
		if (r == MT_OK && (r = watchers_open(&W)) != MT_OK && r != MT_EUSAGE && r != MT_EUNAVAIL)
			mt_warn(ctx, "%s", ctx->err.msg);
		/* and again once they listen: mail delivered after the first
		 * pass looked and before a watcher was told is not left waiting
		 * for the next notice (nothing new: a STATUS per folder) */
		if (r == MT_OK && W.nw)
			r = watch_pass(&W, 0);
		if (r == MT_OK) {
			if (ctx->verbose)
				mt_warn(ctx, "watching %zu folder%s (%s, %zu connection%s besides the working one)", W.nfolders,
					W.nfolders == 1 ? "" : "s", W.mode, W.nw, W.nw == 1 ? "" : "s");
			double began = mt_now_ms();
			r = watch_wait(&W);
			/* only a connection that lasted ends the failing: one the
			 * server breaks at once each time (an endless line, a
			 * refused IDLE) keeps backing off, and gives up in time */
			if (mt_now_ms() - began >= WATCH_STABLE_MS) {
				fail_since = 0;
				backoff = 0;
			}
		}
		watchers_close(&W);
		if (r == WATCH_AGAIN) {
			r = MT_OK;
			continue;
		}
		if (r == MT_OK || stop_asked)
			break;
		if (r != MT_ETEMP && r != MT_EPROTO)
			goto out;   /* a rule, a folder, the configuration: not a matter of waiting */
		/* the connection failed: afresh, after a while */
		mt_session_close(ctx->s);
		ctx->s = NULL;
		double now = mt_now_ms();
		if (fail_since == 0)
			fail_since = now;
		if (now - fail_since >= F->giveup_ms) {
			r = mt_fail(ctx, MT_ETEMP, "no working connection for %.0f s: giving up", (now - fail_since) / 1000.0);
			goto out;
		}
		backoff = backoff ? (backoff * 2 < 60000 ? backoff * 2 : 60000) : 500;
		/* jitter (half to all of it): many watchers do not come back at once */
		double wait = backoff * (0.5 + 0.5 * ((double)random() / RAND_MAX)), left = F->giveup_ms - (now - fail_since);
		nap(wait < left ? wait : left);
		r = MT_OK;
	}
	r = stop_asked ? MT_OK : r;
out:
	watchers_close(&W);
	mt_free_folders(W.folders, W.nfolders);
	if (W.log) {
		fsync(fileno(W.log));
		fclose(W.log);
	}
	if (lock >= 0)
		close(lock);
	return r;
}

static int filter_main(struct mt_ctx *ctx)
{
	struct filter *F = ctx->state;
	if (F->sieve)
		return sieve_print(ctx, &F->rules);
	if (mt_flag(&ctx->args, "explain"))
		return explain(ctx, &F->rules);
	if (F->watch)
		return watch_run(ctx, F);
	/* Two runs acting on one box at once (cron over a manual run, a
	 * watcher, a user listed twice): without MOVE both would COPY the same
	 * messages before either expunged them. The second one does not start. */
	int lock = -1, r;
	if (!F->dry && (r = mt_account_lock(ctx, "filter", &lock, NULL)) != MT_OK)
		return r;
	r = filter_pass(ctx, F, NULL);
	if (lock >= 0)
		close(lock);
	return r;
}

/* A watch started while the server is away waits for it, as after a lost
 * connection; anything else is said as usual. */
static int filter_session_failed(struct mt_ctx *ctx)
{
	struct filter *F = ctx->state;
	if (F && F->watch && ctx->acct.name && (ctx->err.code == MT_ETEMP)) {
		mt_warn(ctx, "%s", ctx->err.msg);
		return watch_run(ctx, F);
	}
	return mt_fail_err(ctx, &ctx->err);
}

static const struct mt_applet filter_applet = {
	.name = "filter",
	.summary = "server-side rules: move, copy, flag, trash or expunge mail by regex, size, age and flags",
	.usage = "[options]",
	.description = "Rules (mailtool-rules(5)) come from -f FILE or the rules list of mailtool.conf. Each\n"
		       "rule is one UID SEARCH on the server (with literal pre-filters for regexes) and a\n"
		       "batched FETCH of only the header fields it must still check; nothing sets \\Seen.\n"
		       "The first matching rule takes a message unless it says continue = true. Moves are\n"
		       "UID MOVE, or UID COPY + UID EXPUNGE of exactly the copied UIDs. From cron, use --new:\n"
		       "only mail that arrived since the last run is examined. --watch applies the rules\n"
		       "as mail arrives (NOTIFY, else IDLE, else polling) until SIGTERM; SIGHUP rereads them.",
	.opts = filter_opts,
	.flags = MT_APPLET_SESSION,
	.main = filter_main,
	.check = filter_check,
	.session_failed = filter_session_failed,
	.release = filter_release,
};
MT_APPLET(filter_applet);
