/* idle.h — waiting for mail on open sessions: IDLE (RFC 2177), NOTIFY
 * (RFC 5465) and NOOP probes with a time limit. What the server says while
 * a session waits is sorted into notices; nothing here decides what to do
 * about them, and nothing prints. */
#ifndef MT_IDLE_H
#define MT_IDLE_H

#include "session.h"

enum {
	MT_NOTICE_MAIL = 1 << 0,    /* EXISTS, RECENT, a NOTIFY STATUS or LIST: mail may have arrived */
	MT_NOTICE_ALIVE = 1 << 1,   /* anything at all (keep-alives "* OK Still here" included) */
	MT_NOTICE_LOST = 1 << 2,    /* BYE, closed, timed out, or IDLE ended by the server */
};

/* NOTIFY SET (mailboxes F1 F2 ... (MessageNew MessageExpunge)): the server
 * reports new mail in those folders (UTF-8 names) as untagged STATUS.
 * *refused when it answers NO or BAD (then nothing was set). */
int mt_notify_set(struct mt_session *s, const char *const *folders, size_t n, int *refused, struct mt_err *e);
/* IDLE, up to the server's continuation (within the session's timeout).
 * *refused when the server answers NO or BAD instead; what the server said
 * before the continuation is added to *notices. */
int mt_idle_start(struct mt_session *s, int *refused, unsigned *notices, struct mt_err *e);
/* Wait up to ms on every session of v (each in IDLE) for what its server
 * says; notices[i] gets the MT_NOTICE_* of session i (|=); *at the
 * mt_now_ms() when the first MAIL notice was read (left alone when none).
 * Returns early on a signal, or once some session has a MAIL or LOST notice. */
void mt_idle_wait(struct mt_session *const *v, size_t n, int ms, unsigned *notices, double *at);
/* DONE, and the tagged answer to IDLE within limit_ms (a silent
 * connection is an MT_ETEMP error); notices read on the way are added. */
int mt_idle_done(struct mt_session *s, double limit_ms, unsigned *notices, struct mt_err *e);
/* NOOP answered within limit_ms, or an MT_ETEMP error. */
int mt_session_probe(struct mt_session *s, double limit_ms, struct mt_err *e);

#endif
