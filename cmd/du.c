/* du.c — messages and bytes per folder with a total; sorted, top N, subtree
 * roll-up. Sizes come from STATUS=SIZE when offered (pipelined STATUS), else
 * from FETCH RFC822.SIZE in batches — never one round trip per message. */
#include "../tool/tool.h"

#include <stdlib.h>
#include <string.h>

static const struct mt_opt du_opts[] = {
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	{ .lng = "sort", .kind = MT_ARG, .metavar = "KEY", .help = "sort by size, count or name (default name)",
	  .complete = "size count name" },
	{ .lng = "top", .kind = MT_ARG, .metavar = "N", .help = "only the first N folders (after sorting)" },
	{ .lng = "depth", .kind = MT_ARG, .metavar = "N", .help = "roll subfolders up into their ancestor at level N" },
	{ .lng = "no-total", .kind = MT_FLAG, .help = "leave out the total line" },
	MT_OPT_END,
};

enum { D_FOLDER, D_MESSAGES, D_SIZE, D_NCOLS };

static const struct mt_col du_cols[D_NCOLS] = {
	[D_FOLDER] = { "folder", MT_COL_STR },
	[D_MESSAGES] = { "messages", MT_COL_NUM },
	[D_SIZE] = { "size", MT_COL_SIZE },
};

struct du_row {
	char *name;         /* owned */
	uint64_t messages, size;
};

static int sort_key;  /* 0 name, 1 size, 2 count */

static int cmp_rows(const void *a, const void *b)
{
	const struct du_row *x = a, *y = b;
	if (sort_key == 1 && x->size != y->size)
		return x->size < y->size ? 1 : -1;
	if (sort_key == 2 && x->messages != y->messages)
		return x->messages < y->messages ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Name truncated to `depth` levels of the hierarchy. */
static char *ancestor(const char *name, char delim, long depth)
{
	if (depth <= 0 || delim == 0)
		return mt_xstrdup(name);
	const char *p = name;
	for (long lvl = 0; *p; p++)
		if (*p == delim && ++lvl == depth)
			break;
	return mt_xasprintf("%.*s", (int)(p - name), name);
}

static int parse_count(const char *s, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int du_main(struct mt_ctx *ctx)
{
	struct mt_mailboxes m;
	struct mt_status *st;
	const char *sort = mt_arg(&ctx->args, "sort"), *top_s = mt_arg(&ctx->args, "top"), *depth_s = mt_arg(&ctx->args, "depth");
	long top = -1, depth = 0;
	int r, failed = 0;

	if (ctx->args.argc > 1)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool du %s", ctx->ap->usage);
	sort_key = 0;
	if (sort) {
		if (strcmp(sort, "name") == 0) sort_key = 0;
		else if (strcmp(sort, "size") == 0) sort_key = 1;
		else if (strcmp(sort, "count") == 0) sort_key = 2;
		else return mt_fail(ctx, MT_EUSAGE, "bad --sort '%s': expected size, count or name", sort);
	}
	if (top_s && parse_count(top_s, &top) < 0)
		return mt_fail(ctx, MT_EUSAGE, "bad --top '%s': expected a whole number", top_s);
	if (depth_s && (parse_count(depth_s, &depth) < 0 || depth == 0))
		return mt_fail(ctx, MT_EUSAGE, "bad --depth '%s': expected a number of levels, 1 or more", depth_s);

	if ((r = mt_list(ctx->s, ctx->args.argc ? ctx->args.argv[0] : "*", &m, &ctx->err)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (m.n == 0 && ctx->args.argc) {
		mt_mailboxes_release(&m);
		return mt_fail(ctx, MT_EDATA, "no folder matches '%s'", ctx->args.argv[0]);
	}
	st = mt_xmalloc(sizeof *st * (m.n ? m.n : 1));
	/* in slices of 64 folders (the pipelining batch anyway), for the progress line */
	struct mt_progress pg;
	mt_progress_start(&pg, "folders", m.n, m.n > 64 && !mt_flag(&ctx->args, "quiet"));
	for (size_t i = 0; r == MT_OK && i < m.n; i += 64) {
		size_t cnt = m.n - i < 64 ? m.n - i : 64;
		r = mt_status_many(ctx->s, m.v + i, cnt, MT_ST_MESSAGES | MT_ST_SIZE, st + i, &ctx->err);
		mt_progress_step(&pg, cnt);
	}
	mt_progress_end(&pg);
	if (r != MT_OK) {
		free(st);
		mt_mailboxes_release(&m);
		return mt_fail_err(ctx, &ctx->err);
	}

	struct du_row *rows = mt_xmalloc(sizeof *rows * (m.n ? m.n : 1));
	size_t nrows = 0;
	struct mt_strindex *row_ix = mt_strindex_new();   /* row name -> index (keys owned by rows) */
	uint64_t tot_msgs = 0, tot_size = 0;
	for (size_t i = 0; i < m.n; i++) {
		struct mt_mailbox *b = &m.v[i];
		if (b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) {
			if (depth == 0)
				continue;  /* a \Noselect parent still gets a roll-up row below */
		} else if (st[i].error) {
			mt_warn(ctx, "'%s': %s", b->name, st[i].error);
			failed = 1;
			continue;
		}
		char *key = ancestor(b->name, b->delim, depth);
		long at = mt_strindex_get(row_ix, key);
		size_t j = at >= 0 ? (size_t)at : nrows;
		if (j == nrows) {
			rows[nrows].name = key;
			rows[nrows].messages = rows[nrows].size = 0;
			mt_strindex_put(row_ix, key, nrows);
			nrows++;
		} else {
			free(key);
		}
		if (!(b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))) {
			rows[j].messages += st[i].messages;
			rows[j].size += st[i].size;
			tot_msgs += st[i].messages;
			tot_size += st[i].size;
		}
	}
	mt_strindex_free(row_ix);
	mt_sort(rows, nrows, sizeof *rows, cmp_rows);
	if (top >= 0 && (size_t)top < nrows)
		for (size_t i = (size_t)top; i < nrows; i++) {
			free(rows[i].name);
			rows[i].name = NULL;
		}
	size_t shown = top >= 0 && (size_t)top < nrows ? (size_t)top : nrows;

	struct mt_table t;
	mt_table_init(&t, du_cols, D_NCOLS, ctx->fmt, mt_flag(&ctx->args, "human"));
	t.type = "folder";
	for (size_t i = 0; i < shown; i++) {
		int row = mt_table_row(&t);
		mt_table_str(&t, row, D_FOLDER, rows[i].name);
		mt_table_num(&t, row, D_MESSAGES, (long long)rows[i].messages);
		mt_table_num(&t, row, D_SIZE, (long long)rows[i].size);
	}
	int with_total = !mt_flag(&ctx->args, "no-total");
	if (with_total) {
		int row = mt_table_row_type(&t, "total");
		mt_table_label(&t, row, D_FOLDER, "(total)");
		mt_table_num(&t, row, D_MESSAGES, (long long)tot_msgs);
		mt_table_num(&t, row, D_SIZE, (long long)tot_size);
	}
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	for (size_t i = 0; i < nrows; i++)
		free(rows[i].name);
	free(rows);
	mt_status_release(st, m.n);
	free(st);
	mt_mailboxes_release(&m);
	/* a folder that could not be measured makes the total incomplete */
	return failed ? MT_EPROTO : MT_OK;
}

static const struct mt_applet du_applet = {
	.name = "du",
	.summary = "messages and bytes per folder, with a total",
	.usage = "[options] [PATTERN]",
	.description = "PATTERN is an IMAP LIST pattern in UTF-8 (default '*'). The total counts every folder\n"
		       "measured, including those left out by --top.",
	.opts = du_opts,
	.complete_first = "folder",
	.flags = MT_APPLET_SESSION,
	.main = du_main,
};
MT_APPLET(du_applet);
