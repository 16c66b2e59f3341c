/* filter.c — server-side rules (filters/rules.c) run against a box: per rule
 * one UID SEARCH with what the server can decide (and literal pre-filters
 * for regexes), a batched FETCH of only the fields the rule still has to
 * check, then the actions in rule order with the exact engine of
 * lib/select.c (UID MOVE, or COPY + UID EXPUNGE of exactly those UIDs).
 * Incremental runs (--new) remember UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ
 * per folder and look only at what arrived (or, for flag rules, changed). */
#include "../tool/tool.h"
#include "../filters/rules.h"
#include "../lib/select.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct mt_opt filter_opts[] = {
	{ .lng = "rules", .shrt = 'f', .kind = MT_ARG, .metavar = "FILE",
	  .help = "rules from FILE (default: the rules list of mailtool.conf)", .complete = "file" },
	{ .lng = "new", .kind = MT_FLAG, .help = "incremental: only mail that arrived (or, for flag rules, changed) since the last run" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show per rule what would happen (-v: each message)" },
	{ .lng = "explain", .kind = MT_FLAG, .help = "print each rule's plan: SEARCH sent, fields fetched, client checks" },
	{ .lng = "log", .kind = MT_ARG, .metavar = "FILE", .help = "append one JSON line per message acted on", .complete = "file" },
	{ .lng = "body-limit", .kind = MT_ARG, .metavar = "SIZE", .help = "bytes of each message a body regex reads (default 256k)" },
	MT_OPT_END,
};

static struct mt_ruleset rules;   /* read by check, before any connection */
static int rules_loaded;

static int filter_check(struct mt_ctx *ctx)
{
	const char *v;
	if (ctx->args.argc > 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool filter %s", ctx->ap->usage);
	if (rules_loaded) {
		mt_rules_release(&rules);
		rules_loaded = 0;
	}
	/* -f FILE, else the configuration file (read here: check runs before
	 * the dispatcher loads it, and nothing may be sent before the rules are good) */
	const char *path = mt_arg(&ctx->args, "rules");
	struct mt_config cfg = { 0 };
	if (path == NULL) {
		if (mt_config_load(&cfg, mt_arg(&ctx->args, "config"), &ctx->err) != MT_OK)
			return mt_fail_err(ctx, &ctx->err);
		path = cfg.path;
		if (path == NULL)
			return mt_fail(ctx, MT_ECONFIG, "no rules: give -f FILE, or a rules list in mailtool.conf");
	}
	int r = mt_rules_load(path, &rules, &ctx->err);
	mt_config_release(&cfg);
	if (r != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	rules_loaded = 1;
	if ((v = mt_arg(&ctx->args, "body-limit"))) {
		struct mt_err pe;
		if (mt_parse_size(v, &rules.body_limit, &pe) != MT_OK || rules.body_limit == 0)
			return mt_fail(ctx, MT_EUSAGE, "--body-limit: %s", rules.body_limit == 0 ? "must be above 0" : pe.msg);
	}
	return MT_OK;
}

/* ---- state of incremental runs ------------------------------------------ */

struct fstate {
	uint64_t hash, modseq;
	uint32_t uidvalidity, uidnext;
	int known;
};

static char *state_dir(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (x && *x == '/')
		return mt_xasprintf("%s/mailtool", x);
	return mt_xasprintf("%s/.local/state/mailtool", home && *home ? home : ".");
}

static char *account_key(struct mt_ctx *ctx)
{
	char *k = mt_xasprintf("%s|%s|%s|%d|%s", ctx->acct.name, ctx->acct.user ? ctx->acct.user : "",
			       ctx->acct.tunnel ? ctx->acct.tunnel : ctx->acct.host ? ctx->acct.host : "", ctx->acct.port,
			       ctx->acct.as_user ? ctx->acct.as_user : "");
	for (char *c = k; *c; c++)
		if (*c == '\t' || *c == '\n' || *c == '\r')
			*c = ' ';
	return k;
}

/* Lines: "v1 TAB key TAB hash TAB uidvalidity TAB uidnext TAB modseq TAB folder". */
static void state_get(const char *key, const char *folder, struct fstate *st)
{
	char *dir = state_dir(), *path = mt_xasprintf("%s/filter.state", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	memset(st, 0, sizeof *st);
	while (f && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *fields[7];
		int n = 0;
		for (char *p = line; n < 7 && p; n++) {
			fields[n] = p;
			p = n < 6 ? strchr(p, '\t') : NULL;
			if (p)
				*p++ = '\0';
		}
		if (n == 7 && strcmp(fields[0], "v1") == 0 && strcmp(fields[1], key) == 0 && strcmp(fields[6], folder) == 0) {
			st->hash = strtoull(fields[2], NULL, 16);
			st->uidvalidity = (uint32_t)strtoul(fields[3], NULL, 10);
			st->uidnext = (uint32_t)strtoul(fields[4], NULL, 10);
			st->modseq = strtoull(fields[5], NULL, 10);
			st->known = 1;
		}
	}
	free(line);
	if (f)
		fclose(f);
	free(path);
	free(dir);
}

/* Replace this account's line for folder; under a lock, written to a
 * temporary file, flushed and renamed so a crash leaves the old state. */
static int state_put(struct mt_ctx *ctx, const char *key, const char *folder, const struct fstate *st)
{
	char *dir = state_dir(), *path = mt_xasprintf("%s/filter.state", dir), *tmp = mt_xasprintf("%s.tmp", path);
	char *lock = mt_xasprintf("%s.lock", path);
	int r = MT_OK, lfd = -1;
	char *parent = mt_xstrdup(dir);
	/* mkdir -p, each level private */
	for (char *p = parent + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(parent, 0700);
			*p = '/';
		}
	mkdir(dir, 0700);
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 || flock(lfd, LOCK_EX) < 0) {
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", lock, strerror(errno));
		goto out;
	}
	int ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int ifd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	FILE *in = ifd >= 0 ? fdopen(ifd, "r") : NULL, *out = ofd >= 0 ? fdopen(ofd, "w") : NULL;
	if (out == NULL) {
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", tmp, strerror(errno));
		if (ofd >= 0)
			close(ofd);
		if (in)
			fclose(in);
		goto out;
	}
	char *line = NULL;
	size_t cap = 0;
	char *mine = mt_xasprintf("v1\t%s\t", key);
	while (in && getline(&line, &cap, in) > 0) {
		const char *tab = strrchr(line, '\t');
		size_t fl = strcspn(tab ? tab + 1 : "", "\n");
		if (strncmp(line, mine, strlen(mine)) == 0 && tab && fl == strlen(folder) && strncmp(tab + 1, folder, fl) == 0)
			continue;
		fputs(line, out);
	}
	free(line);
	free(mine);
	if (in)
		fclose(in);
	fprintf(out, "v1\t%s\t%llx\t%u\t%u\t%llu\t%s\n", key, (unsigned long long)st->hash, st->uidvalidity, st->uidnext,
		(unsigned long long)st->modseq, folder);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", tmp, strerror(errno));
		fclose(out);
		unlink(tmp);
		goto out;
	}
	fclose(out);
	if (rename(tmp, path) < 0)
		r = mt_fail(ctx, MT_EIO, "state '%s': %s", path, strerror(errno));
out:
	if (lfd >= 0)
		close(lfd);
	free(parent);
	free(lock);
	free(tmp);
	free(path);
	free(dir);
	return r;
}

/* ---- one folder ---------------------------------------------------------- */

struct hit {
	uint32_t uid, size;
	char *from, *subject, *msgid;
};

struct rule_run {
	struct hit *v;
	size_t n, cap;
	uint64_t done;          /* messages the action took */
};

static void hits_free(struct rule_run *rr)
{
	for (size_t i = 0; i < rr->n; i++) {
		free(rr->v[i].from);
		free(rr->v[i].subject);
		free(rr->v[i].msgid);
	}
	free(rr->v);
	memset(rr, 0, sizeof *rr);
}

struct run;
static void undecided(struct run *R, const struct mt_rule *rule, uint32_t uid, const char *why);

struct decide {
	struct run *R;
	const struct mt_rule *rule;
	struct rule_run *rr;
	int exact, want_info;
	time_t now;
	uint64_t fetched;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void add_hit(struct rule_run *rr, const struct mt_fetched *m, int want_info);

static int decide_one(const struct mt_fetched *m, void *arg)
{
	struct decide *d = arg;
	const char *why = NULL;
	d->fetched++;
	int hit = d->exact ? 1 : mt_rule_match(d->rule, m, d->now, &why);
	if (hit < 0)
		undecided(d->R, d->rule, m->uid, why);
	else if (hit)
		add_hit(d->rr, m, d->want_info);
	return 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void log_hits(FILE *log, struct mt_ctx *ctx, const struct mt_rule *r, const char *folder, const char *action,
		     const char *target, const struct rule_run *rr)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t i = 0; log && i < rr->n; i++) {
		const struct hit *h = &rr->v[i];
		fprintf(log, "{\"time\":\"%s\",\"account\":", ts);
		mt_json_str(log, ctx->acct.name);
		fputs(",\"user\":", log);
		mt_json_str(log, ctx->acct.as_user ? ctx->acct.as_user : ctx->acct.user ? ctx->acct.user : "");
		fputs(",\"rule\":", log);
		mt_json_str(log, r->name);
		fputs(",\"folder\":", log);
		mt_json_str(log, folder);
		fprintf(log, ",\"uid\":%u,\"size\":%u,\"message_id\":", h->uid, h->size);
		mt_json_str(log, h->msgid ? h->msgid : "");
		fputs(",\"from\":", log);
		mt_json_str(log, h->from ? h->from : "");
		fputs(",\"subject\":", log);
		mt_json_str(log, h->subject ? h->subject : "");
		fputs(",\"action\":", log);
		mt_json_str(log, action);
		if (target) {
			fputs(",\"target\":", log);
			mt_json_str(log, target);
		}
		fputs("}\n", log);
	}
	if (log)
		fflush(log);
}

enum { R_RULE, R_FOLDER, R_ACTION, R_MESSAGES, R_NCOLS };
static const struct mt_col result_cols[R_NCOLS] = {
	[R_RULE] = { "rule", MT_COL_STR },
	[R_FOLDER] = { "folder", MT_COL_STR },
	[R_ACTION] = { "action", MT_COL_STR },
	[R_MESSAGES] = { "messages", MT_COL_NUM },
};
enum { M_RULE, M_FOLDER, M_UID, M_SIZE, M_FROM, M_SUBJECT, M_TARGET, M_NCOLS };
static const struct mt_col msg_cols[M_NCOLS] = {
	[M_RULE] = { "rule", MT_COL_STR },
	[M_FOLDER] = { "folder", MT_COL_STR },
	[M_UID] = { "uid", MT_COL_NUM },
	[M_SIZE] = { "size", MT_COL_SIZE },
	[M_FROM] = { "from", MT_COL_STR },
	[M_SUBJECT] = { "subject", MT_COL_STR },
	[M_TARGET] = { "target", MT_COL_STR },
};

struct run {
	struct mt_ctx *ctx;
	int dry, incremental, verbose;
	FILE *log;
	char *key;
	char *trash, *trash_wire;
	char **target_wire;       /* per rule */
	struct mt_table res, msgs;
	time_t now;
	const char *folder;       /* the folder run_folder is deciding */
	uint32_t *undec;          /* its messages a rule could not decide: left alone */
	size_t nundec;
	uint64_t undecided;       /* over the run: the exit status says so */
};

/* A regular expression could not be decided on a message (a PCRE2 limit or
 * error): the message is left alone by every rule of this run, and said so. */
static void undecided(struct run *R, const struct mt_rule *rule, uint32_t uid, const char *why)
{
	/* (no duplicates: an undecided message is in no later rule's scope) */
	R->undec = mt_xrealloc(R->undec, sizeof *R->undec * (R->nundec + 1));
	R->undec[R->nundec++] = uid;
	R->undecided++;
	mt_fail(R->ctx, MT_EDATA, "rule '%s': '%s' UID %u: %s; the message is left alone", rule->name, R->folder, uid,
		why ? why : "undecided");
}

static const char *action_name(const struct mt_rule *r, int dry)
{
	switch (r->action) {
	case MT_A_MOVE: return dry ? "would move" : "moved";
	case MT_A_COPY: return dry ? "would copy" : "copied";
	case MT_A_TRASH: return dry ? "would trash" : "trashed";
	case MT_A_EXPUNGE: return dry ? "would expunge" : "expunged";
	case MT_A_STOP: return dry ? "would stop" : "stopped";
	case MT_A_NONE: break;
	}
	return r->flag && r->unflag ? (dry ? "would flag/unflag" : "flagged/unflagged")
	       : r->flag ? (dry ? "would flag" : "flagged") : (dry ? "would unflag" : "unflagged");
}

/* Incremental runs: a rule sees what arrived since the last run and, when it
 * reads flags, what changed since — except copy rules, which would copy a
 * changed message a second time. */
static int sees_changes(const struct mt_rule *r)
{
	return r->uses_flags && r->action != MT_A_COPY;
}

static int in_set(const uint32_t *v, size_t n, uint32_t uid)
{
	return n && mt_bsearch(&uid, v, n, sizeof *v, cmp_u32) != NULL;
}

/* A small incremental scope: one FETCH of what every rule needs, and every
 * rule decided here in order, instead of a SEARCH and a FETCH per rule. */
struct all_rules {
	struct run *R;
	const size_t *idx;
	size_t n;
	struct rule_run *rr;
	const uint32_t *fresh;     /* new since the last run (sorted) */
	size_t nfresh;
};

static int decide_all(const struct mt_fetched *m, void *arg)
{
	struct all_rules *A = arg;
	int want_info = A->R->log != NULL || (A->R->dry && A->R->verbose);
	for (size_t k = 0; k < A->n; k++) {
		const struct mt_rule *rule = &rules.v[A->idx[k]];
		const char *why = NULL;
		if (!sees_changes(rule) && !in_set(A->fresh, A->nfresh, m->uid))
			continue;
		int hit = mt_rule_match(rule, m, A->R->now, &why);
		if (hit < 0) {
			undecided(A->R, rule, m->uid, why);
			break;   /* no later rule may take what this one might have */
		}
		if (!hit)
			continue;
		add_hit(&A->rr[k], m, want_info);
		if (!rule->cont)
			break;
	}
	return 0;
}

static void add_hit(struct rule_run *rr, const struct mt_fetched *m, int want_info)
{
	if (rr->n == rr->cap) {
		rr->cap = rr->cap ? rr->cap * 2 : 64;
		rr->v = mt_xrealloc(rr->v, sizeof *rr->v * rr->cap);
	}
	struct hit *h = &rr->v[rr->n++];
	memset(h, 0, sizeof *h);
	h->uid = m->uid;
	h->size = m->size;
	if (want_info && m->header) {
		h->from = mt_header_get(m->header, m->header_len, "from");
		h->subject = mt_header_get(m->header, m->header_len, "subject");
		h->msgid = mt_header_get(m->header, m->header_len, "message-id");
	}
}

static uint32_t *merge_sets(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t *n)
{
	uint32_t *v = mt_xmalloc(sizeof *v * (na + nb + 1));
	size_t u = 0;
	for (size_t i = 0, j = 0; i < na || j < nb;) {
		uint32_t x = j >= nb || (i < na && a[i] <= b[j]) ? a[i++] : b[j++];
		if (u == 0 || v[u - 1] != x)
			v[u++] = x;
	}
	*n = u;
	return v;
}

/* Run the rules in idx[0..n) over one folder. */
static int recover(struct run *R, const char *const *folders, size_t nfolders, int even_with_move);

static int run_folder(struct run *R, const char *folder, const size_t *idx, size_t n)
{
	struct mt_ctx *ctx = R->ctx;
	struct mt_session *s = ctx->s;
	struct mt_folder_state st;
	struct fstate old = { 0 };
	char *wire = NULL;
	uint32_t *taken = NULL, *fresh = NULL, *changed = NULL, *all = NULL;
	size_t ntaken = 0, nfresh = 0, nchanged = 0, nall = 0;
	struct rule_run *rr = mt_xmalloc(sizeof *rr * n);
	int r, flag_rules = 0, full = 1, want_info = R->log != NULL || (R->dry && R->verbose);
	uint64_t examined = 0;

	R->folder = folder;
	R->nundec = 0;
	for (size_t k = 0; k < n; k++)
		flag_rules |= sees_changes(&rules.v[idx[k]]);
	/* incremental and no rule reads flags: STATUS says whether anything arrived,
	 * without opening the folder (opening a 70,000-message INBOX costs the server
	 * far more than a STATUS) */
	if (R->incremental && !flag_rules) {
		state_get(R->key, folder, &old);
		if (old.known && old.hash == rules.hash) {
			struct mt_mailbox box = { .name = (char *)folder };
			struct mt_status sst = { 0 };
			if ((r = mt_mailbox_wire(s, folder, &box.wire, &ctx->err)) == MT_OK)
				r = mt_status_many(s, &box, 1, MT_ST_UIDNEXT | MT_ST_UIDVALIDITY | MT_ST_MESSAGES, &sst, &ctx->err);
			free(box.wire);
			int same = r == MT_OK && sst.error == NULL && (sst.have & MT_ST_UIDNEXT) && (sst.have & MT_ST_UIDVALIDITY) &&
				   sst.uidvalidity == old.uidvalidity && sst.uidnext == old.uidnext;
			uint32_t msgs = sst.messages;
			mt_status_release(&sst, 1);
			if (r != MT_OK)
				goto out;
			if (same) {
				if (R->verbose)
					mt_warn(ctx, "%s: examined 0 of %u messages (nothing new since the last run)", folder, msgs);
				goto out;
			}
		}
	}
	if ((r = mt_open_folder(s, folder, R->dry, &wire, &st, &ctx->err)) != MT_OK)
		goto out;
	/* a run without MOVE (another server version, a trimmed tunnel) was
	 * killed part-way through a move here: finish it first, then look again */
	if (!R->dry && st.marked && mt_has_cap(s, "MOVE")) {
		free(wire);
		wire = NULL;
		if ((r = recover(R, &folder, 1, 1)) != MT_OK) {
			r = -r;
			goto out;
		}
		if ((r = mt_open_folder(s, folder, R->dry, &wire, &st, &ctx->err)) != MT_OK)
			goto out;
	}
	/* incremental: only what arrived since, and for flag rules what changed */
	if (R->incremental) {
		state_get(R->key, folder, &old);
		/* (a state ahead of the server, say a box restored from a backup,
		 * would hide new mail until UIDNEXT caught up: it is not trusted) */
		full = !old.known || old.hash != rules.hash || old.uidvalidity != st.uidvalidity || st.uidvalidity == 0 ||
		       st.uidnext == 0 || old.uidnext > st.uidnext ||
		       (flag_rules && (st.highestmodseq == 0 || old.modseq == 0 || old.modseq > st.highestmodseq));
		/* what arrived since the last run, up to what this SELECT saw: a
		 * message arriving during the run is the next run's, once */
		if (!full && st.uidnext > old.uidnext)
			r = mt_uid_search_range(s, old.uidnext, 0, "ALL", &fresh, &nfresh, &ctx->err);
		if (r == MT_OK && !full && flag_rules && st.highestmodseq != old.modseq)
			r = mt_uid_changed_since(s, old.modseq, &changed, &nchanged, &ctx->err);
		if (r != MT_OK)
			goto out;
		all = merge_sets(fresh, nfresh, changed, nchanged, &nall);
		if (!full)
			examined = nall;
	}
	if (full)
		examined = st.exists;
	if (R->verbose)
		mt_warn(ctx, "%s: examined %llu of %u messages (%s)", folder,
			(unsigned long long)examined, st.exists, full ? "full run" : "new since the last run");

	int any_body = 0;
	for (size_t k = 0; k < n; k++) {
		struct mt_needs need = { 0 };
		mt_rule_needs(&rules.v[idx[k]], &need);
		any_body |= need.body;
		mt_needs_release(&need);
	}
	if (!full && nall > 0 && nall <= 1000 && (!any_body || nall * rules.body_limit <= (16u << 20))) {
		/* a few new messages: fetch once, decide every rule here */
		struct mt_needs need = { 0 };
		for (size_t k = 0; k < n; k++)
			mt_rule_needs(&rules.v[idx[k]], &need);
		if (want_info) {
			need.size = 1;
			mt_needs_add_header(&need, "From");
			mt_needs_add_header(&need, "Subject");
			mt_needs_add_header(&need, "Message-ID");
		}
		need.size = 1;  /* sizes are reported and logged */
		struct mt_fetch_spec spec = { .size = need.size, .date = need.date, .flags = 1,
					      .headers = (const char *const *)need.hdrs, .all_headers = need.all_headers,
					      .body_prefix = need.body ? rules.body_limit : 0 };
		struct all_rules A = { .R = R, .idx = idx, .n = n, .rr = rr, .fresh = fresh, .nfresh = nfresh };
		r = mt_fetch_each(s, all, nall, &spec, decide_all, &A, &ctx->err);
		mt_needs_release(&need);
		for (size_t k = 0; k < n; k++)
			if (rr[k].n)
				mt_sort(rr[k].v, rr[k].n, sizeof *rr[k].v, cmp_hit);
		if (r != MT_OK)
			goto out;
	}
	/* otherwise one SEARCH per rule; nothing changes before every rule is decided;
	 * the first matching rule takes a message */
	for (size_t k = 0; k < n && examined > 0 && (full || nall > 1000 || (any_body && nall * rules.body_limit > (16u << 20))); k++) {
		const struct mt_rule *rule = &rules.v[idx[k]];
		/* a full run: what the SELECT saw; an incremental one: the new (or changed) UIDs */
		const uint32_t *scope = sees_changes(rule) ? all : fresh;
		size_t nscope = sees_changes(rule) ? nall : nfresh;
		if (!full && nscope == 0)
			continue;
		struct mt_query qy;
		mt_rule_query(rule, mt_has_cap(s, "WITHIN"), R->now, &qy);
		int exact = qy.exact;
		uint32_t *cand = NULL;
		size_t nc = 0;
		r = full ? mt_uid_search(s, qy.search, &cand, &nc, &ctx->err)
			 : mt_uid_search_in(s, scope, nscope, qy.search, &cand, &nc, &ctx->err);
		mt_query_release(&qy);
		if (r != MT_OK) {
			free(cand);
			goto out;
		}
		/* what an earlier rule took is not this rule's */
		size_t keep = 0;
		for (size_t i = 0; i < nc; i++)
			if (!in_set(taken, ntaken, cand[i]))
				cand[keep++] = cand[i];
		nc = keep;
		struct decide d = { .R = R, .rule = rule, .rr = &rr[k], .exact = exact, .want_info = want_info, .now = R->now };
		if (nc > 0 && (!exact || want_info)) {
			struct mt_needs need = { 0 };
			if (!exact)
				mt_rule_needs(rule, &need);
			if (want_info) {
				need.size = 1;
				mt_needs_add_header(&need, "From");
				mt_needs_add_header(&need, "Subject");
				mt_needs_add_header(&need, "Message-ID");
			}
			struct mt_fetch_spec spec = { .size = need.size, .date = need.date, .flags = need.flags,
						      .headers = (const char *const *)need.hdrs, .all_headers = need.all_headers,
						      .body_prefix = need.body ? rules.body_limit : 0 };
			r = mt_fetch_each(s, cand, nc, &spec, decide_one, &d, &ctx->err);
			mt_needs_release(&need);
			if (r != MT_OK) {
				free(cand);
				goto out;
			}
			if (rr[k].n)
				mt_sort(rr[k].v, rr[k].n, sizeof *rr[k].v, cmp_hit);
		} else {
			for (size_t i = 0; i < nc; i++) {
				struct mt_fetched m = { .uid = cand[i] };
				decide_one(&m, &d);
			}
		}
		free(cand);
		/* what this rule took, and what no rule may take since this one could not decide it */
		size_t add = (!rule->cont ? rr[k].n : 0) + R->nundec;
		if (add) {
			taken = mt_xrealloc(taken, sizeof *taken * (ntaken + add));
			for (size_t i = 0; !rule->cont && i < rr[k].n; i++)
				taken[ntaken++] = rr[k].v[i].uid;
			for (size_t i = 0; i < R->nundec; i++)
				taken[ntaken++] = R->undec[i];
			mt_sort(taken, ntaken, sizeof *taken, cmp_u32);
		}
	}
	/* a message some rule could not decide is no rule's: an earlier rule
	 * (continue = true) may have matched it already */
	if (R->nundec) {
		mt_sort(R->undec, R->nundec, sizeof *R->undec, cmp_u32);
		for (size_t k = 0; k < n; k++) {
			size_t keep = 0;
			for (size_t i = 0; i < rr[k].n; i++) {
				if (in_set(R->undec, R->nundec, rr[k].v[i].uid)) {
					free(rr[k].v[i].from);
					free(rr[k].v[i].subject);
					free(rr[k].v[i].msgid);
				} else {
					rr[k].v[keep++] = rr[k].v[i];
				}
			}
			rr[k].n = keep;
		}
	}

	/* act, in rule order */
	for (size_t k = 0; k < n && r == MT_OK; k++) {
		const struct mt_rule *rule = &rules.v[idx[k]];
		struct rule_run *x = &rr[k];
		const char *target = rule->action == MT_A_TRASH ? R->trash : rule->target;
		if (x->n == 0)
			continue;
		uint32_t *uids = mt_xmalloc(sizeof *uids * x->n);
		for (size_t i = 0; i < x->n; i++)
			uids[i] = x->v[i].uid;
		if (R->dry) {
			x->done = x->n;
		} else {
			if (rule->flag)
				r = mt_uid_store(s, uids, x->n, 1, rule->flag, &ctx->err);
			if (r == MT_OK && rule->unflag)
				r = mt_uid_store(s, uids, x->n, 0, rule->unflag, &ctx->err);
			if (r == MT_OK && rule->action == MT_A_COPY)
				r = mt_uid_copy(s, uids, x->n, R->target_wire[idx[k]], &ctx->err);
			if (r == MT_OK && (rule->action == MT_A_MOVE || rule->action == MT_A_TRASH || rule->action == MT_A_EXPUNGE)) {
				struct mt_selection sel = { .folder = (char *)folder, .wire = wire, .uidvalidity = st.uidvalidity,
							    .n = x->n };
				uint64_t gone = 0, bytes = 0;
				sel.msgs = mt_xmalloc(sizeof *sel.msgs * x->n);
				for (size_t i = 0; i < x->n; i++) {
					sel.msgs[i].uid = x->v[i].uid;
					sel.msgs[i].size = x->v[i].size;
				}
				r = mt_remove_selection(s, &sel, rule->action == MT_A_MOVE ? R->target_wire[idx[k]]
								  : rule->action == MT_A_TRASH ? R->trash_wire : NULL,
							0, &gone, &bytes, &ctx->err);
				free(sel.msgs);
				x->done = gone;
			} else if (r == MT_OK) {
				x->done = x->n;
			}
			if (r == MT_OK)
				log_hits(R->log, ctx, rule, folder, rule->action == MT_A_NONE ? (rule->flag ? "flag" : "unflag")
						 : action_name(rule, 0), target, x);
		}
		free(uids);
		int row = mt_table_row(&R->res);
		mt_table_str(&R->res, row, R_RULE, rule->name);
		mt_table_str(&R->res, row, R_FOLDER, folder);
		mt_table_str(&R->res, row, R_ACTION, action_name(rule, R->dry));
		mt_table_num(&R->res, row, R_MESSAGES, (long long)x->done);
		if (R->dry && R->verbose)
			for (size_t i = 0; i < x->n; i++) {
				int mr = mt_table_row(&R->msgs);
				mt_table_str(&R->msgs, mr, M_RULE, rule->name);
				mt_table_str(&R->msgs, mr, M_FOLDER, folder);
				mt_table_num(&R->msgs, mr, M_UID, x->v[i].uid);
				mt_table_num(&R->msgs, mr, M_SIZE, x->v[i].size);
				mt_table_str(&R->msgs, mr, M_FROM, x->v[i].from ? x->v[i].from : "");
				mt_table_str(&R->msgs, mr, M_SUBJECT, x->v[i].subject ? x->v[i].subject : "");
				mt_table_str(&R->msgs, mr, M_TARGET, target ? target : action_name(rule, 1));
			}
	}
	/* remember where this run stopped looking (values from before it acted) */
	if (r == MT_OK && !R->dry) {
		struct fstate now = { .hash = rules.hash, .uidvalidity = st.uidvalidity, .uidnext = st.uidnext,
				      .modseq = st.highestmodseq, .known = 1 };
		r = state_put(ctx, R->key, folder, &now);
		if (r != MT_OK)
			r = -r;   /* already reported */
	}
out:
	for (size_t k = 0; k < n; k++)
		hits_free(&rr[k]);
	free(rr);
	free(taken);
	free(fresh);
	free(changed);
	free(all);
	free(wire);
	return r;
}

/* ---- the applet ---------------------------------------------------------- */

/* A selectable folder of that name in a LIST "*" result (INBOX in any case). */
static int listed(const struct mt_mailboxes *all, const char *name)
{
	for (size_t i = 0; i < all->n; i++)
		if (!(all->v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) &&
		    (strcmp(all->v[i].name, name) == 0 ||
		     (strcasecmp(name, "INBOX") == 0 && strcmp(all->v[i].wire, "INBOX") == 0)))
			return 1;
	return 0;
}

/* A run killed between CREATE and SUBSCRIBE left the target existing but
 * unsubscribed (servers refuse to subscribe a name before it exists). With
 * create = true an existing, unsubscribed and still empty target is taken
 * for that and subscribed; one holding mail is the user's choice and left. */
static int finish_create(struct mt_ctx *ctx, const struct mt_mailboxes *all, const char *name)
{
	for (size_t i = 0; i < all->n; i++) {
		const struct mt_mailbox *b = &all->v[i];
		if (strcmp(b->name, name) != 0 || (b->flags & MT_MBX_SUBSCRIBED))
			continue;
		struct mt_status st = { 0 };
		int r = mt_status_many(ctx->s, b, 1, MT_ST_MESSAGES, &st, &ctx->err);
		int empty = r == MT_OK && st.error == NULL && (st.have & MT_ST_MESSAGES) && st.messages == 0;
		mt_status_release(&st, 1);
		if (r == MT_OK && empty)
			r = mt_subscribe(ctx->s, name, 1, &ctx->err);
		return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
	}
	return MT_OK;
}

/* Moves a killed run left half done without MOVE (see mt_recover_moves):
 * finished or undone before anything is selected, over every source folder
 * and every move target of the rules. With MOVE, only for a folder whose
 * FLAGS show the mark (run_folder). */
static int recover(struct run *R, const char *const *folders, size_t nfolders, int even_with_move)
{
	struct mt_ctx *ctx = R->ctx;
	const char **tgt = mt_xmalloc(sizeof *tgt * (rules.n + 2));
	size_t nt = 0;
	uint64_t done = 0;
	int r = MT_OK;
	for (size_t i = 0; i < rules.n; i++)
		if (R->target_wire[i] && rules.v[i].action == MT_A_MOVE)
			tgt[nt++] = R->target_wire[i];
	if (R->trash_wire)
		tgt[nt++] = R->trash_wire;
	r = mt_recover_moves(ctx->s, folders, nfolders, tgt, nt, even_with_move, &done, &ctx->err);
	if (r == MT_OK && done && R->verbose)
		mt_warn(ctx, "finished %llu move(s) an interrupted run had left half done", (unsigned long long)done);
	free(tgt);
	return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
}

/* --log FILE: appended to, never through a symbolic link, and only when it
 * is a regular file (root's run must not write into whatever a link names). */
static int open_log(struct mt_ctx *ctx, const char *path, FILE **out)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0)
		return mt_fail(ctx, MT_EIO, "--log '%s': %s", path,
			       errno == ELOOP ? "is a symbolic link; not writing through it" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mt_fail(ctx, MT_EIO, "--log '%s': not a regular file", path);
	}
	if ((*out = fdopen(fd, "a")) == NULL) {
		close(fd);
		return mt_fail(ctx, MT_EOS, "--log '%s': %s", path, strerror(errno));
	}
	return MT_OK;
}

/* A rule's folders: plain names against the one LIST "*" of the run, patterns
 * through mt_expand_folders (the server's own LIST matching). */
static int rule_folders(struct mt_ctx *ctx, const struct mt_rule *rule, const struct mt_mailboxes *all,
			char ***out, size_t *nout)
{
	size_t na = 0;
	int wild = 0;
	while (rule->folders[na])
		wild |= strpbrk(rule->folders[na++], "*%") != NULL;
	if (wild)
		return mt_expand_folders(ctx->s, (const char *const *)rule->folders, na, 0, out, nout, &ctx->err);
	*out = mt_xmalloc(sizeof **out * na);
	*nout = 0;
	for (size_t i = 0; i < na; i++) {
		if (!listed(all, rule->folders[i])) {
			mt_free_folders(*out, *nout);
			*out = NULL;
			*nout = 0;
			return mt_seterr(&ctx->err, MT_EDATA, "no folder '%s'", rule->folders[i]);
		}
		(*out)[(*nout)++] = mt_xstrdup(strcasecmp(rule->folders[i], "INBOX") == 0 ? "INBOX" : rule->folders[i]);
	}
	return MT_OK;
}

static int filter_main(struct mt_ctx *ctx)
{
	struct run R = { .ctx = ctx, .dry = mt_flag(&ctx->args, "dry-run"), .incremental = mt_flag(&ctx->args, "new"),
			 .verbose = ctx->verbose, .now = time(NULL) };
	char **folders = NULL;       /* union over rules, in order of appearance */
	size_t nfolders = 0, cap = 0;
	struct mt_strindex *folder_ix = mt_strindex_new();   /* name -> index in folders */
	size_t **fr = NULL, *nfr = NULL;   /* rules per folder */
	int r = MT_OK;
	const char *logpath = mt_arg(&ctx->args, "log");
	struct mt_mailboxes all = { 0 };

	if (!rules_loaded && filter_check(ctx) != MT_OK) {
		mt_strindex_free(folder_ix);
		return ctx->err.code ? ctx->err.code : MT_ECONFIG;
	}
	if (mt_flag(&ctx->args, "explain")) {
		mt_rules_explain(&rules, mt_has_cap(ctx->s, "WITHIN"), stdout);
		goto out;
	}
	R.target_wire = mt_xmalloc(sizeof *R.target_wire * rules.n);
	if (mt_list(ctx->s, "*", &all, &ctx->err) != MT_OK) {
		r = mt_fail_err(ctx, &ctx->err);
		goto out;
	}
	/* everything is checked before anything changes: folders, targets, \Trash */
	for (size_t i = 0; i < rules.n; i++) {
		const struct mt_rule *rule = &rules.v[i];
		char **f = NULL;
		size_t nf = 0;
		if (rule_folders(ctx, rule, &all, &f, &nf) != MT_OK) {
			r = mt_fail(ctx, ctx->err.code, "%s:%d: rule '%s': %s", rule->file, rule->line, rule->name, ctx->err.msg);
			goto out;
		}
		for (size_t k = 0; k < nf; k++) {
			long at = mt_strindex_get(folder_ix, f[k]);
			size_t j = at >= 0 && fr ? (size_t)at : nfolders;
			if (j == nfolders) {
				if (fr == NULL || nfolders == cap) {
					cap = cap ? 2 * cap : 16;
					folders = mt_xrealloc(folders, sizeof *folders * cap);
					fr = mt_xrealloc(fr, sizeof *fr * cap);
					nfr = mt_xrealloc(nfr, sizeof *nfr * cap);
				}
				folders[nfolders] = mt_xstrdup(f[k]);
				fr[nfolders] = NULL;
				nfr[nfolders] = 0;
				mt_strindex_put(folder_ix, folders[nfolders], nfolders);
				nfolders++;
			}
			fr[j] = mt_xrealloc(fr[j], sizeof **fr * (nfr[j] + 1));
			fr[j][nfr[j]++] = i;
		}
		mt_free_folders(f, nf);
		if (rule->action == MT_A_TRASH && R.trash == NULL) {
			if ((r = mt_special_folder(ctx->s, "\\Trash", &R.trash, &R.trash_wire, &ctx->err)) != MT_OK) {
				r = mt_fail_err(ctx, &ctx->err);
				goto out;
			}
			if (R.trash == NULL) {
				r = mt_fail(ctx, MT_EUNAVAIL, "%s:%d: rule '%s': trash: the server names no \\Trash folder (SPECIAL-USE)",
					    rule->file, rule->line, rule->name);
				goto out;
			}
		}
		if (rule->target) {
			if (!listed(&all, rule->target) && !rule->create) {
				r = mt_fail(ctx, MT_EDATA, "%s:%d: rule '%s': folder '%s' does not exist (create = true; makes it)",
					    rule->file, rule->line, rule->name, rule->target);
				goto out;
			}
			if ((r = mt_mailbox_wire(ctx->s, rule->target, &R.target_wire[i], &ctx->err)) != MT_OK) {
				r = mt_fail_err(ctx, &ctx->err);
				goto out;
			}
		}
	}
	if (logpath && !R.dry && (r = open_log(ctx, logpath, &R.log)) != MT_OK)
		goto out;
	/* every rule, folder, target and the log are good: only now does anything change */
	for (size_t i = 0; i < rules.n && !R.dry; i++) {
		const struct mt_rule *rule = &rules.v[i];
		if (rule->target == NULL)
			continue;
		if (!listed(&all, rule->target)) {
			if ((r = mt_create(ctx->s, rule->target, NULL, &ctx->err)) != MT_OK ||
			    (r = mt_subscribe(ctx->s, rule->target, 1, &ctx->err)) != MT_OK) {
				r = mt_fail_err(ctx, &ctx->err);
				goto out;
			}
		} else if (rule->create && (r = finish_create(ctx, &all, rule->target)) != MT_OK) {
			goto out;
		}
	}
	R.key = account_key(ctx);
	mt_table_init(&R.res, result_cols, R_NCOLS, ctx->fmt, 0);
	mt_table_init(&R.msgs, msg_cols, M_NCOLS, ctx->fmt, 0);
	if (!R.dry && r == MT_OK)
		r = recover(&R, (const char *const *)folders, nfolders, 0);
	for (size_t j = 0; j < nfolders && r == MT_OK; j++) {
		r = run_folder(&R, folders[j], fr[j], nfr[j]);
		if (r > 0)
			r = mt_fail_err(ctx, &ctx->err);
	}
	if (r < 0)
		r = -r;
	if (r == MT_OK && R.undecided)
		r = mt_fail(ctx, MT_EDATA, "%llu message%s left alone: a regular expression could not be decided on %s",
			    (unsigned long long)R.undecided, R.undecided == 1 ? "" : "s", R.undecided == 1 ? "it" : "them");
	if (R.msgs.rows)
		mt_table_print(&R.msgs, stdout);
	if (R.res.rows || ctx->verbose)
		mt_table_print(&R.res, stdout);
	mt_table_release(&R.res);
	mt_table_release(&R.msgs);
out:
	if (R.log) {
		fsync(fileno(R.log));
		fclose(R.log);
	}
	for (size_t i = 0; R.target_wire && i < rules.n; i++)
		free(R.target_wire[i]);
	free(R.target_wire);
	for (size_t j = 0; j < nfolders; j++) {
		free(folders[j]);
		free(fr[j]);
	}
	free(folders);
	free(fr);
	free(nfr);
	mt_strindex_free(folder_ix);
	free(R.trash);
	free(R.trash_wire);
	free(R.undec);
	free(R.key);
	mt_mailboxes_release(&all);
	mt_rules_release(&rules);
	rules_loaded = 0;
	return r;
}

static const struct mt_applet filter_applet = {
	.name = "filter",
	.summary = "server-side rules: move, copy, flag, trash or expunge mail by regex, size, age and flags",
	.usage = "[options]",
	.description = "Rules (mailtool-rules(5)) come from -f FILE or the rules list of mailtool.conf. Each\n"
		       "rule is one UID SEARCH on the server (with literal pre-filters for regexes) and a\n"
		       "batched FETCH of only the header fields it must still check; nothing sets \\Seen.\n"
		       "The first matching rule takes a message unless it says continue = true. Moves are\n"
		       "UID MOVE, or UID COPY + UID EXPUNGE of exactly the copied UIDs. From cron, use --new:\n"
		       "only mail that arrived since the last run is examined.",
	.opts = filter_opts,
	.flags = MT_APPLET_SESSION,
	.main = filter_main,
	.check = filter_check,
};
MT_APPLET(filter_applet);
