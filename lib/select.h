/* select.h — choose messages in a folder (server-side SEARCH first, then
 * client-side checks on the few fields fetched) and remove or move exactly
 * those UIDs. Shared by every applet that deletes or moves mail. */
#ifndef MT_SELECT_H
#define MT_SELECT_H

#include "session.h"

#include <time.h>

/* What SEARCH can decide on the server. Unset fields are 0 / -1. */
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
	int want_headers;       /* fetch From and Subject (decoded) */
	int want_dates;         /* fetch INTERNALDATE (and with by_date_header, Date) */
};

struct mt_msg {
	uint32_t uid;
	uint32_t size;
	time_t internaldate;
	time_t date;            /* Date header, 0 when absent or unparsable */
	char *from;             /* decoded UTF-8, owned, may be NULL */
	char *subject;          /* decoded UTF-8, owned, may be NULL */
};

/* Optional client-side check on each candidate; return 1 to keep it. */
typedef int (*mt_msg_filter)(const struct mt_msg *m, void *ctx);

struct mt_selection {
	char *folder;           /* UTF-8, owned */
	char *wire;             /* owned */
	uint32_t uidvalidity;
	struct mt_msg *msgs;    /* owned, sorted by UID */
	size_t n;
	uint64_t bytes;
	int searched_on_server; /* how the candidates were found (for -v) */
	char *search;           /* the SEARCH criteria sent, owned */
};

/* Open `folder` (EXAMINE when readonly, else SELECT), SEARCH, FETCH what the
 * decision needs in UID batches, apply `filter`. Never sets \Seen. */
int mt_select_messages(struct mt_session *s, const char *folder, const struct mt_criteria *c,
		       int readonly, mt_msg_filter filter, void *fctx, struct mt_selection *out,
		       struct mt_err *e);
void mt_selection_release(struct mt_selection *sel);

/* Remove exactly sel's UIDs: re-SELECT and compare UIDVALIDITY (nothing is
 * removed if it changed), then UID STORE +FLAGS.SILENT (\Deleted) and UID
 * EXPUNGE of those UIDs (UIDPLUS), or with `to_wire` UID MOVE (or UID COPY +
 * the same exact expunge). Without UIDPLUS it refuses unless allow_unsafe.
 * *removed: messages the server reported expunged. */
int mt_remove_selection(struct mt_session *s, struct mt_selection *sel, const char *to_wire,
			int allow_unsafe, uint64_t *removed, uint64_t *bytes, struct mt_err *e);

/* Finish what a killed COPY-fallback move left behind (servers without MOVE,
 * see MOVING_KEYWORD in select.c): an original still marked in a source whose
 * marked copy is in one of the targets is expunged (the move was done up to
 * that); one without a copy only loses the mark, to be moved afresh; then
 * no copy keeps the mark. Sources are folder names (UTF-8), targets wire
 * names; a missing folder is skipped. *finished counts the moves completed.
 * A no-op on servers with MOVE (no run of ours marks anything there) unless
 * `even_with_move`: a run without MOVE (another server version, a tunnel
 * with other capabilities) may have left marks that one with MOVE meets. */
int mt_recover_moves(struct mt_session *s, const char *const *sources, size_t nsrc,
		     const char *const *targets, size_t ntgt, int even_with_move, uint64_t *finished,
		     struct mt_err *e);

/* The folder with a special-use flag ("\\Trash"), or NULL. Owned by caller. */
int mt_special_folder(struct mt_session *s, const char *use, char **folder, char **wire, struct mt_err *e);

/* Walk the fields of a raw header block (folded lines joined, up to the
 * blank line): cb(name, name length, raw value, value length); a non-zero
 * return stops the walk and is returned. */
int mt_header_fields(const char *h, size_t len,
		     int (*cb)(const char *name, size_t nlen, const char *value, size_t vlen, void *ctx), void *ctx);

/* The first value of header `name` in a raw header block (or a whole
 * message), decoded (RFC 2047) and unfolded; owned, NULL when absent. */
char *mt_header_get(const char *block, size_t len, const char *name);

/* Decode an RFC 2047 header value (unfolding first) to UTF-8; owned by caller. */
char *mt_decode_header(const char *raw, size_t len);

/* Test hook: when MAILTOOL_TEST_HOOK_BEFORE_REMOVE is set, its command runs
 * (with MAILTOOL_TEST_FOLDER and MAILTOOL_PID set) between selection and removal, so tests can
 * change the folder under a run (e.g. delete and recreate it). */
void mt_test_hook_before_remove(const char *folder);

/* Criteria from the common removal options (--deleted, --older, ...);
 * *given counts the criteria named. */
int mt_criteria_from_args(const struct mt_args *a, struct mt_criteria *c, int *given, struct mt_err *e);
/* "YYYY-MM-DD" as UTC midnight. */
int mt_parse_date(const char *s, time_t *out);

/* Folder arguments (names or LIST patterns; with recursive their subtrees) to
 * selectable folder names. An argument matching nothing is an error. */
int mt_expand_folders(struct mt_session *s, const char *const *args, size_t nargs, int recursive,
		      char ***out, size_t *nout, struct mt_err *e);
void mt_free_folders(char **v, size_t n);

/* The result table of removing applets: folder, action, messages, size. */
void mt_report_init(struct mt_table *t, enum mt_fmt fmt, int human);
void mt_report_row(struct mt_table *t, const char *folder, const char *action, uint64_t n, uint64_t bytes);
/* One line per selected message: folder, uid, date, size, from, subject. */
void mt_report_messages(const struct mt_selection *sel, enum mt_fmt fmt, int human, FILE *f);

/* ---- lower-level pieces for the rule engine (cmd/filter.c) ---------------- */

struct mt_folder_state {
	uint32_t uidvalidity, uidnext, exists;
	uint64_t highestmodseq;  /* 0 when the server has no CONDSTORE */
	int marked;              /* FLAGS names the mark of a move without MOVE (mt_recover_moves) */
};

/* SELECT (or EXAMINE when readonly) a UTF-8 folder, with CONDSTORE when the
 * server offers it; *wire (owned) is the name as sent. */
int mt_open_folder(struct mt_session *s, const char *folder, int readonly, char **wire,
		   struct mt_folder_state *st, struct mt_err *e);

/* UID SEARCH in the selected folder; sorted results, owned by the caller. */
int mt_uid_search(struct mt_session *s, const char *criteria, uint32_t **uids, size_t *n, struct mt_err *e);

/* UIDs of messages whose flags changed after modseq (CONDSTORE: UID FETCH
 * 1:* (UID) (CHANGEDSINCE modseq)); sorted, owned by the caller. */
int mt_uid_changed_since(struct mt_session *s, uint64_t modseq, uint32_t **uids, size_t *n, struct mt_err *e);

enum { MT_F_SEEN = 1, MT_F_ANSWERED = 2, MT_F_FLAGGED = 4, MT_F_DELETED = 8, MT_F_DRAFT = 16 };

/* What to FETCH for each message (UID always). */
struct mt_fetch_spec {
	int size, date, flags;
	const char *const *headers;  /* HEADER.FIELDS of these (NULL-terminated), or NULL */
	int all_headers;             /* the whole header instead */
	uint64_t body_prefix;        /* BODY.PEEK[]<body_offset.N> when > 0 */
	uint64_t body_offset;
	int body_whole;              /* BODY.PEEK[] (the caller keeps batches small) */
};

/* One fetched message; everything is borrowed for the callback's duration. */
struct mt_fetched {
	uint32_t uid, size;
	time_t internaldate;
	unsigned sysflags;           /* MT_F_* */
	const char *const *keywords; /* NULL-terminated */
	const char *header;          /* raw header block, may be NULL */
	size_t header_len;
	const char *body;            /* raw message prefix, may be NULL (NIL, or not sent) */
	size_t body_len;
	uint32_t body_origin;        /* where the server says the body text starts (BODY[]<N>; 0 when it gave none) */
};

/* FETCH uids (sorted) in batches (smaller ones when bodies are fetched, so
 * memory stays bounded), calling cb for each message the server returns
 * that was asked for. Never sets \Seen. A non-zero cb return stops with it. */
int mt_fetch_each(struct mt_session *s, const uint32_t *uids, size_t n, const struct mt_fetch_spec *spec,
		  int (*cb)(const struct mt_fetched *m, void *ctx), void *ctx, struct mt_err *e);

/* UID STORE +FLAGS.SILENT (add) or -FLAGS.SILENT of a flag list such as
 * "\\Flagged $Invoice", and UID COPY to a folder, in UID batches. */
int mt_uid_store(struct mt_session *s, const uint32_t *uids, size_t n, int add, const char *flags, struct mt_err *e);
int mt_uid_copy(struct mt_session *s, const uint32_t *uids, size_t n, const char *to_wire, struct mt_err *e);

#endif
