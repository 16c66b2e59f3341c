/* select.c — choosing the messages of one folder: the SEARCH a compiled
 * condition sends, the FETCH of what its check (and a report) reads, and the
 * check itself, which the caller supplies (filters/query.c decides). */
#include "select_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* From, Subject and Date of a fetched header block, for listings and
 * archive dates. */
static int take_field(const char *line, size_t nlen, const char *v, size_t vlen, void *ctx)
{
	struct mt_msg *m = ctx;
	if (nlen == 4 && strncasecmp(line, "from", 4) == 0 && m->from == NULL)
		m->from = mt_decode_header(v, vlen);
	else if (nlen == 7 && strncasecmp(line, "subject", 7) == 0 && m->subject == NULL)
		m->subject = mt_decode_header(v, vlen);
	else if (nlen == 4 && strncasecmp(line, "date", 4) == 0 && m->date == 0)
		m->date = mt_header_date(v, vlen);
	return 0;
}

/* What a listing shows of a fetched message. */
static void msg_of(struct mt_msg *m, const struct mt_fetched *f)
{
	memset(m, 0, sizeof *m);
	m->uid = f->uid;
	m->size = f->size;
	m->internaldate = f->internaldate;
	if (f->header)
		mt_header_fields(f->header, f->header_len, take_field, m);
}

static void msg_free(struct mt_msg *m)
{
	free(m->from);
	free(m->subject);
}

static int cmp_msg(const void *a, const void *b)
{
	const struct mt_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

struct picking {
	const struct mt_pick *p;
	struct mt_selection *out;
	size_t cap;
};

static int take_pick(const struct mt_fetched *f, void *arg)
{
	struct picking *k = arg;
	if (k->p->decide && k->p->decide(f, k->p->ctx) <= 0)
		return 0;
	struct mt_selection *out = k->out;
	if (out->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 64;
		out->msgs = mt_xrealloc(out->msgs, sizeof *out->msgs * k->cap);
	}
	msg_of(&out->msgs[out->n++], f);
	out->bytes += f->size;
	return 0;
}

int mt_select(struct mt_session *s, const char *folder, int readonly, const struct mt_pick *p,
	      struct mt_selection *out, struct mt_err *e)
{
	struct mt_folder_state st;
	uint32_t *uids = NULL;
	size_t n = 0;
	int r;
	memset(out, 0, sizeof *out);
	out->folder = mt_xstrdup(folder);
	if ((r = mt_mailbox_wire(s, folder, &out->wire, e)) != MT_OK)
		return r;
	int refused;
	if ((r = mt_open_wire(s, out->wire, folder, !readonly, 0, &st, &refused, e)) != MT_OK)
		return r;
	out->uidvalidity = st.uidvalidity;
	out->search = mt_xstrdup(p->search);
	out->searched_on_server = 1;
	if ((r = mt_uid_search_text(s, NULL, 0, p->search, &p->text, &uids, &n, e)) != MT_OK)
		return r;
	if (p->fetch_none) {
		/* the server decided: the SEARCH answer (within scope) is the selection */
		out->msgs = mt_xmalloc(sizeof *out->msgs * (n ? n : 1));
		for (size_t i = 0; i < n; i++)
			out->msgs[out->n++].uid = uids[i];
	} else if (n) {
		struct picking k = { .p = p, .out = out };
		r = mt_fetch_each(s, uids, n, &p->fetch, take_pick, &k, e);
	}
	free(uids);
	if (out->msgs == NULL)
		out->msgs = mt_xmalloc(sizeof *out->msgs);
	mt_sort(out->msgs, out->n, sizeof *out->msgs, cmp_msg);
	return r;
}

struct summaries {
	struct mt_msg *v;
	size_t n, max;
};

static int take_summary(const struct mt_fetched *f, void *arg)
{
	struct summaries *k = arg;
	if (k->n == k->max)
		return 0;   /* mt_fetch_each passes only UIDs asked, each once a batch; a repeat stops here */
	msg_of(&k->v[k->n++], f);
	return 0;
}

int mt_fetch_summaries(struct mt_session *s, const uint32_t *uids, size_t n, struct mt_msg **out, size_t *nout,
		       struct mt_err *e)
{
	static const char *const fields[] = { "From", "Subject", "Date", NULL };
	struct mt_fetch_spec spec = { .size = 1, .date = 1, .headers = fields };
	struct summaries k = { .v = mt_xmalloc(sizeof *k.v * (n ? n : 1)), .max = n };
	int r = n ? mt_fetch_each(s, uids, n, &spec, take_summary, &k, e) : MT_OK;
	*out = k.v;
	*nout = k.n;
	return r;
}

void mt_msgs_free(struct mt_msg *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		msg_free(&v[i]);
	free(v);
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

