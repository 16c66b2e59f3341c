/* ls.c — folders with special-use flags and subscription state, and with
 * --status their message count, unseen count and size. */
#include "../tool/tool.h"

#include <stdlib.h>
#include <string.h>

static const struct mt_opt ls_opts[] = {
	{ .lng = "status", .shrt = 's', .kind = MT_FLAG, .help = "add message count, unseen count and size" },
	{ .lng = "subscribed", .kind = MT_FLAG, .help = "only subscribed folders" },
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	MT_OPT_END,
};

enum { L_FOLDER, L_SPECIAL, L_SUB, L_MESSAGES, L_UNSEEN, L_SIZE, L_SELECT, L_NCOLS };

static const struct mt_col ls_cols[L_NCOLS] = {
	[L_FOLDER] = { "folder", MT_COL_STR },
	[L_SPECIAL] = { "special_use", MT_COL_STR },
	[L_SUB] = { "subscribed", MT_COL_BOOL },
	[L_MESSAGES] = { "messages", MT_COL_NUM },
	[L_UNSEEN] = { "unseen", MT_COL_NUM },
	[L_SIZE] = { "size", MT_COL_SIZE },
	/* last: a script reading columns by position keeps them; people
	 * read "gone" in the subscribed column instead */
	[L_SELECT] = { "selectable", MT_COL_BOOL, .machine = 1 },
};

static int by_name(const void *a, const void *b)
{
	const struct mt_mailbox *x = a, *y = b;
	/* INBOX first, then by name */
	int xi = strcmp(x->wire, "INBOX") == 0, yi = strcmp(y->wire, "INBOX") == 0;
	if (xi != yi)
		return yi - xi;
	return strcmp(x->name, y->name);
}

static int ls_main(struct mt_ctx *ctx)
{
	struct mt_mailboxes m;
	struct mt_status *st = NULL;
	struct mt_table t;
	int want_status = mt_flag(&ctx->args, "status"), failed = 0;
	int only_sub = mt_flag(&ctx->args, "subscribed");
	int r, unmatched;

	if ((r = mt_list_args(ctx, 0, &m, &unmatched)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (m.n == 0 && unmatched)
		return MT_EDATA;   /* each pattern was named on stderr: no empty table */
	mt_sort(m.v, m.n, sizeof *m.v, by_name);
	if (want_status) {
		st = mt_xmalloc(sizeof *st * (m.n ? m.n : 1));
		if ((r = mt_status_many(ctx->s, m.v, m.n, MT_ST_MESSAGES | MT_ST_UNSEEN | MT_ST_SIZE, st, &ctx->err)) != MT_OK) {
			free(st);
			mt_mailboxes_release(&m);
			return mt_fail_err(ctx, &ctx->err);
		}
	}
	/* scripts get every key, with null where --status was not asked */
	mt_table_init(&t, ls_cols, want_status || ctx->fmt != MT_FMT_HUMAN ? L_NCOLS : L_MESSAGES, ctx->fmt,
		      mt_flag(&ctx->args, "human"));
	t.type = "folder";
	for (size_t i = 0; i < m.n; i++) {
		struct mt_mailbox *b = &m.v[i];
		if (only_sub && !(b->flags & MT_MBX_SUBSCRIBED))
			continue;
		int row = mt_table_row(&t);
		mt_table_str(&t, row, L_FOLDER, b->name);
		if (*b->special)
			mt_table_str(&t, row, L_SPECIAL, b->special);
		/* "gone": subscribed, but the folder does not exist any more */
		int gone = (b->flags & MT_MBX_SUBSCRIBED) && (b->flags & MT_MBX_NONEXISTENT);
		if (gone && ctx->fmt == MT_FMT_HUMAN)
			mt_table_label(&t, row, L_SUB, "gone");
		else
			mt_table_bool(&t, row, L_SUB, (b->flags & MT_MBX_SUBSCRIBED) != 0);
		if (t.ncols > L_SELECT)
			mt_table_bool(&t, row, L_SELECT, !(b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)));
		if (want_status && !(b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) && st[i].error == NULL) {
			if (st[i].have & MT_ST_MESSAGES) mt_table_num(&t, row, L_MESSAGES, st[i].messages);
			if (st[i].have & MT_ST_UNSEEN) mt_table_num(&t, row, L_UNSEEN, st[i].unseen);
			if (st[i].have & MT_ST_SIZE) mt_table_num(&t, row, L_SIZE, (long long)st[i].size);
		}
		if (want_status && st[i].error) {
			mt_warn(ctx, "'%s': %s", b->name, st[i].error);
			failed = 1;
		}
	}
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	if (st)
		mt_status_release(st, m.n);
	free(st);
	mt_mailboxes_release(&m);
	/* like du: a folder that could not be measured is not a success; a
	 * pattern that matched nothing is 65 (mailtool(1)) */
	return failed ? MT_EPROTO : unmatched ? MT_EDATA : MT_OK;
}

static const struct mt_applet ls_applet = {
	.name = "ls",
	.summary = "list folders with special-use flags, subscriptions and (with --status) sizes",
	.usage = "[options] [PATTERN...]",
	.description = "PATTERN is an IMAP LIST pattern in UTF-8: '*' matches across levels, '%' within one\n"
		       "(default '*'); several are listed together. The subscribed column says yes, no, or gone\n"
		       "(subscribed but missing).",
	.opts = ls_opts,
	.complete_first = "folder",
	.complete_rest = "folder",
	.flags = MT_APPLET_SESSION,
	.main = ls_main,
};
MT_APPLET(ls_applet);
