/* mime.c — the text a body regex reads: the text (text/any) parts of a message
 * (possibly truncated at the body limit), transfer encodings undone and
 * charsets converted to UTF-8, using libetpan's MIME parser and charconv
 * (iconv). Non-text parts (attachments) are skipped. */
#include "mail.h"

#include "../lib/mt.h"

#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct buf {
	char *s;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->s == NULL || b->n + n + 2 > b->cap) {
		b->cap = (b->n + n + 2) * 2;
		b->s = mt_xrealloc(b->s, b->cap);
	}
	/* a NUL in decoded text (quoted-printable =00, base64) is a control
	 * character like any other: a blank, so the text after it is read */
	for (size_t i = 0; i < n; i++)
		b->s[b->n + i] = s[i] ? s[i] : ' ';
	b->n += n;
	b->s[b->n++] = '\n';
	b->s[b->n] = '\0';
}

static int part_encoding(const struct mailmime *mm)
{
	if (mm->mm_mime_fields == NULL)
		return MAILMIME_MECHANISM_8BIT;
	for (clistiter *it = mm->mm_mime_fields->fld_list ? clist_begin(mm->mm_mime_fields->fld_list) : NULL; it;
	     it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING && f->fld_data.fld_encoding)
			return f->fld_data.fld_encoding->enc_type;
	}
	return MAILMIME_MECHANISM_8BIT;
}

static int is_text(const struct mailmime *mm)
{
	const struct mailmime_content *ct = mm->mm_content_type;
	if (ct == NULL || ct->ct_type == NULL)
		return 1;   /* RFC 2045: text/plain by default */
	return ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE && ct->ct_type->tp_data.tp_discrete_type &&
	       ct->ct_type->tp_data.tp_discrete_type->dt_type == MAILMIME_DISCRETE_TYPE_TEXT;
}

static void walk(const struct mailmime *mm, struct buf *out, int depth)
{
	/* as deep as a sender nests: the parse above it already took that
	 * much, and a text part deeper than a bound would go unread */
	if (mm == NULL || depth > 2000)
		return;
	switch (mm->mm_type) {
	case MAILMIME_SINGLE: {
		const struct mailmime_data *d = mm->mm_data.mm_single;
		if (d == NULL || d->dt_type != MAILMIME_DATA_TEXT || !is_text(mm))
			return;
		size_t idx = 0, len = 0;
		char *dec = NULL;
		const char *text = d->dt_data.dt_text.dt_data;
		size_t tlen = d->dt_data.dt_text.dt_length;
		int freed_dec = 0;
		if (mailmime_part_parse(text, tlen, &idx, part_encoding(mm), &dec, &len) == MAILIMF_NO_ERROR && dec) {
			text = dec;
			tlen = len;
			freed_dec = 1;
		}
		const char *cs = mm->mm_content_type ? mailmime_content_charset_get(mm->mm_content_type) : "us-ascii";
		char *conv = NULL;
		size_t clen = 0;
		if (cs && strcasecmp(cs, "utf-8") != 0 && strcasecmp(cs, "us-ascii") != 0 &&
		    charconv_buffer("utf-8", cs, text, tlen, &conv, &clen) == MAIL_CHARCONV_NO_ERROR && conv) {
			buf_add(out, conv, clen);   /* by its length: it may hold a NUL */
			charconv_buffer_free(conv);
		} else {
			buf_add(out, text, tlen);
		}
		if (freed_dec)
			mmap_string_unref(dec);
		return;
	}
	case MAILMIME_MULTIPLE:
		for (clistiter *it = mm->mm_data.mm_multipart.mm_mp_list ? clist_begin(mm->mm_data.mm_multipart.mm_mp_list) : NULL;
		     it; it = clist_next(it))
			walk(clist_content(it), out, depth + 1);
		return;
	case MAILMIME_MESSAGE:
		walk(mm->mm_data.mm_message.mm_msg_mime, out, depth + 1);
		return;
	}
}

char *mt_body_text(const char *msg, size_t len)
{
	struct mailmime *mm = NULL;
	size_t idx = 0;
	struct buf out = { 0 };
	/* libetpan 1.9's quoted-printable decoder reads past the end of a part
	 * that ends in "=X" (found by tests/fuzz/fuzz_body.c; a fetched prefix
	 * <0.N> can end anywhere): parse a copy followed by NUL padding. */
	char *copy = mt_xmalloc(len + 16);
	memcpy(copy, msg, len);
	if (mailmime_parse(copy, len, &idx, &mm) == MAILIMF_NO_ERROR && mm) {
		walk(mm, &out, 0);
		mailmime_free(mm);
	}
	free(copy);
	if (out.s == NULL)
		out.s = mt_xstrdup("");
	return out.s;
}
