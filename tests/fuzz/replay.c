/* replay.c — run a fuzz target over files without libFuzzer: `fuzz-NAME FILE...`.
 * Linked with each target by `make asan` so make check replays the seed corpus
 * and every regression input under AddressSanitizer + UBSan. */
#include "fuzz.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (f == NULL) {
			perror(argv[i]);
			return 2;
		}
		size_t cap = 1 << 16, n = 0;
		uint8_t *buf = malloc(cap);
		size_t k;
		while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
			n += k;
			if (n == cap) {
				uint8_t *nb = realloc(buf, cap *= 2);
				if (nb == NULL)
					free(buf);
				buf = nb;
			}
		}
		fclose(f);
		if (buf == NULL)
			return 2;
		/* an exact-size copy, as libFuzzer passes it: reading one byte past
		 * the input must hit ASan's redzone, not the rest of buf */
		uint8_t *exact = malloc(n ? n : 1);
		if (exact == NULL)
			return 2;
		memcpy(exact, buf, n);
		free(buf);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	printf("%d inputs ran\n", argc - 1);
	return 0;
}
