/*
 * sync.c: the Maildir engine's run (see sync.h): the steps in order, the
 * file-tree step, the report, and the hidden step switch of the tests.
 *
 * One run:
 *  1. find what changed on the old server: the first run lists the whole
 *     tree; later runs stat every directory the state knows (one request)
 *     and list again only those whose mtime moved, plus new directories
 *     (sync_discover.c);
 *  2. directories, sieve scripts and other plain files go through the
 *     file-tree sync (treesync.c, from here);
 *  3. per folder: the source's messages (listed, or from the state when
 *     cur/ or new/ did not change) against the destination's cur/ and new/
 *     (read locally, or taken from the state's rows while the directory
 *     keeps the mtime recorded when the rows listed it exactly): renames
 *     for flag changes and moves, deletions with --delete when the state
 *     proves the file came from the source, copies queued (sync_plan.c);
 *  4. copies stream from the agent (two read requests in flight) into
 *     tmp/<base> with the source's mode, owner and mtime; every batch is
 *     made durable with one syncfs() and then renamed into cur/ or new/
 *     (sync_copy.c);
 *  5. a folder whose messages are all in place gets its Dovecot files
 *     (uidlist, keywords, ...) under the dotlock, its stale index files
 *     removed, and its state rows, committed after a second syncfs()
 *     (sync_meta.c);
 *  6. with --delete, folders and directories gone from the source go here
 *     too (sync_vanished.c).
 * sync_model.c holds the in-memory model, sync_dest.c a folder's
 * directories on the destination, sync_int.h the types between them.
 * Killed anywhere, the next run re-derives everything from the source and
 * the destination's own directories: the state only ever says less than
 * what is on disk, except for a destination directory whose mtime it
 * recorded, where it says exactly what is there (dest_unchanged() in
 * sync_plan.c).
 */
#include "sync_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "lock.h"
#include "log.h"
#include "maildir.h"
#include "relay_state.h"
#include "remote.h"
#include "banned.h"

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

/* ---- reporting ---- */

struct ustats *sync_user_stats(struct sync *s, const char *user)
{
	struct ustats *u = strmap_get(&s->users, user);

	if (!u) {
		u = xcalloc(1, sizeof *u);
		u->user = xstrdup(user);
		strmap_put(&s->users, u->user, u);
	}
	return u;
}

/* Records one failed item: logged now, listed again in the summary. */
void sync_item_failed(struct sync *s, enum sync_grade grade,
		      struct folder *fo, const char *rel, const char *what,
		      int err)
{
	struct buf q = BUF_INIT;

	mm_quote(&q, rel);
	log_error("%s: %s: %s", q.data, what, strerror(err));
	out_event("failed", json_pack("{s:o, s:s, s:s}", "path",
				      json_str_any(rel), "what", what,
				      "error", strerror(err)));
	if (s->nerrors < 1000)
		buf_printf(&s->errors, "  %s: %s: %s\n", q.data, what,
			   strerror(err));
	s->nerrors++;
	s->total.errors++;
	if (grade == SYNC_ITEM_BAD && err == ESTALE)
		s->nchanged++;
	if (fo) {
		fo->errors++;
		sync_user_stats(s, fo->user)->errors++;
	}
	if (grade == SYNC_DEST_BAD && fs_errno_fatal(err) && !s->fatal)
		s->fatal = err;
	buf_release(&q);
}

void sync_item_skipped(struct sync *s, const char *rel, const char *why)
{
	struct buf q = BUF_INIT, user = BUF_INIT;

	mm_quote(&q, rel);
	log_error("%s: %s", q.data, why);
	out_event("skipped", json_pack("{s:o, s:s}", "path", json_str_any(rel),
				       "why", why));
	if (s->nerrors < 1000)
		buf_printf(&s->errors, "  %s: %s\n", q.data, why);
	s->nerrors++;
	s->total.errors++;
	md_user_of(rel, &user);
	sync_user_stats(s, user.data ? user.data : "")->errors++;
	buf_release(&user);
	buf_release(&q);
}

static int intent_folder_cb(void *arg, const char *folder)
{
	struct strmap *m = arg;

	if (!strmap_get(m, folder))
		strmap_put(m, xstrdup(folder), (void *)1);
	return 0;
}

/* The plan line of a dry run (or of --verbose). */
void sync_plan_line(struct sync *s, const char *action, const char *path,
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

/* ---- step 2: directories and plain files ---- */

static int by_depth(const void *a, const void *b)
{
	const struct ts_entry *x = a, *y = b;
	int dx = sync_depth_of(x->path), dy = sync_depth_of(y->path);

	if (dx != dy)
		return dx < dy ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* A file of a listed directory that the file-tree sync owns. */
static int is_plain_file(const struct fentry *f)
{
	if (f->parent->vanished || f->kind == 'X')
		return 0;
	if (f->parent->kind == DN_PLAIN)
		return 1;
	return f->parent->kind == DN_FOLDER && md_classify(f->name) == MD_OTHER;
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
		if (d->vanished || d->kind == DN_IGNORED || !d->have_now || d->failed)
			continue;
		/* Every directory seen in a listing is made sure of. */
		if (d->is_new || d->listed || (d->parent && d->parent->listed)) {
			/* A scan for stale temporaries would read all of a
			 * big cur/ for nothing: sync writes none there. */
			ts_list_push(&l, d->path, 'd', &d->now, NULL)->no_temps =
				d->kind == DN_CUR || d->kind == DN_NEW || d->kind == DN_TMP;
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
			sync_plan_line(s, l.v[i].kind == 'd' ? "mkdir" : "copy",
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
		s->total.errors += ts.st.errors;	/* the result's count */
		s->nchanged += ts.st.changed;
		buf_printf(&s->errors, "  %llu other files or directories "
			   "(listed above)\n", (unsigned long long)ts.st.errors);
		for (i = 0; i < s->ndv; i++)
			if (s->dv[i]->kind == DN_PLAIN)
				s->dv[i]->failed = 1;
		rc = MM_OK;
	}
	return rc;
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
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "copied", (json_int_t)u->copied,
			 "linked", (json_int_t)u->linked,
			 "renamed", (json_int_t)u->renamed,
			 "deleted", (json_int_t)u->deleted,
			 "kept_only_on_destination", (json_int_t)u->kept_only,
			 "gone_from_source_kept", (json_int_t)u->src_gone,
			 "bytes", (json_int_t)u->bytes,
			 "conflicts", (json_int_t)u->conflicts,
			 "errors", (json_int_t)u->errors);
}

static void report(struct sync *s, int rc)
{
	char hb[32];

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
	if (s->total.conflicts)
		log_warn("%llu conflicts: messages here with an old-server "
			 "message's base name and other content were left "
			 "alone, the old server's copied beside them (named "
			 "above)", (unsigned long long)s->total.conflicts);
	if (s->nerrors)
		log_error("%llu items failed and were skipped:\n%s",
			  (unsigned long long)s->nerrors,
			  s->errors.data ? s->errors.data : "");
	if (s->nchanged)
		log_warn("%llu of them changed on the old server while they "
			 "were read (its Dovecot is writing): the next run "
			 "copies them", (unsigned long long)s->nchanged);
	if (log_json()) {
		json_t *users = json_object(), *res;
		const struct strmap_entry *en;
		size_t pos = 0;

		while ((en = strmap_next(&s->users, &pos))) {
			struct ustats *u = en->val;
			json_object_set_new(users, u->user, ustats_json(u));
		}
		res = ustats_json(&s->total);
		json_object_set_new(res, "files_copied",
				    json_integer((json_int_t)s->files.copied));
		json_object_set_new(res, "files_updated",
				    json_integer((json_int_t)s->files.updated));
		json_object_set_new(res, "changed_while_read",
				    json_integer((json_int_t)s->nchanged));
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

	rc = sync_discover(s);
	if (rc)
		return rc;
	rc = sync_check_source(s);
	if (!rc)
		rc = sync_guard_source(s);
	if (!rc)
		rc = sync_clean_tmp(s);
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

		if (!d->vanished && d->kind != DN_IGNORED &&
		    (!d->in_state || d->is_new))
			state_dir_put(&s->state, d->path, d->kind, 0, 0);
		else if (d->in_state && d->kind == DN_IGNORED)
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
		if (s->dv[i]->kind == DN_PLAIN)
			sync_put_dir_mtime(s, s->dv[i], 1);
	if (state_commit(&s->state) < 0)
		return MM_EDEST;

	/* The listed files of each directory, for the folders. */
	byparent = xcalloc(s->ndv + 1, sizeof *byparent);
	nby = xcalloc(s->ndv + 1, sizeof *nby);
	capby = xcalloc(s->ndv + 1, sizeof *capby);
	{
		struct strmap idx = STRMAP_INIT;
		size_t *ids = xcalloc(s->ndv + 1, sizeof *ids);

		for (i = 0; i < s->ndv; i++) {
			ids[i] = i;
			strmap_put(&idx, s->dv[i]->path, &ids[i]);
		}
		for (i = 0; i < s->nfv; i++) {
			struct fentry *f = &s->fv[i];
			struct dnode *folder = f->parent;
			size_t *k;

			if (f->parent->kind == DN_CUR || f->parent->kind == DN_NEW)
				folder = f->parent->parent;
			else if (f->parent->kind != DN_FOLDER)
				continue;
			k = strmap_get(&idx, folder->path);
			if (k)
				VEC_PUSH(byparent[*k], nby[*k], capby[*k], f);
		}
		for (i = 0; i < s->ndv && !rc; i++) {
			struct dnode *d = s->dv[i], *c, *n;

			if (d->kind != DN_FOLDER || d->vanished)
				continue;
			c = sync_child_named(d, "cur");
			n = sync_child_named(d, "new");
			if (!d->listed && !d->is_new && !(c && (c->listed || c->is_new)) &&
			    !(n && (n->listed || n->is_new)))
				continue;
			rc = sync_plan_folder(s, d, byparent[i], nby[i]);
			/* Not while a deletion waits for the run's count. */
			if (s->nready >= FLUSH_FOLDERS && !s->njobs &&
			    !s->ndels && !rc)
				rc = sync_flush(s);
		}
		for (i = 0; i < s->ndv; i++)
			free(byparent[i]);
		strmap_release(&idx);
		free(ids);
	}
	free(byparent);
	free(nby);
	free(capby);
	if (!rc)
		rc = sync_plan_deletions(s);
	if (rc)
		return rc;
	log_debug("timing: planning %.3f s (%zu folders, %zu copies; "
		  "destination cur/ and new/: %zu read, %zu from the state)",
		  mm_now() - t, s->nfolders, s->njobs, s->dest_read,
		  s->dest_trusted);
	t = mm_now();
	rc = sync_run_jobs(s);
	if (rc)
		return rc;
	log_debug("timing: copies and commits %.3f s", mm_now() - t);
	return sync_handle_vanished(s);
}

/* The run's fields from its options; `src` gets the source root without
 * its trailing slashes. */
static void sync_init(struct sync *s, struct mm_ctx *ctx,
		      const struct sync_opts *o, struct buf *src)
{
	memset(s, 0, sizeof *s);
	s->ctx = ctx;
	s->o = o;
	s->dry = ctx->dry_run;
	s->dst_fd = -1;
	step_setup();
	raise_fd_limit();
	gethostname(s->hostname, sizeof s->hostname - 1);
	buf_addstr(src, o->src);
	while (src->len > 1 && src->data[src->len - 1] == '/')
		src->data[--src->len] = '\0';
	s->src = src->data;
	{
		struct buf dn = BUF_INIT;
		buf_addstr(&dn, mm_dest_root(ctx));
		while (dn.len > 1 && dn.data[dn.len - 1] == '/')
			dn.data[--dn.len] = '\0';
		if (*o->dest != '/' && dn.len && dn.data[dn.len - 1] != '/')
			buf_putc(&dn, '/');
		buf_addstr(&dn, !strcmp(mm_dest_root(ctx), "/") && *o->dest == '/' ?
			   o->dest + 1 : o->dest);
		s->dest_name = buf_detach(&dn);
	}
}

/* This server's users and groups, and the owner map: by name, or forced
 * with --chown.  MM_OK or an exit code (reported). */
static int load_owners(struct sync *s)
{
	int e;

	e = idmap_load_local(mm_dest_root(s->ctx), &s->dst_ids);
	if (e) {
		log_error("cannot read this server's users and groups: %s",
			  strerror(e > 0 ? e : EIO));
		return MM_EDEST;
	}
	s->owners.src = &s->src_ids;
	s->owners.dst = &s->dst_ids;
	if (s->o->chown) {
		if (owner_parse_chown(&s->dst_ids, s->o->chown,
				      &s->owners.force_uid,
				      &s->owners.force_gid) < 0) {
			log_error("--chown %s: no such user or group on this "
				  "server (give USER:GROUP)", s->o->chown);
			return MM_EUSAGE;
		}
		s->owners.forced = 1;
	} else {
		e = idmap_load_remote(s->ep, &s->src_ids);
		if (e < 0)
			return ep_exit_code(s->ep);
		if (e > 0)
			log_warn("cannot read the old server's users: %s; "
				 "owners keep their numbers", strerror(e));
	}
	return MM_OK;
}

/* Frees what the run holds (not the state, released before). */
static void sync_release(struct sync *s)
{
	const struct strmap_entry *en;
	size_t i, pos;

	if (s->ep)
		ep_close(s->ep);
	if (s->dst_fd >= 0)
		close(s->dst_fd);
	idmap_release(&s->src_ids);
	idmap_release(&s->dst_ids);
	for (i = 0; i < s->nfolders; i++) {
		struct folder *fo = s->folders[i];
		size_t k;

		sync_folder_close_fds(fo);
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
	for (i = 0; i < s->njobs; i++) {
		free(s->jobs[i]->base);
		free(s->jobs[i]->name);
		free(s->jobs[i]->state_twin);
		free(s->jobs[i]->tmp);
		free(s->jobs[i]->d_name);
		free(s->jobs[i]->src);
		free(s->jobs[i]);
	}
	for (i = 0; i < s->ndv; i++) {
		free(s->dv[i]->path);
		free(s->dv[i]);
	}
	for (i = 0; i < s->nfv; i++) {
		free(s->fv[i].path);
		free(s->fv[i].target);
	}
	for (pos = 0; (en = strmap_next(&s->links, &pos)); ) {
		struct linkref *r = en->val;
		free(r->dest);
		free(r);
	}
	for (pos = 0; (en = strmap_next(&s->users, &pos)); ) {
		struct ustats *u = en->val;
		free(u->user);
		free(u);
	}
	strmap_release(&s->links);
	strmap_release(&s->users);
	for (pos = 0; (en = strmap_next(&s->intent_folders, &pos)); )
		free((char *)en->key);
	strmap_release(&s->intent_folders);
	strmap_release(&s->dirs);
	free(s->folders);
	free(s->jobs);
	free(s->dv);
	free(s->fv);
	free(s->ready);
	free(s->placed_wait);
	buf_release(&s->errors);
	free(s->dest_name);
}

/* Whether a local source (below --from) is the destination itself. */
static int same_tree(const struct mm_ctx *ctx, const char *src,
		     const char *dest)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct stat sa, sb;
	int same;

	buf_printf(&a, "%s/%s", ctx->from ? ctx->from : "/", src);
	buf_printf(&b, "%s/%s", mm_dest_root(ctx), dest);
	same = stat(a.data, &sa) == 0 && stat(b.data, &sb) == 0 &&
		sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	buf_release(&a);
	buf_release(&b);
	return same;
}

/*
 * After a cutover's new Dovecot has served users (its mark, made for this
 * --from), the old server's tree is older than this one: a sync from it
 * would undo what they did.  Refused without --after-cutover; a dry run
 * only warns.  MM_OK or MM_EDEST.
 */
static int served_refusal(const struct mm_ctx *ctx, const struct sync_opts *o,
			  int dry)
{
	struct served_info si;
	struct buf root = BUF_INIT, d = BUF_INIT, relay = BUF_INIT;
	int rc = MM_OK;

	if (o->after_cutover || !served_marked(ctx, &si))
		return MM_OK;
	buf_addstr(&root, mm_dest_root(ctx));
	while (root.len && root.data[root.len - 1] == '/')
		root.data[--root.len] = '\0';
	served_describe(&si, &d);
	if (dry) {
		log_warn("sync: the new Dovecot has served users %s (%s/var/lib/"
			 "mailmove/cutover-served): a real run is refused "
			 "without --after-cutover", d.data, root.data);
	} else {
		log_error("sync: the new Dovecot has served users %s (%s/var/"
			  "lib/mailmove/cutover-served): a sync from the old "
			  "server now would give messages back the flags they "
			  "have there, and bring back what users expunged here.  "
			  "%s  Give --after-cutover to sync anyway, or remove "
			  "the file if it is left from an earlier migration",
			  d.data, root.data,
			  relay_state_load(ctx, &relay) == 0 ?
			  "Mail that reaches the old server now is relayed "
			  "here (mailmove queue --from OLD shows its queue)." :
			  "Mail delivered on the old server since then is not "
			  "here: point its Postfix here (cutover --relay-to) "
			  "and compare with mailmove verify.");
		rc = MM_EDEST;
	}
	buf_release(&root);
	buf_release(&d);
	buf_release(&relay);
	return rc;
}

int sync_run(struct mm_ctx *ctx, const struct sync_opts *o)
{
	struct sync s;
	struct buf state_path = BUF_INIT, src = BUF_INIT;
	int rc, e;

	sync_init(&s, ctx, o, &src);
	rc = ep_open_ctx(ctx, &s.ep);
	if (rc)
		goto out_nostate;
	if (s.ep->local && same_tree(ctx, s.src, o->dest)) {
		log_error("sync: the source and the destination are the same "
			  "directory");
		rc = MM_EUSAGE;
		goto out_nostate;
	}
	if (o->state_path)
		buf_addstr(&state_path, o->state_path);
	else
		state_default_path(mm_dest_root(ctx), ctx->from, s.src, o->dest,
				   &state_path);

	rc = load_owners(&s);
	if (rc)
		goto out_nostate;
	e = fs_open_base(mm_dest_root(ctx), o->dest, !s.dry, &s.dst_fd);
	if (e && !(s.dry && e == ENOENT)) {
		log_error("%s: cannot open the destination: %s", s.dest_name,
			  strerror(e));
		rc = MM_EDEST;
		goto out_nostate;
	}
	if (!s.dry) {
		/* One run at a time on this destination and on this state
		 * (a dry run only reads). */
		struct buf lk = BUF_INIT;

		buf_printf(&lk, "%s.lock", state_path.data);
		rc = mm_lock_command(ctx);
		if (!rc)
			rc = mm_lock_path(lk.data, "sync");
		buf_release(&lk);
		if (rc)
			goto out_nostate;
	}
	rc = served_refusal(ctx, o, s.dry);
	if (rc)
		goto out_nostate;
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
	s.tmp_dirty = !s.dry && state_flag_get(&s.state, "tmp_dirty") > 0;
	if (!s.dry && state_intent_folders(&s.state, intent_folder_cb,
					   &s.intent_folders) < 0) {
		rc = MM_EDEST;
		goto out;
	}
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
	sync_release(&s);
	buf_release(&state_path);
	buf_release(&src);
	return rc;
}
