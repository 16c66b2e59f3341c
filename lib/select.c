/* select.c — the exact selection and removal engine: SEARCH on the server
 * wherever a criterion allows it, FETCH in UID batches only what the decision
 * needs (BODY.PEEK, never \Seen), and removal of exactly the chosen UIDs. */
#include "select.h"
#include "session_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* UIDs per FETCH/STORE/EXPUNGE: few round trips, bounded memory and line length */
#define UID_BATCH 5000

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void imap_date(char *buf, size_t len, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%d-%s-%d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
}

static void add(char **s, const char *fmt, const char *arg)
{
	char *part = mt_xasprintf(fmt, arg);
	char *old = *s;
	*s = mt_xasprintf("%s%s%s", old ? old : "", old && *old ? " " : "", part);
	free(old);
	free(part);
}

/* Build the SEARCH criteria; *exact is cleared when a client-side check must
 * confirm the candidates (a superset was asked for). */
static char *search_criteria(struct mt_session *s, const struct mt_criteria *c, time_t now, int *exact)
{
	char *q = NULL, buf[64];
	int within = mt_has_cap(s, "WITHIN");
	*exact = 1;
	if (c->deleted)
		add(&q, "%s", "DELETED");
	if (c->undeleted)
		add(&q, "%s", "UNDELETED");
	if (!c->include_flagged)
		add(&q, "%s", "NOT FLAGGED");
	if (c->seen == 1)
		add(&q, "%s", "SEEN");
	else if (c->seen == 0)
		add(&q, "%s", "UNSEEN");
	if (c->larger) {
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->larger);
		add(&q, "LARGER %s", buf);
	}
	if (c->smaller) {
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->smaller);
		add(&q, "SMALLER %s", buf);
	}
	if (c->older >= 0) {
		if (within && !c->by_date_header) {
			snprintf(buf, sizeof buf, "%lld", (long long)(c->older > 0 ? c->older : 1));
			add(&q, "OLDER %s", buf);
		} else {
			/* day granularity on the server (and its time zone): ask for a
			 * superset two days wide, then check each candidate exactly */
			imap_date(buf, sizeof buf, now - c->older + 2 * 86400);
			add(&q, c->by_date_header ? "SENTBEFORE %s" : "BEFORE %s", buf);
			*exact = 0;
		}
	}
	if (c->newer >= 0) {
		if (within && !c->by_date_header) {
			snprintf(buf, sizeof buf, "%lld", (long long)(c->newer > 0 ? c->newer : 1));
			add(&q, "YOUNGER %s", buf);
		} else {
			imap_date(buf, sizeof buf, now - c->newer - 86400);
			add(&q, c->by_date_header ? "SENTSINCE %s" : "SINCE %s", buf);
			*exact = 0;
		}
	}
	if (c->before) {
		imap_date(buf, sizeof buf, c->before);
		add(&q, c->by_date_header ? "SENTBEFORE %s" : "BEFORE %s", buf);
		if (c->by_date_header)
			*exact = 0;   /* SENTBEFORE reads the Date header's date in its own zone */
	}
	if (q == NULL)
		q = mt_xstrdup("ALL");
	return q;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* UID SEARCH; results sorted. */
int mt_uid_search(struct mt_session *s, const char *criteria, uint32_t **uids, size_t *n, struct mt_err *e)
{
	int status, r;
	char *cmd = mt_xasprintf("UID SEARCH %s", criteria);
	*uids = NULL;
	*n = 0;
	r = mt_imap_run(s, cmd, 0, NULL, &status, e);
	free(cmd);
	if (r != MT_OK)
		return r;
	if (status != MT_RESP_OK)
		return mt_seterr(e, MT_EPROTO, "SEARCH failed: %s", mt_imap_last_text(s));
	clist *res = s->imap->imap_response_info ? s->imap->imap_response_info->rsp_search_result : NULL;
	size_t cnt = res ? (size_t)clist_count(res) : 0;
	*uids = mt_xmalloc(sizeof **uids * (cnt ? cnt : 1));
	MT_EACH(it, res)
		(*uids)[(*n)++] = *(uint32_t *)clist_content(it);
	qsort(*uids, *n, sizeof **uids, cmp_u32);
	return MT_OK;
}

char *mt_decode_header(const char *raw, size_t len)
{
	/* unfold: CRLF followed by white space becomes that white space */
	char *unf = mt_xmalloc(len + 1), *o = unf;
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\r' || raw[i] == '\n')
			continue;
		*o++ = raw[i];
	}
	*o = '\0';
	char *dec = NULL;
	size_t idx = 0;
	if (mailmime_encoded_phrase_parse("iso-8859-1", unf, strlen(unf), &idx, "utf-8", &dec) == MAILIMF_NO_ERROR && dec) {
		free(unf);
		unf = dec;
	}
	/* An encoded-word can carry any byte (=?utf-8?q?a=0Ab?=): control
	 * characters become blanks, so a decoded subject is one line in every
	 * output format and log (found by tests/fuzz/fuzz_header.c). */
	for (unsigned char *c = (unsigned char *)unf; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = ' ';
	return unf;
}

/* Broken-down time with a zone like -0130 (as -130) to UTC seconds. */
static time_t zoned_time(int year, int month, int day, int hour, int min, int sec, int zone)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	int off = (abs(zone) / 100) * 3600 + (abs(zone) % 100) * 60;
	return timegm(&tm) - (zone < 0 ? -off : off);
}

static time_t imap_time(const struct mailimap_date_time *d)
{
	return zoned_time(d->dt_year, d->dt_month, d->dt_day, d->dt_hour, d->dt_min, d->dt_sec, d->dt_zone);
}

static time_t header_date(const char *v, size_t len)
{
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;
	time_t t = 0;
	if (mailimf_date_time_parse(v, len, &idx, &dt) == MAILIMF_NO_ERROR && dt) {
		t = zoned_time(dt->dt_year, dt->dt_month, dt->dt_day, dt->dt_hour, dt->dt_min, dt->dt_sec, dt->dt_zone);
		mailimf_date_time_free(dt);
	}
	return t;
}

int mt_header_fields(const char *h, size_t len,
		     int (*cb)(const char *name, size_t nlen, const char *value, size_t vlen, void *ctx), void *ctx)
{
	const char *p = h, *end = h + len;
	while (p < end) {
		const char *line = p, *colon;
		/* a field runs to a line end not followed by white space */
		const char *q = p;
		while (q < end) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			if (nl == NULL) {
				q = end;
				break;
			}
			q = nl + 1;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		p = q;
		if (line[0] == '\r' || line[0] == '\n')
			break;          /* the blank line that ends the header */
		colon = memchr(line, ':', (size_t)(q - line));
		if (colon == NULL)
			continue;
		const char *v = colon + 1;
		while (v < q && (*v == ' ' || *v == '\t'))
			v++;
		int r = cb(line, (size_t)(colon - line), v, (size_t)(q - v), ctx);
		if (r)
			return r;
	}
	return 0;
}

struct first_field {
	const char *name;
	char *value;
};

static int first_field(const char *n, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct first_field *f = ctx;
	if (strlen(f->name) != nl || strncasecmp(f->name, n, nl) != 0)
		return 0;
	f->value = mt_decode_header(v, vl);
	return 1;
}

char *mt_header_get(const char *block, size_t len, const char *name)
{
	struct first_field f = { .name = name };
	if (block)
		mt_header_fields(block, len, first_field, &f);
	return f.value;
}

/* From, Subject and Date of a fetched header block. */
static int take_field(const char *line, size_t nlen, const char *v, size_t vlen, void *ctx)
{
	struct mt_msg *m = ctx;
	if (nlen == 4 && strncasecmp(line, "from", 4) == 0 && m->from == NULL)
		m->from = mt_decode_header(v, vlen);
	else if (nlen == 7 && strncasecmp(line, "subject", 7) == 0 && m->subject == NULL)
		m->subject = mt_decode_header(v, vlen);
	else if (nlen == 4 && strncasecmp(line, "date", 4) == 0 && m->date == 0)
		m->date = header_date(v, vlen);
	return 0;
}

static void parse_headers(struct mt_msg *m, const char *h, size_t len)
{
	mt_header_fields(h, len, take_field, m);
}

static struct mailimap_set *uid_set_of(const uint32_t *uids, size_t n)
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

static void take_msg(struct mailimap_msg_att *ma, struct mt_msg *m)
{
	memset(m, 0, sizeof *m);
	MT_EACH(j, ma->att_list) {
		struct mailimap_msg_att_item *item = clist_content(j);
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		struct mailimap_msg_att_static *st = item->att_data.att_static;
		switch (st->att_type) {
		case MAILIMAP_MSG_ATT_UID: m->uid = st->att_data.att_uid; break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE: m->size = st->att_data.att_rfc822_size; break;
		case MAILIMAP_MSG_ATT_INTERNALDATE: m->internaldate = imap_time(st->att_data.att_internal_date); break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			if (st->att_data.att_body_section->sec_body_part)
				parse_headers(m, st->att_data.att_body_section->sec_body_part,
					      st->att_data.att_body_section->sec_length);
			break;
		default:
			break;
		}
	}
}

static void msg_free(struct mt_msg *m)
{
	free(m->from);
	free(m->subject);
}

/* UID and size always (sizes are what gets reported); INTERNALDATE when an age
 * must be checked here or shown; From/Subject/Date when a regex, the Date
 * header or a listing needs them. */
static int fetch_batch(struct mt_session *s, const uint32_t *uids, size_t n, int dates, int headers,
		       struct mt_msg *out, size_t *nout, struct mt_err *e)
{
	struct mailimap_set *set = uid_set_of(uids, n);
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	clist *res = NULL;
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size());
	if (dates)
		mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_internaldate());
	if (headers) {
		clist *hl = clist_new();
		clist_append(hl, strdup("FROM"));
		clist_append(hl, strdup("SUBJECT"));
		clist_append(hl, strdup("DATE"));
		mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section(
			mailimap_section_new_header_fields(mailimap_header_list_new(hl))));
	}
	int r = mailimap_uid_fetch(s->imap, set, ft, &res);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, r, "FETCH", e);
	MT_EACH(it, res) {
		struct mt_msg m;
		take_msg(clist_content(it), &m);
		/* keep only UIDs we asked for (a server may add unsolicited FETCHes) */
		if (m.uid && bsearch(&m.uid, uids, n, sizeof *uids, cmp_u32) && *nout < n)
			out[(*nout)++] = m;
		else
			msg_free(&m);
	}
	mailimap_fetch_list_free(res);
	return MT_OK;
}

static int cmp_msg(const void *a, const void *b)
{
	const struct mt_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* exact client-side check of what SEARCH could only approximate */
static int exact_match(const struct mt_criteria *c, const struct mt_msg *m, time_t now)
{
	time_t t = c->by_date_header ? m->date : m->internaldate;
	if (c->by_date_header && (c->older >= 0 || c->newer >= 0 || c->before) && t == 0)
		return 0;  /* no usable Date header: never guess */
	if (c->older >= 0 && !(t <= now - c->older))
		return 0;
	if (c->newer >= 0 && !(t > now - c->newer))
		return 0;
	if (c->before && c->by_date_header && !(t < c->before))
		return 0;
	return 1;
}

int mt_select_messages(struct mt_session *s, const char *folder, const struct mt_criteria *c,
		       int readonly, mt_msg_filter filter, void *fctx, struct mt_selection *out,
		       struct mt_err *e)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int exact, r;
	time_t now = time(NULL);

	memset(out, 0, sizeof *out);
	out->folder = mt_xstrdup(folder);
	if ((r = mt_mailbox_wire(s, folder, &out->wire, e)) != MT_OK)
		return r;
	r = readonly ? mailimap_examine(s->imap, out->wire) : mailimap_select(s->imap, out->wire);
	mt_session_selected(s, r == MAILIMAP_NO_ERROR ? out->wire : NULL, !readonly);
	if (r != MAILIMAP_NO_ERROR) {
		if (r == MAILIMAP_ERROR_EXAMINE || r == MAILIMAP_ERROR_SELECT)
			return mt_seterr(e, MT_EDATA, "cannot open folder '%s': %s", folder, mt_imap_last_text(s));
		return mt_imap_error(s, r, readonly ? "EXAMINE" : "SELECT", e);
	}
	out->uidvalidity = s->imap->imap_selection_info ? s->imap->imap_selection_info->sel_uidvalidity : 0;
	out->search = search_criteria(s, c, now, &exact);
	out->searched_on_server = 1;
	if ((r = mt_uid_search(s, out->search, &uids, &n, e)) != MT_OK)
		return r;

	int headers = c->want_headers || (c->by_date_header && (c->want_dates || !exact || c->older >= 0 || c->newer >= 0 || c->before));
	int dates = !exact || c->want_headers || c->want_dates;
	out->msgs = mt_xmalloc(sizeof *out->msgs * (n ? n : 1));
	for (size_t i = 0; i < n; i += UID_BATCH) {
		size_t cnt = n - i < UID_BATCH ? n - i : UID_BATCH, got = 0;
		struct mt_msg *batch = mt_xmalloc(sizeof *batch * cnt);
		if ((r = fetch_batch(s, uids + i, cnt, dates, headers, batch, &got, e)) != MT_OK) {
			free(batch);
			free(uids);
			return r;
		}
		for (size_t k = 0; k < got; k++) {
			if ((exact || exact_match(c, &batch[k], now)) && (filter == NULL || filter(&batch[k], fctx))) {
				out->msgs[out->n++] = batch[k];
				out->bytes += batch[k].size;
			} else {
				msg_free(&batch[k]);
			}
		}
		free(batch);
	}
	free(uids);
	qsort(out->msgs, out->n, sizeof *out->msgs, cmp_msg);
	return MT_OK;
}

void mt_selection_release(struct mt_selection *sel)
{
	for (size_t i = 0; i < sel->n; i++)
		msg_free(&sel->msgs[i]);
	free(sel->msgs);
	free(sel->folder);
	free(sel->wire);
	free(sel->search);
	memset(sel, 0, sizeof *sel);
}

static void test_hook(const char *var, const char *folder);

void mt_test_hook_before_remove(const char *folder)
{
	test_hook("MAILTOOL_TEST_HOOK_BEFORE_REMOVE", folder);
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
#define MOVING_KEYWORD "$MailtoolMoving"

static int select_again(struct mt_session *s, const char *wire, uint32_t uidvalidity, int rw, const char *folder,
			struct mt_err *e)
{
	int r = rw ? mailimap_select(s->imap, wire) : mailimap_examine(s->imap, wire);
	mt_session_selected(s, r == MAILIMAP_NO_ERROR ? wire : NULL, rw);
	if (r != MAILIMAP_NO_ERROR) {
		if (r == MAILIMAP_ERROR_SELECT || r == MAILIMAP_ERROR_EXAMINE)
			return mt_seterr(e, MT_ETEMP, "folder '%s' went away during the move", folder);
		return mt_imap_error(s, r, rw ? "SELECT" : "EXAMINE", e);
	}
	uint32_t v = s->imap->imap_selection_info ? s->imap->imap_selection_info->sel_uidvalidity : 0;
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
	size_t n;
};

static int take_ident(const struct mt_fetched *m, void *arg)
{
	struct idents *id = arg;
	id->v = mt_xrealloc(id->v, sizeof *id->v * (id->n + 1));
	id->uid = mt_xrealloc(id->uid, sizeof *id->uid * (id->n + 1));
	id->v[id->n] = mt_xasprintf("%u|%.*s", m->size, (int)(m->header ? m->header_len : 0), m->header ? m->header : "");
	id->uid[id->n++] = m->uid;
	return 0;
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
static int already_copied(struct mt_session *s, struct mt_selection *sel, const char *to_wire, const uint32_t *uids,
			  uint32_t **done, size_t *ndone, struct mt_err *e)
{
	char *set = mt_uidset(uids, sel->n), *q = mt_xasprintf("UID %s KEYWORD " MOVING_KEYWORD, set);
	uint32_t *marked = NULL, *copies = NULL;
	size_t nmarked = 0, ncopies = 0;
	struct idents orig = { 0 }, copy = { 0 };
	struct mt_fetch_spec spec = { .size = 1, .headers = ident_fields };
	int r = mt_uid_search(s, q, &marked, &nmarked, e);
	free(q);
	free(set);
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
	int r2 = select_again(s, sel->wire, sel->uidvalidity, 1, sel->folder, e);
	if (r == MT_OK)
		r = r2;
	if (r == MT_OK && copy.n) {
		uint32_t *d = mt_xmalloc(sizeof *d * orig.n);
		int *used = mt_xmalloc(sizeof *used * copy.n);
		size_t nd = 0;
		for (size_t i = 0; i < orig.n; i++)
			for (size_t k = 0; k < copy.n; k++)
				if (!used[k] && strcmp(orig.v[i], copy.v[k]) == 0) {
					used[k] = 1;
					d[nd++] = orig.uid[i];
					break;
				}
		free(used);
		qsort(d, nd, sizeof *d, cmp_u32);
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
static int unmark_copies(struct mt_session *s, struct mt_selection *sel, const char *to_wire, struct mt_err *e)
{
	uint32_t *copies = NULL;
	size_t ncopies = 0;
	int r = select_again(s, to_wire, 0, 1, "target", e);
	if (r == MT_OK)
		r = mt_uid_search(s, "KEYWORD " MOVING_KEYWORD, &copies, &ncopies, e);
	if (r == MT_OK && ncopies)
		r = mt_uid_store(s, copies, ncopies, 0, MOVING_KEYWORD, e);
	free(copies);
	int r2 = select_again(s, sel->wire, sel->uidvalidity, 1, sel->folder, e);
	return r == MT_OK ? r2 : r;
}

static void test_hook(const char *var, const char *folder)
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

/* Marked messages of the selected folder, with their identities. */
static int marked_idents(struct mt_session *s, struct idents *out, struct mt_err *e)
{
	struct mt_fetch_spec spec = { .size = 1, .headers = ident_fields };
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
		for (size_t k = 0; k < orig.n; k++) {
			int found = 0;
			for (size_t t = 0; t < ntgt && !found; t++)
				for (size_t c = 0; c < copy[t].n && !found; c++)
					if (copy[t].uid[c] && strcmp(orig.v[k], copy[t].v[c]) == 0) {
						copy[t].uid[c] = 0;   /* each copy pairs with one original */
						found = 1;
					}
			if (found)
				done[ndone++] = orig.uid[k];
			else
				undo[nundo++] = orig.uid[k];
		}
		if (r == MT_OK && ndone) {
			qsort(done, ndone, sizeof *done, cmp_u32);
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
			qsort(undo, nundo, sizeof *undo, cmp_u32);
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
	for (size_t t = 0; t < ntgt; t++)
		idents_free(&copy[t]);
	free(copy);
	return r;
}

int mt_remove_selection(struct mt_session *s, struct mt_selection *sel, const char *to_wire,
			int allow_unsafe, uint64_t *removed, uint64_t *bytes, struct mt_err *e)
{
	int uidplus = mt_has_cap(s, "UIDPLUS"), move = mt_has_cap(s, "MOVE");
	int r;
	*removed = *bytes = 0;
	if (sel->n == 0)
		return MT_OK;
	if (!uidplus && !(to_wire && move) && !allow_unsafe)
		return mt_seterr(e, MT_EUNAVAIL, "the server lacks UIDPLUS, so '%s' cannot be expunged without also "
				 "taking messages other clients flagged \\Deleted; nothing removed "
				 "(--allow-unsafe-expunge overrides)", sel->folder);

	mt_test_hook_before_remove(sel->folder);

	/* the folder we chose from must still be the same folder: SELECT it again
	 * (a large folder costs the server a while), or when this session has it
	 * selected read-write already, a NOOP brings any news (a new UIDVALIDITY,
	 * or the BYE of a folder deleted under us) */
	if (s->selected && strcmp(s->selected, sel->wire) == 0) {
		int status;
		r = mt_imap_run(s, "NOOP", 0, NULL, &status, e);
		if (r != MT_OK)
			return r;
	} else {
		r = mailimap_select(s->imap, sel->wire);
		mt_session_selected(s, r == MAILIMAP_NO_ERROR ? sel->wire : NULL, 1);
		if (r != MAILIMAP_NO_ERROR) {
			if (r == MAILIMAP_ERROR_SELECT)
				return mt_seterr(e, MT_ETEMP, "folder '%s' went away before removal; nothing removed", sel->folder);
			return mt_imap_error(s, r, "SELECT", e);
		}
	}
	uint32_t v = s->imap->imap_selection_info ? s->imap->imap_selection_info->sel_uidvalidity : 0;
	if (v != sel->uidvalidity)
		return mt_seterr(e, MT_ETEMP, "UIDVALIDITY of '%s' changed (%u -> %u) since selection; nothing removed",
				 sel->folder, sel->uidvalidity, v);

	uint32_t *uids = mt_xmalloc(sizeof *uids * sel->n), *copied = NULL;
	size_t ncopied = 0;
	for (size_t i = 0; i < sel->n; i++)
		uids[i] = sel->msgs[i].uid;
	char *q = to_wire ? mt_imap_quote(to_wire) : NULL;
	int guard = to_wire && !move;
	if (guard)
		r = already_copied(s, sel, to_wire, uids, &copied, &ncopied, e);
	for (size_t i = 0; i < sel->n && r == MT_OK; i += UID_BATCH) {
		size_t cnt = sel->n - i < UID_BATCH ? sel->n - i : UID_BATCH;
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
					if (!ncopied || !bsearch(&uids[i + k], copied, ncopied, sizeof *copied, cmp_u32))
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
					test_hook("MAILTOOL_TEST_HOOK_AFTER_COPY", sel->folder);
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
	}
	free(q);
	free(copied);
	if (r == MT_OK && guard)
		r = unmark_copies(s, sel, to_wire, e);
	/* count exactly what is gone: the selected UIDs the server no longer has */
	if (r == MT_OK) {
		char *set = mt_uidset(uids, sel->n), *crit = mt_xasprintf("UID %s", set);
		uint32_t *left = NULL;
		size_t nleft = 0;
		r = mt_uid_search(s, crit, &left, &nleft, e);
		if (r == MT_OK) {
			for (size_t i = 0; i < sel->n; i++)
				if (nleft == 0 || !bsearch(&sel->msgs[i].uid, left, nleft, sizeof *left, cmp_u32)) {
					(*removed)++;
					*bytes += sel->msgs[i].size;
				}
		}
		free(left);
		free(crit);
		free(set);
	}
	free(uids);
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

int mt_parse_date(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	char *end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* "--older: bad duration ..." from the parser's own message */
static int prefixed(struct mt_err *e, const char *opt)
{
	char m[sizeof e->msg];
	snprintf(m, sizeof m, "%s", e->msg);
	return mt_seterr(e, MT_EDATA, "--%s: %s", opt, m);
}

int mt_criteria_from_args(const struct mt_args *a, struct mt_criteria *c, int *given, struct mt_err *e)
{
	const char *v;
	uint64_t x;
	memset(c, 0, sizeof *c);
	c->older = c->newer = -1;
	c->seen = -1;
	*given = 0;
	c->deleted = mt_flag(a, "deleted");
	c->include_flagged = mt_flag(a, "include-flagged");
	c->by_date_header = mt_flag(a, "by-date-header");
	*given += c->deleted;
	if ((v = mt_arg(a, "older"))) {
		if (mt_parse_duration(v, &x, e) != MT_OK)
			return prefixed(e, "older");
		c->older = (int64_t)x;
		(*given)++;
	}
	if ((v = mt_arg(a, "newer"))) {
		if (mt_parse_duration(v, &x, e) != MT_OK)
			return prefixed(e, "newer");
		c->newer = (int64_t)x;
		(*given)++;
	}
	if ((v = mt_arg(a, "before"))) {
		if (mt_parse_date(v, &c->before) < 0)
			return mt_seterr(e, MT_EDATA, "--before: bad date '%s': expected YYYY-MM-DD", v);
		(*given)++;
	}
	if ((v = mt_arg(a, "larger"))) {
		if (mt_parse_size(v, &c->larger, e) != MT_OK)
			return prefixed(e, "larger");
		(*given)++;
	}
	if ((v = mt_arg(a, "smaller"))) {
		if (mt_parse_size(v, &c->smaller, e) != MT_OK)
			return prefixed(e, "smaller");
		if (c->smaller == 0)
			return mt_seterr(e, MT_EDATA, "--smaller 0: no message is smaller than 0 bytes");
		(*given)++;
	}
	if (mt_flag(a, "seen") && mt_flag(a, "unseen"))
		return mt_seterr(e, MT_EUSAGE, "--seen and --unseen exclude each other");
	if (mt_flag(a, "seen")) { c->seen = 1; (*given)++; }
	if (mt_flag(a, "unseen")) { c->seen = 0; (*given)++; }
	return MT_OK;
}

/* ---- folder arguments and reports, shared by the applets that remove ---- */

int mt_expand_folders(struct mt_session *s, const char *const *args, size_t nargs, int recursive,
		      char ***out, size_t *nout, struct mt_err *e)
{
	struct mt_mailboxes all;
	char delim = 0;
	int r;
	*out = NULL;
	*nout = 0;
	if ((r = mt_list(s, "*", &all, e)) != MT_OK)
		return r;
	if ((r = mt_delimiter(s, &delim, e)) != MT_OK) {
		mt_mailboxes_release(&all);
		return r;
	}
	for (size_t a = 0; a < nargs; a++) {
		const char *arg = args[a];
		char *pre = NULL;   /* arg under the personal namespace prefix, on a second pass */
		int wild = strpbrk(arg, "*%") != NULL, found = 0;
		struct mt_mailboxes m;
	again:
		if (wild) {
			if ((r = mt_list(s, arg, &m, e)) != MT_OK) {
				mt_mailboxes_release(&all);
				mt_free_folders(*out, *nout);
				*out = NULL;
				*nout = 0;
				return r;
			}
		} else {
			memset(&m, 0, sizeof m);
		}
		for (size_t i = 0; i < all.n; i++) {
			struct mt_mailbox *b = &all.v[i];
			size_t al = strlen(arg);
			int hit = 0;
			if (b->flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT))
				continue;
			if (wild) {
				for (size_t k = 0; k < m.n; k++)
					hit |= strcmp(m.v[k].name, b->name) == 0;
			} else {
				hit = strcmp(b->name, arg) == 0 || (strcasecmp(arg, "INBOX") == 0 && strcmp(b->wire, "INBOX") == 0);
			}
			/* --recursive: the folder's whole subtree */
			if (!hit && recursive && delim && !wild)
				hit = strncmp(b->name, arg, al) == 0 && b->name[al] == delim;
			if (!hit)
				continue;
			found = 1;
			int dup = 0;
			for (size_t k = 0; k < *nout; k++)
				dup |= strcmp((*out)[k], b->name) == 0;
			if (!dup) {
				*out = realloc(*out, sizeof **out * (*nout + 1));
				if (*out == NULL)
					abort();
				(*out)[(*nout)++] = mt_xstrdup(b->name);
			}
		}
		if (wild)
			mt_mailboxes_release(&m);
		/* mt_list tries the prefix itself for patterns; names are matched here */
		if (!found && !wild && pre == NULL && (pre = mt_prefixed_name(s, arg)) != NULL) {
			arg = pre;
			goto again;
		}
		free(pre);
		if (!found) {
			mt_mailboxes_release(&all);
			mt_free_folders(*out, *nout);
			*out = NULL;
			*nout = 0;
			return mt_seterr(e, MT_EDATA, "no folder '%s'", args[a]);
		}
	}
	mt_mailboxes_release(&all);
	return MT_OK;
}

void mt_free_folders(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- shared with compact: report -------------------------------------- */

enum { R_FOLDER, R_ACTION, R_MESSAGES, R_SIZE, R_NCOLS };
static const struct mt_col report_cols[R_NCOLS] = {
	[R_FOLDER] = { "folder", MT_COL_STR },
	[R_ACTION] = { "action", MT_COL_STR },
	[R_MESSAGES] = { "messages", MT_COL_NUM },
	[R_SIZE] = { "size", MT_COL_SIZE },
};

void mt_report_init(struct mt_table *t, enum mt_fmt fmt, int human)
{
	mt_table_init(t, report_cols, R_NCOLS, fmt, human);
}

void mt_report_row(struct mt_table *t, const char *folder, const char *action, uint64_t n, uint64_t bytes)
{
	int row = mt_table_row(t);
	mt_table_str(t, row, R_FOLDER, folder);
	mt_table_str(t, row, R_ACTION, action);
	mt_table_num(t, row, R_MESSAGES, (long long)n);
	mt_table_num(t, row, R_SIZE, (long long)bytes);
}

enum { M_FOLDER, M_UID, M_DATE, M_SIZE, M_FROM, M_SUBJECT, M_NCOLS };
static const struct mt_col msg_cols[M_NCOLS] = {
	[M_FOLDER] = { "folder", MT_COL_STR },
	[M_UID] = { "uid", MT_COL_NUM },
	[M_DATE] = { "date", MT_COL_STR },
	[M_SIZE] = { "size", MT_COL_SIZE },
	[M_FROM] = { "from", MT_COL_STR },
	[M_SUBJECT] = { "subject", MT_COL_STR },
};

void mt_report_messages(const struct mt_selection *sel, enum mt_fmt fmt, int human, FILE *f)
{
	struct mt_table t;
	char date[32];
	mt_table_init(&t, msg_cols, M_NCOLS, fmt, human);
	for (size_t i = 0; i < sel->n; i++) {
		const struct mt_msg *m = &sel->msgs[i];
		struct tm tm;
		int row = mt_table_row(&t);
		gmtime_r(&m->internaldate, &tm);
		strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
		mt_table_str(&t, row, M_FOLDER, sel->folder);
		mt_table_num(&t, row, M_UID, m->uid);
		mt_table_str(&t, row, M_DATE, date);
		mt_table_num(&t, row, M_SIZE, m->size);
		mt_table_str(&t, row, M_FROM, m->from ? m->from : "");
		mt_table_str(&t, row, M_SUBJECT, m->subject ? m->subject : "");
	}
	if (t.rows)
		mt_table_print(&t, f);
	mt_table_release(&t);
}


/* ---- lower-level pieces for the rule engine ------------------------------ */

int mt_open_folder(struct mt_session *s, const char *folder, int readonly, char **wire,
		   struct mt_folder_state *st, struct mt_err *e)
{
	int r;
	uint64_t modseq = 0;
	memset(st, 0, sizeof *st);
	*wire = NULL;
	if ((r = mt_mailbox_wire(s, folder, wire, e)) != MT_OK)
		return r;
	if (mt_has_cap(s, "CONDSTORE"))
		r = readonly ? mailimap_examine_condstore(s->imap, *wire, &modseq)
			     : mailimap_select_condstore(s->imap, *wire, &modseq);
	else
		r = readonly ? mailimap_examine(s->imap, *wire) : mailimap_select(s->imap, *wire);
	mt_session_selected(s, r == MAILIMAP_NO_ERROR ? *wire : NULL, !readonly);
	if (r != MAILIMAP_NO_ERROR) {
		if (r == MAILIMAP_ERROR_EXAMINE || r == MAILIMAP_ERROR_SELECT)
			return mt_seterr(e, MT_EDATA, "cannot open folder '%s': %s", folder, mt_imap_last_text(s));
		return mt_imap_error(s, r, readonly ? "EXAMINE" : "SELECT", e);
	}
	struct mailimap_selection_info *si = s->imap->imap_selection_info;
	if (si) {
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
	}
	st->highestmodseq = modseq;
	return MT_OK;
}

int mt_uid_changed_since(struct mt_session *s, uint64_t modseq, uint32_t **uids, size_t *n, struct mt_err *e)
{
	struct mailimap_set *set = mailimap_set_new_interval(1, 0);
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	clist *res = NULL;
	*uids = NULL;
	*n = 0;
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	int r = mailimap_uid_fetch_changedsince(s->imap, set, ft, modseq, &res);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, r, "FETCH CHANGEDSINCE", e);
	size_t cnt = res ? (size_t)clist_count(res) : 0;
	*uids = mt_xmalloc(sizeof **uids * (cnt ? cnt : 1));
	MT_EACH(it, res) {
		struct mt_msg m;
		take_msg(clist_content(it), &m);
		if (m.uid)
			(*uids)[(*n)++] = m.uid;
		msg_free(&m);
	}
	mailimap_fetch_list_free(res);
	qsort(*uids, *n, sizeof **uids, cmp_u32);
	return MT_OK;
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

int mt_fetch_each(struct mt_session *s, const uint32_t *uids, size_t n, const struct mt_fetch_spec *spec,
		  int (*cb)(const struct mt_fetched *m, void *ctx), void *ctx, struct mt_err *e)
{
	/* headers only: large batches; with a body prefix, at most ~8 MiB a batch */
	size_t batch = 1000;
	if (spec->body_prefix > 0) {
		uint64_t b = (8u << 20) / spec->body_prefix;
		batch = b < 1 ? 1 : b > 200 ? 200 : (size_t)b;
	}
	for (size_t i = 0; i < n; i += batch) {
		size_t cnt = n - i < batch ? n - i : batch;
		struct mailimap_set *set = uid_set_of(uids + i, cnt);
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
		int r = mailimap_uid_fetch(s->imap, set, ft, &res);
		mailimap_set_free(set);
		mailimap_fetch_type_free(ft);
		if (r != MAILIMAP_NO_ERROR)
			return mt_imap_error(s, r, "FETCH", e);
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
				case MAILIMAP_MSG_ATT_INTERNALDATE: m.internaldate = imap_time(st->att_data.att_internal_date); break;
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
			if (!stop && m.uid && bsearch(&m.uid, uids + i, cnt, sizeof *uids, cmp_u32))
				stop = cb(&m, ctx);
			free(kw);
		}
		mailimap_fetch_list_free(res);
		if (stop)
			return stop;
	}
	return MT_OK;
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
