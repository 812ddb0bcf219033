/*
 * sync_plan.c: step 3 of a sync, planning a folder: its messages as the
 * source, the destination and the state have them, met by base name; per
 * base name a decision without I/O (sync_plan_decide); the renames (flag
 * changes, new/ to cur/) and, with --delete, the deletions done at once;
 * the copies queued for step 4; the state rows the folder's commit will
 * write; the Dovecot files to copy in step 5.
 */
#include "sync_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "remote.h"
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

/* The base name of `e`'s state row: the source's (of a conflict copy,
 * not the one it has here). */
static const char *rowkey(const struct msgent *e)
{
	return e->alias ? e->alias : e->base;
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

/* The decision for one base name, from its three rows and --delete alone
 * (see enum sync_action): the rules that keep every message, specified by
 * the table of cases in tests/unit/test_plan.c.  A copy that can be a hard
 * link is decided at dispatch (try_link() in sync_copy.c): that depends on
 * what other copies of the run became. */
enum sync_action sync_plan_decide(const struct msgent *e, int delete)
{
	if (e->s_sub && e->d_sub) {
		if (!e->has_p)
			return SYNC_PROVE;
		if (e->s_has_stat && e->p_size &&
		    e->s_st.size != e->p_size && !e->p_gone)
			return SYNC_RECOPY;
		return e->d_sub != e->s_sub || strcmp(e->d_name, e->s_name) ?
			SYNC_RENAME : SYNC_IN_PLACE;
	}
	if (e->s_sub)
		return e->s_listed ? SYNC_COPY : SYNC_LOST_HERE;
	if (e->d_sub) {
		if (!e->has_p)
			return SYNC_KEEP_OWN;
		return delete ? SYNC_DELETE : SYNC_KEEP_GONE;
	}
	return e->has_p ? SYNC_FORGET : SYNC_NONE;
}

/* The folder of `fd_node`, made and registered for the run. */
static struct folder *folder_new(struct sync *s, struct dnode *fd_node)
{
	struct folder *fo = xcalloc(1, sizeof *fo);
	struct buf user = BUF_INIT;

	fo->dir = fd_node;
	fd_node->fo = fo;
	fo->path = xstrdup(fd_node->path);
	md_user_of(fo->path, &user);
	fo->user = buf_detach(&user);
	fo->cur_fd = fo->new_fd = fo->tmp_fd = -1;
	fo->dir_fd = -1;
	VEC_PUSH(s->folders, s->nfolders, s->capfolders, fo);
	return fo;
}

struct pair_stat {
	struct mm_stat st[2];
	int err[2];
};

static int pair_stat_cb(void *arg, uint32_t index, int err,
			const struct mm_stat *st)
{
	struct pair_stat *p = arg;

	if (index < 2) {
		p->err[index] = err;
		if (!err && st)
			p->st[index] = *st;
	}
	return 0;
}

/* Whether listed file `f` and the source message `e` already met under
 * its base name in the other of cur/ and new/ are one file, moved from
 * new/ to cur/ while the two were listed: the same inode, or one of them
 * gone since.  Asks the old server when the listing had no stat. */
static int one_source_file(struct sync *s, const struct fentry *f,
			   const struct msgent *e)
{
	struct pair_stat p;
	struct buf other = BUF_INIT;
	const struct dnode *folder = f->parent->parent;
	char *paths[2];

	if (f->has_stat && e->s_has_stat)
		return f->st.dev == e->s_st.dev && f->st.ino == e->s_st.ino;
	memset(&p, 0, sizeof p);
	buf_printf(&other, "%s%s%s/%s", folder->path, *folder->path ? "/" : "",
		   e->s_sub == 'c' ? "cur" : "new", e->s_name);
	paths[0] = sync_src_abs(s, f->path);
	paths[1] = sync_src_abs(s, other.data);
	if (remote_stat(s->ep, paths, 2, pair_stat_cb, &p) < 0)
		p.err[0] = p.err[1] = EIO;	/* no answer: say nothing */
	free(paths[0]);
	free(paths[1]);
	buf_release(&other);
	if (p.err[0] || p.err[1])
		return 1;	/* one of them moved on: one file */
	return p.st[0].dev == p.st[1].dev && p.st[0].ino == p.st[1].ino;
}

/* An intent of a killed run into the folder's table, met by the base name
 * of its name here (a conflict copy's is not the source's). */
static int intent_cb(void *arg, const char *base, const char *name,
		     uint64_t size)
{
	struct msgtab *t = arg;
	size_t nl = strlen(name);
	struct msgent *e;

	if (nl < 5)
		return 0;
	e = sync_msgtab_at(t, name + 4, md_base_len(name + 4));
	if (strcmp(e->base, base) && !e->alias)
		e->alias = sync_arena_strndup(&t->ar, base, strlen(base));
	e->has_i = 1;
	e->i_name = sync_arena_strndup(&t->ar, name, nl);
	e->i_size = size;
	return 0;
}

/*
 * A file here that a killed run was placing when the old server no longer
 * has its message: taken as that run's copy (so --delete removes it, as
 * the old server expunged it) only when its name and size are those the
 * run recorded.  One the old server still has is proven by content like
 * any file the state never saw placed (SYNC_PROVE): another message that
 * took its name since is never adopted.
 */
static void promote_intents(struct sync *s, struct folder *fo,
			    struct msgtab *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct msgent *e = &t->v[i];
		struct stat st;
		int dfd;

		if (!e->has_i || e->has_p || !e->d_sub || e->s_sub ||
		    e->i_name[0] != e->d_sub || strcmp(e->i_name + 4, e->d_name))
			continue;
		dfd = sync_sub_fd(s, fo, e->d_sub);
		if (dfd < 0 || fstatat(dfd, e->d_name, &st,
				       AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->i_size)
			continue;
		e->has_p = 1;
		e->p_name = e->i_name;
		e->p_size = e->i_size;
		e->p_gone = 0;
		fo->inexact[e->d_sub == 'n'] = 1;
	}
}

/* The source's messages listed this run in the folder's cur/ and new/. */
static void source_listed(struct sync *s, struct msgtab *t,
			  struct fentry **files, size_t nfiles,
			  const struct dnode *cur, const struct dnode *nw)
{
	size_t i;

	for (i = 0; i < nfiles; i++) {
		struct fentry *f = files[i];
		char sub = f->parent == cur ? 'c' : 'n';
		struct msgent *e;

		if (f->kind != 'f' || (f->parent != cur && f->parent != nw))
			continue;
		e = sync_msgtab_at(t, f->name, md_base_len(f->name));
		if (e->s_sub == sub && e->s_listed) {
			/* Dovecot keeps one file per base name: a second one
			 * is reported, never silently dropped. */
			sync_item_skipped(s, f->path, "a second message with "
					  "the same base name in this "
					  "directory: not copied");
			f->parent->odd = 1;
			continue;
		}
		if (e->s_sub && e->s_listed && !one_source_file(s, f, e)) {
			/* In cur/ and in new/, not one file moved during the
			 * listing: cur/'s is copied, new/'s named. */
			struct buf p = BUF_INIT;

			if (sub == 'n')
				buf_addstr(&p, f->path);
			else
				buf_printf(&p, "%s%snew/%s", f->parent->parent->path,
					   *f->parent->parent->path ? "/" : "",
					   e->s_name);
			sync_item_skipped(s, p.data, "a message in new/ with the "
					  "base name of one in cur/ (another "
					  "message, or one moved while it was "
					  "listed): not copied");
			buf_release(&p);
			if (nw)
				((struct dnode *)nw)->odd = 1;
			if (sub == 'n')
				continue;
		}
		src_add(t, f->name, sub, 1, f->has_stat ? &f->st : NULL);
	}
}

/* A conflict copy's source side: the source lists the message under its
 * own base name; the entry of the copy here (met by its other base name,
 * see sync_msgtab_state_cb) takes it, under the copy's base name with the
 * source's flags.  The source's base name is left with what is here
 * under it: the other message, never deleted. */
static void resolve_aliases(struct msgtab *t)
{
	size_t i, n0 = t->n;

	for (i = 0; i < n0; i++) {
		struct msgent *y = &t->v[i], *x;
		const char *suffix;
		struct buf name = BUF_INIT;
		size_t yi = i;

		if (!y->alias || y->s_sub)
			continue;
		x = sync_msgtab_at(t, y->alias, strlen(y->alias));
		y = &t->v[yi];	/* the table may have grown */
		if (!x->s_sub)
			continue;
		suffix = x->s_name + md_base_len(x->s_name);
		buf_printf(&name, "%s%s", y->base, suffix);
		y->s_sub = x->s_sub;
		y->s_listed = x->s_listed;
		y->s_has_stat = x->s_has_stat;
		y->s_st = x->s_st;
		y->s_name = sync_arena_strndup(&t->ar, name.data, name.len);
		y->s_orig = x->s_name;
		x->s_sub = 0;
		buf_release(&name);
	}
}

/* The source's messages in a cur/ or new/ not listed (whole) this run:
 * the state's names, the state's rows being loaded. */
static void source_from_state(struct msgtab *t, const struct dnode *cur,
			      const struct dnode *nw)
{
	size_t i, n0 = t->n;

	for (i = 0; i < n0; i++) {
		struct msgent *p = &t->v[i];
		char sub;
		const struct dnode *sd;

		if (!p->has_p)
			continue;
		sub = p->p_name[0] == 'c' ? 'c' : 'n';
		sd = sub == 'c' ? cur : nw;
		/* A listing that failed partway is not the whole truth:
		 * the state's names stay, and none of them is deleted. */
		if (p->p_gone || !sd || (sd->listed && !sd->failed) ||
		    strlen(p->p_name) < 5)
			continue;
		src_add(t, p->p_name + 4, sub, 0, NULL);
	}
}

/* The destination's cur/ and new/: read, or taken from the state's rows
 * while unchanged since they listed it.  0, or -1 when one of them cannot
 * be read (reported): no decision is made on half a listing. */
static int load_dest(struct sync *s, struct folder *fo, struct msgtab *t,
		     struct dnode *cur, struct dnode *nw)
{
	size_t i;
	int dest_failed = 0;

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
			dest_from_state(t, sub);
			s->dest_trusted++;
		} else {
			int err = sync_read_dest_sub(s, fo, sub, t);

			s->dest_read++;
			if (err) {
				/* Not the whole truth: no decision on it. */
				char *rel = sync_join(fo->path, i ? "new" : "cur");
				sync_item_failed(s, SYNC_DEST_BAD, fo, rel,
						 "cannot read the directory "
						 "here", err);
				free(rel);
				dest_failed = 1;
			}
		}
	}
	return dest_failed ? -1 : 0;
}

/* A message on both sides under another name (a flag change, a move from
 * new/ to cur/): renamed here to the source's name. */
static void apply_rename(struct sync *s, struct folder *fo,
			 struct ustats *us, const struct msgent *e)
{
	char *from = sync_msg_rel(fo, e->d_sub, e->d_name);
	char *rel = sync_msg_rel(fo, e->s_sub, e->s_name);
	int err = 0;

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
		sync_item_failed(s, SYNC_DEST_BAD, fo, from, "cannot rename",
				 err);
	} else {
		s->total.renamed++;
		us->renamed++;
	}
	free(from);
	free(rel);
}

/* A message on both sides that the state knows, under the source's name
 * now: its inode for the hard links of this run, and its state row when
 * the state names it otherwise.  (One the state does not know is proven
 * first: SYNC_PROVE.) */
static void keep_in_place(struct sync *s, struct folder *fo,
			  const struct msgent *e)
{
	char *rel;

	if (e->s_has_stat) {
		rel = sync_msg_rel(fo, e->s_sub, e->s_name);
		sync_link_register(s, &e->s_st, NULL, rel);
		free(rel);
	}
	if (!e->has_p || e->p_gone ||
	    !p_names(e, e->s_sub, e->s_name)) {
		row_add(fo, rowkey(e), e->s_sub, e->s_name,
			e->s_has_stat ? e->s_st.dev : e->has_p ? e->p_dev : 0,
			e->s_has_stat ? e->s_st.ino : e->has_p ? e->p_ino : 0,
			e->s_has_stat ? e->s_st.size : e->has_p ? e->p_size : 0,
			0, NULL, 0);
		fo->rows[fo->nrows - 1].rename_only = e->has_p &&
			!e->p_gone && !e->s_has_stat;
	}
}

char *sync_conflict_name(const char *base, const char *name, unsigned n)
{
	struct buf b = BUF_INIT;

	md_conflict_base(base, n, &b);
	buf_addstr(&b, name + md_base_len(name));
	return buf_detach(&b);
}

/* A message only on the source, listed (or one to prove or copy again,
 * see enum job_kind): its copy queued for step 4, with its state row,
 * valid once the copy is placed. */
static struct job *queue_copy(struct sync *s, struct folder *fo,
			      const struct msgent *e, enum job_kind kind)
{
	struct job *j = xcalloc(1, sizeof *j);
	char *rel;

	j->fo = fo;
	j->kind = kind;
	j->base = xstrdup(rowkey(e));
	j->name = xstrdup(e->s_name);
	j->src = xstrdup(e->s_orig ? e->s_orig : e->s_name);
	j->sub = e->s_sub;
	j->st = e->s_st;
	j->need_stat = !e->s_has_stat;
	if (kind == JOB_PROVE) {
		j->d_sub = e->d_sub;
		j->d_name = e->d_name ? xstrdup(e->d_name) : NULL;
	}
	if (e->s_has_stat && sync_job_meta(s, j) < 0) {
		free(j->base);
		free(j->name);
		free(j->src);
		free(j->d_name);
		free(j);
		return NULL;
	}
	rel = sync_msg_rel(fo, e->s_sub, j->src);
	sync_plan_line(s, kind == JOB_PROVE ? "compare" : kind == JOB_RECOPY ?
		       "copy again" : "copy", rel, NULL);
	free(rel);
	VEC_PUSH(s->jobs, s->njobs, s->capjobs, j);
	fo->pending++;
	row_add(fo, j->base, e->s_sub, j->name, e->s_st.dev,
		e->s_st.ino, e->s_st.size, 0, j, 0);
	j->row = fo->nrows - 1;
	return j;
}

void sync_job_conflict(struct sync *s, struct job *j, char *name,
		       const char *here)
{
	struct folder *fo = j->fo;
	struct finrow *r = &fo->rows[j->row];
	struct buf n = BUF_INIT;
	char *rel = sync_msg_rel(fo, j->sub, j->src);

	log_warn("%s: a conflict: another message of this base name is here "
		 "(%s); it is left alone, and the old server's message is "
		 "copied beside it as %s", rel, here, name);
	out_event("conflict", json_pack("{s:o, s:o, s:o}", "path",
					json_str_any(rel), "here",
					json_str_any(here), "copied_as",
					json_str_any(name)));
	free(rel);
	free(j->name);
	j->name = name;
	j->kind = JOB_CONFLICT;
	buf_printf(&n, "%s/%s", j->sub == 'c' ? "cur" : "new", name);
	free((char *)r->m.name);
	r->m.name = buf_detach(&n);
	s->total.conflicts++;
	sync_user_stats(s, fo->user)->conflicts++;
}

/*
 * A message on both sides that the state never saw placed here: a run
 * whose state was lost, or another message of the same base name (a
 * delivery here, a restored backup).  A copy this tool placed beside
 * another message under a conflict name (md_conflict_base) and forgot is
 * proven first; else the file under the base name: one larger than the
 * source's message is another message at once; one the same size or
 * smaller is compared with the source's content once that is read
 * (sync_copy.c: the same is adopted, a strict prefix is a broken copy and
 * replaced, anything else a conflict).
 */
/* A conflict copy of `e` that an earlier run placed here and the state
 * forgot: the entry of its n-th conflict name, here and known to nothing
 * else (*n set), or NULL; *free_n the first conflict name not here. */
static struct msgent *find_conflict_copy(struct msgtab *t,
					 const struct msgent *e, unsigned *n,
					 unsigned *free_n)
{
	struct buf cb = BUF_INIT;
	struct msgent *y = NULL;

	*free_n = 0;
	for (*n = 1; *n <= 3 && !y; ++*n) {
		struct msgent *c;

		buf_reset(&cb);
		md_conflict_base(e->base, *n, &cb);
		c = sync_msgtab_find(t, cb.data);
		if (!c) {
			if (!*free_n)
				*free_n = *n;
		} else if (c->d_sub && !c->has_p && !c->s_sub && !c->claimed) {
			y = c;
			break;
		}
	}
	buf_release(&cb);
	if (!*free_n)
		*free_n = 4;
	return y;
}

/* Queues `e`'s copy to be proven against conflict copy `y` (its n-th
 * conflict name): the same content is adopted under that name. */
static void prove_conflict_copy(struct sync *s, struct folder *fo,
				const struct msgent *e, struct msgent *y,
				unsigned n, unsigned free_n)
{
	struct job *j;
	struct buf rn = BUF_INIT;

	y->claimed = 1;
	fo->inexact[y->d_sub == 'n'] = 1;
	j = queue_copy(s, fo, e, JOB_PROVE);
	if (!j)
		return;
	free(j->name);
	j->name = sync_conflict_name(e->base, e->s_name, n);
	j->d_sub = y->d_sub;
	free(j->d_name);
	j->d_name = xstrdup(y->d_name);
	buf_printf(&rn, "%s/%s", j->sub == 'c' ? "cur" : "new", j->name);
	free((char *)fo->rows[j->row].m.name);
	fo->rows[j->row].m.name = buf_detach(&rn);
	j->conflict_n = free_n;
}

/*
 * A message on both sides that the state never saw placed here: a run
 * whose state was lost, or another message of the same base name (a
 * delivery here, a restored backup).  A copy this tool placed beside
 * another message under a conflict name (md_conflict_base) and forgot is
 * proven first; else the file under the base name: one larger than the
 * source's message is another message at once; one the same size or
 * smaller is compared with the source's content once that is read
 * (sync_copy.c: the same is adopted, a strict prefix is a broken copy and
 * replaced, anything else a conflict).
 */
static void plan_prove(struct sync *s, struct folder *fo, struct msgtab *t,
		       size_t ei)
{
	struct msgent *e = &t->v[ei], *y;
	struct job *j;
	struct stat st;
	unsigned n, free_n;
	int dfd;

	/* The file here under the base name is not ours: the rows will not
	 * list it. */
	fo->inexact[e->d_sub == 'n'] = 1;
	y = find_conflict_copy(t, e, &n, &free_n);
	if (y) {
		prove_conflict_copy(s, fo, &t->v[ei], y, n, free_n);
		return;
	}
	dfd = sync_sub_fd(s, fo, e->d_sub);
	if (dfd < 0 ||
	    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) ||
	    (e->s_has_stat && (uint64_t)st.st_size > e->s_st.size)) {
		char *here = sync_msg_rel(fo, e->d_sub, e->d_name);

		j = queue_copy(s, fo, e, JOB_COPY);
		if (j && !(s->dry && dfd < 0))
			sync_job_conflict(s, j, sync_conflict_name(e->base,
					  e->s_name, free_n), here);
		free(here);
		return;
	}
	j = queue_copy(s, fo, e, JOB_PROVE);
	if (j)
		j->conflict_n = free_n;
}

/* A message only on the source that the state does not know: a copy,
 * unless an earlier run placed it here under a conflict name and the
 * state forgot (the other message of its base name gone since). */
static void plan_copy(struct sync *s, struct folder *fo, struct msgtab *t,
		      size_t ei)
{
	struct msgent *y = NULL;
	unsigned n, free_n;

	if (!t->v[ei].has_p)
		y = find_conflict_copy(t, &t->v[ei], &n, &free_n);
	if (y)
		prove_conflict_copy(s, fo, &t->v[ei], y, n, free_n);
	else
		(void)queue_copy(s, fo, &t->v[ei], JOB_COPY);
}

/* The messages the source has: renamed, kept in place or queued. */
static void plan_source_side(struct sync *s, struct folder *fo,
			     struct ustats *us, struct msgtab *t)
{
	size_t i;

	for (i = 0; i < t->n && !s->fatal; i++) {
		struct msgent *e = &t->v[i];

		switch (sync_plan_decide(e, s->o->delete)) {
		case SYNC_RENAME:
			apply_rename(s, fo, us, e);
			keep_in_place(s, fo, e);
			break;
		case SYNC_IN_PLACE:
			keep_in_place(s, fo, e);
			break;
		case SYNC_COPY:
			plan_copy(s, fo, t, i);
			break;
		case SYNC_PROVE:
			plan_prove(s, fo, t, i);
			break;
		case SYNC_RECOPY:
			if (e->d_sub != e->s_sub || strcmp(e->d_name, e->s_name))
				apply_rename(s, fo, us, e);
			(void)queue_copy(s, fo, e, JOB_RECOPY);
			break;
		case SYNC_LOST_HERE:
			/* The state knows it but the destination lost it:
			 * list this folder again next time. */
			fo->errors++;
			break;
		default:	/* not on the source: plan_dest_only() */
			break;
		}
	}
}

/* A message only here that the state proves came from the source, with
 * --delete, once the limit allows: deleted, and its state row with it. */
static void apply_delete(struct sync *s, const struct pending_del *d)
{
	struct folder *fo = d->fo;
	char *rel = sync_msg_rel(fo, d->d_sub, d->d_name);
	struct ustats *us = sync_user_stats(s, fo->user);
	int err = 0;

	sync_plan_line(s, "delete", rel, NULL);
	if (!s->dry) {
		int dfd = sync_sub_fd(s, fo, d->d_sub);

		sync_dest_changing(s, fo, d->d_sub);
		if (dfd < 0 || unlinkat(dfd, d->d_name, 0) < 0)
			err = errno ? errno : ENOENT;
		else
			sync_step();
		sync_dest_changed(s, fo, d->d_sub);
	}
	if (err == ENOENT && d->trusted) {
		/* Renamed there since the last run, perhaps:
		 * the row stays, for the next run to find it. */
		log_verbose("%s: changed on the destination since "
			    "the last run; read again next run",
			    rel);
		fo->errors++;
		fo->inexact[d->d_sub == 'n'] = 1;
	} else if (err && err != ENOENT) {
		sync_item_failed(s, SYNC_DEST_BAD, fo, rel, "cannot delete",
				 err);
	} else {
		s->total.deleted++;
		us->deleted++;
		row_add(fo, d->base, d->d_sub, d->d_name, 0, 0,
			0, 0, NULL, 1);
	}
	free(rel);
}

/* The limit on deletions of one run: --max-delete, else a tenth of the
 * messages the state knows came from the source, and at least 100.  A
 * cold sync after a hot sync deletes what was expunged in between, far
 * below that; a source that lost a large part of its mail goes over it. */
static int64_t delete_limit(struct sync *s)
{
	int64_t known;

	if (s->o->max_delete >= 0)
		return s->o->max_delete;
	known = state_msgs_count(&s->state, NULL);
	return known / 10 > 100 ? known / 10 : 100;
}

/* Adds n to user's count in `users` (keys and values allocated). */
static void count_user(struct strmap *users, const char *user, int64_t n)
{
	int64_t *v = strmap_get(users, user);

	if (!v) {
		v = xcalloc(1, sizeof *v);
		strmap_put(users, xstrdup(user), v);
	}
	*v += n;
}

/* Says what a refused --delete would have removed, per user. */
static void refuse_deletions(struct sync *s, int64_t total, int64_t limit)
{
	struct strmap users;
	struct buf list = BUF_INIT, user = BUF_INIT;
	size_t i, shown = 0;

	memset(&users, 0, sizeof users);
	for (i = 0; i < s->ndels; i++)
		count_user(&users, s->dels[i].fo->user, 1);
	for (i = 0; i < s->ndv; i++) {
		struct dnode *d = s->dv[i];

		if (d->kind != DN_FOLDER || !d->vanished || !d->in_state)
			continue;
		md_user_of(d->path, &user);
		count_user(&users, user.data ? user.data : "",
			   state_msgs_count(&s->state, d->path));
	}
	for (i = 0; i < users.cap; i++) {
		if (!users.v || !users.v[i].key)
			continue;
		if (shown++ < 20)
			buf_printf(&list, "  %s: %lld\n", users.v[i].key,
				   (long long)*(int64_t *)users.v[i].val);
		free(users.v[i].val);
		free((char *)users.v[i].key);
	}
	log_error("--delete refused: %lld messages would be deleted here, "
		  "more than the limit of %lld%s.  Per user:\n%s%sNothing "
		  "was deleted.  If the old server really lost them, run "
		  "again with --max-delete %lld (or --force-delete)",
		  (long long)total, (long long)limit, s->o->max_delete >= 0 ?
		  " (--max-delete)" : " (a tenth of the messages, at least "
		  "100)", list.data ? list.data : "", shown > 20 ?
		  "  ...\n" : "", (long long)total);
	strmap_release(&users);
	buf_release(&list);
	buf_release(&user);
}

int sync_plan_deletions(struct sync *s)
{
	int64_t total = (int64_t)s->ndels, limit;
	size_t i;
	int rc = MM_OK;

	rc = sync_guard_mailboxes(s);
	if (rc == MM_OK && s->o->delete && !s->o->force_delete) {
		for (i = 0; i < s->ndv; i++) {
			struct dnode *d = s->dv[i];

			if (d->kind == DN_FOLDER && d->vanished && d->in_state)
				total += state_msgs_count(&s->state, d->path);
		}
		if (total > 100 || (s->o->max_delete >= 0 &&
				    total > s->o->max_delete)) {
			limit = delete_limit(s);
			if (total > limit) {
				refuse_deletions(s, total, limit);
				rc = MM_EDIFF;
			}
		}
	}
	for (i = 0; i < s->ndels; i++) {
		struct folder *fo = s->dels[i].fo;

		if (rc == MM_OK && !s->fatal)
			apply_delete(s, &s->dels[i]);
		free(s->dels[i].base);
		free(s->dels[i].d_name);
		if (fo->pending && --fo->pending == 0)
			VEC_PUSH(s->ready, s->nready, s->capready, fo);
	}
	free(s->dels);
	s->dels = NULL;
	s->ndels = s->capdels = 0;
	return rc;
}

/* The messages only here: deleted (--delete, from the source), kept and
 * counted (from the source), or kept (the destination's own). */
static void plan_dest_only(struct sync *s, struct folder *fo,
			   struct ustats *us, struct msgtab *t)
{
	size_t i;

	for (i = 0; i < t->n && !s->fatal; i++) {
		struct msgent *e = &t->v[i];
		enum sync_action a = sync_plan_decide(e, s->o->delete);
		char *rel;

		if ((a != SYNC_DELETE && a != SYNC_KEEP_GONE &&
		     a != SYNC_KEEP_OWN) || e->claimed)
			continue;
		rel = sync_msg_rel(fo, e->d_sub, e->d_name);
		if (a == SYNC_DELETE) {
			struct pending_del d;

			d.fo = fo;
			d.base = xstrdup(rowkey(e));
			d.d_sub = e->d_sub;
			d.d_name = xstrdup(e->d_name);
			d.trusted = fo->trusted[e->d_sub == 'n'];
			VEC_PUSH(s->dels, s->ndels, s->capdels, d);
			/* Not ready before its deletions are done. */
			fo->pending++;
		} else if (a == SYNC_KEEP_GONE) {
			s->total.src_gone++;
			us->src_gone++;
			if (!p_names(e, e->d_sub, e->d_name))
				fo->inexact[e->d_sub == 'n'] = 1;
			if (!e->p_gone && strlen(e->p_name) > 4)
				row_add(fo, rowkey(e), e->p_name[0],
					e->p_name + 4, e->p_dev, e->p_ino,
					e->p_size, 1, NULL, 0);
		} else {
			sync_plan_line(s, "keep", rel, NULL);
			s->total.kept_only++;
			us->kept_only++;
			fo->inexact[e->d_sub == 'n'] = 1;
		}
		free(rel);
	}
}

/* Rows for files gone from both sides. */
static void forget_gone(struct sync *s, struct folder *fo, struct msgtab *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct msgent *e = &t->v[i];

		if (sync_plan_decide(e, s->o->delete) == SYNC_FORGET &&
		    strlen(e->p_name) > 4)
			row_add(fo, rowkey(e), e->p_name[0], e->p_name + 4,
				0, 0, 0, 0, NULL, 1);
	}
}

/* Dovecot's files of the folder for step 5, when its directory was
 * listed: those the state does not record as copied as they are now, or
 * that are missing here. */
static void plan_meta_files(struct sync *s, struct folder *fo,
			    struct dnode *fd_node, struct fentry **files,
			    size_t nfiles)
{
	size_t i;

	if (!fd_node->listed)
		return;
	for (i = 0; i < nfiles; i++) {
		struct fentry *f = files[i];
		uint64_t size, ino;
		int64_t ms;
		uint32_t mns;
		struct stat dst;

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

/* Plans and does the renames and deletions of one folder; queues its
 * copies.  Returns MM_OK or a fatal exit code. */
int sync_plan_folder(struct sync *s, struct dnode *fd_node,
		     struct fentry **files, size_t nfiles)
{
	struct dnode *cur = sync_child_named(fd_node, "cur");
	struct dnode *nw = sync_child_named(fd_node, "new");
	struct folder *fo = folder_new(s, fd_node);
	struct ustats *us = sync_user_stats(s, fo->user);
	struct msgtab t;

	memset(&t, 0, sizeof t);
	/* The source: listed subdirectories, else the state's names. */
	source_listed(s, &t, files, nfiles, cur, nw);
	if (state_msgs_each(&s->state, fo->path, sync_msgtab_state_cb, &t) < 0) {
		sync_msgtab_release(&t);
		return MM_EDEST;
	}
	if (strmap_get(&s->intent_folders, fo->path)) {
		fo->intents = 1;
		if (state_intents_each(&s->state, fo->path, intent_cb, &t) < 0) {
			sync_msgtab_release(&t);
			return MM_EDEST;
		}
	}
	source_from_state(&t, cur, nw);
	resolve_aliases(&t);
	if (load_dest(s, fo, &t, cur, nw) == 0) {
		promote_intents(s, fo, &t);
		plan_source_side(s, fo, us, &t);
		plan_dest_only(s, fo, us, &t);
		forget_gone(s, fo, &t);
	}
	sync_msgtab_release(&t);
	plan_meta_files(s, fo, fd_node, files, nfiles);
	fo->planned = 1;
	sync_folder_close_fds(fo);
	if (!fo->pending)
		VEC_PUSH(s->ready, s->nready, s->capready, fo);
	return s->fatal ? MM_EDEST : MM_OK;
}
