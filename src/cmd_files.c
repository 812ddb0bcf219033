/*
 * cmd_files.c: `mailmove files`, certificates, DKIM keys and rspamd's
 * signing setup.
 *
 * Each PATH (by default those of /etc/letsencrypt, /var/lib/rspamd/dkim,
 * /etc/rspamd/dkim_selectors.map, /etc/rspamd/local.d/dkim_signing.conf
 * and /etc/rspamd/local.d/arc.conf present on the old server) goes to the
 * same path on the destination, through the one file-tree sync
 * (treesync.c) with content comparison always on: these files are few and
 * small, and a tampered file with the same size and mtime must not pass.
 *
 * Order: list every PATH on the old server, check every owner against the
 * destination (a missing user or group stops the run before anything is
 * written), report symlinks that leave the copied trees or lead nowhere,
 * sync, then check what arrived with libcrypto.  The checks are in
 * files_check.c, this file plans, syncs and reports.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"
#include "files_check.h"
#include "fsops.h"
#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "owners.h"
#include "remote.h"
#include "treesync.h"
#include "banned.h"

static const char *const default_paths[] = {
	"/etc/letsencrypt",
	"/var/lib/rspamd/dkim",
	"/etc/rspamd/dkim_selectors.map",
	"/etc/rspamd/local.d/dkim_signing.conf",
	"/etc/rspamd/local.d/arc.conf",
};
#define NDEFAULT (sizeof default_paths / sizeof default_paths[0])

struct files_run {
	struct mm_ctx *ctx;
	struct endpoint *ep;
	const char *root;
	struct fpath *v;
	size_t n;
	int explicit_paths;
	struct idmap src_ids, dst_ids;
	struct owner_map owners;
	struct ts_stats total;
	const char *cur_anc;	/* for the note callback */
	unsigned warnings;
	unsigned item_errors;
};

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

static const char *shown_action(const char *action, int dry)
{
	static const char *const map[][3] = {
		{ "copy", "copied", "copy" },
		{ "update", "updated", "update" },
		{ "link", "linked", "link" },
		{ "mkdir", "mkdir", "mkdir" },
		{ "meta", "meta", "meta" },
		{ "same", "same", "same" },
		{ "vanished", "vanished", "vanished" },
		{ "error", "error", "error" },
	};
	size_t i;

	for (i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i][0], action))
			return map[i][dry ? 2 : 1];
	return action;
}

static void on_note(void *arg, const char *action, const struct ts_entry *e,
		    int err)
{
	struct files_run *r = arg;
	struct buf p = BUF_INIT, q = BUF_INIT;
	const char *shown = shown_action(action, r->ctx->dry_run);
	json_t *ev;

	files_full_path(&p, r->cur_anc, e->path);
	mm_quote(&q, p.data);
	if (strcmp(action, "same") || log_verbosity() >= 0)
		log_out("%-8s %s%s\n", shown, q.data,
			e->kind == 'd' ? "/" : "");
	ev = json_pack("{s:s, s:s, s:s%}", "path", p.data, "action", shown,
		       "kind", &e->kind, (size_t)1);
	if (err)
		json_object_set_new(ev, "error", json_string(strerror(err)));
	out_event("file", ev);
	buf_release(&p);
	buf_release(&q);
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

	if (r->ctx->dry_run)
		return;
	files_full_path(&shown, p->anc, "");
	fs_remove_stale_temps(anc_fd, shown.data);
	buf_release(&shown);
}

/* Syncs every present PATH.  Returns MM_OK, MM_EDIFF, or the exit code of
 * a failure that ends the run. */
static int sync_all(struct files_run *r)
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
		ts.flags = TS_CONTENT | (r->ctx->dry_run ? TS_DRY_RUN : 0);
		ts.note = on_note;
		ts.arg = r;
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

/* Takes PATH operands (absolute), or the defaults. */
static int take_paths(struct files_run *r, int argc, char **argv, int first)
{
	int i;

	r->explicit_paths = first < argc;
	r->n = r->explicit_paths ? (size_t)(argc - first) : NDEFAULT;
	r->v = xcalloc(r->n, sizeof *r->v);
	for (i = 0; (size_t)i < r->n; i++) {
		const char *s = r->explicit_paths ? argv[first + i]
						  : default_paths[i];
		size_t len;

		if (*s != '/') {
			log_error("files: %s: give absolute paths", s);
			return MM_EUSAGE;
		}
		while (*s == '/')
			s++;
		len = strlen(s);
		while (len && s[len - 1] == '/')
			len--;
		r->v[i].rel = xstrndup(s, len);
		if (!len || !mm_relpath_valid(r->v[i].rel, len)) {
			log_error("files: %s: not a plain path below / (no "
				  "\"..\", \".\" or empty components)",
				  argv[first + i]);
			return MM_EUSAGE;
		}
	}
	return MM_OK;
}

static void files_run_release(struct files_run *r)
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

static void summary(struct files_run *r, const struct certcheck *cc,
		    int checked, int rc)
{
	const struct ts_stats *s = &r->total;
	json_t *res;

	log_out("\n%s%llu copied, %llu updated, %llu linked, %llu "
		"directories made, %llu same, %llu meta, %llu errors",
		r->ctx->dry_run ? "dry run, nothing written: " : "",
		(unsigned long long)s->copied, (unsigned long long)s->updated,
		(unsigned long long)s->links, (unsigned long long)s->dirs,
		(unsigned long long)s->same, (unsigned long long)s->meta,
		(unsigned long long)(s->errors + r->item_errors));
	if (checked)
		log_out("; checks: %u ok, %u failed", cc->checked - cc->failed,
			cc->failed);
	if (r->warnings + (checked ? cc->warnings : 0)) {
		unsigned w = r->warnings + (checked ? cc->warnings : 0);
		log_out("; %u warning%s", w, w == 1 ? "" : "s");
	}
	log_out("\n");
	res = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
			"copied", (json_int_t)s->copied,
			"updated", (json_int_t)s->updated,
			"linked", (json_int_t)s->links,
			"dirs", (json_int_t)s->dirs,
			"same", (json_int_t)s->same,
			"meta", (json_int_t)s->meta,
			"vanished", (json_int_t)s->vanished,
			"errors", (json_int_t)(s->errors + r->item_errors),
			"bytes", (json_int_t)s->bytes,
			"dry_run", r->ctx->dry_run);
	json_object_set_new(res, "changes", json_integer((json_int_t)(
		s->copied + s->updated + s->links + s->dirs + s->meta)));
	json_object_set_new(res, "checks", json_integer(checked ?
							cc->checked : 0));
	json_object_set_new(res, "checks_failed", json_integer(checked ?
							       cc->failed : 0));
	json_object_set_new(res, "warnings", json_integer(r->warnings +
			    (checked ? cc->warnings : 0)));
	json_object_set_new(res, "exit", json_integer(rc));
	out_result(res);
}

int cmd_files(struct mm_ctx *ctx, int argc, char **argv)
{
	struct files_run r;
	struct certcheck cc;
	size_t i, bad;
	int first, rc, checked = 0;

	rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (!ctx->dry_run && (rc = mm_lock_command(ctx)))
		return rc;
	if (first < argc && !ctx->from && argv[first][0] != '/')
		ctx->from = argv[first++];
	memset(&r, 0, sizeof r);
	memset(&cc, 0, sizeof cc);
	r.ctx = ctx;
	r.root = mm_dest_root(ctx);
	rc = take_paths(&r, argc, argv, first);
	if (rc)
		goto out_noep;
	rc = ep_open_ctx(ctx, &r.ep);
	if (rc)
		goto out_noep;
	if (idmap_load_remote(r.ep, &r.src_ids) < 0)
		goto lost;
	idmap_load_local(r.root, &r.dst_ids);
	r.owners.src = &r.src_ids;
	r.owners.dst = &r.dst_ids;

	/* 1. What the old server has. */
	{
		char **paths = xcalloc(r.n, sizeof *paths);

		for (i = 0; i < r.n; i++)
			paths[i] = r.v[i].rel;
		rc = remote_stat(r.ep, paths, r.n, stat_cb, &r);
		free(paths);
		if (rc < 0)
			goto lost;
	}
	for (i = 0; i < r.n; i++) {
		struct fpath *p = &r.v[i];

		if (!p->present) {
			if (!r.explicit_paths) {
				log_out("%-8s /%s (not on the old server)\n",
					"absent", p->rel);
				out_event("file", json_pack("{s:s+, s:s}",
					  "path", "/", p->rel, "action",
					  "absent"));
			}
			continue;
		}
		rc = find_ancestor(&r, p);
		if (rc)
			goto out;
		if (plan_path(&r, p) < 0)
			goto lost;
	}
	/* 2. Every owner exists here, or nothing is written. */
	bad = files_check_owners(r.v, r.n, &r.owners);
	if (bad) {
		log_error("%zu entries have owners missing on this server; "
			  "nothing was written (create the users and groups, "
			  "for instance by installing rspamd, then rerun)",
			  bad);
		rc = MM_EUSAGE;
		goto out;
	}
	/* 3. Symlinks are copied as symlinks, never followed. */
	if (files_check_links(r.ep, r.v, r.n, &r.warnings) < 0)
		goto lost;
	/* 4. The copy. */
	rc = sync_all(&r);
	if (rc != MM_OK && rc != MM_EDIFF)
		goto out;
	/* 5. The checks, on what is now on this server. */
	if (ctx->dry_run) {
		log_info("dry run: the certificate and key checks run after a "
			 "real copy");
	} else {
		log_out("\n");
		if (files_check_copied(r.root, r.v, r.n, &cc) == MM_OK)
			checked = 1;
		if (cc.failed)
			rc = MM_EDIFF;
	}
	if (r.item_errors && rc == MM_OK)
		rc = MM_EDIFF;
out:
	summary(&r, &cc, checked, rc);
	ep_close(r.ep);
	files_run_release(&r);
	return rc;
lost:
	rc = ep_exit_code(r.ep);
	goto out;
out_noep:
	files_run_release(&r);
	return rc;
}
