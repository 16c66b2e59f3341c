/* archive.c — old mail into dated server folders (Archive/%Y by default), one
 * run for every period, moved with the exact engine of lib/select.c (UID MOVE,
 * or COPY + UID EXPUNGE of exactly the copied UIDs), flags kept. */
#include "../tool/tool.h"
#include "../filters/query.h"
#include "../lib/localmail.h"
#include "../lib/plan.h"
#include "../lib/select.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct mt_opt archive_opts[] = {
	{ .lng = "older", .kind = MT_ARG, .metavar = "DURATION",
	  .help = "mail older than DURATION (required to move on the server)" },
	{ .lng = "before", .kind = MT_ARG, .metavar = "DATE", .help = "mail dated before DATE (YYYY-MM-DD)" },
	{ .lng = "to", .kind = MT_ARG, .metavar = "TEMPLATE",
	  .help = "target folder, strftime %Y %m %d of each message's date (default Archive/%Y)", .complete = "folder" },
	{ .lng = "to-account", .kind = MT_ARG, .metavar = "ACCOUNT",
	  .help = "the --to folders are on this account of mailtool.conf (another server or user)", .complete = "account" },
	{ .lng = "by-date-header", .kind = MT_FLAG, .help = "dates from the Date header, not INTERNALDATE" },
	{ .lng = "seen", .kind = MT_FLAG, .help = "only messages marked \\Seen" },
	{ .lng = "include-flagged", .kind = MT_FLAG, .help = "also archive \\Flagged messages" },
	{ .lng = "recursive", .shrt = 'r', .kind = MT_FLAG, .help = "also every subfolder of each FOLDER" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG,
	  .help = "change nothing, write nothing; show what would move, be exported, removed or appended" },
	{ .lng = "export", .kind = MT_ARG, .metavar = "PATH",
	  .help = "write the mail to a local archive: PATH.mbox, PATH.mbox.gz or a Maildir", .complete = "file" },
	{ .lng = "format", .kind = MT_ARG, .metavar = "FORMAT",
	  .help = "archive format when PATH does not say: mbox, mbox.gz or maildir", .complete = "mbox mbox.gz maildir" },
	{ .lng = "mbox-format", .kind = MT_ARG, .metavar = "FLAVOUR",
	  .help = "mboxrd (export default) or mboxcl2; import: auto (default), mboxrd, mboxo or mboxcl2",
	  .complete = "auto mboxrd mboxo mboxcl2" },
	{ .lng = "layout", .kind = MT_ARG, .metavar = "LAYOUT",
	  .help = "Maildir tree of several folders: fs (default, nested) or maildir++ (.Folder.Sub)",
	  .complete = "fs maildir++" },
	{ .lng = "delete-after-export", .kind = MT_FLAG,
	  .help = "then remove from the server exactly the messages exported and verified" },
	{ .lng = "import", .kind = MT_ARG, .metavar = "PATH",
	  .help = "append the messages of an mbox (.gz), Maildir or .eml directory", .complete = "file" },
	{ .lng = "into", .kind = MT_ARG, .metavar = "FOLDER", .help = "the folder --import appends to", .complete = "folder" },
	{ .lng = "skip-existing", .kind = MT_FLAG, .help = "--import: skip messages whose Message-ID the folder has" },
	{ .lng = "stop-on-error", .kind = MT_FLAG, .help = "--import: stop at the first message the server refuses" },
	{ .lng = "max-message", .kind = MT_ARG, .metavar = "SIZE",
	  .help = "--import: the largest message read (default 256M; never above the server's APPENDLIMIT)" },
	{ .lng = "trust-status-headers", .kind = MT_FLAG,
	  .help = "--import: flags from Status/X-Status/X-Keywords fields (a foreign mbox, an older mailtool's export)" },
	{ .lng = "mbox-timezone", .kind = MT_ARG, .metavar = "ZONE",
	  .help = "--import: zone of From_ line dates: utc (default), local, Europe/Paris, +0100",
	  .complete = "utc local" },
	{ .lng = "date-from", .kind = MT_ARG, .metavar = "SOURCE",
	  .help = "--import: dates from the file (default; Maildir mtime, mbox From_ line), received or date",
	  .complete = "file mtime received date" },
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	MT_OPT_END,
};

/* What check parsed, once, for main: the condition (what goes) and the
 * same with \Flagged mail too, for the "skipped: flagged" count. */
struct archive {
	uint64_t max_message;       /* --import: --max-message, 0 when not given */
	struct mt_cond *cond;       /* NULL: every message (an --export of all) */
	struct mt_cond *with_flagged;   /* the same with \Flagged mail (NULL: every message) */
	int include_flagged;        /* then nothing is skipped for its flag */
	int by_date_header;
};

static void archive_release(void *state)
{
	struct archive *A = state;
	if (A == NULL)
		return;
	mt_cond_free(A->cond);
	mt_cond_free(A->with_flagged);
	free(A);
}

/* Choose a folder's messages, each one's size (and, for --to, its date) read. */
static int choose(struct mt_ctx *ctx, const char *folder, const struct mt_cond *cond, int readonly, int dates,
		  struct mt_selection *sel)
{
	const struct archive *A = ctx->state;
	struct mt_choice ch = { .cond = (struct mt_cond *)cond, .readonly = readonly, .size = 1, .dates = dates,
				.by_date_header = A->by_date_header };
	return mt_choose(ctx, ctx->s, folder, &ch, sel, &ctx->err);
}

/* Why no server creates name as a folder, or NULL: empty; a control
 * character (Dovecot refuses them, and modified UTF-7 has no way to write
 * them as themselves); with the hierarchy delimiter known (delim, else 0),
 * an empty level. --import's dry run and real run both ask this before
 * anything is read, so a dry run never promises an append that the
 * CREATE would refuse. */
static const char *unusable_folder(const char *name, char delim)
{
	size_t n = strlen(name);
	if (n == 0)
		return "empty";
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "a control character";
	if (delim && (name[0] == delim || name[n - 1] == delim || strstr(name, (char[]){ delim, delim, '\0' })))
		return "an empty level: it begins or ends with the hierarchy delimiter, or has two in a row";
	return NULL;
}

static int bad_into(struct mt_ctx *ctx, const char *into, const char *why)
{
	return mt_fail(ctx, MT_EDATA, "bad folder name '%s' for --into: %s; nothing read or changed", into, why);
}

/* The options of local archives that fit --import, --export, both. */
static int local_options_check(struct mt_ctx *ctx, const char *exp, const char *imp, const char *fmt)
{
	const char *mf = mt_arg(&ctx->args, "mbox-format"), *tz = mt_arg(&ctx->args, "mbox-timezone");
	const char *df = mt_arg(&ctx->args, "date-from"), *lay = mt_arg(&ctx->args, "layout");
	int f = mf ? mt_lm_mbox_parse(mf) : MT_LM_AUTO;
	enum mt_lm_fmt lf = exp ? (fmt ? (enum mt_lm_fmt)mt_lm_format_parse(fmt) : mt_lm_format_of(exp)) : MT_LM_MBOX;
	if (!exp && !imp && (mf || lay))
		return mt_fail(ctx, MT_EUSAGE, "--mbox-format and --layout go with --export or --import");
	if (f < 0)
		return mt_fail(ctx, MT_EUSAGE, "--mbox-format '%s': auto, mboxrd, mboxo or mboxcl2", mf);
	if (exp && mf && (f == MT_LM_AUTO || f == MT_LM_MBOXO))
		return mt_fail(ctx, MT_EUSAGE, "--mbox-format %s: an export is mboxrd or mboxcl2 (mboxo would write \"From \" and "
			       "\">From \" lines alike)", mf);
	if (exp && mf && lf == MT_LM_MAILDIR)
		return mt_fail(ctx, MT_EUSAGE, "--mbox-format is for mbox archives, and '%s' is a Maildir", exp);
	if (lay && (strcmp(lay, "fs") != 0 && strcmp(lay, "maildir++") != 0))
		return mt_fail(ctx, MT_EUSAGE, "--layout '%s': fs or maildir++", lay);
	if (lay && (!exp || lf != MT_LM_MAILDIR))
		return mt_fail(ctx, MT_EUSAGE, "--layout is for a Maildir --export");
	if (!imp && (tz || df))
		return mt_fail(ctx, MT_EUSAGE, "--mbox-timezone and --date-from go with --import");
	if (tz && !mt_lm_zone_ok(tz))
		return mt_fail(ctx, MT_EUSAGE, "--mbox-timezone '%s': utc, local, +HHMM/-HHMM, or a zone such as Europe/Paris", tz);
	if (df && mt_lm_datesrc_parse(df) < 0)
		return mt_fail(ctx, MT_EUSAGE, "--date-from '%s': file (or mtime), received or date", df);
	return MT_OK;
}

static int archive_check(struct mt_ctx *ctx)
{
	struct mt_criteria c;
	int given;
	struct archive *A = mt_xmalloc(sizeof *A);
	memset(A, 0, sizeof *A);
	ctx->state = A;
	const char *to = mt_arg(&ctx->args, "to"), *exp = mt_arg(&ctx->args, "export"), *imp = mt_arg(&ctx->args, "import");
	const char *fmt = mt_arg(&ctx->args, "format");
	if (exp && imp)
		return mt_fail(ctx, MT_EUSAGE, "--export and --import exclude each other");
	if (fmt && mt_lm_format_parse(fmt) < 0)
		return mt_fail(ctx, MT_EUSAGE, "--format '%s': mbox, mbox.gz or maildir", fmt);
	if ((exp && !*exp) || (imp && !*imp))
		return mt_fail(ctx, MT_EUSAGE, "--%s: an empty path", exp ? "export" : "import");
	/* --layout says Maildir as --format maildir does */
	if (exp && !fmt && !mt_arg(&ctx->args, "layout") && mt_lm_format_named(exp) < 0)
		return mt_fail(ctx, MT_EUSAGE, "--export '%s': an archive extension mailtool does not write; name it "
			       ".mbox or .mbox.gz, a directory (no extension, .d or .maildir) for a Maildir, or say "
			       "--format", exp);
	if (local_options_check(ctx, exp, imp, fmt) != MT_OK)
		return MT_EUSAGE;
	if (imp) {
		if (ctx->args.argc > 0 || mt_arg(&ctx->args, "into") == NULL)
			return mt_fail(ctx, MT_EUSAGE, "usage: mailtool archive --import PATH --into FOLDER");
		if (mt_arg(&ctx->args, "to-account"))
			return mt_fail(ctx, MT_EUSAGE, "--to-account is for archiving on a server; --import appends to the account of -a");
		const char *why = unusable_folder(mt_arg(&ctx->args, "into"), 0);
		if (why)
			return bad_into(ctx, mt_arg(&ctx->args, "into"), why);
		const char *mm = mt_arg(&ctx->args, "max-message");
		struct mt_err pe;
		if (mm && mt_parse_size(mm, &A->max_message, &pe) != MT_OK)
			return mt_fail(ctx, MT_EUSAGE, "--max-message: %s", pe.msg);
		if (mm && A->max_message == 0)
			return mt_fail(ctx, MT_EUSAGE, "--max-message: must be above 0");
		return MT_OK;
	}
	if (mt_arg(&ctx->args, "into") || mt_flag(&ctx->args, "skip-existing") || mt_flag(&ctx->args, "stop-on-error") ||
	    mt_flag(&ctx->args, "trust-status-headers") || mt_arg(&ctx->args, "max-message"))
		return mt_fail(ctx, MT_EUSAGE, "--into, --skip-existing, --stop-on-error, --trust-status-headers and "
			       "--max-message go with --import");
	if (ctx->args.argc == 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool archive %s", ctx->ap->usage);
	if (!exp && (fmt || mt_flag(&ctx->args, "delete-after-export")))
		return mt_fail(ctx, MT_EUSAGE, "--format and --delete-after-export go with --export");
	if (!exp && mt_arg(&ctx->args, "older") == NULL)
		return mt_fail(ctx, MT_EUSAGE, "--older DURATION is required: archive never takes a whole folder");
	if (exp && to)
		return mt_fail(ctx, MT_EUSAGE, "--to is for archiving on the server, not --export");
	const char *xa = mt_arg(&ctx->args, "to-account");
	if (exp && xa)
		return mt_fail(ctx, MT_EUSAGE, "--to-account is for archiving on a server, not --export");
	if (xa && mt_dest_account_check(ctx, xa, &ctx->err) != MT_OK)
		return mt_fail(ctx, ctx->err.code, "--to-account '%s': %s", xa, ctx->err.msg);
	if (mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	A->cond = mt_criteria_cond(&c);
	A->by_date_header = c.by_date_header;
	A->include_flagged = c.include_flagged;
	if (!c.include_flagged) {
		c.include_flagged = 1;
		A->with_flagged = mt_criteria_cond(&c);
	}
	if (to && !mt_date_template_ok(to))
		return mt_fail(ctx, MT_EDATA, "--to '%s': only %%Y, %%m and %%d may be used, and no CR or LF", to);
	return MT_OK;
}

/* ---- export ------------------------------------------------------------ */

#define BIG_MESSAGE (1u << 20)     /* larger ones are fetched in pieces of this size */
#define BATCH_BYTES (8u << 20)     /* at most this much message text per FETCH */
#define MAX_DOUBTS_SHOWN 10        /* per folder, on stderr */

/* Long enough for a progress line (on a terminal, without -q): more than
 * one FETCH's worth, as du counts its folders. */
static int long_run(struct mt_ctx *ctx, uint64_t n, uint64_t bytes)
{
	return (n > 64 || bytes > BATCH_BYTES) && !mt_flag(&ctx->args, "quiet");
}

/* Where a folder's archive goes: rel below the directory dirfd. */
struct place {
	int dirfd;
	const char *shown;       /* dirfd's name in messages (NULL: the current directory) */
	const char *rel;
	enum mt_lm_fmt fmt;
	unsigned flags;          /* for mt_lm_open: MT_LM_CL2, MT_LM_MAILDIRFOLDER */
};

/* A message whose copy does not match what the server said of it: the
 * server keeps it. */
struct doubt {
	uint32_t uid;
	char *why;
};

/* One message as an archive holds it, or as the server has it: the digest
 * of its text, and its flags and keywords in one comparable string
 * (flags_key). */
struct copy {
	uint32_t uid;                /* the server's; 0 for a message read from an archive */
	unsigned char dig[32];
	char *flags;                 /* owned */
};

struct exporter {
	struct mt_lm_writer *w;
	struct mt_err *e;
	const struct mt_selection *sel;
	int failed;                  /* the archive could not be written */
	uint64_t bytes;              /* message bytes written */
	/* a batch of whole messages: per UID, answered at all, body written */
	const uint32_t *uids;
	size_t n;
	unsigned char *answered, *done;
	/* one big message, in pieces */
	uint32_t uid, fetched_size;
	uint64_t off, got;
	size_t piece_len;
	int begun, piece_answered, piece_body, piece_bad;
	struct doubt *doubts;
	size_t ndoubts;
	struct mt_progress pg;       /* messages and bytes arrived, on a terminal */
	/* an archive in place (export_resume): each message's own digest and
	 * flags too, from a writer of its own that only digests */
	const struct place *each;    /* NULL: not kept */
	struct mt_lm_writer *one;
	uint32_t one_uid;
	char *one_flags;
	struct copy *copies;
	size_t ncopies;
};

static void doubt(struct exporter *x, uint32_t uid, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void doubt(struct exporter *x, uint32_t uid, const char *fmt, ...)
{
	va_list ap;
	char *why = NULL;
	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		abort();
	va_end(ap);
	x->doubts = mt_xrealloc(x->doubts, sizeof *x->doubts * (x->ndoubts + 1));
	x->doubts[x->ndoubts].uid = uid;
	x->doubts[x->ndoubts++].why = why;
}

/* RFC822.SIZE of uid as the selection read it. */
static uint32_t selected_size(const struct mt_selection *sel, uint32_t uid)
{
	size_t lo = 0, hi = sel->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sel->msgs[mid].uid == uid)
			return sel->msgs[mid].size;
		if (sel->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* The address of a From header, for the mbox separator line. */
static char *sender_of(const char *header, size_t len)
{
	char *from = header ? mt_header_get(header, len, "from") : NULL, *addr = NULL, *save = NULL;
	if (from) {
		char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
		if (lt && gt)
			addr = mt_xasprintf("%.*s", (int)(gt - lt - 1), lt + 1);
		else
			for (char *t = strtok_r(from, " \t,", &save); t && !addr; t = strtok_r(NULL, " \t,", &save))
				if (strchr(t, '@'))
					addr = mt_xstrdup(t);
		free(from);
	}
	return addr;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "sysflags keyword keyword..." with the keywords sorted: equal for equal
 * flags whatever order the server or the archive gives them in; owned. */
static char *flags_key(unsigned sysflags, const char *const *keywords)
{
	size_t n = 0, len = 16;
	while (keywords && keywords[n])
		len += strlen(keywords[n++]) + 1;
	const char **v = mt_xmalloc(sizeof *v * (n ? n : 1));
	if (n) {
		memcpy(v, keywords, sizeof *v * n);
		mt_sort(v, n, sizeof *v, cmp_strp);
	}
	char *key = mt_xmalloc(len), *p = key;
	/* \Deleted is left out: it is this removal's own mark, which a run
	 * cut after its STORE leaves on the messages a rerun compares */
	p += sprintf(p, "%u", sysflags & (MT_F_SEEN | MT_F_ANSWERED | MT_F_FLAGGED | MT_F_DRAFT));
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			p += sprintf(p, " %s", v[i]);
	free(v);
	return key;
}

static int begin_message(struct exporter *x, const struct mt_fetched *m)
{
	char *sender = sender_of(m->header, m->header_len);
	int r = mt_lm_begin(x->w, m->uid, sender, m->internaldate, m->sysflags, m->keywords, x->e);
	free(sender);
	if (r != MT_OK || x->each == NULL)
		return r;
	mt_lm_free(x->one);
	free(x->one_flags);
	x->one = NULL;
	x->one_uid = m->uid;
	x->one_flags = flags_key(m->sysflags, m->keywords);
	r = mt_lm_open(&x->one, x->each->dirfd, x->each->shown, x->each->rel, x->each->fmt,
		       x->each->flags | MT_LM_DIGEST_ONLY, x->e);
	return r == MT_OK ? mt_lm_begin(x->one, m->uid, NULL, m->internaldate, m->sysflags, m->keywords, x->e) : r;
}

static int write_message(struct exporter *x, const char *data, size_t len, struct mt_err *e)
{
	int r = mt_lm_write(x->w, data, len, e);
	return r == MT_OK && x->one ? mt_lm_write(x->one, data, len, e) : r;
}

/* The end of a message; with x->each, its digest and flags kept. */
static int end_message(struct exporter *x, struct mt_err *e)
{
	int r = mt_lm_end(x->w, e);
	if (r != MT_OK || x->one == NULL)
		return r;
	size_t nd;
	if ((r = mt_lm_end(x->one, e)) == MT_OK) {
		const unsigned char *d = mt_lm_digests(x->one, &nd);
		x->copies = mt_xrealloc(x->copies, sizeof *x->copies * (x->ncopies + 1));
		x->copies[x->ncopies].uid = x->one_uid;
		memcpy(x->copies[x->ncopies].dig, d, 32);
		x->copies[x->ncopies++].flags = x->one_flags;
		x->one_flags = NULL;
	}
	mt_lm_free(x->one);
	x->one = NULL;
	return r;
}

/* One answer to a FETCH of whole messages. A body that is missing (NIL, or
 * an answer without it), empty, or of another length than RFC822.SIZE says
 * makes the message doubtful; one that arrives is archived as it came. */
static int export_whole(const struct mt_fetched *m, void *arg)
{
	struct exporter *x = arg;
	const uint32_t *p = mt_bsearch(&m->uid, x->uids, x->n, sizeof *x->uids, mt_cmp_u32);
	if (p == NULL)
		return 0;
	size_t i = (size_t)(p - x->uids);
	x->answered[i] = 1;
	if (x->done[i] || m->body == NULL)
		return 0;   /* said twice; or no body here (judged once the batch is in) */
	x->done[i] = 1;
	uint32_t want = selected_size(x->sel, m->uid);
	if (m->body_len == 0) {
		doubt(x, m->uid, "the server sent an empty BODY[] (RFC822.SIZE %u); nothing archived", want);
		return 0;
	}
	int r = begin_message(x, m);
	if (r == MT_OK)
		r = write_message(x, m->body, m->body_len, x->e);
	if (r == MT_OK)
		r = end_message(x, x->e);
	if (r != MT_OK) {
		x->failed = 1;
		return r;
	}
	x->bytes += m->body_len;
	mt_progress_add(&x->pg, 1, m->body_len);
	if (m->body_len != want || m->size != want)
		doubt(x, m->uid, "%zu bytes of BODY[] arrived, RFC822.SIZE says %u%s", m->body_len, m->size ? m->size : want,
		      m->size && m->size != want ? " (and earlier said otherwise)" : "");
	return 0;
}

/* One answer to a FETCH of a piece of a big message. */
static int export_piece(const struct mt_fetched *m, void *arg)
{
	struct exporter *x = arg;
	if (m->uid != x->uid)
		return 0;
	x->piece_answered = 1;
	if (x->piece_body || m->body == NULL)
		return 0;
	x->piece_body = 1;
	if (m->body_origin != x->off || m->body_len > BIG_MESSAGE) {
		doubt(x, m->uid, "asked for %u bytes at %llu, the server sent %zu at %u", BIG_MESSAGE,
		      (unsigned long long)x->off, m->body_len, m->body_origin);
		x->piece_bad = 1;
		return 0;
	}
	int r = MT_OK;
	if (x->off == 0) {
		x->fetched_size = m->size;
		r = begin_message(x, m);
		x->begun = r == MT_OK;
	}
	if (r == MT_OK)
		r = write_message(x, m->body, m->body_len, x->e);
	if (r != MT_OK) {
		x->failed = 1;
		return r;
	}
	x->got += m->body_len;
	x->bytes += m->body_len;
	x->piece_len = m->body_len;
	mt_progress_add(&x->pg, 0, m->body_len);
	return 0;
}

/* A big message, piece by piece until the server sends one shorter than
 * asked: never trusting RFC822.SIZE for where it ends (a server that
 * under-reports it would otherwise have its message cut), then comparing. */
static int export_big(struct mt_ctx *ctx, struct exporter *x, uint32_t uid)
{
	static const char *const from_hdr[] = { "FROM", NULL };
	uint32_t want = selected_size(x->sel, uid);
	int r = MT_OK;
	x->uid = uid;
	x->off = x->got = 0;
	x->begun = 0;
	x->fetched_size = 0;
	size_t before = x->ndoubts;
	for (;;) {
		struct mt_fetch_spec sp = { .body_prefix = BIG_MESSAGE, .body_offset = x->off };
		if (x->off == 0) {
			sp.flags = sp.date = sp.size = 1;
			sp.headers = from_hdr;
		}
		x->piece_answered = x->piece_body = x->piece_bad = 0;
		x->piece_len = 0;
		if ((r = mt_fetch_each(ctx->s, &uid, 1, &sp, export_piece, x, &ctx->err)) != MT_OK)
			break;
		if (!x->piece_answered && x->off == 0)
			return mt_seterr(&ctx->err, MT_ETEMP, "message UID %u of '%s' went away during the export", uid,
					 x->sel->folder);
		if (!x->piece_answered || !x->piece_body) {
			doubt(x, uid, "the server sent no BODY[] (NIL) for the piece at %llu", (unsigned long long)x->off);
			break;
		}
		if (x->piece_bad || x->piece_len < BIG_MESSAGE)
			break;
		x->off += BIG_MESSAGE;
		if (x->off > UINT32_MAX) {
			doubt(x, uid, "the server sends more than 4 GiB");
			break;
		}
	}
	if (r == MT_OK && x->begun)
		r = end_message(x, &ctx->err);
	if (r != MT_OK)
		x->failed = 1;
	else if (x->ndoubts == before && (x->got != want || x->fetched_size != want))
		doubt(x, uid, "%llu bytes of BODY[] arrived, RFC822.SIZE says %u%s", (unsigned long long)x->got,
		      x->fetched_size ? x->fetched_size : want,
		      x->fetched_size && x->fetched_size != want ? " (and earlier said otherwise)" : "");
	return r;
}

/* Small messages, as many as fit in one FETCH; the ones the server did not
 * answer at all went away (another client expunged them): a temporary
 * failure. */
static int export_batch(struct mt_ctx *ctx, struct exporter *x, const uint32_t *uids, size_t n)
{
	static const char *const from_hdr[] = { "FROM", NULL };
	struct mt_fetch_spec sp = { .flags = 1, .date = 1, .size = 1, .headers = from_hdr, .body_whole = 1 };
	x->uids = uids;
	x->n = n;
	x->answered = mt_xmalloc(n);
	x->done = mt_xmalloc(n);
	int r = mt_fetch_each(ctx->s, uids, n, &sp, export_whole, x, &ctx->err);
	size_t gone = 0;
	for (size_t i = 0; r == MT_OK && i < n; i++)
		if (!x->answered[i])
			gone++;
		else if (!x->done[i])
			doubt(x, uids[i], "the server sent no BODY[] (NIL); nothing archived");
	if (r == MT_OK && gone)
		r = mt_seterr(&ctx->err, MT_ETEMP, "%zu of %zu messages of '%s' went away during the export; nothing kept",
			      gone, n, x->sel->folder);
	free(x->answered);
	free(x->done);
	return r;
}

/* Every selected message into x->w. */
static int export_all(struct mt_ctx *ctx, struct exporter *x, const struct mt_selection *sel)
{
	uint32_t *uids = mt_xmalloc(sizeof *uids * (sel->n ? sel->n : 1));
	int r = MT_OK;
	mt_progress_start(&x->pg, "export", sel->n, long_run(ctx, sel->n, sel->bytes));
	x->pg.unit = "messages";
	x->pg.bytes_total = sel->bytes;
	for (size_t i = 0; i < sel->n && r == MT_OK && !x->failed;) {
		if (sel->msgs[i].size > BIG_MESSAGE) {
			r = export_big(ctx, x, sel->msgs[i++].uid);
			mt_progress_add(&x->pg, 1, 0);
			continue;
		}
		size_t n = 0;
		uint64_t bytes = 0;
		while (i < sel->n && sel->msgs[i].size <= BIG_MESSAGE && (n == 0 || bytes + sel->msgs[i].size <= BATCH_BYTES)) {
			bytes += sel->msgs[i].size;
			uids[n++] = sel->msgs[i++].uid;
		}
		r = export_batch(ctx, x, uids, n);
	}
	mt_progress_end(&x->pg);
	free(uids);
	if (r == MT_OK && x->failed)
		r = ctx->err.code ? ctx->err.code : MT_EIO;
	return r;
}

/* What happened to one folder, for the summary. */
struct outcome {
	uint64_t exported, exported_bytes, removed, removed_bytes, doubtful, doubtful_bytes, kw_msgs;
	uint64_t kw_kept, kw_kept_bytes;   /* --delete-after-export: kept on the server for their keywords */
	uint64_t fl_kept, fl_kept_bytes;   /* an archive in place: kept for flags it does not hold */
};

static void say_doubts(struct mt_ctx *ctx, const struct mt_selection *sel, const struct exporter *x, struct outcome *o)
{
	for (size_t i = 0; i < x->ndoubts; i++) {
		if (i < MAX_DOUBTS_SHOWN)
			mt_fail(ctx, 0, "'%s' UID %u: %s; kept on the server", sel->folder, x->doubts[i].uid, x->doubts[i].why);
		o->doubtful++;
		o->doubtful_bytes += selected_size(sel, x->doubts[i].uid);
	}
	if (x->ndoubts > MAX_DOUBTS_SHOWN)
		mt_fail(ctx, 0, "'%s': %zu more such messages", sel->folder, x->ndoubts - MAX_DOUBTS_SHOWN);
}

static void free_doubts(struct exporter *x)
{
	for (size_t i = 0; i < x->ndoubts; i++)
		free(x->doubts[i].why);
	free(x->doubts);
}

static void say_lost_keywords(struct mt_ctx *ctx, const struct mt_selection *sel, const struct mt_lm_writer *w,
			      struct outcome *o)
{
	const char *const *names;
	o->kw_msgs = mt_lm_keywords_lost(w, &names);
	if (o->kw_msgs == 0)
		return;
	size_t n = 0, len = 0;
	while (names[n])
		len += strlen(names[n++]) + 1;
	char *list = mt_xmalloc(len + 1), *p = list;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? " " : "", names[i]);
	mt_fail(ctx, 0, "'%s': %zu keyword(s) on %llu message(s) could not be kept in the archive (a Maildir names 26 per "
		"folder, a keyword must be an IMAP atom): %s", sel->folder, n, (unsigned long long)o->kw_msgs, list);
	free(list);
}

/* Take the messages uids (any order) out of the selection the removal
 * works on: they stay on the server, each named (the first few) with why,
 * counted in *n and *bytes. */
static void hold_back(struct mt_ctx *ctx, struct mt_selection *sel, const uint32_t *uids, size_t nu, const char *why,
		      uint64_t *n, uint64_t *bytes)
{
	size_t k = 0;
	if (nu == 0)
		return;
	uint32_t *sorted = mt_xmalloc(sizeof *sorted * nu);
	memcpy(sorted, uids, sizeof *sorted * nu);
	mt_sort(sorted, nu, sizeof *sorted, mt_cmp_u32);
	for (size_t i = 0; i < sel->n; i++) {
		struct mt_msg *m = &sel->msgs[i];
		if (mt_bsearch(&m->uid, sorted, nu, sizeof *sorted, mt_cmp_u32) == NULL) {
			sel->msgs[k++] = *m;
			continue;
		}
		if (*n < MAX_DOUBTS_SHOWN)
			mt_fail(ctx, 0, "'%s' UID %u: %s; kept on the server", sel->folder, m->uid, why);
		(*n)++;
		*bytes += m->size;
		sel->bytes -= m->size;
		free(m->from);
		free(m->subject);
	}
	sel->n = k;
	free(sorted);
	if (*n > MAX_DOUBTS_SHOWN)
		mt_fail(ctx, 0, "'%s': %llu more such messages", sel->folder, (unsigned long long)(*n - MAX_DOUBTS_SHOWN));
}

/* The messages whose keywords the archive could not keep (a Maildir names
 * 26 per folder) are no copy of them: with --delete-after-export they stay
 * on the server like unverifiable ones, named and counted, and are taken
 * out of the selection the removal works on. */
static void hold_back_lost_keywords(struct mt_ctx *ctx, struct mt_selection *sel, const struct mt_lm_writer *w,
				    struct outcome *o)
{
	size_t nl;
	const uint32_t *lost = mt_lm_keywords_lost_uids(w, &nl);
	hold_back(ctx, sel, lost, nl, "the archive could not keep all its keywords", &o->kw_kept, &o->kw_kept_bytes);
}

static int cmp_msg_uid(const void *a, const void *b)
{
	return mt_cmp_u32(&((const struct mt_msg *)a)->uid, &((const struct mt_msg *)b)->uid);
}

static int cmp_copy(const void *a, const void *b)
{
	const struct copy *x = a, *y = b;
	int c = memcmp(x->dig, y->dig, 32);
	return c ? c : strcmp(x->flags, y->flags);
}

static void free_copies(struct copy *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].flags);
	free(v);
}

/* An archive in place was written before the run: a message whose flags or
 * keywords changed on the server since then has the same text as its copy
 * there but not the same flags, and removing it would lose them. Each
 * message still selected must match one of the archive's (text, flags and
 * keywords; as multisets) or it is held back. MT_OK, or an error reading
 * the archive (then nothing is removed). */
static int hold_back_changed_flags(struct mt_ctx *ctx, struct mt_selection *sel, const struct place *pl,
				   struct exporter *x, struct outcome *o)
{
	struct mt_lm_reader *rd;
	struct mt_lm_msg m;
	struct copy *have = NULL;
	size_t nh = 0, nwant = 0, nchanged = 0;
	/* an mbox in place may be anyone's: its flag lines count only when
	 * signed with this user's key, as an import reads them */
	unsigned char key[32];
	struct mt_lm_ropts ro = { 0 };
	int hk = pl->fmt == MT_LM_MAILDIR ? 0 : mt_archive_key(key, 0, &ctx->err);
	if (hk < 0)
		return ctx->err.code;
	ro.key = hk ? key : NULL;
	int more, r = mt_lm_reader_openat(&rd, pl->dirfd, pl->shown, pl->rel, pl->fmt == MT_LM_MAILDIR ? NULL : &ro,
					  &ctx->err);
	if (r != MT_OK) {
		explicit_bzero(key, sizeof key);
		return r;
	}
	while ((more = mt_lm_next(rd, &m, &ctx->err)) == 1 || more == MT_LM_SKIP || more == MT_LM_TOOBIG) {
		if (more != 1)
			continue;   /* no message of ours: verification already counted it */
		have = mt_xrealloc(have, sizeof *have * (nh + 1));
		have[nh].uid = 0;
		mt_sha256(m.data, m.len, have[nh].dig);
		have[nh++].flags = flags_key(m.sysflags, (const char *const *)m.keywords);
		mt_lm_msg_release(&m);
	}
	mt_lm_reader_close(rd);
	explicit_bzero(key, sizeof key);
	if (more != 0) {
		free_copies(have, nh);
		return more;
	}
	/* the copies of the messages still selected (not those held back already) */
	struct copy *want = mt_xmalloc(sizeof *want * (x->ncopies ? x->ncopies : 1));
	for (size_t i = 0; i < x->ncopies; i++)
		if (mt_bsearch(&(struct mt_msg){ .uid = x->copies[i].uid }, sel->msgs, sel->n, sizeof *sel->msgs, cmp_msg_uid))
			want[nwant++] = x->copies[i];
	if (nh)
		mt_sort(have, nh, sizeof *have, cmp_copy);
	if (nwant)
		mt_sort(want, nwant, sizeof *want, cmp_copy);
	/* both sorted: each message takes one equal copy, or is changed */
	uint32_t *changed = mt_xmalloc(sizeof *changed * (nwant ? nwant : 1));
	for (size_t i = 0, j = 0; i < nwant; i++) {
		while (j < nh && cmp_copy(&have[j], &want[i]) < 0)
			j++;
		if (j < nh && cmp_copy(&have[j], &want[i]) == 0)
			j++;
		else
			changed[nchanged++] = want[i].uid;
	}
	hold_back(ctx, sel, changed, nchanged, "its flags or keywords on the server are not the archive's (changed since "
		  "it was written)", &o->fl_kept, &o->fl_kept_bytes);
	free(changed);
	free(want);   /* the flags are x's */
	free_copies(have, nh);
	return MT_OK;
}

/* Remove the selection from the server (or, dry, count what would go). */
static int remove_exported(struct mt_ctx *ctx, struct mt_selection *sel, int dry, struct outcome *o)
{
	if (dry || sel->n == 0) {
		o->removed = sel->n;
		o->removed_bytes = sel->bytes;
		return MT_OK;
	}
	int r = mt_remove_selection(ctx->s, sel, NULL, 0, &o->removed, &o->removed_bytes, &ctx->err);
	o->removed_bytes = r == MT_OK ? sel->bytes : 0;
	return r;
}

/* MT_EDATA when messages were held back (the caller removed the rest first). */
static int kept_back(struct mt_ctx *ctx, const struct mt_selection *sel, const struct outcome *o)
{
	unsigned long long kw = o->kw_kept, fl = o->fl_kept;
	if (kw && fl)
		return mt_seterr(&ctx->err, MT_EDATA, "%llu message(s) of '%s' lost keywords in the archive and %llu have flags "
				 "or keywords the archive in place does not hold; kept on the server, the others removed", kw,
				 sel->folder, fl);
	if (kw)
		return mt_seterr(&ctx->err, MT_EDATA, "%llu message(s) of '%s' lost keywords in the archive; kept on the server, "
				 "the others removed", kw, sel->folder);
	if (fl)
		return mt_seterr(&ctx->err, MT_EDATA, "%llu message(s) of '%s' have flags or keywords the archive in place does "
				 "not hold; kept on the server, the others removed", fl, sel->folder);
	return MT_OK;
}

static int nothing_removed(struct mt_ctx *ctx, int code, const char *also)
{
	char m[sizeof ctx->err.msg];
	snprintf(m, sizeof m, "%s", ctx->err.msg);
	return mt_seterr(&ctx->err, code, "%s; %snothing removed from the server", m, also);
}

/* An archive already in place (a run killed between putting it there and
 * removing the messages, or one written by an earlier run): the selection
 * is streamed again, only for its digests (nothing is written), and removed
 * if every message of it is in the archive; each message only if the
 * archive has its flags and keywords as the server has them now. */
static int export_resume(struct mt_ctx *ctx, struct mt_selection *sel, const struct place *pl, int dry, struct outcome *o)
{
	struct exporter x = { .e = &ctx->err, .sel = sel, .each = pl };
	int r = mt_lm_open(&x.w, pl->dirfd, pl->shown, pl->rel, pl->fmt, pl->flags | MT_LM_DIGEST_ONLY, &ctx->err);
	if (r == MT_OK && pl->fmt == MT_LM_MAILDIR) {
		/* the keywords the Maildir in place names: the others it lost */
		struct mt_lm_reader *rd;
		size_t nk;
		if ((r = mt_lm_reader_openat(&rd, pl->dirfd, pl->shown, pl->rel, NULL, &ctx->err)) == MT_OK) {
			const char *const *names = mt_lm_reader_keywords(rd, &nk);
			mt_lm_known_keywords(x.w, names, nk);
			mt_lm_reader_close(rd);
		}
	}
	if (r == MT_OK)
		r = export_all(ctx, &x, sel);
	if (r == MT_OK) {
		size_t nd = 0;
		const unsigned char *dig = mt_lm_digests(x.w, &nd);
		if ((r = mt_lm_verify_subset(pl->dirfd, pl->shown, pl->rel, dig, nd, &ctx->err)) != MT_OK)
			r = nothing_removed(ctx, MT_EDATA, "not overwriting it, ");
	}
	say_doubts(ctx, sel, &x, o);
	if (r == MT_OK && x.ndoubts)
		r = mt_seterr(&ctx->err, MT_EDATA, "%zu message(s) of '%s' could not be verified; nothing of '%s' removed from the server",
			      x.ndoubts, sel->folder, sel->folder);
	free_doubts(&x);
	if (r == MT_OK)
		hold_back_lost_keywords(ctx, sel, x.w, o);
	if (r == MT_OK && (r = hold_back_changed_flags(ctx, sel, pl, &x, o)) != MT_OK)
		r = nothing_removed(ctx, r, "");
	mt_lm_abort(x.w);
	mt_lm_free(x.one);
	free(x.one_flags);
	free_copies(x.copies, x.ncopies);
	if (r == MT_OK)
		r = remove_exported(ctx, sel, dry, o);
	if (r == MT_OK)
		r = kept_back(ctx, sel, o);
	return r;
}

/* An mbox's flag lines are signed with the user's archive key (made on the
 * first export), so that an import believes only the lines mailtool wrote. */
static int sign_with_key(struct mt_ctx *ctx, struct mt_lm_writer *w)
{
	unsigned char key[32];
	if (mt_archive_key(key, 1, &ctx->err) < 0)
		return ctx->err.code;
	int r = mt_lm_set_key(w, key, &ctx->err);
	explicit_bzero(key, sizeof key);
	return r;
}

/* Stream the selection into a new archive, verify it, and (optionally)
 * remove exactly those messages from the server: none of them if any
 * message's copy is doubtful. */
static int export_folder(struct mt_ctx *ctx, struct mt_selection *sel, const struct place *pl, int delete_after,
			 struct outcome *o)
{
	struct exporter x = { .e = &ctx->err, .sel = sel };
	int r = mt_lm_open(&x.w, pl->dirfd, pl->shown, pl->rel, pl->fmt, pl->flags, &ctx->err);
	if (r != MT_OK)
		return r;
	if (pl->fmt != MT_LM_MAILDIR && (r = sign_with_key(ctx, x.w)) != MT_OK) {
		mt_lm_abort(x.w);
		return r;
	}
	r = export_all(ctx, &x, sel);
	if (r == MT_OK)
		r = mt_lm_commit(x.w, &ctx->err);
	if (r != MT_OK) {
		mt_lm_abort(x.w);
		free_doubts(&x);
		return r;
	}
	/* the test suite's way to damage an archive between writing and checking */
	const char *hook = getenv("MAILTOOL_TEST_HOOK_AFTER_EXPORT");
	if (hook && *hook) {
		char *full = pl->shown ? mt_xasprintf("%s/%s", pl->shown, pl->rel) : mt_xstrdup(pl->rel);
		setenv("MAILTOOL_EXPORT_PATH", full, 1);
		free(full);
		if (system(hook) != 0) {
			/* the hook's business */
		}
	}
	size_t nd;
	const unsigned char *dig = mt_lm_digests(x.w, &nd);
	r = mt_lm_verify(pl->dirfd, pl->shown, pl->rel, dig, nd, &ctx->err);
	o->exported = nd;
	o->exported_bytes = x.bytes;
	say_doubts(ctx, sel, &x, o);
	say_lost_keywords(ctx, sel, x.w, o);
	if (r != MT_OK && delete_after)
		r = nothing_removed(ctx, r, "");
	else if (r == MT_OK && x.ndoubts)
		r = mt_seterr(&ctx->err, MT_EDATA, "%zu of the %zu messages of '%s' could not be verified (the archive keeps "
			      "what arrived)%s", x.ndoubts, sel->n, sel->folder,
			      delete_after ? "; nothing of it removed from the server" : "");
	else if (r == MT_OK && delete_after) {
		hold_back_lost_keywords(ctx, sel, x.w, o);
		r = remove_exported(ctx, sel, 0, o);
	}
	if (r == MT_OK)
		r = kept_back(ctx, sel, o);
	mt_lm_free(x.w);
	free_doubts(&x);
	return r;
}

/* Every folder's place: with one folder PATH is its archive (PATH's
 * directory taken as the user named it); with several, PATH is a directory
 * of archives named after the folders, never outside it, never two on one
 * name. */
struct places {
	int dirfd;               /* -1: nothing there yet (a dry run) */
	char *shown;
	char **rel;
	size_t n;
	enum mt_lm_fmt fmt;
	unsigned flags;
	int maildirpp;
};

static struct place place_of(const struct places *P, size_t f)
{
	unsigned flags = P->flags | (P->maildirpp && strcmp(P->rel[f], ".") != 0 ? MT_LM_MAILDIRFOLDER : 0);
	return (struct place){ .dirfd = P->dirfd, .shown = P->shown, .rel = P->rel[f], .fmt = P->fmt, .flags = flags };
}

static void places_release(struct places *P)
{
	if (P->dirfd >= 0)
		close(P->dirfd);
	for (size_t f = 0; f < P->n; f++)
		free(P->rel[f]);
	free(P->rel);
	free(P->shown);
}

static int places_init(struct mt_ctx *ctx, struct places *P, const char *path, char **folders, size_t n, char delim,
		       int many, enum mt_lm_fmt fmt)
{
	int dry = mt_flag(&ctx->args, "dry-run");
	const char *dir = path, *mf = mt_arg(&ctx->args, "mbox-format"), *lay = mt_arg(&ctx->args, "layout");
	P->fmt = fmt;
	P->n = n;
	P->rel = mt_xmalloc(sizeof *P->rel * (n ? n : 1));
	P->flags = mf && mt_lm_mbox_parse(mf) == MT_LM_MBOXCL2 ? MT_LM_CL2 : 0;
	P->maildirpp = lay && strcmp(lay, "maildir++") == 0;
	if (many) {
		P->shown = mt_xstrdup(path);
		for (size_t f = 0; f < n; f++) {
			char *rel = P->maildirpp ? mt_lm_maildirpp_path(folders[f], delim, &ctx->err)
						 : mt_lm_safe_path(folders[f], delim, fmt == MT_LM_MAILDIR);
			if (rel == NULL) {
				P->n = f;
				return mt_fail(ctx, ctx->err.code, "%s; nothing done", ctx->err.msg);
			}
			P->rel[f] = P->maildirpp ? rel : mt_xasprintf("%s%s", rel, mt_lm_format_ext(fmt));
			if (!P->maildirpp)
				free(rel);
		}
		if (!dry && mkdir(path, 0700) < 0 && errno != EEXIST)
			return mt_fail(ctx, MT_EIO, "cannot create '%s': %s", path, strerror(errno));
	} else {
		const char *sl = strrchr(path, '/');
		P->shown = sl ? mt_xasprintf("%.*s", (int)(sl == path ? 1 : sl - path), path) : NULL;
		P->rel[0] = mt_xstrdup(sl ? sl + 1 : path);
		dir = P->shown ? P->shown : ".";
	}
	P->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (P->dirfd < 0 && !(dry && errno == ENOENT))
		return mt_fail(ctx, MT_EIO, "cannot open '%s': %s", dir, strerror(errno));
	return MT_OK;
}

/* Before anything is written or removed: no two folders on one name, every
 * path below PATH free of symbolic links, and each archive either not there
 * yet or (with --delete-after-export) one to check the selection against.
 * Temporaries an interrupted run left are named, never touched. */
static int places_check(struct mt_ctx *ctx, const struct places *P, char **folders, int del, int *exists)
{
	/* the paths as paths, not strings: two folders on one name, or (an
	 * mbox is a file) one folder's archive where another's needs a
	 * directory ("X.mbox" and "X.mbox/Y.mbox"); a Maildir holds its
	 * children's Maildirs, as the layouts say */
	for (size_t f = 0; f < P->n; f++)
		for (size_t g = 0; g < P->n; g++) {
			size_t lg = strlen(P->rel[g]);
			if (g < f && strcmp(P->rel[f], P->rel[g]) == 0)
				return mt_fail(ctx, MT_EDATA, "folders '%s' and '%s' would both be archived as '%s'; nothing done",
					       folders[g], folders[f], P->rel[f]);
			if (g != f && P->fmt != MT_LM_MAILDIR && strncmp(P->rel[f], P->rel[g], lg) == 0 && P->rel[f][lg] == '/')
				return mt_fail(ctx, MT_EDATA, "folder '%s' would be archived as the file '%s', which folder '%s' needs "
					       "as a directory; nothing done", folders[g], P->rel[g], folders[f]);
		}
	for (size_t f = 0; f < P->n; f++)
		if (mt_lm_names_ok(P->shown, P->rel[f], &ctx->err) != MT_OK)
			return mt_fail(ctx, ctx->err.code, "%s; nothing done", ctx->err.msg);
	for (size_t f = 0; f < P->n; f++) {
		char **stale;
		exists[f] = 0;
		if (P->dirfd < 0)
			continue;
		if (mt_lm_probe(P->dirfd, P->shown, P->rel[f], P->fmt, &exists[f], &ctx->err) != MT_OK)
			return mt_fail(ctx, ctx->err.code, "%s; nothing done", ctx->err.msg);
		if (exists[f] && !del)
			return mt_fail(ctx, MT_EUSAGE, "'%s%s%s' already exists; not overwriting an archive", P->shown ? P->shown : "",
				       P->shown ? "/" : "", P->rel[f]);
		size_t ns = mt_lm_stale(P->dirfd, P->rel[f], &stale);
		for (size_t i = 0; i < ns; i++) {
			mt_fail(ctx, 0, "'%s%s%s' was left by an interrupted run; it is not used or removed: check it and remove it",
				P->shown ? P->shown : "", P->shown ? "/" : "", stale[i]);
			free(stale[i]);
		}
		free(stale);
	}
	return MT_OK;
}

static char *target_of(const char *tmpl, const struct mt_msg *m, int by_date_header);

/* \Flagged messages the criteria would otherwise take, left on the server
 * without --include-flagged: counted for the summary by a second, read-only
 * selection that takes them too. With tmpl (archiving on the server) only
 * those that would otherwise have moved: one already in the folder its date
 * names stays anyway, flagged or not. */
static int flagged_left(struct mt_ctx *ctx, const char *folder, const struct mt_selection *sel, const char *tmpl,
			uint64_t *n, uint64_t *bytes)
{
	const struct archive *A = ctx->state;
	struct mt_selection with;
	*n = *bytes = 0;
	if (A->include_flagged)
		return MT_OK;
	int r = choose(ctx, folder, A->with_flagged, 1, tmpl != NULL, &with);
	for (size_t i = 0; r == MT_OK && i < with.n; i++) {
		const struct mt_msg *m = &with.msgs[i];
		if (mt_bsearch(m, sel->msgs, sel->n, sizeof *sel->msgs, cmp_msg_uid))
			continue;   /* taken anyway: not left for its flag */
		if (tmpl && !mt_arg(&ctx->args, "to-account")) {
			char *t = target_of(tmpl, m, A->by_date_header);
			int stays = strcmp(t, with.folder) == 0;
			free(t);
			if (stays)
				continue;
		}
		(*n)++;
		*bytes += m->size;
	}
	mt_selection_release(&with);
	return r;
}

/* "shown/rel" as the user would write it; owned. */
static char *place_name(const struct place *pl)
{
	if (pl->shown == NULL)
		return mt_xstrdup(pl->rel);
	size_t n = strlen(pl->shown);
	return mt_xasprintf("%s%s%s", pl->shown, n && pl->shown[n - 1] == '/' ? "" : "/", pl->rel);
}

static int export_main(struct mt_ctx *ctx)
{
	const char *path = mt_arg(&ctx->args, "export"), *fv = mt_arg(&ctx->args, "format");
	int r = MT_OK, worst = MT_OK, del = mt_flag(&ctx->args, "delete-after-export"), dry = mt_flag(&ctx->args, "dry-run");
	const struct archive *A = ctx->state;
	char **folders = NULL, delim = 0;
	size_t nfolders = 0;
	struct mt_table t;
	struct places P = { .dirfd = -1 };
	enum mt_lm_fmt fmt = fv ? (enum mt_lm_fmt)mt_lm_format_parse(fv) : mt_lm_format_of(path);

	/* the removal needs UID EXPUNGE (archive has no unsafe fallback): known
	 * now, so nothing is written that no run could finish */
	if (del && !mt_has_cap(ctx->s, "UIDPLUS"))
		return mt_fail(ctx, MT_EUNAVAIL, "the server lacks UIDPLUS, so --delete-after-export cannot remove exactly the "
			       "exported messages (UID EXPUNGE); nothing exported, nothing removed");
	int unmatched = 0;
	if (mt_expand_args(ctx, mt_flag(&ctx->args, "recursive"), &folders, &nfolders, &unmatched) != MT_OK ||
	    mt_delimiter(ctx->s, &delim, &ctx->err) != MT_OK) {
		mt_free_folders(folders, nfolders);
		return mt_fail_err(ctx, &ctx->err);
	}
	if (nfolders == 0)
		return MT_EDATA;   /* mailtool(1): each argument was named on stderr */
	if (unmatched)
		worst = MT_EDATA;  /* the others are still exported */
	int many = nfolders > 1 || mt_flag(&ctx->args, "recursive") || strpbrk(ctx->args.argv[0], "*%") ||
		   mt_arg(&ctx->args, "layout");
	int *exists = mt_xmalloc(sizeof *exists * (nfolders ? nfolders : 1));
	if ((r = places_init(ctx, &P, path, folders, nfolders, delim, many, fmt)) != MT_OK ||
	    (r = places_check(ctx, &P, folders, del, exists)) != MT_OK) {
		places_release(&P);
		free(exists);
		mt_free_folders(folders, nfolders);
		return r;
	}
	mt_report_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	uint64_t tot_n = 0, tot_b = 0, done = 0;
	for (size_t f = 0; f < nfolders && r == MT_OK; f++) {
		struct mt_selection sel;
		struct outcome o = { 0 };
		struct place pl = place_of(&P, f);
		char *target = place_name(&pl), *row = mt_xasprintf("%s -> %s", folders[f], target);
		uint64_t fl_n = 0, fl_b = 0;
		r = choose(ctx, folders[f], A->cond, dry || !del, 0, &sel);
		if (r == MT_OK)
			r = flagged_left(ctx, folders[f], &sel, NULL, &fl_n, &fl_b);
		if (r == MT_OK && exists[f]) {
			r = export_resume(ctx, &sel, &pl, dry, &o);
		} else if (r == MT_OK && dry) {
			o.exported = sel.n;
			o.exported_bytes = sel.bytes;
			if (del)
				remove_exported(ctx, &sel, 1, &o);
		} else if (r == MT_OK) {
			r = export_folder(ctx, &sel, &pl, del, &o);
		}
		int kept = o.doubtful || o.kw_kept || o.fl_kept;
		if (exists[f] && (r == MT_OK || kept))
			mt_report_row(&t, row, "already there", sel.n + o.kw_kept + o.fl_kept,
				      sel.bytes + o.kw_kept_bytes + o.fl_kept_bytes);
		else if (r == MT_OK || kept)
			mt_report_row(&t, row, dry ? "would export" : "exported", o.exported, o.exported_bytes);
		if (o.doubtful)
			mt_report_row(&t, folders[f], "unverifiable, kept", o.doubtful, o.doubtful_bytes);
		if (o.kw_kept)
			mt_report_row(&t, folders[f], dry ? "keywords lost, would keep" : "keywords lost, kept", o.kw_kept,
				      o.kw_kept_bytes);
		if (o.fl_kept)
			mt_report_row(&t, folders[f], dry ? "flags changed, would keep" : "flags changed, kept", o.fl_kept,
				      o.fl_kept_bytes);
		if (o.kw_msgs)
			mt_report_row(&t, row, "keywords not kept", o.kw_msgs, 0);
		if (fl_n)
			mt_report_row(&t, folders[f], "skipped: flagged", fl_n, fl_b);
		if (del && (r == MT_OK || (r == MT_EDATA && (o.kw_kept || o.fl_kept))))
			mt_report_row(&t, folders[f], dry ? "would remove" : "removed", o.removed, o.removed_bytes);
		tot_n += o.exported;
		tot_b += o.exported_bytes;
		done += o.exported + o.removed;
		/* a folder whose copies could not all be verified keeps its mail;
		 * the others go on */
		if (r == MT_EDATA && kept) {
			worst = mt_fail_err(ctx, &ctx->err);
			r = MT_OK;
		}
		free(row);
		free(target);
		mt_selection_release(&sel);
	}
	if (nfolders > 1)
		mt_report_total(&t, dry ? "would export" : "exported", tot_n, tot_b);
	if (!mt_quiet_nothing(ctx, done))
		mt_table_print(&t, stdout);
	mt_table_release(&t);
	places_release(&P);
	free(exists);
	mt_free_folders(folders, nfolders);
	if (r != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	return worst;
}

/* ---- import ------------------------------------------------------------ */

/* Everything of an APPEND command before a LITERAL+ literal must be what
 * every server reads to its end: one it refuses by its syntax (a date-year
 * of five digits) or its length (Dovecot: "command line too large") is
 * answered BAD before the literal is read, and then the message's lines
 * are read as commands (a body line "zz1 DELETE Victim" deleted a folder).
 * So the flags are atoms (bad_keyword), the date one the grammar has
 * (mt_imap_date_time), and the command's text outside its literals, over
 * all the messages of a MULTIAPPEND, at most APPEND_LINE_MAX octets: well
 * below the 8192 RFC 7162 section 4 asks servers to take. */
#define APPEND_LINE_MAX 4000
/* The largest message an import reads (and so about half the memory it
 * holds) unless --max-message says otherwise: a server's APPENDLIMIT only
 * lowers it, never raises it (Cyrus announces 4294967295 by default). */
#define IMPORT_MAX_MESSAGE (256u << 20)
#define APPEND_TAG_MAX 16            /* the tag libetpan puts first, and its space */

static const struct { unsigned f; const char *n; } sysflag_names[] = {
	{ MT_F_SEEN, "\\Seen" }, { MT_F_ANSWERED, "\\Answered" }, { MT_F_FLAGGED, "\\Flagged" },
	{ MT_F_DELETED, "\\Deleted" }, { MT_F_DRAFT, "\\Draft" },
};

/* " (\\Seen $Kw) \"22-Nov-2026 10:00:00 +0000\" {LEN+}\r\n" of one message
 * of an APPEND, into f (a memory stream: as long as what is written) */
static void append_args(FILE *f, const struct mt_lm_msg *m)
{
	const char *sep = "";
	char date[32];
	fputs(" (", f);
	for (size_t i = 0; i < sizeof sysflag_names / sizeof *sysflag_names; i++)
		if (m->sysflags & sysflag_names[i].f) {
			fprintf(f, "%s%s", sep, sysflag_names[i].n);
			sep = " ";
		}
	for (size_t i = 0; m->keywords && m->keywords[i]; i++) {
		fprintf(f, "%s%s", sep, m->keywords[i]);
		sep = " ";
	}
	fputc(')', f);
	if (mt_imap_date_time(m->internaldate, date, sizeof date))
		fprintf(f, " \"%s\"", date);
	fprintf(f, " {%zu+}\r\n", m->len);
}

/* Octets of "APPEND "MAILBOX"" with its tag. */
static size_t append_prefix_len(const char *quoted)
{
	return APPEND_TAG_MAX + strlen("APPEND ") + strlen(quoted);
}

/* What one message adds to an APPEND outside its literal (append_args);
 * with keywords, only the first nkw. */
static size_t append_args_len(const struct mt_lm_msg *m, size_t nkw)
{
	size_t n = strlen(" () \"01-Jan-2024 00:00:00 +0000\" {+}\r\n") + 20;   /* 20: any length's digits */
	for (size_t i = 0; i < sizeof sysflag_names / sizeof *sysflag_names; i++)
		if (m->sysflags & sysflag_names[i].f)
			n += strlen(sysflag_names[i].n) + 1;
	for (size_t i = 0; i < nkw && m->keywords && m->keywords[i]; i++)
		n += strlen(m->keywords[i]) + 1;
	return n;
}

/* The keywords that can go into an APPEND: IMAP atoms (no other may ever
 * reach a command line), as many as fit in APPEND_LINE_MAX after a prefix
 * of prefix octets; the rest are taken off and counted in *bad (not atoms)
 * and *over (past the line, or past MT_LM_MAX_KEYWORDS when read). */
static void fit_keywords(struct mt_lm_msg *m, size_t prefix, size_t *bad, size_t *over)
{
	size_t k = 0, len = append_args_len(m, 0);
	*bad = 0;
	*over = m->keywords_over;
	for (size_t i = 0; m->keywords && m->keywords[i]; i++) {
		size_t kl = strlen(m->keywords[i]) + 1;
		if (!mt_lm_keyword_ok(m->keywords[i])) {
			(*bad)++;
		} else if (prefix + len + kl > APPEND_LINE_MAX) {
			(*over)++;
		} else {
			m->keywords[k++] = m->keywords[i];
			len += kl;
			continue;
		}
		free(m->keywords[i]);
	}
	if (m->keywords)
		m->keywords[k] = NULL;
}

struct msgids {
	char **v;
	size_t n;
};

static int take_msgid(const struct mt_fetched *m, void *arg)
{
	struct msgids *ids = arg;
	char *id = m->header ? mt_header_get(m->header, m->header_len, "message-id") : NULL;
	if (id) {
		ids->v = mt_xrealloc(ids->v, sizeof *ids->v * (ids->n + 1));
		ids->v[ids->n++] = id;
	}
	return 0;
}

/* APPEND one message, or (with MULTIAPPEND and LITERAL+) several in one
 * command; *status is the tagged result. */
static int append_batch(struct mt_ctx *ctx, const char *wire, struct mt_lm_msg *v, size_t n, int *status)
{
	if (!mt_has_cap(ctx->s, "LITERAL+")) {
		/* no non-synchronizing literals: one APPEND at a time, the classic way */
		int r = MT_OK;
		*status = 0;
		for (size_t i = 0; i < n && r == MT_OK && *status == 0; i++)
			r = mt_append(ctx->s, wire, v[i].sysflags, (const char *const *)v[i].keywords, v[i].internaldate,
				      v[i].data, v[i].len, status, &ctx->err);
		return r;
	}
	char *q = mt_imap_quote(wire), *cmd = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&cmd, &len);
	if (f == NULL)
		abort();
	fprintf(f, "APPEND %s", q);
	for (size_t i = 0; i < n; i++) {
		append_args(f, &v[i]);
		fwrite(v[i].data, 1, v[i].len, f);
	}
	if (fclose(f) != 0)
		abort();
	int r = mt_session_command(ctx->s, cmd, status, &ctx->err);
	free(cmd);
	free(q);
	return r;
}

/* What an archive holds and what of it is not appended, and why. */
struct import_count {
	uint64_t appended, bytes, existing, unreadable, nul, empty, refused, untrusted, kw_msgs, kw, over_msgs, over, toobig;
};

struct importer {
	struct mt_ctx *ctx;
	const char *path, *wire;     /* wire NULL: only count */
	int quiet, stop, multi;
	const struct msgids *ids;
	struct import_count c;
	struct mt_lm_rinfo info;     /* what the reader found */
	struct mt_lm_msg batch[100];
	size_t nb, bb;
	const char *limit_why;       /* where ro.max_message comes from */
	size_t prefix;               /* octets of the APPEND command before its first message */
	size_t line;                 /* octets of the batch's command outside its literals */
	struct mt_progress pg;       /* the appending pass's, on a terminal */
};

/* Send the batch; a refused batch is retried message by message so the one
 * the server refuses is named. MT_OK, or the error that ends the import. */
static int flush_batch(struct importer *im)
{
	struct mt_ctx *ctx = im->ctx;
	int status = 0, r = MT_OK;
	size_t nb = im->nb;
	if (nb)
		r = append_batch(ctx, im->wire, im->batch, nb, &status);
	for (size_t i = 0; r == MT_OK && i < nb; i++) {
		int st1 = status;
		if (status != 0 && nb > 1 && (r = append_batch(ctx, im->wire, &im->batch[i], 1, &st1)) != MT_OK)
			break;
		if (st1 != 0) {
			mt_progress_end(&im->pg);
			mt_fail(ctx, 0, "message %ld of '%s': the server refused it: %s", im->batch[i].position, im->path,
				mt_session_last_text(ctx->s));
			im->c.refused++;
			if (im->stop)
				r = mt_seterr(&ctx->err, MT_EDATA, "stopped at the first message the server refused (--stop-on-error)");
		} else {
			im->c.appended++;
			im->c.bytes += im->batch[i].len;
		}
		mt_progress_add(&im->pg, 1, im->batch[i].len);
	}
	for (size_t i = 0; i < nb; i++)
		mt_lm_msg_release(&im->batch[i]);
	im->nb = im->bb = 0;
	im->line = im->prefix;
	return r;
}

/* One message read: skipped (and why), counted, or batched for APPEND. */
static int import_one(struct importer *im, struct mt_lm_msg *m)
{
	char *id = mt_header_get(m->data, m->len, "message-id");
	int existing = id && mt_bsearch(&id, im->ids->v, im->ids->n, sizeof *im->ids->v, cmp_strp);
	size_t bad_kw, over_kw;
	fit_keywords(m, im->prefix, &bad_kw, &over_kw);
	free(id);
	im->c.kw += bad_kw;
	im->c.kw_msgs += bad_kw > 0;
	im->c.over += over_kw;
	im->c.over_msgs += over_kw > 0;
	im->c.untrusted += m->untrusted_flags;
	if (existing) {
		im->c.existing++;
	} else if (memchr(m->data, '\0', m->len)) {
		mt_progress_end(&im->pg);
		if (!im->quiet)
			mt_fail(im->ctx, 0, "message %ld of '%s': contains a NUL byte; not appended", m->position, im->path);
		im->c.nul++;
	} else if (m->len == 0) {
		/* no server stores a message of no bytes: said in the dry run too */
		mt_progress_end(&im->pg);
		if (!im->quiet)
			mt_fail(im->ctx, 0, "message %ld of '%s': empty (two \"From \" lines in a row?); not appended",
				m->position, im->path);
		im->c.empty++;
	} else if (im->wire == NULL) {
		im->c.appended++;
		im->c.bytes += m->len;
	} else {
		/* a MULTIAPPEND's text outside its literals stays within the limit
		 * too: a server may count it as one line */
		size_t args = append_args_len(m, SIZE_MAX);
		int r = im->nb && im->line + args > APPEND_LINE_MAX ? flush_batch(im) : MT_OK;
		if (r != MT_OK) {
			mt_lm_msg_release(m);
			return r;
		}
		im->batch[im->nb++] = *m;
		im->bb += m->len;
		im->line += args;
		if (im->nb < (im->multi ? sizeof im->batch / sizeof *im->batch : 1) && im->bb < (4u << 20))
			return MT_OK;
		return flush_batch(im);
	}
	mt_lm_msg_release(m);
	return MT_OK;
}

/* Read the whole archive once: counting (wire NULL), or appending. */
static int import_pass(struct importer *im, const struct mt_lm_ropts *ro)
{
	struct mt_lm_reader *rd;
	struct mt_ctx *ctx = im->ctx;
	int r = mt_lm_reader_open(&rd, im->path, ro, &ctx->err), more;
	struct mt_lm_msg m;
	while (r == MT_OK && (more = mt_lm_next(rd, &m, &ctx->err)) != 0) {
		if (more == MT_LM_SKIP) {
			mt_progress_end(&im->pg);   /* (drawn again by the next batch) */
			if (!im->quiet)
				mt_fail_err(ctx, &ctx->err);
			im->c.unreadable++;
		} else if (more == MT_LM_TOOBIG) {
			mt_progress_end(&im->pg);
			if (!im->quiet)
				mt_fail(ctx, 0, "%s (%s)", ctx->err.msg, im->limit_why);
			im->c.toobig++;
		} else if (more != 1) {
			r = more;
		} else {
			r = import_one(im, &m);
		}
	}
	if (r == MT_OK)
		r = flush_batch(im);
	for (size_t i = 0; i < im->nb; i++)
		mt_lm_msg_release(&im->batch[i]);
	im->nb = 0;
	if (rd)
		im->info = *mt_lm_reader_info(rd);
	mt_lm_reader_close(rd);
	return r;
}

/* What the reading pass found that must be settled before anything is
 * appended: an mbox whose Content-Length fields split it otherwise than its
 * From_ lines do (an mboxcl2 read as mboxo would cut messages); and From_
 * dates that look like local time read as UTC (said, not refused). */
static int import_doubts(struct importer *im, const struct mt_lm_ropts *ro)
{
	const struct mt_lm_rinfo *in = &im->info;
	struct mt_ctx *ctx = im->ctx;
	if (in->cl_mismatch)
		return mt_seterr(&ctx->err, MT_EDATA, "'%s': %llu message(s) have a Content-Length that does not match where the "
				 "next \"From \" line is: it may be mboxcl2; say how to read it with --mbox-format mboxcl2 "
				 "(or mboxo); nothing imported", im->path, (unsigned long long)in->cl_mismatch);
	if (in->zone_suspect) {
		long h = labs(in->zone_offset) / 3600, m = labs(in->zone_offset) % 3600 / 60;
		mt_fail(ctx, 0, "'%s': %llu message(s) have a From_ line date %c%02ld:%02ld from their Received:/Date: time: the "
			"mbox was probably written in local time (%s); see --mbox-timezone", im->path,
			(unsigned long long)in->zone_suspect, in->zone_offset < 0 ? '-' : '+', h, m,
			ro->zone ? ro->zone : "read as utc");
	}
	return MT_OK;
}

/* The Message-IDs --into already has (none when it does not exist yet). */
static int existing_ids(struct mt_ctx *ctx, const char *into, struct msgids *ids)
{
	struct mt_mailboxes mb;
	int there = 0, r = mt_list(ctx->s, into, &mb, &ctx->err);
	for (size_t i = 0; r == MT_OK && i < mb.n; i++)
		there |= strcmp(mb.v[i].name, into) == 0 && !(mb.v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT));
	if (r == MT_OK)
		mt_mailboxes_release(&mb);
	if (r != MT_OK || !there)
		return r;
	struct mt_folder_state st;
	char *w2 = NULL;
	uint32_t *all = NULL;
	size_t nall = 0;
	static const char *const hdr[] = { "MESSAGE-ID", NULL };
	struct mt_fetch_spec sp = { .headers = hdr };
	r = mt_open_folder(ctx->s, into, 1, &w2, &st, &ctx->err);
	if (r == MT_OK)
		r = mt_uid_search(ctx->s, "ALL", &all, &nall, &ctx->err);
	if (r == MT_OK && nall)
		r = mt_fetch_each(ctx->s, all, nall, &sp, take_msgid, ids, &ctx->err);
	free(all);
	free(w2);
	if (r == MT_OK && ids->n)
		mt_sort(ids->v, ids->n, sizeof *ids->v, cmp_strp);
	return r;
}

static void import_report(struct mt_ctx *ctx, const char *into, const struct importer *im, int dry, double secs)
{
	enum { I_FOLDER, I_APPENDED, I_SKIPPED, I_FAILED, I_SIZE, I_RATE, I_EXISTING, I_UNREADABLE, I_NUL,
	       I_EMPTY, I_TOOBIG, I_FORMAT, I_DFILE, I_DRECEIVED, I_DDATE, I_DSERVER, I_N };
	static const struct mt_col cols[I_N] = {
		[I_FOLDER] = { "folder", MT_COL_STR }, [I_APPENDED] = { "appended", MT_COL_NUM },
		[I_SKIPPED] = { "skipped", MT_COL_NUM }, [I_FAILED] = { "failed", MT_COL_NUM },
		[I_SIZE] = { "size", MT_COL_SIZE }, [I_RATE] = { "per_second", MT_COL_NUM },
		[I_EXISTING] = { "skipped_existing", MT_COL_NUM },
		[I_UNREADABLE] = { "skipped_not_regular_file", MT_COL_NUM }, [I_NUL] = { "skipped_nul_byte", MT_COL_NUM },
		[I_EMPTY] = { "skipped_empty", MT_COL_NUM },
		[I_TOOBIG] = { "skipped_too_large", MT_COL_NUM },
		[I_FORMAT] = { "mbox_format", MT_COL_STR }, [I_DFILE] = { "dated_by_file", MT_COL_NUM },
		[I_DRECEIVED] = { "dated_by_received", MT_COL_NUM }, [I_DDATE] = { "dated_by_date", MT_COL_NUM },
		[I_DSERVER] = { "dated_by_server", MT_COL_NUM },
	};
	const struct import_count *c = &im->c;
	struct mt_table t;
	/* one key set whatever the flags (mailtool(1), OUTPUT): a dry run's
	 * appended is what it would append */
	mt_table_init(&t, cols, I_N, ctx->fmt, mt_flag(&ctx->args, "human"));
	t.type = "import";
	int row = mt_table_row(&t);
	mt_table_str(&t, row, I_FOLDER, into);
	mt_table_num(&t, row, I_APPENDED, (long long)c->appended);
	uint64_t skipped = c->existing + c->unreadable + c->nul + c->empty + c->toobig;
	mt_table_num(&t, row, I_SKIPPED, (long long)skipped);
	mt_table_num(&t, row, I_EXISTING, (long long)c->existing);
	mt_table_num(&t, row, I_UNREADABLE, (long long)c->unreadable);
	mt_table_num(&t, row, I_NUL, (long long)c->nul);
	mt_table_num(&t, row, I_EMPTY, (long long)c->empty);
	mt_table_num(&t, row, I_TOOBIG, (long long)c->toobig);
	mt_table_num(&t, row, I_FAILED, (long long)c->refused);
	mt_table_num(&t, row, I_SIZE, (long long)c->bytes);
	mt_table_num(&t, row, I_RATE, dry ? 0 : secs > 0 ? (long long)(c->appended / secs) : (long long)c->appended);
	mt_table_str(&t, row, I_FORMAT, mt_lm_mbox_name(im->info.format));
	mt_table_num(&t, row, I_DFILE, (long long)im->info.dated[MT_LM_DATE_FILE]);
	mt_table_num(&t, row, I_DRECEIVED, (long long)im->info.dated[MT_LM_DATE_RECEIVED]);
	mt_table_num(&t, row, I_DDATE, (long long)im->info.dated[MT_LM_DATE_DATE]);
	mt_table_num(&t, row, I_DSERVER, (long long)im->info.dated[MT_LM_DATE_NONE]);
	if (!mt_quiet_nothing(ctx, c->appended))
		mt_table_print(&t, stdout);
	mt_table_release(&t);
}

static int import_main(struct mt_ctx *ctx)
{
	const char *path = mt_arg(&ctx->args, "import"), *into = mt_arg(&ctx->args, "into");
	int r, dry = mt_flag(&ctx->args, "dry-run");
	const char *mf = mt_arg(&ctx->args, "mbox-format"), *df = mt_arg(&ctx->args, "date-from");
	struct mt_lm_ropts ro = {
		.trust_status_headers = mt_flag(&ctx->args, "trust-status-headers"),
		.mbox = mf ? (enum mt_lm_mbox)mt_lm_mbox_parse(mf) : MT_LM_AUTO,
		.zone = mt_arg(&ctx->args, "mbox-timezone"),
		.date_from = df ? (enum mt_lm_datesrc)mt_lm_datesrc_parse(df) : MT_LM_DATE_FILE,
	};
	struct msgids ids = { 0 };
	char *wire = NULL;
	double t0 = mt_now_ms();
	/* flag lines count only when signed with this user's archive key */
	unsigned char key[32];
	int have_key = mt_archive_key(key, 0, &ctx->err);
	if (have_key < 0) {
		/* a key that cannot be used: no export's flag lines are believed */
		mt_warn(ctx, "%s; flag lines of exports are not read", ctx->err.msg);
		have_key = 0;
	}
	ro.key = have_key ? key : NULL;
	/* no message is held whole past our own bound or what the server
	 * takes (RFC 7889), whichever is lower: a gzip bomb is a size, not an
	 * out-of-memory abort */
	const struct archive *A = ctx->state;
	uint64_t server = 0;
	const char *limit_why = A->max_message ? "--max-message" : "mailtool's default limit; see --max-message";
	ro.max_message = A->max_message ? A->max_message : IMPORT_MAX_MESSAGE;
	if (mt_cap_number(ctx->s, "APPENDLIMIT", &server) && server != 0 && server <= ro.max_message) {
		ro.max_message = server;
		limit_why = "the server's APPENDLIMIT";
	}
	struct importer im = {
		.ctx = ctx, .path = path, .ids = &ids, .stop = mt_flag(&ctx->args, "stop-on-error"), .limit_why = limit_why,
		/* several messages per APPEND only with MULTIAPPEND and LITERAL+ */
		.multi = mt_has_cap(ctx->s, "MULTIAPPEND") && mt_has_cap(ctx->s, "LITERAL+"),
	};

	/* the whole archive is read (and with --skip-existing the folder's
	 * Message-IDs) before anything changes: a bad archive changes nothing,
	 * and a dry run says exactly this */
	char delim = 0;
	const char *why;
	if ((r = mt_delimiter(ctx->s, &delim, &ctx->err)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if ((why = unusable_folder(into, delim)) != NULL)
		return bad_into(ctx, into, why);
	r = mt_mailbox_wire(ctx->s, into, &wire, &ctx->err);
	if (r == MT_OK) {
		char *q = mt_imap_quote(wire);
		im.prefix = im.line = append_prefix_len(q ? q : "");
		free(q);
		if (q == NULL || im.prefix + append_args_len(&(struct mt_lm_msg){ .sysflags = ~0u }, 0) > APPEND_LINE_MAX)
			r = mt_seterr(&ctx->err, MT_EDATA, "--into '%s': too long a name for an APPEND command line; nothing imported",
				      into);
	}
	free(wire);
	wire = NULL;
	if (r == MT_OK && mt_flag(&ctx->args, "skip-existing"))
		r = existing_ids(ctx, into, &ids);
	im.quiet = !dry;
	if (r == MT_OK)
		r = import_pass(&im, &ro);
	if (r == MT_OK)
		r = import_doubts(&im, &ro);
	int appending = 0;   /* the counts are the real pass's, not the check's */
	if (r == MT_OK && !dry) {
		/* what the check pass counted is what this one appends */
		mt_progress_start(&im.pg, "import", im.c.appended, long_run(ctx, im.c.appended, im.c.bytes));
		im.pg.unit = "messages";
		im.pg.bytes_total = im.c.bytes;
		memset(&im.c, 0, sizeof im.c);
		im.quiet = 0;
		appending = 1;
		if ((r = mt_create(ctx->s, into, NULL, &ctx->err)) == MT_OK && (r = mt_subscribe(ctx->s, into, 1, &ctx->err)) == MT_OK &&
		    (r = mt_mailbox_wire(ctx->s, into, &wire, &ctx->err)) == MT_OK) {
			im.wire = wire;
			r = import_pass(&im, &ro);
		}
		mt_progress_end(&im.pg);
	}
	for (size_t i = 0; i < ids.n; i++)
		free(ids.v[i]);
	free(ids.v);
	free(wire);
	if (im.c.untrusted)
		mt_fail(ctx, 0, "'%s': %llu message(s) begin with Status/X-Status/X-Keywords lines of another export or "
			"of their own; not read as flags (kept in the message)%s", path, (unsigned long long)im.c.untrusted,
			ro.trust_status_headers ? "" : have_key ? " (an export by another user or machine, signed "
			"with that one's archive.key, or by an older mailtool? see --trust-status-headers)" :
			" (an export by another user or machine? copy its archive.key into the state directory, "
			"~/.local/state/mailtool; by an older mailtool? see --trust-status-headers)");
	explicit_bzero(key, sizeof key);
	if (im.c.kw)
		mt_fail(ctx, 0, "'%s': %llu keyword(s) on %llu message(s) are not IMAP keywords; not appended", path,
			(unsigned long long)im.c.kw, (unsigned long long)im.c.kw_msgs);
	if (im.c.over)
		mt_fail(ctx, 0, "'%s': %llu keyword(s) on %llu message(s) not kept: past %d per message, or past the %d octets "
			"an APPEND command line takes here; not appended", path, (unsigned long long)im.c.over,
			(unsigned long long)im.c.over_msgs, MT_LM_MAX_KEYWORDS, APPEND_LINE_MAX);
	if (im.info.subfolders)
		mt_fail(ctx, 0, "'%s': a Maildir++ root: its %llu subfolder(s) (%s...) are other folders and were not "
			"read; import each with --import '%s/.NAME' --into NAME", path,
			(unsigned long long)im.info.subfolders, im.info.subfolder, path);
	if (im.info.dated[MT_LM_DATE_NONE])
		mt_fail(ctx, 0, "'%s': %llu message(s) have no date an APPEND can carry (none read, or past the year 9999); the "
			"server dates them", path, (unsigned long long)im.info.dated[MT_LM_DATE_NONE]);
	/* a check pass that failed appended nothing: no row that says otherwise */
	if (r == MT_OK || (appending && im.c.appended))
		import_report(ctx, into, &im, dry, (mt_now_ms() - t0) / 1000);
	if (r != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	return im.c.refused || im.c.unreadable || im.c.nul || im.c.empty || im.c.toobig || im.info.subfolders ? MT_EDATA
														       : MT_OK;
}

/* Moves into archive folders a killed run left half done (servers without
 * MOVE; mt_recover_moves): the targets are every existing folder the
 * template can name, its strftime fields read as wildcards. */
static int recover(struct mt_ctx *ctx, const char *tmpl, char **folders, size_t nfolders)
{
	struct mt_mailboxes all;
	size_t o = 0;
	if (mt_has_cap(ctx->s, "MOVE"))
		return MT_OK;
	/* never longer than the template */
	char *pat = mt_xmalloc(strlen(tmpl) + 1);
	for (const char *p = tmpl; *p; p++) {
		if (*p == '%' && p[1]) {
			pat[o++] = '*';
			p++;
		} else {
			pat[o++] = *p;
		}
	}
	pat[o] = '\0';
	if (mt_list(ctx->s, "*", &all, &ctx->err) != MT_OK) {
		free(pat);
		return mt_fail_err(ctx, &ctx->err);
	}
	const char **tgt = mt_xmalloc(sizeof *tgt * (all.n + 1));
	size_t nt = 0;
	uint64_t done = 0;
	for (size_t i = 0; i < all.n; i++)
		if (!(all.v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) && mt_wildmatch(pat, all.v[i].name, 0))
			tgt[nt++] = all.v[i].wire;
	int r = mt_recover_moves(ctx->s, (const char *const *)folders, nfolders, tgt, nt, 0, &done, &ctx->err);
	if (r == MT_OK && done && ctx->verbose)
		mt_warn(ctx, "finished %llu move(s) an interrupted run had left half done", (unsigned long long)done);
	free(tgt);
	free(pat);
	mt_mailboxes_release(&all);
	return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
}

/* The folder the template names for one message's date; owned. */
static char *target_of(const char *tmpl, const struct mt_msg *m, int by_date_header)
{
	return mt_date_name(tmpl, by_date_header && m->date ? m->date : m->internaldate);
}

/* One folder's part of the plan: its moves, one per target (whatever the
 * number of periods), in the order the targets first appear. To another
 * account (its session d), the targets as that server names them. */
static int plan_folder(struct mt_plan *moves, const struct mt_selection *sel, const char *tmpl, int by_date_header,
		       const char *account, struct mt_session *d, struct mt_err *e)
{
	uint32_t *uids = mt_xmalloc(sizeof *uids * (sel->n ? sel->n : 1));
	uint32_t *sizes = mt_xmalloc(sizeof *sizes * (sel->n ? sel->n : 1));
	char **names = mt_xmalloc(sizeof *names * (sel->n ? sel->n : 1));
	unsigned char *taken = mt_xmalloc(sel->n ? sel->n : 1);
	memset(taken, 0, sel->n ? sel->n : 1);
	int r = MT_OK;
	for (size_t i = 0; i < sel->n; i++) {
		names[i] = target_of(tmpl, &sel->msgs[i], by_date_header);
		char *there = NULL;
		if (d && r == MT_OK && (r = mt_foreign_name(d, names[i], &there, e)) == MT_OK) {
			free(names[i]);
			names[i] = there;
		}
	}
	for (size_t i = 0; i < sel->n && r == MT_OK; i++) {
		if (taken[i])
			continue;
		size_t n = 0;
		for (size_t j = i; j < sel->n; j++)
			if (!taken[j] && strcmp(names[j], names[i]) == 0) {
				taken[j] = 1;
				uids[n] = sel->msgs[j].uid;   /* msgs are in UID order: uids stay sorted */
				sizes[n++] = sel->msgs[j].size;
			}
		if (account == NULL && strcmp(names[i], sel->folder) == 0)
			continue;   /* already where it belongs */
		struct mt_op *op = mt_plan_add_uids(moves, MT_OP_MOVE, sel->folder, sel->wire, sel->uidvalidity, uids,
						    sizes, n);
		op->target = mt_xstrdup(names[i]);
		op->account = account ? mt_xstrdup(account) : NULL;
	}
	for (size_t i = 0; i < sel->n; i++)
		free(names[i]);
	free(names);
	free(taken);
	free(uids);
	free(sizes);
	return r;
}

/* The rows: per folder its moves, then what \Flagged mail stayed; a real
 * run reports what the server says was done, through the op it stopped in. */
static void report(struct mt_ctx *ctx, const struct mt_plan *p, size_t first_move, char **folders, size_t nfolders,
		   const uint64_t *fl_n, const uint64_t *fl_b, int dry)
{
	struct mt_table t;
	uint64_t tot_n = 0, tot_b = 0;
	int moves = 0, stopped = 0;
	mt_report_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	size_t k = first_move;
	for (size_t f = 0; f < nfolders && !stopped; f++) {
		for (; k < p->n && strcmp(p->v[k].folder, folders[f]) == 0; k++) {
			const struct mt_op *op = &p->v[k];
			char *row = op->account ? mt_xasprintf("%s -> %s:%s", op->folder, op->account, op->target)
						: mt_xasprintf("%s -> %s", op->folder, op->target);
			uint64_t n = dry && !op->account ? op->n : op->done, b = dry && !op->account ? op->bytes : op->done_bytes;
			mt_report_row(&t, row, dry ? "would move" : "moved", n, b);
			/* of those, copies an interrupted run had made: not appended again */
			if (op->found)
				mt_report_row(&t, row, "already there", op->found,
					      op->found_bytes);
			/* and what stays where it is, by why (each named on stderr) */
			uint64_t sn, sb;
			const char *act;
			for (int w = 1; (act = mt_skip_row(op, w, &sn, &sb)) != NULL; w++)
				if (sn)
					mt_report_row(&t, row, act, sn, sb);
			free(row);
			moves++;
			tot_n += n;
			tot_b += b;
			if (!dry && !op->ran) {
				stopped = 1;   /* the run stopped in this op (what it moved is above); the error says why */
				break;
			}
		}
		if (!stopped && fl_n[f])
			mt_report_row(&t, folders[f], "skipped: flagged", fl_n[f], fl_b[f]);
	}
	if (moves > 1)
		mt_report_total(&t, dry ? "would move" : "moved", tot_n, tot_b);
	if (!mt_quiet_nothing(ctx, tot_n))
		mt_table_print(&t, stdout);
	mt_table_release(&t);
}

static int archive_main(struct mt_ctx *ctx)
{
	const char *tmpl = mt_arg(&ctx->args, "to") ? mt_arg(&ctx->args, "to") : "Archive/%Y";
	const struct archive *A = ctx->state;
	int dry = mt_flag(&ctx->args, "dry-run"), r = MT_OK;
	char **folders = NULL;
	size_t nfolders = 0;
	uint64_t skipped = 0;   /* to another account: messages left where they are */
	const char *xa = mt_arg(&ctx->args, "to-account");
	/* to another account: its session opened when the plan first needs it */
	struct mt_plan plan = { .dest = mt_dest_session, .dest_arg = ctx, .dry_run = dry }, moves = { 0 };

	if (mt_arg(&ctx->args, "export"))
		return export_main(ctx);
	if (mt_arg(&ctx->args, "import"))
		return import_main(ctx);
	int unmatched = 0;
	if (mt_expand_args(ctx, mt_flag(&ctx->args, "recursive"), &folders, &nfolders, &unmatched) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (nfolders == 0)
		return MT_EDATA;   /* mailtool(1): each argument was named on stderr */
	if (!dry && !xa && (r = recover(ctx, tmpl, folders, nfolders)) != MT_OK) {
		mt_free_folders(folders, nfolders);
		return r;
	}
	/* to another account: its session, for the names of the targets there */
	struct mt_session *dest = NULL;
	if (xa && (r = mt_dest_session(ctx, xa, &dest, &ctx->err)) != MT_OK) {
		mt_free_folders(folders, nfolders);
		return mt_fail_err(ctx, &ctx->err);
	}
	/* the plan: every folder chosen from (read-only) before anything changes */
	uint64_t *fl_n = mt_xmalloc(sizeof *fl_n * (nfolders ? nfolders : 1));
	uint64_t *fl_b = mt_xmalloc(sizeof *fl_b * (nfolders ? nfolders : 1));
	for (size_t f = 0; f < nfolders && r == MT_OK; f++) {
		struct mt_selection sel;
		fl_n[f] = fl_b[f] = 0;
		if ((r = choose(ctx, folders[f], A->cond, 1, 1, &sel)) == MT_OK &&
		    (r = flagged_left(ctx, folders[f], &sel, tmpl, &fl_n[f], &fl_b[f])) == MT_OK)
			r = plan_folder(&moves, &sel, tmpl, A->by_date_header, xa, dest, &ctx->err);
		mt_selection_release(&sel);
	}
	/* every target created (\Archive where the server takes it) and
	 * subscribed first, once, then the moves */
	for (size_t k = 0; k < moves.n && r == MT_OK; k++) {
		int planned = 0;
		for (size_t o = 0; o < plan.n && !planned; o++)
			planned = strcmp(plan.v[o].folder, moves.v[k].target) == 0;
		if (!planned) {
			struct mt_op *op = mt_plan_add(&plan, MT_OP_CREATE);
			op->folder = mt_xstrdup(moves.v[k].target);
			op->flags = mt_xstrdup("\\Archive");
			op->account = xa ? mt_xstrdup(xa) : NULL;
		}
	}
	size_t first_move = plan.n;
	for (size_t k = 0; k < moves.n; k++) {
		struct mt_op *m = &moves.v[k];
		struct mt_op *op = mt_plan_add_uids(&plan, MT_OP_MOVE, m->folder, m->wire, m->uidvalidity, m->uids, m->sizes,
						    m->n);
		op->target = mt_xstrdup(m->target);
		op->account = m->account ? mt_xstrdup(m->account) : NULL;
	}
	mt_plan_release(&moves);
	if (r == MT_OK)
		r = mt_plan_check(ctx->s, &plan, &ctx->err);
	/* a plan that could not be made or checked changed nothing: no rows */
	if (r == MT_OK) {
		/* a dry run to another account reads there what a real run would find */
		if (!dry || xa)
			r = mt_plan_run(ctx->s, &plan, &ctx->err);
		for (size_t k = first_move; k < plan.n; k++)
			skipped += mt_report_skips(ctx, &plan.v[k]);
		report(ctx, &plan, first_move, folders, nfolders, fl_n, fl_b, dry);
	}
	free(fl_n);
	free(fl_b);
	mt_plan_release(&plan);
	mt_free_folders(folders, nfolders);
	if (r != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	else if (skipped)
		/* the rest was done, but not what was asked: mailtool-archive(1), EXIT STATUS */
		r = mt_fail(ctx, MT_EDATA, "%llu message%s %s moved (named above): %s %s where %s", (unsigned long long)skipped,
			    skipped == 1 ? "" : "s", dry ? "would not be" : skipped == 1 ? "was not" : "were not",
			    skipped == 1 ? "it" : "they", dry ? "would stay" : skipped == 1 ? "stays" : "stay",
			    skipped == 1 ? "it is" : "they are");
	/* a folder argument named nothing: the others are done */
	return r == MT_OK && unmatched ? MT_EDATA : r;
}

static const struct mt_applet archive_applet = {
	.name = "archive",
	.summary = "move old mail into dated server folders (Archive/%Y), every period in one run",
	.usage = "[options] --older DURATION FOLDER... | --export PATH FOLDER... | --import PATH --into FOLDER",
	.description = "Messages older than DURATION go to the folder TEMPLATE names for their date\n"
		       "(INTERNALDATE, or the Date header with --by-date-header): Archive/2024, Archive/2025...\n"
		       "Missing folders are created (\\Archive special-use where CREATE-SPECIAL-USE is offered)\n"
		       "and subscribed. Moves are batched per target folder with UID MOVE, or UID COPY and\n"
		       "the exact UID EXPUNGE of expunge(1); flags and keywords are kept. \\Flagged mail stays\n"
		       "unless --include-flagged.\n"
		       "--export writes the selected mail (every message, or what --older/--before/--seen\n"
		       "select) to mboxrd (.mbox, .mbox.gz) or a Maildir, streamed under a temporary name,\n"
		       "flushed and renamed, then read back and checked (SHA-256 of every message);\n"
		       "--delete-after-export then removes exactly those messages. --import appends an mbox,\n"
		       "Maildir or .eml directory with flags and dates (MULTIAPPEND, LITERAL+).",
	.opts = archive_opts,
	.complete_first = "folder",
	.complete_rest = "folder",
	.flags = MT_APPLET_SESSION,
	.main = archive_main,
	.check = archive_check,
	.release = archive_release,
};
MT_APPLET(archive_applet);
