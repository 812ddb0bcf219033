/*
 * files_check.c: the checks of `mailmove files` (see files_check.h):
 * before the copy on the old server's listing, after it on what arrived.
 */
#include "files_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "fsops.h"
#include "log.h"
#include "proto.h"
#include "remote.h"
#include "banned.h"

const char *files_base_of(const char *rel)
{
	const char *slash = strrchr(rel, '/');

	return slash ? slash + 1 : rel;
}

void files_full_path(struct buf *out, const char *anc, const char *path)
{
	buf_reset(out);
	buf_putc(out, '/');
	buf_addstr(out, anc);
	if (*anc && *path)
		buf_putc(out, '/');
	buf_addstr(out, path);
}

size_t files_check_owners(const struct fpath *v, size_t n,
			  const struct owner_map *om)
{
	struct buf why = BUF_INIT, q = BUF_INIT;
	size_t i, j, bad = 0;

	for (i = 0; i < n; i++) {
		const struct fpath *p = &v[i];

		for (j = 0; j < p->list.n; j++) {
			const struct ts_entry *e = &p->list.v[j];
			uint32_t u, g;

			buf_reset(&why);
			if (owner_map_ids(om, e->st.uid, e->st.gid, &u,
					  &g, &why) == 0)
				continue;
			files_full_path(&q, p->anc, e->path);
			if (bad++ < 10)
				log_error("%s: %s", q.data, why.data);
			out_event("owner_missing",
				  json_pack("{s:s, s:s}", "path", q.data,
					    "why", why.data));
		}
	}
	buf_release(&why);
	buf_release(&q);
	return bad;
}

/* Resolves a link target against the link's directory, lexically ("." and
 * ".." removed; ".." stops at "/"), into an absolute path. */
static void resolve_target(const char *link_abs, const char *target,
			   struct buf *out)
{
	struct buf tmp = BUF_INIT;
	const char *p, *seg;

	if (*target == '/') {
		buf_addstr(&tmp, target);
	} else {
		const char *slash = strrchr(link_abs, '/');
		buf_add(&tmp, link_abs, (size_t)(slash - link_abs));
		buf_putc(&tmp, '/');
		buf_addstr(&tmp, target);
	}
	buf_reset(out);
	for (p = buf_cstr(&tmp); *p;) {
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		n = strcspn(seg, "/");
		p += n;
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			char *last = out->len ? strrchr(out->data, '/') : NULL;
			if (last) {
				out->len = (size_t)(last - out->data);
				out->data[out->len] = '\0';
			}
			continue;
		}
		buf_putc(out, '/');
		buf_add(out, seg, n);
	}
	if (!out->len)
		buf_putc(out, '/');
	buf_release(&tmp);
}

/* The entry at absolute path `abs` among everything listed, or NULL;
 * *inside says whether abs lies in one of the copied PATHs. */
static const struct ts_entry *find_listed(const struct fpath *v, size_t n,
					  const char *abs, int *inside)
{
	struct buf q = BUF_INIT;
	const struct ts_entry *found = NULL;
	size_t i, j;

	*inside = 0;
	for (i = 0; i < n && !found; i++) {
		const struct fpath *p = &v[i];
		size_t rl = strlen(p->rel);

		if (!p->present || strncmp(abs + 1, p->rel, rl) ||
		    (abs[1 + rl] != '/' && abs[1 + rl] != '\0'))
			continue;
		*inside = 1;
		for (j = 0; j < p->list.n; j++) {
			files_full_path(&q, p->anc, p->list.v[j].path);
			if (!strcmp(q.data, abs)) {
				found = &p->list.v[j];
				break;
			}
		}
	}
	buf_release(&q);
	return found;
}

static int exists_cb(void *arg, uint32_t index, int err,
		     const struct mm_stat *st)
{
	(void)index;
	(void)st;
	*(int *)arg = err;
	return 0;
}

int files_check_links(struct endpoint *ep, const struct fpath *v, size_t n,
		      unsigned *warnings)
{
	struct buf abs = BUF_INIT, res = BUF_INIT, q = BUF_INIT,
		   qt = BUF_INIT;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		const struct fpath *p = &v[i];

		for (j = 0; j < p->list.n && rc == 0; j++) {
			const struct ts_entry *e = &p->list.v[j], *t;
			const char *problem = NULL;
			int inside = 0, hops = 0, err = 0;

			if (e->kind != 'l')
				continue;
			files_full_path(&abs, p->anc, e->path);
			resolve_target(abs.data, e->target, &res);
			/* Follow links inside the copied trees, as the
			 * kernel would, up to its own limit. */
			while ((t = find_listed(v, n, res.data, &inside)) &&
			       t->kind == 'l' && ++hops < 40) {
				struct buf next = BUF_INIT;
				resolve_target(res.data, t->target, &next);
				buf_reset(&res);
				buf_addstr(&res, next.data);
				buf_release(&next);
			}
			if (inside && (!t || hops >= 40)) {
				problem = "dangling";	/* or a loop */
			} else if (!inside) {
				char *path = xstrdup(res.data + 1);
				char *paths[1] = { path };

				if (*path && mm_relpath_valid(path, strlen(path)))
					rc = remote_stat(ep, paths, 1,
							 exists_cb, &err);
				free(path);
				problem = err == ENOENT ? "outside, dangling"
							: "outside";
			}
			if (!problem)
				continue;
			(*warnings)++;
			buf_reset(&q);
			buf_reset(&qt);
			mm_quote(&q, abs.data);
			mm_quote(&qt, e->target);
			if (!strcmp(problem, "dangling"))
				log_warn("%s -> %s: dangling link (its target "
					 "does not exist on the old server); "
					 "copied as it is", q.data, qt.data);
			else
				log_warn("%s -> %s: points outside the copied "
					 "files%s; copied as a symlink, its "
					 "target is not copied", q.data,
					 qt.data, err == ENOENT ?
					 " and its target does not exist" : "");
			out_event("link", json_pack("{s:s, s:s, s:s, s:b}",
				  "path", abs.data, "target", e->target,
				  "problem", problem, "dangling",
				  strstr(problem, "dangling") != NULL));
		}
	}
	buf_release(&abs);
	buf_release(&res);
	buf_release(&q);
	buf_release(&qt);
	return rc;
}

int files_check_copied(const char *root, const struct fpath *v, size_t n,
		       struct certcheck *cc)
{
	const char *dkim = NULL, *conf = NULL, *map = NULL;
	struct buf b1 = BUF_INIT, b2 = BUF_INIT, b3 = BUF_INIT;
	size_t i;
	int rootfd, e;

	e = fs_open_base(root, "", 0, &rootfd);
	if (e) {
		log_error("%s: %s", root, strerror(e));
		return MM_EDEST;
	}
	certcheck_init(cc, rootfd);
	for (i = 0; i < n; i++) {
		const struct fpath *p = &v[i];
		const char *base = files_base_of(p->rel);
		int fd;

		if (!p->present)
			continue;
		if (p->is_dir && !strcmp(base, "dkim")) {
			buf_printf(&b1, "/%s", p->rel);
			dkim = b1.data;
		} else if (!p->is_dir && !strcmp(base, "dkim_signing.conf")) {
			buf_printf(&b2, "/%s", p->rel);
			conf = b2.data;
		} else if (!p->is_dir && !strcmp(base, "dkim_selectors.map")) {
			buf_printf(&b3, "/%s", p->rel);
			map = b3.data;
		} else if (p->is_dir) {
			struct buf live = BUF_INIT;

			buf_printf(&live, "%s/live", p->rel);
			if (fs_open_in_root(rootfd, live.data, O_DIRECTORY,
					    &fd) == 0) {
				close(fd);
				certcheck_letsencrypt(cc, p->rel);
			}
			buf_release(&live);
		}
	}
	if (dkim || conf || map)
		certcheck_dkim(cc, dkim, conf, map);
	close(rootfd);
	buf_release(&b1);
	buf_release(&b2);
	buf_release(&b3);
	return MM_OK;
}

