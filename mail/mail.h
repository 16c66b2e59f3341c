/* mail.h — a message's text as a person reads it, from its raw bytes: header
 * fields (folding undone, RFC 2047 decoded, the Date parsed) and the decoded
 * text of its text parts. Pure functions: no session, no I/O, no printing.
 * lib/ (local mail archives), filters/ (rules) and the applets share them. */
#ifndef MT_MAIL_H
#define MT_MAIL_H

#include <stddef.h>
#include <time.h>

/* Walk the fields of a raw header block (folded lines joined, up to the
 * blank line): cb(name, name length, raw value, value length); a non-zero
 * return stops the walk and is returned. */
int mt_header_fields(const char *h, size_t len,
		     int (*cb)(const char *name, size_t nlen, const char *value, size_t vlen, void *ctx), void *ctx);

/* The first value of header `name` in a raw header block (or a whole
 * message), decoded (RFC 2047) and unfolded; owned, NULL when absent. */
char *mt_header_get(const char *block, size_t len, const char *name);

/* Decode an RFC 2047 header value (unfolding first) to UTF-8, control
 * characters as blanks; owned by the caller. */
char *mt_decode_header(const char *raw, size_t len);

/* A Date field's value (RFC 5322) as UTC seconds; 0 when it cannot be read. */
time_t mt_header_date(const char *value, size_t len);

/* Broken-down time with a zone like -0130 (given as -130) to UTC seconds; 0
 * when a field is out of range (a year past 9999, a zone past +-9959). */
time_t mt_zoned_time(int year, int month, int day, int hour, int min, int sec, int zone);

/* The decoded text of a message's text parts (transfer encodings undone,
 * charsets converted to UTF-8), from a raw (possibly truncated) message; owned. */
char *mt_body_text(const char *msg, size_t len);

#endif
