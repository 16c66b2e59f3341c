/* expunge.c — remove exactly the messages that match: one condition tree
 * (the removal options, --from and --subject regexes) chosen through
 * tool/choose.c, one plan of exact removals (or moves to \Trash) checked
 * whole, printed by a dry run, carried out by the library's executor. */
#include "../tool/tool.h"
#include "../filters/query.h"
#include "../lib/plan.h"

#include <stdlib.h>
#include <string.h>

static const struct mt_opt expunge_opts[] = {
	{ .lng = "deleted", .kind = MT_FLAG, .help = "only messages already flagged \\Deleted" },
	{ .lng = "older", .kind = MT_ARG, .metavar = "DURATION", .help = "older than DURATION (90m, 36h, 30d, 6w, 1y)" },
	{ .lng = "newer", .kind = MT_ARG, .metavar = "DURATION", .help = "newer than DURATION" },
	{ .lng = "before", .kind = MT_ARG, .metavar = "DATE", .help = "dated before DATE (YYYY-MM-DD)" },
	{ .lng = "by-date-header", .kind = MT_FLAG, .help = "ages and dates from the Date header, not INTERNALDATE" },
	{ .lng = "larger", .kind = MT_ARG, .metavar = "SIZE", .help = "larger than SIZE (500k, 10M, 1.5G; binary units)" },
	{ .lng = "smaller", .kind = MT_ARG, .metavar = "SIZE", .help = "smaller than SIZE" },
	{ .lng = "seen", .kind = MT_FLAG, .help = "only messages marked \\Seen" },
	{ .lng = "unseen", .kind = MT_FLAG, .help = "only messages not marked \\Seen" },
	{ .lng = "from", .kind = MT_ARG, .metavar = "REGEX", .help = "From header (decoded) matches REGEX (PCRE2)" },
	{ .lng = "subject", .kind = MT_ARG, .metavar = "REGEX", .help = "Subject header (decoded) matches REGEX (PCRE2)" },
	{ .lng = "include-flagged", .kind = MT_FLAG, .help = "also remove \\Flagged (starred) messages" },
	{ .lng = "recursive", .shrt = 'r', .kind = MT_FLAG, .help = "also every subfolder of each FOLDER" },
	{ .lng = "trash", .kind = MT_FLAG, .help = "move to the \\Trash folder instead of destroying" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show what would go" },
	{ .lng = "max", .kind = MT_ARG, .metavar = "N", .help = "refuse to act if more than N messages would go" },
	{ .lng = "allow-unsafe-expunge", .kind = MT_FLAG,
	  .help = "without UIDPLUS, expunge anyway (also takes mail others flagged \\Deleted)" },
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	MT_OPT_END,
};

/* The options, parsed once by check for main. */
struct expunge {
	struct mt_cond *cond;     /* what goes */
	long max;                 /* -1: no --max */
	int dry, to_trash, recursive, allow_unsafe, human;
	int by_date_header;
};

static void expunge_release(void *state)
{
	struct expunge *x = state;
	mt_cond_free(x->cond);
	free(x);
}

/* --from/--subject: a header condition (decoded, any occurrence of the field) */
static int regex_opt(struct mt_ctx *ctx, struct expunge *x, const char *opt, int *given)
{
	const char *v = mt_arg(&ctx->args, opt);
	char why[300];
	if (v == NULL)
		return MT_OK;
	struct mt_cond *c = mt_cond_regex(MT_C_HEADER, opt, v, NULL, why, sizeof why);
	if (c == NULL)
		return mt_fail(ctx, MT_EUSAGE, "--%s '%s': bad regular expression %s", opt, v, why);
	x->cond = mt_cond_and(x->cond, c);
	(*given)++;
	return MT_OK;
}

/* Everything that can be wrong with the arguments, before connecting. */
static int expunge_check(struct mt_ctx *ctx)
{
	struct mt_criteria c;
	struct expunge *x = mt_xmalloc(sizeof *x);
	int given, r;
	const char *v;
	ctx->state = x;
	x->max = -1;
	x->dry = mt_flag(&ctx->args, "dry-run");
	x->to_trash = mt_flag(&ctx->args, "trash");
	x->recursive = mt_flag(&ctx->args, "recursive");
	x->allow_unsafe = mt_flag(&ctx->args, "allow-unsafe-expunge");
	x->human = mt_flag(&ctx->args, "human");
	if (ctx->args.argc == 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool expunge %s", ctx->ap->usage);
	if (mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	x->cond = mt_criteria_cond(&c);
	x->by_date_header = c.by_date_header;
	if ((v = mt_arg(&ctx->args, "max"))) {
		char *end;
		x->max = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || x->max < 0)
			return mt_fail(ctx, MT_EUSAGE, "bad --max '%s': expected a whole number", v);
	}
	if ((r = regex_opt(ctx, x, "from", &given)) != MT_OK || (r = regex_opt(ctx, x, "subject", &given)) != MT_OK)
		return r;
	if (given == 0)
		return mt_fail(ctx, MT_EUSAGE, "give at least one criterion (--deleted, --older, --larger, ...): "
			       "expunge never takes a whole folder by default");
	return MT_OK;
}

/* The report: a row per folder of what the plan does (would do, in a dry run). */
static void report(struct mt_ctx *ctx, const struct expunge *x, const struct mt_plan *p, char **folders, size_t nf)
{
	struct mt_table t;
	uint64_t tot_n = 0, tot_b = 0;
	const char *act = x->dry ? (x->to_trash ? "would move" : "would remove") : (x->to_trash ? "moved" : "removed");
	mt_report_init(&t, ctx->fmt, x->human);
	int stopped = 0;
	for (size_t f = 0, k = 0; f < nf && !stopped; f++) {
		uint64_t n = 0, b = 0;
		/* the plan has at most one op per folder, in folder order */
		if (k < p->n && strcmp(p->v[k].folder, folders[f]) == 0) {
			const struct mt_op *op = &p->v[k++];
			n = x->dry ? op->n : op->done;
			b = x->dry ? op->bytes : op->done_bytes;
			stopped = !x->dry && !op->ran;   /* the run stopped here: the error says why */
		}
		mt_report_row(&t, folders[f], act, n, b);
		tot_n += n;
		tot_b += b;
	}
	if (nf > 1)
		mt_report_total(&t, act, tot_n, tot_b);
	/* cron: nothing removed, nothing said; and -v --tsv is the message listing alone */
	if (!mt_quiet_nothing(ctx, tot_n) && !(ctx->fmt == MT_FMT_TSV && ctx->verbose && x->dry))
		mt_table_print(&t, stdout);
	mt_table_release(&t);
}

/* One folder named on the command line that the server would not open as
 * named (why: code, in ctx->err): the folder list resolves it (Courier's
 * "INBOX." prefix), or says there is no such folder; a folder listed under
 * that very name keeps the server's own refusal. MT_OK and *folders
 * replaced, or the error. */
static int resolve(struct mt_ctx *ctx, int code, char ***folders, size_t *nfolders)
{
	char **found = NULL;
	size_t nfound = 0;
	unsigned char missed = 0;
	struct mt_err why = ctx->err;
	int r = mt_expand_folders_missed(ctx->s, (const char *const *)ctx->args.argv, 1, 0, &missed, &found, &nfound,
					 &ctx->err);
	if (r == MT_OK && nfound == 1 && strcmp(found[0], (*folders)[0]) != 0) {
		mt_free_folders(*folders, *nfolders);
		*folders = found;
		*nfolders = nfound;
		return MT_OK;
	}
	int listed = r == MT_OK && nfound == 1;
	mt_free_folders(found, nfound);
	if (listed) {
		ctx->err = why;
		return code;
	}
	return r == MT_OK ? mt_unmatched_err(&ctx->err, ctx->args.argv[0], missed == MT_ARG_NOSELECT) : r;
}

static int expunge_main(struct mt_ctx *ctx)
{
	const struct expunge *x = ctx->state;
	int r = MT_OK, unmatched = 0;
	char **folders = NULL, *trash = NULL, *trash_wire = NULL;
	size_t nfolders = 0;
	uint64_t undecided = 0, total = 0;
	struct mt_plan plan = { .allow_unsafe = x->allow_unsafe };

	/* one folder named as it is: no LIST at all (a folder the server will not
	 * open is looked up below after all, for its prefixed name or the error) */
	const char *arg0 = ctx->args.argv[0];
	int literal = ctx->args.argc == 1 && !x->recursive && !x->to_trash && strpbrk(arg0, "*%") == NULL;
	if (literal) {
		folders = mt_xmalloc(sizeof *folders);
		folders[nfolders++] = mt_xstrdup(strcasecmp(arg0, "INBOX") == 0 ? "INBOX" : arg0);
	} else if (mt_expand_args(ctx, x->recursive, &folders, &nfolders, &unmatched) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	} else if (nfolders == 0) {
		r = MT_EDATA;   /* mailtool(1): each argument was named on stderr */
		goto out;
	}
	if (x->to_trash) {
		if ((r = mt_special_folder(ctx->s, "\\Trash", &trash, &trash_wire, &ctx->err)) != MT_OK) {
			r = mt_fail_err(ctx, &ctx->err);
			goto out;
		}
		if (trash == NULL) {
			r = mt_fail(ctx, MT_EUNAVAIL, "--trash: the server names no \\Trash folder (SPECIAL-USE)");
			goto out;
		}
		/* moves to the Trash a killed run left half done (servers without MOVE) */
		uint64_t done = 0;
		if (!x->dry && mt_recover_moves(ctx->s, (const char *const *)folders, nfolders,
						(const char *const *)&trash_wire, 1, 0, &done, &ctx->err) != MT_OK) {
			r = mt_fail_err(ctx, &ctx->err);
			goto out;
		}
	}

	/* choose everywhere first and plan: nothing changes before every folder
	 * was understood and the whole plan checked (one folder is opened once,
	 * read-write, for the executor to find it selected) */
	struct mt_progress pg;
	int listed = 0;
	mt_progress_start(&pg, "selecting (folders)", nfolders, nfolders > 1 && !mt_flag(&ctx->args, "quiet"));
	for (size_t i = 0; i < nfolders && r == MT_OK; i++) {
		struct mt_selection sel;
		/* -v lists what a dry run would take; a real run's -v is timings and traffic only */
		/* sizes are fetched: the bytes reported are exactly those of the
		 * messages removed (a folder's STATUS SIZE before and after would
		 * also count what other clients deliver or expunge meanwhile) */
		struct mt_choice ch = { .cond = x->cond, .readonly = x->dry || nfolders > 1, .size = 1,
					.by_date_header = x->by_date_header, .from_subject = ctx->verbose && x->dry };
		mt_progress_step(&pg, i ? 1 : 0);
		r = mt_choose(ctx, ctx->s, folders[i], &ch, &sel, &ctx->err);
		if (r == MT_EDATA && literal) {
			/* not there as named: the folder list says what it is, or why not */
			mt_selection_release(&sel);
			literal = 0;
			if ((r = resolve(ctx, r, &folders, &nfolders)) != MT_OK)
				break;
			i--;
			continue;
		}
		undecided += ch.undecided;
		if (r == MT_OK && x->to_trash && strcmp(folders[i], trash) == 0) {
			mt_warn(ctx, "'%s' is the \\Trash folder; --trash leaves it alone", trash);
		} else if (r == MT_OK && sel.n) {
			uint32_t *uids = mt_xmalloc(sizeof *uids * sel.n), *sizes = mt_xmalloc(sizeof *sizes * sel.n);
			for (size_t k = 0; k < sel.n; k++) {
				uids[k] = sel.msgs[k].uid;
				sizes[k] = sel.msgs[k].size;
			}
			struct mt_op *op = mt_plan_add_uids(&plan, x->to_trash ? MT_OP_MOVE : MT_OP_EXPUNGE, sel.folder, sel.wire,
							    sel.uidvalidity, uids, sizes, sel.n);
			if (x->to_trash)
				op->target = mt_xstrdup(trash);
			total += sel.n;
			free(uids);
			free(sizes);
			if (ctx->verbose && x->dry)
				mt_report_messages(&sel, ctx->fmt, x->human, &listed, stdout);
		}
		mt_selection_release(&sel);
	}
	mt_progress_end(&pg);
	if (ctx->verbose && x->dry && r == MT_OK)
		mt_report_messages_end(ctx->fmt, &listed, stdout);
	if (r != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	if (x->max >= 0 && total > (uint64_t)x->max) {
		r = mt_fail(ctx, MT_EDATA, "%llu messages match, more than --max %ld; nothing removed",
			    (unsigned long long)total, x->max);
		goto out;
	}
	if ((r = mt_plan_check(ctx->s, &plan, &ctx->err)) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	if (!x->dry)
		r = mt_plan_run(ctx->s, &plan, &ctx->err);
	report(ctx, x, &plan, folders, nfolders);
	if (r != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	else if (undecided)
		r = mt_fail(ctx, MT_EDATA, "%llu message%s left alone: a regular expression could not be decided on %s",
			    (unsigned long long)undecided, undecided == 1 ? "" : "s", undecided == 1 ? "it" : "them");
	else if (unmatched)
		r = MT_EDATA;   /* a folder argument named nothing: the others are done */
out:
	mt_plan_release(&plan);
	mt_free_folders(folders, nfolders);
	free(trash);
	free(trash_wire);
	return r;
}

static const struct mt_applet expunge_applet = {
	.name = "expunge",
	.summary = "remove exactly the messages matching criteria (or move them to \\Trash)",
	.usage = "[options] FOLDER...",
	.description = "All criteria must hold. FOLDER may be a pattern ('Lists/*'). Selection runs as IMAP\n"
		       "SEARCH on the server; only the matching UIDs are flagged \\Deleted and expunged with\n"
		       "UID EXPUNGE (UIDPLUS), so mail other clients flagged \\Deleted is never taken.\n"
		       "\\Flagged messages stay unless --include-flagged. If the folder's UIDVALIDITY changes\n"
		       "between selection and removal, nothing is removed.",
	.opts = expunge_opts,
	.complete_first = "folder",
	.complete_rest = "folder",
	.flags = MT_APPLET_SESSION,
	.main = expunge_main,
	.check = expunge_check,
	.release = expunge_release,
};
MT_APPLET(expunge_applet);
