/* idle.c — waiting for mail: IDLE and NOTIFY on sessions of lib/session.c,
 * read line by line here (libetpan's own IDLE calls neither wait on several
 * connections at once nor bound the wait for DONE's answer). */
#include "idle.h"
#include "session_int.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>

/* What one line from the server means to a waiting client. *tagged: the
 * line is a command's tagged answer (*ok: it said OK); *cont: a continuation. */
static unsigned classify(const char *l, int *tagged, int *ok, int *cont)
{
	*tagged = *cont = 0;
	if (l[0] == '+') {
		*cont = 1;
		return MT_NOTICE_ALIVE;
	}
	if (strncmp(l, "* ", 2) != 0) {
		/* "tag OK ...": the word after the tag */
		const char *w = l + strcspn(l, " ");
		*tagged = 1;
		*ok = strncasecmp(w, " OK", 3) == 0;
		return MT_NOTICE_ALIVE;
	}
	l += 2;
	if (strncasecmp(l, "BYE", 3) == 0)
		return MT_NOTICE_ALIVE | MT_NOTICE_LOST;
	/* a STATUS of a watched folder; a LIST: a folder was created, renamed
	 * or deleted (NOTIFY's MailboxName), which a pattern may name */
	if (strncasecmp(l, "STATUS ", 7) == 0 || strncasecmp(l, "LIST ", 5) == 0)
		return MT_NOTICE_ALIVE | MT_NOTICE_MAIL;
	if (isdigit((unsigned char)*l)) {
		while (isdigit((unsigned char)*l))
			l++;
		if (strncasecmp(l, " EXISTS", 7) == 0 || strncasecmp(l, " RECENT", 7) == 0)
			return MT_NOTICE_ALIVE | MT_NOTICE_MAIL;
	}
	return MT_NOTICE_ALIVE;
}

/* Bytes already read from the socket but not yet parsed (stream buffer,
 * TLS record, inflate): poll on the socket would not see them. */
static int buffered(const struct mt_session *s)
{
	return (s->imap->imap_stream && s->imap->imap_stream->read_buffer_len > 0) ||
	       (s->conn.ssl && SSL_pending(s->conn.ssl) > 0) ||
	       (s->conn.compress && (s->conn.zin_pending || s->conn.zin.avail_in > 0));
}

/* One whole response line (literals included), or NULL when the
 * connection failed within the session's per-read limit. */
static const char *read_line(struct mt_session *s)
{
	return s->imap && s->imap->imap_stream ? mailimap_read_line(s->imap) : NULL;
}

static int send_raw(struct mt_session *s, const char *line, int tagged)
{
	mailstream *ms = s->imap->imap_stream;
	if (tagged && mailimap_send_current_tag(s->imap) != MAILIMAP_NO_ERROR)
		return MAILIMAP_ERROR_STREAM;
	if (mailstream_write(ms, line, strlen(line)) < 0 || mailstream_write(ms, "\r\n", 2) < 0 || mailstream_flush(ms) == -1)
		return MAILIMAP_ERROR_STREAM;
	return MAILIMAP_NO_ERROR;
}

int mt_notify_set(struct mt_session *s, const char *const *folders, size_t n, int *refused, struct mt_err *e)
{
	/* the command's fixed words, then each quoted name and a blank */
	static const char head[] = "NOTIFY SET (mailboxes (",
			  /* and the personal namespace's folders coming and going: a
			   * folder a rule's pattern names may be created while watching */
			  tail[] = ") (MessageNew MessageExpunge)) (personal (MailboxName))";
	size_t len = sizeof head + sizeof tail;
	char **q = mt_xmalloc(sizeof *q * (n ? n : 1));
	int r = MT_OK, status = MT_RESP_BAD;
	*refused = 0;
	for (size_t i = 0; i < n; i++) {
		char *wire = NULL;
		if ((r = mt_mailbox_wire(s, folders[i], &wire, e)) != MT_OK) {
			for (size_t k = 0; k < i; k++)
				free(q[k]);
			free(q);
			return r;
		}
		q[i] = mt_imap_quote(wire);   /* (mt_mailbox_wire refused CR and LF) */
		free(wire);
		len += strlen(q[i]) + 1;
	}
	char *cmd = mt_xmalloc(len), *o = cmd;
	o = stpcpy(o, head);
	for (size_t i = 0; i < n; i++)
		o = stpcpy(stpcpy(o, i ? " " : ""), q[i]);
	strcpy(o, tail);
	r = mt_imap_run(s, cmd, 0, NULL, &status, e);
	if (r == MT_OK && status != MT_RESP_OK)
		*refused = 1;
	for (size_t i = 0; i < n; i++)
		free(q[i]);
	free(q);
	free(cmd);
	return r;
}

int mt_idle_start(struct mt_session *s, int *refused, unsigned *notices, struct mt_err *e)
{
	int tagged, ok, cont;
	*refused = 0;
	if (send_raw(s, "IDLE", 1) != MAILIMAP_NO_ERROR)
		return mt_imap_error(s, MAILIMAP_ERROR_STREAM, "IDLE", e);
	/* (what the server says before its continuation may be new mail) */
	for (int lines = 0; lines < 100000; lines++) {
		const char *l = read_line(s);
		if (l == NULL)
			return mt_imap_error(s, MAILIMAP_ERROR_STREAM, "IDLE", e);
		unsigned what = classify(l, &tagged, &ok, &cont);
		*notices |= what & ~MT_NOTICE_LOST;
		if (cont)
			return MT_OK;
		if (tagged) {
			*refused = 1;
			return MT_OK;
		}
		if (what & MT_NOTICE_LOST)
			return mt_seterr(e, MT_ETEMP, "IDLE: the server said BYE");
	}
	return mt_seterr(e, MT_EPROTO, "IDLE: no continuation after 100000 lines");
}

/* Read what session s has to say now (a line at a time while bytes wait). */
static void drain(struct mt_session *s, unsigned *notices, double *at)
{
	int tagged, ok, cont;
	do {
		const char *l = read_line(s);
		if (l == NULL) {
			*notices |= MT_NOTICE_LOST;
			return;
		}
		unsigned what = classify(l, &tagged, &ok, &cont);
		/* a tagged line while idling: the server ended IDLE (or is broken) */
		if (tagged || cont)
			what |= MT_NOTICE_LOST;
		if ((what & MT_NOTICE_MAIL) && at && *at == 0)
			*at = mt_now_ms();
		*notices |= what;
	} while (!(*notices & MT_NOTICE_LOST) && buffered(s));
}

void mt_idle_wait(struct mt_session *const *v, size_t n, int ms, unsigned *notices, double *at)
{
	struct pollfd *p = mt_xmalloc(sizeof *p * (n ? n : 1));
	size_t *which = mt_xmalloc(sizeof *which * (n ? n : 1));
	double end = mt_now_ms() + ms;
	for (;;) {
		unsigned any = 0;
		size_t np = 0;
		for (size_t i = 0; i < n; i++) {
			if (!(notices[i] & MT_NOTICE_LOST) && buffered(v[i]))
				drain(v[i], &notices[i], at);
			any |= notices[i];
		}
		if (any & (MT_NOTICE_MAIL | MT_NOTICE_LOST))
			break;
		double left = end - mt_now_ms();
		if (left <= 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (!(notices[i] & MT_NOTICE_LOST)) {
				p[np] = (struct pollfd){ .fd = v[i]->conn.fd, .events = POLLIN };
				which[np++] = i;
			}
		int r = poll(p, np, left > 2147483647.0 ? 2147483647 : (int)left + 1);
		if (r <= 0)
			break;   /* the time is up, or a signal for the caller to look at */
		for (size_t k = 0; k < np; k++)
			if (p[k].revents)
				drain(v[which[k]], &notices[which[k]], at);
	}
	free(p);
	free(which);
}

/* Run with the per-read limit of the session lowered to limit_ms. */
static double limit_push(struct mt_session *s, double limit_ms)
{
	double saved = s->conn.idle_ms;
	if (limit_ms > 0 && (saved <= 0 || limit_ms < saved))
		s->conn.idle_ms = limit_ms;
	return saved;
}

int mt_idle_done(struct mt_session *s, double limit_ms, unsigned *notices, struct mt_err *e)
{
	int tagged, ok, cont, r = MT_OK;
	double saved = limit_push(s, limit_ms), t0 = mt_now_ms();
	if (send_raw(s, "DONE", 0) != MAILIMAP_NO_ERROR) {
		r = mt_imap_error(s, MAILIMAP_ERROR_STREAM, "DONE", e);
		goto out;
	}
	for (int lines = 0;; lines++) {
		const char *l = mt_now_ms() - t0 < limit_ms ? read_line(s) : NULL;
		if (l == NULL) {
			r = mt_seterr(e, MT_ETEMP, "IDLE: no answer to DONE within %.0f ms: a silent connection", limit_ms);
			break;
		}
		unsigned what = classify(l, &tagged, &ok, &cont);
		*notices |= what & ~MT_NOTICE_LOST;
		if (tagged) {
			if (!ok)
				r = mt_seterr(e, MT_EPROTO, "IDLE: the server refused it when it ended");
			break;
		}
		if (what & MT_NOTICE_LOST) {
			r = mt_seterr(e, MT_ETEMP, "IDLE: the server said BYE");
			break;
		}
		if (lines > 100000) {
			r = mt_seterr(e, MT_EPROTO, "IDLE: no answer to DONE after 100000 lines");
			break;
		}
	}
out:
	s->conn.idle_ms = saved;
	return r;
}

int mt_session_probe(struct mt_session *s, double limit_ms, struct mt_err *e)
{
	int status = MT_RESP_BAD;
	double saved = limit_push(s, limit_ms);
	int r = mt_imap_run(s, "NOOP", 0, NULL, &status, e);
	s->conn.idle_ms = saved;
	if (r == MT_OK && status != MT_RESP_OK)
		r = mt_seterr(e, MT_EPROTO, "NOOP: the server refused it: %s", mt_imap_last_text(s));
	return r;
}
