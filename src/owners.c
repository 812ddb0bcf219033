/* owners.c: owner mapping by name (see owners.h). */
#include "owners.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "fsops.h"
#include "log.h"
#include "remote.h"
#include "banned.h"

#define ID_FILE_MAX (16u << 20)

/* Parses "name:x:id:..." lines; keeps the first entry of each id and name. */
static void parse_db(const char *data, size_t len, struct idname **out,
		     size_t *n)
{
	const char *p = data, *end = data + len;
	size_t cap = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *c1, *c2, *c3;
		char *idend;
		unsigned long id;

		if (le > p && le[-1] == '\r')	/* a file edited elsewhere */
			le--;
		c1 = memchr(p, ':', (size_t)(le - p));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
		c3 = c2 ? memchr(c2 + 1, ':', (size_t)(le - c2 - 1)) : NULL;
		/* A group line may end right after its id ("name:x:115"). */
		if (c2 && !c3)
			c3 = le;
		if (c1 && c2 && c3 && c1 > p && *p != '#' && *p != '+' &&
		    *p != '-' && c3 > c2 + 1) {
			char num[16];
			size_t nl2 = (size_t)(c3 - c2 - 1);

			if (nl2 < sizeof num && c2[1] >= '0' && c2[1] <= '9') {
				memcpy(num, c2 + 1, nl2);
				num[nl2] = '\0';
				errno = 0;
				id = strtoul(num, &idend, 10);
				if (!errno && !*idend && id <= UINT32_MAX) {
					XGROW(*out, *n, cap, 64);
					(*out)[*n].id = (uint32_t)id;
					(*out)[*n].name = xstrndup(p, (size_t)(c1 - p));
					(*n)++;
				}
			}
		}
		p = nl ? nl + 1 : end;
	}
}

int idmap_parse(struct idmap *m, const char *passwd, size_t plen,
		const char *group, size_t glen)
{
	memset(m, 0, sizeof *m);
	parse_db(passwd, plen, &m->users, &m->nusers);
	parse_db(group, glen, &m->groups, &m->ngroups);
	return 0;
}

int idmap_load_remote(struct endpoint *ep, struct idmap *m)
{
	struct buf pw = BUF_INIT, gr = BUF_INIT;
	int rc;

	rc = remote_read_file(ep, "etc/passwd", &pw, ID_FILE_MAX, NULL);
	if (rc == 0)
		rc = remote_read_file(ep, "etc/group", &gr, ID_FILE_MAX, NULL);
	if (rc > 0) {
		log_warn("%s: cannot read its passwd or group: %s; owners "
			 "keep their numbers", ep->desc, strerror(rc));
		rc = 0;
	}
	if (rc == 0)
		idmap_parse(m, buf_cstr(&pw), pw.len, buf_cstr(&gr), gr.len);
	buf_release(&pw);
	buf_release(&gr);
	return rc;
}

/* passwd and group of another root: regular files only (fsops.h). */
static int slurp(const char *path, struct buf *out)
{
	return fs_read_file(path, 0, out, 64u << 20);
}

int idmap_load_local(const char *root, struct idmap *m)
{
	struct buf pw = BUF_INIT, gr = BUF_INIT, path = BUF_INIT;
	int rc;

	memset(m, 0, sizeof *m);
	if (!strcmp(root, "/")) {
		m->use_nss = 1;
		return 0;
	}
	buf_printf(&path, "%s/etc/passwd", root);
	rc = slurp(path.data, &pw);
	if (!rc) {
		buf_reset(&path);
		buf_printf(&path, "%s/etc/group", root);
		rc = slurp(path.data, &gr);
	}
	if (!rc)
		idmap_parse(m, buf_cstr(&pw), pw.len, buf_cstr(&gr), gr.len);
	else
		log_warn("%s: cannot read the destination's passwd or group: "
			 "%s", path.data, mm_strerror(rc));
	buf_release(&pw);
	buf_release(&gr);
	buf_release(&path);
	return 0;
}

void idmap_release(struct idmap *m)
{
	size_t i;

	for (i = 0; i < m->nusers; i++)
		free(m->users[i].name);
	for (i = 0; i < m->ngroups; i++)
		free(m->groups[i].name);
	free(m->users);
	free(m->groups);
	memset(m, 0, sizeof *m);
}

static const char *find_name(const struct idname *v, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id == id)
			return v[i].name;
	return NULL;
}

static int find_id(const struct idname *v, size_t n, const char *name,
		   uint32_t *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name)) {
			*id = v[i].id;
			return 0;
		}
	return -1;
}

const char *idmap_user_name(const struct idmap *m, uint32_t uid)
{
	if (m->use_nss) {
		struct passwd *pw = getpwuid(uid);
		return pw ? pw->pw_name : NULL;
	}
	return find_name(m->users, m->nusers, uid);
}

const char *idmap_group_name(const struct idmap *m, uint32_t gid)
{
	if (m->use_nss) {
		struct group *gr = getgrgid(gid);
		return gr ? gr->gr_name : NULL;
	}
	return find_name(m->groups, m->ngroups, gid);
}

int idmap_user_id(const struct idmap *m, const char *name, uint32_t *uid)
{
	if (m->use_nss) {
		struct passwd *pw = getpwnam(name);
		if (!pw)
			return -1;
		*uid = pw->pw_uid;
		return 0;
	}
	return find_id(m->users, m->nusers, name, uid);
}

int idmap_group_id(const struct idmap *m, const char *name, uint32_t *gid)
{
	if (m->use_nss) {
		struct group *gr = getgrnam(name);
		if (!gr)
			return -1;
		*gid = gr->gr_gid;
		return 0;
	}
	return find_id(m->groups, m->ngroups, name, gid);
}

int owner_map_ids(const struct owner_map *om, uint32_t uid, uint32_t gid,
		  uint32_t *nuid, uint32_t *ngid, struct buf *why)
{
	const char *un, *gn;

	if (om->forced) {
		*nuid = om->force_uid;
		*ngid = om->force_gid;
		return 0;
	}
	*nuid = uid;
	*ngid = gid;
	un = om->src ? idmap_user_name(om->src, uid) : NULL;
	gn = om->src ? idmap_group_name(om->src, gid) : NULL;
	if (un && idmap_user_id(om->dst, un, nuid) < 0) {
		buf_printf(why, "user %s (uid %u on the old server) does not "
			   "exist on this server", un, uid);
		return -1;
	}
	if (gn && idmap_group_id(om->dst, gn, ngid) < 0) {
		buf_printf(why, "group %s (gid %u on the old server) does not "
			   "exist on this server", gn, gid);
		return -1;
	}
	return 0;
}

static int parse_one(const char *s, size_t n, int group,
		     const struct idmap *dst, uint32_t *id)
{
	char *name = xstrndup(s, n), *end;
	unsigned long v;
	int rc;

	errno = 0;
	v = strtoul(name, &end, 10);
	if (n && !errno && !*end && v <= UINT32_MAX) {
		*id = (uint32_t)v;
		rc = 0;
	} else {
		rc = group ? idmap_group_id(dst, name, id)
			   : idmap_user_id(dst, name, id);
	}
	free(name);
	return rc;
}

int owner_parse_chown(const struct idmap *dst, const char *spec,
		      uint32_t *uid, uint32_t *gid)
{
	const char *colon = strchr(spec, ':');

	if (!colon || colon == spec || !colon[1])
		return -1;
	if (parse_one(spec, (size_t)(colon - spec), 0, dst, uid) < 0)
		return -1;
	return parse_one(colon + 1, strlen(colon + 1), 1, dst, gid);
}
