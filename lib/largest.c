/* largest.c — the N largest messages of the selected folder without reading
 * the whole folder into memory: one UID SORT (REVERSE SIZE) where the server
 * has SORT (RFC 5256), else RFC822.SIZE fetched in batches through a heap
 * of N; and what a listing of them shows (size, date, From, Subject). */
#include "select_int.h"

#include <stdlib.h>
#include <string.h>

/* a before b in the answer: larger first, then the lower UID (the order
 * SORT gives equal sizes: by message number, which follows the UID) */
static int ahead(const struct mt_sized *a, const struct mt_sized *b)
{
	return a->size != b->size ? a->size > b->size : a->uid < b->uid;
}

/* A heap whose root is the last of the kept, the one a larger message evicts. */
struct top_heap {
	struct mt_sized *v;
	size_t n, max;
};

static void sift_down(struct top_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && ahead(&h->v[m], &h->v[l]))
			m = l;
		if (r < h->n && ahead(&h->v[m], &h->v[r]))
			m = r;
		if (m == i)
			return;
		struct mt_sized t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

static void heap_offer(struct top_heap *h, struct mt_sized x)
{
	if (h->max == 0)
		return;
	if (h->n < h->max) {
		size_t i = h->n++;
		h->v[i] = x;
		while (i > 0 && ahead(&h->v[(i - 1) / 2], &h->v[i])) {
			struct mt_sized t = h->v[i];
			h->v[i] = h->v[(i - 1) / 2];
			h->v[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
	} else if (ahead(&x, &h->v[0])) {
		h->v[0] = x;
		sift_down(h, 0);
	}
}

static int take_size(const struct mt_fetched *m, void *arg)
{
	heap_offer(arg, (struct mt_sized){ .uid = m->uid, .size = m->size });
	return 0;
}

static int cmp_sized(const void *a, const void *b)
{
	const struct mt_sized *x = a, *y = b;
	return ahead(x, y) ? -1 : ahead(y, x) ? 1 : 0;
}

int mt_largest(struct mt_session *s, const char *criteria, size_t top, int use_sort, struct mt_sized **out,
	       size_t *n, struct mt_err *e)
{
	uint32_t *uids = NULL;
	size_t nu = 0;
	int r;
	*out = mt_xmalloc(sizeof **out * (top ? top : 1));
	*n = 0;
	if (top == 0)
		return MT_OK;
	if (use_sort && mt_has_cap(s, "SORT")) {
		/* the server's order; the sizes come with the listing's FETCH */
		if ((r = mt_uid_sort(s, "REVERSE SIZE", criteria, &uids, &nu, e)) == MT_OK)
			for (size_t i = 0; i < nu && *n < top; i++)
				(*out)[(*n)++] = (struct mt_sized){ .uid = uids[i] };
		free(uids);
		return r;
	}
	if ((r = mt_uid_search(s, criteria, &uids, &nu, e)) != MT_OK)
		return r;
	struct top_heap h = { .v = *out, .max = top };
	struct mt_fetch_spec spec = { .size = 1 };
	if (nu)
		r = mt_fetch_each(s, uids, nu, &spec, take_size, &h, e);
	free(uids);
	*n = h.n;
	mt_sort(*out, *n, sizeof **out, cmp_sized);
	return r;
}
