/* spawn.c — `make bench` helper: start a command N times with posix_spawn
 * (standard output to /dev/null) and print the median, minimum and 90th
 * percentile wall time in microseconds, from the spawn to the child's exit,
 * the number of failed runs, and the median CPU time (user + system, the
 * child and every process it waited for, from wait4) in microseconds.
 * A shell's $(date) around each run costs about a process start itself,
 * which is most of what a --persist one-liner costs: hence this. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0;
	if (n < 1 || n > 10000) {
		fprintf(stderr, "usage: spawn N COMMAND [ARG...]\n");
		return 64;
	}
	double *t = calloc((size_t)n, sizeof *t), *cpu = calloc((size_t)n, sizeof *cpu);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int failed = 0;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		pid_t pid;
		int st;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int rc = posix_spawn(&pid, argv[2], &fa, NULL, argv + 2, environ);
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", argv[2], strerror(rc));
			return 71;
		}
		struct rusage ru;
		if (wait4(pid, &st, 0, &ru) != pid) {
			perror("wait4");
			return 71;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
		cpu[i] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	}
	qsort(t, (size_t)n, sizeof *t, cmp);
	qsort(cpu, (size_t)n, sizeof *cpu, cmp);
	printf("%.0f %.0f %.0f %d %.0f\n", t[n / 2], t[0], t[(n * 9) / 10], failed, cpu[n / 2]);
	free(t);
	free(cpu);
	return 0;
}
