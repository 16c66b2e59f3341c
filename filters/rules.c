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

static void cond_free(struct mt_cond *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nkids; i++)
		cond_free(c->kids[i]);
	free(c->kids);
	free(c->header);
	free(c->pattern);
	free(c->keyword);
	mt_re_free(c->re);
	free(c);
}

static struct mt_cond *cond_new(enum mt_cond_kind k)
{
	struct mt_cond *c = mt_xmalloc(sizeof *c);
	c->kind = k;
	c->want = 1;
	return c;
}

static void cond_add(struct mt_cond *parent, struct mt_cond *kid)
{
	parent->kids = mt_xrealloc(parent->kids, sizeof *parent->kids * (parent->nkids + 1));
	parent->kids[parent->nkids++] = kid;
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
	struct mt_cond *c = cond_new(k);
	for (int i = 0; i < config_setting_length(s); i++) {
		struct mt_cond *kid = NULL;
		int r = parse_cond(L, config_setting_get_elem(s, (unsigned)i), depth + 1, &kid);
		if (r != MT_OK) {
			cond_free(c);
			return r;
		}
		cond_add(c, kid);
	}
	if (c->nkids == 0) {
		cond_free(c);
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
	struct mt_cond *all = cond_new(MT_C_ALL);
	int r = MT_OK;
	for (int i = 0; i < config_setting_length(g) && r == MT_OK; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		struct mt_cond *c = NULL;
		int known = 0;
		for (size_t h = 0; header_keys[h]; h++)
			if (strcmp(k, header_keys[h]) == 0) {
				c = cond_new(MT_C_HEADER);
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
				c = cond_new(MT_C_FLAG);
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
				c = cond_new(MT_C_HEADER);
				c->header = mt_xstrdup(name);
				for (char *p = c->header; *p; p++)
					*p = (char)tolower((unsigned char)*p);
				r = compile_re(L, config_setting_get_member(s, "regex"), c);
			}
		} else if (strcmp(k, "any-header") == 0) {
			c = cond_new(MT_C_ANYHEADER);
			r = compile_re(L, s, c);
		} else if (strcmp(k, "body") == 0) {
			c = cond_new(MT_C_BODY);
			r = compile_re(L, s, c);
		} else if (strcmp(k, "larger") == 0 || strcmp(k, "smaller") == 0) {
			c = cond_new(k[0] == 'l' ? MT_C_LARGER : MT_C_SMALLER);
			r = size_value(L, s, &c->size);
			if (r == MT_OK && c->kind == MT_C_SMALLER && c->size == 0)
				r = bad(L, s, "smaller: no message is smaller than 0 bytes");
			if (r == MT_OK && c->size > UINT32_MAX)
				r = bad(L, s, "%s: %llu bytes is beyond any message size IMAP can state (4 GiB)", k,
					(unsigned long long)c->size);
		} else if (strcmp(k, "older") == 0 || strcmp(k, "newer") == 0) {
			c = cond_new(k[0] == 'o' ? MT_C_OLDER : MT_C_NEWER);
			r = age_value(L, s, &c->age);
		} else if (strcmp(k, "keyword") == 0) {
			const char *v = config_setting_get_string(s);
			if (v == NULL || !keyword_ok(v) || v[0] == '\\')
				r = bad(L, s, "keyword wants a keyword name such as \"$Invoice\"");
			else {
				c = cond_new(MT_C_FLAG);
				c->keyword = mt_xstrdup(v);
			}
		} else if (strcmp(k, "all") == 0 || strcmp(k, "any") == 0) {
			r = parse_cond_list(L, s, k[1] == 'l' ? MT_C_ALL : MT_C_ANY, depth, &c);
		} else if (strcmp(k, "not") == 0) {
			struct mt_cond *kid = NULL;
			r = parse_cond(L, s, depth + 1, &kid);
			if (r == MT_OK) {
				c = cond_new(MT_C_NOT);
				cond_add(c, kid);
			}
		} else {
			r = bad(L, s, "unknown condition '%s' (see mailtool-rules(5))", k);
		}
		if (c)
			cond_add(all, c);
	}
	if (r == MT_OK && all->nkids == 0)
		r = bad(L, g, "an empty condition; to match every message say so: { larger = 0; }");
	if (r != MT_OK) {
		cond_free(all);
		return r;
	}
	if (all->nkids == 1) {
		*out = all->kids[0];
		all->nkids = 0;
		cond_free(all);
	} else {
		*out = all;
	}
	return MT_OK;
}

static int uses_flags(const struct mt_cond *c)
{
	if (c == NULL)
		return 0;
	if (c->kind == MT_C_FLAG)
		return 1;
	for (size_t i = 0; i < c->nkids; i++)
		if (uses_flags(c->kids[i]))
			return 1;
	return 0;
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
	r->uses_flags = uses_flags(r->cond);
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
		if (acts[i].a == MT_A_MOVE || acts[i].a == MT_A_COPY) {
			if ((v = config_setting_get_string(s)) == NULL || v[0] == '\0' || !mt_mailbox_name_ok(v))
				return bad(L, s, "%s wants a folder name in quotes", acts[i].key);
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
	free(r->name);
	free(r->file);
	for (size_t i = 0; r->folders && r->folders[i]; i++)
		free(r->folders[i]);
	free(r->folders);
	cond_free(r->cond);
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
	uint64_t h = 1469598103934665603ULL;
	FILE *f = fopen(path, "rb");
	int c;
	if (f == NULL)
		return 0;
	while ((c = getc(f)) != EOF)
		h = (h ^ (unsigned char)c) * 1099511628211ULL;
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

/* ---- literals a regex match must contain --------------------------------- */

/* characters a literal may carry to the server: plain ASCII that no IMAP
 * server folds, normalizes or tokenizes differently */
static int plain(int c)
{
	return isalnum(c) || c == '@' || c == '.' || c == '_' || c == '-';
}

/* Longest required run of plain literal characters in one branch [p, end);
 * 0 when the branch cannot be read safely. */
static size_t branch_literal(const char *p, const char *end, char *best, size_t bestcap)
{
	char run[256];
	size_t n = 0, bn = 0;
#define FLUSH() do { if (n > bn && n < bestcap) { memcpy(best, run, n); bn = n; } n = 0; } while (0)
	while (p < end) {
		int lit = -1;       /* a literal character, or -1 for another atom */
		char c = *p;
		if (c == '\\') {
			if (p + 1 >= end)
				return 0;
			char d = p[1];
			if (d == 'Q' || d == 'E' || d == 'x' || d == 'o' || d == 'c' || d == 'N' || d == 'p' || d == 'P' ||
			    d == 'g' || d == 'k')
				return 0;   /* forms not worth reading: give up on the branch */
			if (!isalnum((unsigned char)d))
				lit = (unsigned char)d;
			p += 2;
		} else if (c == '[') {
			const char *q = p + 1;
			if (q < end && *q == '^')
				q++;
			if (q < end && *q == ']')
				q++;
			while (q < end && *q != ']') {
				if (*q == '\\')
					q++;
				q++;
			}
			if (q >= end)
				return 0;
			p = q + 1;
		} else if (c == '(') {
			int depth = 0;
			const char *q = p;
			for (; q < end; q++) {
				if (*q == '\\') {
					q++;
					continue;
				}
				if (*q == '(')
					depth++;
				else if (*q == ')' && --depth == 0)
					break;
			}
			if (q >= end)
				return 0;
			p = q + 1;
		} else if (c == '*' || c == '+' || c == '?' || c == '{' || c == ')') {
			return 0;   /* a quantifier with nothing before it: not a pattern we read */
		} else {
			if (c != '.' && c != '^' && c != '$')
				lit = (unsigned char)c;
			p++;
		}
		/* a quantifier on this atom? */
		int optional = 0, quantified = 0;
		if (p < end && (*p == '*' || *p == '?')) {
			optional = quantified = 1;
			p++;
		} else if (p < end && *p == '+') {
			quantified = 1;
			p++;
		} else if (p < end && *p == '{' && p + 1 < end && isdigit((unsigned char)p[1])) {
			quantified = 1;
			optional = p[1] == '0' && (p + 2 >= end || !isdigit((unsigned char)p[2]));
			while (p < end && *p != '}')
				p++;
			if (p < end)
				p++;
		}
		if (quantified && p < end && (*p == '?' || *p == '+'))
			p++;    /* lazy or possessive */
		if (lit >= 0 && !optional && plain(lit) && n + 1 < sizeof run)
			run[n++] = (char)lit;
		if (lit < 0 || optional || !plain(lit) || quantified)
			FLUSH();
	}
	FLUSH();
#undef FLUSH
	return bn;
}

int mt_regex_literals(const char *pattern, char ***out)
{
	const char *p = pattern;
	*out = NULL;
	/* Extended mode ((?x), (?xx), also inline as (?ix) or (?x:...)) gives
	 * blanks and '#' other meanings, so no literal can be read from such a
	 * pattern: give up wherever an option group sets it (found by
	 * tests/fuzz/fuzz_literals.c: "(?ix)#in voice" matched everything yet
	 * yielded "voice"). Being conservative costs only the pre-filter. */
	for (const char *q = pattern; (q = strstr(q, "(?")) != NULL; q += 2)
		for (const char *o = q + 2; *o && (isalpha((unsigned char)*o) || *o == '^' || *o == '-'); o++)
			if (*o == 'x')
				return 0;
	if (strstr(p, "(*"))
		return 0;
	/* leading option settings such as (?i) or (?im) */
	while (p[0] == '(' && p[1] == '?') {
		const char *q = p + 2;
		while (*q && strchr("imsnuUJ-^", *q))
			q++;
		if (*q != ')')
			break;
		p = q + 1;
	}
	/* split at top-level '|' */
	size_t nb = 0;
	char **v = mt_xmalloc(sizeof *v * (strlen(p) / 2 + 2));
	const char *start = p;
	int depth = 0, in_class = 0;
	for (const char *q = p;; q++) {
		if (*q == '\\' && q[1]) {
			q++;
			continue;
		}
		if (in_class) {
			if (*q == ']')
				in_class = 0;
			if (*q)
				continue;
		}
		if (*q == '[') {
			in_class = 1;
			if (q[1] == '^')
				q++;
			if (q[1] == ']')
				q++;
			continue;
		}
		if (*q == '(')
			depth++;
		else if (*q == ')')
			depth--;
		if (*q == '\0' || (*q == '|' && depth == 0)) {
			char best[256];
			size_t n = branch_literal(start, q, best, sizeof best);
			if (n < 3 || depth != 0 || in_class) {
				for (size_t i = 0; i < nb; i++)
					free(v[i]);
				free(v);
				return 0;
			}
			v[nb++] = mt_xasprintf("%.*s", (int)n, best);
			if (*q == '\0')
				break;
			start = q + 1;
		}
	}
	v[nb] = NULL;
	*out = v;
	return (int)nb;
}

/* ---- planning ------------------------------------------------------------ */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static char *imap_date(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	return mt_xasprintf("%d-%s-%d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
}

/* IMAP SEARCH keys naming a header field */
static char *header_key(const char *header, const char *lit)
{
	if (strcmp(header, "subject") == 0 || strcmp(header, "from") == 0 || strcmp(header, "to") == 0 ||
	    strcmp(header, "cc") == 0 || strcmp(header, "bcc") == 0) {
		char up[8];
		size_t i = 0;
		for (; header[i] && i + 1 < sizeof up; i++)
			up[i] = (char)toupper((unsigned char)header[i]);
		up[i] = '\0';
		return mt_xasprintf("%s \"%s\"", up, lit);
	}
	return mt_xasprintf("HEADER %s \"%s\"", header, lit);
}

/* OR over n keys: OR a (OR b c) */
static char *or_keys(char **k, size_t n)
{
	if (n == 1)
		return mt_xstrdup(k[0]);
	char *rest = or_keys(k + 1, n - 1);
	char *s = mt_xasprintf("OR (%s) (%s)", k[0], rest);
	free(rest);
	return s;
}

/* Server keys for a condition: NULL when the server can narrow nothing. */
static char *cond_search(const struct mt_cond *c, int within, time_t now, int *exact)
{
	char *q = NULL;
	*exact = 1;
	switch (c->kind) {
	case MT_C_LARGER:
		return mt_xasprintf("LARGER %llu", (unsigned long long)c->size);
	case MT_C_SMALLER:
		return mt_xasprintf("SMALLER %llu", (unsigned long long)c->size);
	case MT_C_OLDER:
	case MT_C_NEWER: {
		if (within)
			return mt_xasprintf("%s %lld", c->kind == MT_C_OLDER ? "OLDER" : "YOUNGER",
					    (long long)(c->age > 0 ? c->age : 1));
		/* day granularity in the server's zone: a superset, checked here */
		*exact = 0;
		char *d = imap_date(c->kind == MT_C_OLDER ? now - c->age + 2 * 86400 : now - c->age - 86400);
		q = mt_xasprintf("%s %s", c->kind == MT_C_OLDER ? "BEFORE" : "SINCE", d);
		free(d);
		return q;
	}
	case MT_C_FLAG: {
		if (c->keyword)
			return mt_xasprintf("%s %s", c->want ? "KEYWORD" : "UNKEYWORD", c->keyword);
		static const struct { unsigned f; const char *on, *off; } k[] = {
			{ MT_F_SEEN, "SEEN", "UNSEEN" }, { MT_F_ANSWERED, "ANSWERED", "UNANSWERED" },
			{ MT_F_FLAGGED, "FLAGGED", "UNFLAGGED" }, { MT_F_DELETED, "DELETED", "UNDELETED" },
			{ MT_F_DRAFT, "DRAFT", "UNDRAFT" },
		};
		for (size_t i = 0; i < sizeof k / sizeof *k; i++)
			if (k[i].f == c->sysflag)
				return mt_xstrdup(c->want ? k[i].on : k[i].off);
		*exact = 0;
		return NULL;
	}
	case MT_C_HEADER:
	case MT_C_BODY: {
		char **lits = NULL;
		int n = mt_regex_literals(c->pattern, &lits);
		*exact = 0;
		if (n <= 0)
			return NULL;
		char **keys = mt_xmalloc(sizeof *keys * (size_t)n);
		for (int i = 0; i < n; i++)
			keys[i] = c->kind == MT_C_BODY ? mt_xasprintf("BODY \"%s\"", lits[i]) : header_key(c->header, lits[i]);
		q = or_keys(keys, (size_t)n);
		for (int i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
		mt_words_free(lits);
		return q;
	}
	case MT_C_ANYHEADER:
		*exact = 0;
		return NULL;
	case MT_C_ALL: {
		for (size_t i = 0; i < c->nkids; i++) {
			int ex;
			char *k = cond_search(c->kids[i], within, now, &ex);
			if (!ex)
				*exact = 0;
			if (k == NULL)
				continue;
			char *next = mt_xasprintf("%s%s(%s)", q ? q : "", q ? " " : "", k);
			free(q);
			free(k);
			q = next;
		}
		return q;
	}
	case MT_C_ANY: {
		char **keys = mt_xmalloc(sizeof *keys * c->nkids);
		size_t n = 0;
		for (size_t i = 0; i < c->nkids; i++) {
			int ex;
			char *k = cond_search(c->kids[i], within, now, &ex);
			if (!ex)
				*exact = 0;
			if (k == NULL) {
				/* one branch the server cannot narrow: the whole OR cannot be */
				for (size_t j = 0; j < n; j++)
					free(keys[j]);
				free(keys);
				*exact = 0;
				return NULL;
			}
			keys[n++] = k;
		}
		q = or_keys(keys, n);
		for (size_t j = 0; j < n; j++)
			free(keys[j]);
		free(keys);
		return q;
	}
	case MT_C_NOT: {
		int ex;
		char *k = cond_search(c->kids[0], within, now, &ex);
		if (k == NULL || !ex) {
			/* NOT of a superset is not a superset of NOT */
			free(k);
			*exact = 0;
			return NULL;
		}
		q = mt_xasprintf("NOT (%s)", k);
		free(k);
		return q;
	}
	}
	*exact = 0;
	return NULL;
}

static int mentions_deleted(const struct mt_cond *c)
{
	if (c->kind == MT_C_FLAG && c->sysflag == MT_F_DELETED)
		return 1;
	for (size_t i = 0; i < c->nkids; i++)
		if (mentions_deleted(c->kids[i]))
			return 1;
	return 0;
}

char *mt_rule_search(const struct mt_rule *r, int within, time_t now, int *exact)
{
	char *k = cond_search(r->cond, within, now, exact);
	/* mail the user already deleted is left alone unless a rule asks for it */
	if (!mentions_deleted(r->cond)) {
		char *q = mt_xasprintf("UNDELETED%s%s", k ? " " : "", k ? k : "");
		free(k);
		return q;
	}
	return k ? k : mt_xstrdup("ALL");
}

void mt_rule_needs_add_header(struct mt_rule_needs *n, const char *name)
{
	for (size_t i = 0; i < n->nhdrs; i++)
		if (strcasecmp(n->hdrs[i], name) == 0)
			return;
	n->hdrs = mt_xrealloc(n->hdrs, sizeof *n->hdrs * (n->nhdrs + 2));
	n->hdrs[n->nhdrs++] = mt_xstrdup(name);
	n->hdrs[n->nhdrs] = NULL;
}

static void cond_needs(const struct mt_cond *c, struct mt_rule_needs *n)
{
	switch (c->kind) {
	case MT_C_HEADER: mt_rule_needs_add_header(n, c->header); break;
	case MT_C_ANYHEADER: n->all_headers = 1; break;
	case MT_C_BODY: n->body = 1; break;
	case MT_C_LARGER: case MT_C_SMALLER: n->size = 1; break;
	case MT_C_OLDER: case MT_C_NEWER: n->date = 1; break;
	case MT_C_FLAG: n->flags = 1; break;
	default: break;
	}
	for (size_t i = 0; i < c->nkids; i++)
		cond_needs(c->kids[i], n);
}

void mt_rule_needs(const struct mt_rule *r, struct mt_rule_needs *n)
{
	cond_needs(r->cond, n);
	if (!mentions_deleted(r->cond))
		n->flags = 1;
}

void mt_rule_needs_release(struct mt_rule_needs *n)
{
	for (size_t i = 0; i < n->nhdrs; i++)
		free(n->hdrs[i]);
	free(n->hdrs);
	memset(n, 0, sizeof *n);
}

/* ---- deciding ------------------------------------------------------------ */

struct field_match {
	const char *name;       /* NULL: every field, as "Name: value" */
	const struct mt_re *re;
	const char **why;
	int undecided;          /* a field could not be matched (a PCRE2 limit or error) */
};

static int field_re(const char *n, size_t nl, const char *v, size_t vl, void *ctx)
{
	struct field_match *f = ctx;
	if (f->name && (strlen(f->name) != nl || strncasecmp(f->name, n, nl) != 0))
		return 0;
	char *dec = mt_decode_header(v, vl);
	int hit;
	if (f->name) {
		hit = mt_re_match(f->re, dec, strlen(dec), f->why);
	} else {
		char *line = mt_xasprintf("%.*s: %s", (int)nl, n, dec);
		hit = mt_re_match(f->re, line, strlen(line), f->why);
		free(line);
	}
	free(dec);
	if (hit < 0)
		f->undecided = 1;   /* a later field may still match: that decides */
	return hit > 0;
}

struct view {
	const struct mt_fetched *m;
	char *body;
	int body_done;
	const char **why;
};

/* 1, 0, or -1 when a regex could not be decided and that could change the
 * answer (Kleene's three values: all() is false if any part is false, any()
 * true if any part is true, whatever the undecided parts) */
static int cond_match(const struct mt_cond *c, struct view *v, time_t now)
{
	const struct mt_fetched *m = v->m;
	switch (c->kind) {
	case MT_C_ALL:
	case MT_C_ANY: {
		int any_true = c->kind == MT_C_ANY, undecided = 0;
		for (size_t i = 0; i < c->nkids; i++) {
			int k = cond_match(c->kids[i], v, now);
			if (k < 0)
				undecided = 1;
			else if (k == any_true)
				return any_true;
		}
		return undecided ? -1 : !any_true;
	}
	case MT_C_NOT: {
		int k = cond_match(c->kids[0], v, now);
		return k < 0 ? -1 : !k;
	}
	case MT_C_HEADER:
	case MT_C_ANYHEADER: {
		struct field_match f = { .name = c->kind == MT_C_HEADER ? c->header : NULL, .re = c->re, .why = v->why };
		const char *h = m->header ? m->header : m->body;
		size_t hl = m->header ? m->header_len : m->body_len;
		if (h && mt_header_fields(h, hl, field_re, &f))
			return 1;
		return f.undecided ? -1 : 0;
	}
	case MT_C_BODY:
		if (!v->body_done) {
			v->body = m->body ? mt_body_text(m->body, m->body_len) : NULL;
			v->body_done = 1;
		}
		return v->body ? mt_re_match(c->re, v->body, strlen(v->body), v->why) : 0;
	case MT_C_LARGER: return m->size > c->size;
	case MT_C_SMALLER: return m->size < c->size;
	case MT_C_OLDER: return m->internaldate <= now - c->age;
	case MT_C_NEWER: return m->internaldate > now - c->age;
	case MT_C_FLAG: {
		int set = 0;
		if (c->keyword) {
			for (size_t i = 0; m->keywords && m->keywords[i]; i++)
				set |= strcasecmp(m->keywords[i], c->keyword) == 0;
		} else {
			set = (m->sysflags & c->sysflag) != 0;
		}
		return set == c->want;
	}
	}
	return 0;
}

int mt_rule_match(const struct mt_rule *r, const struct mt_fetched *m, time_t now, const char **why)
{
	const char *dummy = NULL;
	struct view v = { .m = m, .why = why ? why : &dummy };
	/* mail the user deleted is never the rule's unless it asks: decided first */
	if (!mentions_deleted(r->cond) && (m->sysflags & MT_F_DELETED))
		return 0;
	int hit = cond_match(r->cond, &v, now);
	free(v.body);
	return hit;
}

/* ---- explaining ---------------------------------------------------------- */

static void cond_text(const struct mt_cond *c, FILE *f)
{
	switch (c->kind) {
	case MT_C_ALL:
	case MT_C_ANY:
		fputs(c->kind == MT_C_ALL ? "all(" : "any(", f);
		for (size_t i = 0; i < c->nkids; i++) {
			if (i)
				fputs(", ", f);
			cond_text(c->kids[i], f);
		}
		fputc(')', f);
		break;
	case MT_C_NOT: fputs("not(", f); cond_text(c->kids[0], f); fputc(')', f); break;
	case MT_C_HEADER: fprintf(f, "%s =~ /%s/", c->header, c->pattern); break;
	case MT_C_ANYHEADER: fprintf(f, "any header =~ /%s/", c->pattern); break;
	case MT_C_BODY: fprintf(f, "body text =~ /%s/", c->pattern); break;
	case MT_C_LARGER: fprintf(f, "size > %llu", (unsigned long long)c->size); break;
	case MT_C_SMALLER: fprintf(f, "size < %llu", (unsigned long long)c->size); break;
	case MT_C_OLDER: fprintf(f, "age >= %llds", (long long)c->age); break;
	case MT_C_NEWER: fprintf(f, "age < %llds", (long long)c->age); break;
	case MT_C_FLAG:
		if (c->keyword)
			fprintf(f, "%skeyword %s", c->want ? "" : "no ", c->keyword);
		else
			for (size_t i = 0; i < sizeof sysflags / sizeof *sysflags; i++)
				if (sysflags[i].flag == c->sysflag)
					fprintf(f, "%s%s", c->want ? "" : "not ", sysflags[i].key);
		break;
	}
}

void mt_rules_explain(const struct mt_ruleset *rs, int within, FILE *f)
{
	static const char *const act[] = { "(flags only)", "move to", "copy to", "move to \\Trash", "expunge", "stop" };
	time_t now = time(NULL);
	for (size_t i = 0; i < rs->n; i++) {
		const struct mt_rule *r = &rs->v[i];
		int exact;
		char *q = mt_rule_search(r, within, now, &exact);
		struct mt_rule_needs n = { 0 };
		mt_rule_needs(r, &n);
		fprintf(f, "rule '%s' (%s:%d)\n  folders:", r->name, r->file, r->line);
		for (size_t k = 0; r->folders[k]; k++)
			fprintf(f, " %s", r->folders[k]);
		fprintf(f, "\n  server:  UID SEARCH %s\n", q);
		if (exact) {
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
				for (size_t k = 0; k < n.nhdrs; k++)
					fprintf(f, "%s%s", k ? " " : "", n.hdrs[k]);
				fputs(")]", f);
			}
			if (n.body)
				fprintf(f, " BODY.PEEK[]<0.%llu>", (unsigned long long)rs->body_limit);
			fputs(" of the candidates, in UID batches\n  client:  ", f);
			cond_text(r->cond, f);
			fputc('\n', f);
		}
		fprintf(f, "  action:  %s%s%s", act[r->action], r->target ? " " : "", r->target ? r->target : "");
		if (r->flag)
			fprintf(f, "; flag %s", r->flag);
		if (r->unflag)
			fprintf(f, "; unflag %s", r->unflag);
		fprintf(f, "%s\n", r->cont ? "; continue" : "");
		mt_rule_needs_release(&n);
		free(q);
	}
}
