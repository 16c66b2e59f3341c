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
	char *flags;             /* flag/unflag: "\\Flagged $Invoice"; create: special use or NULL;
				  * setquota: "RESOURCE VALUE ..."; owned */
	/* what the executor did */
	int ran;                 /* carried out (to the end) */
	char *refused;           /* with keep_going: why the server refused this one; owned */
	uint64_t done;           /* messages the server reports done (expunged, moved; stored and copied: n) */
	uint64_t done_bytes;
};

struct mt_plan {
	struct mt_op *v;
	size_t n, cap;
	int allow_unsafe;        /* without UIDPLUS, expunge anyway (takes others' \Deleted mail too) */
	int keep_going;          /* an op the server refuses (a NO: MT_EUNAVAIL) is marked and the rest run */
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

#endif
