/* exec.c — changing exactly the chosen messages: removal (UID STORE
 * \\Deleted + UID EXPUNGE of those UIDs), moves (UID MOVE, or a guarded COPY
 * then that expunge), the recovery of moves a killed run left half done,
 * and flag stores and copies in UID batches. */
#include "plan.h"
#include "select_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void mt_test_hook_before_remove(const char *folder)
{
	mt_test_hook("MAILTOOL_TEST_HOOK_BEFORE_REMOVE", folder);
}

static int run_ok(struct mt_session *s, const char *cmd, const char *what, struct mt_err *e)
{
	int status, r = mt_imap_run(s, cmd, 0, NULL, &status, e);
	if (r != MT_OK)
		return r;
	if (status != MT_RESP_OK)
		return mt_seterr(e, MT_EUNAVAIL, "%s refused by the server: %s", what, mt_imap_last_text(s));
	return MT_OK;
}

/* Without MOVE a move is UID COPY, then \\Deleted and UID EXPUNGE of the
 * originals. Interrupted between the two, a rerun would copy again. So the
 * originals are first marked with this keyword (COPY carries it to the
 * copies); a rerun that finds marked originals looks for marked copies in
 * the target, and as COPY is atomic (RFC 3501 6.4.7), finding any means that
 * batch was copied: it is only expunged. The mark is cleared from the copies
 * at the end. */

static int select_again(struct mt_session *s, const char *wire, uint32_t uidvalidity, int rw, const char *folder,
			struct mt_err *e)
{
	struct mt_folder_state st;
	int refused, r = mt_open_wire(s, wire, folder, rw, 0, &st, &refused, e);
	if (r != MT_OK)
		return refused ? mt_seterr(e, MT_ETEMP, "folder '%s' went away during the move", folder) : r;
	uint32_t v = st.uidvalidity;
	if (uidvalidity && v != uidvalidity)
		return mt_seterr(e, MT_ETEMP, "UIDVALIDITY of '%s' changed (%u -> %u) during the move; stopped",
				 folder, uidvalidity, v);
	return MT_OK;
}

/* What identifies a message across folders: size and the fields a copy keeps. */
static const char *const ident_fields[] = { "MESSAGE-ID", "DATE", "FROM", "SUBJECT", NULL };

struct idents {
	char **v;
	uint32_t *uid;
	size_t n, cap;
};

static int take_ident(const struct mt_fetched *m, void *arg)
{
	struct idents *id = arg;
	/* only what really carries the mark: a SEARCH answer is not taken on trust */
	int marked = 0;
	for (size_t k = 0; m->keywords && m->keywords[k]; k++)
		marked |= strcasecmp(m->keywords[k], MOVING_KEYWORD) == 0;
	if (!marked)
		return 0;
	if (id->n == id->cap) {
		id->cap = id->cap ? 2 * id->cap : 64;
		id->v = mt_xrealloc(id->v, sizeof *id->v * id->cap);
		id->uid = mt_xrealloc(id->uid, sizeof *id->uid * id->cap);
	}
	id->v[id->n] = mt_xasprintf("%u|%.*s", m->size, (int)(m->header ? m->header_len : 0), m->header ? m->header : "");
	id->uid[id->n++] = m->uid;
	return 0;
}

/* The copies of one or more targets by identity, each to be paired with
 * one original at most: a hash index to the first copy of an identity and
 * a chain to the next, so pairing n originals with m copies is O(n + m),
 * whatever a server answers. */
struct copyset {
	struct mt_strindex *ix;   /* identity -> first position */
	size_t *head;             /* per first position: the next copy not yet paired */
	size_t *next;             /* per position: the next of the same identity, or SIZE_MAX */
};

static void copyset_build(struct copyset *cs, const struct idents *sets, size_t nsets)
{
	size_t total = 0, g = 0;
	for (size_t t = 0; t < nsets; t++)
		total += sets[t].n;
	cs->ix = mt_strindex_new();
	cs->head = mt_xmalloc(sizeof *cs->head * (total + 1));
	cs->next = mt_xmalloc(sizeof *cs->next * (total + 1));
	size_t *last = mt_xmalloc(sizeof *last * (total + 1));
	for (size_t t = 0; t < nsets; t++)
		for (size_t c = 0; c < sets[t].n; c++, g++) {
			size_t first = mt_strindex_put(cs->ix, sets[t].v[c], g);
			cs->next[g] = SIZE_MAX;
			if (first == g)
				cs->head[g] = last[g] = g;
			else
				cs->next[last[first]] = g, last[first] = g;
		}
	free(last);
}

/* Pair ident with a copy not paired yet: 1 when there was one. */
static int copyset_take(struct copyset *cs, const char *ident)
{
	long first = mt_strindex_get(cs->ix, ident);
	if (first < 0 || cs->head[first] == SIZE_MAX)
		return 0;
	cs->head[first] = cs->next[cs->head[first]];
	return 1;
}

static void copyset_free(struct copyset *cs)
{
	mt_strindex_free(cs->ix);
	free(cs->head);
	free(cs->next);
}

static void idents_free(struct idents *id)
{
	for (size_t i = 0; i < id->n; i++)
		free(id->v[i]);
	free(id->v);
	free(id->uid);
}

/* UIDs of the selection that an interrupted earlier move already copied:
 * marked here, with a marked copy in the target of the same size and
 * Message-ID, Date, From and Subject (so marks from some other interrupted
 * move are never taken for ours). Leaves the source selected again. */
static int already_copied(struct mt_session *s, const struct mt_op *op, const char *to_wire, uint32_t **done,
			  size_t *ndone, struct mt_err *e)
{
	uint32_t *marked = NULL, *copies = NULL;
	size_t nmarked = 0, ncopies = 0;
	struct idents orig = { 0 }, copy = { 0 };
	struct mt_fetch_spec spec = { .size = 1, .flags = 1, .headers = ident_fields };
	int r = mt_uid_search_in(s, op->uids, op->n, "KEYWORD " MOVING_KEYWORD, &marked, &nmarked, e);
	*done = NULL;
	*ndone = 0;
	if (r != MT_OK || nmarked == 0) {
		free(marked);
		return r;
	}
	r = mt_fetch_each(s, marked, nmarked, &spec, take_ident, &orig, e);
	if (r == MT_OK)
		r = select_again(s, to_wire, 0, 0, "target", e);
	if (r == MT_OK)
		r = mt_uid_search(s, "KEYWORD " MOVING_KEYWORD, &copies, &ncopies, e);
	if (r == MT_OK && ncopies)
		r = mt_fetch_each(s, copies, ncopies, &spec, take_ident, &copy, e);
	int r2 = select_again(s, op->wire, op->uidvalidity, 1, op->folder, e);
	if (r == MT_OK)
		r = r2;
	if (r == MT_OK && copy.n) {
		uint32_t *d = mt_xmalloc(sizeof *d * (orig.n + 1));
		struct copyset cs;
		size_t nd = 0;
		copyset_build(&cs, &copy, 1);
		for (size_t i = 0; i < orig.n; i++)
			if (copyset_take(&cs, orig.v[i]))
				d[nd++] = orig.uid[i];
		copyset_free(&cs);
		mt_sort(d, nd, sizeof *d, mt_cmp_u32);
		*done = d;
		*ndone = nd;
	}
	idents_free(&orig);
	idents_free(&copy);
	free(marked);
	free(copies);
	return r;
}

/* Clear the mark from the copies in the target; the source is selected again after. */
static int unmark_copies(struct mt_session *s, const struct mt_op *op, const char *to_wire, struct mt_err *e)
{
	uint32_t *copies = NULL;
	size_t ncopies = 0;
	int r = select_again(s, to_wire, 0, 1, "target", e);
	if (r == MT_OK)
		r = mt_uid_search(s, "KEYWORD " MOVING_KEYWORD, &copies, &ncopies, e);
	if (r == MT_OK && ncopies)
		r = mt_uid_store(s, copies, ncopies, 0, MOVING_KEYWORD, e);
	free(copies);
	int r2 = select_again(s, op->wire, op->uidvalidity, 1, op->folder, e);
	return r == MT_OK ? r2 : r;
}

/* Marked messages of the selected folder, with their identities. */
static int marked_idents(struct mt_session *s, struct idents *out, struct mt_err *e)
{
	struct mt_fetch_spec spec = { .size = 1, .flags = 1, .headers = ident_fields };
	uint32_t *uids = NULL;
	size_t n = 0;
	int r = mt_uid_search(s, "KEYWORD " MOVING_KEYWORD, &uids, &n, e);
	if (r == MT_OK && n)
		r = mt_fetch_each(s, uids, n, &spec, take_ident, out, e);
	free(uids);
	return r;
}

int mt_recover_moves(struct mt_session *s, const char *const *sources, size_t nsrc,
		     const char *const *targets, size_t ntgt, int even_with_move, uint64_t *finished,
		     struct mt_err *e)
{
	*finished = 0;
	if ((mt_has_cap(s, "MOVE") && !even_with_move) || !mt_has_cap(s, "UIDPLUS") || nsrc == 0 || ntgt == 0)
		return MT_OK;   /* nothing of ours is marked, or nothing safe can be done */
	struct idents *copy = mt_xmalloc(sizeof *copy * ntgt);
	int r = MT_OK, any = 0;
	/* 1. the marked copies in every target (a missing target has none) */
	for (size_t t = 0; t < ntgt && r == MT_OK; t++) {
		if (select_again(s, targets[t], 0, 1, targets[t], e) != MT_OK)
			continue;
		r = marked_idents(s, &copy[t], e);
		any |= copy[t].n > 0;
	}
	struct copyset cs;
	copyset_build(&cs, copy, ntgt);
	/* 2. every marked original: with a matching marked copy the move was
	 * done up to the expunge, so finish it; without one the COPY never
	 * happened (it is atomic), so only the mark goes and the run moves the
	 * message afresh. \Deleted is left alone: we set it only after a COPY
	 * succeeded, and it may be another client's. */
	for (size_t i = 0; i < nsrc && r == MT_OK; i++) {
		struct idents orig = { 0 };
		char *wire = NULL;
		if ((r = mt_mailbox_wire(s, sources[i], &wire, e)) != MT_OK)
			break;
		int sel = select_again(s, wire, 0, 1, sources[i], e);
		free(wire);
		if (sel != MT_OK)
			continue;
		r = marked_idents(s, &orig, e);
		uint32_t *done = mt_xmalloc(sizeof *done * (orig.n + 1)), *undo = mt_xmalloc(sizeof *undo * (orig.n + 1));
		size_t ndone = 0, nundo = 0;
		/* each copy pairs with one original, over every source */
		for (size_t k = 0; k < orig.n; k++) {
			if (copyset_take(&cs, orig.v[k]))
				done[ndone++] = orig.uid[k];
			else
				undo[nundo++] = orig.uid[k];
		}
		if (r == MT_OK && ndone) {
			mt_sort(done, ndone, sizeof *done, mt_cmp_u32);
			if ((r = mt_uid_store(s, done, ndone, 1, "\\Deleted", e)) == MT_OK) {
				char *set = mt_uidset(done, ndone), *cmd = mt_xasprintf("UID EXPUNGE %s", set);
				r = run_ok(s, cmd, "EXPUNGE", e);
				free(cmd);
				free(set);
			}
			if (r == MT_OK)
				*finished += ndone;
		}
		if (r == MT_OK && nundo) {
			mt_sort(undo, nundo, sizeof *undo, mt_cmp_u32);
			r = mt_uid_store(s, undo, nundo, 0, MOVING_KEYWORD, e);
		}
		free(done);
		free(undo);
		idents_free(&orig);
	}
	/* 3. no original is marked any more: clear every mark in the targets */
	for (size_t t = 0; t < ntgt && r == MT_OK && any; t++) {
		uint32_t *uids = NULL;
		size_t n = 0;
		if (copy[t].n == 0 || select_again(s, targets[t], 0, 1, targets[t], e) != MT_OK)
			continue;
		r = mt_uid_search(s, "KEYWORD " MOVING_KEYWORD, &uids, &n, e);
		if (r == MT_OK && n)
			r = mt_uid_store(s, uids, n, 0, MOVING_KEYWORD, e);
		free(uids);
	}
	copyset_free(&cs);
	for (size_t t = 0; t < ntgt; t++)
		idents_free(&copy[t]);
	free(copy);
	return r;
}

/* The folder an op was planned on, selected read-write and still the same
 * folder: SELECT it again (a large folder costs the server a while), unless
 * this session holds it selected read-write already (then a NOOP). A held
 * folder that was deleted under us (and maybe created anew) refuses the next
 * command; then recheck() tells why. */
static int ensure_selected(struct mt_session *s, const struct mt_op *op, struct mt_err *e)
{
	int r, removal = op->kind == MT_OP_EXPUNGE || op->kind == MT_OP_MOVE;
	if (s->selected && strcmp(s->selected, op->wire) == 0) {
		/* before a COPY or MOVE, a NOOP hears of what other clients
		 * expunged meanwhile (Dovecot refuses UID COPY/MOVE naming a message
		 * expunged unannounced; UID STORE and UID EXPUNGE skip it) */
		int status;
		if (op->kind == MT_OP_MOVE || op->kind == MT_OP_COPY)
			if ((r = mt_imap_run(s, "NOOP", 0, NULL, &status, e)) != MT_OK)
				return r;
	} else {
		int refused;
		if ((r = mt_open_wire(s, op->wire, op->folder, 1, 0, NULL, &refused, e)) != MT_OK)
			return refused ? mt_seterr(e, MT_ETEMP, "folder '%s' went away before %s; nothing %s", op->folder,
						   removal ? "removal" : "the change", removal ? "removed" : "changed there") : r;
	}
	uint32_t v = s->imap->imap_selection_info ? s->imap->imap_selection_info->sel_uidvalidity : 0;
	if (v != op->uidvalidity)
		return mt_seterr(e, MT_ETEMP, "UIDVALIDITY of '%s' changed (%u -> %u) since selection; nothing %s",
				 op->folder, op->uidvalidity, v, removal ? "removed" : "changed there");
	return MT_OK;
}

/* The server refused a command on op's folder (r, e): when the folder went
 * away or was created anew meanwhile, say so (MT_ETEMP: a rerun plans
 * afresh); else the refusal stands. first: nothing was changed yet. */
static int recheck(struct mt_session *s, const struct mt_op *op, int first, int r, struct mt_err *e)
{
	struct mt_err e2 = { 0 };
	struct mt_folder_state st;
	int refused;
	const char *what = first ? "nothing removed" : "stopped";
	if (mt_open_wire(s, op->wire, op->folder, 1, 0, &st, &refused, &e2) != MT_OK) {
		if (!refused) {
			*e = e2;
			return e2.code;
		}
		return mt_seterr(e, MT_ETEMP, "folder '%s' went away during removal; %s", op->folder, what);
	}
	if (st.uidvalidity != op->uidvalidity)
		return mt_seterr(e, MT_ETEMP, "UIDVALIDITY of '%s' changed (%u -> %u) since selection; %s", op->folder,
				 op->uidvalidity, st.uidvalidity, what);
	return r;
}

/* Remove exactly op's UIDs (or move them to to_wire). */
static int remove_uids(struct mt_session *s, struct mt_op *op, const char *to_wire, int allow_unsafe,
		       struct mt_err *e)
{
	int uidplus = mt_has_cap(s, "UIDPLUS"), move = mt_has_cap(s, "MOVE");
	int r;
	if (op->n == 0)
		return MT_OK;
	if (!uidplus && !(to_wire && move) && !allow_unsafe)
		return mt_seterr(e, MT_EUNAVAIL, "the server lacks UIDPLUS, so '%s' cannot be expunged without also "
				 "taking messages other clients flagged \\Deleted; nothing removed "
				 "(--allow-unsafe-expunge overrides)", op->folder);

	mt_test_hook_before_remove(op->folder);
	if ((r = ensure_selected(s, op, e)) != MT_OK)
		return r;

	const uint32_t *uids = op->uids;
	uint32_t *copied = NULL;
	size_t ncopied = 0;
	char *q = to_wire ? mt_imap_quote(to_wire) : NULL;
	int guard = to_wire && !move;
	if (guard)
		r = already_copied(s, op, to_wire, &copied, &ncopied, e);
	size_t i;
	for (i = 0; i < op->n && r == MT_OK; i += UID_BATCH) {
		size_t cnt = op->n - i < UID_BATCH ? op->n - i : UID_BATCH;
		char *set = mt_uidset(uids + i, cnt), *cmd;
		r = MT_OK;
		if (to_wire && move) {
			cmd = mt_xasprintf("UID MOVE %s %s", set, q);
			r = run_ok(s, cmd, "MOVE", e);
			free(cmd);
		} else {
			if (to_wire) {
				/* mark, then copy what no earlier run copied; the originals
				 * go only once the copy succeeded */
				uint32_t *tocopy = mt_xmalloc(sizeof *tocopy * cnt);
				size_t ntocopy = 0;
				for (size_t k = 0; k < cnt; k++)
					if (!mt_bsearch(&uids[i + k], copied, ncopied, sizeof *copied, mt_cmp_u32))
						tocopy[ntocopy++] = uids[i + k];
				if (ntocopy) {
					char *cset = mt_uidset(tocopy, ntocopy);
					if (guard) {
						/* a server that takes no new keywords: move unguarded */
						int st;
						cmd = mt_xasprintf("UID STORE %s +FLAGS.SILENT (" MOVING_KEYWORD ")", cset);
						r = mt_imap_run(s, cmd, 0, NULL, &st, e);
						free(cmd);
						if (r == MT_OK && st != MT_RESP_OK)
							guard = 0;
					}
					if (r == MT_OK) {
						cmd = mt_xasprintf("UID COPY %s %s", cset, q);
						r = run_ok(s, cmd, "COPY", e);
						free(cmd);
					}
					free(cset);
				}
				free(tocopy);
				if (r == MT_OK)
					mt_test_hook("MAILTOOL_TEST_HOOK_AFTER_COPY", op->folder);
			}
			if (r == MT_OK) {
				cmd = mt_xasprintf("UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
				r = run_ok(s, cmd, "STORE", e);
				free(cmd);
			}
			if (r == MT_OK) {
				cmd = uidplus ? mt_xasprintf("UID EXPUNGE %s", set) : mt_xstrdup("EXPUNGE");
				r = run_ok(s, cmd, "EXPUNGE", e);
				free(cmd);
			}
		}
		free(set);
		if (r == MT_EUNAVAIL)
			r = recheck(s, op, i == 0, r, e);
	}
	free(q);
	free(copied);
	if (r == MT_OK && guard)
		r = unmark_copies(s, op, to_wire, e);
	/* count exactly what is gone: the planned UIDs the server no longer has;
	 * after the server refused a later batch too (the folder is still the
	 * one planned on: recheck() said so), so the report says what earlier
	 * batches removed */
	if (r == MT_OK || r == MT_EUNAVAIL) {
		uint32_t *left = NULL;
		size_t nleft = 0;
		struct mt_err e2 = { 0 };
		int r2 = mt_uid_search_in(s, uids, op->n, "ALL", &left, &nleft, r == MT_OK ? e : &e2);
		if (r2 == MT_OK)
			for (size_t i = 0; i < op->n; i++)
				if (!mt_bsearch(&uids[i], left, nleft, sizeof *left, mt_cmp_u32)) {
					op->done++;
					op->done_bytes += op->sizes ? op->sizes[i] : 0;
				}
		if (r == MT_OK)
			r = r2;
		free(left);
	}
	return r;
}

int mt_remove_selection(struct mt_session *s, struct mt_selection *sel, const char *to_wire,
			int allow_unsafe, uint64_t *removed, uint64_t *bytes, struct mt_err *e)
{
	struct mt_plan p = { .allow_unsafe = allow_unsafe };
	uint32_t *uids = mt_xmalloc(sizeof *uids * (sel->n + 1)), *sizes = mt_xmalloc(sizeof *sizes * (sel->n + 1));
	for (size_t i = 0; i < sel->n; i++) {
		uids[i] = sel->msgs[i].uid;
		sizes[i] = sel->msgs[i].size;
	}
	struct mt_op *op = mt_plan_add_uids(&p, MT_OP_EXPUNGE, sel->folder, sel->wire, sel->uidvalidity, uids, sizes,
					    sel->n);
	free(uids);
	free(sizes);
	int r = remove_uids(s, op, to_wire, allow_unsafe, e);
	*removed = op->done;
	*bytes = op->done_bytes;
	mt_plan_release(&p);
	return r;
}

/* ---- plans ------------------------------------------------------------------ */

struct mt_op *mt_plan_add(struct mt_plan *p, enum mt_op_kind kind)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->v = mt_xrealloc(p->v, sizeof *p->v * p->cap);
	}
	struct mt_op *op = &p->v[p->n++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	return op;
}

struct mt_op *mt_plan_add_uids(struct mt_plan *p, enum mt_op_kind kind, const char *folder, const char *wire,
			       uint32_t uidvalidity, const uint32_t *uids, const uint32_t *sizes, size_t n)
{
	struct mt_op *op = mt_plan_add(p, kind);
	op->folder = mt_xstrdup(folder);
	op->wire = mt_xstrdup(wire);
	op->uidvalidity = uidvalidity;
	op->n = n;
	op->uids = mt_xmalloc(sizeof *op->uids * (n + 1));
	memcpy(op->uids, uids, sizeof *op->uids * n);
	if (sizes) {
		op->sizes = mt_xmalloc(sizeof *op->sizes * (n + 1));
		memcpy(op->sizes, sizes, sizeof *op->sizes * n);
		for (size_t i = 0; i < n; i++)
			op->bytes += sizes[i];
	}
	return op;
}

void mt_plan_release(struct mt_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct mt_op *op = &p->v[i];
		free(op->label);
		free(op->folder);
		free(op->wire);
		free(op->uids);
		free(op->sizes);
		free(op->target);
		free(op->account);
		free(op->flags);
		free(op->refused);
		for (size_t k = 0; k < op->nskipped; k++)
			free(op->skipped[k].target);
		free(op->skipped);
	}
	free(p->v);
	memset(p, 0, sizeof *p);
}

static int is_msg_op(enum mt_op_kind k)
{
	return k == MT_OP_FLAG || k == MT_OP_UNFLAG || k == MT_OP_COPY || k == MT_OP_MOVE || k == MT_OP_EXPUNGE;
}

/* The session an op's folder or target is on: s, or its other account's. */
static int session_of(struct mt_session *s, const struct mt_plan *p, const struct mt_op *op, struct mt_session **out,
		      struct mt_err *e)
{
	*out = s;
	if (op->account == NULL)
		return MT_OK;
	if (p->dest == NULL)
		return mt_seterr(e, MT_ESOFT, "internal: a change on account '%s' planned without its session", op->account);
	return p->dest(p->dest_arg, op->account, out, e);
}

/* A copy or move to another account: the source name here, the target
 * there, and an exact removal of the originals. */
static int check_xfer(struct mt_session *s, struct mt_session *d, const struct mt_plan *p, const struct mt_op *op,
		      struct mt_err *e)
{
	char *w = NULL;
	int r = mt_mailbox_wire(s, op->folder ? op->folder : "", &w, e);
	free(w);
	w = NULL;
	if (r == MT_OK && op->target == NULL)
		r = mt_seterr(e, MT_ESOFT, "internal: a copy or move without a target");
	if (r == MT_OK)
		r = mt_mailbox_wire(d, op->target, &w, e);
	free(w);
	if (r == MT_OK && op->n && (op->wire == NULL || op->uidvalidity == 0))
		r = mt_seterr(e, MT_ESOFT, "internal: a change to '%s' planned without its selection", op->folder);
	if (r == MT_OK && op->kind == MT_OP_MOVE && op->n && !mt_has_cap(s, "UIDPLUS") && !p->allow_unsafe)
		r = mt_seterr(e, MT_EUNAVAIL, "the server lacks UIDPLUS, so '%s' cannot be expunged without also "
			      "taking messages other clients flagged \\Deleted; nothing moved "
			      "(--allow-unsafe-expunge overrides)", op->folder);
	return r;
}

int mt_plan_check(struct mt_session *s, const struct mt_plan *p, struct mt_err *e)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct mt_op *op = &p->v[i];
		char *w = NULL;
		struct mt_session *os;
		int r = session_of(s, p, op, &os, e);
		if (r == MT_OK && op->account && (op->kind == MT_OP_COPY || op->kind == MT_OP_MOVE))
			r = check_xfer(s, os, p, op, e);
		if (r != MT_OK)
			return r;
		if (op->account && (op->kind == MT_OP_COPY || op->kind == MT_OP_MOVE))
			continue;
		r = mt_mailbox_wire(os, op->folder ? op->folder : "", &w, e);
		free(w);
		w = NULL;
		if (r != MT_OK)
			return r;
		if (op->kind == MT_OP_COPY || op->kind == MT_OP_MOVE) {
			if (op->target == NULL)
				return mt_seterr(e, MT_ESOFT, "internal: a copy or move without a target");
			r = mt_mailbox_wire(s, op->target, &w, e);
			free(w);
			if (r != MT_OK)
				return r;
		}
		if (is_msg_op(op->kind) && (op->wire == NULL || op->uidvalidity == 0) && op->n)
			return mt_seterr(e, MT_ESOFT, "internal: a change to '%s' planned without its selection", op->folder);
		if (op->kind == MT_OP_EXPUNGE && op->n && !mt_has_cap(s, "UIDPLUS") && !p->allow_unsafe)
			return mt_seterr(e, MT_EUNAVAIL, "the server lacks UIDPLUS, so '%s' cannot be expunged without also "
					 "taking messages other clients flagged \\Deleted; nothing removed "
					 "(--allow-unsafe-expunge overrides)", op->folder);
		if (op->kind == MT_OP_MOVE && op->n && !mt_has_cap(s, "MOVE") && !mt_has_cap(s, "UIDPLUS") && !p->allow_unsafe)
			return mt_seterr(e, MT_EUNAVAIL, "the server has neither MOVE nor UIDPLUS: '%s' cannot be moved "
					 "exactly; nothing moved", op->folder);
	}
	return MT_OK;
}

static int set_quota(struct mt_session *s, struct mt_op *op, struct mt_err *e)
{
	/* "STORAGE 1048576 MESSAGE 5000" */
	char *copy = mt_xstrdup(op->flags ? op->flags : ""), *save = NULL;
	const char *res[16];
	uint64_t val[16];
	size_t n = 0;
	int r = MT_OK;
	for (char *t = strtok_r(copy, " ", &save); t && r == MT_OK; t = strtok_r(NULL, " ", &save)) {
		char *v = strtok_r(NULL, " ", &save), *end;
		if (v == NULL || n == 16)
			r = mt_seterr(e, MT_ESOFT, "internal: a quota change planned as '%s'", op->flags);
		else {
			res[n] = t;
			val[n++] = strtoull(v, &end, 10);
		}
	}
	if (r == MT_OK)
		r = mt_setquota(s, op->folder, res, val, n, e);
	free(copy);
	return r;
}

int mt_plan_run(struct mt_session *s, struct mt_plan *p, struct mt_err *e)
{
	int r = MT_OK;
	for (size_t i = 0; i < p->n && r == MT_OK; i++) {
		struct mt_op *op = &p->v[i];
		char *tw = NULL;
		struct mt_session *os;
		if ((r = session_of(s, p, op, &os, e)) != MT_OK)
			break;
		if (op->account && (op->kind == MT_OP_COPY || op->kind == MT_OP_MOVE)) {
			/* to another account: a dry run reads what the real one would find */
			r = mt_xfer_run(s, os, op, p->dry_run, p->allow_unsafe, e);
		} else if (p->dry_run) {
			continue;
		} else if (op->target && (r = mt_mailbox_wire(s, op->target, &tw, e)) != MT_OK) {
			break;
		} else switch (op->kind) {
		case MT_OP_CREATE:
			if ((r = mt_create(os, op->folder, op->flags, e)) == MT_OK)
				r = mt_subscribe(os, op->folder, 1, e);
			break;
		case MT_OP_SUBSCRIBE:
		case MT_OP_UNSUBSCRIBE:
			r = mt_subscribe(os, op->folder, op->kind == MT_OP_SUBSCRIBE, e);
			break;
		case MT_OP_FLAG:
		case MT_OP_UNFLAG:
		case MT_OP_COPY:
			if (op->n == 0)
				break;
			if ((r = ensure_selected(s, op, e)) != MT_OK)
				break;
			r = op->kind == MT_OP_COPY ? mt_uid_copy(s, op->uids, op->n, tw, e)
						   : mt_uid_store(s, op->uids, op->n, op->kind == MT_OP_FLAG, op->flags, e);
			if (r == MT_OK) {
				op->done = op->n;
				op->done_bytes = op->bytes;
			}
			break;
		case MT_OP_MOVE:
		case MT_OP_EXPUNGE:
			r = remove_uids(s, op, op->kind == MT_OP_MOVE ? tw : NULL, p->allow_unsafe, e);
			break;
		case MT_OP_SETQUOTA:
			r = set_quota(s, op, e);
			break;
		}
		free(tw);
		if (r == MT_OK) {
			op->ran = 1;
		} else if (p->keep_going && r == MT_EUNAVAIL) {
			op->refused = mt_xstrdup(e->msg);
			r = MT_OK;
		}
	}
	return r;
}

static int uid_command(struct mt_session *s, const uint32_t *uids, size_t n, const char *fmt, const char *arg,
		       const char *what, struct mt_err *e)
{
	int r = MT_OK;
	for (size_t i = 0; i < n && r == MT_OK; i += UID_BATCH) {
		size_t cnt = n - i < UID_BATCH ? n - i : UID_BATCH;
		char *set = mt_uidset(uids + i, cnt), *cmd = mt_xasprintf(fmt, set, arg);
		r = run_ok(s, cmd, what, e);
		free(cmd);
		free(set);
	}
	return r;
}

int mt_uid_store(struct mt_session *s, const uint32_t *uids, size_t n, int add, const char *flags, struct mt_err *e)
{
	return uid_command(s, uids, n, add ? "UID STORE %s +FLAGS.SILENT (%s)" : "UID STORE %s -FLAGS.SILENT (%s)",
			   flags, "STORE", e);
}

int mt_uid_copy(struct mt_session *s, const uint32_t *uids, size_t n, const char *to_wire, struct mt_err *e)
{
	char *q = mt_imap_quote(to_wire);
	int r = uid_command(s, uids, n, "UID COPY %s %s", q, "COPY", e);
	free(q);
	return r;
}
