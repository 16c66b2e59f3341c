/* folder.c — opening a folder (the one SELECT/EXAMINE path), asking it
 * which UIDs match (SEARCH, always within what was asked), and the folder
 * names an applet's arguments stand for. */
#include "select_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void mt_sort_unique_u32(uint32_t *v, size_t *n)
{
	size_t k = 0;
	mt_sort(v, *n, sizeof *v, mt_cmp_u32);
	for (size_t i = 0; i < *n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	*n = k;
}

/* Anything a SEARCH answer names outside the scope asked is dropped,
 * duplicates too: an answer never widens what was asked. */
int mt_scope_has(const struct mt_scope *sc, uint32_t uid)
{
	if (sc->set)
		return sc->n && mt_bsearch(&uid, sc->set, sc->n, sizeof *sc->set, mt_cmp_u32) != NULL;
	return uid >= sc->lo && (sc->hi == 0 || uid <= sc->hi);
}

/* The scope of the selected folder: the UIDs below the UIDNEXT its SELECT
 * or EXAMINE reported, narrowed to lo..hi when given. */
struct mt_scope mt_selected_scope(const struct mt_session *s, uint32_t lo, uint32_t hi)
{
	struct mt_scope sc = { .lo = lo ? lo : 1, .hi = hi };
	if (s->sel_uidnext == 1 || (hi && hi < sc.lo))
		sc.empty = 1;   /* an empty folder (or range): nothing to ask */
	else if (s->sel_uidnext > 1 && (sc.hi == 0 || sc.hi > s->sel_uidnext - 1))
		sc.hi = s->sel_uidnext - 1;
	if (sc.hi && sc.lo > sc.hi)
		sc.empty = 1;
	return sc;
}

/* UIDs of the answer to a SORT: libetpan keeps them with the extension data
 * of the last response (a clist of uint32_t *, as SEARCH's). */
static clist *sort_result(struct mt_session *s)
{
	clist *ext = s->imap->imap_response_info ? s->imap->imap_response_info->rsp_extension_list : NULL;
	MT_EACH(it, ext) {
		struct mailimap_extension_data *d = clist_content(it);
		if (d && d->ext_extension && d->ext_extension->ext_id == MAILIMAP_EXTENSION_SORT && d->ext_data)
			return d->ext_data;
	}
	return NULL;
}

/* UID SEARCH (sort_keys NULL) or UID SORT (sort_keys) UTF-8 within the
 * scope: the answer's UIDs outside it are dropped, and so are repeats; a
 * SEARCH answer comes back sorted by UID, a SORT answer in its order. */
static int uid_search_scoped(struct mt_session *s, const struct mt_scope *sc, const char *sort_keys,
			     const char *criteria, uint32_t **uids, size_t *n, struct mt_err *e)
{
	int status, r;
	*uids = NULL;
	*n = 0;
	if (sc->empty || (sc->set && sc->n == 0)) {
		*uids = mt_xmalloc(sizeof **uids);
		return MT_OK;   /* nothing can be in an empty scope: no round trip */
	}
	char *set = sc->set ? mt_uidset(sc->set, sc->n)
			    : sc->hi ? mt_xasprintf("%u:%u", sc->lo, sc->hi) : mt_xasprintf("%u:*", sc->lo);
	char *cmd = sort_keys ? mt_xasprintf("UID SORT (%s) UTF-8 UID %s %s", sort_keys, set, criteria)
			      : mt_xasprintf("UID SEARCH UID %s %s", set, criteria);
	free(set);
	r = mt_imap_run(s, cmd, 0, NULL, &status, e);
	free(cmd);
	if (r != MT_OK)
		return r;
	if (status != MT_RESP_OK)
		return mt_seterr(e, MT_EPROTO, "%s failed: %s", sort_keys ? "SORT" : "SEARCH", mt_imap_last_text(s));
	clist *res = sort_keys ? sort_result(s)
			       : s->imap->imap_response_info ? s->imap->imap_response_info->rsp_search_result : NULL;
	size_t cnt = res ? (size_t)clist_count(res) : 0;
	*uids = mt_xmalloc(sizeof **uids * (cnt ? cnt : 1));
	MT_EACH(it, res) {
		uint32_t u = *(uint32_t *)clist_content(it);
		if (mt_scope_has(sc, u))
			(*uids)[(*n)++] = u;
	}
	if (!sort_keys) {
		mt_sort_unique_u32(*uids, n);
		return MT_OK;
	}
	/* the server's order is the answer: a repeat is dropped where it
	 * comes again (a sorted copy says which UIDs were taken already) */
	size_t nu = *n, k = 0;
	uint32_t *sorted = mt_xmalloc(sizeof *sorted * (nu ? nu : 1));
	memcpy(sorted, *uids, sizeof *sorted * nu);
	mt_sort_unique_u32(sorted, &nu);
	unsigned char *taken = mt_xmalloc(nu ? nu : 1);
	for (size_t i = 0; i < *n; i++) {
		const uint32_t *at = mt_bsearch(&(*uids)[i], sorted, nu, sizeof *sorted, mt_cmp_u32);
		size_t j = (size_t)(at - sorted);
		if (taken[j])
			continue;
		taken[j] = 1;
		(*uids)[k++] = (*uids)[i];
	}
	*n = k;
	free(taken);
	free(sorted);
	return MT_OK;
}

uint32_t mt_selected_uidnext(const struct mt_session *s)
{
	return s->sel_open ? s->sel_uidnext : 0;
}

int mt_uid_search(struct mt_session *s, const char *criteria, uint32_t **uids, size_t *n, struct mt_err *e)
{
	struct mt_scope sc = mt_selected_scope(s, 1, 0);
	return uid_search_scoped(s, &sc, NULL, criteria, uids, n, e);
}

int mt_uid_sort(struct mt_session *s, const char *keys, const char *criteria, uint32_t **uids, size_t *n,
		struct mt_err *e)
{
	struct mt_scope sc = mt_selected_scope(s, 1, 0);
	*uids = NULL;
	*n = 0;
	if (!mt_has_cap(s, "SORT"))
		return mt_seterr(e, MT_EUNAVAIL, "the server has no SORT");
	return uid_search_scoped(s, &sc, keys, criteria, uids, n, e);
}

int mt_uid_search_range(struct mt_session *s, uint32_t lo, uint32_t hi, const char *criteria, uint32_t **uids,
			size_t *n, struct mt_err *e)
{
	struct mt_scope sc = mt_selected_scope(s, lo, hi);
	return uid_search_scoped(s, &sc, NULL, criteria, uids, n, e);
}

int mt_uid_search_in(struct mt_session *s, const uint32_t *set, size_t nset, const char *criteria, uint32_t **uids,
		     size_t *n, struct mt_err *e)
{
	struct mt_scope sc = { .set = set, .n = nset };
	return uid_search_scoped(s, &sc, NULL, criteria, uids, n, e);
}

int mt_open_wire(struct mt_session *s, const char *wire, const char *folder, int rw, int condstore,
		 struct mt_folder_state *st, int *refused, struct mt_err *e)
{
	uint64_t modseq = 0;
	int r;
	*refused = 0;
	if (st)
		memset(st, 0, sizeof *st);
	if (condstore && mt_has_cap(s, "CONDSTORE"))
		r = rw ? mailimap_select_condstore(s->imap, wire, &modseq) : mailimap_examine_condstore(s->imap, wire, &modseq);
	else
		r = rw ? mailimap_select(s->imap, wire) : mailimap_examine(s->imap, wire);
	mt_session_selected(s, r == MAILIMAP_NO_ERROR ? wire : NULL, rw);
	if (r != MAILIMAP_NO_ERROR) {
		if (r == MAILIMAP_ERROR_EXAMINE || r == MAILIMAP_ERROR_SELECT) {
			*refused = 1;
			return mt_seterr(e, MT_EDATA, "cannot open folder '%s': %s", folder, mt_imap_last_text(s));
		}
		return mt_imap_error(s, r, rw ? "SELECT" : "EXAMINE", e);
	}
	struct mailimap_selection_info *si = s->imap->imap_selection_info;
	if (st && si) {
		st->uidvalidity = si->sel_uidvalidity;
		st->uidnext = si->sel_uidnext;
		st->exists = si->sel_has_exists ? si->sel_exists : 0;
		/* FLAGS lists the keywords the folder knows: free to look at */
		MT_EACH(it, si->sel_flags ? si->sel_flags->fl_list : NULL) {
			const struct mailimap_flag *f = clist_content(it);
			if (f && f->fl_type == MAILIMAP_FLAG_KEYWORD && f->fl_data.fl_keyword &&
			    strcasecmp(f->fl_data.fl_keyword, MOVING_KEYWORD) == 0)
				st->marked = 1;
		}
		st->highestmodseq = modseq;
	}
	return MT_OK;
}

int mt_open_folder(struct mt_session *s, const char *folder, int readonly, char **wire,
		   struct mt_folder_state *st, struct mt_err *e)
{
	int refused, r;
	*wire = NULL;
	if ((r = mt_mailbox_wire(s, folder, wire, e)) != MT_OK)
		return r;
	if ((r = mt_open_wire(s, *wire, folder, !readonly, 1, st, &refused, e)) != MT_OK)
		return r;
	mt_test_hook("MAILTOOL_TEST_HOOK_AFTER_SELECT", folder);
	return MT_OK;
}

struct collect_uids {
	uint32_t *v;
	size_t n, cap;
};

static int collect_uid(const struct mt_fetched *m, void *arg)
{
	struct collect_uids *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->v = mt_xrealloc(c->v, sizeof *c->v * c->cap);
	}
	c->v[c->n++] = m->uid;
	return 0;
}

int mt_uid_changed_since(struct mt_session *s, uint64_t modseq, uint32_t **uids, size_t *n, struct mt_err *e)
{
	struct mt_fetch_spec spec = { .changed_since = modseq };
	struct collect_uids c = { 0 };
	int r = mt_fetch_each(s, NULL, 0, &spec, collect_uid, &c, e);
	*uids = c.v ? c.v : mt_xmalloc(sizeof **uids);
	*n = c.n;
	if (r == MT_OK)
		mt_sort_unique_u32(*uids, n);
	return r;
}

/* The names mail clients give these folders where the server marks none
 * (no SPECIAL-USE: Courier 5.0, older Cyrus; or special_use not set). */
static const char *const *well_known_names(const char *use)
{
	static const char *const trash[] = { "Trash", "Deleted Items", "Deleted Messages", NULL };
	static const char *const junk[] = { "Junk", "Spam", "Junk E-mail", "Junk Email", NULL };
	static const char *const sent[] = { "Sent", "Sent Items", "Sent Messages", NULL };
	static const char *const drafts[] = { "Drafts", NULL };
	static const char *const archive[] = { "Archive", NULL };
	static const char *const none[] = { NULL };
	return strcmp(use, "\\Trash") == 0 ? trash : strcmp(use, "\\Junk") == 0 ? junk :
	       strcmp(use, "\\Sent") == 0 ? sent : strcmp(use, "\\Drafts") == 0 ? drafts :
	       strcmp(use, "\\Archive") == 0 ? archive : none;
}

int mt_special_folder(struct mt_session *s, const char *use, char **folder, char **wire, struct mt_err *e)
{
	struct mt_mailboxes m;
	int r = mt_list(s, "*", &m, e);
	*folder = *wire = NULL;
	if (r != MT_OK)
		return r;
	for (size_t i = 0; i < m.n; i++) {
		const char *sp = m.v[i].special;
		size_t ul = strlen(use);
		for (const char *p = sp; p && (p = strstr(p, use)) != NULL; p += ul)
			if ((p[ul] == '\0' || p[ul] == ' ') && !(m.v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))) {
				*folder = mt_xstrdup(m.v[i].name);
				*wire = mt_xstrdup(m.v[i].wire);
				mt_mailboxes_release(&m);
				return MT_OK;
			}
	}
	/* no folder is marked: the first well-known name at the top of the
	 * personal namespace ("Trash", or "INBOX.Trash" under Courier's prefix) */
	const char *prefix = "";
	if ((r = mt_personal_prefix(s, &prefix, e)) != MT_OK) {
		mt_mailboxes_release(&m);
		return r;
	}
	size_t pl = strlen(prefix);
	for (const char *const *n = well_known_names(use); *n && *folder == NULL; n++)
		for (size_t i = 0; i < m.n && *folder == NULL; i++) {
			const char *name = m.v[i].name;
			if (m.v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))
				continue;
			if (strcasecmp(name, *n) == 0 || (pl && strncmp(name, prefix, pl) == 0 && strcasecmp(name + pl, *n) == 0)) {
				*folder = mt_xstrdup(name);
				*wire = mt_xstrdup(m.v[i].wire);
			}
		}
	mt_mailboxes_release(&m);
	return MT_OK;
}

/* ---- folder arguments ------------------------------------------------------ */

int mt_expand_folders(struct mt_session *s, const char *const *args, size_t nargs, int recursive,
		      char ***out, size_t *nout, struct mt_err *e)
{
	return mt_expand_folders_missed(s, args, nargs, recursive, NULL, out, nout, e);
}

int mt_expand_folders_missed(struct mt_session *s, const char *const *args, size_t nargs, int recursive,
			     unsigned char *missed, char ***out, size_t *nout, struct mt_err *e)
{
	struct mt_mailboxes all;
	char delim = 0;
	int r;
	size_t cap = 0;
	*out = NULL;
	*nout = 0;
	if ((r = mt_list(s, "*", &all, e)) != MT_OK)
		return r;
	if ((r = mt_delimiter(s, &delim, e)) != MT_OK) {
		mt_mailboxes_release(&all);
		return r;
	}
	/* hash indexes, not a scan per name: a Cyrus admin's '*' is 200,000 folders */
	struct mt_strindex *taken = mt_strindex_new();
	for (size_t a = 0; a < nargs && r == MT_OK; a++) {
		const char *arg = args[a];
		char *pre = NULL;   /* arg under the personal namespace prefix, on a second pass */
		int wild = strpbrk(arg, "*%") != NULL, found = 0, parent = 0;
		struct mt_mailboxes m = { 0 };
		struct mt_strindex *hits = NULL;
	again:
		if (wild) {
			if ((r = mt_list(s, arg, &m, e)) != MT_OK)
				break;
			hits = mt_strindex_new();
			for (size_t k = 0; k < m.n; k++)
				mt_strindex_put(hits, m.v[k].name, k);
		}
		size_t al = strlen(arg);
		for (size_t i = 0; i < all.n; i++) {
			struct mt_mailbox *b = &all.v[i];
			int hit;
			if (wild)
				hit = mt_strindex_get(hits, b->name) >= 0;
			else
				hit = strcmp(b->name, arg) == 0 || (strcasecmp(arg, "INBOX") == 0 && strcmp(b->wire, "INBOX") == 0);
			if (b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) {
				parent |= hit;   /* there, but it only holds other folders */
				continue;
			}
			/* --recursive: the folder's whole subtree */
			if (!hit && recursive && delim && !wild)
				hit = strncmp(b->name, arg, al) == 0 && b->name[al] == delim;
			if (!hit)
				continue;
			found = 1;
			if (mt_strindex_get(taken, b->name) >= 0)
				continue;
			if (*nout == cap) {
				cap = cap ? 2 * cap : 16;
				*out = mt_xrealloc(*out, sizeof **out * cap);
			}
			(*out)[*nout] = mt_xstrdup(b->name);
			mt_strindex_put(taken, (*out)[*nout], *nout);
			(*nout)++;
		}
		if (wild) {
			mt_strindex_free(hits);
			hits = NULL;
			mt_mailboxes_release(&m);
		}
		/* mt_list tries the prefix itself for patterns; names are matched here */
		if (!found && !wild && pre == NULL && (pre = mt_prefixed_name(s, arg)) != NULL) {
			arg = pre;
			goto again;
		}
		free(pre);
		if (missed)
			missed[a] = found ? 0 : parent ? MT_ARG_NOSELECT : MT_ARG_NONE;
		else if (!found)
			r = mt_seterr(e, MT_EDATA, "no folder '%s'", args[a]);
	}
	mt_strindex_free(taken);
	mt_mailboxes_release(&all);
	if (r != MT_OK) {
		mt_free_folders(*out, *nout);
		*out = NULL;
		*nout = 0;
	}
	return r;
}

void mt_free_folders(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void mt_test_hook(const char *var, const char *folder)
{
	const char *hook = getenv(var);
	if (hook && *hook) {
		char pid[24];
		snprintf(pid, sizeof pid, "%ld", (long)getpid());
		setenv("MAILTOOL_TEST_FOLDER", folder, 1);
		setenv("MAILTOOL_PID", pid, 1);
		if (system(hook) != 0) {
			/* a hook's failure is the test's business */
		}
	}
}

