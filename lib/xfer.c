/* xfer.c — copies and moves to a folder of another account (another server,
 * another user): each message APPENDed there with its flags and
 * INTERNALDATE, every copy confirmed (APPENDUID under the UIDVALIDITY the
 * target was selected with, else fetched back and compared), and only the
 * confirmed originals then removed (UID STORE \Deleted + UID EXPUNGE of
 * exactly those UIDs). Exactly once across interruptions: before appending,
 * the target is searched for copies an earlier run made (same size and
 * Message-ID, then the same SHA-256 of the whole message), and those count
 * as copied. mailtool-archive(1) and mailtool-rules(5) describe it. */
#include "plan.h"
#include "select_int.h"
#include "localmail.h"

#include <libetpan/uidplus_types.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Message text per batch: fetched from the source, appended in one
 * MULTIAPPEND, confirmed, removed from the source. Bounded memory, and what
 * an interruption leaves to redo. */
#define XFER_BATCH_BYTES (8u << 20)
#define XFER_BATCH_MSGS 100
/* The text of a (MULTI)APPEND outside its literals stays below what every
 * server reads as one line (cmd/archive.c says why). */
#define XFER_LINE_MAX 4000
/* Candidates in the target are searched this far around the originals'
 * INTERNALDATEs (APPEND keeps them; SEARCH dates are days in the server's
 * own time zone). */
#define XFER_DATE_SLACK (3 * 86400)

/* A message's way: to copy; a copy found in the target; appended, its copy
 * still to be seen; its copy confirmed; the original removed; left alone. */
enum { X_TODO, X_FOUND, X_APPENDED, X_CONFIRMED, X_REMOVED, X_SKIPPED };

struct xmsg {
	uint32_t uid, size;
	time_t date;
	unsigned sysflags;
	char **kw;                /* owned, NULL-terminated */
	char *key;                /* "size|Message-ID" (Message-ID "" when none); owned */
	int state;
	enum mt_skip_why why;     /* X_SKIPPED: why it stays */
	uint64_t got;             /* MT_SKIP_SIZE: the size of the text the server sent */
	int found;                /* its copy was there before this run appended anything */
	unsigned char dig[32];
	char *data;               /* the text while its batch is in hand; owned */
	size_t len;
	char *target;             /* a dated op's target for this message; owned */
};

struct xfer {
	struct mt_session *s, *d;
	struct mt_op *op;
	const char *tw;           /* the target's wire name on d */
	const char *tname;        /* and as people name it */
	struct xmsg *m;
	size_t n;
	size_t *slot;             /* per op->uids entry: 1 + its place in m, 0 before take_original took it */
	uint32_t dvalidity;       /* the target's UIDVALIDITY as selected */
	/* the target's messages that may be copies: by key, each pairable once */
	struct mt_strindex *ix;
	struct cand { uint32_t uid; size_t next; int used; char *key; } *c;   /* key owned (the index borrows it) */
	size_t nc, capc;
	size_t *last;             /* per first position of a key: its last */
};

static void xmsg_release(struct xmsg *m)
{
	for (size_t k = 0; m->kw && m->kw[k]; k++)
		free(m->kw[k]);
	free(m->kw);
	free(m->key);
	free(m->target);
	free(m->data);
	m->data = NULL;
}

static char *ident_key(uint32_t size, const char *header, size_t len)
{
	char *id = header ? mt_header_get(header, len, "message-id") : NULL;
	/* only the id's own characters: folding and spacing differ between servers' answers */
	size_t o = 0;
	for (size_t i = 0; id && id[i]; i++)
		if ((unsigned char)id[i] > ' ')
			id[o++] = id[i];
	if (id)
		id[o] = '\0';
	char *k = mt_xasprintf("%u|%s", size, id ? id : "");
	free(id);
	return k;
}

static const char *const msgid_field[] = { "MESSAGE-ID", NULL };

/* ---- the originals ----------------------------------------------------------- */

static int take_original(const struct mt_fetched *f, void *arg)
{
	struct xfer *x = arg;
	/* one slot a chosen UID: a server may answer for one twice (an
	 * unsolicited FETCH with its flags, RFC 3501 7.4.2); the first counts */
	const uint32_t *at = bsearch(&f->uid, x->op->uids, x->op->n, sizeof *x->op->uids, mt_cmp_u32);
	if (at == NULL)
		return 0;
	size_t *slot = &x->slot[at - x->op->uids];
	struct xmsg *m;
	if (*slot) {
		/* the answer that carries the message's size and header counts
		 * (an unsolicited one carries its flags alone) */
		m = &x->m[*slot - 1];
		if (m->size || !f->size)
			return 0;
		xmsg_release(m);
	} else {
		if (x->n >= x->op->n)
			return 0;
		*slot = x->n + 1;
		m = &x->m[x->n++];
	}
	size_t nk = 0;
	while (f->keywords && f->keywords[nk])
		nk++;
	memset(m, 0, sizeof *m);
	m->uid = f->uid;
	m->size = f->size;
	m->date = f->internaldate;
	m->sysflags = f->sysflags;   /* \Deleted too, as UID MOVE keeps it */
	m->kw = mt_xmalloc(sizeof *m->kw * (nk + 1));
	for (size_t k = 0; k < nk; k++)
		m->kw[k] = mt_xstrdup(f->keywords[k]);
	m->kw[nk] = NULL;
	m->key = ident_key(f->size, f->header, f->header_len);
	return 0;
}

static int cmp_xmsg(const void *a, const void *b)
{
	const struct xmsg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* ---- copies in the target ------------------------------------------------------ */

static int take_candidate(const struct mt_fetched *f, void *arg)
{
	struct xfer *x = arg;
	char *k = ident_key(f->size, f->header, f->header_len);
	if (x->nc == x->capc) {
		x->capc = x->capc ? 2 * x->capc : 64;
		x->c = mt_xrealloc(x->c, sizeof *x->c * x->capc);
		x->last = mt_xrealloc(x->last, sizeof *x->last * x->capc);
	}
	size_t g = x->nc++, first = mt_strindex_put(x->ix, k, g);
	x->c[g] = (struct cand){ .uid = f->uid, .next = SIZE_MAX, .key = k };
	if (first == g)
		x->last[g] = g;
	else
		x->c[x->last[first]].next = g, x->last[first] = g;
	return 0;
}

/* Add the target's messages in lo..hi (hi 0: up to its SELECT's UIDNEXT)
 * dated near the originals to the candidates. */
static int add_candidates(struct xfer *x, uint32_t lo, uint32_t hi, struct mt_err *e)
{
	time_t min = 0, max = 0;
	int undated = 0;
	for (size_t i = 0; i < x->n; i++) {
		if (x->m[i].date <= 0)
			undated = 1;
		else if (min == 0 || x->m[i].date < min)
			min = x->m[i].date;
		if (x->m[i].date > max)
			max = x->m[i].date;
	}
	char since[32], before[32], *crit;
	if (!undated && min > XFER_DATE_SLACK && mt_imap_date_time(min - XFER_DATE_SLACK, since, sizeof since) &&
	    mt_imap_date_time(max + XFER_DATE_SLACK, before, sizeof before))
		crit = mt_xasprintf("SINCE %.11s BEFORE %.11s", since, before);
	else
		crit = mt_xstrdup("ALL");
	uint32_t *uids = NULL;
	size_t n = 0;
	struct mt_fetch_spec spec = { .size = 1, .headers = msgid_field };
	int r = mt_uid_search_range(x->d, lo, hi, crit, &uids, &n, e);
	if (r == MT_OK && n)
		r = mt_fetch_each(x->d, uids, n, &spec, take_candidate, x, e);
	free(uids);
	free(crit);
	return r;
}

/* The candidates of one target, gone before the next target's. */
static void candidates_release(struct xfer *x)
{
	mt_strindex_free(x->ix);
	while (x->nc > 0)
		free(x->c[--x->nc].key);
	free(x->c);
	free(x->last);
	x->ix = NULL, x->c = NULL, x->last = NULL, x->capc = 0;
}

struct digests {
	const uint32_t *uids;
	size_t n;
	unsigned char *dig;       /* 32 per uid */
	unsigned char *got;
};

static int take_digest(const struct mt_fetched *f, void *arg)
{
	struct digests *D = arg;
	const uint32_t *p = mt_bsearch(&f->uid, D->uids, D->n, sizeof *D->uids, mt_cmp_u32);
	if (p && f->body && f->body_len == f->size) {
		mt_sha256(f->body, f->body_len, D->dig + 32 * (size_t)(p - D->uids));
		D->got[p - D->uids] = 1;
	}
	return 0;
}

/* Pair each message of m[0..n) still in `from` state that has its digest
 * with an unused candidate of the same key and text: they become `to`. The
 * candidates' text is fetched from the target (its digest only is kept). */
static int pair(struct xfer *x, struct xmsg *m, size_t n, int from, int to, struct mt_err *e)
{
	/* each candidate once, however many originals share its key */
	unsigned char *asked = mt_xmalloc(x->nc + 1);
	uint32_t *want = mt_xmalloc(sizeof *want * (x->nc + 1));
	size_t nw = 0;
	for (size_t i = 0; i < n; i++) {
		long first = m[i].state == from ? mt_strindex_get(x->ix, m[i].key) : -1;
		for (size_t g = first < 0 ? SIZE_MAX : (size_t)first; g != SIZE_MAX; g = x->c[g].next)
			if (!x->c[g].used && !asked[g]) {
				asked[g] = 1;
				want[nw++] = x->c[g].uid;
			}
	}
	free(asked);
	if (nw == 0) {
		free(want);
		return MT_OK;
	}
	mt_sort_unique_u32(want, &nw);
	struct digests D = { .uids = want, .n = nw, .dig = mt_xmalloc(32 * nw), .got = mt_xmalloc(nw) };
	memset(D.got, 0, nw);
	struct mt_fetch_spec spec = { .size = 1, .body_whole = 1 };
	int r = MT_OK;
	/* a few at a time: they are whole messages */
	for (size_t i = 0; i < nw && r == MT_OK; i += 16)
		r = mt_fetch_each(x->d, want + i, nw - i < 16 ? nw - i : 16, &spec, take_digest, &D, e);
	for (size_t i = 0; i < n && r == MT_OK; i++) {
		long first = m[i].state == from ? mt_strindex_get(x->ix, m[i].key) : -1;
		for (size_t g = first < 0 ? SIZE_MAX : (size_t)first; g != SIZE_MAX; g = x->c[g].next) {
			const uint32_t *p = x->c[g].used ? NULL : mt_bsearch(&x->c[g].uid, want, nw, sizeof *want, mt_cmp_u32);
			if (p && D.got[p - want] && memcmp(D.dig + 32 * (size_t)(p - want), m[i].dig, 32) == 0) {
				x->c[g].used = 1;
				m[i].state = to;
				break;
			}
		}
	}
	free(D.dig);
	free(D.got);
	free(want);
	return r;
}

/* ---- appending ------------------------------------------------------------------ */

static const struct { unsigned f; const char *n; } sysflag_names[] = {
	{ MT_F_SEEN, "\\Seen" }, { MT_F_ANSWERED, "\\Answered" }, { MT_F_FLAGGED, "\\Flagged" },
	{ MT_F_DELETED, "\\Deleted" }, { MT_F_DRAFT, "\\Draft" },
};

/* " (flags) \"date\" {len+}\r\n" of one message, as an APPEND carries it. */
static void put_message_args(FILE *f, const struct xmsg *m, int plus)
{
	char date[32];
	int sp = 0;
	fputs(" (", f);
	for (size_t i = 0; i < sizeof sysflag_names / sizeof *sysflag_names; i++)
		if (m->sysflags & sysflag_names[i].f)
			fprintf(f, "%s%s", sp++ ? " " : "", sysflag_names[i].n);
	for (size_t k = 0; m->kw[k]; k++)
		fprintf(f, "%s%s", sp++ ? " " : "", m->kw[k]);
	fputc(')', f);
	if (mt_imap_date_time(m->date, date, sizeof date))
		fprintf(f, " \"%s\"", date);
	fprintf(f, " {%zu%s}\r\n", m->len, plus ? "+" : "");
}

static size_t message_args_len(const struct xmsg *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		abort();
	struct xmsg sized = *m;
	sized.len = m->size;   /* before its text is in hand */
	put_message_args(f, &sized, 1);
	if (fclose(f) != 0)
		abort();
	free(buf);
	return len;
}

/* The APPENDUID (RFC 4315) of the command just completed on s: 1 with its
 * UIDVALIDITY and how many UIDs it names, 0 when it had none. libetpan
 * moves response codes of extensions out of the parsed response into the
 * session's list of them. */
static int appenduid_of(struct mt_session *s, uint32_t *validity, size_t *count)
{
	struct mailimap_response_info *ri = s->imap->imap_response_info;
	MT_EACH(it, ri ? ri->rsp_extension_list : NULL) {
		struct mailimap_extension_data *d = clist_content(it);
		if (d == NULL || d->ext_extension == NULL || d->ext_extension->ext_id != MAILIMAP_EXTENSION_UIDPLUS ||
		    d->ext_type != MAILIMAP_UIDPLUS_RESP_CODE_APND || d->ext_data == NULL)
			continue;
		struct mailimap_uidplus_resp_code_apnd *a = d->ext_data;
		uint64_t k = 0;
		MT_EACH(jt, a->uid_set ? a->uid_set->set_list : NULL) {
			struct mailimap_set_item *si = clist_content(jt);
			if (si->set_first == 0 || si->set_last < si->set_first)
				return 0;   /* '*' or nonsense: no count to believe */
			k += (uint64_t)si->set_last - si->set_first + 1;
		}
		*validity = a->uid_uidvalidity;
		*count = (size_t)k;
		return 1;
	}
	return 0;
}

/* APPEND m[0..n) (all X_TODO, text in hand) in one MULTIAPPEND command, or
 * one at a time when there is no MULTIAPPEND. *refused: the server said NO
 * (to the message it names in *at; those before it were appended).
 * Appended messages become X_CONFIRMED when APPENDUID says so. */
static int append_some(struct xfer *x, struct xmsg **m, size_t n, int *refused, size_t *at, int *unconfirmed,
		       struct mt_err *e)
{
	int multi = mt_has_cap(x->d, "MULTIAPPEND"), plus = mt_has_cap(x->d, "LITERAL+");
	char *q = mt_imap_quote(x->tw);
	int r = MT_OK;
	*refused = 0;
	*unconfirmed = 0;
	for (size_t i = 0; i < n && r == MT_OK && !*refused;) {
		size_t k = multi && plus ? n - i : 1, cmdlen = 0;
		char *cmd = NULL;
		int status;
		if (!plus) {
			/* no LITERAL+: libetpan waits for each continuation */
			uint32_t v = 0, uid = 0;
			struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
			struct mailimap_date_time *dt = NULL;
			struct tm tm;
			if (m[i]->sysflags & MT_F_SEEN)
				mailimap_flag_list_add(fl, mailimap_flag_new_seen());
			if (m[i]->sysflags & MT_F_ANSWERED)
				mailimap_flag_list_add(fl, mailimap_flag_new_answered());
			if (m[i]->sysflags & MT_F_FLAGGED)
				mailimap_flag_list_add(fl, mailimap_flag_new_flagged());
			if (m[i]->sysflags & MT_F_DELETED)
				mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
			if (m[i]->sysflags & MT_F_DRAFT)
				mailimap_flag_list_add(fl, mailimap_flag_new_draft());
			for (size_t w = 0; m[i]->kw[w]; w++)
				mailimap_flag_list_add(fl, mailimap_flag_new_flag_keyword(mt_xstrdup(m[i]->kw[w])));
			if (m[i]->date > 0 && gmtime_r(&m[i]->date, &tm))
				dt = mailimap_date_time_new(tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
							    tm.tm_sec, 0);
			int lr = mt_has_cap(x->d, "UIDPLUS") ? mailimap_uidplus_append(x->d->imap, x->tw, fl, dt, m[i]->data,
											 m[i]->len, &v, &uid)
							       : mailimap_append(x->d->imap, x->tw, fl, dt, m[i]->data, m[i]->len);
			mailimap_flag_list_free(fl);
			if (dt)
				mailimap_date_time_free(dt);
			if (lr == MAILIMAP_ERROR_APPEND) {
				*refused = 1;
				*at = i;
			} else if (lr != MAILIMAP_NO_ERROR) {
				r = mt_imap_error(x->d, lr, "APPEND", e);
			} else {
				if (uid && v == x->dvalidity)
					m[i]->state = X_CONFIRMED;
				else
					*unconfirmed = 1;
				i++;
			}
			continue;
		}
		FILE *f = open_memstream(&cmd, &cmdlen);
		if (f == NULL)
			abort();
		fprintf(f, "APPEND %s", q);
		for (size_t j = i; j < i + k; j++) {
			put_message_args(f, m[j], 1);
			fwrite(m[j]->data, 1, m[j]->len, f);
		}
		if (fclose(f) != 0)
			abort();
		r = mt_imap_run(x->d, cmd, 0, NULL, &status, e);
		free(cmd);
		if (r == MT_OK && status != MT_RESP_OK) {
			/* a MULTIAPPEND is all or nothing (RFC 3502): nothing of it is there */
			*refused = 1;
			*at = i;
			if (status == MT_RESP_BAD)
				r = mt_seterr(e, MT_EPROTO, "APPEND to '%s': the server said BAD: %s", x->tname,
					      mt_imap_last_text(x->d));
		} else if (r == MT_OK) {
			uint32_t v;
			size_t cnt;
			/* APPENDUID where UIDPLUS is offered */
			int confirmed = mt_has_cap(x->d, "UIDPLUS") && appenduid_of(x->d, &v, &cnt) && v == x->dvalidity && cnt == k;
			for (size_t j = i; j < i + k; j++)
				if (confirmed)
					m[j]->state = X_CONFIRMED;
			*unconfirmed |= !confirmed;
			i += k;
		}
	}
	free(q);
	return r;
}

/* ---- one batch ------------------------------------------------------------------- */

struct texts {
	struct xmsg *m;
	size_t n;
};

static int take_text(const struct mt_fetched *f, void *arg)
{
	struct texts *T = arg;
	struct xmsg key = { .uid = f->uid }, *m = mt_bsearch(&key, T->m, T->n, sizeof *T->m, cmp_xmsg);
	if (m == NULL || f->body == NULL || m->data)
		return 0;
	m->data = mt_xmalloc(f->body_len + 1);
	memcpy(m->data, f->body, f->body_len);
	m->len = f->body_len;
	mt_sha256(m->data, m->len, m->dig);
	return 0;
}

/* Remove exactly the originals of m[0..n) that are copied (found or
 * confirmed) from the source. */
static int remove_copied(struct xfer *x, struct xmsg *m, size_t n, int allow_unsafe, struct mt_err *e)
{
	uint32_t *uids = mt_xmalloc(sizeof *uids * (n + 1));
	size_t k = 0;
	int r = MT_OK, status;
	for (size_t i = 0; i < n; i++)
		if (m[i].state == X_FOUND || m[i].state == X_CONFIRMED)
			uids[k++] = m[i].uid;
	if (k) {
		mt_test_hook_before_remove(x->op->folder);
		if ((r = mt_uid_store(x->s, uids, k, 1, "\\Deleted", e)) == MT_OK) {
			char *set = mt_uidset(uids, k);
			char *cmd = mt_has_cap(x->s, "UIDPLUS") ? mt_xasprintf("UID EXPUNGE %s", set) : mt_xstrdup("EXPUNGE");
			r = mt_imap_run(x->s, cmd, 0, NULL, &status, e);
			if (r == MT_OK && status != MT_RESP_OK)
				r = mt_seterr(e, MT_EUNAVAIL, "EXPUNGE in '%s' refused by the server: %s", x->op->folder,
					      mt_imap_last_text(x->s));
			free(cmd);
			free(set);
		}
		for (size_t i = 0; i < n && r == MT_OK; i++)
			if (m[i].state == X_FOUND || m[i].state == X_CONFIRMED)
				m[i].state = X_REMOVED;
	}
	(void)allow_unsafe;   /* checked before anything was appended */
	free(uids);
	return r;
}

const char *mt_skip_reason(enum mt_skip_why why)
{
	switch (why) {
	case MT_SKIP_NUL: return "its text holds a NUL byte, which an APPEND cannot carry";
	case MT_SKIP_SIZE: return "its text is not the size the server reported";
	case MT_SKIP_NOBODY: return "the server sent no text for it";
	case MT_SKIP_GONE: return "it was expunged meanwhile";
	case MT_SKIP_UNCONFIRMED: return "appended, but its copy was not found there on reading back";
	}
	return "not copied";
}

static void skip(struct xmsg *m, enum mt_skip_why why)
{
	m->state = X_SKIPPED;
	m->why = why;
}

/* m stays in the source, on its way to target: said in op->skipped. */
static void add_skip(struct mt_op *op, const struct xmsg *m, const char *target)
{
	op->skipped = mt_xrealloc(op->skipped, sizeof *op->skipped * (op->nskipped + 1));
	op->skipped[op->nskipped++] = (struct mt_skip){ .uid = m->uid, .size = m->size, .why = m->why, .got = m->got,
							.target = mt_xstrdup(target) };
	op->skipped_bytes += m->size;
}

/* The originals' text, each checked that an APPEND can carry it as the
 * server described it; the others are skipped, and why. A dry run reads
 * the same, so that it says what the real run will do. */
static int read_texts(struct xfer *x, struct xmsg *m, size_t n, struct mt_err *e)
{
	uint32_t *uids = mt_xmalloc(sizeof *uids * (n + 1)), *left = NULL;
	struct texts T = { .m = m, .n = n };
	struct mt_fetch_spec spec = { .body_whole = 1 };
	size_t k = 0, nleft = 0;
	for (size_t i = 0; i < n; i++)
		uids[i] = m[i].uid;
	int r = mt_fetch_each(x->s, uids, n, &spec, take_text, &T, e);
	/* no text: still there (the server would not send it), or expunged meanwhile */
	for (size_t i = 0; i < n && r == MT_OK; i++)
		if (m[i].data == NULL)
			uids[k++] = m[i].uid;
	if (r == MT_OK && k)
		r = mt_uid_search_in(x->s, uids, k, "ALL", &left, &nleft, e);
	for (size_t i = 0; i < n && r == MT_OK; i++) {
		if (m[i].data == NULL)
			skip(&m[i], mt_bsearch(&m[i].uid, left, nleft, sizeof *left, mt_cmp_u32) ? MT_SKIP_NOBODY : MT_SKIP_GONE);
		else if (m[i].len != m[i].size) {
			skip(&m[i], MT_SKIP_SIZE);
			m[i].got = m[i].len;
		} else if (memchr(m[i].data, '\0', m[i].len))
			skip(&m[i], MT_SKIP_NUL);
	}
	free(left);
	free(uids);
	return r;
}

/* One batch m[0..n): fetch the originals' text, pair them with copies the
 * target has, append the rest, confirm, then remove what is copied. */
static int run_batch(struct xfer *x, struct xmsg *m, size_t n, int move, int dry, int allow_unsafe, struct mt_err *e)
{
	int r = read_texts(x, m, n, e);
	if (r == MT_OK && x->nc)
		r = pair(x, m, n, X_TODO, X_FOUND, e);
	for (size_t i = 0; i < n; i++)
		m[i].found = m[i].state == X_FOUND;
	if (r != MT_OK || dry)
		return r;
	struct xmsg **todo = mt_xmalloc(sizeof *todo * (n + 1));
	size_t nt = 0;
	for (size_t i = 0; i < n; i++)
		if (m[i].state == X_TODO)
			todo[nt++] = &m[i];
	int refused = 0, unconfirmed = 0;
	size_t at = nt;
	if (nt)
		r = append_some(x, todo, nt, &refused, &at, &unconfirmed, e);
	char *why = refused ? mt_xstrdup(mt_imap_last_text(x->d)) : NULL;
	mt_test_hook("MAILTOOL_TEST_HOOK_AFTER_APPEND", x->op->folder);
	if (r == MT_OK && unconfirmed) {
		/* no APPENDUID to believe: what was appended is fetched back */
		struct mt_folder_state st;
		int ref;
		uint32_t from = mt_selected_uidnext(x->d);
		for (size_t i = 0; i < (refused ? at : nt); i++)
			if (todo[i]->state == X_TODO)
				todo[i]->state = X_APPENDED;   /* appended, to confirm */
		r = mt_open_wire(x->d, x->tw, x->tname, !dry, 0, &st, &ref, e);
		if (r == MT_OK && st.uidvalidity != x->dvalidity)
			r = mt_seterr(e, MT_ETEMP, "UIDVALIDITY of '%s' changed during the copy; nothing more removed",
				      x->tname);
		if (r == MT_OK)
			r = add_candidates(x, from ? from : 1, 0, e);
		if (r == MT_OK)
			r = pair(x, m, n, X_APPENDED, X_CONFIRMED, e);
		for (size_t i = 0; i < n; i++)
			if (m[i].state == X_APPENDED)
				skip(&m[i], MT_SKIP_UNCONFIRMED);   /* not seen there: the original stays */
	}
	free(todo);
	if (r == MT_OK && move)
		r = remove_copied(x, m, n, allow_unsafe, e);
	if (r == MT_OK && refused)
		r = mt_seterr(e, MT_EUNAVAIL, "APPEND to '%s' refused by the server: %s; the messages not copied stay in '%s'",
			      x->tname, why ? why : "", x->op->folder);
	free(why);
	return r;
}

/* ---- the op ----------------------------------------------------------------------- */

/* UIDs of the op the server sent nothing about (not even their size): in
 * op->skipped as expunged meanwhile, or, still there, as sent no text. */
static int unanswered(struct xfer *x, struct mt_err *e)
{
	struct mt_op *op = x->op;
	uint32_t *miss = mt_xmalloc(sizeof *miss * (op->n + 1)), *left = NULL;
	size_t nm = 0, nleft = 0;
	for (size_t i = 0; i < op->n; i++) {
		struct xmsg key = { .uid = op->uids[i] };
		if (!mt_bsearch(&key, x->m, x->n, sizeof *x->m, cmp_xmsg))
			miss[nm++] = op->uids[i];
	}
	int r = mt_uid_search_in(x->s, miss, nm, "ALL", &left, &nleft, e);
	for (size_t i = 0; i < nm && r == MT_OK; i++)
		add_skip(op, &(struct xmsg){ .uid = miss[i], .why = mt_bsearch(&miss[i], left, nleft, sizeof *left, mt_cmp_u32)
									  ? MT_SKIP_NOBODY : MT_SKIP_GONE }, op->target);
	free(left);
	free(miss);
	return r;
}

/* The target must not be the source folder itself, however it was
 * reached (another account for the same box, another name for its host):
 * each original would be found there as "its own copy" and then expunged.
 * It is that folder when its UIDVALIDITY is the source's and it holds one
 * of the originals under the same UID, size and Message-ID (a replica that
 * keeps UIDs, as dsync does, counts as the same: refused too). */
static int not_the_source(struct xfer *x, const char *name, struct mt_err *e)
{
	if (x->dvalidity != x->op->uidvalidity)
		return MT_OK;
	for (size_t i = 0; i < x->nc; i++) {
		struct xmsg want = { .uid = x->c[i].uid };
		const struct xmsg *m = bsearch(&want, x->m, x->n, sizeof *x->m, cmp_xmsg);
		if (m && m->key && x->c[i].key && strcmp(m->key, x->c[i].key) == 0)
			return mt_seterr(e, MT_EDATA, "'%s' on the other account is '%s' itself (the same UIDVALIDITY, "
					 "and UID %u the same message): nothing %s", name, x->op->folder, m->uid,
					 x->op->kind == MT_OP_MOVE ? "moved" : "copied");
	}
	return MT_OK;
}

static int cmp_target(const void *a, const void *b)
{
	const struct xmsg *x = a, *y = b;
	int c = strcmp(x->target, y->target);
	return c ? c : x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The messages m[a..b) of x to the folder `name` on x->d (a dated op's
 * folder is created when missing), in batches. */
static int to_target(struct xfer *x, const char *name, size_t a, size_t b, int move, int dry, int allow_unsafe,
		     struct mt_err *e)
{
	struct mt_op *op = x->op;
	struct xmsg *all = x->m;
	size_t nall = x->n;
	char *tw = NULL;
	struct mt_folder_state st;
	int refused, r = MT_OK;
	/* the candidates are this target's */
	x->m = all + a;
	x->n = b - a;
	x->tname = name;
	x->ix = mt_strindex_new();
	x->nc = 0;
	if (op->dated && !dry && (r = mt_create(x->d, name, NULL, e)) == MT_OK)
		r = mt_subscribe(x->d, name, 1, e);
	/* the target, and the copies an earlier run may have made there */
	if (r == MT_OK)
		r = mt_mailbox_wire(x->d, name, &tw, e);
	x->tw = tw;
	if (r == MT_OK) {
		int there = mt_open_wire(x->d, tw, name, !dry, 0, &st, &refused, e);
		if (there == MT_OK) {
			x->dvalidity = st.uidvalidity;
			r = add_candidates(x, 1, 0, e);
			if (r == MT_OK)
				r = not_the_source(x, name, e);
		} else if (!(refused && dry)) {
			/* (a real run created it: the server will not let us in) */
			char *why = mt_xstrdup(e->msg);
			r = refused ? mt_seterr(e, MT_EUNAVAIL, "the target: %s", why) : there;
			free(why);
		}
	}
	/* batches by bytes; the test suite's interruption matrices ask for
	 * small ones (MAILTOOL_TEST_XFER_BATCH messages), so that a run has
	 * several */
	const char *tb = getenv("MAILTOOL_TEST_XFER_BATCH");
	long want = tb ? strtol(tb, NULL, 10) : 0;
	size_t most = want > 0 && want < XFER_BATCH_MSGS ? (size_t)want : XFER_BATCH_MSGS;
	for (size_t i = 0; i < x->n && r == MT_OK;) {
		size_t j = i, line = strlen(tw ? tw : "") * 2 + 32;   /* tag, APPEND and the quoted name */
		uint64_t bytes = 0;
		while (j < x->n && j - i < most && (j == i || (bytes + x->m[j].size <= XFER_BATCH_BYTES &&
									  line + message_args_len(&x->m[j]) <= XFER_LINE_MAX))) {
			bytes += x->m[j].size;
			line += message_args_len(&x->m[j]);
			j++;
		}
		r = run_batch(x, x->m + i, j - i, move, dry, allow_unsafe, e);
		for (size_t k = i; k < j; k++) {
			free(x->m[k].data);
			x->m[k].data = NULL;
			if (x->m[k].state == X_FOUND || (x->m[k].state == X_REMOVED && x->m[k].found)) {
				op->found++;
				op->found_bytes += x->m[k].size;
			}
			int state = x->m[k].state;
			if (state == X_SKIPPED && x->m[k].why)
				add_skip(op, &x->m[k], name);
			if (dry ? state != X_SKIPPED : move ? state == X_REMOVED : state == X_FOUND || state == X_CONFIRMED) {
				op->done++;
				op->done_bytes += x->m[k].size;
			}
		}
		i = j;
	}
	candidates_release(x);
	free(tw);
	x->m = all;
	x->n = nall;
	return r;
}


int mt_xfer_run(struct mt_session *s, struct mt_session *d, struct mt_op *op, int dry, int allow_unsafe,
		struct mt_err *e)
{
	int move = op->kind == MT_OP_MOVE, r;
	if (op->n == 0)
		return MT_OK;
	if (move && !dry && !mt_has_cap(s, "UIDPLUS") && !allow_unsafe)
		return mt_seterr(e, MT_EUNAVAIL, "the server lacks UIDPLUS, so '%s' cannot be expunged without also "
				 "taking messages other clients flagged \\Deleted; nothing moved "
				 "(--allow-unsafe-expunge overrides)", op->folder);
	struct xfer x = { .s = s, .d = d, .op = op };
	struct mt_folder_state st;
	int refused;
	/* the source as it was chosen from */
	r = mt_open_wire(s, op->wire, op->folder, !dry && move, 0, &st, &refused, e);
	if (r != MT_OK && refused)
		r = mt_seterr(e, MT_ETEMP, "folder '%s' went away before the %s; nothing %s", op->folder,
			      move ? "move" : "copy", move ? "moved" : "copied");
	if (r == MT_OK && st.uidvalidity != op->uidvalidity)
		r = mt_seterr(e, MT_ETEMP, "UIDVALIDITY of '%s' changed (%u -> %u) since selection; nothing %s", op->folder,
			      op->uidvalidity, st.uidvalidity, move ? "moved" : "copied");
	x.m = mt_xmalloc(sizeof *x.m * (op->n + 1));
	x.slot = mt_xmalloc(sizeof *x.slot * (op->n + 1));
	struct mt_fetch_spec meta = { .size = 1, .date = 1, .flags = 1, .headers = msgid_field };
	if (r == MT_OK)
		r = mt_fetch_each(s, op->uids, op->n, &meta, take_original, &x, e);
	if (r == MT_OK)
		mt_sort(x.m, x.n, sizeof *x.m, cmp_xmsg);
	if (r == MT_OK && x.n < op->n)
		r = unanswered(&x, e);
	if (r == MT_OK && op->dated) {
		/* each message to the folder its date names: the messages by target, in UID order each */
		for (size_t i = 0; i < x.n; i++)
			x.m[i].target = mt_date_name(op->target, x.m[i].date);
		mt_sort(x.m, x.n, sizeof *x.m, cmp_target);
	}
	for (size_t a = 0, b; a < x.n && r == MT_OK; a = b) {
		for (b = a + 1; op->dated && b < x.n && strcmp(x.m[b].target, x.m[a].target) == 0; b++)
			;
		if (!op->dated)
			b = x.n;
		r = to_target(&x, op->dated ? x.m[a].target : op->target, a, b, move, dry, allow_unsafe, e);
	}
	for (size_t i = 0; i < x.n; i++)
		xmsg_release(&x.m[i]);
	free(x.m);
	free(x.slot);
	return r;
}
