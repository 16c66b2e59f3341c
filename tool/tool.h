/* tool.h — the command-line layer, and what the dispatcher hands every applet: parsed options, the
 * resolved account and, for session applets, an authenticated session. */
#ifndef MT_TOOL_H
#define MT_TOOL_H

#include "../lib/mt.h"
#include "../lib/select.h"
#include "../lib/session.h"
#include "config.h"

/* ---- option tables ---------------------------------------------------- */

enum mt_opt_kind { MT_FLAG, MT_COUNT, MT_ARG, MT_MULTI };

struct mt_opt {
	const char *lng;      /* long name without dashes */
	char shrt;            /* short letter or 0 */
	enum mt_opt_kind kind;
	const char *metavar;  /* for MT_ARG: e.g. "SIZE" */
	const char *help;
	const char *complete; /* completion hint: "folder", "account", "file", "cmd", or "w1 w2 ..." */
};

#define MT_OPT_END { .lng = NULL }
#define MT_MAXOPTS 64

/* Parsed values, indexed like the merged option list. */
struct mt_args {
	const struct mt_opt *opt[MT_MAXOPTS];
	const char *val[MT_MAXOPTS];  /* last value (MT_ARG) */
	int count[MT_MAXOPTS];        /* times given */
	const char **multi[MT_MAXOPTS]; /* MT_MULTI values, NULL-terminated, owned */
	int nopts;
	int argc;                     /* positional arguments */
	char **argv;
};

/* ---- applets ---------------------------------------------------------- */

struct mt_session;
struct mt_ctx;

enum {
	MT_APPLET_SESSION = 1 << 0,  /* dispatcher opens an authenticated session first */
	MT_APPLET_FRESH = 1 << 1,    /* a session of its own, never a kept or cached one (info tests the login) */
	MT_APPLET_ACCOUNT = 1 << 2,  /* the common options and the account (--users too), but the
				      * applet opens its own connection (sieve: ManageSieve) */
};

struct mt_applet {
	const char *name;
	const char *summary;         /* one line for `mailtool --help` */
	const char *usage;           /* synopsis after the applet name */
	const char *description;     /* a paragraph for --help */
	const struct mt_opt *opts;
	/* completion hints for positional arguments: the first, and the rest
	 * ("folder", or a list of words); NULL = nothing to offer */
	const char *complete_first;
	const char *complete_rest;
	int flags;
	int (*main)(struct mt_ctx *ctx);
	/* optional: validate arguments before any connection is made (bad input
	 * must be refused before anything is sent to a server) */
	int (*check)(struct mt_ctx *ctx);
	/* optional: free what check left in ctx->state (the applet's options,
	 * parsed once, typed) when the run ends */
	void (*release)(void *state);
	/* optional: report a failed session open in the applet's own way (e.g. monitoring) */
	int (*session_failed)(struct mt_ctx *ctx);
};

/* Each cmd/NAME.c registers itself; the dispatcher walks the linker section,
 * so there is no hand-kept central list of applets. */
#define MT_APPLET(var) \
	static const struct mt_applet *const var##_entry \
	__attribute__((used, section("mt_applets"), aligned(sizeof(void *)))) = &var

/* Sorted applet table (built once from the section). */
const struct mt_applet *const *mt_applets(size_t *n);
const struct mt_applet *mt_applet_find(const char *name);

/* Options every applet that talks to a server accepts. */
extern const struct mt_opt mt_common_opts[];

int mt_args_parse(struct mt_args *a, const struct mt_applet *ap, int argc, char **argv,
		  struct mt_err *e);
/* How many leading words of argv are common options and their values;
 * -1 - I when the option at argv[I] lacks its value. */
int mt_common_prefix(int argc, char **argv);
void mt_args_release(struct mt_args *a);
const char *mt_arg(const struct mt_args *a, const char *lng);  /* value or NULL */
int mt_flag(const struct mt_args *a, const char *lng);         /* times given */
const char *const *mt_args_multi(const struct mt_args *a, const char *lng);
void mt_applet_help(FILE *f, const struct mt_applet *ap);
void mt_applet_complete_options(FILE *f, const struct mt_applet *ap);
/* "first<TAB>hint" and "rest<TAB>hint" lines for positional arguments. */
void mt_applet_complete_args(FILE *f, const struct mt_applet *ap);

/* ---- output ----------------------------------------------------------- */

/* The version of the --json/--tsv format (mailtool(1), OUTPUT): every JSON
 * record carries it, so a line read alone still says what it is. */
#define MT_SCHEMA 1

enum mt_fmt { MT_FMT_HUMAN, MT_FMT_JSON, MT_FMT_TSV };
enum mt_coltype { MT_COL_STR, MT_COL_NUM, MT_COL_SIZE, MT_COL_PCT, MT_COL_BOOL };

struct mt_col {
	const char *name;     /* JSON/TSV field name and header */
	enum mt_coltype type;
	int machine;          /* only in JSON and TSV, not in the human table */
};

struct mt_cell {
	char *s;              /* owned; NULL = absent/unknown */
	long long n;
	int has;
	int label;            /* s is for people only ("(total)"): null in JSON and TSV */
};

struct mt_table {
	const struct mt_col *cols;
	int ncols;
	struct mt_cell *cells;  /* rows * ncols, owned */
	const char **row_type;  /* per row: NULL, or a record type other than the table's */
	int rows, cap;
	const char *type;       /* the record type of its rows ("folder"): JSON "type", TSV's only one */
	enum mt_fmt fmt;
	int human;              /* -h: sizes in KiB/MiB/GiB */
	int no_header;
	int vertical;           /* human format: "name: value" lines (one record) */
};

void mt_table_init(struct mt_table *t, const struct mt_col *cols, int ncols, enum mt_fmt fmt, int human);
int mt_table_row(struct mt_table *t);               /* returns the new row index */
/* A row of another record type ("total"): in JSON with that type, shown to
 * people, and left out of TSV, whose stream holds the table's type only. */
int mt_table_row_type(struct mt_table *t, const char *type);
void mt_table_str(struct mt_table *t, int row, int col, const char *s);
void mt_table_num(struct mt_table *t, int row, int col, long long n);
void mt_table_bool(struct mt_table *t, int row, int col, int b);
/* Text shown to people in place of a value that is absent (null) for scripts. */
void mt_table_label(struct mt_table *t, int row, int col, const char *s);
/* Nothing done, said to a non-terminal in human format: print nothing (the
 * cron rule of the applets that change mail, mailtool(1) OUTPUT). */
int mt_quiet_nothing(const struct mt_ctx *ctx, uint64_t done);
void mt_table_print(struct mt_table *t, FILE *f);
void mt_table_release(struct mt_table *t);

/* JSON string escaping into f (with quotes). */
void mt_json_str(FILE *f, const char *s);
/* Escape into buf; returns length needed (like snprintf). */
size_t mt_json_escape(char *buf, size_t len, const char *s);

/* ---- progress on a terminal ------------------------------------------- */

struct mt_progress {
	const char *what;
	const char *unit;        /* after the count ("messages"), or NULL */
	uint64_t total, done;    /* total 0: not known */
	uint64_t bytes_total, bytes;   /* shown when set; bytes_total decides the ETA */
	double t0, last;
	int on, shown;
};

/* enabled: the caller's say (not -q); the line appears only on a terminal.
 * Set unit and bytes_total after starting, when there are any. */
void mt_progress_start(struct mt_progress *p, const char *what, uint64_t total, int enabled);
void mt_progress_step(struct mt_progress *p, uint64_t n);
void mt_progress_add(struct mt_progress *p, uint64_t n, uint64_t bytes);
void mt_progress_end(struct mt_progress *p);


struct mt_dest;

struct mt_ctx {
	const struct mt_applet *ap;
	struct mt_args args;
	struct mt_config cfg;
	struct mt_account acct;
	struct mt_session *s;       /* NULL unless the applet has MT_APPLET_SESSION */
	enum mt_fmt fmt;
	int verbose;
	struct mt_err err;          /* why the session could not be opened (see session_failed) */
	struct mt_session *failed;  /* then, what the attempt learned (for session_failed), or NULL */
	const char *user;           /* in a --users child: the user it runs for (as --as) */
	const char *user_host;      /* ... and the server its entry names (HOST[:PORT]), or NULL */
	void *state;                /* what check parsed for main (ap->release frees it) */
	int offline;                /* set by check: this run needs no session (s stays NULL) */
	struct mt_dest *dests;      /* sessions of other accounts (copies and moves there), owned */
	size_t ndests;
};

/* A session of another account of the configuration, for copies and moves
 * to it (mt_plan.dest): opened on first use, with the run's --trace, and
 * acting as the run's --as (or --users) user when there is one; reopened
 * (once per call) when its server dropped it since the last use (a long run,
 * filter --watch); closed when the run ends. MT_OK and *out, or an error: an unknown account is
 * MT_ECONFIG. */
int mt_dest_session(void *ctx, const char *account, struct mt_session **out, struct mt_err *e);
/* Resolve the account only (no connection): MT_OK, or MT_ECONFIG with why. */
int mt_dest_account_check(struct mt_ctx *ctx, const char *account, struct mt_err *e);

/* Run an applet as the dispatcher does (batch runs many this way). */
int mt_run_applet(const struct mt_applet *ap, int argc, char **argv);
/* While on, sessions stay open after an applet and are reused by the next
 * applet with the same account (batch mode); off closes them all. */
void mt_session_cache(int on);

/* Hand this run to a live background process holding a session of the
 * same key (mt_session_key), starting one when idle_s > 0 (--persist); -1
 * when it must run here after all (none, a dead one, a busy one). */
struct mt_runner {
	int (*applet)(const struct mt_applet *ap, int argc, char **argv);   /* mt_run_applet */
	void (*cache)(int on);                                              /* mt_session_cache */
};
int mt_persist_run(struct mt_ctx *ctx, double idle_s, int argc, char **argv, const struct mt_runner *run);
/* A socket's log beside it (in mt_runtime_dir), and one question to a
 * process (STATUS, STOP): 0 and its answer, -1 when nobody is there (a
 * stale socket), 1 when it is busy serving a run. */
char *mt_persist_log_path(const char *sock);
int mt_persist_ask(const char *path, const char *what, char *reply, size_t len);

/* --users FILE: run `one` for each user (in child processes, -j at a time,
 * --shard K/N), print one result per user and a summary. acct_host and
 * acct_port: the account's server (NULL: a tunnel, or unknown; 0: unknown),
 * which entries without a server (or a port) of their own reach. */
int mt_run_users(struct mt_ctx *ctx, int (*one)(struct mt_ctx *ctx, const char *user), const char *acct_host,
		 int acct_port);
/* A server a users file entry names: HOST, HOST:PORT, [V6] or [V6]:PORT;
 * 0 with *host owned and *port 0 when the account's port applies, -1 when
 * it is none. */
int mt_parse_backend(const char *s, char **host, int *port);

/* --shard K/N parsing and membership (FNV-1a of the user name, mod N). */
int mt_parse_shard(const char *s, unsigned *k, unsigned *n);
int mt_in_shard(const char *user, unsigned k, unsigned n);

/* The one key that names an account (host, port, TLS, user, --as, tunnel,
 * configuration file): session cache, persist sockets, --new state, locks.
 * Owned; one line. */
char *mt_account_key(const struct mt_account *a);
/* Everything a logged-in session depends on: the account key and the trust
 * (CA file and what it holds, pin, the system store's environment), the
 * authentication and impersonation settings, the password's source, the
 * Unix user. A kept session (batch, --persist) serves only a run whose key
 * is the same, byte for byte. Owned; never written anywhere. */
char *mt_session_key(const struct mt_account *a);
/* A certificate pin as given ("sha256:" or "sha256=", 64 hex digits, the
 * colons of openssl's form allowed) as the transport compares it
 * ("sha256:" and lower-case hex); owned, or NULL when it is not one. */
char *mt_fingerprint_pin(const char *v);
/* The user's private directories (made 0700 if need be, and refused unless
 * they are the user's own and 0700): $XDG_STATE_HOME/mailtool (or
 * ~/.local/state/mailtool) for state between runs, $XDG_RUNTIME_DIR/mailtool
 * (or /tmp/mailtool-UID) for sockets. Owned, or NULL and e set. */
char *mt_state_dir(struct mt_err *e);
char *mt_runtime_dir(struct mt_err *e);
/* The lock of PURPOSE ("compact", "filter") for the box the run's session
 * reached (user, server address, port), in $MAILTOOL_LOCK_DIR, else
 * /run/mailtool for root, else mt_state_dir's locks/: *fd holds it (LOCK_EX) on MT_OK. Held by another
 * process: without busy, MT_ETEMP said on stderr; with busy, *busy = 1 and
 * *fd open but not locked, for the caller to retry flock on. */
int mt_account_lock(struct mt_ctx *ctx, const char *purpose, int *fd, int *busy);
/* The runtime directory when it is there already (and good), else NULL:
 * a run that only looks for a kept session makes nothing. */
char *mt_runtime_dir_found(void);
/* The key that signs the flag lines of mbox exports (archive.key in the
 * state directory, 32 random bytes, mode 0600): 1 and key set; 0 when there
 * is none and create is 0; with create, made when missing. -1 and e set
 * when it cannot be read or made. */
int mt_archive_key(unsigned char key[32], int create, struct mt_err *e);

/* The rule file of a run: -f FILE, else the configuration file (read here:
 * an applet's check runs before the dispatcher loads it). Owned, or NULL
 * and ctx->err set. */
char *mt_rules_path(struct mt_ctx *ctx);

/* Print "mailtool APPLET: message" on stderr and return code. */
int mt_fail(struct mt_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same line for a note or warning (-v figures, a skipped folder): no exit code. */
void mt_warn(struct mt_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same for an mt_err. */
int mt_fail_err(struct mt_ctx *ctx, const struct mt_err *e);

/* ---- folder arguments ------------------------------------------------------ */

/* LIST of each positional argument as a pattern (none: '*'), merged in the
 * order given, each folder once. A pattern given that matches nothing is named on
 * stderr and counted in *unmatched, and the others are still listed; with
 * `selectable`, so is one that matches only folders that cannot be opened
 * (a \Noselect parent). mailtool(1): the run then exits 65 (EX_DATAERR)
 * when the rest is done. MT_OK, or the error of a LIST (ctx->err). */
int mt_list_args(struct mt_ctx *ctx, int selectable, struct mt_mailboxes *out, int *unmatched);
/* The same rule for applets that act on folders: the positional arguments
 * (names or patterns; with recursive their subtrees) as selectable folder
 * names (mt_expand_folders_missed), every argument that names nothing said
 * on stderr and counted. MT_OK, or the error of a LIST (ctx->err). */
int mt_expand_args(struct mt_ctx *ctx, int recursive, char ***out, size_t *nout, int *unmatched);
/* The error (65) those lines say, for an applet that has one argument only. */
int mt_unmatched_err(struct mt_err *e, const char *arg, int parent_only);

/* ---- choosing messages ----------------------------------------------------- */

struct mt_cond;

/* What an applet asks of one folder: the condition (NULL: every message),
 * and what its report or a later step reads of each chosen message. */
struct mt_choice {
	const struct mt_cond *cond;
	int readonly;
	int size;               /* RFC822.SIZE of each (reports in bytes) */
	int dates;              /* INTERNALDATE (with by_date_header, the Date field too) */
	int by_date_header;
	int from_subject;       /* From, Subject, Date and INTERNALDATE (listings) */
	uint64_t body_limit;    /* bytes of the body a body condition reads */
	int (*keep)(uint32_t uid, void *arg);   /* a further say, or NULL */
	void *arg;
	uint64_t undecided;     /* out: messages a regex could not decide (left alone, named) */
};
/* Compile the condition for this server and pick the folder's messages. */
int mt_choose(struct mt_ctx *ctx, struct mt_session *s, const char *folder, struct mt_choice *ch,
	      struct mt_selection *out, struct mt_err *e);

/* The common removal options (--deleted, --older, ...) as parsed, before
 * they become a condition tree. Unset fields are 0 / -1. */
struct mt_criteria {
	int deleted;            /* only \Deleted */
	int undeleted;          /* only mail not flagged \Deleted */
	int include_flagged;    /* else NOT FLAGGED */
	int seen;               /* -1 any, 0 unseen, 1 seen */
	int64_t older;          /* seconds, -1 unset */
	int64_t newer;          /* seconds, -1 unset */
	time_t before;          /* 0 unset: date before (UTC midnight) */
	uint64_t larger;        /* 0 unset: strictly larger than */
	uint64_t smaller;       /* 0 unset: strictly smaller than */
	int by_date_header;     /* ages/dates by the Date header instead of INTERNALDATE */
};
/* Criteria from the common removal options (--deleted, --older, ...);
 * *given counts the criteria named. */
int mt_criteria_from_args(const struct mt_args *a, struct mt_criteria *c, int *given, struct mt_err *e);
/* The same as a condition tree (owned; NULL: every message). */
struct mt_cond *mt_criteria_cond(const struct mt_criteria *c);
/* The result table of removing applets: folder, action, messages, size. */
void mt_report_init(struct mt_table *t, enum mt_fmt fmt, int human);
void mt_report_row(struct mt_table *t, const char *folder, const char *action, uint64_t n, uint64_t bytes);
/* Their total: a "total" record, "(total)" to people (a folder may have that name). */
void mt_report_total(struct mt_table *t, const char *action, uint64_t n, uint64_t bytes);
/* One line per selected message: folder, uid, date, size, from, subject;
 * *header_done says a TSV header went out already (then set). */
void mt_report_messages(const struct mt_selection *sel, enum mt_fmt fmt, int human, int *header_done, FILE *f);
/* The same records one at a time (du --messages): a table of type
 * `message`, and a row of it; absent values (no date, From, Subject) null. */
void mt_report_messages_init(struct mt_table *t, enum mt_fmt fmt, int human);
void mt_report_message_row(struct mt_table *t, const char *folder, uint32_t uid, time_t internaldate, uint64_t size,
			   const char *from, const char *subject);
/* After the listings: a --tsv stream that listed nothing still gets its header. */
void mt_report_messages_end(enum mt_fmt fmt, int *header_done, FILE *f);
/* What a copy or move to another account left in the source (op->skipped,
 * lib/plan.h): one line per message on stderr (folder, UID, why); returns
 * how many. */
struct mt_op;
uint64_t mt_report_skips(struct mt_ctx *ctx, const struct mt_op *op);
/* Of them, those left for reason why (1.. until it returns NULL): the
 * action of their report row ("not moved: NUL byte"), and *n, *bytes. */
const char *mt_skip_row(const struct mt_op *op, int why, uint64_t *n, uint64_t *bytes);

#endif
