/*
 * sync_plan.c: step 3 of a sync, planning a folder: its messages as the
 * source, the destination and the state have them, met by base name; the
 * renames (flag changes, new/ to cur/) and, with --delete, the deletions
 * done at once; the copies queued for step 4; the state rows the folder's
 * commit will write; the Dovecot files to copy in step 5.
 */
#include "sync_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "banned.h"

/* A source message; cur/ wins over new/ for one base name. */
static void src_add(struct msgtab *t, const char *name, char sub, int listed,
		    const struct mm_stat *st)
{
	struct msgent *e = sync_msgtab_at(t, name, md_base_len(name));

	if (e->s_sub == 'c')
		return;
	e->s_sub = sub;
	e->s_name = sync_arena_strndup(&t->ar, name, strlen(name));
	e->s_listed = (char)listed;
	e->s_has_stat = st != NULL;
	if (st)
		e->s_st = *st;
	else
		memset(&e->s_st, 0, sizeof e->s_st);
}

/* Whether the state's name of `e` is `name` in `sub`. */
static int p_names(const struct msgent *e, char sub, const char *name)
{
	return strlen(e->p_name) > 4 && e->p_name[0] == sub &&
		!strcmp(e->p_name + 4, name);
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

/* Whether the destination's cur/ or new/ (`sd` on the source) still has
 * the mtime it had when the state's rows were its exact listing.  Only
 * mailmove wrote there since, so the rows can stand in for reading it: a
 * resync then reads no big destination directory at all.  A change made
 * there by someone else within the same clock tick as mailmove's last one
 * would go unseen; what follows is bounded: a rename or deletion that
 * finds its file gone makes the next run read the directory (see
 * sync_plan_folder), and files of the destination's own stay untouched. */
static int dest_unchanged(struct sync *s, struct folder *fo, struct dnode *sd,
			  char sub)
{
	struct stat st;
	int fd;

	if (!sd || !sd->has_dest || s->dst_fd < 0)
		return 0;
	fd = sync_sub_fd(s, fo, sub);
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
	int from = sync_sub_fd(s, fo, e->d_sub), to = sync_sub_fd(s, fo, e->s_sub);

	if (from < 0 || to < 0)
		return errno ? errno : ENOENT;
	if (renameat(from, e->d_name, to, e->s_name) < 0)
		return errno;
	sync_step();
	return 0;
}

/* Plans and does the renames and deletions of one folder; queues its
 * copies.  Returns MM_OK or a fatal exit code. */
int sync_plan_folder(struct sync *s, struct dnode *fd_node,
		       struct fentry **files, size_t nfiles)
{
	struct folder *fo = xcalloc(1, sizeof *fo);
	struct dnode *cur = sync_child_named(fd_node, "cur");
	struct dnode *nw = sync_child_named(fd_node, "new");
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
	us = sync_user_stats(s, fo->user);
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
	if (state_msgs_each(&s->state, fo->path, sync_msgtab_state_cb, &t) < 0) {
		sync_msgtab_release(&t);
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
		int dfd = sync_sub_fd(s, fo, sub);

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
			int err = sync_read_dest_sub(s, fo, sub, &t);

			s->dest_read++;
			if (err) {
				/* Not the whole truth: no decision on it. */
				char *rel = sync_join(fo->path, i ? "new" : "cur");
				sync_item_failed(s, fo, rel, "cannot read the "
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
				char *from = sync_msg_rel(fo, e->d_sub, e->d_name);
				int err = 0;

				rel = sync_msg_rel(fo, e->s_sub, e->s_name);
				sync_plan_line(s, "rename", from, rel);
				if (!s->dry) {
					sync_dest_changing(s, fo, e->d_sub);
					sync_dest_changing(s, fo, e->s_sub);
					err = rename_msg(s, fo, e);
					sync_dest_changed(s, fo, e->d_sub);
					sync_dest_changed(s, fo, e->s_sub);
				}
				if (err == ENOENT && fo->trusted[e->d_sub == 'n']) {
					log_verbose("%s: changed on the destination "
						    "since the last run; read again "
						    "next run", from);
					fo->errors++;
					fo->inexact[e->d_sub == 'n'] = 1;
				} else if (err) {
					sync_item_failed(s, fo, from, "cannot rename", err);
				} else {
					s->total.renamed++;
					us->renamed++;
				}
				free(from);
				free(rel);
			}
			if (e->s_has_stat) {
				rel = sync_msg_rel(fo, e->s_sub, e->s_name);
				sync_link_register(s, &e->s_st, NULL, rel);
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
				pr.rel = sync_msg_rel(fo, e->s_sub, e->s_name);
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
			if (e->s_has_stat && sync_job_meta(s, j) < 0) {
				free(j->base);
				free(j->name);
				free(j);
				continue;
			}
			rel = sync_msg_rel(fo, e->s_sub, e->s_name);
			sync_plan_line(s, "copy", rel, NULL);
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
		rel = sync_msg_rel(fo, e->d_sub, e->d_name);
		if (e->has_p && s->o->delete) {
			int err = 0;

			sync_plan_line(s, "delete", rel, NULL);
			if (!s->dry) {
				int dfd = sync_sub_fd(s, fo, e->d_sub);

				sync_dest_changing(s, fo, e->d_sub);
				if (dfd < 0 || unlinkat(dfd, e->d_name, 0) < 0)
					err = errno ? errno : ENOENT;
				else
					sync_step();
				sync_dest_changed(s, fo, e->d_sub);
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
				sync_item_failed(s, fo, rel, "cannot delete", err);
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
			sync_plan_line(s, "keep", rel, NULL);
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
	sync_msgtab_release(&t);
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
			sync_plan_line(s, "metadata", f->path, NULL);
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
	sync_folder_close_fds(fo);
	if (!fo->pending)
		VEC_PUSH(s->ready, s->nready, s->capready, fo);
	return s->fatal ? MM_EDEST : MM_OK;
}
