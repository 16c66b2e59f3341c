/* batch.c — many applet invocations on one session per account: one per
 * line of a file (or stdin), or ';'-separated with -e. Logging in is the slow
 * part of a short IMAP session; a help-desk script pays it once. */
#include "../tool/tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct mt_opt batch_opts[] = {
	{ .lng = "execute", .shrt = 'e', .kind = MT_ARG, .metavar = "COMMANDS",
	  .help = "run these ';'-separated applet invocations instead of reading a file" },
	{ .lng = "stop-on-error", .kind = MT_FLAG, .help = "stop at the first line that fails" },
	{ .lng = "account", .shrt = 'a', .kind = MT_ARG, .metavar = "NAME",
	  .help = "account for every line that names none", .complete = "account" },
	{ .lng = "as", .kind = MT_ARG, .metavar = "USER", .help = "act as USER on every line (admin account)" },
	{ .lng = "config", .kind = MT_ARG, .metavar = "FILE", .help = "read configuration from FILE", .complete = "file" },
	{ .lng = "quiet", .shrt = 'q', .kind = MT_FLAG, .help = "report only the lines that fail (the default)" },
	{ .lng = "verbose", .shrt = 'v', .kind = MT_COUNT, .help = "report every line's exit status, not only failures" },
	MT_OPT_END,
};

struct batch {
	struct mt_ctx *ctx;
	int stop, verbose, first_error;
	long lineno;
};

/* Run one line's words; returns 0 to go on, 1 to stop. */
static int run_line(struct batch *b, char **w, int n, const char *text)
{
	const struct mt_applet *ap;
	int r;

	if (n == 0)
		return 0;
	ap = mt_applet_find(w[0]);
	if (ap == NULL || strcmp(w[0], "batch") == 0) {
		r = ap ? MT_EUSAGE : MT_ENOAPPLET;
		mt_fail(b->ctx, r, "line %ld: %s applet '%s'", b->lineno, ap ? "no nested" : "unknown", w[0]);
	} else {
		/* the batch's own account options come first, so a line's own win */
		char **argv = mt_xmalloc(sizeof *argv * (size_t)(n + 7));
		int argc = 0;
		const char *v;
		if (ap->flags & (MT_APPLET_SESSION | MT_APPLET_ACCOUNT)) {
			if ((v = mt_arg(&b->ctx->args, "config"))) { argv[argc++] = "--config"; argv[argc++] = (char *)v; }
			if ((v = mt_arg(&b->ctx->args, "account"))) { argv[argc++] = "-a"; argv[argc++] = (char *)v; }
			if ((v = mt_arg(&b->ctx->args, "as"))) { argv[argc++] = "--as"; argv[argc++] = (char *)v; }
		}
		for (int i = 1; i < n; i++)
			argv[argc++] = w[i];
		argv[argc] = NULL;
		fflush(stdout);
		r = mt_run_applet(ap, argc, argv);
		fflush(stdout);
		free(argv);
	}
	if (r != MT_OK && b->first_error == MT_OK)
		b->first_error = r;
	/* cron manners: a line that worked says nothing unless asked (-v) */
	if (b->verbose || r != MT_OK)
		mt_warn(b->ctx, "line %ld: exit %d: %s", b->lineno, r, text);
	return r != MT_OK && b->stop;
}

/* Trimmed copy of a command for the report line. */
static char *trimmed(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) { s++; n--; }
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
	return mt_xasprintf("%.*s", (int)n, s);
}

static int batch_main(struct mt_ctx *ctx)
{
	struct batch b = { .ctx = ctx, .stop = mt_flag(&ctx->args, "stop-on-error"),
			   .verbose = mt_flag(&ctx->args, "verbose") && !mt_flag(&ctx->args, "quiet"), .first_error = MT_OK };
	const char *cmds = mt_arg(&ctx->args, "execute");
	char **w;
	int n;

	if ((cmds && ctx->args.argc) || ctx->args.argc > 1)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool batch %s", ctx->ap->usage);
	mt_session_cache(1);
	if (cmds) {
		const char *p = cmds, *rest;
		for (b.lineno = 1; p; b.lineno++) {
			n = mt_split_words(p, 1, &w, &rest);
			if (n < 0) {
				mt_session_cache(0);
				return mt_fail(ctx, MT_EUSAGE, "command %ld: unterminated quote", b.lineno);
			}
			char *text = trimmed(p, rest ? (size_t)(rest - 1 - p) : strlen(p));
			int stop = run_line(&b, w, n, text);
			free(text);
			mt_words_free(w);
			if (stop)
				break;
			p = rest;
		}
	} else {
		const char *path = ctx->args.argc ? ctx->args.argv[0] : "-";
		FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
		char *line = NULL;
		size_t cap = 0;
		if (f == NULL) {
			mt_session_cache(0);
			return mt_fail(ctx, MT_EIO, "cannot read '%s': %s", path, strerror(errno));
		}
		while (getline(&line, &cap, f) >= 0) {
			b.lineno++;
			n = mt_split_words(line, 0, &w, NULL);
			if (n < 0) {
				mt_fail(ctx, MT_EUSAGE, "%s:%ld: unterminated quote", path, b.lineno);
				if (b.first_error == MT_OK)
					b.first_error = MT_EUSAGE;
				if (b.stop)
					break;
				continue;
			}
			char *text = trimmed(line, strlen(line));
			int stop = run_line(&b, w, n, text);
			free(text);
			mt_words_free(w);
			if (stop)
				break;
		}
		free(line);
		if (f != stdin)
			fclose(f);
	}
	mt_session_cache(0);
	return b.first_error;
}

static const struct mt_applet batch_applet = {
	.name = "batch",
	.summary = "run many applet invocations on one session per account",
	.usage = "[options] [FILE | -] | -e COMMANDS",
	.description = "One applet invocation per line (shell-like quoting, '#' comments), or ';'-separated\n"
		       "with -e. Lines for the same account share one logged-in session. A line that fails\n"
		       "is reported on stderr (every line with -v); the batch exits with the first non-zero one.\n"
		       "'mailtool -e CMDS' is short for 'mailtool batch -e CMDS'.",
	.opts = batch_opts,
	.complete_first = "file",
	.flags = 0,
	.main = batch_main,
};
MT_APPLET(batch_applet);
