/*
 * files_check.h: the checks of `mailmove files`.  Before the copy, on the
 * old server's listing: every owner has a counterpart on this server, and
 * symlinks that leave the copied trees or lead nowhere are reported.
 * After the copy, on this server: the certificates, keys, DKIM keys and
 * selector map that arrived, with libcrypto (certcheck.c).  Every file is
 * opened as a regular file only (fsops.h): a FIFO is reported, never
 * waited for.
 */
#ifndef MM_FILES_CHECK_H
#define MM_FILES_CHECK_H

#include <stddef.h>

#include "buf.h"
#include "certcheck.h"
#include "endpoint.h"
#include "owners.h"
#include "treesync.h"

/* One PATH of `mailmove files`. */
struct fpath {
	char *rel;		/* "etc/letsencrypt": relative to both roots */
	char *anc;		/* deepest existing destination ancestor */
	char *sub;		/* rel below anc ("letsencrypt") */
	int present;		/* on the old server */
	int is_dir;
	struct ts_list list;	/* entries, paths relative to anc */
};

/* "a/b/c" -> "c". */
const char *files_base_of(const char *rel);
/* "/" + anc + "/" + path, for messages. */
void files_full_path(struct buf *out, const char *anc, const char *path);

/* Every owner of every listed entry has a counterpart here.  Returns the
 * number of entries whose owner is missing (each named, up to ten). */
size_t files_check_owners(const struct fpath *v, size_t n,
			  const struct owner_map *om);

/* Reports symlinks that point outside the copied PATHs (copied as they
 * are, never followed) and links whose target does not exist; counts each
 * in *warnings.  Returns 0, or MM_LOST. */
int files_check_links(struct endpoint *ep, const struct fpath *v, size_t n,
		      unsigned *warnings);

/* Runs the libcrypto checks on what the copied PATHs (below root, "/" or
 * --to) hold now.  Returns MM_OK, or MM_EDEST when root cannot be opened;
 * failed checks are counted in cc. */
int files_check_copied(const char *root, const struct fpath *v, size_t n,
		       struct certcheck *cc);

#endif
