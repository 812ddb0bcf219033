/*
 * strmap.c: the string-keyed hash map (see strmap.h).
 *
 * Open addressing with linear probing, at most half full, so a lookup is a
 * hash and, nearly always, one or two slot visits.  Each slot keeps the
 * key's full 64-bit hash: growth rehashes no string, and a probe compares
 * strings only when the hashes agree.  No deletion: the sync engine's
 * tables only grow during a run.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include <xxhash.h>
#include "banned.h"

static uint64_t str_hash(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

void strmap_init(struct strmap *m)
{
	memset(m, 0, sizeof *m);
}

void *strmap_get(const struct strmap *m, const char *key)
{
	uint64_t h;
	size_t i;

	if (!m->cap)
		return NULL;
	h = str_hash(key);
	for (i = h & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1))
		if (m->v[i].h == h && !strcmp(m->v[i].key, key))
			return m->v[i].val;
	return NULL;
}

/* Inserts or replaces, the key's hash known.  Returns the old value. */
static void *put_h(struct strmap *m, const char *key, uint64_t h, void *val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct strmap old = *m;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->v = xcalloc(m->cap, sizeof *m->v);
		m->n = 0;
		for (i = 0; i < old.cap; i++)
			if (old.v[i].key)
				put_h(m, old.v[i].key, old.v[i].h, old.v[i].val);
		free(old.v);
	}
	for (i = h & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1))
		if (m->v[i].h == h && !strcmp(m->v[i].key, key)) {
			void *was = m->v[i].val;

			m->v[i].val = val;
			m->v[i].key = key;
			return was;
		}
	m->v[i].key = key;
	m->v[i].val = val;
	m->v[i].h = h;
	m->n++;
	return NULL;
}

void *strmap_put(struct strmap *m, const char *key, void *val)
{
	return put_h(m, key, str_hash(key), val);
}

const struct strmap_entry *strmap_next(const struct strmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		const struct strmap_entry *e = &m->v[(*pos)++];

		if (e->key)
			return e;
	}
	return NULL;
}

void strmap_release(struct strmap *m)
{
	free(m->v);
	memset(m, 0, sizeof *m);
}
