/* fuzz.h — shared bits of the libFuzzer targets in tests/fuzz/ (see README.md
 * there). Each target is one file defining LLVMFuzzerTestOneInput; built with
 * clang -fsanitize=fuzzer by `make fuzz`, and with replay.c (a main() that
 * feeds files to the same function) by `make asan`, so the corpus and every
 * crash ever found run in make check as regression tests. */
#ifndef MT_FUZZ_H
#define MT_FUZZ_H
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (owned). */
static inline char *fuzz_cstr(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);
	if (s == NULL)
		abort();
	memcpy(s, d, n);
	s[n] = '\0';
	return s;
}

/* Write the input to a private temporary file named with `suffix`, once per
 * process (rewritten for every input); returns its path. */
static inline const char *fuzz_file(const uint8_t *d, size_t n, const char *suffix)
{
	static char path[256];
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof path, "%s/mt-fuzz-%ld%s", tmp && *tmp ? tmp : "/tmp", (long)getpid(), suffix);
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0)
		abort();
	return path;
}

/* Remove everything below dir, not dir itself (the scratch trees of the
 * targets that write files). */
static inline void fuzz_empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		size_t n = strlen(dir) + strlen(de->d_name) + 2;
		char *p = malloc(n);
		if (p == NULL)
			abort();
		snprintf(p, n, "%s/%s", dir, de->d_name);
		if (unlink(p) != 0) {
			fuzz_empty_dir(p);
			rmdir(p);
		}
		free(p);
	}
	if (d)
		closedir(d);
}

/* A property of the code under test does not hold: crash so the fuzzer keeps the input. */
/* The input as a server's side of a connection: *rfd reads it (a pipe
 * holding all of it, then end of file), *wfd takes what the client sends
 * (/dev/null). 0, or -1 when the input is too large for a pipe (skipped). */
static inline int fuzz_server_fds(const uint8_t *d, size_t n, int *rfd, int *wfd)
{
	int p[2];
	if (n > 65536 || pipe(p) < 0)
		return -1;
	(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 17);
	for (size_t off = 0; off < n;) {
		ssize_t k = write(p[1], d + off, n - off);
		if (k <= 0)
			abort();
		off += (size_t)k;
	}
	close(p[1]);
	*rfd = p[0];
	*wfd = open("/dev/null", O_WRONLY);
	return 0;
}

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)
#endif
