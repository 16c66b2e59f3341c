/* du.c — messages and bytes per folder with a total; sorted, top N, subtree
 * roll-up. Sizes come from STATUS=SIZE when offered (pipelined STATUS), else
 * from FETCH RFC822.SIZE in batches — never one round trip per message.
 * --messages: the largest messages (SORT where offered); --histogram: how
 * many messages, and bytes, per size band. */
#include "../tool/tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct mt_opt du_opts[] = {
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	{ .lng = "sort", .kind = MT_ARG, .metavar = "KEY", .help = "sort by size, count or name (default name)",
	  .complete = "size count name" },
	{ .lng = "top", .kind = MT_ARG, .metavar = "N", .help = "only the first N folders (after sorting)" },
	{ .lng = "depth", .kind = MT_ARG, .metavar = "N", .help = "roll subfolders up into their ancestor at level N" },
	{ .lng = "no-total", .kind = MT_FLAG, .help = "leave out the total line" },
	{ .lng = "messages", .kind = MT_FLAG, .help = "the largest messages, one row each (--top: how many, default 20)" },
	{ .lng = "larger", .kind = MT_ARG, .metavar = "SIZE",
	  .help = "with --messages: only those larger than SIZE (500k, 10M; binary units)" },
	{ .lng = "histogram", .kind = MT_FLAG, .help = "messages and bytes per size band" },
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
	errno = 0;
	long v = strtol(s, &end, 10);
	/* a million rows is more than any screen or script wants; more is a typo
	 * (and --messages keeps that many in memory) */
	if (*s == '\0' || *end != '\0' || v < 0 || errno || v > 1000000)
		return -1;
	*out = v;
	return 0;
}

/* Messages and bytes per folder (the table du has always printed). */
static int du_sizes(struct mt_ctx *ctx, const struct mt_mailboxes *mp, long top, long depth)
{
	const struct mt_mailboxes m = *mp;   /* borrowed, as it was listed */
	struct mt_status *st;
	int r = MT_OK, failed = 0;

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
	/* a folder that could not be measured makes the total incomplete */
	return failed ? MT_EPROTO : MT_OK;
}

/* ---- --messages: the largest messages -------------------------------------- */

struct big {
	const char *folder;     /* borrowed from the folder list */
	size_t order;           /* the folder's place in it */
	struct mt_msg m;        /* owned strings */
};

static int cmp_big(const void *a, const void *b)
{
	const struct big *x = a, *y = b;
	if (x->m.size != y->m.size)
		return x->m.size < y->m.size ? 1 : -1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->m.uid < y->m.uid ? -1 : x->m.uid > y->m.uid;
}

/* The top of one folder into *v (sorted, cut to top): EXAMINE, then SORT
 * (or sizes in batches), then one FETCH of the chosen UIDs' summaries. */
static int top_of_folder(struct mt_ctx *ctx, const char *folder, size_t order, const char *criteria, size_t top,
			 struct big **v, size_t *n)
{
	struct mt_folder_state fs;
	struct mt_sized *sz = NULL;
	struct mt_msg *got = NULL;
	uint32_t *uids = NULL;
	char *wire = NULL;
	size_t nsz = 0, ngot = 0;
	int r = mt_open_folder(ctx->s, folder, 1, &wire, &fs, &ctx->err);
	free(wire);
	if (r == MT_OK)
		r = mt_largest(ctx->s, criteria, top, 1, &sz, &nsz, &ctx->err);
	if (r == MT_OK) {
		uids = mt_xmalloc(sizeof *uids * (nsz ? nsz : 1));
		for (size_t i = 0; i < nsz; i++)
			uids[i] = sz[i].uid;
		mt_sort(uids, nsz, sizeof *uids, mt_cmp_u32);
		r = mt_fetch_summaries(ctx->s, uids, nsz, &got, &ngot, &ctx->err);
	}
	if (r == MT_OK && ngot) {
		*v = mt_xrealloc(*v, sizeof **v * (*n + ngot));
		for (size_t i = 0; i < ngot; i++)
			(*v)[(*n)++] = (struct big){ .folder = folder, .order = order, .m = got[i] };
		free(got);   /* the strings moved into *v */
		got = NULL;
		ngot = 0;
		mt_sort(*v, *n, sizeof **v, cmp_big);
		for (; *n > top; --*n) {
			free((*v)[*n - 1].m.from);
			free((*v)[*n - 1].m.subject);
		}
	}
	mt_msgs_free(got, ngot);
	free(uids);
	free(sz);
	return r;
}

static int du_messages(struct mt_ctx *ctx, const struct mt_mailboxes *m, size_t top, uint64_t larger)
{
	struct big *v = NULL;
	size_t n = 0;
	int failed = 0;
	char *criteria = larger ? mt_xasprintf("LARGER %llu", (unsigned long long)larger) : mt_xstrdup("ALL");
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))
			continue;
		if (top_of_folder(ctx, m->v[i].name, i, criteria, top, &v, &n) != MT_OK) {
			/* the connection is gone: nothing more to ask */
			if (!mt_session_alive(ctx->s)) {
				free(criteria);
				for (size_t k = 0; k < n; k++) {
					free(v[k].m.from);
					free(v[k].m.subject);
				}
				free(v);
				return mt_fail_err(ctx, &ctx->err);
			}
			mt_warn(ctx, "'%s': %s", m->v[i].name, ctx->err.msg);
			failed = 1;
		}
	}
	free(criteria);
	/* the records of the removing applets' listings (tool/report.c) */
	struct mt_table t;
	mt_report_messages_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	for (size_t i = 0; i < n; i++) {
		mt_report_message_row(&t, v[i].folder, v[i].m.uid, v[i].m.internaldate, v[i].m.size, v[i].m.from,
				      v[i].m.subject);
		free(v[i].m.from);
		free(v[i].m.subject);
	}
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	free(v);
	return failed ? MT_EPROTO : MT_OK;
}

/* ---- --histogram: messages and bytes per size band ---------------------------- */

/* Record type `band`. The bands' lower bounds, in bytes (binary units);
 * mailtool-du(1) lists them. */
static const struct { const char *name; uint64_t from; } bands[] = {
	{ "<4k", 0 }, { "4k-16k", 4 << 10 }, { "16k-64k", 16 << 10 }, { "64k-256k", 64 << 10 },
	{ "256k-1M", 256 << 10 }, { "1M-4M", 1 << 20 }, { "4M-16M", 4 << 20 }, { ">=16M", 16 << 20 },
};
#define NBANDS (sizeof bands / sizeof bands[0])

enum { H_BAND, H_MESSAGES, H_SIZE, H_NCOLS };
static const struct mt_col band_cols[H_NCOLS] = {
	[H_BAND] = { "band", MT_COL_STR },
	[H_MESSAGES] = { "messages", MT_COL_NUM },
	[H_SIZE] = { "size", MT_COL_SIZE },
};

struct tally {
	uint64_t messages[NBANDS], bytes[NBANDS];
};

static int count_band(const struct mt_fetched *f, void *arg)
{
	struct tally *t = arg;
	size_t b = NBANDS - 1;
	while (b > 0 && f->size < bands[b].from)
		b--;
	t->messages[b]++;
	t->bytes[b] += f->size;
	return 0;
}

static int band_of_folder(struct mt_ctx *ctx, const char *folder, struct tally *t)
{
	struct mt_folder_state fs;
	struct mt_fetch_spec spec = { .size = 1 };
	uint32_t *uids = NULL;
	char *wire = NULL;
	size_t n = 0;
	int r = mt_open_folder(ctx->s, folder, 1, &wire, &fs, &ctx->err);
	free(wire);
	if (r == MT_OK)
		r = mt_uid_search(ctx->s, "ALL", &uids, &n, &ctx->err);
	if (r == MT_OK && n)
		r = mt_fetch_each(ctx->s, uids, n, &spec, count_band, t, &ctx->err);
	free(uids);
	return r;
}

static int du_histogram(struct mt_ctx *ctx, const struct mt_mailboxes *m)
{
	struct tally t = { 0 };
	int failed = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))
			continue;
		if (band_of_folder(ctx, m->v[i].name, &t) != MT_OK) {
			if (!mt_session_alive(ctx->s))
				return mt_fail_err(ctx, &ctx->err);
			mt_warn(ctx, "'%s': %s", m->v[i].name, ctx->err.msg);
			failed = 1;
		}
	}
	struct mt_table tb;
	mt_table_init(&tb, band_cols, H_NCOLS, ctx->fmt, mt_flag(&ctx->args, "human"));
	tb.type = "band";
	for (size_t b = 0; b < NBANDS; b++) {
		int row = mt_table_row(&tb);
		mt_table_str(&tb, row, H_BAND, bands[b].name);
		mt_table_num(&tb, row, H_MESSAGES, (long long)t.messages[b]);
		mt_table_num(&tb, row, H_SIZE, (long long)t.bytes[b]);
	}
	mt_table_print(&tb, stdout);
	mt_table_release(&tb);
	return failed ? MT_EPROTO : MT_OK;
}

static int du_main(struct mt_ctx *ctx)
{
	struct mt_mailboxes m;
	const char *sort = mt_arg(&ctx->args, "sort"), *top_s = mt_arg(&ctx->args, "top"), *depth_s = mt_arg(&ctx->args, "depth");
	const char *larger_s = mt_arg(&ctx->args, "larger");
	int messages = mt_flag(&ctx->args, "messages"), histogram = mt_flag(&ctx->args, "histogram");
	long top = -1, depth = 0;
	uint64_t larger = 0;
	int r, unmatched;

	sort_key = 0;
	if (sort) {
		if (strcmp(sort, "name") == 0) sort_key = 0;
		else if (strcmp(sort, "size") == 0) sort_key = 1;
		else if (strcmp(sort, "count") == 0) sort_key = 2;
		else return mt_fail(ctx, MT_EUSAGE, "bad --sort '%s': expected size, count or name", sort);
	}
	if (top_s && parse_count(top_s, &top) < 0)
		return mt_fail(ctx, MT_EUSAGE, "bad --top '%s': expected a whole number up to a million", top_s);
	if (depth_s && (parse_count(depth_s, &depth) < 0 || depth == 0))
		return mt_fail(ctx, MT_EUSAGE, "bad --depth '%s': expected a number of levels, 1 or more", depth_s);
	if (messages && histogram)
		return mt_fail(ctx, MT_EUSAGE, "--messages and --histogram are two different tables: give one");
	if ((messages || histogram) && (sort || depth_s || mt_flag(&ctx->args, "no-total")))
		return mt_fail(ctx, MT_EUSAGE, "--sort, --depth and --no-total are for the table of folders");
	if (histogram && top_s)
		return mt_fail(ctx, MT_EUSAGE, "--top is for the table of folders or --messages");
	if (larger_s && !messages)
		return mt_fail(ctx, MT_EUSAGE, "--larger goes with --messages");
	if (larger_s && (mt_parse_size(larger_s, &larger, &ctx->err) < 0 || larger == 0))
		return mt_fail(ctx, MT_EUSAGE, "bad --larger '%s': expected a size such as 500k or 10M", larger_s);

	if ((r = mt_list_args(ctx, messages || histogram || depth == 0, &m, &unmatched)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (m.n == 0 && unmatched) {
		/* nothing named was there: no table, no total of nothing */
		mt_mailboxes_release(&m);
		return MT_EDATA;
	}
	if (messages)
		r = du_messages(ctx, &m, top >= 0 ? (size_t)top : 20, larger);
	else if (histogram)
		r = du_histogram(ctx, &m);
	else
		r = du_sizes(ctx, &m, top, depth);
	mt_mailboxes_release(&m);
	/* mailtool(1): a folder argument that names nothing is 65, once the rest is done */
	return r == MT_OK && unmatched ? MT_EDATA : r;
}

static const struct mt_applet du_applet = {
	.name = "du",
	.summary = "messages and bytes per folder, with a total",
	.usage = "[options] [PATTERN...]",
	.description = "PATTERN is an IMAP LIST pattern in UTF-8 (default '*'); several are measured together. The\n"
		       "total counts every folder measured, including those left out by --top. --messages lists\n"
		       "the largest messages (default 20), --histogram counts messages and bytes per size band.",
	.opts = du_opts,
	.complete_first = "folder",
	.complete_rest = "folder",
	.flags = MT_APPLET_SESSION,
	.main = du_main,
};
MT_APPLET(du_applet);
