/* imap.c — mailbox operations on an open session: LIST, STATUS (pipelined),
 * sizes, NAMESPACE, QUOTA. Where libetpan 1.9 lacks something it is extended
 * here through its extension API or a raw command, and said so. */
#include "select_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- STATUS=SIZE (RFC 8438): libetpan 1.9 does not know the SIZE status
 * attribute, so it is parsed by a registered extension: libetpan calls the
 * STATUS_ATT extension parser for attributes its own parser rejects. */

static void size_ext_free(struct mailimap_extension_data *d);
static int size_ext_parse(int calling_parser, mailstream *fd, MMAPString *buffer,
			  struct mailimap_parser_context *ctx, size_t *indx,
			  struct mailimap_extension_data **result, size_t progr_rate,
			  progress_function *progr_fun);

static struct mailimap_extension_api size_ext = {
	.ext_name = "STATUS=SIZE",
	.ext_id = -1,
	.ext_parser = size_ext_parse,
	.ext_free = size_ext_free,
};

static int size_ext_parse(int calling_parser, mailstream *fd, MMAPString *buffer,
			  struct mailimap_parser_context *ctx, size_t *indx,
			  struct mailimap_extension_data **result, size_t progr_rate,
			  progress_function *progr_fun)
{
	(void)fd; (void)ctx; (void)progr_rate; (void)progr_fun;
	if (calling_parser != MAILIMAP_EXTENDED_PARSER_STATUS_ATT || *indx >= buffer->len)
		return MAILIMAP_ERROR_PARSE;
	const char *p = buffer->str + *indx;
	if (buffer->len - *indx < 6 || strncasecmp(p, "SIZE ", 5) != 0)
		return MAILIMAP_ERROR_PARSE;
	p += 5;
	uint64_t v = 0;
	int digits = 0;
	/* RFC 8438: number64 (63 bits); anything else is a parse error */
	while (isdigit((unsigned char)*p)) {
		if (++digits > 19 || v > (UINT64_C(0x7FFFFFFFFFFFFFFF) - (uint64_t)(*p - '0')) / 10)
			return MAILIMAP_ERROR_PARSE;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (digits == 0)
		return MAILIMAP_ERROR_PARSE;
	uint64_t *val = malloc(sizeof *val);
	if (val == NULL)
		return MAILIMAP_ERROR_MEMORY;
	*val = v;
	*result = mailimap_extension_data_new(&size_ext, 0, val);
	if (*result == NULL) {
		free(val);
		return MAILIMAP_ERROR_MEMORY;
	}
	*indx = (size_t)(p - buffer->str);
	return MAILIMAP_NO_ERROR;
}

static void size_ext_free(struct mailimap_extension_data *d)
{
	if (d) {
		free(d->ext_data);
		free(d);
	}
}

/* ---- "* QUOTA root" with no resource list: Courier 5.0 answers so for a
 * user without a quota, against RFC 2087/9208's grammar. libetpan's quota
 * parser rejects the line and with it the whole response; libetpan tries
 * registered extensions after its own, so this one takes exactly that form
 * (QUOTA SP astring, then end of line) and stands for "no limits". */

static int bare_quota_parse(int calling_parser, mailstream *fd, MMAPString *buffer,
			    struct mailimap_parser_context *ctx, size_t *indx,
			    struct mailimap_extension_data **result, size_t progr_rate,
			    progress_function *progr_fun);
static void bare_quota_free(struct mailimap_extension_data *d) { free(d); }

static struct mailimap_extension_api bare_quota_ext = {
	.ext_name = "QUOTA-without-resources",
	.ext_id = -1,
	.ext_parser = bare_quota_parse,
	.ext_free = bare_quota_free,
};

/* Length of the quota root at p: a quoted string or an atom; 0 if neither. */
static size_t bare_quota_root_len(const char *p, size_t len)
{
	size_t i = 0;
	if (len && p[0] == '"') {
		for (i = 1; i < len && p[i] != '"'; i++)
			if (p[i] == '\\' && ++i >= len)
				return 0;
			else if (p[i] == '\r' || p[i] == '\n')
				return 0;
		return i < len ? i + 1 : 0;
	}
	while (i < len && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f && !strchr("(){%*\"\\", p[i]))
		i++;
	return i;
}

static int bare_quota_parse(int calling_parser, mailstream *fd, MMAPString *buffer,
			    struct mailimap_parser_context *ctx, size_t *indx,
			    struct mailimap_extension_data **result, size_t progr_rate,
			    progress_function *progr_fun)
{
	(void)fd; (void)ctx; (void)progr_rate; (void)progr_fun;
	if (calling_parser != MAILIMAP_EXTENDED_PARSER_MAILBOX_DATA || *indx >= buffer->len)
		return MAILIMAP_ERROR_PARSE;
	const char *p = buffer->str + *indx;
	size_t left = buffer->len - *indx, n;
	if (left < 7 || strncasecmp(p, "QUOTA ", 6) != 0)
		return MAILIMAP_ERROR_PARSE;
	n = bare_quota_root_len(p + 6, left - 6);
	if (n == 0 || 6 + n >= left || (p[6 + n] != '\r' && p[6 + n] != '\n'))
		return MAILIMAP_ERROR_PARSE;
	*result = mailimap_extension_data_new(&bare_quota_ext, 0, NULL);
	if (*result == NULL)
		return MAILIMAP_ERROR_MEMORY;
	*indx += 6 + n;
	return MAILIMAP_NO_ERROR;
}

static void register_extensions(void)
{
	static int done;
	if (!done) {
		mailimap_extension_register(&size_ext);
		mailimap_extension_register(&bare_quota_ext);
		done = 1;
	}
}

/* ---- names ------------------------------------------------------------- */

int mt_mailbox_wire(struct mt_session *s, const char *utf8, char **wire, struct mt_err *e)
{
	if (!mt_mailbox_name_ok(utf8))
		return mt_seterr(e, MT_EDATA, "bad folder name: must be non-empty without CR or LF");
	if (strcasecmp(utf8, "INBOX") == 0) {
		*wire = mt_xstrdup("INBOX");
		return MT_OK;
	}
	if (s->utf8_accept) {
		*wire = mt_xstrdup(utf8);
		return MT_OK;
	}
	*wire = mt_mutf7_encode(utf8);
	if (*wire == NULL)
		return mt_seterr(e, MT_EDATA, "bad folder name '%s': not valid UTF-8", utf8);
	return MT_OK;
}

static char *display_name(struct mt_session *s, const char *wire)
{
	char *d;
	if (s->utf8_accept)
		return mt_xstrdup(wire);
	d = mt_mutf7_decode(wire);
	return d ? d : mt_xstrdup(wire);  /* not valid mUTF-7: show it as the server sent it */
}

int mt_delimiter(struct mt_session *s, char *delim, struct mt_err *e)
{
	if (!s->delim_known) {
		clist *res = NULL;
		register_extensions();
		int r = mailimap_list(s->imap, "", "", &res);
		if (r != MAILIMAP_NO_ERROR)
			return mt_imap_error(s, r, "LIST", e);
		s->delim = 0;
		if (res && clist_begin(res)) {
			struct mailimap_mailbox_list *mb = clist_content(clist_begin(res));
			s->delim = mb->mb_delimiter;
		}
		if (res)
			mailimap_list_result_free(res);
		s->delim_known = 1;
	}
	*delim = s->delim;
	return MT_OK;
}

static void ns_append(char **out, const char *label, struct mailimap_namespace_item *it)
{
	char *old = *out;
	if (it == NULL) {
		*out = mt_xasprintf("%s%s%s: none", old ? old : "", old ? "; " : "", label);
		free(old);
		return;
	}
	*out = mt_xasprintf("%s%s%s:", old ? old : "", old ? "; " : "", label);
	free(old);
	MT_EACH(c, it->ns_data_list) {
		struct mailimap_namespace_info *ni = clist_content(c);
		old = *out;
		*out = mt_xasprintf("%s \"%s\" (delimiter %c)", old, ni->ns_prefix,
				    ni->ns_delimiter ? ni->ns_delimiter : '-');
		free(old);
	}
}

int mt_namespace_text(struct mt_session *s, const char **out, struct mt_err *e)
{
	if (s->ns_text == NULL) {
		if (!mt_has_cap(s, "NAMESPACE")) {
			s->ns_text = mt_xstrdup("not supported by the server");
		} else {
			/* Run by hand, not mailimap_namespace(): libetpan 1.9 leaks the
			 * response when the server sends no NAMESPACE data (found by
			 * tests/fuzz/fuzz_response.c). The data is taken from the
			 * extension results the parse left behind. */
			int status = MT_RESP_BAD, r;
			if ((r = mt_imap_run(s, "NAMESPACE", 0, NULL, &status, e)) != MT_OK)
				return r;
			if (status != MT_RESP_OK)
				return mt_seterr(e, MT_EPROTO, "server refused NAMESPACE: %s", mt_imap_last_text(s));
			struct mailimap_namespace_data *nd = NULL;
			clist *ext = s->imap->imap_response_info ? s->imap->imap_response_info->rsp_extension_list : NULL;
			MT_EACH(it, ext) {
				struct mailimap_extension_data *d = clist_content(it);
				if (d && d->ext_extension && d->ext_extension->ext_id == MAILIMAP_EXTENSION_NAMESPACE &&
				    d->ext_type == MAILIMAP_NAMESPACE_TYPE_NAMESPACE && d->ext_data) {
					nd = d->ext_data;
					d->ext_data = NULL;   /* ours now; libetpan frees the rest */
					break;
				}
			}
			if (nd == NULL)
				return mt_seterr(e, MT_EPROTO, "server answered NAMESPACE without namespaces");
			if (nd->ns_personal && clist_begin(nd->ns_personal->ns_data_list)) {
				struct mailimap_namespace_info *ni = clist_content(clist_begin(nd->ns_personal->ns_data_list));
				if (ni && ni->ns_prefix && mt_mailbox_name_ok(ni->ns_prefix))
					s->ns_personal = display_name(s, ni->ns_prefix);
			}
			ns_append(&s->ns_text, "personal", nd->ns_personal);
			ns_append(&s->ns_text, "other users", nd->ns_other);
			ns_append(&s->ns_text, "shared", nd->ns_shared);
			mailimap_namespace_data_free(nd);
		}
	}
	*out = s->ns_text;
	return MT_OK;
}

int mt_personal_prefix(struct mt_session *s, const char **prefix, struct mt_err *e)
{
	const char *text;
	int r;
	*prefix = "";
	if (s->ns_text == NULL && (r = mt_namespace_text(s, &text, e)) != MT_OK)
		return r;
	if (s->ns_personal)
		*prefix = s->ns_personal;
	return MT_OK;
}

char *mt_prefixed_name(struct mt_session *s, const char *name)
{
	const char *prefix;
	struct mt_err e;
	size_t pl;
	if (strcasecmp(name, "INBOX") == 0 || mt_personal_prefix(s, &prefix, &e) != MT_OK || *prefix == '\0')
		return NULL;
	pl = strlen(prefix);
	/* "inbox.Sent" is already under "INBOX." (INBOX is case-insensitive) */
	size_t ci = strncasecmp(prefix, "INBOX", 5) == 0 ? 5 : 0;
	if (strlen(name) >= pl && strncasecmp(name, prefix, ci) == 0 && strncmp(name + ci, prefix + ci, pl - ci) == 0)
		return NULL;
	return mt_xasprintf("%s%s", prefix, name);
}

int mt_foreign_name(struct mt_session *s, const char *name, char **out, struct mt_err *e)
{
	char delim = 0;
	const char *prefix;
	int r = mt_delimiter(s, &delim, e);
	*out = NULL;
	if (r == MT_OK)
		r = mt_personal_prefix(s, &prefix, e);
	if (r != MT_OK)
		return r;
	/* "Archive/v1.2" for a server whose levels are '.': is the dot a level
	 * or part of the name? Either notation alone is clear ('/' everywhere,
	 * or the server's own, "INBOX.Archive.2024"); the two mixed are not */
	if (delim && delim != '/' && strchr(name, '/') && strchr(name, delim))
		return mt_seterr(e, MT_EDATA, "folder '%s' mixes '/' and the server's hierarchy delimiter '%c': write every "
				 "level with one of them (a '%c' cannot be part of a name there)", name, delim, delim);
	char *n = mt_xstrdup(name), *pre;
	if (delim && delim != '/')
		for (char *p = n; *p; p++)
			if (*p == '/')
				*p = delim;
	if ((pre = mt_prefixed_name(s, n)) != NULL) {
		free(n);
		n = pre;
	}
	*out = n;
	return MT_OK;
}

/* ---- LIST -------------------------------------------------------------- */

static void add_flag(char **special, const char *f)
{
	char *old = *special;
	size_t fl = strlen(f);
	/* merged from two LISTs (Cyrus 3.6 sends special-use in both): once only */
	for (const char *p = old; p && (p = strchr(p, '\\')) != NULL; p++)
		if (strncmp(p + 1, f, fl) == 0 && (p[fl + 1] == '\0' || p[fl + 1] == ' '))
			return;
	*special = mt_xasprintf("%s%s\\%s", old && *old ? old : "", old && *old ? " " : "", f);
	free(old);
}

static int has_noselect(const struct mailimap_mailbox_list *mb)
{
	const struct mailimap_mbx_list_flags *fl = mb->mb_flag;
	if (fl == NULL)
		return 0;
	if (fl->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG && fl->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		return 1;
	MT_EACH(o, fl->mbf_oflags) {
		const struct mailimap_mbx_list_oflag *of = clist_content(o);
		if (of && of->of_type == MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT && of->of_flag_ext &&
		    strcasecmp(of->of_flag_ext + (of->of_flag_ext[0] == '\\'), "Noselect") == 0)
			return 1;
	}
	return 0;
}

/* RFC 3501 6.3.9: an LSUB name flagged \Noselect that is the parent of
 * another LSUB name is not subscribed itself, only its children are
 * (Courier 5.0 answers LSUB "" "*" with its unsubscribed parents so).
 * names: the list's names, sorted (built on first need); a binary search
 * for the first name at or after "NAME<delim>" tells. */
static int by_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int lsub_parent_only(const struct mailimap_mailbox_list *mb, clist *list, const char ***names, size_t *n)
{
	if (!has_noselect(mb) || mb->mb_delimiter == 0)
		return 0;
	if (*names == NULL) {
		*names = mt_xmalloc(sizeof **names * ((size_t)clist_count(list) + 1));
		MT_EACH(it, list) {
			const struct mailimap_mailbox_list *o = clist_content(it);
			if (o && o->mb_name)
				(*names)[(*n)++] = o->mb_name;
		}
		mt_sort(*names, *n, sizeof **names, by_strp);
	}
	char *key = mt_xasprintf("%s%c", mb->mb_name, mb->mb_delimiter);
	size_t lo = 0, hi = *n, kl = strlen(key);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp((*names)[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	int child = lo < *n && strncmp((*names)[lo], key, kl) == 0;
	free(key);
	return child;
}

/* Merge libetpan's LIST/LSUB results into m, whose wire names ix indexes;
 * lsub marks subscriptions. */
static void merge_list(struct mt_session *s, struct mt_mailboxes *m, struct mt_strindex *ix, clist *list, int lsub)
{
	static const char *const special_use[] = { "All", "Archive", "Drafts", "Flagged", "Junk", "Sent", "Trash", NULL };
	const char **names = NULL;   /* sorted, for lsub_parent_only */
	size_t nnames = 0;
	MT_EACH(it, list) {
		struct mailimap_mailbox_list *mb = clist_content(it);
		if (mb == NULL || mb->mb_name == NULL || !mt_mailbox_name_ok(mb->mb_name))
			continue;  /* never carry a name with CR/LF further */
		if (lsub && lsub_parent_only(mb, list, &names, &nnames))
			continue;
		long at = mt_strindex_get(ix, mb->mb_name);
		struct mt_mailbox *b = at >= 0 ? &m->v[at] : NULL;
		if (b == NULL) {
			/* (from LSUB: subscribed but not listed, the folder is gone) */
			if (m->v == NULL || m->n == m->cap) {
				m->cap = m->v && m->cap ? 2 * m->cap : 64;
				m->v = mt_xrealloc(m->v, sizeof *m->v * m->cap);
			}
			b = &m->v[m->n];
			memset(b, 0, sizeof *b);
			b->wire = mt_xstrdup(mb->mb_name);
			b->name = display_name(s, mb->mb_name);
			b->delim = mb->mb_delimiter;
			b->special = mt_xstrdup("");
			if (lsub)
				b->flags |= MT_MBX_NONEXISTENT;
			mt_strindex_put(ix, b->wire, m->n++);
		}
		if (lsub) {
			b->flags |= MT_MBX_SUBSCRIBED;
			continue;
		}
		struct mailimap_mbx_list_flags *fl = mb->mb_flag;
		if (fl == NULL)
			continue;
		if (fl->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG && fl->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
			b->flags |= MT_MBX_NOSELECT;
		MT_EACH(o, fl->mbf_oflags) {
			struct mailimap_mbx_list_oflag *of = clist_content(o);
			const char *f;
			if (of->of_type != MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT || of->of_flag_ext == NULL)
				continue;
			f = of->of_flag_ext;
			if (*f == '\\')
				f++;
			if (strcasecmp(f, "Subscribed") == 0)
				b->flags |= MT_MBX_SUBSCRIBED;
			else if (strcasecmp(f, "NonExistent") == 0)
				b->flags |= MT_MBX_NONEXISTENT | MT_MBX_NOSELECT;
			else if (strcasecmp(f, "Noselect") == 0)
				b->flags |= MT_MBX_NOSELECT;
			else if (strcasecmp(f, "HasChildren") == 0)
				b->flags |= MT_MBX_HASCHILDREN;
			else
				for (const char *const *su = special_use; *su; su++)
					if (strcasecmp(f, *su) == 0)
						add_flag(&b->special, *su);
		}
	}
	free(names);
}

struct list_pair {
	struct mt_mailboxes *out;
	struct mt_strindex *ix;
	int failed;             /* 1 or 2: which of the two LISTs said NO or BAD */
	char *text;
};

static void list_pair_each(struct mt_session *s, int i, int status, void *arg)
{
	struct list_pair *lp = arg;
	if (lp->failed)
		return;
	if (status != MT_RESP_OK) {
		lp->failed = i + 1;
		lp->text = mt_xstrdup(mt_imap_last_text(s));
	} else if (s->imap->imap_response_info) {
		merge_list(s, lp->out, lp->ix, s->imap->imap_response_info->rsp_mailbox_list, 0);
	}
}

int mt_list(struct mt_session *s, const char *pattern, struct mt_mailboxes *out, struct mt_err *e)
{
	char *wire = NULL;
	int r;

	memset(out, 0, sizeof *out);
	register_extensions();
	if (pattern == NULL)
		pattern = "*";
	if (!mt_mailbox_name_ok(pattern))
		return mt_seterr(e, MT_EDATA, "bad folder pattern: must be non-empty without CR or LF");
	if (s->utf8_accept)
		wire = mt_xstrdup(pattern);
	else if ((wire = mt_mutf7_encode(pattern)) == NULL)
		return mt_seterr(e, MT_EDATA, "bad folder pattern '%s': not valid UTF-8", pattern);

	struct mt_strindex *ix = mt_strindex_new();
	if (mt_has_cap(s, "LIST-EXTENDED")) {
		/* subscription state and special-use come with the list; RETURN
		 * (SUBSCRIBED) leaves out subscriptions whose folder is gone, which
		 * the SUBSCRIBED selection reports as \NonExistent: both in one
		 * round trip */
		char *q = mt_imap_quote(wire);
		char *c1 = mt_xasprintf("LIST \"\" %s RETURN (SUBSCRIBED%s)", q,
					mt_has_cap(s, "SPECIAL-USE") ? " SPECIAL-USE" : "");
		char *c2 = mt_xasprintf("LIST (SUBSCRIBED) \"\" %s", q);
		const char *cmds[2] = { c1, c2 };
		struct list_pair lp = { .out = out, .ix = ix };
		free(q);
		r = mt_imap_run_pipelined(s, cmds, 2, list_pair_each, &lp, e);
		free(c1);
		free(c2);
		if (r == MT_OK && lp.failed)
			r = mt_seterr(e, MT_EPROTO, "%s failed: %s", lp.failed == 1 ? "LIST" : "LIST (SUBSCRIBED)", lp.text);
		free(lp.text);
	} else {
		clist *list = NULL, *lsub = NULL;
		r = mailimap_list(s->imap, "", wire, &list);
		if (r != MAILIMAP_NO_ERROR) {
			r = mt_imap_error(s, r, "LIST", e);
		} else {
			merge_list(s, out, ix, list, 0);
			mailimap_list_result_free(list);
			r = mailimap_lsub(s->imap, "", wire, &lsub);
			if (r != MAILIMAP_NO_ERROR)
				r = mt_imap_error(s, r, "LSUB", e);
			else {
				merge_list(s, out, ix, lsub, 1);
				mailimap_list_result_free(lsub);
				r = MT_OK;
			}
		}
	}
	free(wire);
	mt_strindex_free(ix);
	if (r != MT_OK)
		mt_mailboxes_release(out);
	/* nothing under that name: the same under the personal namespace's
	 * prefix, as a mail client that hides "INBOX." would show it */
	if (r == MT_OK && out->n == 0 && strcmp(pattern, "*") != 0 && strcmp(pattern, "%") != 0) {
		char *pre = mt_prefixed_name(s, pattern);
		if (pre) {
			r = mt_list(s, pre, out, e);
			free(pre);
		}
	}
	return r;
}

void mt_mailboxes_release(struct mt_mailboxes *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].name);
		free(m->v[i].wire);
		free(m->v[i].special);
	}
	free(m->v);
	memset(m, 0, sizeof *m);
}

/* ---- STATUS ------------------------------------------------------------ */

/* STATUS commands are pipelined in batches: libetpan keeps only the last
 * STATUS of a response, so LIST-STATUS (many STATUS in one response) cannot
 * be read through it; one STATUS per tag, many tags per round trip, gives the
 * same cost. Batches stay small so neither side's buffers fill up. */
#define STATUS_BATCH MT_PIPELINE_MAX

/* libetpan 1.9 hands back the mailbox of a STATUS response still quoted when
 * the server quoted it ("Old Stuff"); compare it as the server meant it. */
static int same_mailbox(const char *got, const char *wire)
{
	size_t n = strlen(got);
	if (n >= 2 && got[0] == '"' && got[n - 1] == '"') {
		const char *p = got + 1, *end = got + n - 1, *w = wire;
		for (; p < end; p++, w++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (*p != *w)
				return 0;
		}
		return *w == '\0';
	}
	return strcmp(got, wire) == 0 || (strcasecmp(wire, "INBOX") == 0 && strcasecmp(got, "INBOX") == 0);
}

/* The STATUS answer for `wire`; one for another mailbox (or none, or an empty
 * one) leaves st->error set rather than numbers nobody asked for. */
static void take_status(struct mt_session *s, const char *wire, struct mt_status *st)
{
	struct mailimap_mailbox_data_status *ds = s->imap->imap_response_info ? s->imap->imap_response_info->rsp_status : NULL;
	if (ds == NULL || ds->st_mailbox == NULL || ds->st_info_list == NULL || !same_mailbox(ds->st_mailbox, wire)) {
		st->error = mt_xstrdup("the server's STATUS answer was missing or for another folder");
		return;
	}
	MT_EACH(it, ds->st_info_list) {
		struct mailimap_status_info *si = clist_content(it);
		switch (si->st_att) {
		case MAILIMAP_STATUS_ATT_MESSAGES: st->messages = si->st_value; st->have |= MT_ST_MESSAGES; break;
		case MAILIMAP_STATUS_ATT_UNSEEN: st->unseen = si->st_value; st->have |= MT_ST_UNSEEN; break;
		case MAILIMAP_STATUS_ATT_UIDNEXT: st->uidnext = si->st_value; st->have |= MT_ST_UIDNEXT; break;
		case MAILIMAP_STATUS_ATT_UIDVALIDITY: st->uidvalidity = si->st_value; st->have |= MT_ST_UIDVALIDITY; break;
		case MAILIMAP_STATUS_ATT_RECENT: st->recent = si->st_value; st->have |= MT_ST_RECENT; break;
		case MAILIMAP_STATUS_ATT_EXTENSION:
			if (si->st_ext_data && si->st_ext_data->ext_extension == &size_ext) {
				st->size = *(uint64_t *)si->st_ext_data->ext_data;
				st->have |= MT_ST_SIZE;
			}
			break;
		default:
			break;
		}
	}
}

/* Sum RFC822.SIZE of a mailbox (servers without STATUS=SIZE): EXAMINE,
 * the UIDs, and their sizes through the one fetch engine, in its batches. */
static int add_size(const struct mt_fetched *m, void *arg)
{
	*(uint64_t *)arg += m->size;
	return 0;
}

static int fetch_sizes(struct mt_session *s, const char *wire, struct mt_status *st, struct mt_err *e)
{
	struct mt_folder_state fs;
	int refused, r = mt_open_wire(s, wire, wire, 0, 0, &fs, &refused, e);
	if (r != MT_OK) {
		if (!refused)
			return r;
		st->error = mt_xasprintf("EXAMINE failed: %s", mt_imap_last_text(s));
		return MT_OK;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	uint64_t total = 0;
	struct mt_fetch_spec spec = { .size = 1 };
	r = mt_uid_search(s, "ALL", &uids, &n, e);
	if (r == MT_OK && n)
		r = mt_fetch_each(s, uids, n, &spec, add_size, &total, e);
	free(uids);
	mt_session_selected(s, NULL, 0);
	if (r != MT_OK)
		return r;
	st->size = total;
	st->have |= MT_ST_SIZE;
	if (!(st->have & MT_ST_MESSAGES)) {
		st->messages = (uint32_t)n;
		st->have |= MT_ST_MESSAGES;
	}
	return MT_OK;
}

struct status_batch {
	const struct mt_mailbox *boxes;
	struct mt_status *out;
	size_t which[STATUS_BATCH];   /* the box of each pipelined command */
};

static void status_each(struct mt_session *s, int i, int status, void *arg)
{
	struct status_batch *sb = arg;
	size_t k = sb->which[i];
	if (status != MT_RESP_OK)
		sb->out[k].error = mt_xasprintf("STATUS failed: %s", mt_imap_last_text(s));
	else
		take_status(s, sb->boxes[k].wire, &sb->out[k]);
}

int mt_status_many(struct mt_session *s, const struct mt_mailbox *boxes, size_t n, unsigned want,
		   struct mt_status *out, struct mt_err *e)
{
	char atts[96] = "";
	int server_size = (want & MT_ST_SIZE) && mt_has_cap(s, "STATUS=SIZE");

	register_extensions();
	memset(out, 0, sizeof *out * n);
	if (want & MT_ST_MESSAGES) strcat(atts, " MESSAGES");
	if (want & MT_ST_UNSEEN) strcat(atts, " UNSEEN");
	if (want & MT_ST_UIDNEXT) strcat(atts, " UIDNEXT");
	if (want & MT_ST_UIDVALIDITY) strcat(atts, " UIDVALIDITY");
	if (want & MT_ST_RECENT) strcat(atts, " RECENT");
	if (server_size) strcat(atts, " SIZE");
	if (atts[0] == '\0')
		strcpy(atts, " MESSAGES");

	for (size_t base = 0; base < n; base += STATUS_BATCH) {
		size_t cnt = n - base < STATUS_BATCH ? n - base : STATUS_BATCH;
		char *cmds[STATUS_BATCH];
		struct status_batch sb = { .boxes = boxes, .out = out };
		int sent = 0;
		for (size_t i = 0; i < cnt; i++) {
			const struct mt_mailbox *b = &boxes[base + i];
			if (b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))
				continue;
			char *q = mt_imap_quote(b->wire);
			cmds[sent] = mt_xasprintf("STATUS %s (%s)", q, atts + 1);
			free(q);
			sb.which[sent++] = base + i;
		}
		int r = sent ? mt_imap_run_pipelined(s, (const char *const *)cmds, sent, status_each, &sb, e) : MT_OK;
		for (int i = 0; i < sent; i++)
			free(cmds[i]);
		if (r != MT_OK)
			return r;
	}
	if ((want & MT_ST_SIZE) && !server_size) {
		for (size_t i = 0; i < n; i++) {
			if (out[i].error || (boxes[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)))
				continue;
			int r = fetch_sizes(s, boxes[i].wire, &out[i], e);
			if (r != MT_OK)
				return r;
		}
	}
	return MT_OK;
}

void mt_status_release(struct mt_status *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(st[i].error);
		st[i].error = NULL;
	}
}

/* ---- QUOTA (RFC 2087/9208) --------------------------------------------- */

int mt_getquotaroot(struct mt_session *s, const char *mailbox, struct mt_quotas *out, struct mt_err *e)
{
	struct mailimap_quota_complete_data *qd = NULL;
	char *wire = NULL;
	int r;

	memset(out, 0, sizeof *out);
	if (!mt_has_cap(s, "QUOTA"))
		return mt_seterr(e, MT_EUNAVAIL, "the server does not support QUOTA");
	if ((r = mt_mailbox_wire(s, mailbox ? mailbox : "INBOX", &wire, e)) != MT_OK)
		return r;
	register_extensions();
	r = mailimap_quota_getquotaroot(s->imap, wire, &qd);
	free(wire);
	if (r == MAILIMAP_ERROR_EXTENSION || (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_STREAM &&
					      r != MAILIMAP_ERROR_PARSE && r != MAILIMAP_ERROR_PROTOCOL))
		return mt_seterr(e, MT_EUNAVAIL, "GETQUOTAROOT failed: %s", mt_imap_last_text(s));
	if (r != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, r, "GETQUOTAROOT", e);
	if (qd->quotaroot_data)
		MT_EACH(it, qd->quotaroot_data->quotaroot_list) {
			const char *root = clist_content(it);
			if (root == NULL)
				continue;
			out->roots = mt_xrealloc(out->roots, sizeof *out->roots * (out->nroots + 1));
			out->roots[out->nroots++] = mt_xstrdup(root);
		}
	MT_EACH(it, qd->quota_list) {
		struct mailimap_quota_quota_data *q = clist_content(it);
		MT_EACH(j, q->quota_list) {
			struct mailimap_quota_quota_resource *res = clist_content(j);
			out->v = mt_xrealloc(out->v, sizeof *out->v * (out->n + 1));
			struct mt_quota *x = &out->v[out->n++];
			x->root = mt_xstrdup(q->quotaroot);
			x->resource = mt_xstrdup(res->resource_name);
			for (char *c = x->resource; *c; c++)
				*c = (char)toupper((unsigned char)*c);
			/* libetpan holds usage/limit as 32-bit; STORAGE is in KiB (RFC 9208) */
			uint64_t mult = strcmp(x->resource, "STORAGE") == 0 ? 1024 : 1;
			x->usage = (uint64_t)res->usage * mult;
			x->limit = (uint64_t)res->limit * mult;
		}
	}
	mailimap_quota_complete_data_free(qd);
	return MT_OK;
}

void mt_quotas_release(struct mt_quotas *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->v[i].root);
		free(q->v[i].resource);
	}
	for (size_t i = 0; i < q->nroots; i++)
		free(q->roots[i]);
	free(q->v);
	free(q->roots);
	memset(q, 0, sizeof *q);
}

/* SETQUOTA is not in libetpan: sent as a raw command; an untagged QUOTA in the
 * answer is parsed by libetpan's quota extension. */
int mt_setquota(struct mt_session *s, const char *root, const char *const *resources,
		const uint64_t *values, size_t n, struct mt_err *e)
{
	int status, r;
	if (!mt_has_cap(s, "QUOTA"))
		return mt_seterr(e, MT_EUNAVAIL, "the server does not support QUOTA");
	char *q = mt_imap_quote(root);
	if (q == NULL)
		return mt_seterr(e, MT_EDATA, "bad quota root name");
	size_t len = strlen(q) + 32;
	for (size_t i = 0; i < n; i++)
		len += strlen(resources[i]) + 24;
	char *cmd = mt_xmalloc(len), *o = cmd;
	o += sprintf(o, "SETQUOTA %s (", q);
	for (size_t i = 0; i < n; i++) {
		for (const char *c = resources[i]; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
				free(q);
				free(cmd);
				return mt_seterr(e, MT_EDATA, "bad quota resource name '%s'", resources[i]);
			}
		o += sprintf(o, "%s%s %llu", i ? " " : "", resources[i], (unsigned long long)values[i]);
	}
	strcpy(o, ")");
	free(q);
	r = mt_imap_run(s, cmd, 0, NULL, &status, e);
	free(cmd);
	if (r != MT_OK)
		return r;
	if (status != MT_RESP_OK)
		return mt_seterr(e, MT_EUNAVAIL, "server refused SETQUOTA on '%s': %s", root, mt_imap_last_text(s));
	return MT_OK;
}

/* ---- subscriptions ------------------------------------------------------ */

int mt_subscribe(struct mt_session *s, const char *name, int on, struct mt_err *e)
{
	char *wire = NULL;
	int r = mt_mailbox_wire(s, name, &wire, e);
	if (r != MT_OK)
		return r;
	r = on ? mailimap_subscribe(s->imap, wire) : mailimap_unsubscribe(s->imap, wire);
	free(wire);
	if (r == MAILIMAP_ERROR_SUBSCRIBE || r == MAILIMAP_ERROR_UNSUBSCRIBE)
		return mt_seterr(e, MT_EUNAVAIL, "%s '%s' refused: %s", on ? "SUBSCRIBE" : "UNSUBSCRIBE", name,
				 mt_imap_last_text(s));
	if (r != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, r, on ? "SUBSCRIBE" : "UNSUBSCRIBE", e);
	return MT_OK;
}

int mt_create(struct mt_session *s, const char *name, const char *special, struct mt_err *e)
{
	char *wire = NULL, *q, *cmd;
	int r, status;
	if ((r = mt_mailbox_wire(s, name, &wire, e)) != MT_OK)
		return r;
	q = mt_imap_quote(wire);
	free(wire);
	/* RFC 6154: CREATE name (USE (\Archive)). A server may refuse the use
	 * (Cyrus 3.6: "NO SPECIAL-USE flag conflict" when another folder has it,
	 * without [USEATTR]): the folder is then created without it. */
	int with_use = special && mt_has_cap(s, "CREATE-SPECIAL-USE");
	for (int pass = with_use ? 0 : 1; pass < 2; pass++) {
		cmd = pass == 0 ? mt_xasprintf("CREATE %s (USE (%s))", q, special) : mt_xasprintf("CREATE %s", q);
		r = mt_imap_run(s, cmd, 0, NULL, &status, e);
		free(cmd);
		if (r != MT_OK || status == MT_RESP_OK || strstr(mt_imap_last_text(s), "ALREADYEXISTS") != NULL ||
		    strcasestr(mt_imap_last_text(s), "already exists") != NULL)
			break;
	}
	free(q);
	if (r != MT_OK)
		return r;
	if (status != MT_RESP_OK && strstr(mt_imap_last_text(s), "ALREADYEXISTS") == NULL &&
	    strcasestr(mt_imap_last_text(s), "already exists") == NULL)
		return mt_seterr(e, MT_EUNAVAIL, "CREATE '%s' refused: %s", name, mt_imap_last_text(s));
	return MT_OK;
}

int mt_append(struct mt_session *s, const char *wire, unsigned sysflags, const char *const *keywords, time_t date,
	      const char *data, size_t len, int *refused, struct mt_err *e)
{
	/* libetpan waits for the continuation before the literal: one round
	 * trip more than LITERAL+, but it works on every server */
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	struct mailimap_date_time *dt = NULL;
	*refused = 0;
	if (sysflags & MT_F_SEEN)
		mailimap_flag_list_add(fl, mailimap_flag_new_seen());
	if (sysflags & MT_F_ANSWERED)
		mailimap_flag_list_add(fl, mailimap_flag_new_answered());
	if (sysflags & MT_F_FLAGGED)
		mailimap_flag_list_add(fl, mailimap_flag_new_flagged());
	if (sysflags & MT_F_DELETED)
		mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
	if (sysflags & MT_F_DRAFT)
		mailimap_flag_list_add(fl, mailimap_flag_new_draft());
	for (size_t i = 0; keywords && keywords[i]; i++)
		mailimap_flag_list_add(fl, mailimap_flag_new_flag_keyword(mt_xstrdup(keywords[i])));
	char dtbuf[32];
	if (mt_imap_date_time(date, dtbuf, sizeof dtbuf)) {   /* else the server dates it */
		struct tm tm;
		gmtime_r(&date, &tm);
		dt = mailimap_date_time_new(tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, 0);
	}
	int r = mailimap_append(s->imap, wire, fl, dt, data, len);
	mailimap_flag_list_free(fl);
	if (dt)
		mailimap_date_time_free(dt);
	if (r == MAILIMAP_ERROR_APPEND) {
		*refused = 1;
		return MT_OK;
	}
	return r == MAILIMAP_NO_ERROR ? MT_OK : mt_imap_error(s, r, "APPEND", e);
}
