/* config.h — accounts from mailtool.conf (libconfig syntax), merged with
 * command-line overrides into one resolved account. */
#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include "../lib/account.h"
#include "../lib/mt.h"

struct mt_config {
	void *cfg;              /* config_t *, owned; NULL when no file was found */
	char *path;             /* owned */
};

/* Find and read the configuration. explicit_path may be NULL. A missing file
 * is fine unless it was named explicitly. */
int mt_config_load(struct mt_config *c, const char *explicit_path, struct mt_err *e);
void mt_config_release(struct mt_config *c);

/* Resolve account `name` (NULL = the `default` setting, or the only one;
 * "" = no account: built-in defaults only). */
int mt_config_account(struct mt_config *c, const char *name, struct mt_account *acct, struct mt_err *e);

/* Names of all accounts, for completion; prints one per line. */
void mt_config_list_accounts(struct mt_config *c, FILE *f);

/* Raw libconfig setting lookup for applet sections (e.g. "compact"); NULL if absent. */
void *mt_config_section(struct mt_config *c, const char *name);

/* The `compact` section: what compact does, in order, until the box is small enough. */
struct mt_compact_step {
	char *folder;           /* name or pattern, owned */
	int64_t older;          /* seconds, -1 = any age */
	uint64_t larger;        /* 0 = any size */
};

struct mt_compact_policy {
	double if_over;         /* percent of quota, <0 unset */
	double target;          /* percent of quota, <0 unset */
	uint64_t if_larger;     /* bytes, 0 unset */
	int64_t trash_older;    /* seconds; -1 = leave \Trash alone */
	int64_t junk_older;     /* seconds; -1 = leave \Junk alone */
	int deleted;            /* step 1: expunge \Deleted everywhere */
	struct mt_compact_step *steps;  /* owned */
	size_t nsteps;
};

/* Defaults (deleted everywhere, Trash and Junk older than 30 days) overlaid
 * with the configuration's `compact` section. */
int mt_config_compact(struct mt_config *c, struct mt_compact_policy *p, struct mt_err *e);
void mt_compact_policy_release(struct mt_compact_policy *p);

#endif
