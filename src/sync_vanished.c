/*
 * sync_vanished.c: folders and directories gone from the source (deleted
 * or renamed on the old server).  With --delete, the messages the state
 * proves came from the source go, then the folder's Dovecot files and its
 * empty directories, unless messages of the destination's own remain;
 * without --delete they stay in the state, for a later --delete.
 */
#include "sync_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "banned.h"

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
	us = sync_user_stats(s, tmp.user);
	state_msgs_each(&s->state, d->path, sync_msgtab_state_cb, &t);
	for (i = 0; i < 2; i++) {
		int err = sync_read_dest_sub(s, &tmp, i ? 'n' : 'c', &t);

		if (err) {
			/* Nothing is removed on half a listing. */
			char *rel = sync_join(d->path, i ? "new" : "cur");
			sync_item_failed(s, &tmp, rel, "cannot read the directory here",
				    err);
			free(rel);
			sync_folder_close_fds(&tmp);
			sync_msgtab_release(&t);
			buf_release(&user);
			return -1;
		}
	}
	for (i = 0; i < t.n; i++) {
		struct msgent *e = &t.v[i];
		char *rel;

		if (!e->d_sub)
			continue;
		rel = sync_msg_rel(&tmp, e->d_sub, e->d_name);
		if (e->has_p) {
			sync_plan_line(s, "delete", rel, NULL);
			if (!s->dry) {
				int fd = sync_sub_fd(s, &tmp, e->d_sub);
				if (fd >= 0 && unlinkat(fd, e->d_name, 0) == 0)
					sync_step();
			}
			s->total.deleted++;
			us->deleted++;
		} else {
			sync_plan_line(s, "keep", rel, NULL);
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
			char *rel = sync_join(d->path, de->d_name);

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
		/* Our own leftovers in tmp/, so that it can go. */
		sync_folder_close_fds(&tmp);
		{
			char *trel = sync_join(d->path, "tmp");
			sync_clean_tmp_dir(s, trel);
			free(trel);
		}
		unlinkat(dirfd, "cur", AT_REMOVEDIR);
		unlinkat(dirfd, "new", AT_REMOVEDIR);
		unlinkat(dirfd, "tmp", AT_REMOVEDIR);
		close(dirfd);
	}
	sync_folder_close_fds(&tmp);
	if (!s->dry) {
		struct dnode *c;

		for (i = 0; i < t.n; i++)
			if (t.v[i].has_p)
				state_msg_del(&s->state, d->path, t.v[i].base);
		for (c = d->child; c; c = c->sibling)
			if (c->has_dest)
				state_dest_dir_put(&s->state, c->path, 0, 0);
	}
	sync_msgtab_release(&t);
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
int sync_handle_vanished(struct sync *s)
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
