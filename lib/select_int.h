/* select_int.h — what lib's folder, fetch, selection and removal code
 * share inside the library (folder.c, fetch.c, select.c, exec.c, imap.c). */
#ifndef MT_SELECT_INT_H
#define MT_SELECT_INT_H

#include "select.h"
#include "session_int.h"

/* UIDs per FETCH/STORE/EXPUNGE: few round trips, bounded memory and line length */
#define UID_BATCH 5000

/* Without MOVE a move is UID COPY, then \\Deleted and UID EXPUNGE of the
 * originals; this keyword marks what such a move has in hand (exec.c). */
#define MOVING_KEYWORD "$MailtoolMoving"

void mt_sort_unique_u32(uint32_t *v, size_t *n);

/* UIDs a server answer may name: an explicit sorted set, or lo..hi (hi 0:
 * no upper bound known); empty: nothing. */
struct mt_scope {
	const uint32_t *set;
	size_t n;
	uint32_t lo, hi;
	int empty;
};
int mt_scope_has(const struct mt_scope *sc, uint32_t uid);
/* The selected folder's scope (UIDs below its SELECT's UIDNEXT), narrowed to lo..hi. */
struct mt_scope mt_selected_scope(const struct mt_session *s, uint32_t lo, uint32_t hi);

struct mailimap_set *mt_uid_set_of(const uint32_t *uids, size_t n);
time_t mt_imap_time(const struct mailimap_date_time *d);

/* The one SELECT/EXAMINE of the library: wire name, read-write or not, with
 * CONDSTORE when asked and offered; st filled (may be NULL). A server that
 * refuses the folder: *refused = 1 and an error the caller may word again. */
int mt_open_wire(struct mt_session *s, const char *wire, const char *folder, int rw, int condstore,
		 struct mt_folder_state *st, int *refused, struct mt_err *e);

/* The test suite's hooks (MAILTOOL_TEST_HOOK_*): run the command the variable names. */
void mt_test_hook(const char *var, const char *folder);

#endif
