/* applet.h — what the dispatcher hands every applet: parsed options, the
 * resolved account and, for session applets, an authenticated session. */
#ifndef MT_APPLET_H
#define MT_APPLET_H

#include "../lib/config.h"
#include "../lib/mt.h"
#include "../lib/session.h"

struct mt_ctx {
	const struct mt_applet *ap;
	struct mt_args args;
	struct mt_config cfg;
	struct mt_account acct;
	struct mt_session *s;       /* NULL unless the applet has MT_APPLET_SESSION */
	enum mt_fmt fmt;
	int verbose;
	struct mt_err err;          /* why the session could not be opened (see session_failed) */
};

/* Run an applet as the dispatcher does (batch runs many this way). */
int mt_run_applet(const struct mt_applet *ap, int argc, char **argv);
/* While on, sessions stay open after an applet and are reused by the next
 * applet with the same account (batch mode); off closes them all. */
void mt_session_cache(int on);

/* --persist: hand this run to the background process holding the account's
 * session (starting it if needed); -1 when it must run here after all. */
int mt_persist_run(struct mt_ctx *ctx, double idle_s, int argc, char **argv);

/* --users FILE: run `one` for each user (in child processes, -j at a time,
 * --shard K/N), print one result per user and a summary. */
int mt_run_users(struct mt_ctx *ctx, int (*one)(struct mt_ctx *ctx, const char *user));
/* --shard K/N parsing and membership (FNV-1a of the user name, mod N). */
int mt_parse_shard(const char *s, unsigned *k, unsigned *n);
int mt_in_shard(const char *user, unsigned k, unsigned n);

/* Print "mailtool APPLET: message" on stderr and return code. */
int mt_fail(struct mt_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same line for a note or warning (-v figures, a skipped folder): no exit code. */
void mt_warn(struct mt_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same for an mt_err. */
int mt_fail_err(struct mt_ctx *ctx, const struct mt_err *e);

#endif
