/* applets.c — the applet table: every cmd/NAME.c registers itself in the
 * "mt_applets" linker section (MT_APPLET), so no list is kept by hand. */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

extern const struct mt_applet *const __start_mt_applets[];
extern const struct mt_applet *const __stop_mt_applets[];

static int cmp_applet(const void *a, const void *b)
{
	return strcmp((*(const struct mt_applet *const *)a)->name, (*(const struct mt_applet *const *)b)->name);
}

const struct mt_applet *const *mt_applets(size_t *n)
{
	static const struct mt_applet **sorted;
	static size_t count;
	if (sorted == NULL) {
		/* the linker puts both symbols at the ends of the one "mt_applets" section */
		// cppcheck-suppress comparePointers
		count = (size_t)(__stop_mt_applets - __start_mt_applets);
		sorted = mt_xmalloc(sizeof *sorted * (count + 1));
		memcpy(sorted, __start_mt_applets, sizeof *sorted * count);
		mt_sort(sorted, count, sizeof *sorted, cmp_applet);
		for (size_t i = 1; i < count; i++)
			if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
				fprintf(stderr, "mailtool: applet '%s' registered twice\n", sorted[i]->name);
				abort();
			}
	}
	*n = count;
	return sorted;
}

const struct mt_applet *mt_applet_find(const char *name)
{
	size_t n;
	const struct mt_applet *const *v = mt_applets(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}
