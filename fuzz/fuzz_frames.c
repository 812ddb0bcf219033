/*
 * fuzz_frames.c: libFuzzer target for everything the controller decodes
 * from the agent: frame headers and the answers to every request kind.
 * The first input byte picks the request; the rest is the agent's stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "log.h"
#include "remote.h"

static int list_cb(void *arg, const struct rentry *e)
{
	/* Touch what a caller would touch. */
	*(size_t *)arg += strlen(e->path) + strlen(e->name) +
			  (e->target ? strlen(e->target) : 0);
	return 0;
}

static int r_begin(void *a, uint32_t i, int e, const struct mm_stat *st)
{
	(void)a; (void)i; (void)e; (void)st;
	return 0;
}

static int r_data(void *a, uint32_t i, const void *p, size_t n)
{
	(void)i;
	if (n)
		*(size_t *)a += ((const unsigned char *)p)[n - 1];
	return 0;
}

static int r_end(void *a, uint32_t i, int e, uint64_t t)
{
	(void)a; (void)i; (void)e; (void)t;
	return 0;
}

static int h_cb(void *a, const struct rhash *h)
{
	*(size_t *)a += (size_t)h->size;
	return 0;
}

static int s_cb(void *a, uint32_t i, int e, const struct mm_stat *st)
{
	(void)i; (void)e;
	if (st)
		*(size_t *)a += st->mode;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rread_ops ops = { r_begin, r_data, r_end };
	char *paths[3] = { "a", "b/c", "d" };
	struct endpoint *ep;
	struct buf out = BUF_INIT, err = BUF_INIT;
	uint64_t t, a;
	size_t sink = 0;
	int st;

	if (size < 1)
		return 0;
	log_setup(-1, 0);
	ep = ep_from_memory(data + 1, size - 1);
	ep->next_id = 0;	/* the first request gets id 1 */
	switch (data[0] % 6) {
	case 0: remote_list(ep, "x", LIST_STAT | LIST_RECURSE, 0, list_cb, &sink); break;
	case 1: remote_read(ep, paths, 3, &ops, &sink); break;
	case 2: remote_hash(ep, paths, 3, h_cb, &sink); break;
	case 3: remote_stat(ep, paths, 3, s_cb, &sink); break;
	case 4: remote_statfs(ep, "x", &t, &a); break;
	case 5: {
		char *argv[] = { "true", NULL };
		remote_run(ep, argv, NULL, &out, &err, 1 << 20, &st);
		break;
	}
	}
	ep_close(ep);
	buf_release(&out);
	buf_release(&err);
	return 0;
}
