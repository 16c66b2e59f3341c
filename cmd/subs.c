/* subs.c — subscription lists: show, add, remove, check, fix, and carry a
 * user's view from one server or client to another (export/import). */
#include "../tool/tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct mt_opt subs_opts[] = {
	{ .lng = "all", .kind = MT_FLAG,
	  .help = "add: every existing folder; fix: also subscribe folders nobody subscribed to" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show what would change" },
	{ .lng = "exact", .kind = MT_FLAG, .help = "import: also unsubscribe every folder the list does not name" },
	MT_OPT_END,
};

static const char *const subcommands[] = { "list", "add", "remove", "check", "fix", "export", "import", NULL };

enum { S_FOLDER, S_STATE, S_NCOLS };
static const struct mt_col subs_cols[S_NCOLS] = {
	[S_FOLDER] = { "folder", MT_COL_STR },
	[S_STATE] = { "state", MT_COL_STR },
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct mt_mailbox *)a)->name, ((const struct mt_mailbox *)b)->name);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* INBOX is named in any case */
static int listed_inbox(char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(want[i], "INBOX") == 0)
			return 1;
	return 0;
}

static int exists(const struct mt_mailbox *b)
{
	return !(b->flags & (MT_MBX_NONEXISTENT | MT_MBX_NOSELECT));
}

static int subscribed(const struct mt_mailbox *b)
{
	return (b->flags & MT_MBX_SUBSCRIBED) != 0;
}

static void row(struct mt_table *t, const char *folder, const char *state)
{
	int r = mt_table_row(t);
	mt_table_str(t, r, S_FOLDER, folder);
	mt_table_str(t, r, S_STATE, state);
}

/* Change one subscription (or say what would change); counts failures. */
static int change(struct mt_ctx *ctx, struct mt_table *t, const char *name, int on, int *failed)
{
	int dry = mt_flag(&ctx->args, "dry-run");
	if (!dry && mt_subscribe(ctx->s, name, on, &ctx->err) != MT_OK) {
		if (ctx->err.code == MT_ETEMP || ctx->err.code == MT_EPROTO)
			return mt_fail_err(ctx, &ctx->err);   /* the session is gone */
		mt_fail_err(ctx, &ctx->err);
		(*failed)++;
		return MT_OK;
	}
	row(t, name, on ? (dry ? "would subscribe" : "subscribed") : (dry ? "would unsubscribe" : "unsubscribed"));
	return MT_OK;
}

/* Names from FILE or stdin, one per line; blank lines and CR ignored. */
static int read_names(struct mt_ctx *ctx, const char *path, char ***out, size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	*out = NULL;
	*n = 0;
	if (f == NULL)
		return mt_fail(ctx, MT_EIO, "cannot read '%s': %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (memchr(line, '\r', (size_t)len) || strlen(line) != (size_t)len) {
			free(line);
			for (size_t i = 0; i < *n; i++)
				free((*out)[i]);
			free(*out);
			*out = NULL;
			*n = 0;
			if (f != stdin)
				fclose(f);
			return mt_fail(ctx, MT_EDATA, "%s:%ld: a folder name with CR or NUL", path, lineno);
		}
		*out = realloc(*out, sizeof **out * (*n + 1));
		if (*out == NULL)
			abort();
		(*out)[(*n)++] = mt_xstrdup(line);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return MT_OK;
}

static int subs_check(struct mt_ctx *ctx)
{
	const char *cmd = ctx->args.argc ? ctx->args.argv[0] : "list";
	for (const char *const *c = subcommands; *c; c++)
		if (strcmp(cmd, *c) == 0) {
			int nargs = ctx->args.argc > 0 ? ctx->args.argc - 1 : 0;
			if ((!strcmp(cmd, "add") || !strcmp(cmd, "remove")) && nargs == 0 &&
			    !(strcmp(cmd, "add") == 0 && mt_flag(&ctx->args, "all")))
				return mt_fail(ctx, MT_EUSAGE, "subs %s needs at least one PATTERN%s", cmd,
					       strcmp(cmd, "add") == 0 ? " (or --all)" : "");
			if ((!strcmp(cmd, "list") || !strcmp(cmd, "check") || !strcmp(cmd, "fix") || !strcmp(cmd, "export")) && nargs)
				return mt_fail(ctx, MT_EUSAGE, "subs %s takes no arguments", cmd);
			if (!strcmp(cmd, "import") && nargs > 1)
				return mt_fail(ctx, MT_EUSAGE, "subs import takes one FILE (or -)");
			if (strcmp(cmd, "import") != 0 && mt_flag(&ctx->args, "exact"))
				return mt_fail(ctx, MT_EUSAGE, "--exact goes with import");
			return MT_OK;
		}
	return mt_fail(ctx, MT_EUSAGE, "unknown subcommand '%s' (list, add, remove, check, fix, export, import)", cmd);
}

static int subs_main(struct mt_ctx *ctx)
{
	const char *cmd = ctx->args.argc ? ctx->args.argv[0] : "list";
	char **argv = ctx->args.argc ? ctx->args.argv + 1 : ctx->args.argv;
	int argc = ctx->args.argc ? ctx->args.argc - 1 : 0;
	struct mt_mailboxes m;
	struct mt_table t;
	char delim = 0;
	int r = MT_OK, failed = 0, off = 0;
	size_t missing = 0;

	/* the import list is read first: a bad file changes nothing */
	char **want = NULL;
	size_t nwant = 0;
	if (strcmp(cmd, "import") == 0 && (r = read_names(ctx, argc ? argv[0] : "-", &want, &nwant)) != MT_OK)
		return r;
	if (mt_list(ctx->s, "*", &m, &ctx->err) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	if (mt_delimiter(ctx->s, &delim, &ctx->err) != MT_OK) {
		mt_mailboxes_release(&m);
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	mt_sort(m.v, m.n, sizeof *m.v, by_name);
	mt_table_init(&t, subs_cols, S_NCOLS, ctx->fmt, 0);

	if (strcmp(cmd, "list") == 0) {
		for (size_t i = 0; i < m.n; i++)
			if (subscribed(&m.v[i]))
				row(&t, m.v[i].name, exists(&m.v[i]) ? "ok" : "gone");
	} else if (strcmp(cmd, "export") == 0) {
		for (size_t i = 0; i < m.n; i++)
			if (subscribed(&m.v[i])) {
				/* one name a line: a name with a control character
				 * (mUTF-7 can encode any) is shown escaped, never raw */
				char *safe = mt_term_safe(m.v[i].name);
				printf("%s\n", safe);
				free(safe);
			}
	} else if (strcmp(cmd, "check") == 0 || strcmp(cmd, "fix") == 0) {
		int fix = cmd[0] == 'f', all = mt_flag(&ctx->args, "all");
		for (size_t i = 0; i < m.n && r == MT_OK; i++) {
			struct mt_mailbox *b = &m.v[i];
			if (subscribed(b) && (b->flags & MT_MBX_NONEXISTENT)) {
				off++;
				r = fix ? change(ctx, &t, b->name, 0, &failed) : (row(&t, b->name, "dangling subscription"), MT_OK);
			} else if (!subscribed(b) && exists(b)) {
				off++;
				if (!fix)
					row(&t, b->name, "not subscribed");
				else if (all)
					r = change(ctx, &t, b->name, 1, &failed);
			}
		}
	} else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "remove") == 0) {
		int on = cmd[0] == 'a';
		const char *star = "*";
		const char *const *pats = (const char *const *)argv;
		int npats = argc;
		if (on && mt_flag(&ctx->args, "all")) {
			pats = &star;
			npats = 1;
		}
		for (int k = 0; k < npats && r == MT_OK; k++) {
			int matched = 0;
			for (size_t i = 0; i < m.n && r == MT_OK; i++) {
				struct mt_mailbox *b = &m.v[i];
				/* add: existing folders; remove: any subscription, gone or not */
				if (on ? !exists(b) : !subscribed(b))
					continue;
				if (!mt_wildmatch(pats[k], b->name, delim) &&
				    !(strcasecmp(pats[k], "INBOX") == 0 && strcmp(b->wire, "INBOX") == 0))
					continue;
				matched = 1;
				if (on != subscribed(b))
					r = change(ctx, &t, b->name, on, &failed);
				else
					row(&t, b->name, on ? "already subscribed" : "already unsubscribed");
			}
			if (!matched && r == MT_OK) {
				mt_warn(ctx, "'%s' matches no %s", pats[k], on ? "folder" : "subscription");
				failed++;
			}
		}
	} else {
		/* import: every listed folder that exists here is subscribed; one that
		 * does not is reported and left alone (a dry run cannot know what a
		 * server would make of it, so neither run tries); with --exact, what
		 * the list does not name is unsubscribed, never without it */
		if (nwant)
			mt_sort(want, nwant, sizeof *want, by_str);
		for (size_t w = 0; w < nwant && r == MT_OK; w++) {
			if (w && strcmp(want[w], want[w - 1]) == 0)
				continue;
			struct mt_mailbox key = { .name = want[w] }, *b = m.n ? mt_bsearch(&key, m.v, m.n, sizeof *m.v, by_name) : NULL;
			if (b == NULL && strcasecmp(want[w], "INBOX") == 0)
				for (size_t i = 0; i < m.n && b == NULL; i++)
					if (strcmp(m.v[i].wire, "INBOX") == 0)
						b = &m.v[i];
			if (b == NULL || !exists(b)) {
				row(&t, want[w], "no such folder here: not subscribed");
				missing++;
			} else if (!subscribed(b)) {
				r = change(ctx, &t, b->name, 1, &failed);
			}
		}
		for (size_t i = 0; i < m.n && r == MT_OK && mt_flag(&ctx->args, "exact"); i++) {
			const char *name = m.v[i].name;
			if (subscribed(&m.v[i]) && (nwant == 0 || mt_bsearch(&name, want, nwant, sizeof *want, by_str) == NULL) &&
			    !(strcmp(m.v[i].wire, "INBOX") == 0 && listed_inbox(want, nwant)))
				r = change(ctx, &t, name, 0, &failed);
		}
	}
	if (t.rows)
		mt_table_print(&t, stdout);
	else if (strcmp(cmd, "check") == 0 && ctx->fmt == MT_FMT_HUMAN)
		puts("subscriptions are in order");
	mt_table_release(&t);
	mt_mailboxes_release(&m);
	if (r == MT_OK && failed)
		r = MT_EUNAVAIL;
	else if (r == MT_OK && missing)
		r = mt_fail(ctx, MT_EDATA, "%zu listed folder%s not here; not subscribed", missing, missing == 1 ? " is" : "s are");
	/* check: exit 1 when something is off, for help-desk scripts */
	if (r == MT_OK && strcmp(cmd, "check") == 0 && off)
		r = 1;
out:
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	free(want);
	return r;
}

static const struct mt_applet subs_applet = {
	.name = "subs",
	.summary = "show, add, remove, check, fix, export and import folder subscriptions",
	.usage = "[options] [list | add PATTERN... | remove PATTERN... | check | fix | export | import [FILE|-]]",
	.description = "list (the default) shows subscribed folders, 'gone' where the folder no longer exists.\n"
		       "add and remove take IMAP wildcard patterns ('*', '%') resolved against the server's\n"
		       "folders (remove also against dangling subscriptions). check reports dangling\n"
		       "subscriptions and folders nobody subscribed to, and exits 1 if there are any; fix\n"
		       "removes the dangling ones (with --all also subscribes the rest). export prints one\n"
		       "subscribed folder per line; import subscribes the listed folders that exist here\n"
		       "(--exact: and unsubscribes every folder the list does not name).",
	.opts = subs_opts,
	.complete_first = "list add remove check fix export import",
	.complete_rest = "folder",
	.flags = MT_APPLET_SESSION,
	.main = subs_main,
	.check = subs_check,
};
MT_APPLET(subs_applet);
