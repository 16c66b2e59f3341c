/* rules.c — reading, planning and deciding filter rules (see rules.h and
 * mailtool-rules(5)). */
#include "rules.h"
#include "../mail/mail.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- reading ------------------------------------------------------------ */

struct loader {
	const struct mt_re_limits *limits;
	const char *file;
	const char *rule;        /* name of the rule being read, for messages */
	struct mt_err *e;
};

static int bad(struct loader *L, const config_setting_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct loader *L, const config_setting_t *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int line = at ? (int)config_setting_source_line(at) : 0;
	if (L->rule)
		return mt_seterr(L->e, MT_ECONFIG, "%s:%d: rule '%s': %s", L->file, line, L->rule, msg);
	return mt_seterr(L->e, MT_ECONFIG, "%s:%d: %s", L->file, line, msg);
}

static int compile_re(struct loader *L, const config_setting_t *s, struct mt_cond *c)
{
	const char *v = config_setting_get_string(s);
	if (v == NULL)
		return bad(L, s, "'%s' wants a regular expression in quotes", config_setting_name(s));
	char why[300];
	c->pattern = mt_xstrdup(v);
	c->re = mt_re_compile(v, L->limits, why, sizeof why);
	if (c->re == NULL)
		return bad(L, s, "%s: bad regular expression '%s' %s", config_setting_name(s), v, why);
	return MT_OK;
}

static int size_value(struct loader *L, const config_setting_t *s, uint64_t *out)
{
	struct mt_err pe;
	int t = config_setting_type(s);
	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		long long v = config_setting_get_int64(s);
		if (v < 0)
			return bad(L, s, "%s: size %lld is negative", config_setting_name(s), v);
		*out = (uint64_t)v;
		return MT_OK;
	}
	const char *v = config_setting_get_string(s);
	if (v == NULL)
		return bad(L, s, "%s wants a size such as \"500k\" or \"10M\"", config_setting_name(s));
	if (mt_parse_size(v, out, &pe) != MT_OK)
		return bad(L, s, "%s: %s", config_setting_name(s), pe.msg);
	return MT_OK;
}

static int age_value(struct loader *L, const config_setting_t *s, int64_t *out)
{
	struct mt_err pe;
	uint64_t x;
	const char *v = config_setting_get_string(s);
	if (v == NULL)
		return bad(L, s, "%s wants a duration such as \"30d\" or \"36h\"", config_setting_name(s));
	if (mt_parse_duration(v, &x, &pe) != MT_OK)
		return bad(L, s, "%s: %s", config_setting_name(s), pe.msg);
	*out = (int64_t)x;
	return MT_OK;
}

static const struct { const char *key; unsigned flag; } sysflags[] = {
	{ "seen", MT_F_SEEN }, { "answered", MT_F_ANSWERED }, { "flagged", MT_F_FLAGGED },
	{ "deleted", MT_F_DELETED }, { "draft", MT_F_DRAFT },
};

/* header names a key stands for */
static const char *const header_keys[] = { "subject", "from", "to", "cc", "bcc", "reply-to", "sender",
					   "list-id", "message-id", NULL };

/* An IMAP keyword: an atom without the characters that end one or start a flag. */
static int keyword_ok(const char *k)
{
	if (*k == '\0' || strlen(k) > 200)
		return 0;
	for (const unsigned char *p = (const unsigned char *)k; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return 0;
	return 1;
}

static int parse_cond(struct loader *L, const config_setting_t *g, int depth, struct mt_cond **out);

static int parse_cond_list(struct loader *L, const config_setting_t *s, enum mt_cond_kind k, int depth,
			   struct mt_cond **out)
{
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
		return bad(L, s, "'%s' wants a list of conditions: ( { ... }, { ... } )", config_setting_name(s));
	struct mt_cond *c = mt_cond_new(k);
	for (int i = 0; i < config_setting_length(s); i++) {
		struct mt_cond *kid = NULL;
		int r = parse_cond(L, config_setting_get_elem(s, (unsigned)i), depth + 1, &kid);
		if (r != MT_OK) {
			mt_cond_free(c);
			return r;
		}
		mt_cond_add(c, kid);
	}
	if (c->nkids == 0) {
		mt_cond_free(c);
		return bad(L, s, "'%s' is empty", config_setting_name(s));
	}
	*out = c;
	return MT_OK;
}

/* One condition group: every key in it must hold. */
static int parse_cond(struct loader *L, const config_setting_t *g, int depth, struct mt_cond **out)
{
	*out = NULL;
	if (depth > 32)
		return bad(L, g, "conditions nested more than 32 deep");
	if (!config_setting_is_group(g))
		return bad(L, g, "a condition is a group: { subject = \"...\"; larger = \"1M\"; }");
	struct mt_cond *all = mt_cond_new(MT_C_ALL);
	int r = MT_OK;
	for (int i = 0; i < config_setting_length(g) && r == MT_OK; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		struct mt_cond *c = NULL;
		int known = 0;
		for (size_t h = 0; header_keys[h]; h++)
			if (strcmp(k, header_keys[h]) == 0) {
				c = mt_cond_new(MT_C_HEADER);
				c->header = mt_xstrdup(k);
				r = compile_re(L, s, c);
				known = 1;
			}
		for (size_t f = 0; !known && f < sizeof sysflags / sizeof *sysflags; f++)
			if (strcmp(k, sysflags[f].key) == 0) {
				known = 1;
				if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
					r = bad(L, s, "'%s' wants true or false", k);
					break;
				}
				c = mt_cond_new(MT_C_FLAG);
				c->sysflag = sysflags[f].flag;
				c->want = config_setting_get_bool(s);
			}
		if (known)
			;
		else if (strcmp(k, "header") == 0) {
			/* header = { name = "X-Spam-Flag"; regex = "YES"; } */
			const char *name = NULL, *re = NULL;
			if (!config_setting_is_group(s) || !config_setting_lookup_string(s, "name", &name) ||
			    !config_setting_lookup_string(s, "regex", &re) || config_setting_length(s) != 2)
				r = bad(L, s, "header wants { name = \"Field-Name\"; regex = \"...\"; }");
			else if (!keyword_ok(name) || strchr(name, ':'))
				r = bad(L, s, "header: '%s' is not a header field name", name);
			else {
				c = mt_cond_new(MT_C_HEADER);
				c->header = mt_xstrdup(name);
				for (char *p = c->header; *p; p++)
					*p = (char)tolower((unsigned char)*p);
				r = compile_re(L, config_setting_get_member(s, "regex"), c);
			}
		} else if (strcmp(k, "any-header") == 0) {
			c = mt_cond_new(MT_C_ANYHEADER);
			r = compile_re(L, s, c);
		} else if (strcmp(k, "body") == 0) {
			c = mt_cond_new(MT_C_BODY);
			r = compile_re(L, s, c);
		} else if (strcmp(k, "larger") == 0 || strcmp(k, "smaller") == 0) {
			c = mt_cond_new(k[0] == 'l' ? MT_C_LARGER : MT_C_SMALLER);
			r = size_value(L, s, &c->size);
			if (r == MT_OK && c->kind == MT_C_SMALLER && c->size == 0)
				r = bad(L, s, "smaller: no message is smaller than 0 bytes");
			if (r == MT_OK && c->size > UINT32_MAX)
				r = bad(L, s, "%s: %llu bytes is beyond any message size IMAP can state (4 GiB)", k,
					(unsigned long long)c->size);
		} else if (strcmp(k, "older") == 0 || strcmp(k, "newer") == 0) {
			c = mt_cond_new(k[0] == 'o' ? MT_C_OLDER : MT_C_NEWER);
			r = age_value(L, s, &c->age);
		} else if (strcmp(k, "keyword") == 0) {
			const char *v = config_setting_get_string(s);
			if (v == NULL || !keyword_ok(v) || v[0] == '\\')
				r = bad(L, s, "keyword wants a keyword name such as \"$Invoice\"");
			else {
				c = mt_cond_new(MT_C_FLAG);
				c->keyword = mt_xstrdup(v);
			}
		} else if (strcmp(k, "all") == 0 || strcmp(k, "any") == 0) {
			r = parse_cond_list(L, s, k[1] == 'l' ? MT_C_ALL : MT_C_ANY, depth, &c);
		} else if (strcmp(k, "not") == 0) {
			struct mt_cond *kid = NULL;
			r = parse_cond(L, s, depth + 1, &kid);
			if (r == MT_OK) {
				c = mt_cond_new(MT_C_NOT);
				mt_cond_add(c, kid);
			}
		} else {
			r = bad(L, s, "unknown condition '%s' (see mailtool-rules(5))", k);
		}
		if (c)
			mt_cond_add(all, c);
	}
	if (r == MT_OK && all->nkids == 0)
		r = bad(L, g, "an empty condition; to match every message say so: { larger = 0; }");
	if (r != MT_OK) {
		mt_cond_free(all);
		return r;
	}
	if (all->nkids == 1) {
		*out = all->kids[0];
		all->nkids = 0;
		mt_cond_free(all);
	} else {
		*out = all;
	}
	return MT_OK;
}

/* flag = "\\Flagged" or [ "\\Flagged", "$Invoice" ] -> "\\Flagged $Invoice" */
static int flag_list(struct loader *L, const config_setting_t *s, char **out)
{
	static const char *const sys[] = { "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", NULL };
	int n = config_setting_is_array(s) || config_setting_is_list(s) ? config_setting_length(s) : 1;
	char *acc = NULL;
	if (n == 0)
		return bad(L, s, "'%s' is empty", config_setting_name(s));
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_is_scalar(s) ? s : config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(el);
		const char *canon = NULL;
		if (v && v[0] == '\\') {
			for (size_t k = 0; sys[k]; k++)
				if (strcasecmp(v, sys[k]) == 0)
					canon = sys[k];
		} else if (v && keyword_ok(v)) {
			canon = v;
		}
		if (canon == NULL) {
			free(acc);
			return bad(L, el, "%s: '%s' is neither a system flag (\\Seen \\Answered \\Flagged \\Deleted \\Draft) "
				   "nor a keyword", config_setting_name(s), v ? v : "(not a string)");
		}
		char *next = mt_xasprintf("%s%s%s", acc ? acc : "", acc ? " " : "", canon);
		free(acc);
		acc = next;
	}
	*out = acc;
	return MT_OK;
}

static int parse_rule(struct loader *L, const config_setting_t *g, struct mt_rule *r)
{
	static const char *const keys[] = { "name", "folder", "folders", "match", "move", "copy", "trash", "expunge",
					    "stop", "flag", "unflag", "create", "continue", NULL };
	const char *name = NULL, *v;
	memset(r, 0, sizeof *r);
	r->line = (int)config_setting_source_line(g);
	r->file = mt_xstrdup(L->file);
	if (!config_setting_is_group(g))
		return bad(L, g, "each rule is a group: { name = \"...\"; match = { ... }; move = \"...\"; }");
	if (!config_setting_lookup_string(g, "name", &name) || name[0] == '\0')
		return bad(L, g, "a rule without a name (name = \"...\";)");
	r->name = mt_xstrdup(name);
	L->rule = r->name;
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int ok = 0;
		for (size_t j = 0; keys[j]; j++)
			ok |= strcmp(k, keys[j]) == 0;
		if (!ok)
			return bad(L, s, "unknown key '%s' (see mailtool-rules(5))", k);
	}
	/* folders: default INBOX */
	config_setting_t *fs = config_setting_get_member(g, "folders");
	config_setting_t *f1 = config_setting_get_member(g, "folder");
	if (fs && f1)
		return bad(L, fs, "give folder or folders, not both");
	if (f1 && (v = config_setting_get_string(f1)) != NULL) {
		r->folders = mt_xmalloc(2 * sizeof *r->folders);
		r->folders[0] = mt_xstrdup(v);
	} else if (f1) {
		return bad(L, f1, "folder wants a folder name in quotes");
	} else if (fs) {
		int n = config_setting_length(fs);
		if ((!config_setting_is_array(fs) && !config_setting_is_list(fs)) || n == 0)
			return bad(L, fs, "folders wants a list of names: [ \"INBOX\", \"Lists/*\" ]");
		r->folders = mt_xmalloc((size_t)(n + 1) * sizeof *r->folders);
		for (int i = 0; i < n; i++) {
			const char *fv = config_setting_get_string_elem(fs, (unsigned)i);
			if (fv == NULL)
				return bad(L, fs, "folders wants a list of names in quotes");
			r->folders[i] = mt_xstrdup(fv);
		}
	} else {
		r->folders = mt_xmalloc(2 * sizeof *r->folders);
		r->folders[0] = mt_xstrdup("INBOX");
	}
	for (size_t i = 0; r->folders[i]; i++)
		if (r->folders[i][0] == '\0' || !mt_mailbox_name_ok(r->folders[i]))
			return bad(L, fs ? fs : f1, "'%s' is not a usable folder name", r->folders[i]);
	/* condition */
	config_setting_t *m = config_setting_get_member(g, "match");
	if (m == NULL)
		return bad(L, g, "no match = { ... } condition");
	int rc = parse_cond(L, m, 0, &r->cond);
	if (rc != MT_OK)
		return rc;
	r->uses_flags = mt_cond_uses_flags(r->cond);
	/* action: at most one of move/copy/trash/expunge/stop, plus flag/unflag */
	static const struct { const char *key; enum mt_action a; } acts[] = {
		{ "move", MT_A_MOVE }, { "copy", MT_A_COPY }, { "trash", MT_A_TRASH }, { "expunge", MT_A_EXPUNGE },
		{ "stop", MT_A_STOP },
	};
	for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
		config_setting_t *s = config_setting_get_member(g, acts[i].key);
		if (s == NULL)
			continue;
		if (r->action != MT_A_NONE)
			return bad(L, s, "more than one action (move, copy, trash, expunge, stop): one per rule");
		if ((acts[i].a == MT_A_MOVE || acts[i].a == MT_A_COPY) && config_setting_is_group(s)) {
			/* { account = "archive"; folder = "Archive"; }: another account's folder */
			const char *acc = NULL;
			for (int k = 0; k < config_setting_length(s); k++) {
				const char *key = config_setting_name(config_setting_get_elem(s, (unsigned)k));
				if (strcmp(key, "account") != 0 && strcmp(key, "folder") != 0)
					return bad(L, config_setting_get_elem(s, (unsigned)k), "%s: unknown key '%s' (account, folder)",
						   acts[i].key, key);
			}
			if (!config_setting_lookup_string(s, "account", &acc) || acc[0] == '\0' || !mt_mailbox_name_ok(acc))
				return bad(L, s, "%s: account wants the name of an account of mailtool.conf in quotes", acts[i].key);
			if (!config_setting_lookup_string(s, "folder", &v) || v[0] == '\0' || !mt_mailbox_name_ok(v))
				return bad(L, s, "%s: folder wants a folder name in quotes", acts[i].key);
			if (strchr(v, '%') && !mt_date_template_ok(v))
				return bad(L, s, "%s: folder '%s': only %%Y, %%m and %%d (and %%%%) may be used", acts[i].key, v);
			r->account = mt_xstrdup(acc);
			r->target = mt_xstrdup(v);
			r->dated = strchr(v, '%') != NULL;
		} else if (acts[i].a == MT_A_MOVE || acts[i].a == MT_A_COPY) {
			if ((v = config_setting_get_string(s)) == NULL || v[0] == '\0' || !mt_mailbox_name_ok(v))
				return bad(L, s, "%s wants a folder name in quotes, or { account = \"...\"; folder = \"...\"; }",
					   acts[i].key);
			r->target = mt_xstrdup(v);
		} else if (config_setting_type(s) != CONFIG_TYPE_BOOL || !config_setting_get_bool(s)) {
			return bad(L, s, "%s wants true", acts[i].key);
		}
		r->action = acts[i].a;
	}
	config_setting_t *s;
	if ((s = config_setting_get_member(g, "flag")) && (rc = flag_list(L, s, &r->flag)) != MT_OK)
		return rc;
	if ((s = config_setting_get_member(g, "unflag")) && (rc = flag_list(L, s, &r->unflag)) != MT_OK)
		return rc;
	if (r->action == MT_A_NONE && !r->flag && !r->unflag)
		return bad(L, g, "no action: give move, copy, trash, expunge, stop, flag or unflag");
	if (r->action == MT_A_STOP && (r->flag || r->unflag))
		return bad(L, g, "stop leaves messages alone: it cannot also flag them");
	int b;
	if (config_setting_lookup_bool(g, "create", &b))
		r->create = b;
	if (config_setting_lookup_bool(g, "continue", &b))
		r->cont = b;
	if ((s = config_setting_get_member(g, "create")) && config_setting_type(s) != CONFIG_TYPE_BOOL)
		return bad(L, s, "create wants true or false");
	if ((s = config_setting_get_member(g, "continue")) && config_setting_type(s) != CONFIG_TYPE_BOOL)
		return bad(L, s, "continue wants true or false");
	if (r->create && r->action != MT_A_MOVE && r->action != MT_A_COPY)
		return bad(L, g, "create is for move and copy");
	if (r->dated && !r->create)
		return bad(L, g, "folder '%s' names a folder per message date: give create = true", r->target);
	if (r->cont && (r->action == MT_A_MOVE || r->action == MT_A_TRASH || r->action == MT_A_EXPUNGE ||
			r->action == MT_A_STOP))
		return bad(L, g, "continue makes no sense after %s: the message is gone from the folder%s",
			   r->action == MT_A_STOP ? "stop" : "a move, trash or expunge",
			   r->action == MT_A_STOP ? " for later rules" : "");
	L->rule = NULL;
	return MT_OK;
}

static void rule_free(struct mt_rule *r)
{
	free(r->account);
	free(r->name);
	free(r->file);
	for (size_t i = 0; r->folders && r->folders[i]; i++)
		free(r->folders[i]);
	free(r->folders);
	mt_cond_free(r->cond);
	free(r->target);
	free(r->flag);
	free(r->unflag);
}

/* regex_match_limit = 1000000; regex_depth_limit = 100000; regex_heap_limit = "64M" */
static int limit_value(struct loader *L, const config_setting_t *root, const char *key, uint32_t *out)
{
	const config_setting_t *s = config_setting_get_member(root, key);
	uint64_t v = 0;
	int heap = strcmp(key, "regex_heap_limit") == 0;
	if (s == NULL)
		return MT_OK;
	if (size_value(L, s, &v) != MT_OK)
		return L->e->code;
	if (heap)
		v /= 1024;   /* PCRE2 counts KiB */
	if (v == 0 || v > UINT32_MAX)
		return bad(L, s, "%s: must be between %s", key, heap ? "\"1k\" and \"4T\"" : "1 and 4294967295");
	*out = (uint32_t)v;
	return MT_OK;
}

static uint64_t file_hash(const char *path)
{
	uint64_t h = MT_FNV_INIT;
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return 0;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		h = mt_fnv1a(h, buf, n);
	fclose(f);
	return h;
}

int mt_rules_load(const char *path, struct mt_ruleset *rs, struct mt_err *e)
{
	config_t cfg;
	struct loader L = { .file = path, .e = e };
	int r = MT_OK;
	memset(rs, 0, sizeof *rs);
	rs->body_limit = 256 * 1024;
	rs->re_limits = (struct mt_re_limits)MT_RE_LIMITS_DEFAULT;
	if ((r = mt_cfg_check_ints(path, e)) != MT_OK)
		return r;
	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			r = mt_seterr(e, MT_ECONFIG, "%s: cannot read the rules", path);
		else
			r = mt_seterr(e, MT_ECONFIG, "%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg) : path,
				      config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return r;
	}
	config_setting_t *root = config_root_setting(&cfg), *list = config_setting_get_member(root, "rules");
	config_setting_t *bl = config_setting_get_member(root, "body_limit");
	if (bl && (r = size_value(&L, bl, &rs->body_limit)) != MT_OK)
		goto out;
	if ((r = limit_value(&L, root, "regex_match_limit", &rs->re_limits.match)) != MT_OK ||
	    (r = limit_value(&L, root, "regex_depth_limit", &rs->re_limits.depth)) != MT_OK ||
	    (r = limit_value(&L, root, "regex_heap_limit", &rs->re_limits.heap_kib)) != MT_OK)
		goto out;
	L.limits = &rs->re_limits;
	if (list == NULL) {
		r = mt_seterr(e, MT_ECONFIG, "%s: no rules = ( ... ); list", path);
		goto out;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		r = bad(&L, list, "rules wants a list: rules = ( { ... }, { ... } );");
		goto out;
	}
	int n = config_setting_length(list);
	rs->v = mt_xmalloc(sizeof *rs->v * (size_t)(n ? n : 1));
	for (int i = 0; i < n && r == MT_OK; i++) {
		r = parse_rule(&L, config_setting_get_elem(list, (unsigned)i), &rs->v[i]);
		rs->n = (size_t)i + 1;
		for (size_t j = 0; r == MT_OK && j + 1 < rs->n; j++)
			if (strcmp(rs->v[j].name, rs->v[i].name) == 0) {
				L.rule = rs->v[i].name;
				r = bad(&L, config_setting_get_elem(list, (unsigned)i), "a second rule of this name (the first is on line %d)",
					rs->v[j].line);
			}
	}
	if (r == MT_OK && n == 0)
		r = bad(&L, list, "the rules list is empty");
	rs->hash = file_hash(path);
out:
	config_destroy(&cfg);
	if (r != MT_OK)
		mt_rules_release(rs);
	return r;
}

void mt_rules_release(struct mt_ruleset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->v[i]);
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

void mt_rule_query(const struct mt_rule *r, int within, time_t now, struct mt_query *q)
{
	mt_query_compile(r->cond, within, now, q);
	/* mail the user already deleted is left alone unless a rule asks for it:
	 * the server leaves it out, and a check here reads FLAGS to be sure */
	if (!mt_cond_mentions_deleted(r->cond)) {
		char *k = strcmp(q->search, "ALL") == 0 ? mt_xstrdup("UNDELETED") : mt_xasprintf("UNDELETED %s", q->search);
		free(q->search);
		q->search = k;
		if (q->loose) {
			k = strcmp(q->loose, "ALL") == 0 ? mt_xstrdup("UNDELETED") : mt_xasprintf("UNDELETED %s", q->loose);
			free(q->loose);
			q->loose = k;
		}
		if (!q->exact)
			q->needs.flags = 1;
	}
}

void mt_rule_needs(const struct mt_rule *r, struct mt_needs *n)
{
	mt_cond_needs(r->cond, n);
	if (!mt_cond_mentions_deleted(r->cond))
		n->flags = 1;
}

int mt_rule_match(const struct mt_rule *r, const struct mt_fetched *m, time_t now, const char **why)
{
	/* mail the user deleted is never the rule's unless it asks: decided first */
	if (!mt_cond_mentions_deleted(r->cond) && (m->sysflags & MT_F_DELETED))
		return 0;
	return mt_cond_match(r->cond, m, now, why);
}

/* ---- explaining ---------------------------------------------------------- */

void mt_rules_explain(const struct mt_ruleset *rs, int within, char **const *folders, const size_t *nfolders,
		      const char *const *why, FILE *f)
{
	static const char *const act[] = { "(flags only)", "move to", "copy to", "move to \\Trash", "expunge", "stop" };
	time_t now = time(NULL);
	/* everything from the rules file or the server is shown escaped: the
	 * file may be someone else's, the folder names are the server's */
	for (size_t i = 0; i < rs->n; i++) {
		const struct mt_rule *r = &rs->v[i];
		struct mt_query qy;
		mt_rule_query(r, within, now, &qy);
		const struct mt_needs n = qy.needs;
		fputs("rule '", f);
		mt_fputs_safe(r->name, f);
		fputs("' (", f);
		mt_fputs_safe(r->file, f);
		fprintf(f, ":%d)\n  folders:", r->line);
		if (folders == NULL) {
			for (size_t k = 0; r->folders[k]; k++) {
				fputc(' ', f);
				mt_fputs_safe(r->folders[k], f);
			}
		} else if (why && why[i]) {
			fputs(" ", f);
			mt_fputs_safe(why[i], f);
			fputs(" (the run refuses this rule)", f);
		} else if (nfolders[i] == 0) {
			fputs(" (none on the server)", f);
		} else {
			for (size_t k = 0; k < nfolders[i]; k++) {
				fputc(' ', f);
				mt_fputs_safe(folders[i][k], f);
			}
		}
		fputs("\n  server:  UID SEARCH ", f);
		mt_fputs_safe(qy.search, f);
		fputc('\n', f);
		if (qy.loose) {
			/* what mt_uid_search_text adds: text the server may not read as the rule does */
			fputs("           and of UID SEARCH ", f);
			mt_fputs_safe(qy.loose, f);
			fputs(", the rest whose fields or BODYSTRUCTURE the server may read\n"
			      "           otherwise (encoded words, 8-bit; parts not 7bit/8bit in US-ASCII, UTF-8, ISO-8859-n)\n", f);
		}
		if (qy.exact) {
			fputs("  fetch:   nothing (the server decides exactly)\n  client:  no check\n", f);
		} else {
			fputs("  fetch:   UID", f);
			if (n.size)
				fputs(" RFC822.SIZE", f);
			if (n.date)
				fputs(" INTERNALDATE", f);
			if (n.flags)
				fputs(" FLAGS", f);
			if (n.all_headers)
				fputs(" BODY.PEEK[HEADER]", f);
			else if (n.nhdrs) {
				fputs(" BODY.PEEK[HEADER.FIELDS (", f);
				for (size_t k = 0; k < n.nhdrs; k++) {
					fputs(k ? " " : "", f);
					mt_fputs_safe(n.hdrs[k], f);
				}
				fputs(")]", f);
			}
			if (n.body)
				fprintf(f, " BODY.PEEK[]<0.%llu>", (unsigned long long)rs->body_limit);
			fputs(" of the candidates, in UID batches\n  client:  ", f);
			mt_cond_text(r->cond, f);
			fputc('\n', f);
		}
		fprintf(f, "  action:  %s%s", act[r->action], r->target ? " " : "");
		if (r->account) {
			fputs("account ", f);
			mt_fputs_safe(r->account, f);
			fputs(", folder ", f);
		}
		mt_fputs_safe(r->target, f);
		if (r->flag) {
			fputs("; flag ", f);
			mt_fputs_safe(r->flag, f);
		}
		if (r->unflag) {
			fputs("; unflag ", f);
			mt_fputs_safe(r->unflag, f);
		}
		fprintf(f, "%s\n", r->cont ? "; continue" : "");
		mt_query_release(&qy);
	}
}
