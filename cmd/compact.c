/* compact.c — the nightly cron job for oversized boxes: apply the policy's
 * steps in order (\Deleted everywhere, old \Trash, old \Junk, named folders)
 * until the box is below target. Removal is lib/select.c's exact engine. */
#include "../tool/tool.h"
#include "../filters/query.h"
#include "../lib/plan.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct mt_opt compact_opts[] = {
	{ .lng = "if-over", .kind = MT_ARG, .metavar = "PCT", .help = "act only when quota usage is at or above PCT" },
	{ .lng = "if-larger", .kind = MT_ARG, .metavar = "SIZE",
	  .help = "act only when the whole box is at least SIZE (servers without QUOTA)" },
	{ .lng = "target", .kind = MT_ARG, .metavar = "PCT", .help = "stop after the step that brings usage below PCT" },
	{ .lng = "trash-older", .kind = MT_ARG, .metavar = "DURATION", .help = "empty \\Trash of mail older than DURATION (default 30d)" },
	{ .lng = "junk-older", .kind = MT_ARG, .metavar = "DURATION", .help = "empty \\Junk of mail older than DURATION (default 30d)" },
	{ .lng = "no-deleted", .kind = MT_FLAG, .help = "skip the step that expunges \\Deleted mail everywhere" },
	{ .lng = "step", .kind = MT_MULTI, .metavar = "FOLDER:DURATION",
	  .help = "a further step: FOLDER (or pattern) older than DURATION; repeatable; replaces the config's steps" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show the plan and what each step would free" },
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	MT_OPT_END,
};

/* Flags over the configuration's policy; validated before connecting. */
static int load_policy(struct mt_ctx *ctx, struct mt_compact_policy *p)
{
	const char *v;
	uint64_t x;
	struct mt_config cfg;
	int r;

	if ((r = mt_config_load(&cfg, mt_arg(&ctx->args, "config"), &ctx->err)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	r = mt_config_compact(&cfg, p, &ctx->err);
	mt_config_release(&cfg);
	if (r != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if ((v = mt_arg(&ctx->args, "if-over")) && mt_parse_pct(v, 100, &p->if_over) < 0)
		return mt_fail(ctx, MT_EUSAGE, "bad --if-over '%s': expected a percentage 0-100", v);
	if ((v = mt_arg(&ctx->args, "target")) && mt_parse_pct(v, 100, &p->target) < 0)
		return mt_fail(ctx, MT_EUSAGE, "bad --target '%s': expected a percentage 0-100", v);
	if ((v = mt_arg(&ctx->args, "if-larger")) && mt_parse_size(v, &p->if_larger, &ctx->err) != MT_OK)
		return mt_fail(ctx, MT_EUSAGE, "--if-larger: %s", ctx->err.msg);
	if ((v = mt_arg(&ctx->args, "trash-older"))) {
		if (mt_parse_duration(v, &x, &ctx->err) != MT_OK)
			return mt_fail(ctx, MT_EUSAGE, "--trash-older: %s", ctx->err.msg);
		p->trash_older = (int64_t)x;
	}
	if ((v = mt_arg(&ctx->args, "junk-older"))) {
		if (mt_parse_duration(v, &x, &ctx->err) != MT_OK)
			return mt_fail(ctx, MT_EUSAGE, "--junk-older: %s", ctx->err.msg);
		p->junk_older = (int64_t)x;
	}
	if (mt_flag(&ctx->args, "no-deleted"))
		p->deleted = 0;
	const char *const *steps = mt_args_multi(&ctx->args, "step");
	if (steps) {
		mt_compact_policy_release(p);
		for (; *steps; steps++) {
			const char *colon = strrchr(*steps, ':');
			if (colon == NULL || colon == *steps)
				return mt_fail(ctx, MT_EUSAGE, "bad --step '%s': expected FOLDER:DURATION", *steps);
			if (mt_parse_duration(colon + 1, &x, &ctx->err) != MT_OK)
				return mt_fail(ctx, MT_EUSAGE, "--step '%s': %s", *steps, ctx->err.msg);
			p->steps = mt_xrealloc(p->steps, sizeof *p->steps * (p->nsteps + 1));
			p->steps[p->nsteps].folder = mt_xasprintf("%.*s", (int)(colon - *steps), *steps);
			p->steps[p->nsteps].older = (int64_t)x;
			p->steps[p->nsteps].larger = 0;
			p->nsteps++;
		}
	}
	return MT_OK;
}

struct compact {
	struct mt_compact_policy p;
	int dry, human;
};

static void compact_release(void *state)
{
	struct compact *x = state;
	mt_compact_policy_release(&x->p);
	free(x);
}

static int compact_check(struct mt_ctx *ctx)
{
	struct compact *x = mt_xmalloc(sizeof *x);
	ctx->state = x;
	x->dry = mt_flag(&ctx->args, "dry-run");
	x->human = mt_flag(&ctx->args, "human");
	int r = load_policy(ctx, &x->p);
	if (r == MT_OK && ctx->args.argc > 0)
		return mt_fail(ctx, MT_EUSAGE, "compact takes no folder arguments; name folders with --step");
	return r;
}

struct usage {
	int known;            /* quota known */
	double pct;           /* highest STORAGE percentage over the quota roots */
	uint64_t used, limit; /* bytes, of that root */
};

static int measure(struct mt_ctx *ctx, struct usage *u)
{
	struct mt_quotas q;
	memset(u, 0, sizeof *u);
	if (!mt_has_cap(ctx->s, "QUOTA"))
		return MT_OK;
	if (mt_getquotaroot(ctx->s, "INBOX", &q, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	for (size_t i = 0; i < q.n; i++)
		if (strcmp(q.v[i].resource, "STORAGE") == 0 && q.v[i].limit) {
			double pct = 100.0 * (double)q.v[i].usage / (double)q.v[i].limit;
			if (!u->known || pct > u->pct) {
				u->known = 1;
				u->pct = pct;
				u->used = q.v[i].usage;
				u->limit = q.v[i].limit;
			}
		}
	mt_quotas_release(&q);
	return MT_OK;
}

static int box_size(struct mt_ctx *ctx, uint64_t *bytes)
{
	struct mt_mailboxes m;
	*bytes = 0;
	if (mt_list(ctx->s, "*", &m, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	struct mt_status *st = mt_xmalloc(sizeof *st * (m.n ? m.n : 1));
	int r = mt_status_many(ctx->s, m.v, m.n, MT_ST_SIZE, st, &ctx->err);
	for (size_t i = 0; r == MT_OK && i < m.n; i++)
		*bytes += st[i].size;
	mt_status_release(st, m.n);
	free(st);
	mt_mailboxes_release(&m);
	return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
}

enum { C_STEP, C_FOLDER, C_ACTION, C_MESSAGES, C_SIZE, C_NCOLS };
static const struct mt_col compact_cols[C_NCOLS] = {
	[C_STEP] = { "step", MT_COL_STR },
	[C_FOLDER] = { "folder", MT_COL_STR },
	[C_ACTION] = { "action", MT_COL_STR },
	[C_MESSAGES] = { "messages", MT_COL_NUM },
	[C_SIZE] = { "size", MT_COL_SIZE },
};

/* The run's total: JSON's last record (TSV holds the step rows only). */
enum { T_DRY, T_MESSAGES, T_FREED, T_BEFORE, T_AFTER, T_LIMIT, T_REACHED, T_NCOLS };
static const struct mt_col total_cols[T_NCOLS] = {
	[T_DRY] = { "dry_run", MT_COL_BOOL },
	[T_MESSAGES] = { "messages", MT_COL_NUM },
	[T_FREED] = { "freed", MT_COL_SIZE },
	[T_BEFORE] = { "usage_before_pct", MT_COL_PCT },
	[T_AFTER] = { "usage_after_pct", MT_COL_PCT },
	[T_LIMIT] = { "limit", MT_COL_SIZE },
	[T_REACHED] = { "target_reached", MT_COL_BOOL },
};

/* The plan takes each message once, in the first step that would: per
 * folder, the UIDs planned so far are left out of later steps. */
struct planned {
	char *folder;
	uint32_t *uids;         /* sorted */
	size_t n;
};

struct planning {
	struct mt_ctx *ctx;
	struct mt_plan plan;
	struct planned *f;      /* per folder */
	size_t nf;
	/* one row per step and folder looked at (zero rows only with -v) */
	struct row { char *step, *folder; size_t op; int has_op; } *rows;
	size_t nrows;
	uint64_t freed, removed, undecided;
};

static struct planned *planned_of(struct planning *pl, const char *folder)
{
	for (size_t i = 0; i < pl->nf; i++)
		if (strcmp(pl->f[i].folder, folder) == 0)
			return &pl->f[i];
	pl->f = mt_xrealloc(pl->f, sizeof *pl->f * (pl->nf + 1));
	pl->f[pl->nf] = (struct planned){ .folder = mt_xstrdup(folder) };
	return &pl->f[pl->nf++];
}

static int not_planned(uint32_t uid, void *arg)
{
	const struct planned *f = arg;
	return mt_bsearch(&uid, f->uids, f->n, sizeof *f->uids, mt_cmp_u32) == NULL;
}

/* Plan one step over its folders: choose, leave out what an earlier step
 * took, add an exact removal per folder. */
static int plan_step(struct planning *pl, const char *name, const char *const *folders, size_t nf,
		     const struct mt_cond *cond)
{
	struct mt_ctx *ctx = pl->ctx;
	for (size_t i = 0; i < nf; i++) {
		struct mt_selection sel;
		struct planned *pf = planned_of(pl, folders[i]);
		struct mt_choice ch = { .cond = cond, .readonly = 1, .size = 1, .keep = pf->n ? not_planned : NULL, .arg = pf };
		int r = mt_choose(ctx, ctx->s, folders[i], &ch, &sel, &ctx->err);
		pl->undecided += ch.undecided;
		if (r != MT_OK) {
			mt_selection_release(&sel);
			return mt_fail_err(ctx, &ctx->err);
		}
		struct row rw = { .step = mt_xstrdup(name), .folder = mt_xstrdup(folders[i]) };
		if (sel.n) {
			uint32_t *uids = mt_xmalloc(sizeof *uids * sel.n), *sizes = mt_xmalloc(sizeof *sizes * sel.n);
			for (size_t k = 0; k < sel.n; k++) {
				uids[k] = sel.msgs[k].uid;
				sizes[k] = sel.msgs[k].size;
			}
			struct mt_op *op = mt_plan_add_uids(&pl->plan, MT_OP_EXPUNGE, sel.folder, sel.wire, sel.uidvalidity, uids,
							    sizes, sel.n);
			op->label = mt_xstrdup(name);
			rw.op = pl->plan.n - 1;
			rw.has_op = 1;
			pl->freed += op->bytes;
			pl->removed += op->n;
			pf->uids = mt_xrealloc(pf->uids, sizeof *pf->uids * (pf->n + sel.n));
			memcpy(pf->uids + pf->n, uids, sizeof *uids * sel.n);
			pf->n += sel.n;
			mt_sort(pf->uids, pf->n, sizeof *pf->uids, mt_cmp_u32);
			free(uids);
			free(sizes);
		}
		pl->rows = mt_xrealloc(pl->rows, sizeof *pl->rows * (pl->nrows + 1));
		pl->rows[pl->nrows++] = rw;
		mt_selection_release(&sel);
	}
	return MT_OK;
}

static void planning_release(struct planning *pl)
{
	for (size_t i = 0; i < pl->nf; i++) {
		free(pl->f[i].folder);
		free(pl->f[i].uids);
	}
	for (size_t i = 0; i < pl->nrows; i++) {
		free(pl->rows[i].step);
		free(pl->rows[i].folder);
	}
	free(pl->f);
	free(pl->rows);
	mt_plan_release(&pl->plan);
}

/* Usage the plan so far leaves: the quota's usage less what it removes
 * (the server's own figure is measured again after a real run). */
static double usage_after(const struct usage *before, uint64_t freed)
{
	uint64_t used = before->used > freed ? before->used - freed : 0;
	return before->limit ? 100.0 * (double)used / (double)before->limit : 0;
}

static void json_total(struct mt_ctx *ctx, int dry, uint64_t removed, uint64_t freed, const struct usage *before,
		       double after_pct, double target, int reached)
{
	struct mt_table t;
	mt_table_init(&t, total_cols, T_NCOLS, ctx->fmt, 0);
	t.type = "total";
	int row = mt_table_row(&t);
	mt_table_bool(&t, row, T_DRY, dry);
	mt_table_num(&t, row, T_MESSAGES, (long long)removed);
	mt_table_num(&t, row, T_FREED, (long long)freed);
	if (before->known) {
		mt_table_num(&t, row, T_BEFORE, (long long)(before->pct * 10 + 0.5));
		mt_table_num(&t, row, T_AFTER, (long long)(after_pct * 10 + 0.5));
		mt_table_num(&t, row, T_LIMIT, (long long)before->limit);
	}
	if (target >= 0)
		mt_table_bool(&t, row, T_REACHED, reached);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
}

static int compact_main(struct mt_ctx *ctx)
{
	struct compact *x = ctx->state;
	const struct mt_compact_policy *p = &x->p;
	struct usage before, now;
	uint64_t size_before = 0;
	int dry = x->dry, lock = -1, r;
	struct planning pl = { .ctx = ctx };

	if ((r = mt_account_lock(ctx, "compact", &lock, NULL)) != MT_OK)
		return r;
	if ((r = measure(ctx, &before)) != MT_OK)
		goto out;
	if ((p->if_over >= 0 || p->target >= 0) && !before.known) {
		r = mt_fail(ctx, MT_EUNAVAIL, "--if-over/--target need a STORAGE quota, which the server does not report "
			    "(use --if-larger SIZE)");
		goto out;
	}
	if (p->if_larger && (r = box_size(ctx, &size_before)) != MT_OK)
		goto out;
	/* cron manners: nothing to do is silent */
	if ((p->if_over >= 0 && before.pct < p->if_over) || (p->if_larger && size_before < p->if_larger)) {
		if (ctx->verbose)
			mt_warn(ctx, "nothing to do (%s)", p->if_larger ? "box below --if-larger" : "quota usage below --if-over");
		if (ctx->fmt == MT_FMT_TSV) {
			struct mt_table e;   /* no rows: the header alone */
			mt_table_init(&e, compact_cols, C_NCOLS, ctx->fmt, 0);
			e.type = "folder";
			mt_table_print(&e, stdout);
			mt_table_release(&e);
		} else if (ctx->fmt == MT_FMT_JSON)
			json_total(ctx, dry, 0, 0, &before, before.pct, p->target, p->target >= 0 && before.pct < p->target);
		goto out;
	}

	/* the plan: step by step until the usage it leaves is below the target */
#define BELOW_TARGET() (p->target >= 0 && before.known && usage_after(&before, pl.freed) < p->target)
	/* step 1: mail already flagged \Deleted, in every folder (flagged or not: the user deleted it) */
	if (p->deleted && !BELOW_TARGET()) {
		struct mt_cond *c = mt_cond_flag(MT_F_DELETED, NULL, 1);
		char **f = NULL;
		size_t nf = 0;
		const char *all = "*";
		if (mt_expand_folders(ctx->s, &all, 1, 0, &f, &nf, &ctx->err) != MT_OK)
			r = mt_fail_err(ctx, &ctx->err);
		else
			r = plan_step(&pl, "deleted", (const char *const *)f, nf, c);
		mt_free_folders(f, nf);
		mt_cond_free(c);
		if (r != MT_OK)
			goto out;
	}
	/* steps 2 and 3: old mail in \Trash and \Junk (what step 1 takes is left to it) */
	static const char *const uses[2] = { "\\Trash", "\\Junk" };
	for (int k = 0; k < 2 && r == MT_OK; k++) {
		int64_t older = k == 0 ? p->trash_older : p->junk_older;
		char *folder = NULL, *wire = NULL;
		if (older < 0 || BELOW_TARGET())
			continue;
		if (mt_special_folder(ctx->s, uses[k], &folder, &wire, &ctx->err) != MT_OK)
			r = mt_fail_err(ctx, &ctx->err);
		else if (folder) {
			struct mt_cond *c = mt_cond_age(MT_C_OLDER, older, 0);
			if (p->deleted)
				c = mt_cond_and(c, mt_cond_flag(MT_F_DELETED, NULL, 0));
			r = plan_step(&pl, k == 0 ? "trash" : "junk", (const char *const *)&folder, 1, c);
			mt_cond_free(c);
		}
		free(folder);
		free(wire);
	}
	/* step 4: the admin's own steps, in order; \Flagged mail stays */
	for (size_t k = 0; k < p->nsteps && r == MT_OK; k++) {
		if (BELOW_TARGET())
			break;
		struct mt_cond *c = mt_cond_flag(MT_F_FLAGGED, NULL, 0);
		if (p->steps[k].older >= 0)
			c = mt_cond_and(c, mt_cond_age(MT_C_OLDER, p->steps[k].older, 0));
		if (p->steps[k].larger)
			c = mt_cond_and(c, mt_cond_size(MT_C_LARGER, p->steps[k].larger));
		if (p->deleted)
			c = mt_cond_and(c, mt_cond_flag(MT_F_DELETED, NULL, 0));
		char **f = NULL;
		size_t nf = 0;
		const char *arg = p->steps[k].folder;
		if (mt_expand_folders(ctx->s, &arg, 1, 0, &f, &nf, &ctx->err) != MT_OK) {
			r = mt_fail_err(ctx, &ctx->err);
		} else {
			char *name = mt_xasprintf("step %zu", k + 1);
			r = plan_step(&pl, name, (const char *const *)f, nf, c);
			free(name);
		}
		mt_free_folders(f, nf);
		mt_cond_free(c);
	}
	if (r != MT_OK)
		goto out;
	int reached = BELOW_TARGET();
#undef BELOW_TARGET
	if ((r = mt_plan_check(ctx->s, &pl.plan, &ctx->err)) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}

	/* act: exactly the plan */
	uint64_t freed = pl.freed, removed = pl.removed;
	now = before;
	if (!dry) {
		r = mt_plan_run(ctx->s, &pl.plan, &ctx->err);
		freed = removed = 0;
		for (size_t i = 0; i < pl.plan.n; i++) {
			freed += pl.plan.v[i].done_bytes;
			removed += pl.plan.v[i].done;
		}
		int mr = measure(ctx, &now);
		if (r == MT_OK)
			r = mr == MT_OK ? MT_OK : mr;
		else
			r = mt_fail_err(ctx, &ctx->err);
		if (before.known && p->target >= 0)
			reached = now.known && now.pct < p->target;
	} else {
		now.pct = usage_after(&before, freed);
	}
	if (mt_quiet_nothing(ctx, removed))
		goto out;   /* nothing needed removing: silent for cron */

	struct mt_table t;
	mt_table_init(&t, compact_cols, C_NCOLS, ctx->fmt, x->human);
	t.type = "folder";
	for (size_t i = 0; i < pl.nrows; i++) {
		const struct row *rw = &pl.rows[i];
		const struct mt_op *op = rw->has_op ? &pl.plan.v[rw->op] : NULL;
		uint64_t n = op ? (dry ? op->n : op->done) : 0, b = op ? (dry ? op->bytes : op->done_bytes) : 0;
		if (n == 0 && !ctx->verbose)
			continue;
		if (!dry && op && !op->ran && op->done == 0 && r != MT_OK)
			continue;   /* never reached: the run stopped before */
		int row = mt_table_row(&t);
		mt_table_str(&t, row, C_STEP, rw->step);
		mt_table_str(&t, row, C_FOLDER, rw->folder);
		mt_table_str(&t, row, C_ACTION, dry ? "would remove" : "removed");
		mt_table_num(&t, row, C_MESSAGES, (long long)n);
		mt_table_num(&t, row, C_SIZE, (long long)b);
	}
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	if (ctx->fmt == MT_FMT_JSON) {
		json_total(ctx, dry, removed, freed, &before, now.pct, p->target, reached);
	} else if (ctx->fmt == MT_FMT_HUMAN) {
		char b1[32];
		printf("%s %llu messages, %s", dry ? "would free" : "freed", (unsigned long long)removed,
		       mt_human_size(b1, sizeof b1, freed));
		if (before.known)
			printf("; quota usage %.1f%% -> %.1f%%%s", before.pct, now.pct, dry ? " (estimated)" : "");
		if (p->target >= 0)
			printf("; target %g%% %s", p->target, reached ? "reached" : "not reached");
		putchar('\n');
	}
	if (r == MT_OK && pl.undecided)
		r = mt_fail(ctx, MT_EDATA, "%llu message%s left alone: a regular expression could not be decided",
			    (unsigned long long)pl.undecided, pl.undecided == 1 ? "" : "s");
out:
	planning_release(&pl);
	if (lock >= 0)
		close(lock);
	return r;
}

static const struct mt_applet compact_applet = {
	.name = "compact",
	.summary = "shrink an oversized box by policy: \\Deleted mail, old Trash and Junk, named folders",
	.usage = "[options]",
	.description = "Steps, in order, until usage is below --target: (1) expunge mail already flagged\n"
		       "\\Deleted in every folder; (2) mail in \\Trash older than --trash-older; (3) the same\n"
		       "for \\Junk; (4) the configuration's steps (or --step FOLDER:DURATION). No other\n"
		       "folder is touched. Silent when nothing needed doing; one run per account at a\n"
		       "time (a second exits 75). Removal is the exact UID EXPUNGE of expunge(1).",
	.opts = compact_opts,
	.flags = MT_APPLET_SESSION,
	.main = compact_main,
	.check = compact_check,
	.release = compact_release,
};
MT_APPLET(compact_applet);
