/* archive.c — old mail into dated server folders (Archive/%Y by default), one
 * run for every period, moved with the exact engine of lib/select.c (UID MOVE,
 * or COPY + UID EXPUNGE of exactly the copied UIDs), flags kept. */
#include "../tool/tool.h"
#include "../lib/localmail.h"
#include "../lib/select.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static const struct mt_opt archive_opts[] = {
	{ .lng = "older", .kind = MT_ARG, .metavar = "DURATION",
	  .help = "mail older than DURATION (required to move on the server)" },
	{ .lng = "before", .kind = MT_ARG, .metavar = "DATE", .help = "mail dated before DATE (YYYY-MM-DD)" },
	{ .lng = "to", .kind = MT_ARG, .metavar = "TEMPLATE",
	  .help = "target folder, strftime %Y %m %d of each message's date (default Archive/%Y)", .complete = "folder" },
	{ .lng = "by-date-header", .kind = MT_FLAG, .help = "dates from the Date header, not INTERNALDATE" },
	{ .lng = "seen", .kind = MT_FLAG, .help = "only messages marked \\Seen" },
	{ .lng = "include-flagged", .kind = MT_FLAG, .help = "also archive \\Flagged messages" },
	{ .lng = "recursive", .shrt = 'r', .kind = MT_FLAG, .help = "also every subfolder of each FOLDER" },
	{ .lng = "dry-run", .shrt = 'n', .kind = MT_FLAG, .help = "change nothing; show per target folder what would move" },
	{ .lng = "export", .kind = MT_ARG, .metavar = "PATH",
	  .help = "write the mail to a local archive: PATH.mbox, PATH.mbox.gz or a Maildir", .complete = "file" },
	{ .lng = "format", .kind = MT_ARG, .metavar = "FORMAT",
	  .help = "archive format when PATH does not say: mbox, mbox.gz or maildir", .complete = "mbox mbox.gz maildir" },
	{ .lng = "delete-after-export", .kind = MT_FLAG,
	  .help = "then remove from the server exactly the messages exported and verified" },
	{ .lng = "import", .kind = MT_ARG, .metavar = "PATH",
	  .help = "append the messages of an mbox (.gz), Maildir or .eml directory", .complete = "file" },
	{ .lng = "into", .kind = MT_ARG, .metavar = "FOLDER", .help = "the folder --import appends to", .complete = "folder" },
	{ .lng = "skip-existing", .kind = MT_FLAG, .help = "--import: skip messages whose Message-ID the folder has" },
	{ .lng = "stop-on-error", .kind = MT_FLAG, .help = "--import: stop at the first message the server refuses" },
	{ .lng = "human", .shrt = 'h', .kind = MT_FLAG, .help = "sizes in KiB/MiB/GiB" },
	MT_OPT_END,
};

/* The template's fields: only %Y %m %d (and %%), so a name never depends on
 * the locale or the time of day. */
static int template_ok(const char *t)
{
	for (const char *p = t; *p; p++)
		if (*p == '%' && (p[1] == 'Y' || p[1] == 'm' || p[1] == 'd' || p[1] == '%'))
			p++;
		else if (*p == '%')
			return 0;
	return mt_mailbox_name_ok(t);
}

static int archive_check(struct mt_ctx *ctx)
{
	struct mt_criteria c;
	int given;
	const char *to = mt_arg(&ctx->args, "to"), *exp = mt_arg(&ctx->args, "export"), *imp = mt_arg(&ctx->args, "import");
	const char *fmt = mt_arg(&ctx->args, "format");
	if (exp && imp)
		return mt_fail(ctx, MT_EUSAGE, "--export and --import exclude each other");
	if (imp) {
		if (ctx->args.argc > 0 || mt_arg(&ctx->args, "into") == NULL)
			return mt_fail(ctx, MT_EUSAGE, "usage: mailtool archive --import PATH --into FOLDER");
		if (!mt_mailbox_name_ok(mt_arg(&ctx->args, "into")))
			return mt_fail(ctx, MT_EDATA, "--into: not a usable folder name");
		return MT_OK;
	}
	if (mt_arg(&ctx->args, "into") || mt_flag(&ctx->args, "skip-existing") || mt_flag(&ctx->args, "stop-on-error"))
		return mt_fail(ctx, MT_EUSAGE, "--into, --skip-existing and --stop-on-error go with --import");
	if (ctx->args.argc == 0)
		return mt_fail(ctx, MT_EUSAGE, "usage: mailtool archive %s", ctx->ap->usage);
	if (fmt && mt_lm_format_parse(fmt) < 0)
		return mt_fail(ctx, MT_EUSAGE, "--format '%s': mbox, mbox.gz or maildir", fmt);
	if (!exp && (fmt || mt_flag(&ctx->args, "delete-after-export")))
		return mt_fail(ctx, MT_EUSAGE, "--format and --delete-after-export go with --export");
	if (!exp && mt_arg(&ctx->args, "older") == NULL)
		return mt_fail(ctx, MT_EUSAGE, "--older DURATION is required: archive never takes a whole folder");
	if (exp && (to || mt_flag(&ctx->args, "dry-run")))
		return mt_fail(ctx, MT_EUSAGE, "--to and --dry-run are for archiving on the server, not --export");
	if (mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (to && !template_ok(to))
		return mt_fail(ctx, MT_EDATA, "--to '%s': only %%Y, %%m and %%d may be used, and no CR or LF", to);
	return MT_OK;
}

/* ---- export ------------------------------------------------------------ */

#define BIG_MESSAGE (1u << 20)     /* larger ones are fetched in pieces of this size */
#define BATCH_BYTES (8u << 20)     /* at most this much message text per FETCH */

struct exporter {
	struct mt_lm_writer *w;
	struct mt_err *e;
	int begun, failed;
	uint32_t uid;
};

/* The address of a From header, for the mbox separator line. */
static char *sender_of(const char *header, size_t len)
{
	char *from = header ? mt_header_get(header, len, "from") : NULL, *addr = NULL;
	if (from) {
		char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
		if (lt && gt)
			addr = mt_xasprintf("%.*s", (int)(gt - lt - 1), lt + 1);
		else
			for (char *t = strtok(from, " \t,"); t && !addr; t = strtok(NULL, " \t,"))
				if (strchr(t, '@'))
					addr = mt_xstrdup(t);
		free(from);
	}
	return addr;
}

static int export_chunk(const struct mt_fetched *m, void *arg)
{
	struct exporter *x = arg;
	int r = MT_OK;
	if (x->uid && m->uid != x->uid)
		return 0;
	if (!x->begun || !x->uid) {
		char *sender = sender_of(m->header, m->header_len);
		r = mt_lm_begin(x->w, m->uid, sender, m->internaldate, m->sysflags, m->keywords, x->e);
		free(sender);
		x->begun++;
	}
	if (r == MT_OK && m->body)
		r = mt_lm_write(x->w, m->body, m->body_len, x->e);
	if (r == MT_OK && !x->uid)
		r = mt_lm_end(x->w, x->e);
	if (r != MT_OK)
		x->failed = 1;
	return r;
}

/* Stream the selection into a new archive, verify it, and (optionally)
 * remove exactly those messages from the server. */
static int export_folder(struct mt_ctx *ctx, struct mt_selection *sel, const char *path, enum mt_lm_fmt fmt,
			 int delete_after, uint64_t *deleted)
{
	static const char *const from_hdr[] = { "FROM", NULL };
	struct exporter x = { .e = &ctx->err };
	struct stat st;
	/* A run killed after its archive was in place but before the removal
	 * left the archive and the messages: the selection is streamed again
	 * into a scratch archive only for its digests, and what of it is found
	 * in the existing archive is removed. */
	int resume = delete_after && lstat(path, &st) == 0;
	char *wpath = resume ? mt_xasprintf("%s.recheck", path) : mt_xstrdup(path);
	int r = mt_lm_open(&x.w, wpath, fmt, &ctx->err);
	free(wpath);
	*deleted = 0;
	if (r != MT_OK)
		return r;
	uint32_t *uids = mt_xmalloc(sizeof *uids * (sel->n ? sel->n : 1));
	for (size_t i = 0; i < sel->n && r == MT_OK;) {
		if (sel->msgs[i].size > BIG_MESSAGE) {
			/* one big message, in pieces: never whole in memory */
			uint32_t uid = sel->msgs[i].uid, size = sel->msgs[i].size;
			x.uid = uid;
			x.begun = 0;
			for (uint64_t off = 0; r == MT_OK && off < size; off += BIG_MESSAGE) {
				struct mt_fetch_spec sp = { .body_prefix = BIG_MESSAGE, .body_offset = off };
				if (off == 0) {
					sp.flags = sp.date = 1;
					sp.headers = from_hdr;
				}
				int before = x.begun;
				r = mt_fetch_each(ctx->s, &uid, 1, &sp, export_chunk, &x, &ctx->err);
				if (r == MT_OK && off == 0 && x.begun == before)
					r = mt_seterr(&ctx->err, MT_ETEMP, "message UID %u of '%s' went away during the export", uid, sel->folder);
			}
			if (r == MT_OK)
				r = mt_lm_end(x.w, &ctx->err);
			i++;
			continue;
		}
		/* small messages: as many as fit in one FETCH */
		size_t n = 0;
		uint64_t bytes = 0;
		while (i < sel->n && sel->msgs[i].size <= BIG_MESSAGE && (n == 0 || bytes + sel->msgs[i].size <= BATCH_BYTES)) {
			bytes += sel->msgs[i].size;
			uids[n++] = sel->msgs[i++].uid;
		}
		struct mt_fetch_spec sp = { .flags = 1, .date = 1, .headers = from_hdr, .body_whole = 1 };
		size_t before = x.begun;
		x.uid = 0;
		r = mt_fetch_each(ctx->s, uids, n, &sp, export_chunk, &x, &ctx->err);
		if (r == MT_OK && (size_t)x.begun - before != n)
			r = mt_seterr(&ctx->err, MT_ETEMP, "%zu of %zu messages of '%s' went away during the export; nothing kept",
				      n - ((size_t)x.begun - before), n, sel->folder);
	}
	free(uids);
	if (resume) {
		size_t nd = 0;
		const unsigned char *dig = mt_lm_digests(x.w, &nd);
		unsigned char *want = mt_xmalloc(32 * (nd + 1));
		memcpy(want, dig, 32 * nd);
		mt_lm_abort(x.w);
		if (r == MT_OK && !x.failed && (r = mt_lm_verify_subset(path, want, nd, &ctx->err)) != MT_OK) {
			char m[sizeof ctx->err.msg];
			snprintf(m, sizeof m, "%s", ctx->err.msg);
			mt_seterr(&ctx->err, MT_EDATA, "%s; not overwriting it, nothing removed from the server", m);
		}
		free(want);
		if (r == MT_OK && x.failed)
			r = MT_EIO;
		uint64_t freed = 0;
		if (r == MT_OK)
			r = mt_remove_selection(ctx->s, sel, NULL, 0, deleted, &freed, &ctx->err);
		return r;
	}
	if (r == MT_OK && !x.failed)
		r = mt_lm_commit(x.w, &ctx->err);
	if (r != MT_OK) {
		mt_lm_abort(x.w);
		return r;
	}
	/* the test suite's way to damage an archive between writing and checking */
	const char *hook = getenv("MAILTOOL_TEST_HOOK_AFTER_EXPORT");
	if (hook && *hook) {
		setenv("MAILTOOL_EXPORT_PATH", path, 1);
		if (system(hook) != 0) {
			/* the hook's business */
		}
	}
	size_t nd;
	const unsigned char *dig = mt_lm_digests(x.w, &nd);
	r = mt_lm_verify(path, dig, nd, &ctx->err);
	mt_lm_free(x.w);
	if (r != MT_OK) {
		if (delete_after) {
			char m[sizeof ctx->err.msg];
			snprintf(m, sizeof m, "%s", ctx->err.msg);
			mt_seterr(&ctx->err, MT_EDATA, "%s; nothing removed from the server", m);
		}
		return r;
	}
	if (delete_after) {
		uint64_t b = 0;
		r = mt_remove_selection(ctx->s, sel, NULL, 0, deleted, &b, &ctx->err);
	}
	return r;
}

static int export_main(struct mt_ctx *ctx)
{
	const char *path = mt_arg(&ctx->args, "export"), *fv = mt_arg(&ctx->args, "format");
	int r = MT_OK, given, del = mt_flag(&ctx->args, "delete-after-export");
	struct mt_criteria c;
	char **folders = NULL, delim = 0;
	size_t nfolders = 0;
	struct mt_table t;
	enum mt_lm_fmt fmt = fv ? (enum mt_lm_fmt)mt_lm_format_parse(fv) : mt_lm_format_of(path);

	mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err);
	if (mt_expand_folders(ctx->s, (const char *const *)ctx->args.argv, (size_t)ctx->args.argc,
			      mt_flag(&ctx->args, "recursive"), &folders, &nfolders, &ctx->err) != MT_OK ||
	    mt_delimiter(ctx->s, &delim, &ctx->err) != MT_OK) {
		mt_free_folders(folders, nfolders);
		return mt_fail_err(ctx, &ctx->err);
	}
	/* one folder: PATH is the archive; several: PATH is a directory of them,
	 * named after the folders but never outside it */
	int many = nfolders > 1 || mt_flag(&ctx->args, "recursive") || strpbrk(ctx->args.argv[0], "*%");
	if (many && mkdir(path, 0700) < 0 && errno != EEXIST) {
		mt_free_folders(folders, nfolders);
		return mt_fail(ctx, MT_EIO, "cannot create '%s': %s", path, strerror(errno));
	}
	mt_report_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	uint64_t tot_n = 0, tot_b = 0;
	for (size_t f = 0; f < nfolders && r == MT_OK; f++) {
		struct mt_selection sel;
		char *target;
		if (many) {
			char *rel = mt_lm_safe_path(folders[f], delim);
			target = mt_xasprintf("%s/%s%s", path, rel, mt_lm_format_ext(fmt));
			/* the folder's parent directories, inside PATH */
			for (char *p = target + strlen(path) + 1; (p = strchr(p, '/')) != NULL; p++) {
				*p = '\0';
				mkdir(target, 0700);
				*p = '/';
			}
			free(rel);
		} else {
			target = mt_xstrdup(path);
		}
		r = mt_select_messages(ctx->s, folders[f], &c, !del, NULL, NULL, &sel, &ctx->err);
		uint64_t deleted = 0;
		if (r == MT_OK)
			r = export_folder(ctx, &sel, target, fmt, del, &deleted);
		char *row = mt_xasprintf("%s -> %s", folders[f], target);
		if (r == MT_OK) {
			mt_report_row(&t, row, "exported", sel.n, sel.bytes);
			if (del)
				mt_report_row(&t, folders[f], "removed", deleted, sel.bytes);
			tot_n += sel.n;
			tot_b += sel.bytes;
		}
		free(row);
		free(target);
		mt_selection_release(&sel);
	}
	if (nfolders > 1)
		mt_report_row(&t, "(total)", "exported", tot_n, tot_b);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	mt_free_folders(folders, nfolders);
	return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
}

/* ---- import ------------------------------------------------------------ */

static const char *const months3[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* "(\\Seen $Kw) \"22-Nov-2026 10:00:00 +0000\" " for APPEND */
static char *append_args(const struct mt_lm_msg *m)
{
	static const struct { unsigned f; const char *n; } sys[] = {
		{ MT_F_SEEN, "\\Seen" }, { MT_F_ANSWERED, "\\Answered" }, { MT_F_FLAGGED, "\\Flagged" },
		{ MT_F_DELETED, "\\Deleted" }, { MT_F_DRAFT, "\\Draft" },
	};
	char *fl = mt_xstrdup("");
	for (size_t i = 0; i < sizeof sys / sizeof *sys; i++)
		if (m->sysflags & sys[i].f) {
			char *n = mt_xasprintf("%s%s%s", fl, *fl ? " " : "", sys[i].n);
			free(fl);
			fl = n;
		}
	for (size_t i = 0; m->keywords && m->keywords[i]; i++) {
		const char *k = m->keywords[i];
		int ok = *k != '\0';
		for (const char *p = k; *p; p++)
			if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("(){%*\"\\]", *p))
				ok = 0;
		if (!ok)
			continue;
		char *n = mt_xasprintf("%s%s%s", fl, *fl ? " " : "", k);
		free(fl);
		fl = n;
	}
	char date[64] = "";
	if (m->internaldate > 0) {
		struct tm tm;
		gmtime_r(&m->internaldate, &tm);
		snprintf(date, sizeof date, " \"%02d-%s-%d %02d:%02d:%02d +0000\"", tm.tm_mday, months3[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	char *s = mt_xasprintf("(%s)%s", fl, date);
	free(fl);
	return s;
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

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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
	char *q = mt_imap_quote(wire);
	size_t len = strlen(q) + 16;
	for (size_t i = 0; i < n; i++)
		len += v[i].len + 128;
	char *cmd = mt_xmalloc(len), *o = cmd;
	o += sprintf(o, "APPEND %s", q);
	for (size_t i = 0; i < n; i++) {
		char *args = append_args(&v[i]);
		o += sprintf(o, " %s {%zu+}\r\n", args, v[i].len);
		memcpy(o, v[i].data, v[i].len);
		o += v[i].len;
		free(args);
	}
	*o = '\0';
	int r = mt_session_command(ctx->s, cmd, status, &ctx->err);
	free(cmd);
	free(q);
	return r;
}

static int import_main(struct mt_ctx *ctx)
{
	const char *path = mt_arg(&ctx->args, "import"), *into = mt_arg(&ctx->args, "into");
	int r, stop = mt_flag(&ctx->args, "stop-on-error"), multi = mt_has_cap(ctx->s, "MULTIAPPEND");
	struct mt_lm_reader *rd = NULL;
	struct msgids ids = { 0 };
	char *wire = NULL;
	uint64_t appended = 0, skipped = 0, failed = 0, bytes = 0;
	double t0 = mt_now_ms();

	if ((r = mt_lm_reader_open(&rd, path, &ctx->err)) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	/* several messages per APPEND only with MULTIAPPEND and LITERAL+ */
	multi = multi && mt_has_cap(ctx->s, "LITERAL+");
	if ((r = mt_create(ctx->s, into, NULL, &ctx->err)) != MT_OK || (r = mt_subscribe(ctx->s, into, 1, &ctx->err)) != MT_OK ||
	    (r = mt_mailbox_wire(ctx->s, into, &wire, &ctx->err)) != MT_OK) {
		mt_lm_reader_close(rd);
		free(wire);
		return mt_fail_err(ctx, &ctx->err);
	}
	if (mt_flag(&ctx->args, "skip-existing")) {
		/* the Message-IDs already there, fetched once */
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
			r = mt_fetch_each(ctx->s, all, nall, &sp, take_msgid, &ids, &ctx->err);
		free(all);
		free(w2);
		if (r != MT_OK) {
			mt_lm_reader_close(rd);
			free(wire);
			return mt_fail_err(ctx, &ctx->err);
		}
		if (ids.n)
			qsort(ids.v, ids.n, sizeof *ids.v, cmp_strp);
	}
	/* batches of up to 100 messages / 4 MiB in one MULTIAPPEND; a refused batch
	 * is retried message by message so the one the server refuses is named */
	struct mt_lm_msg batch[100];
	size_t nb = 0, bb = 0;
	int more = 1, fatal = 0;
	while (!fatal && (more || nb)) {
		struct mt_lm_msg m;
		if (more) {
			more = mt_lm_next(rd, &m, &ctx->err);
			if (more != 0 && more != 1) {
				r = more;
				fatal = 1;
				break;
			}
		}
		if (more == 1) {
			char *id = mt_header_get(m.data, m.len, "message-id");
			int skip = id && ids.n && bsearch(&id, ids.v, ids.n, sizeof *ids.v, cmp_strp);
			free(id);
			if (skip || memchr(m.data, '\0', m.len)) {
				if (skip)
					skipped++;
				else {
					fprintf(stderr, "mailtool archive: message %ld of '%s': contains a NUL byte; not appended\n",
						m.position, path);
					failed++;
				}
				mt_lm_msg_release(&m);
				continue;
			}
			batch[nb++] = m;
			bb += m.len;
		}
		if (nb == 0 || (more == 1 && nb < (multi ? sizeof batch / sizeof *batch : 1) && bb < (4u << 20)))
			continue;
		int status = 0;
		r = append_batch(ctx, wire, batch, nb, &status);
		if (r == MT_OK && status != 0 && nb > 1) {
			/* which one? one by one */
			for (size_t i = 0; i < nb && r == MT_OK; i++) {
				int st1 = 0;
				r = append_batch(ctx, wire, &batch[i], 1, &st1);
				if (r == MT_OK && st1 != 0) {
					fprintf(stderr, "mailtool archive: message %ld of '%s': the server refused it: %s\n",
						batch[i].position, path, mt_session_last_text(ctx->s));
					failed++;
					if (stop)
						fatal = 1, r = MT_EDATA;
				} else if (r == MT_OK) {
					appended++;
					bytes += batch[i].len;
				}
				if (fatal)
					break;
			}
		} else if (r == MT_OK && status != 0) {
			fprintf(stderr, "mailtool archive: message %ld of '%s': the server refused it: %s\n",
				batch[0].position, path, mt_session_last_text(ctx->s));
			failed++;
			if (stop)
				fatal = 1, r = MT_EDATA;
		} else if (r == MT_OK) {
			appended += nb;
			for (size_t i = 0; i < nb; i++)
				bytes += batch[i].len;
		} else {
			fatal = 1;
		}
		for (size_t i = 0; i < nb; i++)
			mt_lm_msg_release(&batch[i]);
		nb = bb = 0;
	}
	for (size_t i = 0; i < nb; i++)
		mt_lm_msg_release(&batch[i]);
	mt_lm_reader_close(rd);
	for (size_t i = 0; i < ids.n; i++)
		free(ids.v[i]);
	free(ids.v);
	free(wire);
	double secs = (mt_now_ms() - t0) / 1000;
	enum { I_FOLDER, I_APPENDED, I_SKIPPED, I_FAILED, I_SIZE, I_RATE, I_N };
	static const struct mt_col cols[I_N] = {
		[I_FOLDER] = { "folder", MT_COL_STR }, [I_APPENDED] = { "appended", MT_COL_NUM },
		[I_SKIPPED] = { "skipped", MT_COL_NUM }, [I_FAILED] = { "failed", MT_COL_NUM },
		[I_SIZE] = { "size", MT_COL_SIZE }, [I_RATE] = { "per_second", MT_COL_NUM },
	};
	struct mt_table t;
	mt_table_init(&t, cols, I_N, ctx->fmt, mt_flag(&ctx->args, "human"));
	int row = mt_table_row(&t);
	mt_table_str(&t, row, I_FOLDER, into);
	mt_table_num(&t, row, I_APPENDED, (long long)appended);
	mt_table_num(&t, row, I_SKIPPED, (long long)skipped);
	mt_table_num(&t, row, I_FAILED, (long long)failed);
	mt_table_num(&t, row, I_SIZE, (long long)bytes);
	mt_table_num(&t, row, I_RATE, secs > 0 ? (long long)(appended / secs) : (long long)appended);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	if (r != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	return failed ? MT_EDATA : MT_OK;
}

struct target {
	char *name;
	struct mt_selection sel;   /* the messages going there; msgs owned */
};

/* Moves into archive folders a killed run left half done (servers without
 * MOVE; mt_recover_moves): the targets are every existing folder the
 * template can name, its strftime fields read as wildcards. */
static int recover(struct mt_ctx *ctx, const char *tmpl, char **folders, size_t nfolders)
{
	struct mt_mailboxes all;
	char pat[512];
	size_t o = 0;
	if (mt_has_cap(ctx->s, "MOVE"))
		return MT_OK;
	for (const char *p = tmpl; *p && o + 2 < sizeof pat; p++) {
		if (*p == '%' && p[1]) {
			pat[o++] = '*';
			p++;
		} else {
			pat[o++] = *p;
		}
	}
	pat[o] = '\0';
	if (mt_list(ctx->s, "*", &all, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	const char **tgt = mt_xmalloc(sizeof *tgt * (all.n + 1));
	size_t nt = 0;
	uint64_t done = 0;
	for (size_t i = 0; i < all.n; i++)
		if (!(all.v[i].flags & (MT_MBX_NOSELECT | MT_MBX_NONEXISTENT)) && mt_wildmatch(pat, all.v[i].name, 0))
			tgt[nt++] = all.v[i].wire;
	int r = mt_recover_moves(ctx->s, (const char *const *)folders, nfolders, tgt, nt, 0, &done, &ctx->err);
	if (r == MT_OK && done && ctx->verbose)
		fprintf(stderr, "mailtool archive: finished %llu move(s) an interrupted run had left half done\n",
			(unsigned long long)done);
	free(tgt);
	mt_mailboxes_release(&all);
	return r == MT_OK ? MT_OK : mt_fail_err(ctx, &ctx->err);
}

static int archive_main(struct mt_ctx *ctx)
{
	const char *tmpl = mt_arg(&ctx->args, "to") ? mt_arg(&ctx->args, "to") : "Archive/%Y";
	int dry = mt_flag(&ctx->args, "dry-run"), given, r = MT_OK;
	struct mt_criteria c;
	char **folders = NULL;
	size_t nfolders = 0;
	struct mt_table t;

	if (mt_arg(&ctx->args, "export"))
		return export_main(ctx);
	if (mt_arg(&ctx->args, "import"))
		return import_main(ctx);
	mt_criteria_from_args(&ctx->args, &c, &given, &ctx->err);
	c.want_dates = 1;
	if (mt_expand_folders(ctx->s, (const char *const *)ctx->args.argv, (size_t)ctx->args.argc,
			      mt_flag(&ctx->args, "recursive"), &folders, &nfolders, &ctx->err) != MT_OK)
		return mt_fail_err(ctx, &ctx->err);
	if (!dry && (r = recover(ctx, tmpl, folders, nfolders)) != MT_OK) {
		mt_free_folders(folders, nfolders);
		return r;
	}
	mt_report_init(&t, ctx->fmt, mt_flag(&ctx->args, "human"));
	uint64_t tot_n = 0, tot_b = 0;
	for (size_t f = 0; f < nfolders && r == MT_OK; f++) {
		struct mt_selection sel;
		struct target *tg = NULL;
		size_t ntg = 0;
		if ((r = mt_select_messages(ctx->s, folders[f], &c, 1, NULL, NULL, &sel, &ctx->err)) != MT_OK) {
			mt_selection_release(&sel);
			break;
		}
		/* group by target folder: one move per target, whatever the number of periods */
		for (size_t i = 0; i < sel.n; i++) {
			char name[512];
			time_t when = c.by_date_header && sel.msgs[i].date ? sel.msgs[i].date : sel.msgs[i].internaldate;
			struct tm tm;
			gmtime_r(&when, &tm);
			if (strftime(name, sizeof name, tmpl, &tm) == 0)
				continue;
			size_t k;
			for (k = 0; k < ntg; k++)
				if (strcmp(tg[k].name, name) == 0)
					break;
			if (k == ntg) {
				tg = realloc(tg, sizeof *tg * (ntg + 1));
				if (tg == NULL)
					abort();
				memset(&tg[ntg], 0, sizeof *tg);
				tg[ntg].name = mt_xstrdup(name);
				tg[ntg].sel.folder = mt_xstrdup(sel.folder);
				tg[ntg].sel.wire = mt_xstrdup(sel.wire);
				tg[ntg].sel.uidvalidity = sel.uidvalidity;
				tg[ntg].sel.msgs = mt_xmalloc(sizeof *sel.msgs * sel.n);
				ntg++;
			}
			tg[k].sel.msgs[tg[k].sel.n++] = sel.msgs[i];
			tg[k].sel.bytes += sel.msgs[i].size;
			memset(&sel.msgs[i], 0, sizeof sel.msgs[i]);   /* now owned by the target */
		}
		for (size_t k = 0; k < ntg; k++) {
			char *row = mt_xasprintf("%s -> %s", folders[f], tg[k].name);
			uint64_t n = tg[k].sel.n, b = tg[k].sel.bytes;
			if (strcmp(tg[k].name, folders[f]) == 0) {
				free(row);
				continue;   /* already where it belongs */
			}
			if (!dry) {
				char *wire = NULL;
				int moved = 0;   /* a target whose move never started moved nothing */
				if (r == MT_OK && (r = mt_create(ctx->s, tg[k].name, "\\Archive", &ctx->err)) == MT_OK &&
				    (r = mt_subscribe(ctx->s, tg[k].name, 1, &ctx->err)) == MT_OK &&
				    (r = mt_mailbox_wire(ctx->s, tg[k].name, &wire, &ctx->err)) == MT_OK) {
					r = mt_remove_selection(ctx->s, &tg[k].sel, wire, 0, &n, &b, &ctx->err);
					moved = 1;
				}
				free(wire);
				if (!moved) {
					free(row);
					continue;
				}
			}
			mt_report_row(&t, row, dry ? "would move" : "moved", n, b);
			tot_n += n;
			tot_b += b;
			free(row);
		}
		for (size_t k = 0; k < ntg; k++) {
			free(tg[k].name);
			mt_selection_release(&tg[k].sel);
		}
		free(tg);
		mt_selection_release(&sel);
	}
	if (t.rows > 1)
		mt_report_row(&t, "(total)", dry ? "would move" : "moved", tot_n, tot_b);
	mt_table_print(&t, stdout);
	mt_table_release(&t);
	mt_free_folders(folders, nfolders);
	if (r != MT_OK)
		r = mt_fail_err(ctx, &ctx->err);
	return r;
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
};
MT_APPLET(archive_applet);
