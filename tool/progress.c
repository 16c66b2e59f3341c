/* progress.c — a progress line on stderr for long runs (count/total, bytes,
 * rate, ETA), only when stderr is a terminal; redrawn at most five times a
 * second. */
#include "tool.h"

#include <string.h>
#include <unistd.h>

void mt_progress_start(struct mt_progress *p, const char *what, uint64_t total, int enabled)
{
	memset(p, 0, sizeof *p);
	p->what = what;
	p->total = total;
	p->on = enabled && isatty(2);
	p->t0 = mt_now_ms();
}

void mt_progress_step(struct mt_progress *p, uint64_t n)
{
	mt_progress_add(p, n, 0);
}

void mt_progress_add(struct mt_progress *p, uint64_t n, uint64_t bytes)
{
	double now = mt_now_ms();
	p->done += n;
	p->bytes += bytes;
	if (!p->on || (now - p->last < 200 && (p->total == 0 || p->done < p->total)))
		return;
	p->last = now;
	double secs = (now - p->t0) / 1000.0;
	double rate = secs > 0 ? (double)p->done / secs : 0, brate = secs > 0 ? (double)p->bytes / secs : 0;
	char b[32], bt[32];
	if (p->total)
		fprintf(stderr, "\r%s: %llu/%llu", p->what, (unsigned long long)p->done, (unsigned long long)p->total);
	else
		fprintf(stderr, "\r%s: %llu", p->what, (unsigned long long)p->done);
	if (p->unit)
		fprintf(stderr, " %s", p->unit);
	if (p->bytes_total)
		fprintf(stderr, ", %s/%s", mt_human_size(b, sizeof b, p->bytes), mt_human_size(bt, sizeof bt, p->bytes_total));
	else if (p->bytes)
		fprintf(stderr, ", %s", mt_human_size(b, sizeof b, p->bytes));
	if (rate > 0)
		fprintf(stderr, ", %.1f/s", rate);
	if (brate > 0 && (p->bytes || p->bytes_total))
		fprintf(stderr, ", %s/s", mt_human_size(b, sizeof b, (uint64_t)brate));
	/* by bytes where they are known: one big message is most of the time */
	if (p->bytes_total && brate > 0 && p->bytes_total > p->bytes)
		fprintf(stderr, ", ETA %.0f s", (double)(p->bytes_total - p->bytes) / brate);
	else if (!p->bytes_total && rate > 0 && p->total > p->done)
		fprintf(stderr, ", ETA %.0f s", (double)(p->total - p->done) / rate);
	fputs("\033[K", stderr);
	p->shown = 1;
}

void mt_progress_end(struct mt_progress *p)
{
	if (p->on && p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}
