/* progress.c — a progress line on stderr for long runs (count/total, rate,
 * ETA), only when stderr is a terminal; redrawn at most five times a second. */
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
	double now = mt_now_ms();
	p->done += n;
	if (!p->on || (now - p->last < 200 && p->done < p->total))
		return;
	p->last = now;
	double secs = (now - p->t0) / 1000.0;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	fprintf(stderr, "\r%s: %llu/%llu", p->what, (unsigned long long)p->done, (unsigned long long)p->total);
	if (rate > 0)
		fprintf(stderr, ", %.1f/s", rate);
	if (rate > 0 && p->total > p->done)
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
