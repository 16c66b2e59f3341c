/* main.c — the multi-call dispatcher: `mailtool APPLET ...` or a symlink named
 * `mailtool-APPLET`. Applets register themselves in the "mt_applets" linker
 * section (see MT_APPLET), so this file holds no list of them. */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say_oom(void)
{
	static const char msg[] = "mailtool: out of memory\n";
	if (write(2, msg, sizeof msg - 1) < 0) {
		/* nothing more to do */
	}
}

static void usage_all(FILE *f)
{
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	fputs("usage: mailtool [common options] APPLET [options] [args]\n"
	      "       mailtool-APPLET [options] [args]\n"
	      "       mailtool -e 'APPLET ARGS; APPLET ARGS...' (see mailtool-batch)\n"
	      "       mailtool help APPLET | --help | --version | --install [-s] DIR\n\n"
	      "IMAP mailbox maintenance for mail server admins.\n\napplets:\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-10s %s\n", v[i]->name, v[i]->summary);
	fputs("\nRun 'mailtool APPLET --help' for an applet's options; see mailtool(1).\n", f);
}

static int unknown_applet(const char *name)
{
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	const char *best = NULL;
	int bd = 99;
	/* "mailtool version": the words of mailtool's own options */
	static const char *const own[] = { "version", "list", "install" };
	for (size_t i = 0; i < sizeof own / sizeof *own; i++)
		if (strcmp(name, own[i]) == 0) {
			fprintf(stderr, "mailtool: unknown applet '%s' (did you mean '--%s'?)\n", name, own[i]);
			return MT_ENOAPPLET;
		}
	for (size_t i = 0; i < n; i++) {
		int d = mt_near_miss(name, v[i]->name);
		if (d && d < bd) {
			bd = d;
			best = v[i]->name;
		}
	}
	if (best)
		fprintf(stderr, "mailtool: unknown applet '%s' (did you mean '%s'?)\n", name, best);
	else
		fprintf(stderr, "mailtool: unknown applet '%s'; 'mailtool --help' lists them\n", name);
	return MT_ENOAPPLET;
}

/* mailtool --install [-s] DIR: one mailtool-APPLET link per applet */
static int install_links(int argc, char **argv)
{
	int sym = 0;
	const char *dir = NULL;
	char self[PATH_MAX];
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0)
			sym = 1;
		else if (dir == NULL)
			dir = argv[i];
		else {
			fputs("mailtool: usage: mailtool --install [-s] DIR\n", stderr);
			return MT_EUSAGE;
		}
	}
	if (dir == NULL) {
		fputs("mailtool: usage: mailtool --install [-s] DIR\n", stderr);
		return MT_EUSAGE;
	}
	ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
	if (l < 0) {
		fprintf(stderr, "mailtool: cannot find my own path: %s\n", strerror(errno));
		return MT_EOS;
	}
	self[l] = '\0';
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	for (size_t i = 0; i < n; i++) {
		char *path = mt_xasprintf("%s/mailtool-%s", dir, v[i]->name);
		unlink(path);
		if ((sym ? symlink(self, path) : link(self, path)) < 0) {
			fprintf(stderr, "mailtool: cannot create '%s': %s\n", path, strerror(errno));
			free(path);
			return MT_EIO;
		}
		free(path);
	}
	return MT_OK;
}

/* `mailtool -a admin quota`, `mailtool --config F du INBOX`: common options
 * before the applet go to it, ahead of its own words (-e starts a batch). */
static int options_first(int argc, char **argv)
{
	int k = mt_common_prefix(argc, argv);
	const struct mt_applet *ap;
	if (k < 0) {
		fprintf(stderr, "mailtool: option '%s' needs a value\n", argv[-1 - k]);
		return MT_EUSAGE;
	}
	/* the dispatcher's own words after them: as if they came first */
	if (k < argc && (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0 ||
			 (strcmp(argv[k], "help") == 0 && k + 1 == argc))) {
		usage_all(stdout);
		return MT_OK;
	}
	if (k < argc && strcmp(argv[k], "--version") == 0) {
		printf("mailtool %s\n", MT_VERSION);
		return MT_OK;
	}
	if (k + 1 < argc && strcmp(argv[k], "help") == 0) {
		if ((ap = mt_applet_find(argv[k + 1])) == NULL)
			return unknown_applet(argv[k + 1]);
		mt_applet_help(stdout, ap);
		return MT_OK;
	}
	if (k == argc) {
		fputs("mailtool: no applet after the options; 'mailtool --help' lists them\n", stderr);
		return MT_EUSAGE;
	}
	if (strcmp(argv[k], "-e") == 0) {
		ap = mt_applet_find("batch");
		if (ap == NULL)
			return unknown_applet("batch");
	} else if (argv[k][0] == '-') {
		fprintf(stderr, "mailtool: unknown option '%s' before the applet (only the options every applet "
			"takes may come first; mailtool(1) lists them)\n", argv[k]);
		return MT_EUSAGE;
	} else if ((ap = mt_applet_find(argv[k])) == NULL) {
		return unknown_applet(argv[k]);
	}
	int skip = strcmp(argv[k], "-e") == 0 ? 0 : 1;
	char **v = mt_xmalloc(sizeof *v * (size_t)(argc + 1));
	int n = 0;
	for (int i = 0; i < k; i++)
		v[n++] = argv[i];
	for (int i = k + skip; i < argc; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	int r = mt_run_applet(ap, n, v);
	free(v);
	return r;
}

int main(int argc, char **argv)
{
	char *prog = basename(argv[0]);
	const struct mt_applet *ap;

	/* a dead server must end in an error, not kill us */
	signal(SIGPIPE, SIG_IGN);
	/* every run may hold a password: no core dump (a crash's core held it
	 * twice), no ptrace by other processes of the user, and the variable
	 * out of the environment before anything could pass it on */
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	mt_password_take_env();
	mt_on_oom(say_oom);

	if (strncmp(prog, "mailtool-", 9) == 0) {
		ap = mt_applet_find(prog + 9);
		if (ap == NULL)
			return unknown_applet(prog + 9);
		return mt_run_applet(ap, argc - 1, argv + 1);
	}
	if (argc < 2) {
		usage_all(stderr);
		return MT_EUSAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage_all(stdout);
		return MT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("mailtool %s\n", MT_VERSION);
		return MT_OK;
	}
	if (strcmp(argv[1], "-e") == 0) {
		/* mailtool -e 'quota; du -h' [batch options]: a batch from the command line */
		ap = mt_applet_find("batch");
		if (ap == NULL)
			return unknown_applet("batch");
		return mt_run_applet(ap, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "--install") == 0)
		return install_links(argc - 2, argv + 2);
	if (strcmp(argv[1], "--list") == 0) {
		/* plain applet names, for completion and scripts */
		size_t n;
		const struct mt_applet *const *v = mt_applets(&n);
		for (size_t i = 0; i < n; i++)
			puts(v[i]->name);
		return MT_OK;
	}
	if (strcmp(argv[1], "--complete-accounts") == 0) {
		/* account names of the configuration, for completion: [--config FILE] */
		struct mt_config cfg;
		struct mt_err e;
		const char *path = argc > 3 && strcmp(argv[2], "--config") == 0 ? argv[3] : NULL;
		if (mt_config_load(&cfg, path, &e) != MT_OK)
			return e.code;
		mt_config_list_accounts(&cfg, stdout);
		mt_config_release(&cfg);
		return MT_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			usage_all(stdout);
			return MT_OK;
		}
		ap = mt_applet_find(argv[2]);
		if (ap == NULL)
			return unknown_applet(argv[2]);
		mt_applet_help(stdout, ap);
		return MT_OK;
	}
	if (argv[1][0] == '-')
		return options_first(argc - 1, argv + 1);
	ap = mt_applet_find(argv[1]);
	if (ap == NULL)
		return unknown_applet(argv[1]);
	return mt_run_applet(ap, argc - 2, argv + 2);
}
