/* quota.c — usage and limits per quota root, SETQUOTA for admins, and a
 * Nagios/Icinga plugin mode (--warn/--crit) with perfdata. */
#include "../tool/tool.h"
#include "../lib/plan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct mt_opt quota_opts[] = {
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	{ .lng = "set", .kind = MT_ARG, .metavar = "ROOT",
	  .help = "set limits of quota ROOT from RESOURCE=VALUE arguments (STORAGE=SIZE, MESSAGE=N)" },
	{ .lng = "warn", .kind = MT_ARG, .metavar = "PCT", .help = "monitoring: warning at PCT percent used (default 80)" },
	{ .lng = "crit", .kind = MT_ARG, .metavar = "PCT", .help = "monitoring: critical at PCT percent used (default 90)" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "with --set: change nothing; show the limits that would be set" },
	MT_OPT_END,
};

enum { Q_ROOT, Q_SUSED, Q_SLIMIT, Q_SPCT, Q_MUSED, Q_MLIMIT, Q_MPCT, Q_NCOLS };

static const struct mt_col quota_cols[Q_NCOLS] = {
	[Q_ROOT] = { "root", MT_COL_STR },
	[Q_SUSED] = { "storage_used", MT_COL_SIZE },
	[Q_SLIMIT] = { "storage_limit", MT_COL_SIZE },
	[Q_SPCT] = { "storage_pct", MT_COL_PCT },
	[Q_MUSED] = { "messages_used", MT_COL_NUM },
	[Q_MLIMIT] = { "messages_limit", MT_COL_NUM },
	[Q_MPCT] = { "messages_pct", MT_COL_PCT },
};

/* per mille, rounded */
static long long permille(uint64_t used, uint64_t limit)
{
	return limit ? (long long)((used * 1000 + limit / 2) / limit) : 0;
}

/* RESOURCE=VALUE arguments of --set; names are owned by the caller. */
static int parse_set(struct mt_ctx *ctx, char **names, uint64_t *vals, size_t *n)
{
	*n = 0;
	if (ctx->args.argc == 0)
		return mt_fail(ctx, MT_EUSAGE, "--set ROOT needs RESOURCE=VALUE arguments, e.g. STORAGE=2G MESSAGE=100000");
	for (int i = 0; i < ctx->args.argc; i++) {
		const char *a = ctx->args.argv[i], *eq = strchr(a, '=');
		if (eq == NULL || eq == a || *n >= 8)
			return mt_fail(ctx, MT_EUSAGE, "bad quota setting '%s': expected RESOURCE=VALUE", a);
		char *name = mt_xasprintf("%.*s", (int)(eq - a), a);
		for (char *c = name; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		names[(*n)++] = name;
		if (strcmp(name, "STORAGE") == 0) {
			uint64_t bytes;
			if (mt_parse_size(eq + 1, &bytes, &ctx->err) != MT_OK)
				return mt_fail(ctx, MT_EUSAGE, "quota setting '%s': %s", a, ctx->err.msg);
			vals[*n - 1] = (bytes + 1023) / 1024;  /* the protocol counts KiB */
		} else {
			char *end;
			unsigned long long v = strtoull(eq + 1, &end, 10);
			if (eq[1] == '\0' || *end != '\0' || eq[1] == '-')
				return mt_fail(ctx, MT_EUSAGE, "quota setting '%s': expected a whole number", a);
			vals[*n - 1] = v;
		}
	}
	return MT_OK;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

enum { S_ROOT, S_RESOURCE, S_ACTION, S_LIMIT, S_NCOLS };
static const struct mt_col set_cols[S_NCOLS] = {
	[S_ROOT] = { "root", MT_COL_STR },
	[S_RESOURCE] = { "resource", MT_COL_STR },
	[S_ACTION] = { "action", MT_COL_STR },
	[S_LIMIT] = { "limit", MT_COL_NUM },
};

/* --set: a plan of one SETQUOTA, printed by a dry run, carried out by the
 * executor; a row per resource either way (STORAGE in bytes, as shown). */
static int do_set(struct mt_ctx *ctx, const char *root)
{
	char *names[8] = { 0 };
	uint64_t vals[8] = { 0 };
	size_t n;
	int dry = mt_flag(&ctx->args, "dry-run");
	struct mt_plan plan = { 0 };
	int r = parse_set(ctx, names, vals, &n);
	if (r != MT_OK) {
		free_names(names, n);
		return r;
	}
	struct mt_op *op = mt_plan_add(&plan, MT_OP_SETQUOTA);
	op->folder = mt_xstrdup(root);
	op->flags = mt_xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *f = mt_xasprintf("%s%s%s %llu", op->flags, i ? " " : "", names[i], (unsigned long long)vals[i]);
		free(op->flags);
		op->flags = f;
	}
	if (!mt_has_cap(ctx->s, "QUOTA"))
		r = mt_seterr(&ctx->err, MT_EUNAVAIL, "the server does not support QUOTA");
	else
		r = mt_plan_check(ctx->s, &plan, &ctx->err);
	if (r == MT_OK && !dry)
		r = mt_plan_run(ctx->s, &plan, &ctx->err);
	if (r == MT_OK) {
		struct mt_table t;
		mt_table_init(&t, set_cols, S_NCOLS, ctx->fmt, 0);
		t.type = "limit";
		for (size_t i = 0; i < n; i++) {
			int row = mt_table_row(&t);
			int storage = strcmp(names[i], "STORAGE") == 0;
			mt_table_str(&t, row, S_ROOT, root);
			mt_table_str(&t, row, S_RESOURCE, names[i]);
			mt_table_str(&t, row, S_ACTION, dry ? "would set" : "set");
			mt_table_num(&t, row, S_LIMIT, (long long)(storage ? vals[i] * 1024 : vals[i]));
		}
		mt_table_print(&t, stdout);
		mt_table_release(&t);
	} else {
		r = mt_fail_err(ctx, &ctx->err);
	}
	mt_plan_release(&plan);
	free_names(names, n);
	return r;
}

/* Arguments are checked before connecting. */
static int quota_check(struct mt_ctx *ctx)
{
	char *names[8] = { 0 };
	uint64_t vals[8] = { 0 };
	size_t n;
	if (mt_arg(&ctx->args, "set")) {
		if (mt_arg(&ctx->args, "warn") || mt_arg(&ctx->args, "crit"))
			return mt_fail(ctx, MT_EUSAGE, "--set does not combine with --warn/--crit");
		int r = parse_set(ctx, names, vals, &n);
		free_names(names, n);
		return r;
	}
	return MT_OK;
}

/* A quota root as a monitoring label: controls escaped, and the plugin
 * syntax's own characters kept out ("'" doubled, '=' and '|' replaced), so
 * a server's root name can neither end the text nor forge perfdata. */
static char *plugin_safe(const char *s, int label)
{
	char *t = mt_term_safe(s), *out = mt_xmalloc(2 * strlen(t) + 1), *o = out;
	for (const char *p = t; *p; p++) {
		if (label && *p == '\'')
			*o++ = '\'';
		*o++ = *p == '|' ? '/' : label && *p == '=' ? '_' : *p;
	}
	*o = '\0';
	free(t);
	return out;
}
#define label_safe(s) plugin_safe(s, 1)
#define text_safe(s) plugin_safe(s, 0)

/* monitoring plugin line: "QUOTA OK - ... | perfdata"; exit 0/1/2/3 */
static int monitor(struct mt_ctx *ctx, struct mt_quotas *q, double warn, double crit)
{
	double worst = -1;
	const char *worst_what = NULL, *worst_root = "";
	char perf[1024] = "", text[512] = "", hb[2][32];
	size_t po = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct mt_quota *x = &q->v[i];
		int storage = strcmp(x->resource, "STORAGE") == 0;
		double pct = x->limit ? 100.0 * (double)x->usage / (double)x->limit : -1;
		if (pct > worst) {
			worst = pct;
			worst_what = x->resource;
			worst_root = x->root;
		}
		char *res = label_safe(x->resource), *root = label_safe(x->root);
		const char *label = storage ? "storage" : strcmp(x->resource, "MESSAGE") == 0 ? "messages" : res;
		if (x->limit)
			po += (size_t)snprintf(perf + po, po < sizeof perf ? sizeof perf - po : 0,
					       "%s'%s %s'=%llu%s;%llu;%llu;0;%llu", po ? " " : "", root, label,
					       (unsigned long long)x->usage, storage ? "B" : "",
					       (unsigned long long)((double)x->limit * warn / 100.0),
					       (unsigned long long)((double)x->limit * crit / 100.0),
					       (unsigned long long)x->limit);
		else
			po += (size_t)snprintf(perf + po, po < sizeof perf ? sizeof perf - po : 0, "%s'%s %s'=%llu%s",
					       po ? " " : "", root, label, (unsigned long long)x->usage, storage ? "B" : "");
		if (po >= sizeof perf)
			po = sizeof perf - 1;
		free(res);
		free(root);
	}
	if (worst < 0 || worst_what == NULL || worst_root == NULL) {
		printf("QUOTA UNKNOWN - no quota limits set for %s | %s\n", ctx->acct.as_user ? ctx->acct.as_user : ctx->acct.user ? ctx->acct.user : "user", perf);
		return 3;
	}
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->v[i].resource, worst_what) == 0 && strcmp(q->v[i].root, worst_root) == 0) {
			int storage = strcmp(worst_what, "STORAGE") == 0;
			if (storage)
				snprintf(text, sizeof text, "%.1f%% of storage used (%s of %s) in '%s'", worst,
					 mt_human_size(hb[0], sizeof hb[0], q->v[i].usage),
					 mt_human_size(hb[1], sizeof hb[1], q->v[i].limit), worst_root);
			else
				snprintf(text, sizeof text, "%.1f%% of %s used (%llu of %llu) in '%s'", worst, worst_what,
					 (unsigned long long)q->v[i].usage, (unsigned long long)q->v[i].limit, worst_root);
		}
	int code = worst >= crit ? 2 : worst >= warn ? 1 : 0;
	static const char *const names[] = { "OK", "WARNING", "CRITICAL" };
	char *safe = text_safe(text);
	printf("QUOTA %s - %s | %s\n", names[code], safe, perf);
	free(safe);
	return code;
}

static int quota_session_failed(struct mt_ctx *ctx)
{
	if (mt_arg(&ctx->args, "warn") || mt_arg(&ctx->args, "crit")) {
		char *safe = text_safe(ctx->err.msg);
		printf("QUOTA UNKNOWN - %s\n", safe);
		free(safe);
		return 3;
	}
	return mt_fail_err(ctx, &ctx->err);
}

static int quota_main(struct mt_ctx *ctx)
{
	struct mt_quotas q;
	const char *set = mt_arg(&ctx->args, "set");
	const char *ws = mt_arg(&ctx->args, "warn"), *cs = mt_arg(&ctx->args, "crit");
	int monitoring = ws || cs;
	double warn = 80, crit = 90;

	if (set)
		return do_set(ctx, set);
	if (ctx->args.argc > 1) {
		if (monitoring) {
			printf("QUOTA UNKNOWN - usage: mailtool quota [options] [FOLDER]\n");
			return 3;
		}
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool quota %s", ctx->ap->usage);
	}
	if ((ws && mt_parse_pct(ws, 1000, &warn) < 0) || (cs && mt_parse_pct(cs, 1000, &crit) < 0)) {
		if (monitoring) {
			printf("QUOTA UNKNOWN - bad --warn/--crit value: expected a percentage\n");
			return 3;
		}
	}
	if (monitoring && warn > crit) {
		printf("QUOTA UNKNOWN - --warn %g is above --crit %g\n", warn, crit);
		return 3;
	}
	if (mt_getquotaroot(ctx->s, ctx->args.argc ? ctx->args.argv[0] : "INBOX", &q, &ctx->err) != MT_OK) {
		if (monitoring) {
			char *safe = text_safe(ctx->err.msg);
			printf("QUOTA UNKNOWN - %s\n", safe);
			free(safe);
			return 3;
		}
		return mt_fail_err(ctx, &ctx->err);
	}
	if (monitoring) {
		int code = monitor(ctx, &q, warn, crit);
		mt_quotas_release(&q);
		return code;
	}

	struct mt_table t;
	mt_table_init(&t, quota_cols, Q_NCOLS, ctx->fmt, mt_flag(&ctx->args, "human"));
	t.type = "quota";
	for (size_t r = 0; r < q.nroots; r++) {
		int row = mt_table_row(&t);
		mt_table_str(&t, row, Q_ROOT, q.roots[r]);
		for (size_t i = 0; i < q.n; i++) {
			struct mt_quota *x = &q.v[i];
			if (strcmp(x->root, q.roots[r]) != 0)
				continue;
			if (strcmp(x->resource, "STORAGE") == 0) {
				mt_table_num(&t, row, Q_SUSED, (long long)x->usage);
				mt_table_num(&t, row, Q_SLIMIT, (long long)x->limit);
				if (x->limit)
					mt_table_num(&t, row, Q_SPCT, permille(x->usage, x->limit));
			} else if (strcmp(x->resource, "MESSAGE") == 0) {
				mt_table_num(&t, row, Q_MUSED, (long long)x->usage);
				mt_table_num(&t, row, Q_MLIMIT, (long long)x->limit);
				if (x->limit)
					mt_table_num(&t, row, Q_MPCT, permille(x->usage, x->limit));
			}
		}
	}
	if (q.nroots == 0 && ctx->fmt == MT_FMT_HUMAN)
		printf("no quota root for '%s'\n", ctx->args.argc ? ctx->args.argv[0] : "INBOX");
	else
		mt_table_print(&t, stdout);
	mt_table_release(&t);
	mt_quotas_release(&q);
	return MT_OK;
}

static const struct mt_applet quota_applet = {
	.name = "quota",
	.summary = "show quota usage and limits, set limits, or check thresholds for monitoring",
	.usage = "[options] [FOLDER] | --set ROOT RESOURCE=VALUE...",
	.description = "Shows each quota root of FOLDER (default INBOX): STORAGE in bytes (the protocol's KiB\n"
		       "x 1024) and MESSAGE counts, with limits and percentages. With --warn/--crit it prints\n"
		       "one Nagios/Icinga status line with perfdata and exits 0 (OK), 1 (WARNING),\n"
		       "2 (CRITICAL) or 3 (UNKNOWN).",
	.opts = quota_opts,
	.complete_first = "folder",
	.flags = MT_APPLET_SESSION,
	.main = quota_main,
	.check = quota_check,
	.session_failed = quota_session_failed,
};
MT_APPLET(quota_applet);
