/*
 * sync_model.c: the sync engine's in-memory model: the tree of the source's
 * directories (dnode, found by path in a strmap), the per-folder table of
 * base names where the source, the destination and the state meet
 * (msgtab, its strings in an arena), and the paths built from them.
 * No I/O.
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>

#include "maildir.h"
#include <xxhash.h>
#include "banned.h"

const char *sync_arena_strndup(struct arena *a, const char *p, size_t n)
{
	struct arena_blk *b = a->head;
	char *r;

	if (!b || b->cap - b->used < n + 1) {
		size_t cap = n + 1 > 65536 ? n + 1 : 65536;

		b = xmalloc(sizeof *b + cap);
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	r = b->data + b->used;
	memcpy(r, p, n);
	r[n] = '\0';
	b->used += n + 1;
	return r;
}

static void arena_release(struct arena *a)
{
	while (a->head) {
		struct arena_blk *n = a->head->next;

		free(a->head);
		a->head = n;
	}
}

/* The entry of a base name (its first `len` bytes), made when missing. */
struct msgent *sync_msgtab_at(struct msgtab *t, const char *base, size_t len)
{
	uint64_t h = XXH3_64bits(base, len);
	size_t i;
	struct msgent *e;

	if ((t->n + 1) * 2 > t->nslot) {
		size_t k;

		t->nslot = t->nslot ? t->nslot * 2 : 256;
		free(t->slot);
		t->slot = xcalloc(t->nslot, sizeof *t->slot);
		for (k = 0; k < t->n; k++) {
			for (i = t->v[k].h & (t->nslot - 1); t->slot[i];
			     i = (i + 1) & (t->nslot - 1))
				;
			t->slot[i] = (uint32_t)k + 1;
		}
	}
	for (i = h & (t->nslot - 1); t->slot[i]; i = (i + 1) & (t->nslot - 1)) {
		e = &t->v[t->slot[i] - 1];
		if (e->h == h && !strncmp(e->base, base, len) && !e->base[len])
			return e;
	}
	XGROW(t->v, t->n, t->cap, 256);
	e = &t->v[t->n];
	memset(e, 0, sizeof *e);
	e->base = sync_arena_strndup(&t->ar, base, len);
	e->h = h;
	t->slot[i] = (uint32_t)++t->n;
	return e;
}

void sync_msgtab_release(struct msgtab *t)
{
	free(t->v);
	free(t->slot);
	arena_release(&t->ar);
	memset(t, 0, sizeof *t);
}

int sync_msgtab_state_cb(void *arg, const struct state_msg *m)
{
	struct msgtab *t = arg;
	size_t bl = strlen(m->base), nl = strlen(m->name);
	struct msgent *e;

	if (nl > 4 && (md_base_len(m->name + 4) != bl ||
		       memcmp(m->name + 4, m->base, bl))) {
		/* A conflict copy: the source's message `base` is here under
		 * another base name (sync_plan.c); met by that name. */
		e = sync_msgtab_at(t, m->name + 4, md_base_len(m->name + 4));
		e->alias = sync_arena_strndup(&t->ar, m->base, bl);
	} else {
		e = sync_msgtab_at(t, m->base, bl);
	}
	e->has_p = 1;
	e->p_name = sync_arena_strndup(&t->ar, m->name, strlen(m->name));
	e->p_dev = m->dev;
	e->p_ino = m->ino;
	e->p_size = m->size;
	e->p_gone = (char)m->gone;
	return 0;
}

char *sync_join(const char *a, const char *b)
{
	struct buf p = BUF_INIT;

	buf_addstr(&p, a);
	if (*a && *b)
		buf_putc(&p, '/');
	buf_addstr(&p, b);
	return buf_detach(&p);
}

char *sync_src_abs(const struct sync *s, const char *rel)
{
	return sync_join(s->src, rel);
}

int sync_depth_of(const char *path)
{
	int d = *path ? 1 : 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* Finds or makes the node for `path` (its parent must exist). */
struct dnode *sync_dnode_get(struct sync *s, const char *path, int make)
{
	struct dnode *d = strmap_get(&s->dirs, path), *p = NULL;
	const char *slash;

	if (d || !make)
		return d;
	if (*path) {
		char *pp;

		slash = strrchr(path, '/');
		pp = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
		p = strmap_get(&s->dirs, pp);
		free(pp);
		if (!p)
			return NULL;
	}
	d = xcalloc(1, sizeof *d);
	d->path = xstrdup(path);
	slash = strrchr(d->path, '/');
	d->name = slash ? slash + 1 : d->path;
	d->depth = sync_depth_of(path);
	d->kind = 'd';
	d->parent = p;
	if (p) {
		d->sibling = p->child;
		p->child = d;
	}
	strmap_put(&s->dirs, d->path, d);
	VEC_PUSH(s->dv, s->ndv, s->capdv, d);
	return d;
}

struct dnode *sync_child_named(struct dnode *d, const char *name)
{
	struct dnode *c;

	for (c = d->child; c; c = c->sibling)
		if (!c->vanished && !strcmp(c->name, name))
			return c;
	return NULL;
}

char *sync_msg_rel(const struct folder *fo, char sub, const char *name)
{
	struct buf p = BUF_INIT;

	if (*fo->path)
		buf_printf(&p, "%s/", fo->path);
	buf_printf(&p, "%s/%s", sub == 'c' ? "cur" : "new", name);
	return buf_detach(&p);
}
