/*
 * owners.h: owners mapped by name between the two servers.
 *
 * vmail is uid 5000 on old ISPmail servers and a system uid on new ones;
 * _rspamd differs too.  A file owned by uid U on the old server belongs on
 * the new one to the user with the same *name*.  The old server's names
 * come from its /etc/passwd and /etc/group (read through the agent); the
 * destination's from the files under --to, or from the system (NSS) when
 * the destination is this machine's /.
 *
 * Return values follow base.h: the loaders return 0 or MM_LOST; the
 * lookups 0 (found) or -1 (no such name).
 */
#ifndef MM_OWNERS_H
#define MM_OWNERS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "endpoint.h"

struct idname {
	uint32_t id;
	char *name;
};

struct idmap {
	struct idname *users, *groups;
	size_t nusers, ngroups;
	int use_nss;		/* look names up with getpwnam/getgrnam */
};

int idmap_parse(struct idmap *m, const char *passwd, size_t plen,
		const char *group, size_t glen);
/* The old server's passwd and group through the agent.  Returns 0 (an
 * unreadable file is warned about: owners keep their numbers), or MM_LOST. */
int idmap_load_remote(struct endpoint *ep, struct idmap *m);
/* The destination's: files under root, or NSS when root is "/".  Returns
 * 0 (an unreadable file is warned about). */
int idmap_load_local(const char *root, struct idmap *m);
void idmap_release(struct idmap *m);

const char *idmap_user_name(const struct idmap *m, uint32_t uid);
const char *idmap_group_name(const struct idmap *m, uint32_t gid);
int idmap_user_id(const struct idmap *m, const char *name, uint32_t *uid);
int idmap_group_id(const struct idmap *m, const char *name, uint32_t *gid);

/* How old owners become new ones: by name, or forced (--chown). */
struct owner_map {
	const struct idmap *src, *dst;
	int forced;
	uint32_t force_uid, force_gid;
};

/*
 * Maps an old uid/gid.  Returns 0, or -1 with a sentence in `why` when the
 * name exists on the old server but not on the destination (an ID without
 * a name on the old server keeps its number).
 */
int owner_map_ids(const struct owner_map *om, uint32_t uid, uint32_t gid,
		  uint32_t *nuid, uint32_t *ngid, struct buf *why);

/* Parses "USER:GROUP" (names or numbers) against the destination map. */
int owner_parse_chown(const struct idmap *dst, const char *spec,
		      uint32_t *uid, uint32_t *gid);

#endif
