/* expunge.c — remove exactly the messages that match: SEARCH on the server,
 * exact client checks where needed, then UID STORE + UID EXPUNGE (or MOVE to
 * \Trash) of those UIDs only. The selection code is lib/select.c, shared with
 * compact. */
#include "../tool/tool.h"
#include "../lib/select.h"

#include "../filters/regex.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static struct mt_re *compile(struct mt_ctx *ctx, const char *opt, const char *re, int *rc)
{
	char why[300];
	struct mt_re *c = mt_re_compile(re, NULL, why, sizeof why);
	if (c == NULL)
		*rc = mt_fail(ctx, MT_EDATA, "--%s '%s': bad regular expression %s", opt, re, why);
	return c;
}

struct regex_filter {
	struct mt_ctx *ctx;
	struct mt_re *from, *subject;
	const char *folder;      /* the folder being selected, for messages */
	uint64_t undecided;      /* messages a regex could not decide: left alone */
};

/* Keep a message when every regex matches; one a regex cannot decide (a
 * PCRE2 limit) is left alone and said so, never taken for a non-match. */
static int regex_keep(const struct mt_msg *m, void *arg)
{
	struct regex_filter *f = arg;
	const char *why = NULL;
	int hit = 1;
	if (f->from)
		hit = mt_re_match(f->from, m->from, m->from ? strlen(m->from) : 0, &why);
	if (hit > 0 && f->subject)
		hit = mt_re_match(f->subject, m->subject, m->subject ? strlen(m->subject) : 0, &why);
	if (hit < 0) {
		f->undecided++;
		mt_fail(f->ctx, MT_EDATA, "'%s' UID %u: %s; the message is left alone", f->folder, m->uid, why);
	}
	return hit > 0;
}

/* ---- the applet -------------------------------------------------------- */

/* Everything that can be wrong with the arguments, before connecting. */
static int expunge_check(struct mt_ctx *ctx)
{
	struct mt_criteria c;
	struct regex_filter rf = { .ctx = ctx };
	int given, r = MT_OK;
	const char *v;
	if (ctx->args.argc == 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool expunge %s", ctx->ap->usage);
	if (mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if ((v = mt_arg(&ctx->args, "max"))) {
		char *end;
		long max = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || max < 0)
			return mt_fail(ctx, MT_EUSAGE, "bad --max '%s': expected a whole number", v);
	}
	if ((v = mt_arg(&ctx->args, "from")) && (rf.from = compile(ctx, "from", v, &r)) == NULL)
		return r;
	if ((v = mt_arg(&ctx->args, "subject")) && (rf.subject = compile(ctx, "subject", v, &r)) == NULL) {
		mt_re_free(rf.from);
		return r;
	}
	given += (rf.from != NULL) + (rf.subject != NULL);
	mt_re_free(rf.from);
	mt_re_free(rf.subject);
	if (given == 0)
		return mt_fail(ctx, MT_EUSAGE, "give at least one criterion (--deleted, --older, --larger, ...): "
			       "expunge never takes a whole folder by default");
	return MT_OK;
}

static int expunge_main(struct mt_ctx *ctx)
{
	struct mt_criteria c;
	struct regex_filter rf = { .ctx = ctx };
	int given, r = MT_OK, dry = mt_flag(&ctx->args, "dry-run"), to_trash = mt_flag(&ctx->args, "trash");
	long max = -1;
	const char *v;
	char **folders = NULL, *trash = NULL, *trash_wire = NULL;
	size_t nfolders = 0;
	struct mt_selection *sels = NULL;

	/* expunge_check has validated everything below */
	mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err);
	if ((v = mt_arg(&ctx->args, "max")))
		max = strtol(v, NULL, 10);
	if ((v = mt_arg(&ctx->args, "from")))
		rf.from = compile(ctx, "from", v, &r);
	if ((v = mt_arg(&ctx->args, "subject")))
		rf.subject = compile(ctx, "subject", v, &r);
	/* -v lists what a dry run would take; a real run's -v is timings and traffic only */
	c.want_headers = rf.from || rf.subject || (ctx->verbose && dry);

	if (mt_expand_folders(ctx->s, (const char *const *)ctx->args.argv, (size_t)ctx->args.argc,
			      mt_flag(&ctx->args, "recursive"), &folders, &nfolders, &ctx->err) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	if (to_trash) {
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
		if (!dry && mt_recover_moves(ctx->s, (const char *const *)folders, nfolders,
					     (const char *const *)&trash_wire, 1, 0, &done, &ctx->err) != MT_OK) {
			r = mt_fail_err(ctx, &ctx->err);
			goto out;
		}
	}

	/* select everywhere first (read-only): nothing changes before every folder was understood */
	sels = mt_xmalloc(sizeof *sels * (nfolders ? nfolders : 1));
	uint64_t total = 0;
	struct mt_progress pg;
	mt_progress_start(&pg, "selecting (folders)", nfolders, nfolders > 1 && !mt_flag(&ctx->args, "quiet"));
	for (size_t i = 0; i < nfolders; i++) {
		mt_progress_step(&pg, i ? 1 : 0);
		rf.folder = folders[i];
		r = mt_select_messages(ctx->s, folders[i], &c, 1, (rf.from || rf.subject) ? regex_keep : NULL, &rf,
				       &sels[i], &ctx->err);
		if (r != MT_OK) {
			mt_progress_end(&pg);
			r = mt_fail_err(ctx, &ctx->err);
			nfolders = i + 1;
			goto out;
		}
		if (to_trash && strcmp(folders[i], trash) == 0) {
			mt_warn(ctx, "'%s' is the \\Trash folder; --trash leaves it alone", trash);
			for (size_t k = 0; k < sels[i].n; k++) {
				free(sels[i].msgs[k].from);
				free(sels[i].msgs[k].subject);
			}
			sels[i].n = 0;
			sels[i].bytes = 0;
		}
		total += sels[i].n;
	}
	mt_progress_end(&pg);
	if (max >= 0 && total > (uint64_t)max) {
		r = mt_fail(ctx, MT_EDATA, "%llu messages match, more than --max %ld; nothing removed",
			    (unsigned long long)total, max);
		goto out;
	}

	struct mt_table t;
	uint64_t tot_n = 0, tot_b = 0;
	mt_report_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	for (size_t i = 0; i < nfolders; i++) {
		if (ctx->verbose && dry)
			mt_report_messages(&sels[i], ctx->fmt, mt_flag(&ctx->args, "human"), stdout);
		if (dry) {
			mt_report_row(&t, sels[i].folder, to_trash ? "would move" : "would remove", sels[i].n, sels[i].bytes);
			tot_n += sels[i].n;
			tot_b += sels[i].bytes;
			continue;
		}
		uint64_t n = 0, b = 0;
		r = mt_remove_selection(ctx->s, &sels[i], to_trash ? trash_wire : NULL,
					mt_flag(&ctx->args, "allow-unsafe-expunge"), &n, &b, &ctx->err);
		mt_report_row(&t, sels[i].folder, to_trash ? "moved" : "removed", n, b);
		tot_n += n;
		tot_b += b;
		if (r != MT_OK)
			break;
	}
	if (nfolders > 1)
		mt_report_row(&t, "(total)", dry ? (to_trash ? "would move" : "would remove") : (to_trash ? "moved" : "removed"),
			      tot_n, tot_b);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	if (r != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	else if (rf.undecided)
		r = mt_fail(ctx, MT_EDATA, "%llu message%s left alone: a regular expression could not be decided on %s",
			    (unsigned long long)rf.undecided, rf.undecided == 1 ? "" : "s", rf.undecided == 1 ? "it" : "them");
out:
	for (size_t i = 0; sels && i < nfolders; i++)
		mt_selection_release(&sels[i]);
	free(sels);
	mt_free_folders(folders, nfolders);
	free(trash);
	free(trash_wire);
	mt_re_free(rf.from);
	mt_re_free(rf.subject);
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
};
MT_APPLET(expunge_applet);
