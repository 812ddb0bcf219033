/*
 * sync_discover.c: step 1 of a sync, discovery: what the old server's tree
 * holds and what changed since the last run.  The first run lists the
 * whole tree; later runs stat every directory the state knows (batched),
 * list again those whose mtime moved (pipelined, each folder's new/ before
 * its cur/), list new directories whole, mark what vanished, and classify
 * the directories (folder, cur, new, tmp, plain) from the tree's shape.
 */
#include "sync_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "endpoint.h"
#include "log.h"
#include "remote.h"
#include "banned.h"

static int load_dir_cb(void *arg, const char *path, char kind,
		       int64_t mtime_s, uint32_t mtime_ns)
{
	struct sync *s = arg;
	struct dnode *d;

	/* Rows come in path order, so a parent precedes its children. */
	d = sync_dnode_get(s, path, 1);
	if (!d) {
		log_debug("state: %s has no parent row; ignored", path);
		return 0;
	}
	d->in_state = 1;
	d->kind = (enum dnode_kind)kind;
	d->old_s = mtime_s;
	d->old_ns = mtime_ns;
	return 0;
}

static int load_dest_dir_cb(void *arg, const char *path, char kind,
			    int64_t mtime_s, uint32_t mtime_ns)
{
	struct sync *s = arg;
	struct dnode *d = sync_dnode_get(s, path, 0);

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

/* `d` and everything below it: seen, but not read this run. */
static void mark_unread(struct dnode *d)
{
	struct dnode *c;

	d->seen = 1;
	d->failed = 1;
	d->listed = 0;
	d->vanished = 0;
	for (c = d->child; c; c = c->sibling)
		mark_unread(c);
}

static int list_cb(void *arg, const struct rentry *e)
{
	struct listctx *c = arg;
	struct sync *s = c->s;
	char *path = sync_join(c->prefix, e->path);
	struct dnode *d, *parent;
	const char *slash;

	if (e->kind == 'e') {
		d = sync_dnode_get(s, path, 0);
		sync_item_failed(s, SYNC_ITEM_BAD, NULL, path,
				 "cannot read the directory on the old server",
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
		parent = strmap_get(&s->dirs, pp);
		free(pp);
	}
	if (!parent) {		/* below a directory we ignore */
		free(path);
		return 0;
	}
	if (e->kind == 'd' && (parent->kind == DN_CUR || parent->kind == DN_NEW ||
			       parent->kind == DN_TMP ||
			       parent->kind == DN_IGNORED)) {
		/* nothing below cur/, new/ or tmp/ is ours; a directory
		 * where messages are is worth a word */
		if (parent->kind == DN_CUR || parent->kind == DN_NEW) {
			sync_item_skipped(s, path, "a directory where messages "
					  "should be: not copied");
			parent->odd = 1;
		}
	} else if (e->kind == 'd') {
		d = sync_dnode_get(s, path, 0);
		if (d) {
			d->seen = 1;
			d->vanished = 0;
			d->have_now = 1;
			d->now = e->st;
		} else if (!c->recursive) {
			d = sync_dnode_get(s, path, 1);
			d->is_new = 1;
			d->seen = 1;
			d->have_now = 1;
			d->now = e->st;
			d->listed = 0;	/* listed below, recursively */
		} else {
			d = sync_dnode_get(s, path, 1);
			d->is_new = 1;
			d->seen = 1;
			d->have_now = 1;
			d->now = e->st;
			d->listed = 1;
		}
	} else if ((d = sync_dnode_get(s, path, 0)) && !d->vanished) {
		/* A directory the state knows is something else now (a
		 * symlink to another disk, say): not gone, only unread.
		 * Nothing under it is deleted; the entry is reported. */
		mark_unread(d);
		if (e->kind == 'f' || e->kind == 'l')
			fentry_add(s, path, e, parent);
	} else if (e->kind == 'f' || e->kind == 'l') {
		fentry_add(s, path, e, parent);
	} else {
		sync_item_skipped(s, path, "not a file, directory or symlink "
				  "(a FIFO, socket or device): not copied");
		parent->odd = 1;
	}
	free(path);
	return 0;
}

static unsigned list_flags(const struct dnode *d, int recursive)
{
	/* cur/ and new/ listed again need names only: the few new messages
	 * are stat'ed later, so a resync costs a readdir per changed
	 * directory, not an lstat per message. */
	return (recursive || (d->kind != DN_CUR && d->kind != DN_NEW) ? LIST_STAT : 0) |
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
			sync_item_failed(s, SYNC_ITEM_BAD, NULL, d->path,
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
			abs[k] = sync_src_abs(s, d->path);
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
	char *abs = sync_src_abs(s, d->path);
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

	if (err == ENOENT) {
		d->vanished = 1;
	} else if (err == ENOTDIR || err == ELOOP ||
		   (!err && !S_ISDIR(st->mode))) {
		/* Something else where a directory was, or a path through
		 * one (a symlink to another disk): unread, not gone; nothing
		 * under it is deleted.  Its parent's listing names it. */
		d->failed = 1;
		d->listed = 0;
	} else if (err) {
		sync_item_failed(c->s, SYNC_ITEM_BAD, NULL, d->path,
				 "cannot stat on the old server", err);
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
		if (v[i]->kind != DN_CUR || !v[i]->parent)
			continue;
		/* in path order the sibling is next, or close */
		for (j = i + 1; j < n && j < i + 64; j++)
			if (v[j]->parent == v[i]->parent && v[j]->kind == DN_NEW) {
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
			paths[j] = sync_src_abs(s, v[i + j]->path);
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
		if (s->dv[i]->kind != DN_TMP && s->dv[i]->kind != DN_IGNORED)
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
static void classify(struct dnode *d, enum dnode_kind parent_kind)
{
	struct dnode *c;
	int has_cur = 0;

	if (d->vanished && d->in_state) {
		/* gone: what it was is what the state says */
		for (c = d->child; c; c = c->sibling)
			classify(c, d->kind);
		return;
	}
	if (parent_kind == DN_CUR || parent_kind == DN_NEW || parent_kind == DN_TMP ||
	    parent_kind == DN_IGNORED) {
		d->kind = DN_IGNORED;
	} else if (parent_kind == DN_FOLDER && (!strcmp(d->name, "cur") ||
					  !strcmp(d->name, "new") ||
					  !strcmp(d->name, "tmp"))) {
		d->kind = d->name[0] == 'c' ? DN_CUR : d->name[0] == 'n' ?
			DN_NEW : DN_TMP;
	} else {
		for (c = d->child; c; c = c->sibling)
			if (!c->vanished && !strcmp(c->name, "cur"))
				has_cur = 1;
		d->kind = has_cur ? DN_FOLDER : DN_PLAIN;
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

		if (changed[i]->kind != DN_NEW || !changed[i]->listed ||
		    !changed[i]->parent)
			continue;
		for (c = changed[i]->parent->child; c; c = c->sibling)
			if (c->kind == DN_CUR && !strcmp(c->name, "cur") &&
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
int sync_discover(struct sync *s)
{
	struct dnode *root;
	size_t i, n;

	if (state_dirs_each(&s->state, load_dir_cb, s) < 0 ||
	    state_dest_dirs_each(&s->state, load_dest_dir_cb, s) < 0)
		return MM_EDEST;
	root = sync_dnode_get(s, "", 1);
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

			if (d->kind == DN_TMP || d->kind == DN_IGNORED || !dir_changed(d))
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

			if (!d->listed || d->failed || d->kind == DN_CUR ||
			    d->kind == DN_NEW)
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
	classify(root, DN_NONE);
	return MM_OK;
}
