/* trace.h — the conversation with a server as --trace shows it: "S: " and
 * "C: " lines, terminal-safe (controls escaped, UTF-8 shown only when whole),
 * long lines cut. Shared by the IMAP session and the ManageSieve client;
 * what is secret never reaches it (the callers redact first). */
#ifndef MT_TRACE_H
#define MT_TRACE_H

#include <stddef.h>
#include <stdio.h>

enum { MT_TRACE_SERVER, MT_TRACE_CLIENT };

struct mt_trace {
	FILE *f;                /* where the conversation goes, or NULL: nowhere */
	int bol[2];             /* at beginning of line, per direction */
	int linelen[2];
	char pend[2][5];        /* a UTF-8 sequence not yet whole, per direction */
	int npend[2];
};

void mt_trace_init(struct mt_trace *t, FILE *f);
/* size bytes in direction dir (MT_TRACE_*); nothing when t->f is NULL */
void mt_trace_out(struct mt_trace *t, int dir, const char *str, size_t size);
/* The line that stands for what was not shown, on a line of its own. */
void mt_trace_redacted(struct mt_trace *t, int dir);

#endif
