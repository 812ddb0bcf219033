/*
 * sync.c: the Maildir engine (see sync.h).
 *
 * One run:
 *  1. find what changed on the old server: the first run lists the whole
 *     tree; later runs stat every directory the state knows (one request)
 *     and list again only those whose mtime moved, plus new directories;
 *  2. directories, sieve scripts and other plain files go through the
 *     file-tree sync (treesync.c);
 *  3. per folder: the source's messages (listed, or from the state when
 *     cur/ or new/ did not change) against the destination's cur/ and new/
 *     (read locally, or taken from the state's rows while the directory
 *     keeps the mtime recorded when the rows listed it exactly): renames
 *     for flag changes and moves, deletions with --delete when the state
 *     proves the file came from the source, copies queued;
 *  4. copies stream from the agent (two read requests in flight) into
 *     tmp/<base> with the source's mode, owner and mtime; every batch is
 *     made durable with one syncfs() and then renamed into cur/ or new/;
 *  5. a folder whose messages are all in place gets its Dovecot files
 *     (uidlist, keywords, ...) under the dotlock, its stale index files
 *     removed, and its state rows, committed after a second syncfs().
 * Killed anywhere, the next run re-derives everything from the source and
 * the destination's own directories: the state only ever says less than
 * what is on disk, except for a destination directory whose mtime it
 * recorded, where it says exactly what is there (dest_unchanged()).
 */
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "fsops.h"
#include "lock.h"
#include "log.h"
#include "maildir.h"
#include "owners.h"
#include "remote.h"
#include "state.h"
#include "treesync.h"
#include <xxhash.h>
#include "banned.h"

#define STAT_BATCH 2048			/* paths per stat request */
#define READ_BATCH_FILES 256		/* files per read request */
#define READ_BATCH_BYTES (8u << 20)	/* bytes per read request */
#define FLUSH_FILES 16384		/* tmp files before a syncfs */
#define FLUSH_BYTES (512u << 20)
#define FLUSH_FOLDERS 2048		/* finished folders before a commit */
#define RACY_SECONDS 2
#define LOCK_WAIT_SECONDS 10
#define LOCK_STALE_SECONDS 120
#define META_MAX (64u << 20)

/* ---- the hidden step switch ---- */

static long step_count, step_exit_at = -1;

void sync_step(void)
{
	step_count++;
	if (step_exit_at > 0 && step_count >= step_exit_at)
		_exit(99);
}

static void step_setup(void)
{
	const char *v = getenv("MAILMOVE_TEST_EXIT_AT");

	step_count = 0;
	step_exit_at = v && *v ? atol(v) : -1;
}

/* ---- a string-keyed hash map (keys belong to the values) ---- */

struct smap_slot {
	const char *key;
	void *val;
	uint64_t h;
};

struct smap {
	struct smap_slot *v;
	size_t cap, n;
};

static uint64_t str_hash(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

static void *smap_get(const struct smap *m, const char *key)
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

/* Inserts or replaces, the key's hash known. */
static void smap_put_h(struct smap *m, const char *key, uint64_t h, void *val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct smap old = *m;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->v = xcalloc(m->cap, sizeof *m->v);
		m->n = 0;
		for (i = 0; i < old.cap; i++)
			if (old.v[i].key)
				smap_put_h(m, old.v[i].key, old.v[i].h,
					   old.v[i].val);
		free(old.v);
	}
	for (i = h & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1))
		if (m->v[i].h == h && !strcmp(m->v[i].key, key)) {
			m->v[i].val = val;
			m->v[i].key = key;
			return;
		}
	m->v[i].key = key;
	m->v[i].val = val;
	m->v[i].h = h;
	m->n++;
}

static void smap_put(struct smap *m, const char *key, void *val)
{
	smap_put_h(m, key, str_hash(key), val);
}

static void smap_release(struct smap *m)
{
	free(m->v);
	memset(m, 0, sizeof *m);
}

/* ---- the model of the source tree ---- */

struct folder;

struct dnode {
	char *path;		/* relative to the source root; "" is the root */
	const char *name;	/* last component */
	char kind;		/* 'd' plain, 'F' folder, 'c' cur, 'n' new,
				   't' tmp, 'x' below cur/new/tmp (ignored) */
	int depth;
	struct dnode *parent, *child, *sibling;
	int in_state;
	int64_t old_s;
	uint32_t old_ns;
	int has_dest;		/* cur/, new/: the state lists the destination's */
	int64_t dest_s;		/* directory exactly while it has this mtime */
	uint32_t dest_ns;
	int have_now;
	struct mm_stat now;
	int listed;		/* its own entries were listed this run */
	int is_new;
	int vanished;
	int failed;		/* listing or a write below it failed */
	int seen;		/* seen in its parent's new listing */
	int keep_vanished;	/* vanished, but its removal failed below it:
				   stays in the state for the next run */
	struct folder *fo;
};

/* A file or symlink from a listing. */
struct fentry {
	char *path;
	const char *name;
	char kind;
	int has_stat;
	struct mm_stat st;
	char *target;
	struct dnode *parent;
};

/* Strings that live as long as one folder's planning. */
struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
};

struct arena {
	struct arena_blk *head;
};

static const char *arena_strndup(struct arena *a, const char *p, size_t n)
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

/* One base name of a folder as the source, the destination and the state
 * have it. */
struct msgent {
	const char *base;
	uint64_t h;
	/* the source: listed, or named by the state when cur/ or new/ was
	 * not listed again */
	char s_sub;		/* 'c' or 'n'; 0: not on the source */
	char s_listed;		/* seen in this run's listing */
	char s_has_stat;	/* s_st is valid */
	const char *s_name;	/* without cur/ or new/ */
	struct mm_stat s_st;
	/* the destination */
	char d_sub;		/* 'c' or 'n'; 0: not on the destination */
	const char *d_name;
	/* the state: the file came from the source */
	char has_p, p_gone;
	const char *p_name;	/* "cur/..." or "new/..." */
	uint64_t p_dev, p_ino, p_size;
};

struct msgtab {
	struct msgent *v;
	size_t n, cap;
	uint32_t *slot;		/* index + 1; 0 is empty */
	size_t nslot;
	struct arena ar;
};

/* The entry of a base name (its first `len` bytes), made when missing. */
static struct msgent *msgtab_at(struct msgtab *t, const char *base, size_t len)
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
	e->base = arena_strndup(&t->ar, base, len);
	e->h = h;
	t->slot[i] = (uint32_t)++t->n;
	return e;
}

static void msgtab_release(struct msgtab *t)
{
	free(t->v);
	free(t->slot);
	arena_release(&t->ar);
	memset(t, 0, sizeof *t);
}

/* A source message; cur/ wins over new/ for one base name. */
static void src_add(struct msgtab *t, const char *name, char sub, int listed,
		    const struct mm_stat *st)
{
	struct msgent *e = msgtab_at(t, name, md_base_len(name));

	if (e->s_sub == 'c')
		return;
	e->s_sub = sub;
	e->s_name = arena_strndup(&t->ar, name, strlen(name));
	e->s_listed = (char)listed;
	e->s_has_stat = st != NULL;
	if (st)
		e->s_st = *st;
	else
		memset(&e->s_st, 0, sizeof e->s_st);
}

static int pload_cb(void *arg, const struct state_msg *m)
{
	struct msgtab *t = arg;
	struct msgent *e = msgtab_at(t, m->base, strlen(m->base));

	e->has_p = 1;
	e->p_name = arena_strndup(&t->ar, m->name, strlen(m->name));
	e->p_dev = m->dev;
	e->p_ino = m->ino;
	e->p_size = m->size;
	e->p_gone = (char)m->gone;
	return 0;
}

/* Whether the state's name of `e` is `name` in `sub`. */
static int p_names(const struct msgent *e, char sub, const char *name)
{
	return strlen(e->p_name) > 4 && e->p_name[0] == sub &&
		!strcmp(e->p_name + 4, name);
}

struct job {
	struct folder *fo;
	char *base;
	char *name;
	char sub;
	struct mm_stat st;
	struct fs_meta meta;
	int state;		/* 0 queued, 1 in tmp, 2 placed, -1 failed,
				   3 waits for its hard-link twin */
	int need_stat;		/* listed by name only: stat before copying */
	struct job *twin;	/* state 3: the job it links to */
	char *state_twin;	/* a destination file (relative) the state
				   knows for the same source file, proven in
				   this run (prove_state_twins), or NULL */
};

/* What the folder's state rows become once it is finished. */
struct finrow {
	struct state_msg m;
	struct job *job;	/* the row is valid once this job is placed */
	int del;		/* delete the row instead */
	int rename_only;	/* only its name changes */
};

struct metafile {
	char *name;
	struct mm_stat st;	/* as copied (ino 0: not copied) */
	struct mm_stat src;	/* as read in this run */
	char *tmp;		/* the temporary file, until renamed */
	int index;		/* a dovecot.index* file (--with-indexes) */
};

struct folder {
	struct dnode *dir;
	char *path;
	char *user;
	size_t pending;		/* jobs not yet placed or failed */
	int errors;
	int planned;
	int done;
	struct finrow *rows;
	size_t nrows, caprows;
	struct metafile *meta;
	size_t nmeta;
	int cur_fd, new_fd, tmp_fd;
	int dir_fd;		/* while its metadata is written */
	int trusted[2];		/* cur/, new/ taken from the state's rows */
	int inexact[2];		/* the rows will not list cur/, new/ exactly */
	struct timespec seen[2];	/* the mtime of cur/, new/ when read or
				   trusted, then right after each change
				   this run made there */
};

/* A destination message whose source inode is to be learnt. */
struct probe {
	struct folder *fo;
	size_t row;
	char *rel;
};

struct ustats {
	char *user;
	uint64_t copied, linked, renamed, deleted, kept_only, src_gone,
		bytes, errors;
};

struct sync {
	struct mm_ctx *ctx;
	const struct sync_opts *o;
	struct endpoint *ep;
	struct state state;
	struct idmap src_ids, dst_ids;
	struct owner_map owners;
	int dst_fd;		/* the destination base, or -1 (dry run) */
	const char *src;	/* source root without trailing '/' */
	char *dest_name;	/* for messages */
	int dry;
	int64_t t0;		/* the old server's clock at the start */
	char hostname[256];

	struct smap dirs;
	struct dnode **dv;
	size_t ndv, capdv;
	struct fentry *fv;
	size_t nfv, capfv;

	struct folder **folders;
	size_t nfolders, capfolders;
	struct job **jobs;
	size_t njobs, capjobs;
	struct smap links;	/* "dev:ino" -> a placed job or dest path */
	struct probe *probes;
	size_t nprobes, capprobes;
	struct smap users;

	struct folder **ready;	/* finished folders waiting for a commit */
	size_t nready, capready;
	struct job **placed_wait;	/* in tmp, to rename at the flush */
	size_t nwait, capwait;
	uint64_t wait_bytes;

	struct progress prog;
	struct buf errors;	/* the list of failures for the summary */
	uint64_t nerrors;
	int fatal;		/* an errno that ends the run (disk full) */
	int lost;		/* the agent connection is gone */
	size_t dest_read, dest_trusted;	/* cur/ and new/ read, or not */
	int incremental;	/* the state knew the tree before this run */
	struct ustats total;
	struct ts_stats files;
};

#define VEC_PUSH(v, n, cap, x) do { \
	XGROW((v), (n), (cap), 64); \
	(v)[(n)++] = (x); \
} while (0)

/* ---- reporting ---- */

static struct ustats *user_stats(struct sync *s, const char *user)
{
	struct ustats *u = smap_get(&s->users, user);

	if (!u) {
		u = xcalloc(1, sizeof *u);
		u->user = xstrdup(user);
		smap_put(&s->users, u->user, u);
	}
	return u;
}

/* Records one failed item: logged now, listed again in the summary. */
static void item_failed(struct sync *s, struct folder *fo, const char *rel,
			const char *what, int err)
{
	struct buf q = BUF_INIT;

	mm_quote(&q, rel);
	log_error("%s: %s: %s", q.data, what, strerror(err));
	if (s->nerrors < 1000)
		buf_printf(&s->errors, "  %s: %s: %s\n", q.data, what,
			   strerror(err));
	s->nerrors++;
	s->total.errors++;
	if (fo) {
		fo->errors++;
		user_stats(s, fo->user)->errors++;
	}
	if (fs_errno_fatal(err) && !s->fatal &&
	    strstr(what, "old server") == NULL)
		s->fatal = err;
	buf_release(&q);
}

/* The plan line of a dry run (or of --verbose). */
static void plan_line(struct sync *s, const char *action, const char *path,
		      const char *to)
{
	struct buf q = BUF_INIT;

	if (!s->dry && log_verbosity() < 1)
		return;
	mm_quote(&q, path);
	if (to) {
		buf_addstr(&q, " -> ");
		mm_quote(&q, to);
	}
	if (log_json())
		out_event("plan", json_pack("{s:s, s:s}", "action", action,
					    "path", q.data));
	else if (s->dry)
		log_out("%-8s %s\n", action, q.data);
	else
		log_verbose("%s %s", action, q.data);
	buf_release(&q);
}

/* ---- building the model ---- */

static char *join(const char *a, const char *b)
{
	struct buf p = BUF_INIT;

	buf_addstr(&p, a);
	if (*a && *b)
		buf_putc(&p, '/');
	buf_addstr(&p, b);
	return buf_detach(&p);
}

static char *src_abs(const struct sync *s, const char *rel)
{
	return join(s->src, rel);
}

static int depth_of(const char *path)
{
	int d = *path ? 1 : 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* Finds or makes the node for `path` (its parent must exist). */
static struct dnode *dnode_get(struct sync *s, const char *path, int make)
{
	struct dnode *d = smap_get(&s->dirs, path), *p = NULL;
	const char *slash;

	if (d || !make)
		return d;
	if (*path) {
		char *pp;

		slash = strrchr(path, '/');
		pp = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
		p = smap_get(&s->dirs, pp);
		free(pp);
		if (!p)
			return NULL;
	}
	d = xcalloc(1, sizeof *d);
	d->path = xstrdup(path);
	slash = strrchr(d->path, '/');
	d->name = slash ? slash + 1 : d->path;
	d->depth = depth_of(path);
	d->kind = 'd';
	d->parent = p;
	if (p) {
		d->sibling = p->child;
		p->child = d;
	}
	smap_put(&s->dirs, d->path, d);
	VEC_PUSH(s->dv, s->ndv, s->capdv, d);
	return d;
}

static int load_dir_cb(void *arg, const char *path, char kind,
		       int64_t mtime_s, uint32_t mtime_ns)
{
	struct sync *s = arg;
	struct dnode *d;

	/* Rows come in path order, so a parent precedes its children. */
	d = dnode_get(s, path, 1);
	if (!d) {
		log_debug("state: %s has no parent row; ignored", path);
		return 0;
	}
	d->in_state = 1;
	d->kind = kind;
	d->old_s = mtime_s;
	d->old_ns = mtime_ns;
	return 0;
}

static int load_dest_dir_cb(void *arg, const char *path, char kind,
			    int64_t mtime_s, uint32_t mtime_ns)
{
	struct sync *s = arg;
	struct dnode *d = dnode_get(s, path, 0);

	(void)kind;
	if (d) {
		d->has_dest = 1;
		d->dest_s = mtime_s;
		d->dest_ns = mtime_ns;
	}
	return 0;
}

struct listctx {
	struct sync *s;
	const char *prefix;	/* the listed directory's path */
	struct dnode *top;
	int recursive;
};

static void fentry_add(struct sync *s, const char *path, const struct rentry *e,
		       struct dnode *parent)
{
	struct fentry f;

	memset(&f, 0, sizeof f);
	f.path = xstrdup(path);
	f.name = strrchr(f.path, '/') ? strrchr(f.path, '/') + 1 : f.path;
	f.kind = e->kind;
	f.has_stat = e->has_stat;
	f.st = e->st;
	f.target = e->target ? xstrdup(e->target) : NULL;
	f.parent = parent;
	VEC_PUSH(s->fv, s->nfv, s->capfv, f);
}

static int list_cb(void *arg, const struct rentry *e)
{
	struct listctx *c = arg;
	struct sync *s = c->s;
	char *path = join(c->prefix, e->path);
	struct dnode *d, *parent;
	const char *slash;

	if (e->kind == 'e') {
		d = dnode_get(s, path, 0);
		item_failed(s, NULL, path, "cannot read the directory on the old server",
			    e->err);
		/* Its listing stopped partway: what it lacks may still be
		 * there, so nothing is deleted or marked vanished for it. */
		if (d) {
			d->failed = 1;
			d->listed = 0;
		}
		free(path);
		return 0;
	}
	if (e->index == 0) {
		c->top->have_now = 1;
		c->top->now = e->st;
		c->top->listed = 1;
		free(path);
		return 0;
	}
	slash = strrchr(path, '/');
	{
		char *pp = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
		parent = smap_get(&s->dirs, pp);
		free(pp);
	}
	if (!parent) {		/* below a directory we ignore */
		free(path);
		return 0;
	}
	if (e->kind == 'd' && strchr("cntx", parent->kind)) {
		/* nothing below cur/, new/ or tmp/ is ours */
	} else if (e->kind == 'd') {
		d = dnode_get(s, path, 0);
		if (d) {
			d->seen = 1;
			d->vanished = 0;
			d->have_now = 1;
			d->now = e->st;
		} else if (!c->recursive) {
			d = dnode_get(s, path, 1);
			d->is_new = 1;
			d->seen = 1;
			d->have_now = 1;
			d->now = e->st;
			d->listed = 0;	/* listed below, recursively */
		} else {
			d = dnode_get(s, path, 1);
			d->is_new = 1;
			d->seen = 1;
			d->have_now = 1;
			d->now = e->st;
			d->listed = 1;
		}
	} else if (e->kind == 'f' || e->kind == 'l') {
		fentry_add(s, path, e, parent);
	} else {
		log_warn("%s/%s: not a file, directory or symlink; skipped",
			 s->src, path);
	}
	free(path);
	return 0;
}

static unsigned list_flags(const struct dnode *d, int recursive)
{
	/* cur/ and new/ listed again need names only: the few new messages
	 * are stat'ed later, so a resync costs a readdir per changed
	 * directory, not an lstat per message. */
	return (recursive || (d->kind != 'c' && d->kind != 'n') ? LIST_STAT : 0) |
		(recursive ? LIST_RECURSE : 0);
}

/* What a listing's answer means for `d`: 0, or -1 when the agent is lost. */
static int list_done(struct sync *s, struct dnode *d, int rc)
{
	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (rc == ENOENT || rc == ENOTDIR) {
			d->vanished = 1;
		} else {
			item_failed(s, NULL, d->path,
				    "cannot list on the old server", rc);
			d->failed = 1;
		}
		return 0;
	}
	if (!d->failed)		/* not when the listing stopped partway */
		d->listed = 1;
	return 0;
}

#define LIST_WINDOW 64		/* single-directory listings in flight */

/* Lists the directories v[0..n) (their own entries), LIST_WINDOW
 * requests in flight.  0, or -1 when the agent is lost. */
static int list_dirs_pipelined(struct sync *s, struct dnode **v, size_t n)
{
	uint32_t ids[LIST_WINDOW];
	char *abs[LIST_WINDOW];
	size_t sent = 0, got = 0;

	while (got < n) {
		while (sent < n && sent - got < LIST_WINDOW) {
			struct dnode *d = v[sent], *ch;
			size_t k = sent % LIST_WINDOW;

			for (ch = d->child; ch; ch = ch->sibling)
				ch->seen = 0;
			abs[k] = src_abs(s, d->path);
			ids[k] = remote_list_send(s->ep, abs[k],
						  list_flags(d, 0), 1);
			if (!ids[k]) {
				size_t j;
				for (j = got; j <= sent; j++)
					free(abs[j % LIST_WINDOW]);
				return -1;
			}
			sent++;
		}
		{
			struct dnode *d = v[got];
			size_t k = got % LIST_WINDOW;
			struct listctx c = { s, d->path, d, 0 };
			int rc = remote_list_recv(s->ep, ids[k], abs[k], list_cb, &c);

			free(abs[k]);
			got++;
			if (list_done(s, d, rc) < 0) {
				for (; got < sent; got++)
					free(abs[got % LIST_WINDOW]);
				return -1;
			}
		}
	}
	return 0;
}

/* Lists `d` on the old server: its own entries (depth 1) or, for a new
 * directory, everything below it.  0, or -1 when the agent is lost. */
static int list_dir(struct sync *s, struct dnode *d, int recursive)
{
	struct listctx c = { s, d->path, d, recursive };
	char *abs = src_abs(s, d->path);
	struct dnode *ch;
	int rc;

	for (ch = d->child; ch; ch = ch->sibling)
		ch->seen = 0;
	rc = remote_list(s->ep, abs, list_flags(d, recursive),
			 recursive ? 0 : 1, list_cb, &c);
	free(abs);
	return list_done(s, d, rc);
}

static void mark_vanished(struct dnode *d)
{
	struct dnode *c;

	d->vanished = 1;
	for (c = d->child; c; c = c->sibling)
		mark_vanished(c);
}

struct statctx {
	struct sync *s;
	struct dnode **v;
};

static int stat_cb(void *arg, uint32_t index, int err, const struct mm_stat *st)
{
	struct statctx *c = arg;
	struct dnode *d = c->v[index];

	if (err == ENOENT || err == ENOTDIR || (!err && !S_ISDIR(st->mode))) {
		d->vanished = 1;
	} else if (err) {
		item_failed(c->s, NULL, d->path, "cannot stat on the old server",
			    err);
		d->failed = 1;
	} else {
		d->have_now = 1;
		d->now = *st;
	}
	return 0;
}

/* Puts every folder's new/ before its cur/ in v[0..n) (the agent answers
 * requests in order).  Dovecot moves a message from new/ to cur/, never
 * back: stat'ed and listed in that order, a message moved meanwhile is
 * seen in one of them or both (cur/ wins), never in neither, where a
 * --delete would take it for expunged. */
static void new_before_cur(struct dnode **v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (v[i]->kind != 'c' || !v[i]->parent)
			continue;
		/* in path order the sibling is next, or close */
		for (j = i + 1; j < n && j < i + 64; j++)
			if (v[j]->parent == v[i]->parent && v[j]->kind == 'n') {
				struct dnode *t = v[i];

				v[i] = v[j];
				v[j] = t;
				break;
			}
	}
}

/* Stats the directories v[0..n) in batches.  0, or -1 when the agent is
 * lost. */
static int stat_dirs(struct sync *s, struct dnode **v, size_t n)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; i < n && !rc; i += STAT_BATCH) {
		size_t cnt = n - i < STAT_BATCH ? n - i : STAT_BATCH;
		char **paths = xcalloc(cnt, sizeof *paths);
		struct statctx c = { s, v + i };

		for (j = 0; j < cnt; j++)
			paths[j] = src_abs(s, v[i + j]->path);
		rc = remote_stat(s->ep, paths, cnt, stat_cb, &c);
		for (j = 0; j < cnt; j++)
			free(paths[j]);
		free(paths);
	}
	return rc < 0 ? -1 : 0;
}

/* Stats every known directory (tmp/ and below excepted) in batches. */
static int stat_known_dirs(struct sync *s)
{
	struct dnode **v = xcalloc(s->ndv + 1, sizeof *v);
	size_t n = 0, i;
	int rc;

	for (i = 0; i < s->ndv; i++)
		if (s->dv[i]->kind != 't' && s->dv[i]->kind != 'x')
			v[n++] = s->dv[i];
	new_before_cur(v, n);
	rc = stat_dirs(s, v, n);
	free(v);
	return rc;
}

static int dir_changed(const struct dnode *d)
{
	if (!d->have_now || d->vanished)
		return 0;
	if (!d->in_state || (d->old_s == 0 && d->old_ns == 0))
		return 1;
	return d->old_s != d->now.mtime_s || d->old_ns != d->now.mtime_ns;
}

/* Kinds from the tree's shape: a directory with a cur/ is a folder. */
static void classify(struct dnode *d, char parent_kind)
{
	struct dnode *c;
	int has_cur = 0;

	if (d->vanished && d->in_state) {
		/* gone: what it was is what the state says */
		for (c = d->child; c; c = c->sibling)
			classify(c, d->kind);
		return;
	}
	if (parent_kind == 'c' || parent_kind == 'n' || parent_kind == 't' ||
	    parent_kind == 'x') {
		d->kind = 'x';
	} else if (parent_kind == 'F' && (!strcmp(d->name, "cur") ||
					  !strcmp(d->name, "new") ||
					  !strcmp(d->name, "tmp"))) {
		d->kind = d->name[0] == 'c' ? 'c' : d->name[0] == 'n' ? 'n' : 't';
	} else {
		for (c = d->child; c; c = c->sibling)
			if (!c->vanished && !strcmp(c->name, "cur"))
				has_cur = 1;
		d->kind = has_cur ? 'F' : 'd';
	}
	for (c = d->child; c; c = c->sibling)
		classify(c, d->kind);
}

/* A message moved from new/ to cur/ after its cur/ was stat'ed (unchanged
 * then, so not listed) and before its new/ was listed is in neither
 * listing, where a --delete would take it for expunged.  Each unlisted
 * cur/ whose new/ was listed (among changed[0..nch)) is stat'ed again now,
 * and listed if it changed meanwhile.  0, or -1 when the agent is lost. */
static int relist_cur_after_new(struct sync *s, struct dnode **changed,
				size_t nch)
{
	struct dnode **v = xcalloc(nch + 1, sizeof *v);
	size_t n = 0, na = 0, i;
	int rc;

	for (i = 0; i < nch; i++) {
		struct dnode *c;

		if (changed[i]->kind != 'n' || !changed[i]->listed ||
		    !changed[i]->parent)
			continue;
		for (c = changed[i]->parent->child; c; c = c->sibling)
			if (c->kind == 'c' && !strcmp(c->name, "cur") &&
			    c->in_state && !c->listed && !c->failed &&
			    !c->vanished && !dir_changed(c))
				v[n++] = c;
	}
	rc = stat_dirs(s, v, n);
	for (i = 0; i < n && !rc; i++)
		if (dir_changed(v[i]))
			v[na++] = v[i];
	if (!rc && na)
		rc = list_dirs_pipelined(s, v, na);
	free(v);
	return rc;
}

/* Step 1: what is there and what changed. */
static int discover(struct sync *s)
{
	struct dnode *root;
	size_t i, n;

	if (state_dirs_each(&s->state, load_dir_cb, s) < 0 ||
	    state_dest_dirs_each(&s->state, load_dest_dir_cb, s) < 0)
		return MM_EDEST;
	root = dnode_get(s, "", 1);
	s->incremental = root->in_state;
	if (!root->in_state) {
		if (list_dir(s, root, 1) < 0)
			return ep_exit_code(s->ep);
		root->is_new = 1;
	} else {
		if (stat_known_dirs(s) < 0)
			return ep_exit_code(s->ep);
		/* Relist what changed; new directories appear in the listing
		 * of their parent and are listed whole. */
		struct dnode **changed;
		size_t nch = 0;

		n = s->ndv;
		changed = xcalloc(n + 1, sizeof *changed);
		for (i = 0; i < n; i++) {
			struct dnode *d = s->dv[i];

			if (d->kind == 't' || d->kind == 'x' || !dir_changed(d))
				continue;
			changed[nch++] = d;
		}
		new_before_cur(changed, nch);
		if (list_dirs_pipelined(s, changed, nch) < 0 ||
		    relist_cur_after_new(s, changed, nch) < 0) {
			free(changed);
			return ep_exit_code(s->ep);
		}
		for (i = 0; i < nch; i++) {
			struct dnode *d = changed[i], *c;

			if (!d->listed || d->failed || d->kind == 'c' ||
			    d->kind == 'n')
				continue;
			for (c = d->child; c; c = c->sibling)
				if (!c->seen && !c->is_new)
					mark_vanished(c);
		}
		free(changed);
		for (i = 0; i < s->ndv; i++) {
			struct dnode *d = s->dv[i];

			if (d->is_new && !d->listed && !d->vanished &&
			    !d->failed && list_dir(s, d, 1) < 0)
				return ep_exit_code(s->ep);
		}
	}
	if (root->vanished || (!root->have_now && !root->in_state)) {
		log_error("%s on the old server: no such directory", s->src);
		return MM_EDIFF;
	}
	classify(root, 0);
	return MM_OK;
}

/* ---- step 2: directories and plain files ---- */

static int by_depth(const void *a, const void *b)
{
	const struct ts_entry *x = a, *y = b;
	int dx = depth_of(x->path), dy = depth_of(y->path);

	if (dx != dy)
		return dx < dy ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* A file of a listed directory that the file-tree sync owns. */
static int is_plain_file(const struct fentry *f)
{
	if (f->parent->vanished)
		return 0;
	if (f->parent->kind == 'd')
		return 1;
	return f->parent->kind == 'F' && md_classify(f->name) == MD_OTHER;
}

static int sync_plain(struct sync *s)
{
	struct ts_list l = { NULL, 0, 0 };
	struct treesync ts;
	size_t i;
	int rc = MM_OK;

	for (i = 0; i < s->ndv; i++) {
		struct dnode *d = s->dv[i];

		/* A directory that could not be listed is made next time,
		 * when it can: its mode might lock us out meanwhile. */
		if (d->vanished || d->kind == 'x' || !d->have_now || d->failed)
			continue;
		/* Every directory seen in a listing is made sure of. */
		if (d->is_new || d->listed || (d->parent && d->parent->listed)) {
			/* A scan for stale temporaries would read all of a
			 * big cur/ for nothing: sync writes none there. */
			ts_list_push(&l, d->path, 'd', &d->now, NULL)->no_temps =
				d->kind == 'c' || d->kind == 'n' || d->kind == 't';
		}
	}
	for (i = 0; i < s->nfv; i++) {
		struct fentry *f = &s->fv[i];

		if (is_plain_file(f))
			ts_list_push(&l, f->path, f->kind, &f->st, f->target);
	}
	if (!l.n)
		return MM_OK;
	qsort(l.v, l.n, sizeof *l.v, by_depth);
	if (s->dst_fd < 0) {	/* dry run, no destination yet */
		for (i = 0; i < l.n; i++)
			plan_line(s, l.v[i].kind == 'd' ? "mkdir" : "copy",
				  l.v[i].path, NULL);
		ts_list_release(&l);
		return MM_OK;
	}
	memset(&ts, 0, sizeof ts);
	ts.ep = s->ep;
	ts.src_root = s->src;
	ts.dst_fd = s->dst_fd;
	ts.dst_name = s->dest_name;
	ts.owners = &s->owners;
	ts.flags = TS_KEEP_ROOT | (s->dry ? TS_DRY_RUN : 0);
	rc = treesync_entries(&ts, &l);
	s->files = ts.st;
	ts_list_release(&l);
	if (rc == MM_EDIFF) {
		s->nerrors += ts.st.errors;
		buf_printf(&s->errors, "  %llu other files or directories "
			   "(listed above)\n", (unsigned long long)ts.st.errors);
		for (i = 0; i < s->ndv; i++)
			if (s->dv[i]->kind == 'd')
				s->dv[i]->failed = 1;
		rc = MM_OK;
	}
	return rc;
}

/* ---- step 3: planning a folder ---- */

static int sub_fd(struct sync *s, struct folder *fo, char sub)
{
	int *fdp = sub == 'c' ? &fo->cur_fd : sub == 'n' ? &fo->new_fd :
		&fo->tmp_fd;
	const char *nm = sub == 'c' ? "cur" : sub == 'n' ? "new" : "tmp";
	char *rel;
	int e;

	if (*fdp >= 0 || s->dst_fd < 0)
		return *fdp;
	rel = join(fo->path, nm);
	e = fs_walk(s->dst_fd, rel, 0, NULL, fdp);
	free(rel);
	if (e) {
		*fdp = -1;
		errno = e;
	}
	return *fdp;
}

/* Before a change mailmove makes in the destination's cur/ or new/: a
 * directory that no longer has the mtime it had when read or right after
 * mailmove's last change there was changed by someone else meanwhile (a
 * delivery on this server), and the change about to be made would hide
 * that from the commit: the rows will not list it exactly. */
static void dest_changing(struct sync *s, struct folder *fo, char sub)
{
	int fd = sub_fd(s, fo, sub), i = sub == 'n';
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 ||
	    st.st_mtim.tv_sec != fo->seen[i].tv_sec ||
	    st.st_mtim.tv_nsec != fo->seen[i].tv_nsec)
		fo->inexact[i] = 1;
}

/* After a change mailmove made in the destination's cur/ or new/: the
 * mtime it left, which the folder's commit expects to find (see
 * put_dest_dir_mtime). */
static void dest_changed(struct sync *s, struct folder *fo, char sub)
{
	int fd = sub_fd(s, fo, sub);
	struct stat st;

	if (fd >= 0 && fstat(fd, &st) == 0)
		fo->seen[sub == 'n'] = st.st_mtim;
	else
		memset(&fo->seen[sub == 'n'], 0, sizeof fo->seen[0]);
}

static void folder_close_fds(struct folder *fo)
{
	if (fo->cur_fd >= 0)
		close(fo->cur_fd);
	if (fo->new_fd >= 0)
		close(fo->new_fd);
	if (fo->tmp_fd >= 0)
		close(fo->tmp_fd);
	fo->cur_fd = fo->new_fd = fo->tmp_fd = -1;
}

static char *msg_rel(const struct folder *fo, char sub, const char *name)
{
	struct buf p = BUF_INIT;

	if (*fo->path)
		buf_printf(&p, "%s/", fo->path);
	buf_printf(&p, "%s/%s", sub == 'c' ? "cur" : "new", name);
	return buf_detach(&p);
}

static void row_add(struct folder *fo, const char *base, char sub,
		    const char *name, uint64_t dev, uint64_t ino, uint64_t size,
		    int gone, struct job *job, int del)
{
	struct finrow r;
	struct buf n = BUF_INIT;

	memset(&r, 0, sizeof r);
	buf_printf(&n, "%s/%s", sub == 'c' ? "cur" : "new", name);
	r.m.base = xstrdup(base);
	r.m.name = buf_detach(&n);
	r.m.dev = dev;
	r.m.ino = ino;
	r.m.size = size;
	r.m.gone = gone;
	r.job = job;
	r.del = del;
	VEC_PUSH(fo->rows, fo->nrows, fo->caprows, r);
}

struct linkref {
	char key[48];
	struct job *job;	/* a job of this run, or NULL */
	char *dest;		/* a destination path (relative), or NULL */
};

static void link_key(char *key, size_t n, const struct mm_stat *st)
{
	snprintf(key, n, "%llx:%llx", (unsigned long long)st->dev,
		 (unsigned long long)st->ino);
}

static void link_register(struct sync *s, const struct mm_stat *st,
			  struct job *job, const char *dest)
{
	struct linkref *r;
	char key[48];

	if (st->nlink < 2)
		return;
	link_key(key, sizeof key, st);
	r = smap_get(&s->links, key);
	if (r && r->job && r->job->state != -1)
		return;
	if (!r) {
		r = xcalloc(1, sizeof *r);
		memcpy(r->key, key, sizeof key);
		smap_put(&s->links, r->key, r);
	}
	r->job = job;
	free(r->dest);
	r->dest = dest ? xstrdup(dest) : NULL;
}

/* Whether the destination's cur/ or new/ (`sd` on the source) still has
 * the mtime it had when the state's rows were its exact listing.  Only
 * mailmove wrote there since, so the rows can stand in for reading it: a
 * resync then reads no big destination directory at all.  A change made
 * there by someone else within the same clock tick as mailmove's last one
 * would go unseen; what follows is bounded: a rename or deletion that
 * finds its file gone makes the next run read the directory (see
 * plan_folder), and files of the destination's own stay untouched. */
static int dest_unchanged(struct sync *s, struct folder *fo, struct dnode *sd,
			  char sub)
{
	struct stat st;
	int fd;

	if (!sd || !sd->has_dest || s->dst_fd < 0)
		return 0;
	fd = sub_fd(s, fo, sub);
	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	return st.st_mtim.tv_sec == sd->dest_s &&
		st.st_mtim.tv_nsec == (long)sd->dest_ns;
}

/* The destination's cur/ or new/ from the state's rows. */
static void dest_from_state(struct msgtab *t, char sub)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct msgent *e = &t->v[i];

		if (e->has_p && !e->d_sub && e->p_name[0] == sub &&
		    strlen(e->p_name) > 4) {
			e->d_sub = sub;
			e->d_name = e->p_name + 4;
		}
	}
}

/* The destination's cur/ or new/ into the table. */
static int read_dest_sub(struct sync *s, struct folder *fo, char sub,
			 struct msgtab *t)
{
	int fd, dfd, err;
	DIR *dir;
	struct dirent *de;

	errno = 0;
	fd = sub_fd(s, fo, sub);
	if (fd < 0)	/* not made yet: empty */
		return errno == ENOENT || !errno || s->dst_fd < 0 ? 0 : errno;
	dfd = dup(fd);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		err = errno;
		if (dfd >= 0)
			close(dfd);
		return err ? err : EIO;
	}
	for (;;) {
		struct msgent *e;

		errno = 0;
		if (!(de = readdir(dir)))
			break;

		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		e = msgtab_at(t, de->d_name, md_base_len(de->d_name));
		if (e->d_sub) {
			char *rel = msg_rel(fo, sub, de->d_name);
			log_warn("%s: a second file with the same base name on "
				 "the destination; left alone", rel);
			free(rel);
			fo->inexact[sub == 'n'] = 1;
			continue;
		}
		e->d_sub = sub;
		e->d_name = arena_strndup(&t->ar, de->d_name,
					  strlen(de->d_name));
	}
	err = errno;
	closedir(dir);
	return err;
}

static struct dnode *child_named(struct dnode *d, const char *name)
{
	struct dnode *c;

	for (c = d->child; c; c = c->sibling)
		if (!c->vanished && !strcmp(c->name, name))
			return c;
	return NULL;
}

static int meta_wanted(struct sync *s, const char *name)
{
	enum md_kind k = md_classify(name);

	if (k == MD_META)
		return 1;
	return k == MD_INDEX && s->o->with_indexes &&
		!strncmp(name, "dovecot.index", 13);
}

static int rename_msg(struct sync *s, struct folder *fo, const struct msgent *e)
{
	int from = sub_fd(s, fo, e->d_sub), to = sub_fd(s, fo, e->s_sub);

	if (from < 0 || to < 0)
		return errno ? errno : ENOENT;
	if (renameat(from, e->d_name, to, e->s_name) < 0)
		return errno;
	sync_step();
	return 0;
}

/* The mode, owner and mtime a copied message gets; -1 (reported) when its
 * owner has no counterpart here. */
static int job_meta(struct sync *s, struct job *j)
{
	struct buf why = BUF_INIT;
	int rc = 0;

	j->meta.mode = j->st.mode & 07777;
	j->meta.set_owner = 1;
	j->meta.set_mtime = 1;
	j->meta.mtime_s = j->st.mtime_s;
	j->meta.mtime_ns = j->st.mtime_ns;
	if (owner_map_ids(&s->owners, j->st.uid, j->st.gid, &j->meta.uid,
			  &j->meta.gid, &why) < 0) {
		char *rel = msg_rel(j->fo, j->sub, j->name);
		log_error("%s: %s", rel, why.data);
		item_failed(s, j->fo, rel, "owner missing on this server", EINVAL);
		free(rel);
		rc = -1;
	}
	buf_release(&why);
	return rc;
}

/* Plans and does the renames and deletions of one folder; queues its
 * copies.  Returns MM_OK or a fatal exit code. */
static int plan_folder(struct sync *s, struct dnode *fd_node,
		       struct fentry **files, size_t nfiles)
{
	struct folder *fo = xcalloc(1, sizeof *fo);
	struct dnode *cur = child_named(fd_node, "cur");
	struct dnode *nw = child_named(fd_node, "new");
	struct msgtab t;
	size_t i, n0;
	int dest_failed = 0;
	struct buf user = BUF_INIT;
	struct ustats *us;

	memset(&t, 0, sizeof t);
	fo->dir = fd_node;
	fd_node->fo = fo;
	fo->path = xstrdup(fd_node->path);
	md_user_of(fo->path, &user);
	fo->user = buf_detach(&user);
	fo->cur_fd = fo->new_fd = fo->tmp_fd = -1;
	fo->dir_fd = -1;
	us = user_stats(s, fo->user);
	VEC_PUSH(s->folders, s->nfolders, s->capfolders, fo);

	/* The source: listed subdirectories, else the state's names. */
	for (i = 0; i < nfiles; i++) {
		struct fentry *f = files[i];

		if (f->kind != 'f')
			continue;
		if (f->parent == cur || f->parent == nw)
			src_add(&t, f->name, f->parent == cur ? 'c' : 'n', 1,
				f->has_stat ? &f->st : NULL);
	}
	if (state_msgs_each(&s->state, fo->path, pload_cb, &t) < 0) {
		msgtab_release(&t);
		return MM_EDEST;
	}
	n0 = t.n;
	for (i = 0; i < n0; i++) {
		struct msgent *p = &t.v[i];
		char sub;
		struct dnode *sd;

		if (!p->has_p)
			continue;
		sub = p->p_name[0] == 'c' ? 'c' : 'n';
		sd = sub == 'c' ? cur : nw;
		/* A listing that failed partway is not the whole truth:
		 * the state's names stay, and none of them is deleted. */
		if (p->p_gone || !sd || (sd->listed && !sd->failed) ||
		    strlen(p->p_name) < 5)
			continue;
		src_add(&t, p->p_name + 4, sub, 0, NULL);
	}
	for (i = 0; i < 2; i++) {
		char sub = i ? 'n' : 'c';
		struct stat dst;
		int dfd = sub_fd(s, fo, sub);

		/* A change there from now to the commit that is not ours
		 * must not be taken for ours (see put_dest_dir_mtime). */
		memset(&fo->seen[i], 0, sizeof fo->seen[i]);
		if (dfd >= 0 && fstat(dfd, &dst) == 0)
			fo->seen[i] = dst.st_mtim;
		if (dest_unchanged(s, fo, i ? nw : cur, sub)) {
			fo->trusted[i] = 1;
			dest_from_state(&t, sub);
			s->dest_trusted++;
		} else {
			int err = read_dest_sub(s, fo, sub, &t);

			s->dest_read++;
			if (err) {
				/* Not the whole truth: no decision on it. */
				char *rel = join(fo->path, i ? "new" : "cur");
				item_failed(s, fo, rel, "cannot read the "
					    "directory here", err);
				free(rel);
				dest_failed = 1;
			}
		}
	}
	if (dest_failed)
		goto planned;

	for (i = 0; i < t.n && !s->fatal; i++) {
		struct msgent *e = &t.v[i];
		char *rel;

		if (!e->s_sub)
			continue;
		if (e->d_sub) {
			if (e->d_sub != e->s_sub || strcmp(e->d_name, e->s_name)) {
				char *from = msg_rel(fo, e->d_sub, e->d_name);
				int err = 0;

				rel = msg_rel(fo, e->s_sub, e->s_name);
				plan_line(s, "rename", from, rel);
				if (!s->dry) {
					dest_changing(s, fo, e->d_sub);
					dest_changing(s, fo, e->s_sub);
					err = rename_msg(s, fo, e);
					dest_changed(s, fo, e->d_sub);
					dest_changed(s, fo, e->s_sub);
				}
				if (err == ENOENT && fo->trusted[e->d_sub == 'n']) {
					log_verbose("%s: changed on the destination "
						    "since the last run; read again "
						    "next run", from);
					fo->errors++;
					fo->inexact[e->d_sub == 'n'] = 1;
				} else if (err) {
					item_failed(s, fo, from, "cannot rename", err);
				} else {
					s->total.renamed++;
					us->renamed++;
				}
				free(from);
				free(rel);
			}
			if (e->s_has_stat) {
				rel = msg_rel(fo, e->s_sub, e->s_name);
				link_register(s, &e->s_st, NULL, rel);
				free(rel);
			}
			if (!e->has_p || e->p_gone ||
			    !p_names(e, e->s_sub, e->s_name)) {
				row_add(fo, e->base, e->s_sub, e->s_name,
					e->s_has_stat ? e->s_st.dev : e->has_p ? e->p_dev : 0,
					e->s_has_stat ? e->s_st.ino : e->has_p ? e->p_ino : 0,
					e->s_has_stat ? e->s_st.size : e->has_p ? e->p_size : 0,
					0, NULL, 0);
				fo->rows[fo->nrows - 1].rename_only = e->has_p &&
					!e->p_gone && !e->s_has_stat;
			}
			if (!e->has_p && !e->s_has_stat) {
				/* On the destination but unknown to the state
				 * (a run killed before its commit): its inode
				 * may be a hard-link twin of a new message. */
				struct probe pr;
				pr.fo = fo;
				pr.row = fo->nrows - 1;
				pr.rel = msg_rel(fo, e->s_sub, e->s_name);
				VEC_PUSH(s->probes, s->nprobes, s->capprobes, pr);
			}
			continue;
		}
		if (!e->s_listed) {
			/* The state knows it but the destination lost it:
			 * list this folder again next time. */
			fo->errors++;
			continue;
		}
		{
			struct job *j = xcalloc(1, sizeof *j);

			j->fo = fo;
			j->base = xstrdup(e->base);
			j->name = xstrdup(e->s_name);
			j->sub = e->s_sub;
			j->st = e->s_st;
			j->need_stat = !e->s_has_stat;
			if (e->s_has_stat && job_meta(s, j) < 0) {
				free(j->base);
				free(j->name);
				free(j);
				continue;
			}
			rel = msg_rel(fo, e->s_sub, e->s_name);
			plan_line(s, "copy", rel, NULL);
			free(rel);
			VEC_PUSH(s->jobs, s->njobs, s->capjobs, j);
			fo->pending++;
			row_add(fo, e->base, e->s_sub, e->s_name, e->s_st.dev,
				e->s_st.ino, e->s_st.size, 0, j, 0);
		}
	}
	for (i = 0; i < t.n && !s->fatal; i++) {
		struct msgent *e = &t.v[i];
		char *rel;

		if (!e->d_sub || e->s_sub)
			continue;
		rel = msg_rel(fo, e->d_sub, e->d_name);
		if (e->has_p && s->o->delete) {
			int err = 0;

			plan_line(s, "delete", rel, NULL);
			if (!s->dry) {
				int dfd = sub_fd(s, fo, e->d_sub);

				dest_changing(s, fo, e->d_sub);
				if (dfd < 0 || unlinkat(dfd, e->d_name, 0) < 0)
					err = errno ? errno : ENOENT;
				else
					sync_step();
				dest_changed(s, fo, e->d_sub);
			}
			if (err == ENOENT && fo->trusted[e->d_sub == 'n']) {
				/* Renamed there since the last run, perhaps:
				 * the row stays, for the next run to find it. */
				log_verbose("%s: changed on the destination since "
					    "the last run; read again next run",
					    rel);
				fo->errors++;
				fo->inexact[e->d_sub == 'n'] = 1;
			} else if (err && err != ENOENT) {
				item_failed(s, fo, rel, "cannot delete", err);
			} else {
				s->total.deleted++;
				us->deleted++;
				row_add(fo, e->base, e->d_sub, e->d_name, 0, 0,
					0, 0, NULL, 1);
			}
		} else if (e->has_p) {
			s->total.src_gone++;
			us->src_gone++;
			if (!p_names(e, e->d_sub, e->d_name))
				fo->inexact[e->d_sub == 'n'] = 1;
			if (!e->p_gone && strlen(e->p_name) > 4)
				row_add(fo, e->base, e->p_name[0], e->p_name + 4,
					e->p_dev, e->p_ino, e->p_size, 1, NULL, 0);
		} else {
			plan_line(s, "keep", rel, NULL);
			s->total.kept_only++;
			us->kept_only++;
			fo->inexact[e->d_sub == 'n'] = 1;
		}
		free(rel);
	}
	/* Rows for files gone from both sides. */
	for (i = 0; i < t.n; i++) {
		struct msgent *e = &t.v[i];

		if (e->has_p && !e->d_sub && !e->s_sub && strlen(e->p_name) > 4)
			row_add(fo, e->base, e->p_name[0], e->p_name + 4,
				0, 0, 0, 0, NULL, 1);
	}
planned:
	msgtab_release(&t);
	/* Dovecot's files of the folder, when its directory was listed. */
	if (fd_node->listed) {
		for (i = 0; i < nfiles; i++) {
			struct fentry *f = files[i];
			uint64_t size, ino;
			int64_t ms;
			uint32_t mns;
			struct stat dst;
			int dirfd;

			if (f->parent != fd_node || f->kind != 'f' ||
			    !meta_wanted(s, f->name))
				continue;
			if (state_meta_get(&s->state, f->path, &size, &ms, &mns,
					   &ino) && size == f->st.size &&
			    ms == f->st.mtime_s && mns == f->st.mtime_ns &&
			    ino == f->st.ino && s->dst_fd >= 0 &&
			    fstatat(s->dst_fd, f->path, &dst,
				    AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			(void)dirfd;
			plan_line(s, "metadata", f->path, NULL);
			fo->meta = xrealloc(fo->meta, (fo->nmeta + 1) *
					    sizeof *fo->meta);
			memset(&fo->meta[fo->nmeta], 0, sizeof *fo->meta);
			fo->meta[fo->nmeta].name = xstrdup(f->name);
			fo->meta[fo->nmeta].st = f->st;
			fo->meta[fo->nmeta].index =
				md_classify(f->name) == MD_INDEX;
			fo->nmeta++;
		}
	}
	fo->planned = 1;
	folder_close_fds(fo);
	if (!fo->pending)
		VEC_PUSH(s->ready, s->nready, s->capready, fo);
	return s->fatal ? MM_EDEST : MM_OK;
}

/* ---- step 5: a finished folder's Dovecot files and state ---- */

/* Dovecot's dotlock: O_EXCL create of dovecot-uidlist.lock holding
 * "<pid>:<host>"; a lock is stale after 120 s unchanged or when it names a
 * dead process of this host.  0 or an errno (EAGAIN: still held). */
static int dotlock_take(struct sync *s, int dirfd)
{
	const char *lock = "dovecot-uidlist.lock";
	double until = mm_now() + LOCK_WAIT_SECONDS;
	char content[300];
	int fd, n;

	n = snprintf(content, sizeof content, "%ld:%s", (long)getpid(),
		     s->hostname);
	for (;;) {
		fd = openat(dirfd, lock, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			int e = fs_write_all(fd, content, (size_t)n);
			close(fd);
			if (e)
				unlinkat(dirfd, lock, 0);
			return e;
		}
		if (errno != EEXIST)
			return errno;
		{
			char held[300];
			struct stat st;
			ssize_t r = -1;
			int stale = 0;

			fd = openat(dirfd, lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				r = read(fd, held, sizeof held - 1);
				if (fstat(fd, &st) == 0 &&
				    st.st_mtime + LOCK_STALE_SECONDS < time(NULL))
					stale = 1;
				close(fd);
			}
			if (r > 0) {
				char *colon;
				held[r] = '\0';
				colon = strchr(held, ':');
				if (colon && !strcmp(colon + 1, s->hostname) &&
				    kill((pid_t)atol(held), 0) < 0 &&
				    errno == ESRCH)
					stale = 1;
			}
			if (stale) {
				unlinkat(dirfd, lock, 0);
				continue;
			}
		}
		if (mm_now() > until)
			return EAGAIN;
		usleep(100000);
	}
}

/* Removes the destination's index files of a folder (all of them, or
 * those not in `keep`). */
static void drop_indexes(int dirfd, const struct folder *fo)
{
	int dfd = dup(dirfd);
	DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	size_t i;

	if (!dir) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(dir))) {
		int keep = 0;

		if (strncmp(de->d_name, "dovecot.index", 13))
			continue;
		for (i = 0; i < fo->nmeta; i++)
			if (fo->meta[i].index && !strcmp(fo->meta[i].name, de->d_name))
				keep = 1;
		if (!keep)
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

/* The Dovecot files of the folders finished in one flush: read in
 * batched requests into temporary files beside their targets, made
 * durable with one syncfs, then renamed into place under each folder's
 * dotlock; with a new uidlist the folder's index files go in the same
 * step.  Returns MM_OK or a fatal exit code. */
struct mref {
	struct folder *fo;
	struct metafile *m;
};

struct metaread {
	struct sync *s;
	struct mref *v;
	int fd;
	struct buf tmp;
};

static int meta_begin(void *arg, uint32_t index, int err,
		      const struct mm_stat *st)
{
	struct metaread *c = arg;
	struct mref *r = &c->v[index];
	char *rel;

	c->fd = -1;
	r->m->st.ino = 0;	/* not copied (yet): no state row */
	if (err) {
		if (err != ENOENT) {
			rel = join(r->fo->path, r->m->name);
			item_failed(c->s, r->fo, rel, "cannot read on the old server",
				    err);
			free(rel);
		}
		return 0;
	}
	r->m->src = *st;
	/* A fixed name, so that a run killed here leaves nothing that the
	 * next run does not replace. */
	buf_reset(&c->tmp);
	buf_printf(&c->tmp, ".mailmove.%s.tmp", r->m->name);
	unlinkat(r->fo->dir_fd, c->tmp.data, 0);
	c->fd = openat(r->fo->dir_fd, c->tmp.data, O_WRONLY | O_CREAT | O_EXCL |
		       O_NOFOLLOW | O_CLOEXEC, 0600);
	err = c->fd < 0 ? errno : 0;
	if (err) {
		rel = join(r->fo->path, r->m->name);
		item_failed(c->s, r->fo, rel, "cannot create", err);
		free(rel);
		return c->s->fatal ? 1 : 0;
	}
	r->m->tmp = xstrdup(c->tmp.data);
	return 0;
}

static int meta_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct metaread *c = arg;
	struct mref *r = &c->v[index];
	int e;

	if (c->fd < 0)
		return 0;
	e = fs_write_all(c->fd, p, n);
	if (e) {
		char *rel = join(r->fo->path, r->m->name);
		close(c->fd);
		c->fd = -1;
		unlinkat(r->fo->dir_fd, r->m->tmp, 0);
		free(r->m->tmp);
		r->m->tmp = NULL;
		item_failed(c->s, r->fo, rel, "cannot write", e);
		free(rel);
		return c->s->fatal ? 1 : 0;
	}
	return 0;
}

static int meta_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct metaread *c = arg;
	struct mref *r = &c->v[index];
	struct fs_meta fm;
	struct buf why = BUF_INIT;
	const struct mm_stat *st = &r->m->src;

	(void)total;
	if (c->fd < 0)
		return 0;
	memset(&fm, 0, sizeof fm);
	fm.mode = st->mode & 07777;
	fm.set_mtime = 1;
	fm.mtime_s = st->mtime_s;
	fm.mtime_ns = st->mtime_ns;
	fm.set_owner = owner_map_ids(&c->s->owners, st->uid, st->gid, &fm.uid,
				     &fm.gid, &why) == 0;
	buf_release(&why);
	if (!err)
		err = fs_apply_meta(c->fd, &fm);
	if (close(c->fd) < 0 && !err)
		err = errno;
	c->fd = -1;
	if (err) {
		char *rel = join(r->fo->path, r->m->name);
		unlinkat(r->fo->dir_fd, r->m->tmp, 0);
		free(r->m->tmp);
		r->m->tmp = NULL;
		item_failed(c->s, r->fo, rel, "cannot write", err);
		free(rel);
		return c->s->fatal ? 1 : 0;
	}
	return 0;
}

/* Dovecot's files naming the folder's messages by UID or keyword. */
static int uid_meta(const char *name)
{
	return !strcmp(name, "dovecot-uidlist") ||
		!strcmp(name, "dovecot-keywords");
}

/* Whether some message of `fo` is not on the destination as the source
 * has it: a copy failed, the state's row lacks its file, or cur/ or new/
 * could not be listed whole.  Returns 1 then, else 0. */
static int folder_incomplete(struct sync *s, const struct folder *fo)
{
	const struct dnode *c;

	(void)s;
	if (fo->errors)		/* every failed or lost copy counts here */
		return 1;
	for (c = fo->dir->child; c; c = c->sibling)
		if ((c->kind == 'c' || c->kind == 'n') && c->failed)
			return 1;
	return 0;
}

static int finish_meta_batch(struct sync *s, struct folder **v, size_t n)
{
	static const struct rread_ops ops = { meta_begin, meta_data, meta_end };
	struct mref *refs = NULL;
	size_t nrefs = 0, cap = 0, i, k;
	int rc = MM_OK, e;

	if (s->dry)
		return MM_OK;
	for (i = 0; i < n; i++) {
		struct folder *fo = v[i];

		if (!fo->nmeta)
			continue;
		e = fs_walk(s->dst_fd, fo->path, 0, NULL, &fo->dir_fd);
		if (e) {
			fo->dir_fd = -1;
			item_failed(s, fo, fo->path, "cannot open the folder", e);
			continue;
		}
		for (k = 0; k < fo->nmeta; k++) {
			struct mref r = { fo, &fo->meta[k] };

			if (folder_incomplete(s, fo) &&
			    uid_meta(fo->meta[k].name)) {
				/* UIDs for messages that are not there: not
				 * copied, and no state row, so the next run
				 * copies the messages and then these. */
				fo->meta[k].st.ino = 0;
				continue;
			}
			VEC_PUSH(refs, nrefs, cap, r);
		}
	}
	for (i = 0; i < nrefs && !s->fatal; i += READ_BATCH_FILES) {
		size_t cnt = nrefs - i < READ_BATCH_FILES ? nrefs - i :
			READ_BATCH_FILES;
		char **paths = xcalloc(cnt, sizeof *paths);
		struct metaread c;
		int r;

		memset(&c, 0, sizeof c);
		c.s = s;
		c.v = refs + i;
		c.fd = -1;
		for (k = 0; k < cnt; k++) {
			char *rel = join(refs[i + k].fo->path, refs[i + k].m->name);
			paths[k] = src_abs(s, rel);
			free(rel);
		}
		r = remote_read(s->ep, paths, cnt, &ops, &c);
		for (k = 0; k < cnt; k++)
			free(paths[k]);
		free(paths);
		buf_release(&c.tmp);
		if (r < 0) {
			rc = ep_exit_code(s->ep);
			goto out;
		}
	}
	if (s->fatal) {
		rc = MM_EDEST;
		goto out;
	}
	if (nrefs && syncfs(s->dst_fd) < 0) {
		item_failed(s, NULL, s->dest_name, "syncfs", errno);
		rc = MM_EDEST;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct folder *fo = v[i];
		int uidlist_changed = 0, any = 0;

		if (fo->dir_fd < 0)
			continue;
		for (k = 0; k < fo->nmeta; k++)
			any |= fo->meta[k].tmp != NULL;
		if (!any)
			continue;
		e = dotlock_take(s, fo->dir_fd);
		if (e) {
			item_failed(s, fo, fo->path, e == EAGAIN ?
				    "dovecot-uidlist.lock is held by a running "
				    "Dovecot; folder metadata not copied" :
				    "cannot take the dotlock", e);
			continue;
		}
		for (k = 0; k < fo->nmeta; k++) {
			struct metafile *m = &fo->meta[k];

			if (!m->tmp)
				continue;
			if (renameat(fo->dir_fd, m->tmp, fo->dir_fd, m->name) < 0) {
				char *rel = join(fo->path, m->name);
				item_failed(s, fo, rel, "cannot move into place",
					    errno);
				free(rel);
				continue;
			}
			free(m->tmp);
			m->tmp = NULL;
			m->st = m->src;
			sync_step();
			if (!strcmp(m->name, "dovecot-uidlist"))
				uidlist_changed = 1;
		}
		if (uidlist_changed) {
			drop_indexes(fo->dir_fd, fo);
			sync_step();
		}
		unlinkat(fo->dir_fd, "dovecot-uidlist.lock", 0);
	}
out:
	for (i = 0; i < n; i++) {
		struct folder *fo = v[i];

		for (k = 0; k < fo->nmeta; k++)
			if (fo->meta[k].tmp) {
				if (fo->dir_fd >= 0)
					unlinkat(fo->dir_fd, fo->meta[k].tmp, 0);
				free(fo->meta[k].tmp);
				fo->meta[k].tmp = NULL;
			}
		if (fo->dir_fd >= 0)
			close(fo->dir_fd);
		fo->dir_fd = -1;
	}
	free(refs);
	return rc;
}

static void put_dir_mtime(struct sync *s, struct dnode *d, int ok)
{
	int racy;

	if (!d || d->vanished || !d->have_now)
		return;
	if (!d->listed && !d->is_new)
		return;
	racy = d->now.mtime_s >= s->t0 - RACY_SECONDS;
	if (ok && !d->failed && !racy)
		state_dir_put(&s->state, d->path, d->kind, d->now.mtime_s,
			      d->now.mtime_ns);
	else
		state_dir_put(&s->state, d->path, d->kind, 0, 0);
}

/* After the folder's last change here: the mtime of its destination cur/
 * or new/ (`d` on the source) whose files the rows now list exactly, or
 * forget it.  The directory must still have the mtime it had when it was
 * planned or right after the last change this run made there: a change
 * since (a delivery on this server during the run) is in no row. */
static void put_dest_dir_mtime(struct sync *s, struct folder *fo,
			       struct dnode *d, int exact)
{
	char sub = d->kind;
	int i = sub == 'n';
	struct stat st;
	int fd;

	if (exact && !d->vanished && (fd = sub_fd(s, fo, sub)) >= 0 &&
	    fstat(fd, &st) == 0 &&
	    (fo->seen[i].tv_sec || fo->seen[i].tv_nsec) &&
	    st.st_mtim.tv_sec == fo->seen[i].tv_sec &&
	    st.st_mtim.tv_nsec == fo->seen[i].tv_nsec) {
		state_dest_dir_put(&s->state, d->path, st.st_mtim.tv_sec,
				   (uint32_t)st.st_mtim.tv_nsec);
		return;
	}
	if (d->has_dest)
		state_dest_dir_put(&s->state, d->path, 0, 0);
}

/* The state rows of a finished folder (inside the open transaction). */
static void commit_folder(struct sync *s, struct folder *fo)
{
	size_t i;
	int ok = !fo->errors;
	struct dnode *c;

	for (i = 0; i < fo->nrows; i++) {
		struct finrow *r = &fo->rows[i];

		if (r->job) {
			r->m.dev = r->job->st.dev;
			r->m.ino = r->job->st.ino;
			r->m.size = r->job->st.size;
		}
		if (r->del)
			state_msg_del(&s->state, fo->path, r->m.base);
		else if (r->rename_only)
			state_msg_rename(&s->state, fo->path, r->m.base,
					 r->m.name);
		else if (!r->job || r->job->state == 2)
			state_msg_put(&s->state, fo->path, &r->m);
	}
	for (i = 0; i < fo->nmeta; i++) {
		char *rel = join(fo->path, fo->meta[i].name);

		if (fo->meta[i].st.ino)
			state_meta_put(&s->state, rel, fo->meta[i].st.size,
				       fo->meta[i].st.mtime_s,
				       fo->meta[i].st.mtime_ns,
				       fo->meta[i].st.ino);
		else
			ok = 0;
		free(rel);
	}
	put_dir_mtime(s, fo->dir, ok);
	for (c = fo->dir->child; c; c = c->sibling)
		if (c->kind == 'c' || c->kind == 'n' || c->kind == 't')
			put_dir_mtime(s, c, ok);
	for (c = fo->dir->child; c; c = c->sibling)
		if (c->kind == 'c' || c->kind == 'n')
			put_dest_dir_mtime(s, fo, c, !fo->errors &&
					   !fo->inexact[c->kind == 'n']);
	fo->done = 1;
}

/* ---- step 4: copies ---- */

static void job_failed(struct sync *s, struct job *j, const char *what, int err)
{
	char *rel = msg_rel(j->fo, j->sub, j->name);

	if (err == ENOENT) {
		/* expunged or moved on the old server since the listing: no
		 * failure, the folder is listed again next run */
		log_verbose("%s: gone on the old server before it was copied",
			    rel);
		j->fo->errors++;
	} else {
		item_failed(s, j->fo, rel, what, err);
	}
	free(rel);
	j->state = -1;
	if (j->fo->pending && --j->fo->pending == 0)
		VEC_PUSH(s->ready, s->nready, s->capready, j->fo);
}

static void job_placed(struct sync *s, struct job *j, int linked)
{
	struct ustats *us = user_stats(s, j->fo->user);

	j->state = 2;
	if (linked) {
		s->total.linked++;
		us->linked++;
	} else {
		s->total.copied++;
		us->copied++;
		s->total.bytes += j->st.size;
		us->bytes += j->st.size;
	}
	progress_add(&s->prog, 1, linked ? 0 : j->st.size);
	if (j->fo->pending && --j->fo->pending == 0)
		VEC_PUSH(s->ready, s->nready, s->capready, j->fo);
}

/* Links `j` to an existing destination file `from_rel`.  0 or errno. */
static int link_from(struct sync *s, struct job *j, const char *from_rel)
{
	const char *slash = strrchr(from_rel, '/');
	char *dir = slash ? xstrndup(from_rel, (size_t)(slash - from_rel)) :
		xstrdup("");
	int dfd, to = sub_fd(s, j->fo, j->sub), e;
	struct stat st;

	if (to < 0) {
		free(dir);
		return errno ? errno : ENOENT;
	}
	e = fs_walk(s->dst_fd, dir, 0, NULL, &dfd);
	free(dir);
	if (e)
		return e;
	/* Only the same content: same size as the source says. */
	if (fstatat(dfd, slash ? slash + 1 : from_rel, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != j->st.size) {
		close(dfd);
		return ENOENT;
	}
	dest_changing(s, j->fo, j->sub);
	if (linkat(dfd, slash ? slash + 1 : from_rel, to, j->name, 0) < 0)
		e = errno;
	close(dfd);
	dest_changed(s, j->fo, j->sub);
	if (!e)
		sync_step();
	return e;
}

/* Decides at dispatch whether a job is a hard link: 1 linked now, 2 wait
 * for its twin in this run, 0 read it. */
static int try_link(struct sync *s, struct job *j)
{
	struct linkref *r;
	char key[48];
	int rc = 0;

	if (j->st.nlink < 2) {
		/* A folder renamed on the old server keeps its inodes: the
		 * messages are already here under the old name. */
		return j->state_twin && link_from(s, j, j->state_twin) == 0;
	}
	link_key(key, sizeof key, &j->st);
	r = smap_get(&s->links, key);
	if (r && r->job && r->job != j && r->job->state >= 0) {
		if (r->job->state == 2) {
			char *from = msg_rel(r->job->fo, r->job->sub,
					     r->job->name);
			rc = link_from(s, j, from) == 0 ? 1 : 0;
			free(from);
			return rc;
		}
		j->state = 3;
		j->twin = r->job;
		return 2;
	}
	if (r && r->dest && link_from(s, j, r->dest) == 0)
		return 1;
	if (j->state_twin)
		rc = link_from(s, j, j->state_twin) == 0 ? 1 : 0;
	if (!rc)
		link_register(s, &j->st, j, NULL);
	return rc;
}

struct chunk {
	struct job **v;
	size_t n;
	uint32_t id;
	struct sync *s;
	int fd;			/* the tmp file being written */
	struct job *cur;
};

static int rd_begin(void *arg, uint32_t index, int err, const struct mm_stat *st)
{
	struct chunk *c = arg;
	struct job *j = c->v[index];
	int tfd;

	(void)st;
	c->fd = -1;
	c->cur = j;
	if (err) {
		job_failed(c->s, j, "cannot read on the old server", err);
		return 0;
	}
	tfd = sub_fd(c->s, j->fo, 't');
	if (tfd < 0) {
		job_failed(c->s, j, "cannot open the folder's tmp/",
			   errno ? errno : ENOENT);
		return c->s->fatal ? 1 : 0;
	}
	unlinkat(tfd, j->base, 0);
	c->fd = openat(tfd, j->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		       O_CLOEXEC, 0600);
	if (c->fd < 0) {
		job_failed(c->s, j, "cannot create in tmp/", errno);
		return c->s->fatal ? 1 : 0;
	}
	return 0;
}

static void rd_abort(struct chunk *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		unlinkat(c->cur->fo->tmp_fd, c->cur->base, 0);
		c->fd = -1;
	}
}

static int rd_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct chunk *c = arg;
	int e;

	(void)index;
	if (c->fd < 0)
		return 0;
	e = fs_write_all(c->fd, p, n);
	if (e) {
		rd_abort(c);
		job_failed(c->s, c->cur, "cannot write", e);
		return c->s->fatal ? 1 : 0;
	}
	return 0;
}

static int rd_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct chunk *c = arg;
	struct job *j = c->cur;
	int e;

	(void)index;
	(void)total;
	if (c->fd < 0)
		return 0;
	if (err) {
		rd_abort(c);
		job_failed(c->s, j, "read failed on the old server", err);
		return 0;
	}
	e = fs_apply_meta(c->fd, &j->meta);
	if (close(c->fd) < 0 && !e)
		e = errno;
	c->fd = -1;
	if (e) {
		unlinkat(j->fo->tmp_fd, j->base, 0);
		job_failed(c->s, j, "cannot write", e);
		return c->s->fatal ? 1 : 0;
	}
	j->state = 1;
	VEC_PUSH(c->s->placed_wait, c->s->nwait, c->s->capwait, j);
	c->s->wait_bytes += j->st.size;
	sync_step();
	return 0;
}

/* Makes the batch durable and visible, finishes ready folders and commits
 * their state.  MM_OK or a fatal exit code. */
static int flush(struct sync *s)
{
	size_t i;

	if (s->dry) {
		s->nready = 0;
		return MM_OK;
	}
	if (s->nwait && syncfs(s->dst_fd) < 0) {
		item_failed(s, NULL, s->dest_name, "syncfs", errno);
		return MM_EDEST;
	}
	if (s->nwait)
		sync_step();
	for (i = 0; i < s->nwait; i++) {
		struct job *j = s->placed_wait[i];
		int to = sub_fd(s, j->fo, j->sub);

		if (to >= 0)
			dest_changing(s, j->fo, j->sub);
		if (to < 0 || renameat(j->fo->tmp_fd, j->base, to, j->name) < 0) {
			int e = errno;

			if (j->fo->tmp_fd >= 0)	/* no copy left behind */
				unlinkat(j->fo->tmp_fd, j->base, 0);
			job_failed(s, j, "cannot move into place", e);
			continue;
		}
		sync_step();
		dest_changed(s, j->fo, j->sub);
		job_placed(s, j, 0);
	}
	s->nwait = 0;
	s->wait_bytes = 0;
	/* Hard links whose twin was in this batch. */
	for (i = 0; i < s->njobs; i++) {
		struct job *j = s->jobs[i];

		if (j->state != 3 || !j->twin || j->twin->state < 2)
			continue;
		if (j->twin->state == 2) {
			char *from = msg_rel(j->twin->fo, j->twin->sub,
					     j->twin->name);
			int e = link_from(s, j, from);
			free(from);
			if (!e)
				job_placed(s, j, 1);
			else
				job_failed(s, j, "cannot make the hard link", e);
		}
	}
	for (i = 0; i < s->njobs; i++) {
		struct job *j = s->jobs[i];
		if (j->state == 3 && j->twin && j->twin->state == -1)
			job_failed(s, j, "its hard-linked twin failed", EIO);
	}
	if (s->fatal)
		return MM_EDEST;
	{
		int rc = finish_meta_batch(s, s->ready, s->nready);
		if (rc)
			return rc;
	}
	if (s->nready) {
		if (syncfs(s->dst_fd) < 0) {
			item_failed(s, NULL, s->dest_name, "syncfs", errno);
			return MM_EDEST;
		}
		sync_step();
		if (state_begin(&s->state) < 0)
			return MM_EDEST;
		for (i = 0; i < s->nready; i++) {
			commit_folder(s, s->ready[i]);
			folder_close_fds(s->ready[i]);
		}
		if (state_commit(&s->state) < 0)
			return MM_EDEST;
		sync_step();
	}
	s->nready = 0;
	return MM_OK;
}

struct jstatctx {
	struct sync *s;
	struct job **v;
};

static int job_stat_cb(void *arg, uint32_t index, int err,
		       const struct mm_stat *st)
{
	struct jstatctx *c = arg;
	struct job *j = c->v[index];

	j->need_stat = 0;
	if (!err && !S_ISREG(st->mode))
		err = EINVAL;
	if (err) {
		job_failed(c->s, j, "cannot stat on the old server", err);
		return 0;
	}
	j->st = *st;
	if (job_meta(c->s, j) < 0) {
		j->state = -1;
		if (j->fo->pending && --j->fo->pending == 0)
			VEC_PUSH(c->s->ready, c->s->nready, c->s->capready, j->fo);
	}
	return 0;
}

struct probectx {
	struct sync *s;
	struct probe *v;
};

static int probe_cb(void *arg, uint32_t index, int err,
		    const struct mm_stat *st)
{
	struct probectx *c = arg;
	struct probe *p = &c->v[index];
	struct finrow *r = &p->fo->rows[p->row];

	if (err || !S_ISREG(st->mode))
		return 0;
	r->m.dev = st->dev;
	r->m.ino = st->ino;
	r->m.size = st->size;
	link_register(c->s, st, NULL, p->rel);
	return 0;
}

static int probe_inodes(struct sync *s)
{
	size_t i, k;
	int rc = 0;

	for (i = 0; i < s->nprobes && !rc; i += STAT_BATCH) {
		size_t cnt = s->nprobes - i < STAT_BATCH ? s->nprobes - i :
			STAT_BATCH;
		char **paths = xcalloc(cnt, sizeof *paths);
		struct probectx c = { s, s->probes + i };

		for (k = 0; k < cnt; k++)
			paths[k] = src_abs(s, s->probes[i + k].rel);
		rc = remote_stat(s->ep, paths, cnt, probe_cb, &c);
		for (k = 0; k < cnt; k++)
			free(paths[k]);
		free(paths);
	}
	return rc < 0 ? ep_exit_code(s->ep) : MM_OK;
}

/* Stats the new messages of directories listed by name only. */
static int stat_jobs(struct sync *s)
{
	struct job **v = xcalloc(s->njobs + 1, sizeof *v);
	size_t n = 0, i, k;
	int rc = 0;

	for (i = 0; i < s->njobs; i++)
		if (s->jobs[i]->need_stat)
			v[n++] = s->jobs[i];
	for (i = 0; i < n && !rc; i += STAT_BATCH) {
		size_t cnt = n - i < STAT_BATCH ? n - i : STAT_BATCH;
		char **paths = xcalloc(cnt, sizeof *paths);
		struct jstatctx c = { s, v + i };

		for (k = 0; k < cnt; k++) {
			char *rel = msg_rel(v[i + k]->fo, v[i + k]->sub,
					    v[i + k]->name);
			paths[k] = src_abs(s, rel);
			free(rel);
		}
		rc = remote_stat(s->ep, paths, cnt, job_stat_cb, &c);
		for (k = 0; k < cnt; k++)
			free(paths[k]);
		free(paths);
	}
	free(v);
	return rc < 0 ? ep_exit_code(s->ep) : MM_OK;
}

struct twinctx {
	struct job **v;
	char **twin;
};

static int twin_stat_cb(void *arg, uint32_t index, int err,
			const struct mm_stat *st)
{
	struct twinctx *c = arg;
	struct job *j = c->v[index];

	if (!err && st && st->dev == j->st.dev && st->ino == j->st.ino) {
		j->state_twin = c->twin[index];
		c->twin[index] = NULL;
	}
	return 0;
}

/* Which jobs may be hard-linked to a file the state knows for the same
 * inode.  An inode number alone proves nothing (a new message may get an
 * expunged one's number), so a state row counts only when this run proves
 * it is the same source file: for a file with one link, the row has the
 * job's base in a folder that vanished this run (a folder renamed on the
 * old server); for hard-linked files, the row's source path has the job's
 * inode now.  Sets job->state_twin.  MM_OK, or the exit code when the
 * agent is lost. */
static int prove_state_twins(struct sync *s)
{
	struct buf folder = BUF_INIT, name = BUF_INIT;
	struct job **v = xcalloc(s->njobs + 1, sizeof *v);
	char **twin = xcalloc(s->njobs + 1, sizeof *twin);
	size_t n = 0, i, k;
	int rc = 0;

	if (!s->incremental || s->dry)	/* the state knows nothing yet */
		goto out;
	for (i = 0; i < s->njobs; i++) {
		struct job *j = s->jobs[i];
		struct dnode *d;

		if (j->state < 0 ||
		    state_msg_by_inode(&s->state, j->st.dev, j->st.ino,
				       j->st.size, &folder, &name) != 1 ||
		    strlen(name.data) < 5)
			continue;
		if (j->st.nlink >= 2) {
			v[n] = j;
			twin[n++] = join(folder.data, name.data);
			continue;
		}
		d = dnode_get(s, folder.data, 0);
		if (d && d->vanished &&
		    md_base_len(name.data + 4) == strlen(j->base) &&
		    !strncmp(name.data + 4, j->base, strlen(j->base)))
			j->state_twin = join(folder.data, name.data);
	}
	for (i = 0; i < n && !rc; i += STAT_BATCH) {
		size_t cnt = n - i < STAT_BATCH ? n - i : STAT_BATCH;
		char **paths = xcalloc(cnt, sizeof *paths);
		struct twinctx c = { v + i, twin + i };

		for (k = 0; k < cnt; k++)
			paths[k] = src_abs(s, twin[i + k]);
		rc = remote_stat(s->ep, paths, cnt, twin_stat_cb, &c);
		for (k = 0; k < cnt; k++)
			free(paths[k]);
		free(paths);
	}
out:
	for (i = 0; i < n; i++)
		free(twin[i]);
	free(twin);
	free(v);
	buf_release(&folder);
	buf_release(&name);
	return rc < 0 ? ep_exit_code(s->ep) : MM_OK;
}

/* Streams every queued copy, two read requests in flight. */
static int run_jobs(struct sync *s)
{
	static const struct rread_ops ops = { rd_begin, rd_data, rd_end };
	struct chunk q[2];
	size_t next = 0, head = 0, inflight = 0, k;
	int rc = MM_OK;

	memset(q, 0, sizeof q);
	rc = probe_inodes(s);
	if (!rc)
		rc = stat_jobs(s);
	if (!rc)
		rc = prove_state_twins(s);
	if (rc)
		return rc;
	{
		/* Test hook: stop here, every folder planned and none
		 * committed, for a test to change the destination. */
		const char *v = getenv("MAILMOVE_TEST_STOP_BEFORE_COPIES");

		if (v && *v == '1')
			raise(SIGSTOP);
	}
	progress_start(&s->prog, "messages", s->njobs, 0);
	if (s->dry) {
		for (k = 0; k < s->njobs; k++) {
			if (s->jobs[k]->state < 0)
				continue;
			s->total.copied++;
			s->total.bytes += s->jobs[k]->st.size;
			user_stats(s, s->jobs[k]->fo->user)->copied++;
			user_stats(s, s->jobs[k]->fo->user)->bytes +=
				s->jobs[k]->st.size;
		}
		progress_end(&s->prog);
		return MM_OK;
	}
	for (;;) {
		/* A flush reads metadata files from the agent: it waits until
		 * no read request is in flight. */
		int want_flush = s->nwait >= FLUSH_FILES ||
			s->wait_bytes >= FLUSH_BYTES || s->nready >= FLUSH_FOLDERS;

		if (want_flush && !inflight && !s->fatal) {
			rc = flush(s);
			if (rc)
				return rc;
			continue;
		}
		while (!want_flush && inflight < 2 && next < s->njobs &&
		       !s->fatal && !mm_interrupted) {
			struct chunk *c = &q[(head + inflight) % 2];
			uint64_t bytes = 0;
			char **paths;

			c->v = xcalloc(READ_BATCH_FILES, sizeof *c->v);
			c->n = 0;
			c->s = s;
			c->fd = -1;
			while (next < s->njobs && c->n < READ_BATCH_FILES &&
			       bytes < READ_BATCH_BYTES) {
				struct job *j = s->jobs[next++];
				int l;

				if (j->state < 0)
					continue;
				l = try_link(s, j);

				if (l == 1) {
					job_placed(s, j, 1);
					continue;
				}
				if (l == 2)
					continue;
				c->v[c->n++] = j;
				bytes += j->st.size;
			}
			if (!c->n) {
				free(c->v);
				c->v = NULL;
				continue;
			}
			paths = xcalloc(c->n, sizeof *paths);
			for (k = 0; k < c->n; k++) {
				char *rel = msg_rel(c->v[k]->fo, c->v[k]->sub,
						    c->v[k]->name);
				paths[k] = src_abs(s, rel);
				free(rel);
			}
			c->id = remote_read_send(s->ep, paths, c->n);
			for (k = 0; k < c->n; k++)
				free(paths[k]);
			free(paths);
			if (!c->id)
				return ep_exit_code(s->ep);
			inflight++;
		}
		if (!inflight)
			break;
		{
			struct chunk *c = &q[head];
			int r = remote_read_recv(s->ep, c->id, c->n, &ops, c);

			rd_abort(c);
			free(c->v);
			c->v = NULL;
			head = (head + 1) % 2;
			inflight--;
			if (r < 0)
				return ep_exit_code(s->ep);
		}
	}
	progress_end(&s->prog);
	if (s->fatal) {
		size_t i;
		/* Nothing half-done stays: the batch's tmp files go. */
		for (i = 0; i < s->nwait; i++)
			unlinkat(s->placed_wait[i]->fo->tmp_fd,
				 s->placed_wait[i]->base, 0);
		s->nwait = 0;
		return MM_EDEST;
	}
	if (mm_interrupted)
		return MM_EINTR;
	return flush(s);
}

/* ---- vanished folders and directories ---- */

/* A folder gone from the source (deleted or renamed): with --delete its
 * messages that the state proves go, then its Dovecot files and empty
 * directories unless destination-only messages remain.  0, or -1 when its
 * cur/ or new/ here cannot be read (reported; nothing removed). */
static int remove_folder(struct sync *s, struct dnode *d)
{
	struct folder tmp;
	struct msgtab t;
	size_t i;
	struct buf user = BUF_INIT;
	struct ustats *us;
	int kept = 0, dirfd = -1;

	memset(&tmp, 0, sizeof tmp);
	memset(&t, 0, sizeof t);
	tmp.path = d->path;
	tmp.cur_fd = tmp.new_fd = tmp.tmp_fd = -1;
	md_user_of(d->path, &user);
	tmp.user = user.data ? user.data : (char *)"";
	us = user_stats(s, tmp.user);
	state_msgs_each(&s->state, d->path, pload_cb, &t);
	for (i = 0; i < 2; i++) {
		int err = read_dest_sub(s, &tmp, i ? 'n' : 'c', &t);

		if (err) {
			/* Nothing is removed on half a listing. */
			char *rel = join(d->path, i ? "new" : "cur");
			item_failed(s, &tmp, rel, "cannot read the directory here",
				    err);
			free(rel);
			folder_close_fds(&tmp);
			msgtab_release(&t);
			buf_release(&user);
			return -1;
		}
	}
	for (i = 0; i < t.n; i++) {
		struct msgent *e = &t.v[i];
		char *rel;

		if (!e->d_sub)
			continue;
		rel = msg_rel(&tmp, e->d_sub, e->d_name);
		if (e->has_p) {
			plan_line(s, "delete", rel, NULL);
			if (!s->dry) {
				int fd = sub_fd(s, &tmp, e->d_sub);
				if (fd >= 0 && unlinkat(fd, e->d_name, 0) == 0)
					sync_step();
			}
			s->total.deleted++;
			us->deleted++;
		} else {
			plan_line(s, "keep", rel, NULL);
			s->total.kept_only++;
			us->kept_only++;
			kept = 1;
		}
		free(rel);
	}
	if (!s->dry && !kept && s->dst_fd >= 0 &&
	    fs_walk(s->dst_fd, d->path, 0, NULL, &dirfd) == 0) {
		int dfd = dup(dirfd);
		DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		/* Every message came from the source: Dovecot's files of
		 * the folder (metadata, caches, locks) go with it. */
		while (dir && (de = readdir(dir))) {
			enum md_kind k = md_classify(de->d_name);
			char *rel = join(d->path, de->d_name);

			if (k == MD_META || k == MD_INDEX || k == MD_QUOTA ||
			    k == MD_NEVER) {
				if (de->d_type != DT_DIR)
					unlinkat(dirfd, de->d_name, 0);
				state_meta_del(&s->state, rel);
			}
			free(rel);
		}
		if (dir)
			closedir(dir);
		else if (dfd >= 0)
			close(dfd);
		/* Our own leftovers in tmp/ are the base names we know. */
		if (sub_fd(s, &tmp, 't') >= 0)
			for (i = 0; i < t.n; i++)
				if (t.v[i].has_p)
					unlinkat(tmp.tmp_fd, t.v[i].base, 0);
		folder_close_fds(&tmp);
		unlinkat(dirfd, "cur", AT_REMOVEDIR);
		unlinkat(dirfd, "new", AT_REMOVEDIR);
		unlinkat(dirfd, "tmp", AT_REMOVEDIR);
		close(dirfd);
	}
	folder_close_fds(&tmp);
	if (!s->dry) {
		struct dnode *c;

		for (i = 0; i < t.n; i++)
			if (t.v[i].has_p)
				state_msg_del(&s->state, d->path, t.v[i].base);
		for (c = d->child; c; c = c->sibling)
			if (c->has_dest)
				state_dest_dir_put(&s->state, c->path, 0, 0);
	}
	msgtab_release(&t);
	buf_release(&user);
	return 0;
}

static int by_depth_desc(const void *a, const void *b)
{
	const struct dnode *x = *(struct dnode *const *)a;
	const struct dnode *y = *(struct dnode *const *)b;

	return y->depth - x->depth;
}

/* Removes the destination directory `rel` if it is empty, reaching its
 * parent without following any symlink (a symlink planted in the middle
 * of the path must not lead outside the destination).  Best effort: a
 * directory that is not empty or not there stays as it is. */
static void remove_empty_dir(struct sync *s, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char *parent = slash ? xstrndup(rel, (size_t)(slash - rel)) :
		xstrdup("");
	int pfd;

	if (fs_walk(s->dst_fd, parent, 0, NULL, &pfd) == 0) {
		unlinkat(pfd, slash ? slash + 1 : rel, AT_REMOVEDIR);
		close(pfd);
	}
	free(parent);
}

/* Without --delete a vanished directory stays in the state, so that a
 * later --delete can still prove what came from the source. */
static int handle_vanished(struct sync *s)
{
	struct dnode **v = xcalloc(s->ndv + 1, sizeof *v);
	size_t n = 0, i;

	for (i = 0; i < s->ndv; i++)
		if (s->dv[i]->vanished && s->dv[i]->in_state)
			v[n++] = s->dv[i];
	if (!n || !s->o->delete) {
		free(v);
		return MM_OK;
	}
	qsort(v, n, sizeof *v, by_depth_desc);
	if (state_begin(&s->state) < 0) {
		free(v);
		return MM_EDEST;
	}
	for (i = 0; i < n; i++) {
		struct dnode *d = v[i];

		if (d->kind == 'F' && remove_folder(s, d) < 0) {
			/* The next run tries again: the folder, its cur/,
			 * new/, tmp/ (already dropped: deeper) and the
			 * directories above it stay in the state. */
			struct dnode *c;

			for (c = d->child; c; c = c->sibling)
				if (c->in_state && strchr("cnt", c->kind))
					state_dir_put(&s->state, c->path,
						      c->kind, 0, 0);
			for (c = d; c; c = c->parent)
				c->keep_vanished = 1;
		}
		if (!s->dry && s->dst_fd >= 0 && *d->path &&
		    (d->kind == 'F' || d->kind == 'd'))
			remove_empty_dir(s, d->path);
		if (!d->keep_vanished)
			state_dir_del(&s->state, d->path);
	}
	free(v);
	if (state_commit(&s->state) < 0)
		return MM_EDEST;
	sync_step();
	return MM_OK;
}

/* ---- the run ---- */

static int64_t remote_clock(struct sync *s)
{
	char *argv[] = { "date", "+%s", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int status = -1;
	int64_t t = 0;

	if (remote_run(s->ep, argv, NULL, &out, &err, 4096, &status) == 0 &&
	    status == 0 && out.len)
		t = strtoll(out.data, NULL, 10);
	buf_release(&out);
	buf_release(&err);
	return t > 0 ? t : (int64_t)time(NULL);
}

static json_t *ustats_json(const struct ustats *u)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "copied", (json_int_t)u->copied,
			 "linked", (json_int_t)u->linked,
			 "renamed", (json_int_t)u->renamed,
			 "deleted", (json_int_t)u->deleted,
			 "kept_only_on_destination", (json_int_t)u->kept_only,
			 "gone_from_source_kept", (json_int_t)u->src_gone,
			 "bytes", (json_int_t)u->bytes,
			 "errors", (json_int_t)u->errors);
}

static void report(struct sync *s, int rc)
{
	char hb[32];
	size_t i;

	mm_human_bytes(s->total.bytes, hb, sizeof hb);
	log_out("%s%llu copied (%s), %llu hard links, %llu renamed, "
		"%llu deleted, %llu kept only on the destination, "
		"%llu gone from the source but kept%s; other files: %llu new, "
		"%llu updated\n",
		s->dry ? "dry run, would do: " : "",
		(unsigned long long)s->total.copied, hb,
		(unsigned long long)s->total.linked,
		(unsigned long long)s->total.renamed,
		(unsigned long long)s->total.deleted,
		(unsigned long long)s->total.kept_only,
		(unsigned long long)s->total.src_gone,
		s->total.src_gone && !s->o->delete ? " (--delete removes them)" : "",
		(unsigned long long)s->files.copied,
		(unsigned long long)s->files.updated);
	if (s->nerrors)
		log_error("%llu items failed and were skipped:\n%s",
			  (unsigned long long)s->nerrors,
			  s->errors.data ? s->errors.data : "");
	if (log_json()) {
		json_t *users = json_object(), *res;

		for (i = 0; i < s->users.cap; i++)
			if (s->users.v[i].key) {
				struct ustats *u = s->users.v[i].val;
				json_object_set_new(users, u->user,
						    ustats_json(u));
			}
		res = ustats_json(&s->total);
		json_object_set_new(res, "files_copied",
				    json_integer((json_int_t)s->files.copied));
		json_object_set_new(res, "files_updated",
				    json_integer((json_int_t)s->files.updated));
		json_object_set_new(res, "dry_run", json_boolean(s->dry));
		json_object_set_new(res, "users", users);
		json_object_set_new(res, "exit", json_integer(rc));
		out_result(res);
	}
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Step 1 to 5 in order; returns the exit code. */
static int sync_steps(struct sync *s)
{
	struct fentry ***byparent;
	size_t *nby, *capby, i;
	int rc;

	double t = mm_now();

	rc = discover(s);
	if (rc)
		return rc;
	log_debug("timing: discovery %.3f s (%zu directories, %zu files listed)",
		  mm_now() - t, s->ndv, s->nfv);
	t = mm_now();
	/* New directories are in the state at once (mtime 0): a run killed
	 * before they are finished lists them again. */
	if (state_begin(&s->state) < 0)
		return MM_EDEST;
	for (i = 0; i < s->ndv; i++) {
		struct dnode *d = s->dv[i];

		if (!d->vanished && d->kind != 'x' &&
		    (!d->in_state || d->is_new))
			state_dir_put(&s->state, d->path, d->kind, 0, 0);
		else if (d->in_state && d->kind == 'x')
			state_dir_del(&s->state, d->path);
	}
	if (state_commit(&s->state) < 0)
		return MM_EDEST;
	sync_step();

	rc = sync_plain(s);
	if (rc)
		return rc;
	log_debug("timing: other files %.3f s", mm_now() - t);
	t = mm_now();
	if (state_begin(&s->state) < 0)
		return MM_EDEST;
	for (i = 0; i < s->ndv; i++)
		if (s->dv[i]->kind == 'd')
			put_dir_mtime(s, s->dv[i], 1);
	if (state_commit(&s->state) < 0)
		return MM_EDEST;

	/* The listed files of each directory, for the folders. */
	byparent = xcalloc(s->ndv + 1, sizeof *byparent);
	nby = xcalloc(s->ndv + 1, sizeof *nby);
	capby = xcalloc(s->ndv + 1, sizeof *capby);
	{
		struct smap idx = { 0 };
		size_t *ids = xcalloc(s->ndv + 1, sizeof *ids);

		for (i = 0; i < s->ndv; i++) {
			ids[i] = i;
			smap_put(&idx, s->dv[i]->path, &ids[i]);
		}
		for (i = 0; i < s->nfv; i++) {
			struct fentry *f = &s->fv[i];
			struct dnode *folder = f->parent;
			size_t *k;

			if (f->parent->kind == 'c' || f->parent->kind == 'n')
				folder = f->parent->parent;
			else if (f->parent->kind != 'F')
				continue;
			k = smap_get(&idx, folder->path);
			if (k)
				VEC_PUSH(byparent[*k], nby[*k], capby[*k], f);
		}
		for (i = 0; i < s->ndv && !rc; i++) {
			struct dnode *d = s->dv[i], *c, *n;

			if (d->kind != 'F' || d->vanished)
				continue;
			c = child_named(d, "cur");
			n = child_named(d, "new");
			if (!d->listed && !d->is_new && !(c && (c->listed || c->is_new)) &&
			    !(n && (n->listed || n->is_new)))
				continue;
			rc = plan_folder(s, d, byparent[i], nby[i]);
			/* Not while a row waits for the inode probe_inodes()
			 * learns at the copies: it would be committed without. */
			if (s->nready >= FLUSH_FOLDERS && !s->njobs &&
			    !s->nprobes && !rc)
				rc = flush(s);
		}
		for (i = 0; i < s->ndv; i++)
			free(byparent[i]);
		smap_release(&idx);
		free(ids);
	}
	free(byparent);
	free(nby);
	free(capby);
	if (rc)
		return rc;
	log_debug("timing: planning %.3f s (%zu folders, %zu copies; "
		  "destination cur/ and new/: %zu read, %zu from the state)",
		  mm_now() - t, s->nfolders, s->njobs, s->dest_read,
		  s->dest_trusted);
	t = mm_now();
	rc = run_jobs(s);
	if (rc)
		return rc;
	log_debug("timing: copies and commits %.3f s", mm_now() - t);
	return handle_vanished(s);
}

int sync_run(struct mm_ctx *ctx, const struct sync_opts *o)
{
	struct sync s;
	struct buf state_path = BUF_INIT, src = BUF_INIT;
	int rc, e;
	size_t i;

	memset(&s, 0, sizeof s);
	s.ctx = ctx;
	s.o = o;
	s.dry = ctx->dry_run;
	s.dst_fd = -1;
	step_setup();
	raise_fd_limit();
	gethostname(s.hostname, sizeof s.hostname - 1);
	buf_addstr(&src, o->src);
	while (src.len > 1 && src.data[src.len - 1] == '/')
		src.data[--src.len] = '\0';
	s.src = src.data;
	{
		struct buf dn = BUF_INIT;
		buf_addstr(&dn, mm_dest_root(ctx));
		while (dn.len > 1 && dn.data[dn.len - 1] == '/')
			dn.data[--dn.len] = '\0';
		if (*o->dest != '/' && dn.len && dn.data[dn.len - 1] != '/')
			buf_putc(&dn, '/');
		buf_addstr(&dn, !strcmp(mm_dest_root(ctx), "/") && *o->dest == '/' ?
			   o->dest + 1 : o->dest);
		s.dest_name = buf_detach(&dn);
	}

	rc = ep_open_ctx(ctx, &s.ep);
	if (rc)
		goto out_nostate;
	if (o->state_path)
		buf_addstr(&state_path, o->state_path);
	else
		state_default_path(mm_dest_root(ctx), ctx->from, s.src, o->dest,
				   &state_path);

	/* Owners: by name, or forced. */
	e = idmap_load_local(mm_dest_root(ctx), &s.dst_ids);
	if (e) {
		log_error("cannot read this server's users and groups: %s",
			  strerror(e > 0 ? e : EIO));
		rc = MM_EDEST;
		goto out_nostate;
	}
	s.owners.src = &s.src_ids;
	s.owners.dst = &s.dst_ids;
	if (o->chown) {
		if (owner_parse_chown(&s.dst_ids, o->chown, &s.owners.force_uid,
				      &s.owners.force_gid) < 0) {
			log_error("--chown %s: no such user or group on this "
				  "server (give USER:GROUP)", o->chown);
			rc = MM_EUSAGE;
			goto out_nostate;
		}
		s.owners.forced = 1;
	} else {
		e = idmap_load_remote(s.ep, &s.src_ids);
		if (e < 0) {
			rc = ep_exit_code(s.ep);
			goto out_nostate;
		}
		if (e > 0)
			log_warn("cannot read the old server's users: %s; "
				 "owners keep their numbers", strerror(e));
	}
	e = fs_open_base(mm_dest_root(ctx), o->dest, !s.dry, &s.dst_fd);
	if (e && !(s.dry && e == ENOENT)) {
		log_error("%s: cannot open the destination: %s", s.dest_name,
			  strerror(e));
		rc = MM_EDEST;
		goto out_nostate;
	}
	if (!s.dry) {
		/* One run at a time on this state (a dry run only reads). */
		struct buf lk = BUF_INIT;

		buf_printf(&lk, "%s.lock", state_path.data);
		rc = mm_lock_path(lk.data, "sync");
		buf_release(&lk);
		if (rc)
			goto out_nostate;
	}
	if (state_open(&s.state, state_path.data, s.dry) < 0) {
		rc = MM_EDEST;
		goto out_nostate;
	}
	/* The racy rule compares directory mtimes with the old server's
	 * clock; a local source shares ours. */
	s.t0 = s.ep->local ? (int64_t)time(NULL) : remote_clock(&s);
	if (s.lost || s.ep->dead) {
		rc = ep_exit_code(s.ep);
		goto out;
	}
	log_verbose("state: %s", state_path.data);
	rc = sync_steps(&s);
	if (rc == MM_EDEST && s.fatal)
		log_error("%s: %s; stopped.  Nothing partial is visible in "
			  "cur/ or new/; free space (or fix the cause) and run "
			  "mailmove sync again to complete", s.dest_name,
			  strerror(s.fatal));
	if (rc == MM_OK && s.nerrors)
		rc = MM_EDIFF;
out:
	report(&s, rc);
	if (step_exit_at >= 0)
		fprintf(stderr, "mailmove: test: %ld steps\n", step_count);
	state_release(&s.state);
out_nostate:
	if (s.ep)
		ep_close(s.ep);
	if (s.dst_fd >= 0)
		close(s.dst_fd);
	idmap_release(&s.src_ids);
	idmap_release(&s.dst_ids);
	for (i = 0; i < s.nfolders; i++) {
		struct folder *fo = s.folders[i];
		size_t k;

		folder_close_fds(fo);
		for (k = 0; k < fo->nrows; k++) {
			free((char *)fo->rows[k].m.base);
			free((char *)fo->rows[k].m.name);
		}
		for (k = 0; k < fo->nmeta; k++)
			free(fo->meta[k].name);
		free(fo->rows);
		free(fo->meta);
		free(fo->path);
		free(fo->user);
		free(fo);
	}
	for (i = 0; i < s.njobs; i++) {
		free(s.jobs[i]->base);
		free(s.jobs[i]->name);
		free(s.jobs[i]->state_twin);
		free(s.jobs[i]);
	}
	for (i = 0; i < s.ndv; i++) {
		free(s.dv[i]->path);
		free(s.dv[i]);
	}
	for (i = 0; i < s.nfv; i++) {
		free(s.fv[i].path);
		free(s.fv[i].target);
	}
	for (i = 0; i < s.links.cap; i++)
		if (s.links.v && s.links.v[i].key) {
			struct linkref *r = s.links.v[i].val;
			free(r->dest);
			free(r);
		}
	for (i = 0; i < s.users.cap; i++)
		if (s.users.v && s.users.v[i].key) {
			struct ustats *u = s.users.v[i].val;
			free(u->user);
			free(u);
		}
	for (i = 0; i < s.nprobes; i++)
		free(s.probes[i].rel);
	free(s.probes);
	smap_release(&s.links);
	smap_release(&s.users);
	smap_release(&s.dirs);
	free(s.folders);
	free(s.jobs);
	free(s.dv);
	free(s.fv);
	free(s.ready);
	free(s.placed_wait);
	buf_release(&s.errors);
	buf_release(&state_path);
	buf_release(&src);
	free(s.dest_name);
	return rc;
}
