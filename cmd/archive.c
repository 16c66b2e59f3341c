/* archive.c — old mail into dated server folders (Archive/%Y by default), one
 * run for every period, moved with the exact engine of lib/select.c (UID MOVE,
 * or COPY + UID EXPUNGE of exactly the copied UIDs), flags kept. */
#include "applet.h"
#include "../lib/select.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct mt_opt archive_opts[] = {
	{ .lng = "older", .kind = MT_ARG, .metavar = "DURATION", .help = "archive mail older than DURATION (required)" },
	{ .lng = "to", .kind = MT_ARG, .metavar = "TEMPLATE",
	  .help = "target folder, strftime %Y %m %d of each message's date (default Archive/%Y)", .complete = "folder" },
	{ .lng = "by-date-header", .kind = MT_FLAG, .help = "dates from the Date header, not INTERNALDATE" },
	{ .lng = "seen", .kind = MT_FLAG, .help = "only messages marked \\Seen" },
	{ .lng = "include-flagged", .kind = MT_FLAG, .help = "also archive \\Flagged messages" },
	{ .lng = "recursive", .shrt = 'r', .kind = MT_FLAG, .help = "also every subfolder of each FOLDER" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show per target folder what would move" },
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	MT_OPT_END,
};

/* The template's fields: only %Y %m %d (and %%), so a name never depends on
 * the locale or the time of day. */
static int template_ok(const char *t)
{
	for (const char *p = t; *p; p++)
		if (*p == '%' && (p[1] == 'Y' || p[1] == 'm' || p[1] == 'd' || p[1] == '%'))
			p++;
		else if (*p == '%')
			return 0;
	return mt_mailbox_name_ok(t);
}

static int archive_check(struct mt_ctx *ctx)
{
	struct mt_criteria c;
	int given;
	const char *to = mt_arg(&ctx->args, "to");
	if (ctx->args.argc == 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool archive %s", ctx->ap->usage);
	if (mt_arg(&ctx->args, "older") == NULL)
		return mt_fail(ctx, MT_EUSAGE, "--older DURATION is required: archive never takes a whole folder");
	if (mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (to && !template_ok(to))
		return mt_fail(ctx, MT_EDATA, "--to '%s': only %%Y, %%m and %%d may be used, and no CR or LF", to);
	return MT_OK;
}

struct target {
	char *name;
	struct mt_selection sel;   /* the messages going there; msgs owned */
};

static int archive_main(struct mt_ctx *ctx)
{
	const char *tmpl = mt_arg(&ctx->args, "to") ? mt_arg(&ctx->args, "to") : "Archive/%Y";
	int dry = mt_flag(&ctx->args, "dry-run"), given, r = MT_OK;
	struct mt_criteria c;
	char **folders = NULL;
	size_t nfolders = 0;
	struct mt_table t;

	mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err);
	c.want_dates = 1;
	if (mt_expand_folders(ctx->s, (const char *const *)ctx->args.argv, (size_t)ctx->args.argc,
			      mt_flag(&ctx->args, "recursive"), &folders, &nfolders, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	mt_report_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	uint64_t tot_n = 0, tot_b = 0;
	for (size_t f = 0; f < nfolders && r == MT_OK; f++) {
		struct mt_selection sel;
		struct target *tg = NULL;
		size_t ntg = 0;
		if ((r = mt_select_messages(ctx->s, folders[f], &c, 1, NULL, NULL, &sel, &ctx->err)) != MT_OK) {
			mt_selection_release(&sel);
			break;
		}
		/* group by target folder: one move per target, whatever the number of periods */
		for (size_t i = 0; i < sel.n; i++) {
			char name[512];
			time_t when = c.by_date_header && sel.msgs[i].date ? sel.msgs[i].date : sel.msgs[i].internaldate;
			struct tm tm;
			gmtime_r(&when, &tm);
			if (strftime(name, sizeof name, tmpl, &tm) == 0)
				continue;
			size_t k;
			for (k = 0; k < ntg; k++)
				if (strcmp(tg[k].name, name) == 0)
					break;
			if (k == ntg) {
				tg = realloc(tg, sizeof *tg * (ntg + 1));
				if (tg == NULL)
					abort();
				memset(&tg[ntg], 0, sizeof *tg);
				tg[ntg].name = mt_xstrdup(name);
				tg[ntg].sel.folder = mt_xstrdup(sel.folder);
				tg[ntg].sel.wire = mt_xstrdup(sel.wire);
				tg[ntg].sel.uidvalidity = sel.uidvalidity;
				tg[ntg].sel.msgs = mt_xmalloc(sizeof *sel.msgs * sel.n);
				ntg++;
			}
			tg[k].sel.msgs[tg[k].sel.n++] = sel.msgs[i];
			tg[k].sel.bytes += sel.msgs[i].size;
			memset(&sel.msgs[i], 0, sizeof sel.msgs[i]);   /* now owned by the target */
		}
		for (size_t k = 0; k < ntg; k++) {
			char *row = mt_xasprintf("%s -> %s", folders[f], tg[k].name);
			uint64_t n = tg[k].sel.n, b = tg[k].sel.bytes;
			if (strcmp(tg[k].name, folders[f]) == 0) {
				free(row);
				continue;   /* already where it belongs */
			}
			if (!dry && r == MT_OK) {
				char *wire = NULL;
				if ((r = mt_create(ctx->s, tg[k].name, "\\Archive", &ctx->err)) == MT_OK &&
				    (r = mt_subscribe(ctx->s, tg[k].name, 1, &ctx->err)) == MT_OK &&
				    (r = mt_mailbox_wire(ctx->s, tg[k].name, &wire, &ctx->err)) == MT_OK)
					r = mt_remove_selection(ctx->s, &tg[k].sel, wire, 0, &n, &b, &ctx->err);
				free(wire);
			}
			mt_report_row(&t, row, dry ? "would move" : "moved", n, b);
			tot_n += n;
			tot_b += b;
			free(row);
		}
		for (size_t k = 0; k < ntg; k++) {
			free(tg[k].name);
			mt_selection_release(&tg[k].sel);
		}
		free(tg);
		mt_selection_release(&sel);
	}
	if (t.rows > 1)
		mt_report_row(&t, "(total)", dry ? "would move" : "moved", tot_n, tot_b);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	mt_free_folders(folders, nfolders);
	if (r != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	return r;
}

static const struct mt_applet archive_applet = {
	.name = "archive",
	.summary = "move old mail into dated server folders (Archive/%Y), every period in one run",
	.usage = "[options] --older DURATION FOLDER...",
	.description = "Messages older than DURATION go to the folder TEMPLATE names for their date\n"
		       "(INTERNALDATE, or the Date header with --by-date-header): Archive/2024, Archive/2025...\n"
		       "Missing folders are created (\\Archive special-use where CREATE-SPECIAL-USE is offered)\n"
		       "and subscribed. Moves are batched per target folder with UID MOVE, or UID COPY and\n"
		       "the exact UID EXPUNGE of expunge(1); flags and keywords are kept. \\Flagged mail stays\n"
		       "unless --include-flagged. Export to and import from local mbox/Maildir are not\n"
		       "implemented yet.",
	.opts = archive_opts,
	.complete_first = "folder",
	.complete_rest = "folder",
	.flags = MT_APPLET_SESSION,
	.main = archive_main,
	.check = archive_check,
};
MT_APPLET(archive_applet);
