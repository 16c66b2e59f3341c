/* rules.h — the rule engine of the filter applet: rules read from libconfig,
 * compiled into an IMAP SEARCH pre-filter (what the server can decide, plus
 * literal substrings every regex match must contain) and evaluated exactly
 * here on the few fields fetched. No I/O of its own: cmd/filter.c talks to
 * the server through lib/select.h and asks this engine what to send and
 * what matched. The language is documented in mailtool-rules(5). */
#ifndef MT_FILTERS_RULES_H
#define MT_FILTERS_RULES_H

#include "../lib/mt.h"
#include "../lib/select.h"
#include "query.h"
#include "regex.h"

#include <stdint.h>
#include <time.h>

enum mt_action { MT_A_NONE, MT_A_MOVE, MT_A_COPY, MT_A_TRASH, MT_A_EXPUNGE, MT_A_STOP };

struct mt_rule {
	char *name;
	char *file;              /* where it was written, for messages */
	int line;
	char **folders;          /* names or patterns; NULL-terminated */
	struct mt_cond *cond;
	enum mt_action action;
	char *target;            /* move/copy */
	char *account;           /* move/copy to a folder of this other account of mailtool.conf, or NULL */
	int dated;               /* with account: target names %Y %m %d of each message's INTERNALDATE */
	int create;              /* create (and subscribe) a missing target */
	int cont;                /* continue: later rules see the message too */
	char *flag, *unflag;     /* "\\Flagged $Invoice" as sent to STORE, or NULL */
	int uses_flags;          /* the condition reads flags (incremental runs then look at changes) */
};

struct mt_ruleset {
	struct mt_rule *v;
	size_t n;
	uint64_t body_limit;     /* bytes of each message a body regex reads */
	struct mt_re_limits re_limits;  /* regex_match_limit, regex_depth_limit, regex_heap_limit */
	uint64_t hash;           /* of the rules' text: a changed rule set means a full run */
};

/* Read rules from the `rules` list of a libconfig file (mailtool.conf or a
 * rule file) and compile their regexes. A bad rule is an MT_ECONFIG error
 * "FILE:LINE: rule 'NAME': what" and nothing else is kept. */
int mt_rules_load(const char *path, struct mt_ruleset *rs, struct mt_err *e);
void mt_rules_release(struct mt_ruleset *rs);

/* A rule's compiled condition (query.h), with the rule language's own
 * policy: mail flagged \Deleted is left alone unless the rule names it. */
void mt_rule_query(const struct mt_rule *r, int within, time_t now, struct mt_query *q);

/* Add what deciding the rule wholly here reads (a small incremental scope
 * is decided here for every rule at once, exact ones too). */
void mt_rule_needs(const struct mt_rule *r, struct mt_needs *n);

/* Decide a rule on one fetched message (header block and body prefix as
 * fetched): 1 it matches, 0 it does not, -1 a regular expression could not
 * be decided (a PCRE2 limit or error: *why says which) where that could
 * change the answer. -1 is never "no match": the caller leaves the message
 * alone, says so, and exits non-zero. */
int mt_rule_match(const struct mt_rule *r, const struct mt_fetched *m, time_t now, const char **why);

/* Print the plan of every rule (SEARCH, fetched fields, client checks),
 * everything from the rules file or the server escaped for a terminal.
 * within: the server offers WITHIN (OLDER/YOUNGER). folders: per rule the
 * folders it reads on the server (nfolders[i] of them), or NULL when they
 * were not looked up (then the patterns are printed as written); why (or
 * NULL): per rule NULL, or why a run would refuse that rule's folders. */
void mt_rules_explain(const struct mt_ruleset *rs, int within, char **const *folders, const size_t *nfolders,
		      const char *const *why, FILE *f);

#endif
