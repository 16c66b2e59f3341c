/* trace.c — the --trace writer shared by every protocol lib/ speaks. */
#include "trace.h"

#include "mt.h"

#include <ctype.h>
#include <stdlib.h>

void mt_trace_init(struct mt_trace *t, FILE *f)
{
	t->f = f;
	t->bol[0] = t->bol[1] = 1;
	t->linelen[0] = t->linelen[1] = 0;
	t->npend[0] = t->npend[1] = 0;
}

static void flush_pending(struct mt_trace *t, int dir)
{
	if (t->npend[dir] == 0)
		return;
	t->pend[dir][t->npend[dir]] = '\0';
	char *safe = mt_term_safe(t->pend[dir]);
	fputs(safe, t->f);
	free(safe);
	t->npend[dir] = 0;
}

void mt_trace_out(struct mt_trace *t, int dir, const char *str, size_t size)
{
	static const char *const prefix[2] = { "S: ", "C: " };
	if (t->f == NULL)
		return;
	for (size_t i = 0; i < size; i++) {
		if (t->bol[dir]) {
			fputs(prefix[dir], t->f);
			t->bol[dir] = 0;
			t->linelen[dir] = 0;
		}
		unsigned char ch = (unsigned char)str[i];
		if (ch >= 0x80 && (ch & 0xC0) == 0x80 && t->npend[dir] > 0 && t->npend[dir] < 4) {
			/* a continuation byte of the UTF-8 sequence being read */
			t->pend[dir][t->npend[dir]++] = (char)ch;
			int need = (unsigned char)t->pend[dir][0] >= 0xF0 ? 4 : (unsigned char)t->pend[dir][0] >= 0xE0 ? 3 : 2;
			if (t->npend[dir] == need)
				flush_pending(t, dir);
			continue;
		}
		flush_pending(t, dir);   /* an unfinished sequence ends here: shown escaped */
		if (ch == '\n') {
			fputc('\n', t->f);
			t->bol[dir] = 1;
			continue;
		}
		if (ch == '\r')
			continue;
		if (++t->linelen[dir] == 400)
			fputs(" [...]", t->f);
		if (t->linelen[dir] >= 400)
			continue;
		if (ch >= 0xC0) {
			/* a UTF-8 lead byte: shown once the sequence is whole and safe
			 * (no C1 control or bidirectional override reaches the terminal) */
			t->pend[dir][0] = (char)ch;
			t->npend[dir] = 1;
			continue;
		}
		fputc(isprint(ch) ? ch : '.', t->f);
	}
	fflush(t->f);
}

void mt_trace_redacted(struct mt_trace *t, int dir)
{
	if (t->f == NULL)
		return;
	if (!t->bol[dir])
		mt_trace_out(t, dir, "\n", 1);
	mt_trace_out(t, dir, "<credentials redacted>\n", 23);
}
