/* test_strmap.c: the string-keyed hash map: insert, replace, growth past
 * many resizes, missing keys, iteration, release. */
#include "unit.h"

#include <stdint.h>

#include "strmap.h"

#define MANY 200000

static void test_small(void)
{
	struct strmap m = STRMAP_INIT;
	int a = 1, b = 2, c = 3;
	char key[] = "alpha", same[] = "alpha";

	CHECK(strmap_get(&m, "alpha") == NULL);	/* empty, never grown */
	CHECK(strmap_put(&m, key, &a) == NULL);
	CHECK(strmap_put(&m, "beta", &b) == NULL);
	CHECK(strmap_put(&m, "", &c) == NULL);	/* the empty key is a key */
	CHECK(m.n == 3);
	CHECK(strmap_get(&m, "alpha") == &a);
	CHECK(strmap_get(&m, "beta") == &b);
	CHECK(strmap_get(&m, "") == &c);
	CHECK(strmap_get(&m, "alph") == NULL);
	CHECK(strmap_get(&m, "alphaa") == NULL);
	CHECK(strmap_get(&m, "gamma") == NULL);
	/* Replace: the old value comes back, the count stays, and the map
	 * holds the new key pointer (the old one may be freed now). */
	CHECK(strmap_put(&m, same, &c) == &a);
	CHECK(m.n == 3);
	key[0] = 'X';
	CHECK(strmap_get(&m, "alpha") == &c);
	strmap_release(&m);
	CHECK(m.v == NULL && m.n == 0 && m.cap == 0);
	CHECK(strmap_get(&m, "beta") == NULL);
	/* Usable again after a release. */
	strmap_init(&m);
	CHECK(strmap_put(&m, "beta", &b) == NULL);
	CHECK(strmap_get(&m, "beta") == &b);
	strmap_release(&m);
}

static void test_many(void)
{
	struct strmap m = STRMAP_INIT;
	char (*keys)[16] = calloc(MANY, sizeof *keys);
	unsigned char *seen = calloc(MANY, 1);
	const struct strmap_entry *e;
	size_t i, pos = 0, walked = 0, wrong = 0, bad_get = 0, resizes = 0;
	size_t cap = 0;

	if (!keys || !seen)
		abort();
	for (i = 0; i < MANY; i++) {
		snprintf(keys[i], sizeof keys[i], "k%zu", i);
		if (strmap_put(&m, keys[i], keys[i]) != NULL)
			wrong++;
		if (m.cap != cap) {
			resizes++;
			cap = m.cap;
		}
		if (m.n * 2 > m.cap)
			wrong++;
	}
	CHECK(wrong == 0);
	CHECK(m.n == MANY);
	CHECK(resizes >= 12);		/* 64 slots up to 512 Ki */
	CHECK((m.cap & (m.cap - 1)) == 0);
	for (i = 0; i < MANY; i++)
		if (strmap_get(&m, keys[i]) != keys[i])
			bad_get++;
	CHECK(bad_get == 0);
	/* Missing keys, some sharing a prefix with present ones. */
	for (i = 0; i < 1000; i++) {
		char k[24];

		snprintf(k, sizeof k, "k%zux", i);
		if (strmap_get(&m, k))
			bad_get++;
		snprintf(k, sizeof k, "m%zu", i);
		if (strmap_get(&m, k))
			bad_get++;
	}
	CHECK(bad_get == 0);
	/* Replacing every other key changes no count and no other key. */
	for (i = 0; i < MANY; i += 2)
		if (strmap_put(&m, keys[i], &seen[i]) != keys[i])
			wrong++;
	CHECK(wrong == 0);
	CHECK(m.n == MANY);
	for (i = 0; i < MANY; i++)
		if (strmap_get(&m, keys[i]) !=
		    (i % 2 ? (void *)keys[i] : (void *)&seen[i]))
			bad_get++;
	CHECK(bad_get == 0);
	/* The walk visits every entry exactly once. */
	while ((e = strmap_next(&m, &pos))) {
		size_t k = (size_t)strtoul(e->key + 1, NULL, 10);

		walked++;
		if (k >= MANY || seen[k]++)
			wrong++;
	}
	CHECK(walked == MANY);
	CHECK(wrong == 0);
	CHECK(strmap_next(&m, &pos) == NULL);
	strmap_release(&m);
	pos = 0;
	CHECK(strmap_next(&m, &pos) == NULL);
	free(keys);
	free(seen);
}

int main(void)
{
	test_small();
	test_many();
	return unit_done("strmap");
}
