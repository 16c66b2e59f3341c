/* choose.c — the messages of one folder an applet acts on: its condition
 * tree compiled for this server (filters/query.c), run by the library
 * (mt_select), with what a report reads fetched beside what the decision
 * needs, and every message a regular expression could not decide left
 * alone and named. expunge, compact and archive choose through here. */
#include "tool.h"

#include "../filters/query.h"

#include <stdlib.h>
#include <string.h>

struct deciding {
	struct mt_ctx *ctx;
	struct mt_choice *ch;
	const char *folder;
	int exact;
	time_t now;
};

static int decide(const struct mt_fetched *m, void *arg)
{
	struct deciding *d = arg;
	const char *why = NULL;
	if (d->ch->keep && !d->ch->keep(m->uid, d->ch->arg))
		return 0;
	if (d->exact || d->ch->cond == NULL)
		return 1;
	int hit = mt_cond_match(d->ch->cond, m, d->now, &why);
	if (hit < 0) {
		d->ch->undecided++;
		mt_warn(d->ctx, "'%s' UID %u: %s; the message is left alone", d->folder, m->uid, why ? why : "undecided");
	}
	return hit;
}

int mt_choose(struct mt_ctx *ctx, struct mt_session *s, const char *folder, struct mt_choice *ch,
	      struct mt_selection *out, struct mt_err *e)
{
	struct mt_query q;
	struct mt_needs need = { 0 };
	time_t now = time(NULL);
	mt_query_compile(ch->cond, mt_has_cap(s, "WITHIN"), now, &q);
	/* what the check reads, and what the report or a later step reads */
	if (!q.exact)
		mt_cond_needs(ch->cond, &need);
	if (ch->from_subject) {
		mt_needs_add_header(&need, "From");
		mt_needs_add_header(&need, "Subject");
		mt_needs_add_header(&need, "Date");
	}
	if (ch->dates && ch->by_date_header)
		mt_needs_add_header(&need, "Date");
	struct deciding d = { .ctx = ctx, .ch = ch, .folder = folder, .exact = q.exact, .now = now };
	struct mt_pick p = {
		.search = q.search,
		.text = { .loose = q.loose, .fields = (const char *const *)q.needs.hdrs, .all_headers = q.needs.all_headers,
			  .body = q.needs.body },
		.fetch = { .size = need.size || ch->size, .date = need.date || ch->dates || ch->from_subject, .flags = need.flags,
			   .headers = (const char *const *)need.hdrs, .all_headers = need.all_headers,
			   .body_prefix = need.body ? ch->body_limit : 0 },
		.decide = decide, .ctx = &d,
	};
	/* nothing to read and nothing to check: the SEARCH answer is the choice */
	p.fetch_none = q.exact && !ch->size && !ch->dates && !ch->from_subject && !ch->keep;
	int r = mt_select(s, folder, ch->readonly, &p, out, e);
	mt_needs_release(&need);
	mt_query_release(&q);
	return r;
}

/* ---- the common removal options as a tree ---------------------------------- */

struct mt_cond *mt_criteria_cond(const struct mt_criteria *c)
{
	struct mt_cond *t = NULL;
	if (c->deleted)
		t = mt_cond_and(t, mt_cond_flag(MT_F_DELETED, NULL, 1));
	if (c->undeleted)
		t = mt_cond_and(t, mt_cond_flag(MT_F_DELETED, NULL, 0));
	if (!c->include_flagged)
		t = mt_cond_and(t, mt_cond_flag(MT_F_FLAGGED, NULL, 0));
	if (c->seen >= 0)
		t = mt_cond_and(t, mt_cond_flag(MT_F_SEEN, NULL, c->seen));
	if (c->larger)
		t = mt_cond_and(t, mt_cond_size(MT_C_LARGER, c->larger));
	if (c->smaller)
		t = mt_cond_and(t, mt_cond_size(MT_C_SMALLER, c->smaller));
	if (c->older >= 0)
		t = mt_cond_and(t, mt_cond_age(MT_C_OLDER, c->older, c->by_date_header));
	if (c->newer >= 0)
		t = mt_cond_and(t, mt_cond_age(MT_C_NEWER, c->newer, c->by_date_header));
	if (c->before)
		t = mt_cond_and(t, mt_cond_before(c->before, c->by_date_header));
	return t;
}
