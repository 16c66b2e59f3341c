/* output.c — one table type rendered three ways: aligned columns for people,
 * JSON lines and TSV for scripts. Field names are the column names; the
 * schema (mailtool(1), OUTPUT) is kept here, not by each applet. */
#include "tool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t mt_json_escape(char *buf, size_t len, const char *s)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
#define PUT(c) do { if (n + 1 < len) buf[n] = (char)(c); n++; } while (0)
	PUT('"');
	while (*p) {
		uint32_t c = 0;
		int k = mt_utf8_seq(p, &c);
		if (k == 0) {
			c = 0xFFFD;   /* not UTF-8: JSON cannot carry the byte; the replacement character */
			k = 1;
		}
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT(c);
		} else if (c == '\n') {
			PUT('\\'); PUT('n');
		} else if (c == '\r') {
			PUT('\\'); PUT('r');
		} else if (c == '\t') {
			PUT('\\'); PUT('t');
		} else if (mt_term_unsafe(c) || c == 0xFFFD) {
			/* controls (C0, DEL, C1) and bidirectional overrides as \uXXXX:
			 * JSON shown on a terminal is as safe as the human output */
			char tmp[8];
			snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
			for (char *t = tmp; *t; t++)
				PUT(*t);
		} else {
			for (int i = 0; i < k; i++)
				PUT(p[i]);
		}
		p += k;
	}
	PUT('"');
#undef PUT
	if (len)
		buf[n < len ? n : len - 1] = '\0';
	return n;
}

void mt_json_str(FILE *f, const char *s)
{
	size_t n = mt_json_escape(NULL, 0, s);
	char *b = mt_xmalloc(n + 1);
	mt_json_escape(b, n + 1, s);
	fputs(b, f);
	free(b);
}

void mt_table_init(struct mt_table *t, const struct mt_col *cols, int ncols, enum mt_fmt fmt, int human)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	t->ncols = ncols;
	t->fmt = fmt;
	t->human = human;
}

int mt_table_row(struct mt_table *t)
{
	if (t->rows == t->cap) {
		int ncap = t->cap ? t->cap * 2 : 16;
		struct mt_cell *c = mt_xrealloc(t->cells, sizeof *c * (size_t)ncap * (size_t)t->ncols);
		memset(c + (size_t)t->cap * (size_t)t->ncols, 0,
		       sizeof *c * (size_t)(ncap - t->cap) * (size_t)t->ncols);
		t->cells = c;
		t->row_type = mt_xrealloc(t->row_type, sizeof *t->row_type * (size_t)ncap);
		t->cap = ncap;
	}
	t->row_type[t->rows] = NULL;
	return t->rows++;
}

int mt_table_row_type(struct mt_table *t, const char *type)
{
	int row = mt_table_row(t);
	t->row_type[row] = type;
	return row;
}

int mt_quiet_nothing(const struct mt_ctx *ctx, uint64_t done)
{
	return done == 0 && ctx->fmt == MT_FMT_HUMAN && !isatty(STDOUT_FILENO);
}

static struct mt_cell *cell(struct mt_table *t, int row, int col)
{
	return &t->cells[(size_t)row * (size_t)t->ncols + (size_t)col];
}

void mt_table_str(struct mt_table *t, int row, int col, const char *s)
{
	struct mt_cell *c = cell(t, row, col);
	free(c->s);
	c->s = s ? mt_xstrdup(s) : NULL;
	c->has = s != NULL;
	c->label = 0;
}

void mt_table_label(struct mt_table *t, int row, int col, const char *s)
{
	mt_table_str(t, row, col, s);
	cell(t, row, col)->label = 1;
}

void mt_table_bool(struct mt_table *t, int row, int col, int b)
{
	struct mt_cell *c = cell(t, row, col);
	c->n = b != 0;
	c->has = 1;
}

void mt_table_num(struct mt_table *t, int row, int col, long long n)
{
	struct mt_cell *c = cell(t, row, col);
	c->n = n;
	c->has = 1;
}

/* Text of a cell for human output (human: -h, sizes scaled) or TSV (human
 * -1); buf is scratch. */
static const char *cell_text(struct mt_table *t, struct mt_cell *c, enum mt_coltype type,
			     int human, char *buf, size_t len)
{
	if (!c->has)
		return "-";
	if (c->label)
		return human >= 0 ? c->s : "";
	switch (type) {
	case MT_COL_BOOL:
		return human >= 0 ? (c->n ? "yes" : "no") : (c->n ? "true" : "false");
	case MT_COL_STR:
		return c->s;
	case MT_COL_SIZE:
		if (human > 0)
			return mt_human_size(buf, len, (uint64_t)c->n);
		/* fall through */
	case MT_COL_NUM:
		snprintf(buf, len, "%lld", c->n);
		return buf;
	case MT_COL_PCT:
		/* stored as per-mille to keep one decimal */
		snprintf(buf, len, "%lld.%lld%%", c->n / 10, c->n % 10);
		return buf;
	}
	(void)t;
	return "";
}

/* Display width of UTF-8 text (one column per code point; good enough for folder names). */
static int width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void table_render(struct mt_table *t, FILE *f);

void mt_table_print(struct mt_table *t, FILE *f)
{
	if (t->fmt == MT_FMT_JSON) {
		table_render(t, f);   /* JSON escapes its own */
		return;
	}
	/* what a server or a sender wrote never reaches a terminal raw: every
	 * text cell of human and TSV output is shown with its controls escaped,
	 * the table itself left as it was */
	size_t n = (size_t)t->rows * (size_t)t->ncols;
	char **raw = mt_xmalloc(sizeof *raw * (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		raw[i] = t->cells[i].s;
		if (raw[i])
			t->cells[i].s = mt_term_safe(raw[i]);
	}
	table_render(t, f);
	for (size_t i = 0; i < n; i++)
		if (raw[i]) {
			free(t->cells[i].s);
			t->cells[i].s = raw[i];
		}
	free(raw);
}

static void table_render(struct mt_table *t, FILE *f)
{
	char buf[64];
	int r, c;

	if (t->fmt == MT_FMT_JSON) {
		/* every key on every line: what has no value is null */
		for (r = 0; r < t->rows; r++) {
			fprintf(f, "{\"schema\":%d,\"type\":", MT_SCHEMA);
			mt_json_str(f, t->row_type[r] ? t->row_type[r] : t->type ? t->type : "record");
			for (c = 0; c < t->ncols; c++) {
				struct mt_cell *x = cell(t, r, c);
				fputc(',', f);
				mt_json_str(f, t->cols[c].name);
				fputc(':', f);
				if (!x->has || x->label)
					fputs("null", f);
				else if (t->cols[c].type == MT_COL_STR)
					mt_json_str(f, x->s);
				else if (t->cols[c].type == MT_COL_BOOL)
					fputs(x->n ? "true" : "false", f);
				else if (t->cols[c].type == MT_COL_PCT)
					fprintf(f, "%lld.%lld", x->n / 10, x->n % 10);
				else
					fprintf(f, "%lld", x->n);
			}
			fputs("}\n", f);
		}
		return;
	}
	if (t->fmt == MT_FMT_TSV) {
		if (!t->no_header)
			for (c = 0; c < t->ncols; c++)
				fprintf(f, "%s%s", t->cols[c].name, c + 1 < t->ncols ? "\t" : "\n");
		for (r = 0; r < t->rows; r++) {
			if (t->row_type[r])
				continue;   /* one record type per stream: totals are JSON's and people's */
			for (c = 0; c < t->ncols; c++) {
				struct mt_cell *x = cell(t, r, c);
				const char *s;
				if (!x->has)
					s = "";
				else if (t->cols[c].type == MT_COL_PCT) {
					snprintf(buf, sizeof buf, "%lld.%lld", x->n / 10, x->n % 10);
					s = buf;
				} else
					s = cell_text(t, x, t->cols[c].type, -1, buf, sizeof buf);
				/* (tabs and line ends in a field were escaped above) */
				fputs(s, f);
				fputc(c + 1 < t->ncols ? '\t' : '\n', f);
			}
		}
		return;
	}
	if (t->vertical) {
		int wn = 0;
		for (c = 0; c < t->ncols; c++)
			if (width(t->cols[c].name) > wn)
				wn = width(t->cols[c].name);
		for (r = 0; r < t->rows; r++)
			for (c = 0; c < t->ncols; c++) {
				struct mt_cell *x = cell(t, r, c);
				if (!x->has || t->cols[c].machine)
					continue;
				fprintf(f, "%s:%*s %s\n", t->cols[c].name, wn - width(t->cols[c].name), "",
					cell_text(t, x, t->cols[c].type, t->human, buf, sizeof buf));
			}
		return;
	}
	/* human: aligned columns, numbers right-aligned, last column unpadded */
	int *w = mt_xmalloc(sizeof *w * (size_t)t->ncols), shown = t->ncols;
	while (shown > 0 && t->cols[shown - 1].machine)
		shown--;
	for (c = 0; c < t->ncols; c++)
		w[c] = t->no_header ? 0 : width(t->cols[c].name);
	for (r = 0; r < t->rows; r++)
		for (c = 0; c < t->ncols; c++) {
			int x = width(cell_text(t, cell(t, r, c), t->cols[c].type, t->human, buf, sizeof buf));
			if (x > w[c])
				w[c] = x;
		}
	for (r = t->no_header ? 0 : -1; r < t->rows; r++) {
		for (c = 0; c < shown; c++) {
			if (t->cols[c].machine)
				continue;
			const char *s = r < 0 ? t->cols[c].name
				: cell_text(t, cell(t, r, c), t->cols[c].type, t->human, buf, sizeof buf);
			int pad = w[c] - width(s);
			int right = t->cols[c].type != MT_COL_STR && t->cols[c].type != MT_COL_BOOL;
			int last = c + 1 == shown;
			if (right)
				fprintf(f, "%*s", pad, "");
			fputs(s, f);
			if (!right && !last)
				fprintf(f, "%*s", pad, "");
			fputs(last ? "\n" : "  ", f);
		}
	}
	free(w);
}

void mt_table_release(struct mt_table *t)
{
	for (int i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i].s);
	free(t->cells);
	free(t->row_type);
	t->cells = NULL;
	t->row_type = NULL;
	t->rows = t->cap = 0;
}
