/* treesync.c: quick-check file tree sync (see treesync.h). */
#include "treesync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fsops.h"
#include "log.h"
#include "base.h"
#include "banned.h"

#define TS_BATCH 512	/* files per read or hash request */

struct ts_entry *ts_list_push(struct ts_list *l, const char *path, char kind,
			      const struct mm_stat *st, const char *target)
{
	struct ts_entry *t;

	XGROW(l->v, l->n, l->cap, 64);
	t = &l->v[l->n++];
	t->path = xstrdup(path);
	t->kind = kind;
	t->st = *st;
	t->target = target ? xstrdup(target) : NULL;
	t->no_temps = 0;
	return t;
}

void ts_list_add(struct ts_list *l, const struct rentry *e)
{
	if ((e->kind == 'f' || e->kind == 'd' || e->kind == 'l') && e->has_stat)
		ts_list_push(l, e->path, e->kind, &e->st, e->target);
}

void ts_list_release(struct ts_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The parent directory fd of entry paths, cached for runs of siblings. */
struct dircache {
	char *path;
	int fd;
	int renamed;	/* a rename landed here: fsync before letting go */
};

/* Lets go of the cached directory; one fsync of it makes the renames into
 * it durable (cheaper than a syncfs of a whole, busy filesystem). */
static void dircache_release(struct dircache *c)
{
	if (c->fd >= 0 && c->renamed && fsync(c->fd) < 0)
		log_warn("%s: fsync of the directory: %s",
			 c->path ? c->path : ".", strerror(errno));
	c->renamed = 0;
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	c->fd = -1;
	c->path = NULL;
}

/* Opens the parent of `path` below base; *name gets the last component. */
static int parent_fd(struct dircache *c, int base, const char *path,
		     const char **name, int *fd)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	int e = 0;

	*name = slash ? slash + 1 : path;
	if (!c->path || strcmp(c->path, dir)) {
		dircache_release(c);
		e = fs_walk(base, dir, 0, NULL, &c->fd);
		if (e) {
			c->fd = -1;
			free(dir);
			return e;
		}
		c->path = dir;
	} else {
		free(dir);
	}
	*fd = c->fd;
	return 0;
}

struct item {
	const struct ts_entry *e;
	struct fs_meta meta;
	int action;	/* see enum below */
};

enum { ACT_NONE, ACT_COPY, ACT_UPDATE, ACT_HASH };

static void note(struct treesync *ts, const char *action,
		 const struct ts_entry *e, int err)
{
	if (ts->note)
		ts->note(ts->arg, action, e, err);
}

static void item_error(struct treesync *ts, const struct ts_entry *e, int err,
		       const char *what)
{
	struct buf q = BUF_INIT;

	mm_quote(&q, e->path);
	if (strstr(what, "on the old server"))	/* named where it is read */
		log_error("%s/%s: %s: %s", ts->src_root, q.data, err == ESTALE ?
			  "changed on the old server while it was read; "
			  "copied at the next run" : what, strerror(err));
	else
		log_error("%s/%s: %s: %s", ts->dst_name, q.data, what,
			  strerror(err));
	buf_release(&q);
	ts->st.errors++;
	if (err == ESTALE)
		ts->st.changed++;
	note(ts, "error", e, err);
}

static char *src_path(const struct treesync *ts, const char *rel)
{
	struct buf p = BUF_INIT;

	buf_addstr(&p, ts->src_root);
	if (*rel) {
		if (p.len && p.data[p.len - 1] != '/')
			buf_putc(&p, '/');
		buf_addstr(&p, rel);
	}
	return buf_detach(&p);
}

/* Meta of a destination object compared with what it should be. */
static int meta_differs(const struct stat *d, const struct fs_meta *m)
{
	if ((d->st_mode & 07777) != (m->mode & 07777) && !S_ISLNK(d->st_mode))
		return 1;
	return m->set_owner && (d->st_uid != m->uid || d->st_gid != m->gid);
}

/* Directories: made when missing, owner and mode corrected. */
static int sync_dir(struct treesync *ts, const struct item *it)
{
	const struct ts_entry *e = it->e;
	int keep = !*e->path && (ts->flags & TS_KEEP_ROOT);
	struct stat d;
	int fd, err;

	if (!*e->path) {
		fd = dup(ts->dst_fd);
		err = fd < 0 ? errno : 0;
	} else if ((err = fs_walk(ts->dst_fd, e->path, 0, NULL, &fd)) != 0) {
		fd = -1;
	}
	if (fd < 0) {
		if (*e->path && (err == ENOENT)) {
			ts->st.dirs++;
			note(ts, "mkdir", e, 0);
			if (ts->flags & TS_DRY_RUN)
				return 0;
			err = fs_walk(ts->dst_fd, e->path, 1, &it->meta, &fd);
			if (err) {
				item_error(ts, e, err, "cannot make directory");
				return err;
			}
			close(fd);
			return 0;
		}
		item_error(ts, e, err == ENOTDIR ? EEXIST : err,
			   "cannot open directory (something else is there?)");
		return err;
	}
	/* Temporary files of a run that was killed here are ours to remove. */
	if (!(ts->flags & TS_DRY_RUN) && !e->no_temps) {
		struct buf shown = BUF_INIT;

		buf_addstr(&shown, ts->dst_name);
		if (*e->path)
			buf_printf(&shown, "/%s", e->path);
		fs_remove_stale_temps(fd, shown.data);
		buf_release(&shown);
	}
	if (!keep && fstat(fd, &d) == 0 && meta_differs(&d, &it->meta)) {
		ts->st.meta++;
		note(ts, "meta", e, 0);
		if (!(ts->flags & TS_DRY_RUN) &&
		    (err = fs_apply_meta(fd, &it->meta)) != 0) {
			close(fd);
			item_error(ts, e, err, "cannot set owner or mode");
			return err;
		}
	}
	close(fd);
	return 0;
}

static int sync_link(struct treesync *ts, struct dircache *dc,
		     const struct item *it)
{
	const struct ts_entry *e = it->e;
	char cur[MM_PATH_MAX + 1];
	const char *name;
	struct stat d;
	ssize_t n;
	int fd, err;

	err = parent_fd(dc, ts->dst_fd, e->path, &name, &fd);
	if (err) {
		if (ts->flags & TS_DRY_RUN && err == ENOENT) {
			ts->st.links++;
			note(ts, "link", e, 0);
			return 0;
		}
		item_error(ts, e, err, "cannot open the parent directory");
		return err;
	}
	if (fstatat(fd, name, &d, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(d.st_mode)) {
			item_error(ts, e, EISDIR, "a directory is in the way");
			return EISDIR;
		}
		if (S_ISLNK(d.st_mode) &&
		    (n = readlinkat(fd, name, cur, sizeof cur - 1)) >= 0) {
			cur[n] = '\0';
			if (!strcmp(cur, e->target)) {
				if (it->meta.set_owner &&
				    (d.st_uid != it->meta.uid ||
				     d.st_gid != it->meta.gid)) {
					ts->st.meta++;
					note(ts, "meta", e, 0);
					if (!(ts->flags & TS_DRY_RUN) &&
					    fchownat(fd, name, it->meta.uid,
						     it->meta.gid,
						     AT_SYMLINK_NOFOLLOW) < 0) {
						err = errno;
						item_error(ts, e, err,
							   "cannot set owner");
						return err;
					}
				} else {
					ts->st.same++;
					note(ts, "same", e, 0);
				}
				return 0;
			}
		}
	}
	ts->st.links++;
	note(ts, "link", e, 0);
	if (ts->flags & TS_DRY_RUN)
		return 0;
	err = fs_replace_symlink(fd, name, e->target, &it->meta);
	if (err)
		item_error(ts, e, err, "cannot make the symlink");
	else
		dc->renamed = 1;
	return err;
}

/* Decides what a regular file needs: ACT_NONE (maybe a meta fix), ACT_COPY,
 * ACT_UPDATE, or ACT_HASH (same size and mtime, content to compare). */
static int plan_file(struct treesync *ts, struct dircache *dc,
		     struct item *it)
{
	const struct ts_entry *e = it->e;
	const char *name;
	struct stat d;
	int fd, err;

	err = parent_fd(dc, ts->dst_fd, e->path, &name, &fd);
	if (err == ENOENT && (ts->flags & TS_DRY_RUN))
		return ACT_COPY;
	if (err) {
		item_error(ts, e, err, "cannot open the parent directory");
		return -1;
	}
	if (fstatat(fd, name, &d, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? ACT_COPY : (item_error(ts, e, errno,
			"cannot stat"), -1);
	if (S_ISDIR(d.st_mode)) {
		item_error(ts, e, EISDIR, "a directory is in the way");
		return -1;
	}
	if (!S_ISREG(d.st_mode) || (uint64_t)d.st_size != e->st.size ||
	    d.st_mtim.tv_sec != e->st.mtime_s ||
	    (uint32_t)d.st_mtim.tv_nsec != e->st.mtime_ns)
		return ACT_UPDATE;
	if (ts->flags & TS_CONTENT)
		return ACT_HASH;
	if (meta_differs(&d, &it->meta)) {
		ts->st.meta++;
		note(ts, "meta", e, 0);
		if (!(ts->flags & TS_DRY_RUN) &&
		    (err = fs_apply_meta_at(fd, name, &it->meta)) != 0)
			item_error(ts, e, err, "cannot set owner or mode");
	} else {
		ts->st.same++;
		note(ts, "same", e, 0);
	}
	return ACT_NONE;
}

static int local_hash(int dirfd, const char *name, XXH128_hash_t *h)
{
	char chunk[65536];
	XXH3_state_t *st;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno;
	st = XXH3_createState();
	XXH3_128bits_reset(st);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		XXH3_128bits_update(st, chunk, (size_t)n);
	*h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	close(fd);
	return n < 0 ? errno : 0;
}

struct hashctx {
	struct treesync *ts;
	struct dircache *dc;
	struct item **items;
};

static int hash_cb(void *arg, const struct rhash *h)
{
	struct hashctx *c = arg;
	struct item *it = c->items[h->index];
	XXH128_hash_t mine;
	const char *name;
	int fd, err;

	if (h->err) {
		it->action = ACT_NONE;
		if (h->err == ENOENT) {
			c->ts->st.vanished++;
			note(c->ts, "vanished", it->e, 0);
		} else {
			item_error(c->ts, it->e, h->err, "cannot read on the old server");
		}
		return 0;
	}
	if (parent_fd(c->dc, c->ts->dst_fd, it->e->path, &name, &fd) == 0 &&
	    local_hash(fd, name, &mine) == 0 && mine.high64 == h->hi &&
	    mine.low64 == h->lo) {
		struct stat d;
		it->action = ACT_NONE;
		if (fstatat(fd, name, &d, AT_SYMLINK_NOFOLLOW) == 0 &&
		    meta_differs(&d, &it->meta)) {
			c->ts->st.meta++;
			note(c->ts, "meta", it->e, 0);
			if (!(c->ts->flags & TS_DRY_RUN) &&
			    (err = fs_apply_meta_at(fd, name, &it->meta)) != 0)
				item_error(c->ts, it->e, err,
					   "cannot set owner or mode");
		} else {
			c->ts->st.same++;
			note(c->ts, "same", it->e, 0);
		}
	} else {
		it->action = ACT_UPDATE;
	}
	return 0;
}

/* The file being received from the agent. */
struct copyctx {
	struct treesync *ts;
	struct dircache *dc;
	struct item **items;
	int fd, dirfd;
	struct buf tmp;
	int fatal;
	int failed;
};

static void copy_abort(struct copyctx *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		unlinkat(c->dirfd, c->tmp.data, 0);
	}
	c->fd = -1;
}

static int copy_begin(void *arg, uint32_t index, int err,
		      const struct mm_stat *st)
{
	struct copyctx *c = arg;
	struct item *it = c->items[index];
	const char *name;

	if (err) {
		if (err == ENOENT) {
			c->ts->st.vanished++;
			note(c->ts, "vanished", it->e, 0);
		} else {
			item_error(c->ts, it->e, err, "cannot read on the old server");
		}
		return 0;
	}
	/* The file may have changed since the listing: the copy carries the
	 * mtime and mode of what is actually read, so that the next quick
	 * check compares against the right values. */
	if (st) {
		it->meta.mode = st->mode & 07777;
		it->meta.mtime_s = st->mtime_s;
		it->meta.mtime_ns = st->mtime_ns;
	}
	err = parent_fd(c->dc, c->ts->dst_fd, it->e->path, &name, &c->dirfd);
	if (!err)
		err = fs_tmp_create(c->dirfd, &c->tmp, &c->fd);
	if (err) {
		item_error(c->ts, it->e, err, "cannot create a file");
		c->fd = -1;
		if (fs_errno_fatal(err)) {
			c->fatal = err;
			return 1;
		}
	}
	return 0;
}

static int copy_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct copyctx *c = arg;
	int err;

	if (c->fd < 0)
		return 0;
	err = fs_write_all(c->fd, p, n);
	if (err) {
		item_error(c->ts, c->items[index]->e, err, "cannot write");
		copy_abort(c);
		if (fs_errno_fatal(err)) {
			c->fatal = err;
			return 1;
		}
		return 0;
	}
	c->ts->st.bytes += n;
	return 0;
}

static int copy_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct copyctx *c = arg;
	struct item *it = c->items[index];
	const char *name = strrchr(it->e->path, '/');

	(void)total;
	if (c->fd < 0)
		return 0;
	name = name ? name + 1 : it->e->path;
	if (err) {
		item_error(c->ts, it->e, err, "read failed on the old server");
		copy_abort(c);
		return 0;
	}
	err = fs_apply_meta(c->fd, &it->meta);
	if (!err && fsync(c->fd) < 0)
		err = errno;
	if (close(c->fd) < 0 && !err)
		err = errno;
	c->fd = -1;
	if (!err && renameat(c->dirfd, c->tmp.data, c->dirfd, name) < 0)
		err = errno;
	if (err) {
		unlinkat(c->dirfd, c->tmp.data, 0);
		item_error(c->ts, it->e, err, "cannot write");
		if (fs_errno_fatal(err)) {
			c->fatal = err;
			return 1;
		}
		return 0;
	}
	c->dc->renamed = 1;
	if (it->action == ACT_COPY)
		c->ts->st.copied++;
	else
		c->ts->st.updated++;
	note(c->ts, it->action == ACT_COPY ? "copy" : "update", it->e, 0);
	return 0;
}

/* Runs fn over `items` with action `act` in batches of TS_BATCH paths. */
static int batch_paths(struct treesync *ts, struct item **todo, size_t n,
		       char ***paths_out)
{
	char **paths = xcalloc(n + 1, sizeof *paths);
	size_t i;

	for (i = 0; i < n; i++)
		paths[i] = src_path(ts, todo[i]->e->path);
	*paths_out = paths;
	return 0;
}

static void free_paths(char **paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* The symlinks of the list; MM_EDEST when the destination fails. */
static int sync_links(struct treesync *ts, struct dircache *dc,
		      const struct item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n && !mm_interrupted; i++) {
		int err;

		if (items[i].e->kind != 'l')
			continue;
		err = sync_link(ts, dc, &items[i]);
		if (err && fs_errno_fatal(err))
			return MM_EDEST;
	}
	return mm_interrupted ? MM_EINTR : MM_OK;
}

static int lost(struct treesync *ts)
{
	return ep_exit_code(ts->ep);
}

int treesync_entries(struct treesync *ts, const struct ts_list *l)
{
	static const struct rread_ops ops = { copy_begin, copy_data, copy_end };
	struct dircache dc = { NULL, -1, 0 };
	struct item *items = xcalloc(l->n + 1, sizeof *items);
	struct item **todo = xcalloc(l->n + 1, sizeof *todo);
	struct buf why = BUF_INIT;
	size_t i, ntodo = 0, owner_errors = 0;
	int rc = MM_OK;

	/* Owners first: a missing user stops us before any write. */
	for (i = 0; i < l->n; i++) {
		struct item *it = &items[i];

		it->e = &l->v[i];
		it->meta.mode = it->e->st.mode & 07777;
		it->meta.set_owner = 1;
		it->meta.set_mtime = it->e->kind != 'd';
		it->meta.mtime_s = it->e->st.mtime_s;
		it->meta.mtime_ns = it->e->st.mtime_ns;
		buf_reset(&why);
		if (owner_map_ids(ts->owners, it->e->st.uid, it->e->st.gid,
				  &it->meta.uid, &it->meta.gid, &why) < 0) {
			if (owner_errors++ < 10)
				log_error("%s: %s", it->e->path, why.data);
		}
	}
	if (owner_errors) {
		log_error("%zu entries have owners missing on this server; "
			  "nothing was written (create the users, or use an "
			  "explicit owner)", owner_errors);
		rc = MM_EUSAGE;
		goto out;
	}
	/* Directories in listing order; files planned.  Symlinks come
	 * last, once the files they point to are in place (live/cert.pem ->
	 * archive/cert3.pem must not dangle while cert3.pem is copied). */
	for (i = 0; i < l->n && !mm_interrupted; i++) {
		struct item *it = &items[i];
		int act, err;

		if (it->e->kind == 'd') {
			err = sync_dir(ts, it);
			if (err && fs_errno_fatal(err)) {
				rc = MM_EDEST;
				goto out;
			}
			dircache_release(&dc);
		} else if (it->e->kind == 'l') {
			continue;
		} else {
			act = plan_file(ts, &dc, it);
			if (act > ACT_NONE) {
				it->action = act;
				todo[ntodo++] = it;
			}
		}
	}
	if (mm_interrupted) {
		rc = MM_EINTR;
		goto out;
	}
	/* Content comparison for files that look the same. */
	{
		struct item **h = xcalloc(ntodo + 1, sizeof *h);
		size_t nh = 0, j, k;

		for (j = 0; j < ntodo; j++)
			if (todo[j]->action == ACT_HASH)
				h[nh++] = todo[j];
		for (j = 0; j < nh; j += TS_BATCH) {
			size_t cnt = nh - j < TS_BATCH ? nh - j : TS_BATCH;
			struct hashctx hc = { ts, &dc, h + j };
			char **paths;
			int r;

			batch_paths(ts, h + j, cnt, &paths);
			r = remote_hash(ts->ep, paths, cnt, hash_cb, &hc);
			free_paths(paths, cnt);
			if (r < 0) {
				free(h);
				rc = lost(ts);
				goto out;
			}
		}
		free(h);
		for (j = 0, k = 0; j < ntodo; j++)
			if (todo[j]->action == ACT_COPY ||
			    todo[j]->action == ACT_UPDATE)
				todo[k++] = todo[j];
		ntodo = k;
	}
	if (ts->flags & TS_DRY_RUN) {
		for (i = 0; i < ntodo; i++) {
			if (todo[i]->action == ACT_COPY)
				ts->st.copied++;
			else
				ts->st.updated++;
			ts->st.bytes += todo[i]->e->st.size;
			note(ts, todo[i]->action == ACT_COPY ? "copy" : "update",
			     todo[i]->e, 0);
		}
		rc = sync_links(ts, &dc, items, l->n);
		goto out;
	}
	for (i = 0; i < ntodo; i += TS_BATCH) {
		size_t cnt = ntodo - i < TS_BATCH ? ntodo - i : TS_BATCH;
		struct copyctx cc;
		char **paths;
		int r;

		memset(&cc, 0, sizeof cc);
		cc.ts = ts;
		cc.dc = &dc;
		cc.items = todo + i;
		cc.fd = -1;
		buf_init(&cc.tmp, 0);
		batch_paths(ts, todo + i, cnt, &paths);
		r = remote_read(ts->ep, paths, cnt, &ops, &cc);
		free_paths(paths, cnt);
		copy_abort(&cc);
		buf_release(&cc.tmp);
		if (r < 0) {
			rc = lost(ts);
			goto out;
		}
		if (cc.fatal) {
			log_error("%s: %s; stopped (nothing partial is left "
				  "behind: rerun once fixed)", ts->dst_name,
				  strerror(cc.fatal));
			rc = MM_EDEST;
			goto out;
		}
		if (mm_interrupted) {
			rc = MM_EINTR;
			goto out;
		}
	}
	rc = sync_links(ts, &dc, items, l->n);
	if (rc != MM_OK)
		goto out;
out:
	if (rc == MM_OK && ts->st.errors)
		rc = MM_EDIFF;
	dircache_release(&dc);
	buf_release(&why);
	free(items);
	free(todo);
	return rc;
}

struct collect {
	struct ts_list *l;
	uint64_t unreadable;
	const char *root;
};

static int collect_cb(void *arg, const struct rentry *e)
{
	struct collect *c = arg;

	if (e->kind == 'e') {
		log_error("%s/%s: cannot read on the old server: %s", c->root,
			  e->path, strerror(e->err));
		c->unreadable++;
		return 0;
	}
	if (e->kind == 'o') {
		log_warn("%s/%s: not a file, directory or symlink; skipped",
			 c->root, e->path);
		return 0;
	}
	ts_list_add(c->l, e);
	return 0;
}

int treesync_tree(struct treesync *ts)
{
	struct ts_list l = { NULL, 0, 0 };
	struct collect c = { &l, 0, ts->src_root };
	int rc;

	rc = remote_list(ts->ep, ts->src_root, LIST_STAT | LIST_RECURSE, 0,
			 collect_cb, &c);
	if (rc < 0) {
		ts_list_release(&l);
		return lost(ts);
	}
	if (rc > 0) {
		log_error("%s on the old server: %s", ts->src_root,
			  strerror(rc));
		ts_list_release(&l);
		ts->st.errors++;
		return MM_EDIFF;
	}
	rc = treesync_entries(ts, &l);
	ts->st.errors += c.unreadable;
	if (rc == MM_OK && c.unreadable)
		rc = MM_EDIFF;
	ts_list_release(&l);
	return rc;
}
