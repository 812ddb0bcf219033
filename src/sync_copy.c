/*
 * sync_copy.c: step 4 of a sync, the copies: inodes of destination files
 * the state did not know, stats of messages listed by name only, hard
 * links (kept as links, to a twin of this run or one the state proves),
 * then the reads streamed from the agent (two requests in flight) into
 * tmp/<base>, and the flush: one syncfs() for a batch, the renames into
 * cur/ or new/, and the commit of the folders it finished.
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
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "maildir.h"
#include "remote.h"
#include <xxhash.h>
#include "banned.h"

static void link_key(char *key, size_t n, const struct mm_stat *st)
{
	snprintf(key, n, "%llx:%llx", (unsigned long long)st->dev,
		 (unsigned long long)st->ino);
}

void sync_link_register(struct sync *s, const struct mm_stat *st,
			  struct job *job, const char *dest)
{
	struct linkref *r;
	char key[48];

	if (st->nlink < 2)
		return;
	link_key(key, sizeof key, st);
	r = strmap_get(&s->links, key);
	if (r && r->job && r->job->state != JOB_FAILED)
		return;
	if (!r) {
		r = xcalloc(1, sizeof *r);
		memcpy(r->key, key, sizeof key);
		strmap_put(&s->links, r->key, r);
	}
	r->job = job;
	free(r->dest);
	r->dest = dest ? xstrdup(dest) : NULL;
}

/* The mode, owner and mtime a copied message gets; -1 (reported) when its
 * owner has no counterpart here. */
int sync_job_meta(struct sync *s, struct job *j)
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
		char *rel = sync_msg_rel(j->fo, j->sub, j->src);
		log_error("%s: %s", rel, why.data);
		sync_item_failed(s, SYNC_ITEM_BAD, j->fo, rel,
				 "owner missing on this server", EINVAL);
		free(rel);
		rc = -1;
	}
	buf_release(&why);
	return rc;
}

/* A copy that failed.  ENOENT on the old server (SYNC_ITEM_BAD) is an
 * expunge or a move since the listing: no failure, the folder is listed
 * again next run; here (SYNC_DEST_BAD) it is a failure like any other. */
static void job_failed(struct sync *s, enum sync_grade grade, struct job *j,
		       const char *what, int err)
{
	char *rel = sync_msg_rel(j->fo, j->sub, j->src);

	if (err == ENOENT && grade == SYNC_ITEM_BAD) {
		log_verbose("%s: gone on the old server before it was copied",
			    rel);
		j->fo->errors++;
	} else {
		sync_item_failed(s, grade, j->fo, rel, what, err);
	}
	free(rel);
	j->state = JOB_FAILED;
	if (j->fo->pending && --j->fo->pending == 0)
		VEC_PUSH(s->ready, s->nready, s->capready, j->fo);
}

static void job_placed(struct sync *s, struct job *j, int linked)
{
	struct ustats *us = sync_user_stats(s, j->fo->user);

	j->state = JOB_PLACED;
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

/* A copy to prove found the same message here: taken as its copy. */
static void job_adopted(struct sync *s, struct job *j)
{
	j->state = JOB_PLACED;
	s->total.renamed++;
	sync_user_stats(s, j->fo->user)->renamed++;
	progress_add(&s->prog, 1, j->st.size);
	if (j->fo->pending && --j->fo->pending == 0)
		VEC_PUSH(s->ready, s->nready, s->capready, j->fo);
}

/* Links `j` to an existing destination file `from_rel`.  0 or errno. */
static int link_from(struct sync *s, struct job *j, const char *from_rel)
{
	const char *slash = strrchr(from_rel, '/');
	char *dir = slash ? xstrndup(from_rel, (size_t)(slash - from_rel)) :
		xstrdup("");
	int dfd, to = sync_sub_fd(s, j->fo, j->sub), e;
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
	sync_dest_changing(s, j->fo, j->sub);
	if (linkat(dfd, slash ? slash + 1 : from_rel, to, j->name, 0) < 0)
		e = errno;
	close(dfd);
	sync_dest_changed(s, j->fo, j->sub);
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

	if (j->kind == JOB_PROVE || j->kind == JOB_RECOPY) {
		/* Its own content is needed; its twins may link to it once
		 * it is in place (adopted or placed). */
		if (j->st.nlink >= 2)
			sync_link_register(s, &j->st, j, NULL);
		return 0;
	}

	if (j->st.nlink < 2) {
		/* A folder renamed on the old server keeps its inodes: the
		 * messages are already here under the old name. */
		return j->state_twin && link_from(s, j, j->state_twin) == 0;
	}
	link_key(key, sizeof key, &j->st);
	r = strmap_get(&s->links, key);
	if (r && r->job && r->job != j && r->job->state != JOB_FAILED) {
		if (r->job->state == JOB_PLACED) {
			char *from = sync_msg_rel(r->job->fo, r->job->sub,
					     r->job->name);
			rc = link_from(s, j, from) == 0 ? 1 : 0;
			free(from);
			return rc;
		}
		j->state = JOB_WAITS_TWIN;
		j->twin = r->job;
		return 2;
	}
	if (r && r->dest && link_from(s, j, r->dest) == 0)
		return 1;
	if (j->state_twin)
		rc = link_from(s, j, j->state_twin) == 0 ? 1 : 0;
	if (!rc)
		sync_link_register(s, &j->st, j, NULL);
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

/* The job's temporary file name in tmp/. */
static const char *tmp_name(struct job *j)
{
	if (!j->tmp) {
		struct buf b = BUF_INIT;

		/* A base name near NAME_MAX leaves no room for the prefix:
		 * then its hash stands for it. */
		if (strlen(j->base) + strlen(SYNC_TMP_PREFIX) <= 255)
			buf_printf(&b, SYNC_TMP_PREFIX "%s", j->base);
		else
			buf_printf(&b, SYNC_TMP_PREFIX "%016llx",
				   (unsigned long long)XXH3_64bits(j->base,
						strlen(j->base)));
		j->tmp = buf_detach(&b);
	}
	return j->tmp;
}

static int rd_begin(void *arg, uint32_t index, int err, const struct mm_stat *st)
{
	struct chunk *c = arg;
	struct job *j = c->v[index];
	int tfd;

	c->fd = -1;
	c->cur = j;
	if (err) {
		job_failed(c->s, SYNC_ITEM_BAD, j,
			   "cannot read on the old server", err);
		return 0;
	}
	if (st->size != j->st.size || st->mtime_s != j->st.mtime_s ||
	    st->mtime_ns != j->st.mtime_ns) {
		/* Not the file that was planned: its folder is listed again
		 * next run, and the copy made then. */
		job_failed(c->s, SYNC_ITEM_BAD, j,
			   "changed on the old server since it was "
			   "listed; copied at the next run", ESTALE);
		return 0;
	}
	tfd = sync_sub_fd(c->s, j->fo, 't');
	if (tfd < 0) {
		job_failed(c->s, SYNC_DEST_BAD, j,
			   "cannot open the folder's tmp/",
			   errno ? errno : ENOENT);
		return c->s->fatal ? 1 : 0;
	}
	unlinkat(tfd, tmp_name(j), 0);
	c->fd = openat(tfd, tmp_name(j), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		       O_CLOEXEC, 0600);
	if (c->fd < 0) {
		job_failed(c->s, SYNC_DEST_BAD, j, "cannot create in tmp/",
			   errno);
		return c->s->fatal ? 1 : 0;
	}
	return 0;
}

static void rd_abort(struct chunk *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		unlinkat(c->cur->fo->tmp_fd, tmp_name(c->cur), 0);
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
		job_failed(c->s, SYNC_DEST_BAD, c->cur, "cannot write", e);
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
	if (c->fd < 0)
		return 0;
	if (!err && total != j->st.size)
		err = ESTALE;
	if (err) {
		rd_abort(c);
		job_failed(c->s, SYNC_ITEM_BAD, j, err == ESTALE ?
			   "changed on the old server "
			   "while it was read; copied at the next run" :
			   "read failed on the old server", err);
		return 0;
	}
	e = fs_apply_meta(c->fd, &j->meta);
	if (close(c->fd) < 0 && !e)
		e = errno;
	c->fd = -1;
	if (e) {
		unlinkat(j->fo->tmp_fd, tmp_name(j), 0);
		job_failed(c->s, SYNC_DEST_BAD, j, "cannot write", e);
		return c->s->fatal ? 1 : 0;
	}
	j->state = JOB_IN_TMP;
	VEC_PUSH(c->s->placed_wait, c->s->nwait, c->s->capwait, j);
	c->s->wait_bytes += j->st.size;
	sync_step();
	return 0;
}

/* Reads up to n bytes, fewer only at the end of the file; -1 on error. */
static ssize_t read_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* What the file here that job `j` is proven against holds, against the
 * copy read into tmp/: 1 the same content; 2 a strict prefix of it (a copy
 * of this message cut short, as versions before copies were proven could
 * leave); 0 other content; or -errno. */
static int same_content(struct sync *s, struct job *j)
{
	int dfd = sync_sub_fd(s, j->fo, j->d_sub), a = -1, b = -1, rc = 0;
	struct stat sa, sb;
	unsigned char *x = NULL, *y = NULL;

	if (dfd < 0)
		return -(errno ? errno : ENOENT);
	a = openat(dfd, j->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		   O_CLOEXEC);
	b = openat(j->fo->tmp_fd, tmp_name(j), O_RDONLY | O_NOFOLLOW |
		   O_CLOEXEC);
	if (a < 0 || b < 0 || fstat(a, &sa) < 0 || fstat(b, &sb) < 0) {
		rc = -(errno ? errno : EIO);
		goto out;
	}
	if (!S_ISREG(sa.st_mode) || sa.st_size > sb.st_size)
		goto out;	/* 0: another message */
	x = xmalloc(65536);
	y = xmalloc(65536);
	for (;;) {
		ssize_t n = read_full(a, x, 65536), m;

		if (n < 0 || (m = read_full(b, y, 65536)) < 0) {
			rc = -(errno ? errno : EIO);
			break;
		}
		if (m < n || memcmp(x, y, (size_t)n))
			break;
		if (n < 65536) {	/* the end of the file here */
			rc = sa.st_size == sb.st_size ? 1 : 2;
			break;
		}
	}
out:
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	free(x);
	free(y);
	return rc;
}

/* A file here proven to be the old server's message (or a broken copy of
 * it, replaced first by the copy read): renamed to the source's name with
 * the source's mode, owner and mtime.  0 or errno. */
static int adopt_here(struct sync *s, struct job *j, int replace)
{
	int from = sync_sub_fd(s, j->fo, j->d_sub);
	int to = sync_sub_fd(s, j->fo, j->sub), e = 0;

	if (from < 0 || to < 0)
		return errno ? errno : ENOENT;
	sync_dest_changing(s, j->fo, j->d_sub);
	sync_dest_changing(s, j->fo, j->sub);
	if (replace) {
		if (renameat(j->fo->tmp_fd, tmp_name(j), from, j->d_name) < 0)
			e = errno;
	} else {
		unlinkat(j->fo->tmp_fd, tmp_name(j), 0);
	}
	if (!e && (j->d_sub != j->sub || strcmp(j->d_name, j->name)) &&
	    renameat2(from, j->d_name, to, j->name, RENAME_NOREPLACE) < 0)
		e = errno;
	if (!e)
		e = fs_apply_meta_at(to, j->name, &j->meta);
	sync_dest_changed(s, j->fo, j->d_sub);
	sync_dest_changed(s, j->fo, j->sub);
	if (!e)
		sync_step();
	return e;
}

/*
 * The copies of this batch to prove (JOB_PROVE): a file here with the
 * same content is adopted; a strict prefix of it is a broken copy,
 * replaced; other content is a conflict: the copy is placed under a
 * conflict name, recorded as an intent before the file is here.
 */
static int prove_batch(struct sync *s)
{
	size_t i, conflicts = 0;

	for (i = 0; i < s->nwait; i++) {
		struct job *j = s->placed_wait[i];
		char *here;
		int same, e;

		if (j->kind != JOB_PROVE || j->state != JOB_IN_TMP)
			continue;
		same = same_content(s, j);
		here = sync_msg_rel(j->fo, j->d_sub, j->d_name);
		if (same == -ENOENT) {
			j->kind = JOB_COPY;	/* gone here meanwhile */
		} else if (same < 0) {
			unlinkat(j->fo->tmp_fd, tmp_name(j), 0);
			job_failed(s, SYNC_DEST_BAD, j, "cannot compare with "
				   "the file here", -same);
		} else if (same > 0) {
			e = adopt_here(s, j, same == 2);
			if (e) {
				unlinkat(j->fo->tmp_fd, tmp_name(j), 0);
				job_failed(s, SYNC_DEST_BAD, j, "cannot rename", e);
			} else if (same == 2) {
				log_warn("%s: a copy cut short (a prefix of the "
					 "old server's message): replaced by "
					 "the whole message", here);
				job_placed(s, j, 0);
			} else {
				log_verbose("%s: the same message as the old "
					    "server's; taken as its copy", here);
				job_adopted(s, j);
			}
		} else {
			sync_job_conflict(s, j, sync_conflict_name(j->base,
					  j->name, j->conflict_n), here);
			conflicts++;
		}
		free(here);
	}
	if (!conflicts)
		return MM_OK;
	if (state_begin(&s->state) < 0)
		return MM_EDEST;
	for (i = 0; i < s->nwait; i++) {
		struct job *j = s->placed_wait[i];
		struct finrow *r;

		if (j->kind != JOB_CONFLICT || j->state != JOB_IN_TMP)
			continue;
		r = &j->fo->rows[j->row];
		if (state_intent_put(&s->state, j->fo->path, j->base,
				     r->m.name, j->st.size) < 0)
			return MM_EDEST;
		j->fo->intents = 1;
	}
	if (state_commit(&s->state) < 0)
		return MM_EDEST;
	sync_step();
	return MM_OK;
}

/* Makes the batch durable and visible, finishes ready folders and commits
 * their state.  MM_OK or a fatal exit code. */
int sync_flush(struct sync *s)
{
	size_t i;

	if (s->dry) {
		s->nready = 0;
		return MM_OK;
	}
	if (s->nwait && syncfs(s->dst_fd) < 0) {
		sync_item_failed(s, SYNC_DEST_BAD, NULL, s->dest_name, "syncfs",
				 errno);
		return MM_EDEST;
	}
	if (s->nwait)
		sync_step();
	if (prove_batch(s) != MM_OK)
		return MM_EDEST;
	for (i = 0; i < s->nwait; i++) {
		struct job *j = s->placed_wait[i];
		int to = sync_sub_fd(s, j->fo, j->sub), e = 0;

		if (j->state != JOB_IN_TMP)
			continue;	/* adopted by prove_batch() */
		if (to >= 0)
			sync_dest_changing(s, j->fo, j->sub);
		/* Only a copy made to replace one replaces a file here: a
		 * message that appeared here meanwhile under the same name
		 * stays, and this one is placed at the next run. */
		if (to < 0 ||
		    renameat2(j->fo->tmp_fd, tmp_name(j), to, j->name,
			      j->kind == JOB_RECOPY ? 0 : RENAME_NOREPLACE) < 0)
			e = errno ? errno : ENOENT;
		if (e) {
			if (j->fo->tmp_fd >= 0)	/* no copy left behind */
				unlinkat(j->fo->tmp_fd, tmp_name(j), 0);
			job_failed(s, SYNC_DEST_BAD, j, e == EEXIST ?
				   "a file of this name "
				   "appeared here meanwhile; left alone" :
				   "cannot move into place", e);
			continue;
		}
		sync_step();
		sync_dest_changed(s, j->fo, j->sub);
		job_placed(s, j, 0);
	}
	s->nwait = 0;
	s->wait_bytes = 0;
	/* Hard links whose twin was in this batch. */
	for (i = 0; i < s->njobs; i++) {
		struct job *j = s->jobs[i];

		char *from;
		int e;

		if (j->state != JOB_WAITS_TWIN || !j->twin ||
		    j->twin->state != JOB_PLACED)
			continue;
		from = sync_msg_rel(j->twin->fo, j->twin->sub, j->twin->name);
		e = link_from(s, j, from);
		free(from);
		if (!e)
			job_placed(s, j, 1);
		else
			job_failed(s, SYNC_DEST_BAD, j,
				   "cannot make the hard link", e);
	}
	for (i = 0; i < s->njobs; i++) {
		struct job *j = s->jobs[i];
		/* The twin's failure was graded where it happened (or it was
		 * gone on the old server): this is one message not copied,
		 * never a reason to stop the run. */
		if (j->state == JOB_WAITS_TWIN && j->twin &&
		    j->twin->state == JOB_FAILED)
			job_failed(s, SYNC_ITEM_BAD, j,
				   "its hard-linked twin failed", EIO);
	}
	if (s->fatal)
		return MM_EDEST;
	{
		int rc = sync_finish_meta_batch(s, s->ready, s->nready);
		if (rc)
			return rc;
	}
	if (s->nready) {
		if (syncfs(s->dst_fd) < 0) {
			sync_item_failed(s, SYNC_DEST_BAD, NULL, s->dest_name,
					 "syncfs", errno);
			return MM_EDEST;
		}
		sync_step();
		if (state_begin(&s->state) < 0)
			return MM_EDEST;
		for (i = 0; i < s->nready; i++) {
			sync_commit_folder(s, s->ready[i]);
			sync_folder_close_fds(s->ready[i]);
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
		job_failed(c->s, SYNC_ITEM_BAD, j,
			   "cannot stat on the old server", err);
		return 0;
	}
	j->st = *st;
	if (sync_job_meta(c->s, j) < 0) {
		j->state = JOB_FAILED;
		if (j->fo->pending && --j->fo->pending == 0)
			VEC_PUSH(c->s->ready, c->s->nready, c->s->capready, j->fo);
	}
	return 0;
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
			char *rel = sync_msg_rel(v[i + k]->fo, v[i + k]->sub,
					    v[i + k]->src);
			paths[k] = sync_src_abs(s, rel);
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

		if (j->state == JOB_FAILED ||
		    state_msg_by_inode(&s->state, j->st.dev, j->st.ino,
				       j->st.size, &folder, &name) != 1 ||
		    strlen(name.data) < 5)
			continue;
		if (j->st.nlink >= 2) {
			v[n] = j;
			twin[n++] = sync_join(folder.data, name.data);
			continue;
		}
		d = sync_dnode_get(s, folder.data, 0);
		if (d && d->vanished &&
		    md_base_len(name.data + 4) == strlen(j->base) &&
		    !strncmp(name.data + 4, j->base, strlen(j->base)))
			j->state_twin = sync_join(folder.data, name.data);
	}
	for (i = 0; i < n && !rc; i += STAT_BATCH) {
		size_t cnt = n - i < STAT_BATCH ? n - i : STAT_BATCH;
		char **paths = xcalloc(cnt, sizeof *paths);
		struct twinctx c = { v + i, twin + i };

		for (k = 0; k < cnt; k++)
			paths[k] = sync_src_abs(s, twin[i + k]);
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

/*
 * Before the first copy of this run appears in a cur/ or new/ here, the
 * state knows each copy as an intent: a run killed after placing some can
 * still tell them from this server's own messages, so the next --delete
 * removes those the old server expunged meanwhile (sync_plan.c,
 * promote_intents).  tmp_dirty is set in the same transaction: the
 * temporaries written from now on are removed after a kill.  A folder's
 * intents go when it commits.  Copies to prove are not recorded: the
 * file here they are compared with is not known to be ours.
 */
static int write_intents(struct sync *s)
{
	struct buf name = BUF_INIT;
	size_t i;
	int bad = 0;

	if (!s->njobs)
		return MM_OK;
	if (state_begin(&s->state) < 0)
		return MM_EDEST;
	for (i = 0; i < s->njobs && !bad; i++) {
		struct job *j = s->jobs[i];

		if (j->state == JOB_FAILED || j->kind == JOB_PROVE)
			continue;
		buf_reset(&name);
		buf_printf(&name, "%s/%s", j->sub == 'c' ? "cur" : "new",
			   j->name);
		bad = state_intent_put(&s->state, j->fo->path, j->base,
				       name.data, j->st.size) < 0;
		j->fo->intents = 1;
	}
	buf_release(&name);
	if (bad || state_flag_put(&s->state, "tmp_dirty", 1) < 0 ||
	    state_commit(&s->state) < 0)
		return MM_EDEST;
	s->tmp_dirty = 1;
	sync_step();
	return MM_OK;
}

void sync_clean_tmp_dir(struct sync *s, const char *rel)
{
	DIR *dir;
	struct dirent *de;
	int fd, dfd;

	if (s->dst_fd < 0 || fs_walk(s->dst_fd, rel, 0, NULL, &fd) != 0)
		return;
	dfd = dup(fd);
	dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!dir && dfd >= 0)
		close(dfd);
	while (dir && (de = readdir(dir)))
		if (!strncmp(de->d_name, SYNC_TMP_PREFIX,
			     strlen(SYNC_TMP_PREFIX)) &&
		    unlinkat(fd, de->d_name, 0) == 0)
			log_debug("%s/%s: a temporary file of an interrupted "
				  "run removed", rel, de->d_name);
	if (dir)
		closedir(dir);
	close(fd);
}

/* Removes our temporaries from every tmp/ below `dfd` (a directory here,
 * path `rel`), reading folder directories only: cur/ and new/ are not
 * entered.  For a first run over a destination that an earlier run,
 * whose state is lost, may have left temporaries in, also in folders the
 * old server no longer has. */
static void clean_tmp_tree(struct sync *s, int dfd, const char *rel,
			   int depth)
{
	int dup_fd = dup(dfd);
	DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;

	if (!dir) {
		if (dup_fd >= 0)
			close(dup_fd);
		return;
	}
	while ((de = readdir(dir))) {
		char *crel;
		int cfd;
		struct stat st;

		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type != DT_DIR && (de->d_type != DT_UNKNOWN ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode)))
			continue;
		if (!strcmp(de->d_name, "cur") || !strcmp(de->d_name, "new"))
			continue;
		crel = sync_join(rel, de->d_name);
		if (!strcmp(de->d_name, "tmp"))
			sync_clean_tmp_dir(s, crel);
		else if (depth < 12 && (cfd = openat(dfd, de->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC)) >= 0) {
			clean_tmp_tree(s, cfd, crel, depth + 1);
			close(cfd);
		}
		free(crel);
	}
	closedir(dir);
}

int sync_clean_tmp(struct sync *s)
{
	size_t i;

	if (!s->incremental && !s->dry && s->dst_fd >= 0)
		clean_tmp_tree(s, s->dst_fd, "", 0);
	if (!s->tmp_dirty || s->dry)
		return MM_OK;
	for (i = 0; i < s->ndv; i++) {
		struct dnode *d = s->dv[i];

		if (d->kind == DN_TMP)
			sync_clean_tmp_dir(s, d->path);
	}
	return MM_OK;
}

/* At the end of a run that left no temporary file of its own. */
static int tmp_clean_now(struct sync *s)
{
	if (!s->tmp_dirty || s->nwait)
		return MM_OK;
	if (state_begin(&s->state) < 0 ||
	    state_flag_put(&s->state, "tmp_dirty", 0) < 0 ||
	    state_commit(&s->state) < 0)
		return MM_EDEST;
	s->tmp_dirty = 0;
	return MM_OK;
}

/* Streams every queued copy, two read requests in flight. */
int sync_run_jobs(struct sync *s)
{
	static const struct rread_ops ops = { rd_begin, rd_data, rd_end };
	struct chunk q[2];
	size_t next = 0, head = 0, inflight = 0, k;
	int rc = MM_OK;

	memset(q, 0, sizeof q);
	rc = stat_jobs(s);
	if (!rc)
		rc = prove_state_twins(s);
	if (rc)
		return rc;
	sync_check_links(s);
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
			if (s->jobs[k]->state == JOB_FAILED)
				continue;
			s->total.copied++;
			s->total.bytes += s->jobs[k]->st.size;
			sync_user_stats(s, s->jobs[k]->fo->user)->copied++;
			sync_user_stats(s, s->jobs[k]->fo->user)->bytes +=
				s->jobs[k]->st.size;
		}
		progress_end(&s->prog);
		return MM_OK;
	}
	rc = write_intents(s);
	if (rc)
		return rc;
	for (;;) {
		/* A flush reads metadata files from the agent: it waits until
		 * no read request is in flight. */
		int want_flush = s->nwait >= FLUSH_FILES ||
			s->wait_bytes >= FLUSH_BYTES || s->nready >= FLUSH_FOLDERS;

		if (want_flush && !inflight && !s->fatal) {
			rc = sync_flush(s);
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

				if (j->state == JOB_FAILED)
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
				char *rel = sync_msg_rel(c->v[k]->fo, c->v[k]->sub,
						    c->v[k]->src);
				paths[k] = sync_src_abs(s, rel);
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
				 tmp_name(s->placed_wait[i]), 0);
		s->nwait = 0;
		return MM_EDEST;
	}
	if (mm_interrupted)
		return MM_EINTR;
	rc = sync_flush(s);
	return rc ? rc : tmp_clean_now(s);
}
