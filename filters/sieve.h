/* sieve.h — the second backend of the one condition language: a rule set
 * (rules.h) compiled to a Sieve script (RFC 5228) that does at delivery
 * what `filter` does to stored mail. Refuses, per rule and with a reason,
 * whatever Sieve cannot say with the same meaning (ages, stored flags,
 * PCRE2 constructs without an exact POSIX ERE equivalent). No I/O. */
#ifndef MT_FILTERS_SIEVE_H
#define MT_FILTERS_SIEVE_H

#include "rules.h"

#include <stddef.h>

/* The first line of every compiled script begins with this: what tells
 * mailtool's own scripts on a server from the user's. */
#define MT_SIEVE_MARK "# compiled by mailtool filter --sieve"

struct mt_sieve_refusal {
	const struct mt_rule *rule;   /* in the rule set compiled */
	char *why;                    /* owned: "older: an age means nothing at delivery" */
};

struct mt_sieve_out {
	char *script;                 /* owned; NULL when nothing could be compiled */
	char **requires;              /* owned, NULL-terminated: the extensions the script uses */
	struct mt_sieve_refusal *refused;   /* owned, nrefused of them */
	size_t nrefused;
};

struct mt_sieve_target {
	const char *const *extensions; /* the server's SIEVE capability words: a rule needing one the
					* server lacks is refused; NULL: do not check */
	const char *trash;             /* the folder `trash` files into (the \Trash folder), or NULL */
	const char *no_trash;          /* NULL trash: why none is known (the refusal's reason) */
	int skip_unsupported;          /* compile the rest and list what was left out */
};

/* MT_OK with out->script (and out->refused listing rules left out when
 * skip_unsupported); MT_EDATA when a rule cannot be compiled with the same
 * meaning and skip_unsupported is off (out->refused says which and why), or
 * when the server lacks an extension the script needs (e says which). */
int mt_sieve_compile(const struct mt_ruleset *rs, const struct mt_sieve_target *t, struct mt_sieve_out *out,
		     struct mt_err *e);
void mt_sieve_out_release(struct mt_sieve_out *out);

#endif
