/* config.h — accounts from mailtool.conf (libconfig syntax), merged with
 * command-line overrides into one resolved account. */
#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include "mt.h"

enum mt_tls { MT_TLS_UNSET, MT_TLS_IMPLICIT, MT_TLS_STARTTLS, MT_TLS_NONE };
enum mt_auth { MT_AUTH_AUTO, MT_AUTH_PLAIN, MT_AUTH_LOGIN };
enum mt_imp { MT_IMP_AUTHZID, MT_IMP_MASTER_LOGIN };

struct mt_account {
	char *name;             /* account name, or "command line" */
	char *host;
	int port;               /* 0 = default for the TLS mode */
	enum mt_tls tls;
	char *tunnel;           /* command, or NULL */
	char *user;
	char *as_user;          /* --as: act as this user (impersonation) */
	enum mt_auth auth;
	enum mt_imp impersonation;
	char *master_separator; /* for MT_IMP_MASTER_LOGIN, default "*" */
	char *ca_file;
	char *fingerprint;      /* "sha256:<hex>" */
	char *password_command;
	char *password_file;
	int allow_plaintext_auth;
	int compress;           /* 1 = use COMPRESS=DEFLATE when offered, 0 = never,
				 * -1 = auto: not to loopback peers or tunnels, where
				 * deflating costs the server more than it saves */
	double connect_timeout; /* seconds */
	double idle_timeout;    /* seconds without any byte from the server */
	double deadline;        /* seconds for the whole run, 0 = none */
	double persist;         /* keep the session this long for later runs, 0 = no */
	char *config_file;      /* where it came from, or NULL */
};

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
void mt_account_release(struct mt_account *a);

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
