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
 * sync, then check what arrived with libcrypto.  The plan and the copy
 * are in files_copy.c, the checks in files_check.c; this file takes the
 * PATHs, calls them in that order, and reports.
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
#include "files_copy.h"
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
	const char *shown = shown_action(action, r->dry_run);
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

static void summary(struct files_run *r, const struct certcheck *cc,
		    int checked, int rc)
{
	const struct ts_stats *s = &r->total;
	json_t *res;

	log_out("\n%s%llu copied, %llu updated, %llu linked, %llu "
		"directories made, %llu same, %llu meta, %llu errors",
		r->dry_run ? "dry run, nothing written: " : "",
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
			"dry_run", r->dry_run);
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
	r.dry_run = ctx->dry_run;
	r.note = on_note;
	r.note_arg = &r;
	r.root = mm_dest_root(ctx);
	rc = take_paths(&r, argc, argv, first);
	if (rc)
		goto out_noep;
	rc = ep_open_ctx(ctx, &r.ep);
	if (rc)
		goto out_noep;
	/* 1. What the old server has. */
	rc = files_list(&r);
	if (rc)
		goto out;
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
		rc = files_plan_path(&r, p);
		if (rc)
			goto out;
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
	rc = files_sync_all(&r);
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
