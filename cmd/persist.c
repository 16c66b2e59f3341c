/* persist.c — the persist applet: list the background processes that keep
 * sessions for --persist (tool/persist.c), or stop them. */
#include "../tool/tool.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct mt_opt persist_opts[] = {
	{ .lng = "status", .kind = MT_FLAG, .help = "list the live persisted sessions (the default)" },
	{ .lng = "stop", .kind = MT_FLAG, .help = "stop them (or only ACCOUNT's)" },
	{ .lng = "json", .kind = MT_FLAG, .help = "one JSON object per line" },
	{ .lng = "tsv", .kind = MT_FLAG, .help = "tab-separated values with a header line" },
	MT_OPT_END,
};

/* For scripts, a record per socket: its state (live, stopped, stale) and
 * the session's own line (account, user, server, process, idle time). */
enum { P_SOCKET, P_STATE, P_SESSION, P_NCOLS };
static const struct mt_col persist_cols[P_NCOLS] = {
	[P_SOCKET] = { "socket", MT_COL_STR },
	[P_STATE] = { "state", MT_COL_STR },
	[P_SESSION] = { "session", MT_COL_STR },
};

static void say(struct mt_ctx *ctx, struct mt_table *t, const char *path, const char *state, const char *session)
{
	if (ctx->fmt == MT_FMT_HUMAN) {
		if (strcmp(state, "live") == 0)
			fputs(session, stdout);
		else
			printf("%s %s\n", strcmp(state, "stale") == 0 ? "removed stale" : state, path);
		return;
	}
	int row = mt_table_row(t);
	mt_table_str(t, row, P_SOCKET, path);
	mt_table_str(t, row, P_STATE, state);
	if (session) {
		char *one = mt_xasprintf("%.*s", (int)strcspn(session, "\n"), session);
		mt_table_str(t, row, P_SESSION, one);
		free(one);
	}
}

static int persist_main(struct mt_ctx *ctx)
{
	const char *only = ctx->args.argc ? ctx->args.argv[0] : NULL;
	int stop = mt_flag(&ctx->args, "stop"), n = 0;
	char *dir = mt_runtime_dir(&ctx->err);
	if (dir == NULL)
		return mt_fail_err(ctx, &ctx->err);
	DIR *dh = opendir(dir);
	struct dirent *de;
	struct mt_table t;
	mt_table_init(&t, persist_cols, P_NCOLS, ctx->fmt, 0);
	t.type = "session";
	while (dh && (de = readdir(dh)) != NULL) {
		char reply[700];
		size_t nl = strlen(de->d_name);
		if (strncmp(de->d_name, "persist-", 8) != 0 || nl < 5 || strcmp(de->d_name + nl - 5, ".sock") != 0)
			continue;   /* a socket; not the log of a tunnel beside it */
		char *path = mt_xasprintf("%s/%s", dir, de->d_name);
		int a = mt_persist_ask(path, "STATUS", reply, sizeof reply);
		if (a > 0) {
			/* serving a run: it says who it is once that is over */
			printf("%s: busy serving a run%s\n", path, stop ? "; not stopped" : "");
			n++;
		} else if (a < 0) {
			char *log = mt_persist_log_path(path);
			unlink(path);   /* nobody behind it any more, nor behind its log */
			unlink(log);
			free(log);
			say(ctx, &t, path, "stale", NULL);
		} else if (only == NULL || strncmp(reply, only, strlen(only)) == 0) {
			char status[sizeof reply];
			memcpy(status, reply, sizeof status);
			if (stop && mt_persist_ask(path, "STOP", reply, sizeof reply) == 0)
				say(ctx, &t, path, "stopped", status);
			else
				say(ctx, &t, path, "live", status);
			n++;
		}
		free(path);
	}
	if (dh)
		closedir(dh);
	free(dir);
	if (ctx->fmt != MT_FMT_HUMAN)
		mt_table_print(&t, stdout);
	else if (n == 0 && !stop)
		printf("no persisted sessions\n");
	mt_table_release(&t);
	return MT_OK;
}

static const struct mt_applet persist_applet = {
	.name = "persist",
	.summary = "list or stop the background processes that keep sessions for --persist",
	.usage = "[--status | --stop] [--json | --tsv] [ACCOUNT]",
	.description = "A run with --persist DURATION (or an account's persist setting) leaves a process that\n"
		       "holds the logged-in session; later runs of the same account and connection\n"
		       "settings use it instead of connecting (--no-persist opts out). It ends after\n"
		       "DURATION without use, or here with --stop.",
	.opts = persist_opts,
	.complete_first = "account",
	.flags = 0,
	.main = persist_main,
};
MT_APPLET(persist_applet);
