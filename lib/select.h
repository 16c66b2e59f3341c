/* select.h — the library's side of choosing and changing messages: open a
 * folder (folder.c), ask it which UIDs match, always within what was asked
 * (SEARCH), fetch what a decision or a report reads (fetch.c), pick the
 * messages of one folder by a compiled condition (select.c), and remove,
 * move, copy or flag exactly those UIDs (exec.c). What to ask is compiled
 * above the library (filters/query.h); the library only runs it. */
#ifndef MT_SELECT_H
#define MT_SELECT_H

#include "session.h"
#include "../mail/mail.h"

#include <time.h>

enum { MT_F_SEEN = 1, MT_F_ANSWERED = 2, MT_F_FLAGGED = 4, MT_F_DELETED = 8, MT_F_DRAFT = 16 };

/* ---- folders -------------------------------------------------------------- */

struct mt_folder_state {
	uint32_t uidvalidity, uidnext, exists;
	uint64_t highestmodseq;  /* 0 when the server has no CONDSTORE */
	int marked;              /* FLAGS names the mark of a move without MOVE (mt_recover_moves) */
};

/* SELECT (or EXAMINE when readonly) a UTF-8 folder, with CONDSTORE when the
 * server offers it; *wire (owned) is the name as sent. Test hook: the command
 * in MAILTOOL_TEST_HOOK_AFTER_SELECT runs once the folder is open (so tests
 * can deliver mail between the SELECT and what follows). */
int mt_open_folder(struct mt_session *s, const char *folder, int readonly, char **wire,
		   struct mt_folder_state *st, struct mt_err *e);

/* Folder arguments (names or LIST patterns; with recursive their subtrees) to
 * selectable folder names. An argument matching nothing is an error. */
int mt_expand_folders(struct mt_session *s, const char *const *args, size_t nargs, int recursive,
		      char ***out, size_t *nout, struct mt_err *e);
/* The same, where an argument naming nothing is not an error: missed (nargs
 * entries, the caller's) says for each 0 (it named a folder), MT_ARG_NONE
 * (nothing) or MT_ARG_NOSELECT (only folders that cannot be opened, such as
 * a \\Noselect parent); the others are expanded all the same. */
enum { MT_ARG_NONE = 1, MT_ARG_NOSELECT = 2 };
int mt_expand_folders_missed(struct mt_session *s, const char *const *args, size_t nargs, int recursive,
			     unsigned char *missed, char ***out, size_t *nout, struct mt_err *e);
void mt_free_folders(char **v, size_t n);

/* The folder with a special-use flag ("\\Trash"), or by its well-known name
 * where the server marks none; NULL when there is none. Owned by caller. */
int mt_special_folder(struct mt_session *s, const char *use, char **folder, char **wire, struct mt_err *e);

/* ---- asking which UIDs ------------------------------------------------------ */

/* UID SEARCH in the selected folder, sent as "UID SCOPE CRITERIA": sorted,
 * without duplicates, owned by the caller. Whatever the answer names outside
 * the scope is dropped, so no action ever reaches a UID that was not asked
 * about. mt_uid_search's scope is what the folder's SELECT/EXAMINE saw (UIDs
 * below the UIDNEXT it reported: mail arriving later is a later run's);
 * _range narrows it to lo..hi (hi 0: up to that UIDNEXT); _in is an explicit
 * sorted set. An empty scope costs no round trip. */
int mt_uid_search(struct mt_session *s, const char *criteria, uint32_t **uids, size_t *n, struct mt_err *e);
int mt_uid_search_range(struct mt_session *s, uint32_t lo, uint32_t hi, const char *criteria, uint32_t **uids,
			size_t *n, struct mt_err *e);
int mt_uid_search_in(struct mt_session *s, const uint32_t *set, size_t nset, const char *criteria, uint32_t **uids,
		     size_t *n, struct mt_err *e);
/* UID SORT (keys) UTF-8 criteria, within the same scope as mt_uid_search:
 * the UIDs in the server's order, those outside the scope and repeats
 * dropped; owned by the caller. MT_EUNAVAIL when the server has no SORT. */
int mt_uid_sort(struct mt_session *s, const char *keys, const char *criteria, uint32_t **uids, size_t *n,
		struct mt_err *e);
/* The UIDNEXT the selected folder's SELECT/EXAMINE reported (0 unknown). */
uint32_t mt_selected_uidnext(const struct mt_session *s);

/* UIDs of messages whose flags changed after modseq (CONDSTORE: UID FETCH
 * 1:* (UID) (CHANGEDSINCE modseq)), within what the SELECT saw as
 * mt_uid_search; sorted, owned by the caller. */
int mt_uid_changed_since(struct mt_session *s, uint64_t modseq, uint32_t **uids, size_t *n, struct mt_err *e);

/* ---- fetching ----------------------------------------------------------------- */

/* What to FETCH for each message (UID always). */
struct mt_fetch_spec {
	int size, date, flags;
	const char *const *headers;  /* HEADER.FIELDS of these (NULL-terminated), or NULL */
	int all_headers;             /* the whole header instead */
	uint64_t body_prefix;        /* BODY.PEEK[]<body_offset.N> when > 0 */
	uint64_t body_offset;
	int body_whole;              /* BODY.PEEK[] (the caller keeps batches small) */
	uint64_t changed_since;      /* > 0: only messages whose flags changed after this MODSEQ (CONDSTORE) */
	int structure;               /* BODYSTRUCTURE, read into body_plain */
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
	int body_plain;              /* with structure: every text part is 7bit, 8bit or binary in a charset
				      * every server reads (see mt_uid_search_text) */
};

/* FETCH uids (sorted) in batches (smaller ones when bodies are fetched, so
 * memory stays bounded), calling cb for each message the server returns
 * that was asked for. uids NULL: every message the folder's SELECT saw
 * (1:*, within its UIDNEXT), in one command: for changed_since. Never sets
 * \Seen. A non-zero cb return stops with it. */
int mt_fetch_each(struct mt_session *s, const uint32_t *uids, size_t n, const struct mt_fetch_spec *spec,
		  int (*cb)(const struct mt_fetched *m, void *ctx), void *ctx, struct mt_err *e);

/* The text keys of a SEARCH (SUBJECT "lit", HEADER f "lit", BODY "lit")
 * are a superset of what a rule matches only where the server reads the
 * text as the rule does. It does not always: it decodes encoded words and
 * bodies its own way and answers "no match" where it cannot (Dovecot 2.3:
 * an unknown charset or an RFC 2231 language tag in an encoded word, a
 * damaged base64 part, an unknown transfer encoding), where a rule reads
 * what the sender wrote. So of the messages `loose` (the same criteria
 * without the text keys) names and the answer left out, the raw fields and
 * the BODYSTRUCTURE are read, and every message the server may have read
 * otherwise is added: a field with an encoded word, 8-bit or control bytes;
 * a text part that is not 7bit, 8bit or binary in US-ASCII, UTF-8,
 * ISO-8859-n or windows-125n. */
struct mt_text_keys {
	const char *loose;                /* NULL: the criteria have no text keys */
	const char *const *fields;        /* the header fields the keys name (NULL-terminated), or NULL */
	int all_headers;                  /* ... or the whole header */
	int body;                         /* BODY keys */
};
/* UID SEARCH criteria within scope (NULL: what the SELECT saw), made sound
 * for text keys as above (t NULL: the plain search). *uids sorted, owned. */
int mt_uid_search_text(struct mt_session *s, const uint32_t *scope, size_t nscope, const char *criteria,
		       const struct mt_text_keys *t, uint32_t **uids, size_t *n, struct mt_err *e);

/* ---- the largest messages ------------------------------------------------------ */

struct mt_sized {
	uint32_t uid;
	uint32_t size;          /* 0 when SORT chose it (the listing's FETCH says) */
};

/* The `top` largest messages of the selected folder that match criteria
 * (a SEARCH key, "ALL" for all), largest first, equal sizes by UID: one UID
 * SORT (REVERSE SIZE) when use_sort and the server has SORT; else the UIDs
 * the SEARCH names and their RFC822.SIZE in batches, kept in a heap of
 * `top` (memory: the UID list and `top` entries, never the messages).
 * *out (owned, up to top entries) in that order. */
int mt_largest(struct mt_session *s, const char *criteria, size_t top, int use_sort, struct mt_sized **out,
	       size_t *n, struct mt_err *e);

/* ---- picking the messages of a folder -------------------------------------------- */

struct mt_msg {
	uint32_t uid;
	uint32_t size;          /* 0 unless fetched */
	time_t internaldate;    /* 0 unless fetched */
	time_t date;            /* Date header, 0 when absent, unparsable or not fetched */
	char *from;             /* decoded UTF-8, owned, may be NULL */
	char *subject;          /* decoded UTF-8, owned, may be NULL */
};

struct mt_selection {
	char *folder;           /* UTF-8, owned */
	char *wire;             /* owned */
	uint32_t uidvalidity;
	struct mt_msg *msgs;    /* owned, sorted by UID */
	size_t n;
	uint64_t bytes;         /* of what was fetched with its size */
	int searched_on_server; /* how the candidates were found (for -v) */
	char *search;           /* the SEARCH criteria sent, owned */
};

/* A compiled condition as the library runs it: the SEARCH, then (unless
 * fetch_none) a FETCH of the candidates and the caller's check on each. */
struct mt_pick {
	const char *search;
	struct mt_text_keys text;  /* the search's text keys (mt_uid_search_text) */
	int fetch_none;          /* the SEARCH answer is the selection */
	struct mt_fetch_spec fetch;
	/* 1 take it, 0 (or -1: undecided, the caller has said so) leave it */
	int (*decide)(const struct mt_fetched *m, void *ctx);
	void *ctx;
};

/* Open `folder` (EXAMINE when readonly, else SELECT), then pick. Never sets \Seen. */
int mt_select(struct mt_session *s, const char *folder, int readonly, const struct mt_pick *p,
	      struct mt_selection *out, struct mt_err *e);
void mt_selection_release(struct mt_selection *sel);

/* Size, INTERNALDATE and the decoded From and Subject (and the Date field)
 * of these UIDs (sorted), in one FETCH a batch: *out (owned, free with
 * mt_msgs_free) holds those the server answered, in its order. */
int mt_fetch_summaries(struct mt_session *s, const uint32_t *uids, size_t n, struct mt_msg **out, size_t *nout,
		       struct mt_err *e);
void mt_msgs_free(struct mt_msg *v, size_t n);

/* ---- changing exactly those -------------------------------------------------------- */

/* Remove exactly sel's UIDs: re-SELECT and compare UIDVALIDITY (nothing is
 * removed if it changed), then UID STORE +FLAGS.SILENT (\Deleted) and UID
 * EXPUNGE of those UIDs (UIDPLUS), or with `to_wire` UID MOVE (or UID COPY +
 * the same exact expunge). Without UIDPLUS it refuses unless allow_unsafe.
 * *removed: messages the server reported expunged. */
int mt_remove_selection(struct mt_session *s, struct mt_selection *sel, const char *to_wire,
			int allow_unsafe, uint64_t *removed, uint64_t *bytes, struct mt_err *e);

/* Finish what a killed COPY-fallback move left behind (servers without MOVE,
 * see MOVING_KEYWORD in select_int.h): an original still marked in a source whose
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

/* UID STORE +FLAGS.SILENT (add) or -FLAGS.SILENT of a flag list such as
 * "\\Flagged $Invoice", and UID COPY to a folder, in UID batches. */
int mt_uid_store(struct mt_session *s, const uint32_t *uids, size_t n, int add, const char *flags, struct mt_err *e);
int mt_uid_copy(struct mt_session *s, const uint32_t *uids, size_t n, const char *to_wire, struct mt_err *e);

/* Test hook: when MAILTOOL_TEST_HOOK_BEFORE_REMOVE is set, its command runs
 * (with MAILTOOL_TEST_FOLDER and MAILTOOL_PID set) between selection and removal, so tests can
 * change the folder under a run (e.g. delete and recreate it). */
void mt_test_hook_before_remove(const char *folder);

#endif
