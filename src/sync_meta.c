/*
 * sync_meta.c: step 5 of a sync, a finished folder: its Dovecot files
 * (dovecot-uidlist, dovecot-keywords, ...) read from the agent into
 * temporary files, made durable, renamed into place under Dovecot's
 * dotlock, the folder's stale index files dropped; then its state rows
 * and directory mtimes, inside the flush's transaction.
 */
#include "sync_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "remote.h"
#include "banned.h"

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
	int last;		/* the last try: a change is reported */
	struct mref *again;	/* changed while read: to read again */
	size_t nagain, capagain;
};

/* A busy folder's dovecot-uidlist or index log changes often while the
 * old Dovecot serves; it is small, so it is read again at once. */
#define META_TRIES 3

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
			rel = sync_join(r->fo->path, r->m->name);
			sync_item_failed(c->s, SYNC_ITEM_BAD, r->fo, rel,
					 "cannot read on the old server", err);
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
		rel = sync_join(r->fo->path, r->m->name);
		sync_item_failed(c->s, SYNC_DEST_BAD, r->fo, rel,
				 "cannot create", err);
		free(rel);
		return c->s->fatal ? 1 : 0;
	}
	r->m->tmp = xstrdup(c->tmp.data);
	return 0;
}

/* A Dovecot file that could not be written here (`src` 0) or read there
 * whole (`src` 1: ESTALE, it changed while read): its temporary goes, the
 * folder keeps its old one.  1 when the run must stop (disk full). */
static int meta_failed(struct metaread *c, struct mref *r, int err, int src)
{
	char *rel = sync_join(r->fo->path, r->m->name);

	unlinkat(r->fo->dir_fd, r->m->tmp, 0);
	free(r->m->tmp);
	r->m->tmp = NULL;
	if (src && err == ESTALE && !c->last) {
		free(rel);
		VEC_PUSH(c->again, c->nagain, c->capagain, *r);
		return 0;
	}
	if (src)
		sync_item_failed(c->s, SYNC_ITEM_BAD, r->fo, rel, err == ESTALE ?
				 "changed on the old server while it was read; "
				 "copied at the next run" :
				 "read failed on the old server", err);
	else
		sync_item_failed(c->s, SYNC_DEST_BAD, r->fo, rel,
				 "cannot write", err);
	free(rel);
	return c->s->fatal ? 1 : 0;
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
		close(c->fd);
		c->fd = -1;
		return meta_failed(c, r, e, 0);
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
	if (err) {	/* the read on the old server */
		close(c->fd);
		c->fd = -1;
		return meta_failed(c, r, err, 1);
	}
	memset(&fm, 0, sizeof fm);
	fm.mode = st->mode & 07777;
	fm.set_mtime = 1;
	fm.mtime_s = st->mtime_s;
	fm.mtime_ns = st->mtime_ns;
	fm.set_owner = owner_map_ids(&c->s->owners, st->uid, st->gid, &fm.uid,
				     &fm.gid, &why) == 0;
	buf_release(&why);
	err = fs_apply_meta(c->fd, &fm);
	if (close(c->fd) < 0 && !err)
		err = errno;
	c->fd = -1;
	if (err)
		return meta_failed(c, r, err, 0);
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
		if ((c->kind == DN_CUR || c->kind == DN_NEW) && c->failed)
			return 1;
	return 0;
}

/* Reads `refs` from the agent into temporaries, in batches; those that
 * changed while read are read again, up to META_TRIES in all.  MM_OK, or
 * the exit code of a lost connection. */
static int read_metas(struct sync *s, struct mref *refs, size_t nrefs,
		      int attempt)
{
	static const struct rread_ops ops = { meta_begin, meta_data, meta_end };
	struct mref *again = NULL;
	size_t nagain = 0, capagain = 0, i, k;
	int rc = MM_OK;

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
		c.last = attempt >= META_TRIES;
		for (k = 0; k < cnt; k++) {
			char *rel = sync_join(refs[i + k].fo->path, refs[i + k].m->name);
			paths[k] = sync_src_abs(s, rel);
			free(rel);
		}
		r = remote_read(s->ep, paths, cnt, &ops, &c);
		for (k = 0; k < cnt; k++)
			free(paths[k]);
		free(paths);
		buf_release(&c.tmp);
		for (k = 0; k < c.nagain; k++)
			VEC_PUSH(again, nagain, capagain, c.again[k]);
		free(c.again);
		if (r < 0) {
			rc = ep_exit_code(s->ep);
			goto out;
		}
	}
	if (nagain && !s->fatal)
		rc = read_metas(s, again, nagain, attempt + 1);
out:
	free(again);
	return rc;
}

int sync_finish_meta_batch(struct sync *s, struct folder **v, size_t n)
{
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
			sync_item_failed(s, SYNC_DEST_BAD, fo, fo->path,
					 "cannot open the folder", e);
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
	rc = read_metas(s, refs, nrefs, 1);
	if (rc)
		goto out;
	if (s->fatal) {
		rc = MM_EDEST;
		goto out;
	}
	if (nrefs && syncfs(s->dst_fd) < 0) {
		sync_item_failed(s, SYNC_DEST_BAD, NULL, s->dest_name, "syncfs",
				 errno);
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
			sync_item_failed(s, SYNC_DEST_BAD, fo, fo->path,
					 e == EAGAIN ? "dovecot-uidlist.lock "
					 "is held by a running Dovecot; folder "
					 "metadata not copied" :
					 "cannot take the dotlock", e);
			continue;
		}
		for (k = 0; k < fo->nmeta; k++) {
			struct metafile *m = &fo->meta[k];

			if (!m->tmp)
				continue;
			if (renameat(fo->dir_fd, m->tmp, fo->dir_fd, m->name) < 0) {
				char *rel = sync_join(fo->path, m->name);
				sync_item_failed(s, SYNC_DEST_BAD, fo, rel,
						 "cannot move into place", errno);
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

void sync_put_dir_mtime(struct sync *s, struct dnode *d, int ok)
{
	int racy;

	if (!d || d->vanished || !d->have_now)
		return;
	if (!d->listed && !d->is_new)
		return;
	racy = d->now.mtime_s >= s->t0 - RACY_SECONDS;
	if (ok && !d->failed && !d->odd && !racy)
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
	char sub = d->kind == DN_NEW ? 'n' : 'c';
	int i = sub == 'n';
	struct stat st;
	int fd;

	if (exact && !d->vanished && (fd = sync_sub_fd(s, fo, sub)) >= 0 &&
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
void sync_commit_folder(struct sync *s, struct folder *fo)
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
		else if (!r->job || r->job->state == JOB_PLACED)
			state_msg_put(&s->state, fo->path, &r->m);
	}
	for (i = 0; i < fo->nmeta; i++) {
		char *rel = sync_join(fo->path, fo->meta[i].name);

		if (fo->meta[i].st.ino)
			state_meta_put(&s->state, rel, fo->meta[i].st.size,
				       fo->meta[i].st.mtime_s,
				       fo->meta[i].st.mtime_ns,
				       fo->meta[i].st.ino);
		else
			ok = 0;
		free(rel);
	}
	if (fo->intents)
		state_intent_del_folder(&s->state, fo->path);
	sync_put_dir_mtime(s, fo->dir, ok);
	for (c = fo->dir->child; c; c = c->sibling)
		if (c->kind == DN_CUR || c->kind == DN_NEW || c->kind == DN_TMP)
			sync_put_dir_mtime(s, c, ok);
	for (c = fo->dir->child; c; c = c->sibling)
		if (c->kind == DN_CUR || c->kind == DN_NEW)
			put_dest_dir_mtime(s, fo, c, !fo->errors &&
					   !fo->inexact[c->kind == DN_NEW]);
	fo->done = 1;
}
