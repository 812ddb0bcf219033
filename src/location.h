/*
 * location.h: the one reading of a SRC argument (sync, verify, cutover):
 * rsync's "[user@]host[:port]:/path", "DIR:/path" for an old root mounted
 * here, or a plain local path.
 */
#ifndef MM_LOCATION_H
#define MM_LOCATION_H

#include "mailmove.h"

enum mm_loc_kind {
	MM_LOC_BAD = -1,	/* *err says why */
	MM_LOC_LOCAL = 0,	/* a path on this machine: *path */
	MM_LOC_HOST = 1,	/* *from is [user@]host[:port], *path absolute */
	MM_LOC_DIR = 2,		/* *from is a directory (the old root), *path in it */
};

/*
 * Splits `arg` without looking at --from.  The rules, in this order:
 *  - "" is bad;
 *  - an argument that exists here as a whole is a local path, whatever
 *    colons it holds ("/srv/a:b", "./x:y");
 *  - "[v6addr]:/path", "[v6addr]:port:/path" and with user@ before them
 *    name a host: the colon inside brackets is the address's;
 *  - "PREFIX:/path" where PREFIX holds no "/" is a host
 *    ([user@]host[:port]), or a directory when PREFIX is one here
 *    (ep_parse_from()'s rule for --from);
 *  - "PREFIX:/path" where PREFIX holds a "/" ("/srv/old-root:/var/vmail/",
 *    "./old:/var/vmail") is DIR:PATH when PREFIX is a directory here, else
 *    a local path with a colon in it;
 *  - "host:relative" (a colon before any "/", no "/" after it) is bad: the
 *    path on an old server must be absolute;
 *  - anything else is a local path.
 * On success *from (NULL for a local path) and *path are malloc'd.
 */
enum mm_loc_kind mm_split_location(const char *arg, char **from, char **path,
				   const char **err);

/*
 * SRC of sync, verify and cutover, with --from: sets ctx->from (a string
 * owned by *keep, free it after the command) and *path to the path on the
 * old server.  Without --from and without a host or DIR in SRC, SRC is a
 * path on this machine: ctx->from becomes "/" and *path the absolute path,
 * as `--from / PATH` would.  Returns MM_OK or MM_EUSAGE (said why).
 */
int mm_resolve_src(struct mm_ctx *ctx, const char *cmd, const char *arg,
		   char **path, char **keep);

/* DEST is on this machine (under --to): refuses a HOST:PATH form. */
int mm_check_dest(const char *cmd, const char *arg);

#endif
