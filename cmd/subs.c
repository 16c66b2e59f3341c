/* subs.c — subscription lists: show, add, remove, check, fix, and carry a
 * user's view from one server or client to another (export/import). */
#include "../tool/tool.h"
#include "../lib/plan.h"

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

/* The rows of a run: a state to show, or a planned (un)subscription whose
 * row says what the executor did with it (what it would do, in a dry run). */
struct srow {
	char *folder;
	const char *state;       /* NULL: see the op */
	size_t op;
};

struct subs_run {
	struct srow *v;
	size_t n, cap;
	struct mt_plan plan;
};

static void note(struct subs_run *S, const char *folder, const char *state)
{
	if (S->n == S->cap) {
		S->cap = S->cap ? 2 * S->cap : 32;
		S->v = mt_xrealloc(S->v, sizeof *S->v * S->cap);
	}
	S->v[S->n++] = (struct srow){ .folder = mt_xstrdup(folder), .state = state };
}

static void plan_change(struct subs_run *S, const char *folder, int on)
{
	mt_plan_add(&S->plan, on ? MT_OP_SUBSCRIBE : MT_OP_UNSUBSCRIBE)->folder = mt_xstrdup(folder);
	note(S, folder, NULL);
	S->v[S->n - 1].op = S->plan.n - 1;
}

/* The table: what was done (or would be); a change the server refused is
 * named on stderr and counted. */
static void render(struct mt_ctx *ctx, struct subs_run *S, int dry, struct mt_table *t, int *failed)
{
	for (size_t i = 0; i < S->n; i++) {
		const struct srow *rw = &S->v[i];
		if (rw->state) {
			row(t, rw->folder, rw->state);
			continue;
		}
		const struct mt_op *op = &S->plan.v[rw->op];
		int on = op->kind == MT_OP_SUBSCRIBE;
		if (op->refused) {
			mt_warn(ctx, "%s", op->refused);
			(*failed)++;
		} else if (dry || op->ran) {
			row(t, rw->folder, on ? (dry ? "would subscribe" : "subscribed") : (dry ? "would unsubscribe" : "unsubscribed"));
		}
	}
}

static void subs_run_release(struct subs_run *S)
{
	for (size_t i = 0; i < S->n; i++)
		free(S->v[i].folder);
	free(S->v);
	mt_plan_release(&S->plan);
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
		*out = mt_xrealloc(*out, sizeof **out * (*n + 1));
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
	int r = MT_OK, failed = 0, off = 0, dry = mt_flag(&ctx->args, "dry-run");
	size_t missing = 0, unmatched = 0;
	/* a refused (un)subscription is named and the rest still done */
	struct subs_run S = { .plan = { .keep_going = 1 } };

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
	t.type = "folder";

	if (strcmp(cmd, "list") == 0) {
		for (size_t i = 0; i < m.n; i++)
			if (subscribed(&m.v[i]))
				note(&S, m.v[i].name, exists(&m.v[i]) ? "ok" : "gone");
	} else if (strcmp(cmd, "export") == 0) {
		for (size_t i = 0; i < m.n; i++)
			if (subscribed(&m.v[i]) && ctx->fmt != MT_FMT_HUMAN) {
				note(&S, m.v[i].name, exists(&m.v[i]) ? "ok" : "gone");   /* as list */
			} else if (subscribed(&m.v[i])) {
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
				if (fix)
					plan_change(&S, b->name, 0);
				else
					note(&S, b->name, "dangling subscription");
			} else if (!subscribed(b) && exists(b)) {
				off++;
				if (!fix)
					note(&S, b->name, "not subscribed");
				else if (all)
					plan_change(&S, b->name, 1);
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
					plan_change(&S, b->name, on);
				else
					note(&S, b->name, on ? "already subscribed" : "already unsubscribed");
			}
			if (!matched && r == MT_OK) {
				/* mailtool(1): named, the rest done, 65 */
				mt_warn(ctx, "no %s matches '%s'", on ? "folder" : "subscription", pats[k]);
				unmatched++;
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
				note(&S, want[w], "no such folder here: not subscribed");
				missing++;
			} else if (!subscribed(b)) {
				plan_change(&S, b->name, 1);
			}
		}
		for (size_t i = 0; i < m.n && r == MT_OK && mt_flag(&ctx->args, "exact"); i++) {
			const char *name = m.v[i].name;
			if (subscribed(&m.v[i]) && (nwant == 0 || mt_bsearch(&name, want, nwant, sizeof *want, by_str) == NULL) &&
			    !(strcmp(m.v[i].wire, "INBOX") == 0 && listed_inbox(want, nwant)))
				plan_change(&S, name, 0);
		}
	}
	/* the whole change is known: checked, then made */
	if ((r = mt_plan_check(ctx->s, &S.plan, &ctx->err)) == MT_OK && !dry)
		r = mt_plan_run(ctx->s, &S.plan, &ctx->err);
	if (r != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	render(ctx, &S, dry, &t, &failed);
	if (t.rows || ctx->fmt != MT_FMT_HUMAN)
		mt_table_print(&t, stdout);
	else if (strcmp(cmd, "check") == 0 && ctx->fmt == MT_FMT_HUMAN)
		puts("subscriptions are in order");
	mt_table_release(&t);
	mt_mailboxes_release(&m);
	if (r == MT_OK && failed)
		r = MT_EUNAVAIL;
	else if (r == MT_OK && unmatched)
		r = MT_EDATA;
	else if (r == MT_OK && missing)
		r = mt_fail(ctx, MT_EDATA, "%zu listed folder%s not here; not subscribed", missing, missing == 1 ? " is" : "s are");
	/* check: exit 1 when something is off, for help-desk scripts */
	if (r == MT_OK && strcmp(cmd, "check") == 0 && off)
		r = 1;
out:
	subs_run_release(&S);
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
