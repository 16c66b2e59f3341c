/* sieve.c — the user's Sieve scripts on the server, over ManageSieve
 * (lib/managesieve.c): list, read, check, install (hand-written, or the
 * rules compiled), activate without losing the user's own active script,
 * remove, and compare what is installed with what would be. */
#include "../tool/tool.h"
#include "../filters/sieve.h"
#include "../lib/managesieve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_NAME "mailtool"
/* the active script mailtool makes when the user already had one: it
 * includes theirs and mailtool's (RFC 6609 include) */
#define WRAPPER "mailtool-wrapper"
#define WRAPPER_MARK "# " WRAPPER ": made by mailtool"

static const struct mt_opt sieve_opts[] = {
	{ .lng = "rules", .shrt = 'f', .kind = MT_ARG, .metavar = "FILE",
	  .help = "put, check, diff: the rules to compile to Sieve (default: those of mailtool.conf)", .complete = "file" },
	{ .lng = "script", .kind = MT_ARG, .metavar = "FILE",
	  .help = "put, check, diff: a hand-written Sieve script, taken as it is (- for standard input)", .complete = "file" },
	{ .lng = "name", .kind = MT_ARG, .metavar = "NAME", .help = "put, diff: the script's name on the server (default mailtool)" },
	{ .lng = "activate", .kind = MT_FLAG,
	  .help = "put: make the script active; an active script of the user's own stays active beside it" },
	{ .lng = "replace", .kind = MT_FLAG,
	  .help = "put: replace a script of that name mailtool did not write; with --activate on a server without "
		  "include, make it active in place of the user's own" },
	{ .lng = "force", .kind = MT_FLAG,
	  .help = "rm: remove the active script too (deactivated first; the wrapper's first script made active again)" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "put, activate, rm: change nothing; show what would be done" },
	{ .lng = "trash-folder", .kind = MT_ARG, .metavar = "FOLDER",
	  .help = "the folder trash rules file into (default: the account's \\Trash folder, asked over IMAP)",
	  .complete = "folder" },
	{ .lng = "skip-unsupported", .kind = MT_FLAG,
	  .help = "put, check, diff -f: leave out the rules Sieve cannot say, and list them" },
	MT_OPT_END,
};

enum sub { S_LS, S_GET, S_PUT, S_CHECK, S_ACTIVATE, S_RM, S_DIFF };
static const char *const subcommands[] = { "ls", "get", "put", "check", "activate", "rm", "diff", NULL };

struct sieve_state {
	enum sub sub;
	const char *arg;          /* get, activate, rm: the script's name */
	const char *name;         /* put, diff: the script's name */
	char *text;               /* put, check, diff: the script (read before connecting), owned */
	size_t len;
	char *source;             /* where the text came from, for messages; owned */
	struct mt_ruleset rs;     /* -f: the rules, compiled again against the server's Sieve */
	int have_rules;
	int dry;
};

static void state_release(void *p)
{
	struct sieve_state *S = p;
	free(S->text);
	free(S->source);
	if (S->have_rules)
		mt_rules_release(&S->rs);
	free(S);
}

/* A whole file (or standard input) into *text; the size bounded like a
 * script from the server. */
static int read_script(struct mt_ctx *ctx, const char *path, char **text, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 4096, n = 0, k;
	char *buf;
	if (f == NULL)
		return mt_fail(ctx, MT_EIO, "cannot read '%s': %s", path, strerror(errno));
	buf = mt_xmalloc(cap + 1);
	while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			if (cap >= MT_MSIEVE_MAX_LITERAL) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return mt_fail(ctx, MT_EDATA, "'%s': a script larger than %u MiB", path, MT_MSIEVE_MAX_LITERAL >> 20);
			}
			cap *= 2;
			buf = mt_xrealloc(buf, cap + 1);
		}
	}
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad) {
		free(buf);
		return mt_fail(ctx, MT_EIO, "cannot read '%s'", path);
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return MT_OK;
}

/* The rules compiled against target t into S->text; each rule left out (or,
 * when that fails the run, refused) one line on stderr when warn. */
static int compile_into(struct mt_ctx *ctx, struct sieve_state *S, const struct mt_sieve_target *t, int warn)
{
	struct mt_sieve_out out = { 0 };
	int r = mt_sieve_compile(&S->rs, t, &out, &ctx->err);
	for (size_t i = 0; (warn || r != MT_OK) && i < out.nrefused; i++)
		mt_warn(ctx, "%s:%d: rule '%s': %s%s", out.refused[i].rule->file, out.refused[i].rule->line,
			out.refused[i].rule->name, out.refused[i].why, r == MT_OK ? " (left out)" : "");
	if (r != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
	} else {
		free(S->text);
		S->text = out.script;
		S->len = strlen(out.script);
		out.script = NULL;
	}
	mt_sieve_out_release(&out);
	return r;
}

/* The rules (-f, else the configuration file's) compiled to Sieve, before
 * any connection: a rule Sieve cannot say with the same meaning is named
 * with its reason, and nothing is sent. Once connected they are compiled
 * again, against the server's SIEVE capability and \\Trash folder. */
static int compile_rules(struct mt_ctx *ctx, struct sieve_state *S)
{
	const char *trash = mt_arg(&ctx->args, "trash-folder");

	if ((S->source = mt_rules_path(ctx)) == NULL)
		return mt_fail_err(ctx, &ctx->err);
	if (mt_rules_load(S->source, &S->rs, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	S->have_rules = 1;
	/* the \\Trash folder is not known yet: a stand-in name to compile with */
	const struct mt_sieve_target t = { .trash = trash ? trash : "Trash",
					   .skip_unsupported = mt_flag(&ctx->args, "skip-unsupported") };
	return compile_into(ctx, S, &t, 0);
}

static int has_trash_rule(const struct mt_ruleset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].action == MT_A_TRASH)
			return 1;
	return 0;
}

/* The folder trash rules file into: --trash-folder, else the account's
 * \\Trash (SPECIAL-USE, else its well-known name) asked over IMAP. NULL
 * and *why when there is none; an error when the server cannot be asked. */
static int learn_trash(struct mt_ctx *ctx, char **trash, const char **why)
{
	struct mt_session *s = NULL;
	char *wire = NULL;
	*trash = NULL;
	*why = NULL;
	if (mt_arg(&ctx->args, "trash-folder")) {
		*trash = mt_xstrdup(mt_arg(&ctx->args, "trash-folder"));
		return MT_OK;
	}
	if (mt_arg(&ctx->args, "port")) {
		*why = "-p names the ManageSieve port, so the IMAP server to ask for its \\Trash folder is not known: "
		       "--trash-folder names it";
		return MT_OK;
	}
	if (mt_session_open(&ctx->acct, mt_flag(&ctx->args, "trace") ? stderr : NULL, &s, &ctx->err) != MT_OK)
		return mt_fail(ctx, ctx->err.code, "asking the account's IMAP server for its \\Trash folder: %s "
			       "(--trash-folder names it)", ctx->err.msg);
	int r = mt_special_folder(s, "\\Trash", trash, &wire, &ctx->err);
	mt_session_close(s);
	free(wire);
	if (r != MT_OK)
		return mt_fail(ctx, ctx->err.code, "asking the account's IMAP server for its \\Trash folder: %s "
			       "(--trash-folder names it)", ctx->err.msg);
	if (*trash == NULL)
		*why = "the account's IMAP server names no \\Trash folder (SPECIAL-USE, or a folder called Trash): "
		       "--trash-folder names one";
	return MT_OK;
}

/* The rules compiled again once connected: a rule that needs an extension
 * the server's Sieve lacks is refused by its capability, trash files into
 * the account's \\Trash. */
static int recompile(struct mt_ctx *ctx, struct mt_msieve *m, struct sieve_state *S)
{
	char *trash = NULL;
	const char *why = NULL;
	int r = has_trash_rule(&S->rs) ? learn_trash(ctx, &trash, &why) : MT_OK;
	if (r != MT_OK)
		return r;
	const struct mt_sieve_target t = { .extensions = mt_msieve_extensions(m), .trash = trash, .no_trash = why,
					   .skip_unsupported = mt_flag(&ctx->args, "skip-unsupported") };
	r = compile_into(ctx, S, &t, 1);
	free(trash);
	return r;
}

static int sieve_check(struct mt_ctx *ctx)
{
	const struct mt_args *a = &ctx->args;
	const char *cmd = a->argc ? a->argv[0] : NULL;
	int sub = -1, nargs = a->argc > 0 ? a->argc - 1 : 0, r;

	for (int i = 0; cmd && subcommands[i]; i++)
		if (strcmp(cmd, subcommands[i]) == 0)
			sub = i;
	if (cmd == NULL)
		return mt_fail(ctx, MT_EUSAGE, "a subcommand is needed: ls, get, put, check, activate, rm, diff");
	if (sub < 0)
		return mt_fail(ctx, MT_EUSAGE, "unknown subcommand '%s' (ls, get, put, check, activate, rm, diff)", cmd);
	int wants_name = sub == S_GET || sub == S_ACTIVATE || sub == S_RM;
	int wants_text = sub == S_PUT || sub == S_CHECK || sub == S_DIFF;
	if (nargs != wants_name)
		return mt_fail(ctx, MT_EUSAGE, wants_name ? "sieve %s takes one NAME" : "sieve %s takes no arguments", cmd);
	if (wants_name && !mt_msieve_name_ok(a->argv[1]))
		return mt_fail(ctx, MT_EUSAGE, "bad script name '%s'", a->argv[1]);
	if (!wants_text && (mt_arg(a, "rules") || mt_arg(a, "script")))
		return mt_fail(ctx, MT_EUSAGE, "-f and --script go with put, check and diff");
	if (mt_arg(a, "rules") && mt_arg(a, "script"))
		return mt_fail(ctx, MT_EUSAGE, "-f and --script exclude each other");
	if ((mt_flag(a, "skip-unsupported") || mt_arg(a, "trash-folder")) && (!wants_text || mt_arg(a, "script")))
		return mt_fail(ctx, MT_EUSAGE, "--%s goes with the rules compiled by put, check and diff",
			       mt_flag(a, "skip-unsupported") ? "skip-unsupported" : "trash-folder");
	if (mt_arg(a, "name") && sub != S_PUT && sub != S_DIFF)
		return mt_fail(ctx, MT_EUSAGE, "--name goes with put and diff");
	if ((mt_flag(a, "activate") || mt_flag(a, "replace")) && sub != S_PUT)
		return mt_fail(ctx, MT_EUSAGE, "--activate and --replace go with put");
	if (mt_flag(a, "force") && sub != S_RM)
		return mt_fail(ctx, MT_EUSAGE, "--force goes with rm");
	if (mt_flag(a, "dry-run") && sub != S_PUT && sub != S_ACTIVATE && sub != S_RM)
		return mt_fail(ctx, MT_EUSAGE, "--dry-run goes with put, activate and rm");
	const char *name = mt_arg(a, "name") ? mt_arg(a, "name") : DEFAULT_NAME;
	if (!mt_msieve_name_ok(name))
		return mt_fail(ctx, MT_EUSAGE, "bad script name '%s'", name);
	if (strcmp(name, WRAPPER) == 0 || (sub == S_ACTIVATE && strcmp(a->argv[1], WRAPPER) == 0))
		return mt_fail(ctx, MT_EUSAGE, "'%s' is the name of mailtool's include wrapper", WRAPPER);

	struct sieve_state *S = mt_xmalloc(sizeof *S);
	S->sub = (enum sub)sub;
	S->arg = wants_name ? a->argv[1] : NULL;
	S->name = name;
	S->dry = mt_flag(a, "dry-run");
	ctx->state = S;
	/* the script is read (or compiled) before anything is sent anywhere */
	if (wants_text && mt_arg(a, "script")) {
		S->source = mt_xstrdup(mt_arg(a, "script"));
		if ((r = read_script(ctx, S->source, &S->text, &S->len)) != MT_OK)
			return r;
	} else if (wants_text && (r = compile_rules(ctx, S)) != MT_OK) {
		return r;
	}
	return MT_OK;
}

/* ---- on the server ---------------------------------------------------------- */

struct server {
	struct mt_msieve *m;
	struct mt_msieve_script *v;   /* LISTSCRIPTS, owned */
	size_t n;
	const char *active;           /* the active script's name (in v), or NULL */
};

static int has_script(const struct server *sv, const char *name)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i].name, name) == 0)
			return 1;
	return 0;
}

static int list(struct mt_ctx *ctx, struct server *sv)
{
	mt_msieve_scripts_free(sv->v, sv->n);
	sv->v = NULL;
	sv->n = 0;
	sv->active = NULL;
	if (mt_msieve_list(sv->m, &sv->v, &sv->n, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	for (size_t i = 0; i < sv->n; i++)
		if (sv->v[i].active)
			sv->active = sv->v[i].name;
	return MT_OK;
}

static void say(struct mt_ctx *ctx, const char *what, const char *name, const char *more)
{
	if (ctx->fmt == MT_FMT_JSON) {
		fputs("{\"action\":", stdout);
		mt_json_str(stdout, what);
		fputs(",\"script\":", stdout);
		mt_json_str(stdout, name);
		fputs("}\n", stdout);
		return;
	}
	fputs(what, stdout);
	fputs(" ", stdout);
	mt_fputs_safe(name, stdout);
	if (more)
		fputs(more, stdout);
	fputs("\n", stdout);
}

/* A script mailtool wrote: the rules compiled, or the include wrapper. */
static int written_by_mailtool(const char *text, size_t len)
{
	static const char *const marks[] = { MT_SIEVE_MARK, WRAPPER_MARK };
	for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
		if (len >= strlen(marks[i]) && memcmp(text, marks[i], strlen(marks[i])) == 0)
			return 1;
	return 0;
}

/* Install text as name unless the server has it already, after CHECKSCRIPT
 * and HAVESPACE; a dry run stops before PUTSCRIPT. A script of that name
 * that mailtool did not write is the user's: kept unless --replace. */
static int install(struct mt_ctx *ctx, struct server *sv, const char *name, const char *text, size_t len, int dry)
{
	char *old = NULL, *warnings = NULL, more[64];
	size_t oldlen = 0;
	int r;
	if (has_script(sv, name)) {
		if (mt_msieve_get(sv->m, name, &old, &oldlen, &ctx->err) != MT_OK)
			return mt_fail_err(ctx, &ctx->err);
		int same = oldlen == len && memcmp(old, text, len) == 0, ours = written_by_mailtool(old, oldlen);
		free(old);
		if (same) {
			say(ctx, "unchanged", name, NULL);
			return MT_OK;
		}
		if (!ours && !mt_flag(&ctx->args, "replace"))
			return mt_fail(ctx, MT_ECANTCREAT, "the script '%s' on the server is not one mailtool wrote (its first "
				       "line is not \"%s...\"): --replace replaces it", name, MT_SIEVE_MARK);
	}
	if ((r = mt_msieve_check(sv->m, text, len, &warnings, &ctx->err)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (warnings)
		mt_warn(ctx, "'%s': the server warns: %s", name, warnings);
	free(warnings);
	if (mt_msieve_havespace(sv->m, name, len, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	snprintf(more, sizeof more, " (%zu bytes)", len);
	if (dry) {
		say(ctx, "would put", name, more);
		return MT_OK;
	}
	if (mt_msieve_put(sv->m, name, text, len, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	say(ctx, "put", name, more);
	return MT_OK;
}

static int setactive(struct mt_ctx *ctx, struct server *sv, const char *name, int dry)
{
	if (sv->active && strcmp(sv->active, name) == 0) {
		say(ctx, "already active", name, NULL);
		return MT_OK;
	}
	if (dry) {
		say(ctx, "would activate", name, NULL);
		return MT_OK;
	}
	if (mt_msieve_setactive(sv->m, name, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	say(ctx, "activated", name, NULL);
	return MT_OK;
}

/* Sieve's quoted string (RFC 5228 2.4.2) */
static char *sieve_quoted(const char *s)
{
	size_t n = strlen(s);
	char *q = mt_xmalloc(2 * n + 3), *o = q;
	*o++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return q;
}

/* The names a wrapper includes, from its `include :personal :optional
 * "NAME";` lines (added to *names, owned, *n of them). */
static void wrapper_includes(const char *text, char ***names, size_t *n)
{
	static const char key[] = "include :personal :optional \"";
	for (const char *p = text; (p = strstr(p, key)) != NULL;) {
		p += sizeof key - 1;
		char *nm = mt_xmalloc(strlen(p) + 1), *o = nm;
		for (; *p && *p != '"' && *p != '\n'; p++) {
			if (*p == '\\' && p[1])
				p++;
			*o++ = *p;
		}
		*o = '\0';
		*names = mt_xrealloc(*names, sizeof **names * (*n + 1));
		(*names)[(*n)++] = nm;
	}
}

static char *wrapper_text(char *const *names, size_t n)
{
	char *t = mt_xstrdup(WRAPPER_MARK " sieve put --activate. It runs the script that was\n"
			     "# active before, then mailtool's; mailtool keeps it up to date.\n"
			     "require [\"include\"];\n");
	for (size_t i = 0; i < n; i++) {
		char *q = sieve_quoted(names[i]), *nt;
		/* :optional: a script removed later (sieve rm) leaves the rest running */
		nt = mt_xasprintf("%sinclude :personal :optional %s;\n", t, q);
		free(q);
		free(t);
		t = nt;
	}
	return t;
}

/* Make name take effect, keeping the user's own active script: with the
 * include extension through the wrapper, else only with --replace. */
static int activate_keeping(struct mt_ctx *ctx, struct server *sv, const char *name, int dry)
{
	char **names = NULL, *old = NULL;
	size_t n = 0, oldlen;
	int r = MT_OK, have = 0;
	if (sv->active == NULL || strcmp(sv->active, name) == 0)
		return setactive(ctx, sv, name, dry);
	if (strcmp(sv->active, WRAPPER) != 0) {
		if (!mt_msieve_has_ext(sv->m, "include"))   /* --replace: refused before otherwise */
			return setactive(ctx, sv, name, dry);
		names = mt_xmalloc(sizeof *names);
		names[n++] = mt_xstrdup(sv->active);
	} else {
		if (mt_msieve_get(sv->m, WRAPPER, &old, &oldlen, &ctx->err) != MT_OK)
			return mt_fail_err(ctx, &ctx->err);
		wrapper_includes(old, &names, &n);
		free(old);
	}
	for (size_t i = 0; i < n; i++)
		have |= strcmp(names[i], name) == 0;
	if (!have) {
		names = mt_xrealloc(names, sizeof *names * (n + 1));
		names[n++] = mt_xstrdup(name);
	}
	char *w = wrapper_text(names, n);
	r = install(ctx, sv, WRAPPER, w, strlen(w), dry);
	if (r == MT_OK)
		r = setactive(ctx, sv, WRAPPER, dry);
	free(w);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* ---- diff ------------------------------------------------------------------ */

static char **split_lines(const char *text, size_t len, size_t *n)
{
	char **v = NULL;
	*n = 0;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		v = mt_xrealloc(v, sizeof *v * (*n + 1));
		v[(*n)++] = strndup(text + i, j - i);
		i = j + 1;
	}
	return v;
}

static void diff_line(char c, const char *s)
{
	fputc(c, stdout);
	mt_fputs_safe(s, stdout);
	fputc('\n', stdout);
}

/* Every line of both, marked ' ', '-' (installed only) or '+' (new only),
 * by longest common subsequence; 1 when they differ. */
static int print_diff(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t na, nb;
	char **A = split_lines(a, alen, &na), **B = split_lines(b, blen, &nb);
	int differ = alen != blen || memcmp(a, b, alen) != 0;
	if (differ && na <= 4000 && nb <= 4000) {
		unsigned short *L = mt_xmalloc((na + 1) * (nb + 1) * sizeof *L);
		for (size_t i = na + 1; i-- > 0;)
			for (size_t j = nb + 1; j-- > 0;) {
				unsigned short *c = &L[i * (nb + 1) + j];
				if (i == na || j == nb)
					*c = 0;
				else if (strcmp(A[i], B[j]) == 0)
					*c = (unsigned short)(L[(i + 1) * (nb + 1) + j + 1] + 1);
				else
					*c = L[(i + 1) * (nb + 1) + j] > L[i * (nb + 1) + j + 1] ? L[(i + 1) * (nb + 1) + j]
												    : L[i * (nb + 1) + j + 1];
			}
		size_t i = 0, j = 0;
		while (i < na || j < nb) {
			if (i < na && j < nb && strcmp(A[i], B[j]) == 0) {
				diff_line(' ', A[i++]);
				j++;
			} else if (i < na && (j == nb || L[(i + 1) * (nb + 1) + j] >= L[i * (nb + 1) + j + 1])) {
				diff_line('-', A[i++]);
			} else {
				diff_line('+', B[j++]);
			}
		}
		free(L);
	} else if (differ) {
		for (size_t i = 0; i < na; i++)
			diff_line('-', A[i]);
		for (size_t j = 0; j < nb; j++)
			diff_line('+', B[j]);
	}
	for (size_t i = 0; i < na; i++)
		free(A[i]);
	for (size_t j = 0; j < nb; j++)
		free(B[j]);
	free(A);
	free(B);
	return differ;
}

static int do_diff(struct mt_ctx *ctx, struct server *sv, const struct sieve_state *S)
{
	char *old = NULL;
	size_t oldlen = 0;
	if (has_script(sv, S->name) && mt_msieve_get(sv->m, S->name, &old, &oldlen, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	fputs("--- ", stdout);
	mt_fputs_safe(S->name, stdout);
	fputs(old ? " (installed)\n+++ " : " (not installed)\n+++ ", stdout);
	mt_fputs_safe(S->source, stdout);
	fputc('\n', stdout);
	int differ = print_diff(old ? old : "", oldlen, S->text, S->len);
	free(old);
	if (!differ)
		puts("the installed script is the same");
	return differ ? 1 : MT_OK;
}

/* ---- the subcommands ----------------------------------------------------------- */

enum { C_NAME, C_ACTIVE, C_NCOLS };
static const struct mt_col ls_cols[C_NCOLS] = {
	[C_NAME] = { "name", MT_COL_STR },
	[C_ACTIVE] = { "active", MT_COL_BOOL },
};

static int do_ls(struct mt_ctx *ctx, struct server *sv)
{
	struct mt_table t;
	mt_table_init(&t, ls_cols, C_NCOLS, ctx->fmt, 0);
	t.type = "script";
	for (size_t i = 0; i < sv->n; i++) {
		int row = mt_table_row(&t);
		mt_table_str(&t, row, C_NAME, sv->v[i].name);
		mt_table_bool(&t, row, C_ACTIVE, sv->v[i].active);
	}
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	return MT_OK;
}

/* The active wrapper's first script, the one that was active before it,
 * when the server still has it: *back (owned), else NULL. */
static int wrapper_first(struct mt_ctx *ctx, struct server *sv, char **back)
{
	char **names = NULL, *text = NULL;
	size_t n = 0, len;
	*back = NULL;
	if (mt_msieve_get(sv->m, WRAPPER, &text, &len, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	wrapper_includes(text, &names, &n);
	free(text);
	if (n && strcmp(names[0], WRAPPER) != 0 && has_script(sv, names[0])) {
		*back = names[0];
		names[0] = NULL;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return MT_OK;
}

static int do_rm(struct mt_ctx *ctx, struct server *sv, const struct sieve_state *S)
{
	char *back = NULL;
	int r;
	if (!has_script(sv, S->arg))
		return mt_fail(ctx, MT_EUNAVAIL, "no script '%s' on the server", S->arg);
	int active = sv->active && strcmp(sv->active, S->arg) == 0;
	/* the active wrapper gives way to the script it kept running */
	if (active && strcmp(S->arg, WRAPPER) == 0 && (r = wrapper_first(ctx, sv, &back)) != MT_OK)
		return r;
	if (active && !mt_flag(&ctx->args, "force")) {
		r = back ? mt_fail(ctx, MT_EUNAVAIL, "'%s' is the active script (--force removes it and makes '%s' "
				   "active again)", S->arg, back)
			 : mt_fail(ctx, MT_EUNAVAIL, "'%s' is the active script: mail would no longer be filtered by it "
				   "(--force deactivates and removes it)", S->arg);
		free(back);
		return r;
	}
	if (S->dry) {
		if (back)
			say(ctx, "would activate", back, NULL);
		say(ctx, active && !back ? "would deactivate and remove" : "would remove", S->arg, NULL);
		free(back);
		return MT_OK;
	}
	r = MT_OK;
	if (active && mt_msieve_setactive(sv->m, back ? back : "", &ctx->err) != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	else if (back)
		say(ctx, "activated", back, NULL);
	if (r == MT_OK && mt_msieve_delete(sv->m, S->arg, &ctx->err) != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	if (r == MT_OK)
		say(ctx, "removed", S->arg, NULL);
	free(back);
	return r;
}

static int run_sub(struct mt_ctx *ctx, struct server *sv, const struct sieve_state *S)
{
	char *text = NULL, *warnings = NULL;
	size_t len;
	int r;
	switch (S->sub) {
	case S_LS:
		return do_ls(ctx, sv);
	case S_GET:
		if (mt_msieve_get(sv->m, S->arg, &text, &len, &ctx->err) != MT_OK)
			return mt_fail_err(ctx, &ctx->err);
		fwrite(text, 1, len, stdout);
		free(text);
		return MT_OK;
	case S_CHECK:
		if (mt_msieve_check(sv->m, S->text, S->len, &warnings, &ctx->err) != MT_OK)
			return mt_fail_err(ctx, &ctx->err);
		if (warnings)
			mt_warn(ctx, "the server warns: %s", warnings);
		free(warnings);
		puts("the server accepts the script");
		return MT_OK;
	case S_PUT:
		/* a refusal to activate comes before anything is installed */
		if (mt_flag(&ctx->args, "activate") && sv->active && strcmp(sv->active, S->name) != 0 &&
		    strcmp(sv->active, WRAPPER) != 0 && !mt_msieve_has_ext(sv->m, "include") && !mt_flag(&ctx->args, "replace"))
			return mt_fail(ctx, MT_EUNAVAIL, "the active script '%s' is not mailtool's, and the server has no "
				       "include extension to run both: --replace makes '%s' active instead", sv->active, S->name);
		if ((r = install(ctx, sv, S->name, S->text, S->len, S->dry)) != MT_OK || !mt_flag(&ctx->args, "activate"))
			return r;
		return activate_keeping(ctx, sv, S->name, S->dry);
	case S_ACTIVATE:
		if (!has_script(sv, S->arg))
			return mt_fail(ctx, MT_EUNAVAIL, "no script '%s' on the server", S->arg);
		return setactive(ctx, sv, S->arg, S->dry);
	case S_RM:
		return do_rm(ctx, sv, S);
	case S_DIFF:
		return do_diff(ctx, sv, S);
	}
	return MT_ESOFT;
}

static int sieve_main(struct mt_ctx *ctx)
{
	struct sieve_state *S = ctx->state;
	struct server sv = { 0 };
	const struct mt_account *a = &ctx->acct;
	int port = mt_arg(&ctx->args, "port") ? a->port : a->sieve_port ? a->sieve_port : 4190, r;

	if (mt_msieve_open(a, port, mt_flag(&ctx->args, "trace") ? stderr : NULL, &sv.m, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (ctx->verbose)
		mt_warn(ctx, "connected to %s port %d via %s", a->host, port, mt_msieve_transport(sv.m));
	r = S->have_rules ? recompile(ctx, sv.m, S) : MT_OK;
	if (r == MT_OK && S->sub != S_CHECK && S->sub != S_GET)
		r = list(ctx, &sv);
	if (r == MT_OK)
		r = run_sub(ctx, &sv, S);
	mt_msieve_scripts_free(sv.v, sv.n);
	mt_msieve_close(sv.m);
	return r;
}

static const struct mt_applet sieve_applet = {
	.name = "sieve",
	.summary = "list, install, check, activate and remove Sieve scripts over ManageSieve",
	.usage = "[options] ls | get NAME | put [-f RULES | --script FILE] [--name NAME] [--activate] | "
		 "check [-f RULES | --script FILE] | activate NAME | rm NAME | diff [-f RULES | --script FILE]",
	.description = "Talks ManageSieve (RFC 5804) to the account's server, port sieve_port (4190), with\n"
		       "STARTTLS and the account's login. put installs the rules compiled to Sieve (or\n"
		       "a script as it is) as 'mailtool', after the server checked it, and only when it\n"
		       "changed; --activate makes it take effect, keeping an active script of the user's\n"
		       "own through a small include wrapper. diff shows what put would change.",
	.opts = sieve_opts,
	.complete_first = "ls get put check activate rm diff",
	.flags = MT_APPLET_ACCOUNT,
	.main = sieve_main,
	.check = sieve_check,
	.release = state_release,
};
MT_APPLET(sieve_applet);
