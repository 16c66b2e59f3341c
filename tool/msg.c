/* msg.c — one line on stderr for an error or a note, named after the applet
 * of the run it belongs to, with what a server or sender wrote escaped. */
#include "tool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* "mailtool APPLET: message" on stderr, one line: folder names and server
 * text in it may carry anything, so controls are escaped (mt_term_safe). */
static void say(const struct mt_ctx *ctx, const char *fmt, va_list ap)
{
	char *msg = NULL, *safe;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	safe = mt_term_safe(msg ? msg : "(message lost: out of memory)");
	fprintf(stderr, "mailtool %s: %s\n", ctx && ctx->ap ? ctx->ap->name : "", safe);
	free(safe);
	free(msg);
}

int mt_fail(struct mt_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(ctx, fmt, ap);
	va_end(ap);
	return code;
}

void mt_warn(struct mt_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(ctx, fmt, ap);
	va_end(ap);
}

int mt_fail_err(struct mt_ctx *ctx, const struct mt_err *e)
{
	return mt_fail(ctx, e->code ? e->code : MT_ESOFT, "%s", e->msg[0] ? e->msg : "failed");
}
