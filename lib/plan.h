/* plan.h — a change to a mailbox, planned whole before any of it is made,
 * and the one executor that carries it out. Applets choose (tool/choose.c),
 * build a plan, validate it, print it for --dry-run (the real run's report
 * is the same rows with what was done), and hand it here. The executor
 * re-selects every source folder and refuses a changed UIDVALIDITY, moves
 * with UID MOVE or a guarded COPY then the exact UID EXPUNGE, never touches
 * a UID the plan does not name, and counts what the server says is done. */
#ifndef MT_PLAN_H
#define MT_PLAN_H

#include "select.h"

enum mt_op_kind {
	MT_OP_CREATE,        /* create folder (with a special use where offered) and subscribe it */
	MT_OP_SUBSCRIBE,     /* subscribe folder */
	MT_OP_UNSUBSCRIBE,   /* unsubscribe folder */
	MT_OP_FLAG,          /* UID STORE +FLAGS.SILENT (flags) of uids in folder */
	MT_OP_UNFLAG,        /* UID STORE -FLAGS.SILENT (flags) */
	MT_OP_COPY,          /* UID COPY uids to target */
	MT_OP_MOVE,          /* UID MOVE uids to target (or the guarded COPY + exact UID EXPUNGE) */
	MT_OP_EXPUNGE,       /* UID STORE \Deleted + UID EXPUNGE of exactly uids */
	MT_OP_SETQUOTA,      /* SETQUOTA folder (a quota root) (flags: "STORAGE 1024 MESSAGE 500") */
};

/* Why a message of a copy or move to another account was left in the source. */
enum mt_skip_why {
	MT_SKIP_NUL = 1,     /* its text holds a NUL byte, which an APPEND cannot carry */
	MT_SKIP_SIZE,        /* its text is not the size the server reported (RFC822.SIZE) */
	MT_SKIP_NOBODY,      /* the server sent no text for it, though it is still there */
	MT_SKIP_GONE,        /* it was expunged meanwhile (by another client) */
	MT_SKIP_UNCONFIRMED, /* appended, but no copy of it was found on reading the target back */
};

struct mt_skip {
	uint32_t uid, size;      /* size: as the server reported it */
	enum mt_skip_why why;
	uint64_t got;            /* MT_SKIP_SIZE: the size of the text the server sent */
	char *target;            /* the folder it was going to (a dated op's own); owned */
};

/* A sentence for why (no final full stop). */
const char *mt_skip_reason(enum mt_skip_why why);

struct mt_op {
	enum mt_op_kind kind;
	char *label;             /* what asked for it (a rule, a step), for reports; owned, may be NULL */
	char *folder;            /* UTF-8: the source folder, or the folder/root the op is about; owned */
	char *wire;              /* the source as the server names it (message ops); owned */
	uint32_t uidvalidity;    /* message ops: as the folder was when it was chosen from */
	uint32_t *uids;          /* sorted; owned */
	uint32_t *sizes;         /* the size of each, or NULL; owned */
	size_t n;
	uint64_t bytes;          /* of uids, when sizes are known */
	char *target;            /* copy/move: UTF-8; owned */
	char *account;           /* copy/move/create/subscribe: on this other account (mt_plan.dest), or NULL; owned */
	int dated;               /* with account: target is a template (%Y %m %d of each message's INTERNALDATE,
				  * UTC); each folder it names is created and subscribed there when missing */
	char *flags;             /* flag/unflag: "\\Flagged $Invoice"; create: special use or NULL;
				  * setquota: "RESOURCE VALUE ..."; owned */
	/* what the executor did */
	int ran;                 /* carried out (to the end) */
	char *refused;           /* with keep_going: why the server refused this one; owned */
	uint64_t done;           /* messages the server reports done (expunged, moved; stored and copied: n) */
	uint64_t done_bytes;
	uint64_t found, found_bytes;  /* to another account: copies already there (an interrupted run's) */
	struct mt_skip *skipped;  /* to another account: messages left in the source, in UID order per target; owned */
	size_t nskipped;
	uint64_t skipped_bytes;
};

struct mt_plan {
	struct mt_op *v;
	size_t n, cap;
	int allow_unsafe;        /* without UIDPLUS, expunge anyway (takes others' \Deleted mail too) */
	int keep_going;          /* an op the server refuses (a NO: MT_EUNAVAIL) is marked and the rest run */
	/* The session of another account (op->account), opened by the caller
	 * on first use and kept by it: MT_OK and *out, or an error. */
	int (*dest)(void *arg, const char *account, struct mt_session **out, struct mt_err *e);
	void *dest_arg;
	int dry_run;             /* mt_plan_run only reads: the counts of a cross-account op are what a run would do */
};

/* A new op at the end (zeroed, kind set); the plan owns what it points to. */
struct mt_op *mt_plan_add(struct mt_plan *p, enum mt_op_kind kind);
/* A message op on a folder as it was chosen from (its name, wire name and
 * UIDVALIDITY) over these uids (sorted) and their sizes (or NULL), copied
 * into the op. */
struct mt_op *mt_plan_add_uids(struct mt_plan *p, enum mt_op_kind kind, const char *folder, const char *wire,
			       uint32_t uidvalidity, const uint32_t *uids, const uint32_t *sizes, size_t n);
void mt_plan_release(struct mt_plan *p);

/* Check what can be checked without changing anything: every op's folder and
 * target name usable, UIDPLUS (or MOVE) present where an expunge needs it.
 * MT_OK, or the first problem (nothing has changed). */
int mt_plan_check(struct mt_session *s, const struct mt_plan *p, struct mt_err *e);

/* Carry the plan out in order; stops at the first error (later ops keep ran
 * = 0), but with keep_going only at one that is not the server refusing
 * that op. Op by op, ran/done/done_bytes/refused say what happened. */
int mt_plan_run(struct mt_session *s, struct mt_plan *p, struct mt_err *e);

/* A copy or move of op's messages to op->target on the session d of
 * another account (lib/xfer.c): APPEND with flags and INTERNALDATE
 * (MULTIAPPEND and LITERAL+ where offered), each copy confirmed by
 * APPENDUID under the target's UIDVALIDITY or fetched back and compared,
 * then for a move UID STORE \Deleted + UID EXPUNGE of exactly the
 * confirmed originals. Copies an interrupted earlier run made (same size,
 * Message-ID and SHA-256 of the text) count as made and are not appended
 * again. dry: only reads, the same text a real run reads (done: what would
 * be copied; found: of those, already there; skipped: what would stay). op->done/done_bytes: copied (copy) or removed from the
 * source (move); op->found: of them, found there already. */
int mt_xfer_run(struct mt_session *s, struct mt_session *d, struct mt_op *op, int dry, int allow_unsafe,
		struct mt_err *e);

#endif
