/*
 * files_copy.c: the plan and the copy of `mailmove files` (see
 * files_copy.h).
 */
#include "files_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "endpoint.h"
#include "fsops.h"
#include "log.h"
#include "proto.h"
#include "remote.h"
#include "banned.h"

/* "a/b/c" -> "a/b"; "a" -> "". */
static char *dir_of(const char *rel)
{
	const char *slash = strrchr(rel, '/');

	return slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
}

static int stat_cb(void *arg, uint32_t index, int err,
		   const struct mm_stat *st)
{
	struct files_run *r = arg;

	r->v[index].present = err == 0;
	r->v[index].is_dir = err == 0 && S_ISDIR(st->mode);
	if (err && err != ENOENT) {
		log_error("/%s on the old server: %s", r->v[index].rel,
			  strerror(err));
		r->item_errors++;
	} else if (err && r->explicit_paths) {
		log_error("/%s: not on the old server", r->v[index].rel);
		r->item_errors++;
	}
	return 0;
}

/* Finds the deepest directory of p->rel's parent chain that exists on the
 * destination: everything below it is made by the sync, with the old
 * server's owners and modes; it and its ancestors are never touched. */
static int find_ancestor(struct files_run *r, struct fpath *p)
{
	char *cand = dir_of(p->rel);
	int fd, e;

	for (;;) {
		e = fs_open_base(r->root, cand, 0, &fd);
		if (!e) {
			close(fd);
			break;
		}
		if ((e != ENOENT && e != ENOTDIR) || !*cand) {
			log_error("%s/%s on this server: %s", r->root, cand,
				  strerror(e));
			free(cand);
			return MM_EDEST;
		}
		{
			char *up = dir_of(cand);
			free(cand);
			cand = up;
		}
	}
	p->anc = cand;
	p->sub = xstrdup(p->rel + strlen(cand) + (*cand ? 1 : 0));
	return MM_OK;
}

struct anc_stat {
	struct files_run *r;
	struct fpath *p;
	char **paths;
};

/* Whether an earlier PATH already makes the directory `rel` (two files of
 * one missing /etc/rspamd, say): it is made once, and shown once. */
static int planned_before(const struct files_run *r, const struct fpath *p,
			  const char *rel)
{
	struct buf q = BUF_INIT;
	const struct fpath *o;
	size_t j;
	int found = 0;

	for (o = r->v; o < p && !found; o++)
		for (j = 0; j < o->list.n && !found; j++) {
			if (o->list.v[j].kind != 'd')
				continue;
			files_full_path(&q, o->anc, o->list.v[j].path);
			found = !strcmp(q.data + 1, rel);
		}
	buf_release(&q);
	return found;
}

/* A missing destination ancestor takes the old server's directory meta. */
static int anc_stat_cb(void *arg, uint32_t index, int err,
		       const struct mm_stat *st)
{
	struct anc_stat *a = arg;
	const char *rel = a->paths[index] + strlen(a->p->anc) +
			  (*a->p->anc ? 1 : 0);
	struct rentry e;

	if (planned_before(a->r, a->p, a->paths[index]))
		return 0;
	memset(&e, 0, sizeof e);
	e.path = rel;
	e.name = files_base_of(rel);
	e.kind = 'd';
	e.has_stat = 1;
	if (err || !S_ISDIR(st->mode)) {
		/* Not a plain directory there (a symlink to one, say):
		 * root's 0755 is the safe shape for a parent. */
		e.st.mode = S_IFDIR | 0755;
	} else {
		e.st = *st;
	}
	ts_list_add(&a->p->list, &e);
	return 0;
}

struct collect {
	struct files_run *r;
	struct fpath *p;
	const char *only;	/* listing a parent: the one name wanted */
	struct buf path;
};

static int collect_cb(void *arg, const struct rentry *e)
{
	struct collect *c = arg;
	struct rentry copy;

	if (c->only && (e->index == 0 || strcmp(e->path, c->only)))
		return 0;
	if (e->kind == 'e') {
		log_error("/%s/%s: cannot read on the old server: %s",
			  c->p->rel, e->path, strerror(e->err));
		c->r->item_errors++;
		return 0;
	}
	if (e->kind == 'o') {
		log_warn("/%s/%s: not a file, directory or symlink; skipped",
			 c->p->rel, e->path);
		c->r->warnings++;
		return 0;
	}
	buf_reset(&c->path);
	buf_addstr(&c->path, c->p->sub);
	if (!c->only && *e->path) {
		buf_putc(&c->path, '/');
		buf_addstr(&c->path, e->path);
	}
	copy = *e;
	copy.path = buf_cstr(&c->path);
	ts_list_add(&c->p->list, &copy);
	return 0;
}

/* Lists one present PATH (and its missing ancestors) into p->list.
 * Returns 0, or -1 when the connection failed. */
static int plan_path(struct files_run *r, struct fpath *p)
{
	struct collect c;
	char *parent = dir_of(p->rel);
	int rc = 0;

	/* Missing ancestors between p->anc and the parent, outermost first. */
	if (strcmp(parent, p->anc)) {
		struct anc_stat a = { r, p, NULL };
		size_t n = 0, i;
		const char *s;

		a.paths = xcalloc(strlen(parent) + 1, sizeof *a.paths);
		for (s = parent + strlen(p->anc) + (*p->anc ? 1 : 0);; s++) {
			if (*s == '/' || !*s)
				a.paths[n++] = xstrndup(parent,
							(size_t)(s - parent));
			if (!*s)
				break;
		}
		rc = remote_stat(r->ep, a.paths, n, anc_stat_cb, &a);
		for (i = 0; i < n; i++)
			free(a.paths[i]);
		free(a.paths);
	}
	memset(&c, 0, sizeof c);
	c.r = r;
	c.p = p;
	buf_init(&c.path, 0);
	if (rc >= 0 && p->is_dir) {
		rc = remote_list(r->ep, p->rel, LIST_STAT | LIST_RECURSE, 0,
				 collect_cb, &c);
	} else if (rc >= 0) {
		/* One file or symlink: the parent's own entries give its
		 * stat and link target. */
		c.only = files_base_of(p->rel);
		rc = remote_list(r->ep, parent, LIST_STAT, 1, collect_cb, &c);
	}
	if (rc > 0) {
		log_error("/%s on the old server: %s", p->rel, strerror(rc));
		r->item_errors++;
		rc = 0;
	}
	buf_release(&c.path);
	free(parent);
	return rc < 0 ? -1 : 0;
}

static void add_stats(struct ts_stats *a, const struct ts_stats *b)
{
	a->copied += b->copied;
	a->updated += b->updated;
	a->same += b->same;
	a->links += b->links;
	a->dirs += b->dirs;
	a->meta += b->meta;
	a->vanished += b->vanished;
	a->errors += b->errors;
	a->bytes += b->bytes;
}

/* The directories of the tree are cleaned by treesync itself; the
 * ancestor that holds a single-file PATH is cleaned here. */
static void remove_stale_temps(struct files_run *r, struct fpath *p,
			       int anc_fd)
{
	struct buf shown = BUF_INIT;

	if (r->dry_run)
		return;
	files_full_path(&shown, p->anc, "");
	fs_remove_stale_temps(anc_fd, shown.data);
	buf_release(&shown);
}

int files_sync_all(struct files_run *r)
{
	size_t i;
	int worst = MM_OK;

	for (i = 0; i < r->n; i++) {
		struct fpath *p = &r->v[i];
		struct treesync ts;
		struct buf name = BUF_INIT;
		int fd, rc, e;

		if (!p->present || !p->list.n)
			continue;
		e = fs_open_base(r->root, p->anc, 0, &fd);
		if (e) {
			log_error("%s/%s on this server: %s", r->root, p->anc,
				  strerror(e));
			return MM_EDEST;
		}
		files_full_path(&name, p->anc, "");
		remove_stale_temps(r, p, fd);
		memset(&ts, 0, sizeof ts);
		ts.ep = r->ep;
		ts.src_root = p->anc;
		ts.dst_fd = fd;
		ts.dst_name = name.data;
		ts.owners = &r->owners;
		ts.flags = TS_CONTENT | (r->dry_run ? TS_DRY_RUN : 0);
		ts.note = r->note;
		ts.arg = r->note_arg;
		r->cur_anc = p->anc;
		rc = treesync_entries(&ts, &p->list);
		add_stats(&r->total, &ts.st);
		close(fd);
		buf_release(&name);
		if (rc == MM_EDIFF)
			worst = MM_EDIFF;
		else if (rc != MM_OK)
			return rc;
	}
	return worst;
}

void files_run_release(struct files_run *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].rel);
		free(r->v[i].anc);
		free(r->v[i].sub);
		ts_list_release(&r->v[i].list);
	}
	free(r->v);
	idmap_release(&r->src_ids);
	idmap_release(&r->dst_ids);
}

int files_list(struct files_run *r)
{
	char **paths;
	size_t i;
	int rc;

	if (idmap_load_remote(r->ep, &r->src_ids) < 0)
		return ep_exit_code(r->ep);
	idmap_load_local(r->root, &r->dst_ids);
	r->owners.src = &r->src_ids;
	r->owners.dst = &r->dst_ids;
	paths = xcalloc(r->n, sizeof *paths);
	for (i = 0; i < r->n; i++)
		paths[i] = r->v[i].rel;
	rc = remote_stat(r->ep, paths, r->n, stat_cb, r);
	free(paths);
	return rc < 0 ? ep_exit_code(r->ep) : MM_OK;
}

int files_plan_path(struct files_run *r, struct fpath *p)
{
	int rc = find_ancestor(r, p);

	if (rc)
		return rc;
	return plan_path(r, p) < 0 ? ep_exit_code(r->ep) : MM_OK;
}
