/* fetch.c — the one FETCH engine: what a caller asks of each message (size,
 * dates, flags, header fields, the body or a piece of it), in UID batches
 * sized so memory stays bounded, BODY.PEEK only (nothing becomes \\Seen),
 * and only for the UIDs that were asked. */
#include "select_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

time_t mt_imap_time(const struct mailimap_date_time *d)
{
	return mt_zoned_time(d->dt_year, d->dt_month, d->dt_day, d->dt_hour, d->dt_min, d->dt_sec, d->dt_zone);
}

struct mailimap_set *mt_uid_set_of(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		mailimap_set_add_interval(set, uids[i], uids[j]);
		i = j + 1;
	}
	return set;
}

/* Keywords and system flags of a FETCH FLAGS item. */
static void take_flags(clist *flags, unsigned *sys, const char ***kw)
{
	size_t nk = 0, cap = flags ? (size_t)clist_count(flags) + 1 : 1;
	*kw = mt_xmalloc(sizeof **kw * cap);
	MT_EACH(it, flags) {
		struct mailimap_flag_fetch *ff = clist_content(it);
		if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER || ff->fl_flag == NULL)
			continue;
		switch (ff->fl_flag->fl_type) {
		case MAILIMAP_FLAG_SEEN: *sys |= MT_F_SEEN; break;
		case MAILIMAP_FLAG_ANSWERED: *sys |= MT_F_ANSWERED; break;
		case MAILIMAP_FLAG_FLAGGED: *sys |= MT_F_FLAGGED; break;
		case MAILIMAP_FLAG_DELETED: *sys |= MT_F_DELETED; break;
		case MAILIMAP_FLAG_DRAFT: *sys |= MT_F_DRAFT; break;
		case MAILIMAP_FLAG_KEYWORD:
			if (ff->fl_flag->fl_data.fl_keyword && nk + 1 < cap)
				(*kw)[nk++] = ff->fl_flag->fl_data.fl_keyword;
			break;
		default:
			break;
		}
	}
	(*kw)[nk] = NULL;
}

/* A charset whose ASCII bytes every server reads as they are. */
static int plain_charset(const char *cs)
{
	static const char *const ok[] = { "us-ascii", "utf-8", "iso-8859-", "windows-125" };
	if (cs == NULL)
		return 1;   /* RFC 2045: US-ASCII */
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		size_t k = strlen(ok[i]);
		if (strncasecmp(cs, ok[i], k) != 0)
			continue;
		if (ok[i][k - 1] != '-')
			return cs[k] == '\0';
		/* one or two digits: iso-8859-1 .. iso-8859-16, windows-1250 .. windows-1258 */
		const char *d = cs + k;
		return isdigit((unsigned char)d[0]) && (d[1] == '\0' || (isdigit((unsigned char)d[1]) && d[2] == '\0'));
	}
	return 0;
}

static int plain_fields(const struct mailimap_body_fields *f)
{
	if (f == NULL)
		return 0;
	if (f->bd_encoding && f->bd_encoding->enc_type != MAILIMAP_BODY_FLD_ENC_7BIT &&
	    f->bd_encoding->enc_type != MAILIMAP_BODY_FLD_ENC_8BIT && f->bd_encoding->enc_type != MAILIMAP_BODY_FLD_ENC_BINARY)
		return 0;
	const char *cs = NULL;
	if (f->bd_parameter)
		MT_EACH(it, f->bd_parameter->pa_list) {
			const struct mailimap_single_body_fld_param *p = clist_content(it);
			if (p->pa_name && strcasecmp(p->pa_name, "charset") == 0) {
				if (cs)
					return 0;   /* two charsets: which one a reader takes is its own choice */
				cs = p->pa_value ? p->pa_value : "";
			}
		}
	return plain_charset(cs);
}

/* 1 when a server's BODY search reads every text part of this structure
 * as the rule's own reading does (mail/mime.c): no transfer encoding to
 * undo, an ASCII-compatible charset. Parts that are not text are not read
 * by a rule, so they do not count. */
static int body_plain(const struct mailimap_body *b, int depth)
{
	if (b == NULL || depth > 20)
		return 0;
	if (b->bd_type == MAILIMAP_BODY_MPART) {
		MT_EACH(it, b->bd_data.bd_body_mpart ? b->bd_data.bd_body_mpart->bd_list : NULL)
			if (!body_plain(clist_content(it), depth + 1))
				return 0;
		return b->bd_data.bd_body_mpart != NULL;
	}
	const struct mailimap_body_type_1part *p = b->bd_data.bd_body_1part;
	if (p == NULL)
		return 0;
	switch (p->bd_type) {
	case MAILIMAP_BODY_TYPE_1PART_TEXT:
		return p->bd_data.bd_type_text && plain_fields(p->bd_data.bd_type_text->bd_fields);
	case MAILIMAP_BODY_TYPE_1PART_MSG:
		return p->bd_data.bd_type_msg && plain_fields(p->bd_data.bd_type_msg->bd_fields) &&
		       body_plain(p->bd_data.bd_type_msg->bd_body, depth + 1);
	default:
		return 1;
	}
}

int mt_fetch_each(struct mt_session *s, const uint32_t *uids, size_t n, const struct mt_fetch_spec *spec,
		  int (*cb)(const struct mt_fetched *m, void *ctx), void *ctx, struct mt_err *e)
{
	/* numbers only (sizes, dates, flags): the executor's UID batch, a few
	 * dozen bytes a message; headers: 1,000; with a body prefix, at most
	 * ~8 MiB a batch */
	size_t batch = spec->all_headers || (spec->headers && spec->headers[0]) || spec->body_whole ? 1000 : 5000;
	if (spec->body_prefix > 0) {
		uint64_t b = (8u << 20) / spec->body_prefix;
		batch = b < 1 ? 1 : b > 200 ? 200 : (size_t)b;
	}
	/* uids NULL: all the SELECT saw, in one command, the answer kept within it */
	struct mt_scope all = mt_selected_scope(s, 1, 0);
	if (uids == NULL) {
		if (all.empty)
			return MT_OK;
		n = 1;
		batch = 1;
	}
	for (size_t i = 0; i < n; i += batch) {
		size_t cnt = n - i < batch ? n - i : batch;
		struct mailimap_set *set = uids ? mt_uid_set_of(uids + i, cnt) : mailimap_set_new_interval(all.lo, all.hi);
		struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
		clist *res = NULL;
		mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
		if (spec->size)
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size());
		if (spec->date)
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_internaldate());
		if (spec->flags)
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_flags());
		if (spec->all_headers) {
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section(
				mailimap_section_new_header()));
		} else if (spec->headers && spec->headers[0]) {
			clist *hl = clist_new();
			for (size_t k = 0; spec->headers[k]; k++)
				clist_append(hl, mt_xstrdup(spec->headers[k]));
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section(
				mailimap_section_new_header_fields(mailimap_header_list_new(hl))));
		}
		if (spec->body_whole)
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section(
				mailimap_section_new(NULL)));
		else if (spec->body_prefix)
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section_partial(
				mailimap_section_new(NULL), (uint32_t)spec->body_offset,
				(uint32_t)(spec->body_prefix > UINT32_MAX ? UINT32_MAX : spec->body_prefix)));
		if (spec->structure)
			mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_bodystructure());
		int r = spec->changed_since ? mailimap_uid_fetch_changedsince(s->imap, set, ft, spec->changed_since, &res)
					    : mailimap_uid_fetch(s->imap, set, ft, &res);
		mailimap_set_free(set);
		mailimap_fetch_type_free(ft);
		if (r != MAILIMAP_NO_ERROR)
			return mt_imap_error(s, r, spec->changed_since ? "FETCH CHANGEDSINCE" : "FETCH", e);
		int stop = 0;
		MT_EACH(it, res) {
			struct mailimap_msg_att *ma = clist_content(it);
			struct mt_fetched m = { 0 };
			const char **kw = NULL;
			MT_EACH(j, ma->att_list) {
				struct mailimap_msg_att_item *item = clist_content(j);
				if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
					if (kw == NULL && item->att_data.att_dyn)
						take_flags(item->att_data.att_dyn->att_list, &m.sysflags, &kw);
					continue;
				}
				if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
					continue;
				struct mailimap_msg_att_static *st = item->att_data.att_static;
				switch (st->att_type) {
				case MAILIMAP_MSG_ATT_UID: m.uid = st->att_data.att_uid; break;
				case MAILIMAP_MSG_ATT_RFC822_SIZE: m.size = st->att_data.att_rfc822_size; break;
				case MAILIMAP_MSG_ATT_INTERNALDATE: m.internaldate = mt_imap_time(st->att_data.att_internal_date); break;
				case MAILIMAP_MSG_ATT_BODYSTRUCTURE: m.body_plain = body_plain(st->att_data.att_bodystructure, 0); break;
				case MAILIMAP_MSG_ATT_BODY_SECTION: {
					struct mailimap_msg_att_body_section *bs = st->att_data.att_body_section;
					if (bs == NULL || bs->sec_body_part == NULL)
						break;
					if (bs->sec_section && bs->sec_section->sec_spec) {
						m.header = bs->sec_body_part;
						m.header_len = bs->sec_length;
					} else {
						m.body = bs->sec_body_part;
						m.body_len = bs->sec_length;
						m.body_origin = bs->sec_origin_octet;
					}
					break;
				}
				default:
					break;
				}
			}
			if (kw == NULL) {
				kw = mt_xmalloc(sizeof *kw);
				kw[0] = NULL;
			}
			m.keywords = kw;
			/* only UIDs we asked for (a server may add unsolicited FETCHes) */
			int asked = uids ? mt_bsearch(&m.uid, uids + i, cnt, sizeof *uids, mt_cmp_u32) != NULL
					 : mt_scope_has(&all, m.uid);
			if (!stop && m.uid && asked)
				stop = cb(&m, ctx);
			free(kw);
		}
		mailimap_fetch_list_free(res);
		if (stop)
			return stop;
	}
	return MT_OK;
}


/* 1 when a server's header search reads these raw fields as the rule's own
 * reading does: printable ASCII, folds, no encoded word. */
static int header_plain(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c >= 0x7f || (c < 0x20 && c != '\r' && c != '\n' && c != '\t'))
			return 0;
		if (c == '\r' && (i + 1 == n || h[i + 1] != '\n'))
			return 0;   /* a CR that ends no line */
		if (c == '=' && i + 1 < n && h[i + 1] == '?')
			return 0;
	}
	return 1;
}

struct suspects {
	uint32_t *v;
	size_t n;
	int body;
};

static int take_suspect(const struct mt_fetched *m, void *arg)
{
	struct suspects *k = arg;
	if ((k->body && !m->body_plain) || (m->header && !header_plain(m->header, m->header_len)))
		k->v[k->n++] = m->uid;
	return 0;
}

int mt_uid_search_text(struct mt_session *s, const uint32_t *scope, size_t nscope, const char *criteria,
		       const struct mt_text_keys *t, uint32_t **uids, size_t *n, struct mt_err *e)
{
	int r = scope ? mt_uid_search_in(s, scope, nscope, criteria, uids, n, e) : mt_uid_search(s, criteria, uids, n, e);
	if (r != MT_OK || t == NULL || t->loose == NULL)
		return r;
	uint32_t *all = NULL;
	size_t nall = 0;
	r = scope ? mt_uid_search_in(s, scope, nscope, t->loose, &all, &nall, e) : mt_uid_search(s, t->loose, &all, &nall, e);
	if (r != MT_OK) {
		free(all);
		return r;
	}
	/* what the server's answer left out (both lists are sorted) */
	size_t nleft = 0;
	for (size_t i = 0, j = 0; i < nall; i++) {
		while (j < *n && (*uids)[j] < all[i])
			j++;
		if (j == *n || (*uids)[j] != all[i])
			all[nleft++] = all[i];
	}
	struct suspects k = { .v = mt_xmalloc(sizeof *k.v * (nleft ? nleft : 1)), .body = t->body };
	struct mt_fetch_spec spec = { .structure = t->body, .headers = t->fields, .all_headers = t->all_headers };
	if (nleft)
		r = mt_fetch_each(s, all, nleft, &spec, take_suspect, &k, e);
	free(all);
	if (r == MT_OK && k.n) {
		*uids = mt_xrealloc(*uids, sizeof **uids * (*n + k.n));
		memcpy(*uids + *n, k.v, sizeof *k.v * k.n);
		*n += k.n;
		mt_sort(*uids, *n, sizeof **uids, mt_cmp_u32);
	}
	free(k.v);
	return r;
}
