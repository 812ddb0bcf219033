/*
 * strmap.h: a string-keyed hash map (open addressing, linear probing,
 * XXH3 hashes), for the tables on the sync engine's hot path.
 *
 * The map does not copy keys: a key must live as long as its entry (keep
 * it in the value, as struct dnode keeps its path).  Values are opaque
 * pointers; NULL is not a useful value, since strmap_get() returns NULL for
 * a missing key.  Releasing the map frees its slots, never the keys or the
 * values: walk it with strmap_next() first to free those.
 */
#ifndef MM_STRMAP_H
#define MM_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_entry {
	const char *key;	/* NULL: an empty slot */
	void *val;
	uint64_t h;
};

struct strmap {
	struct strmap_entry *v;
	size_t cap, n;		/* cap is 0 or a power of two, n <= cap / 2 */
};

#define STRMAP_INIT { NULL, 0, 0 }

void strmap_init(struct strmap *m);

/* The value of `key`, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/* Inserts `key`, or replaces its value (and key pointer) when it is there.
 * Returns the value it had, or NULL. */
void *strmap_put(struct strmap *m, const char *key, void *val);

/* The next entry in slot order after position `*pos` (start with 0), or
 * NULL at the end.  The map must not change during a walk. */
const struct strmap_entry *strmap_next(const struct strmap *m, size_t *pos);

/* Frees the slots (not keys or values); the map is empty and usable. */
void strmap_release(struct strmap *m);

#endif
