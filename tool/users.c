/* users.c — --users FILE: run an applet for each user of a list through the
 * account's admin credentials (--as semantics), -j N at a time, optionally
 * only this machine's --shard K/N; one result per user and a summary.
 * Part of the dispatcher, not an applet. */
#include "tool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int mt_parse_shard(const char *s, unsigned *k, unsigned *n)
{
	char *end;
	unsigned long a = strtoul(s, &end, 10), b;
	if (end == s || *end != '/')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (*end != '\0' || b == 0 || a == 0 || a > b || b > 100000)
		return -1;
	*k = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

int mt_in_shard(const char *user, unsigned k, unsigned n)
{
	return mt_fnv1a32(user) % n == k - 1;
}

struct job {
	pid_t pid;
	char *user;
	FILE *out, *err;        /* the child's stdout and stderr, on disk */
	int status;
};

/* --users --tsv: one header, the user's columns and then the applet's. A
 * user without rows of its own (one that failed) has the applet's columns
 * empty; until a header says how many there are, its line waits. */
struct tsv_out {
	int header;             /* the header went out */
	int ncols;              /* the applet's columns */
	char *pending;          /* owned: "user<TAB>status<TAB>error" lines waiting */
};

static void tsv_user_line(struct tsv_out *o, const char *user, int status, const char *error)
{
	if (!o->header) {
		char *more = mt_xasprintf("%s%s\t%d\t%s\n", o->pending ? o->pending : "", user, status, error);
		free(o->pending);
		o->pending = more;
		return;
	}
	printf("%s\t%d\t%s", user, status, error);
	for (int c = 0; c < o->ncols; c++)
		putchar('\t');
	putchar('\n');
}

static void tsv_header(struct tsv_out *o, const char *applet_header)
{
	o->header = 1;
	o->ncols = 0;
	if (applet_header) {
		o->ncols = 1;
		for (const char *p = applet_header; *p; p++)
			o->ncols += *p == '\t';
	}
	printf("user\tstatus\terror%s%s\n", applet_header ? "\t" : "", applet_header ? applet_header : "");
	char *waiting = o->pending, *line = waiting, *nl;
	o->pending = NULL;
	for (; line && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		printf("%s", line);
		for (int c = 0; c < o->ncols; c++)
			putchar('\t');
		putchar('\n');
	}
	free(waiting);
}

static void report(struct mt_ctx *ctx, struct job *j, struct tsv_out *o)
{
	char *line = NULL, *lasterr = NULL;
	size_t cap = 0;
	ssize_t len;

	fflush(j->out);
	fflush(j->err);
	rewind(j->err);
	while ((len = getline(&line, &cap, j->err)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len) {
			free(lasterr);
			lasterr = mt_xstrdup(line);
		}
	}
	rewind(j->out);
	if (ctx->fmt == MT_FMT_JSON) {
		int first = 1;
		printf("{\"schema\":%d,\"type\":\"user\",\"user\":", MT_SCHEMA);
		mt_json_str(stdout, j->user);
		printf(",\"status\":%d,\"error\":", j->status);
		if (j->status == 0 || lasterr == NULL)
			fputs("null", stdout);
		else
			mt_json_str(stdout, lasterr);
		printf(",\"results\":[");
		while ((len = getline(&line, &cap, j->out)) >= 0) {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (len == 0)
				continue;
			/* the applet printed JSON objects, one per line */
			printf("%s%s", first ? "" : ",", line);
			first = 0;
		}
		printf("]}\n");
	} else if (ctx->fmt == MT_FMT_TSV) {
		int row = 0;
		while ((len = getline(&line, &cap, j->out)) >= 0) {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (row++ == 0) {
				/* the applet's header, once, behind our own columns */
				if (!o->header)
					tsv_header(o, line);
				continue;
			}
			printf("%s\t%d\t\t%s\n", j->user, j->status, line);
		}
		if (row <= 1)
			tsv_user_line(o, j->user, j->status, j->status && lasterr ? lasterr : "");
	} else {
		printf("== %s: %s\n", j->user, j->status == 0 ? "ok" : "failed");
		while ((len = getline(&line, &cap, j->out)) >= 0)
			fwrite(line, 1, (size_t)len, stdout);
		if (j->status && lasterr)
			printf("%s\n", lasterr);
	}
	fflush(stdout);
	free(line);
	free(lasterr);
}

/* Read the list; blank lines and '#' comments are skipped. */
static int read_users(struct mt_ctx *ctx, const char *path, char ***out, size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	*out = NULL;
	*n = 0;
	if (f == NULL)
		return mt_fail(ctx, MT_EIO, "--users: cannot read '%s': %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e = line + len;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s || *s == '#')
			continue;
		*e = '\0';
		*out = mt_xrealloc(*out, sizeof **out * (*n + 1));
		(*out)[(*n)++] = mt_xstrdup(s);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return MT_OK;
}

int mt_run_users(struct mt_ctx *ctx, int (*one)(struct mt_ctx *ctx, const char *user))
{
	const char *path = mt_arg(&ctx->args, "users"), *v;
	char **users;
	size_t nusers, next = 0, done = 0, failed = 0, running = 0;
	unsigned k = 1, n = 1;
	long jobs = 4;
	int r, first_fail = 0;
	struct tsv_out tsv = { 0 };

	if ((v = mt_arg(&ctx->args, "jobs"))) {
		char *end;
		jobs = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || jobs < 1 || jobs > 64)
			return mt_fail(ctx, MT_EUSAGE, "bad -j '%s': expected 1 to 64 sessions at a time", v);
	}
	if ((v = mt_arg(&ctx->args, "shard")) && mt_parse_shard(v, &k, &n) < 0)
		return mt_fail(ctx, MT_EUSAGE, "bad --shard '%s': expected K/N with 1 <= K <= N", v);
	if ((r = read_users(ctx, path, &users, &nusers)) != MT_OK)
		return r;
	struct job *slot = mt_xmalloc(sizeof *slot * (size_t)jobs);
	struct mt_progress pg;
	size_t mine = 0;
	for (size_t i = 0; i < nusers; i++)
		mine += mt_in_shard(users[i], k, n);
	mt_progress_start(&pg, "users", mine, !mt_flag(&ctx->args, "quiet"));
	fflush(stdout);
	fflush(stderr);
	for (;;) {
		/* start jobs while there are free slots and users left */
		while (running < (size_t)jobs && next < nusers) {
			const char *u = users[next++];
			if (!mt_in_shard(u, k, n))
				continue;
			size_t s;
			for (s = 0; slot[s].pid; s++)
				;
			struct job *j = &slot[s];
			j->user = (char *)u;
			j->out = tmpfile();
			j->err = tmpfile();
			if (j->out == NULL || j->err == NULL) {
				if (j->out) fclose(j->out);
				if (j->err) fclose(j->err);
				for (size_t i = 0; i < nusers; i++)
					free(users[i]);
				free(users);
				free(slot);
				return mt_fail(ctx, MT_EIO, "--users: cannot create a temporary file: %s", strerror(errno));
			}
			j->pid = fork();
			if (j->pid < 0) {
				fclose(j->out);
				fclose(j->err);
				for (size_t i = 0; i < nusers; i++)
					free(users[i]);
				free(users);
				free(slot);
				return mt_fail(ctx, MT_EOS, "fork: %s", strerror(errno));
			}
			if (j->pid == 0) {
				dup2(fileno(j->out), 1);
				dup2(fileno(j->err), 2);
				int rc = one(ctx, u);
				fflush(stdout);
				fflush(stderr);
				_exit(rc);
			}
			running++;
		}
		if (running == 0)
			break;
		int st;
		pid_t pid = wait(&st);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (long s = 0; s < jobs; s++)
			if (slot[s].pid == pid) {
				struct job *j = &slot[s];
				j->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				mt_progress_end(&pg);
				report(ctx, j, &tsv);
				mt_progress_step(&pg, 1);
				done++;
				if (j->status) {
					failed++;
					if (!first_fail)
						first_fail = j->status;
				}
				fclose(j->out);
				fclose(j->err);
				j->pid = 0;
				running--;
			}
	}
	mt_progress_end(&pg);
	if (ctx->fmt == MT_FMT_TSV && (tsv.pending || !tsv.header))
		tsv_header(&tsv, NULL);   /* no user had rows: the user columns alone */
	fflush(stdout);
	char shard[64] = "";
	if (n > 1)
		snprintf(shard, sizeof shard, " (shard %u/%u of %zu listed)", k, n, nusers);
	fprintf(stderr, "mailtool %s: %zu users, %zu ok, %zu failed%s\n", ctx->ap->name, done, done - failed, failed, shard);
	for (size_t i = 0; i < nusers; i++)
		free(users[i]);
	free(users);
	free(slot);
	/* whether any user failed: the first failure's status */
	return failed ? first_fail : MT_OK;
}
