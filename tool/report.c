/* report.c — the result table of the applets that remove or move mail
 * (folder, action, messages, size) and the one-line-per-message listing. */
#include "tool.h"

#include "../lib/select.h"
#include "../lib/plan.h"

#include <time.h>

enum { R_FOLDER, R_ACTION, R_MESSAGES, R_SIZE, R_NCOLS };
static const struct mt_col report_cols[R_NCOLS] = {
	[R_FOLDER] = { "folder", MT_COL_STR },
	[R_ACTION] = { "action", MT_COL_STR },
	[R_MESSAGES] = { "messages", MT_COL_NUM },
	[R_SIZE] = { "size", MT_COL_SIZE },
};

void mt_report_init(struct mt_table *t, enum mt_fmt fmt, int human)
{
	mt_table_init(t, report_cols, R_NCOLS, fmt, human);
	t->type = "folder";
}

void mt_report_row(struct mt_table *t, const char *folder, const char *action, uint64_t n, uint64_t bytes)
{
	int row = mt_table_row(t);
	mt_table_str(t, row, R_FOLDER, folder);
	mt_table_str(t, row, R_ACTION, action);
	mt_table_num(t, row, R_MESSAGES, (long long)n);
	mt_table_num(t, row, R_SIZE, (long long)bytes);
}

void mt_report_total(struct mt_table *t, const char *action, uint64_t n, uint64_t bytes)
{
	int row = mt_table_row_type(t, "total");
	mt_table_label(t, row, R_FOLDER, "(total)");
	mt_table_str(t, row, R_ACTION, action);
	mt_table_num(t, row, R_MESSAGES, (long long)n);
	mt_table_num(t, row, R_SIZE, (long long)bytes);
}

enum { M_FOLDER, M_UID, M_DATE, M_SIZE, M_FROM, M_SUBJECT, M_NCOLS };
static const struct mt_col msg_cols[M_NCOLS] = {
	[M_FOLDER] = { "folder", MT_COL_STR },
	[M_UID] = { "uid", MT_COL_NUM },
	[M_DATE] = { "date", MT_COL_STR },
	[M_SIZE] = { "size", MT_COL_SIZE },
	[M_FROM] = { "from", MT_COL_STR },
	[M_SUBJECT] = { "subject", MT_COL_STR },
};

void mt_report_messages_init(struct mt_table *t, enum mt_fmt fmt, int human)
{
	mt_table_init(t, msg_cols, M_NCOLS, fmt, human);
	t->type = "message";
}

void mt_report_message_row(struct mt_table *t, const char *folder, uint32_t uid, time_t internaldate, uint64_t size,
			   const char *from, const char *subject)
{
	struct tm tm;
	char date[32];
	int row = mt_table_row(t);
	mt_table_str(t, row, M_FOLDER, folder);
	mt_table_num(t, row, M_UID, uid);
	/* what the server did not say is absent (null), not 1970 or "" */
	if (internaldate > 0 && gmtime_r(&internaldate, &tm)) {
		strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
		mt_table_str(t, row, M_DATE, date);
	}
	mt_table_num(t, row, M_SIZE, (long long)size);
	mt_table_str(t, row, M_FROM, from);
	mt_table_str(t, row, M_SUBJECT, subject);
}

void mt_report_messages(const struct mt_selection *sel, enum mt_fmt fmt, int human, int *header_done, FILE *f)
{
	struct mt_table t;
	mt_report_messages_init(&t, fmt, human);
	/* one TSV stream: its header once, however many folders list */
	t.no_header = fmt == MT_FMT_TSV && *header_done;
	for (size_t i = 0; i < sel->n; i++) {
		const struct mt_msg *m = &sel->msgs[i];
		mt_report_message_row(&t, sel->folder, m->uid, m->internaldate, m->size, m->from, m->subject);
	}
	if (t.rows) {
		mt_table_print(&t, f);
		*header_done = 1;
	}
	mt_table_release(&t);
}

void mt_report_messages_end(enum mt_fmt fmt, int *header_done, FILE *f)
{
	if (fmt != MT_FMT_TSV || *header_done)
		return;
	/* a TSV stream has its header even when nothing was listed */
	struct mt_table t;
	mt_report_messages_init(&t, fmt, 0);
	mt_table_print(&t, f);
	mt_table_release(&t);
	*header_done = 1;
}



/* ---- what a copy or move to another account left behind ----------------- */

static const char *const skip_moved[] = {
	[MT_SKIP_NUL] = "not moved: NUL byte",          [MT_SKIP_SIZE] = "not moved: size differs",
	[MT_SKIP_NOBODY] = "not moved: no text sent",   [MT_SKIP_GONE] = "not moved: gone meanwhile",
	[MT_SKIP_UNCONFIRMED] = "not moved: copy not confirmed",
};
static const char *const skip_copied[] = {
	[MT_SKIP_NUL] = "not copied: NUL byte",         [MT_SKIP_SIZE] = "not copied: size differs",
	[MT_SKIP_NOBODY] = "not copied: no text sent",  [MT_SKIP_GONE] = "not copied: gone meanwhile",
	[MT_SKIP_UNCONFIRMED] = "not copied: copy not confirmed",
};

uint64_t mt_report_skips(struct mt_ctx *ctx, const struct mt_op *op)
{
	const char *verb = op->kind == MT_OP_MOVE ? "moved" : "copied";
	for (size_t i = 0; i < op->nskipped; i++) {
		const struct mt_skip *k = &op->skipped[i];
		char sizes[64] = "";
		if (k->why == MT_SKIP_SIZE)
			snprintf(sizes, sizeof sizes, " (%u reported, %llu sent)", k->size, (unsigned long long)k->got);
		if (k->why == MT_SKIP_GONE)
			mt_warn(ctx, "'%s' UID %u: not %s to account '%s' folder '%s': %s", op->folder, k->uid, verb,
				op->account ? op->account : "", k->target, mt_skip_reason(k->why));
		else
			mt_warn(ctx, "'%s' UID %u: not %s to account '%s' folder '%s': %s%s; it stays in '%s'", op->folder,
				k->uid, verb, op->account ? op->account : "", k->target, mt_skip_reason(k->why), sizes,
				op->folder);
	}
	return op->nskipped;
}

const char *mt_skip_row(const struct mt_op *op, int why, uint64_t *n, uint64_t *bytes)
{
	if (why < 1 || why > MT_SKIP_UNCONFIRMED)
		return NULL;
	*n = *bytes = 0;
	for (size_t i = 0; i < op->nskipped; i++)
		if ((int)op->skipped[i].why == why) {
			++*n;
			*bytes += op->skipped[i].size;
		}
	return op->kind == MT_OP_MOVE ? skip_moved[why] : skip_copied[why];
}
