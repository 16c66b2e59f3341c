/* folders.c — the folders an applet's LIST patterns name, several at a time,
 * with the one rule of mailtool(1) for a pattern that names none: one line on
 * stderr naming it, the others still done, exit 65 at the end. */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

int mt_unmatched_err(struct mt_err *e, const char *arg, int parent_only)
{
	if (parent_only)
		return mt_seterr(e, MT_EDATA, "'%s' is not selectable: it only holds other folders", arg);
	return mt_seterr(e, MT_EDATA, "no folder matches '%s'", arg);
}

static void say_unmatched(struct mt_ctx *ctx, const char *arg, int parent_only)
{
	struct mt_err e;
	mt_unmatched_err(&e, arg, parent_only);
	mt_warn(ctx, "%s", e.msg);
}

int mt_list_args(struct mt_ctx *ctx, int selectable, struct mt_mailboxes *out, int *unmatched)
{
	static const char *const all[] = { "*" };
	const char *const *pats = ctx->args.argc ? (const char *const *)ctx->args.argv : all;
	size_t npats = ctx->args.argc ? (size_t)ctx->args.argc : 1;
	/* names taken (borrowed from out, which only grows) */
	struct mt_strindex *taken = mt_strindex_new();
	int r = MT_OK;
	memset(out, 0, sizeof *out);
	*unmatched = 0;
	for (size_t p = 0; p < npats && r == MT_OK; p++) {
		struct mt_mailboxes m;
		size_t usable = 0;
		if ((r = mt_list(ctx->s, pats[p], &m, &ctx->err)) != MT_OK)
			break;
		for (size_t i = 0; i < m.n; i++)
			if (!(m.v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)))
				usable++;
		/* the default '*' of an empty account names nothing the user typed */
		if (ctx->args.argc && (m.n == 0 || (selectable && usable == 0))) {
			say_unmatched(ctx, pats[p], m.n > 0);
			++*unmatched;
			mt_mailboxes_release(&m);
			continue;
		}
		for (size_t i = 0; i < m.n; i++) {
			if (mt_strindex_get(taken, m.v[i].name) >= 0)
				continue;
			if (out->n == out->cap) {
				out->cap = out->cap ? 2 * out->cap : 16;
				out->v = mt_xrealloc(out->v, sizeof *out->v * out->cap);
			}
			out->v[out->n] = m.v[i];   /* moved: m gives up its strings */
			memset(&m.v[i], 0, sizeof m.v[i]);
			mt_strindex_put(taken, out->v[out->n].name, out->n);
			out->n++;
		}
		mt_mailboxes_release(&m);
	}
	mt_strindex_free(taken);
	if (r != MT_OK)
		mt_mailboxes_release(out);
	return r;
}

int mt_expand_args(struct mt_ctx *ctx, int recursive, char ***out, size_t *nout, int *unmatched)
{
	size_t n = (size_t)ctx->args.argc;
	unsigned char *missed = mt_xmalloc(n ? n : 1);
	int r = mt_expand_folders_missed(ctx->s, (const char *const *)ctx->args.argv, n, recursive, missed, out, nout,
					 &ctx->err);
	*unmatched = 0;
	for (size_t a = 0; r == MT_OK && a < n; a++)
		if (missed[a]) {
			say_unmatched(ctx, ctx->args.argv[a], missed[a] == MT_ARG_NOSELECT);
			++*unmatched;
		}
	free(missed);
	return r;
}
