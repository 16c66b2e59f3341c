/* criteria.c — the removal options every applet that chooses messages by
 * age, size or flags shares (--deleted, --older, --before, ...), read into
 * the selection criteria. */
#include "tool.h"

#include "../lib/select.h"

#include <string.h>

/* "--older: bad duration ..." from the parser's own message: a value
 * typed on the command line that cannot be used is a usage error (64),
 * like an unknown option: the command is to be fixed, not retried */
static int prefixed(struct mt_err *e, const char *opt)
{
	char m[sizeof e->msg];
	snprintf(m, sizeof m, "%s", e->msg);
	return mt_seterr(e, MT_EUSAGE, "--%s: %s", opt, m);
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
			return mt_seterr(e, MT_EUSAGE, "--before: '%s' is not a calendar date YYYY-MM-DD", v);
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
			return mt_seterr(e, MT_EUSAGE, "--smaller 0: no message is smaller than 0 bytes");
		(*given)++;
	}
	if (mt_flag(a, "seen") && mt_flag(a, "unseen"))
		return mt_seterr(e, MT_EUSAGE, "--seen and --unseen exclude each other");
	if (mt_flag(a, "seen")) { c->seen = 1; (*given)++; }
	if (mt_flag(a, "unseen")) { c->seen = 0; (*given)++; }
	return MT_OK;
}

