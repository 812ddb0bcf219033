/*
 * files_copy.h: the plan and the copy of `mailmove files`: what each PATH
 * holds on the old server, the deepest directory of its parents that
 * exists here (everything below it is made with the old server's owners
 * and modes; it and its ancestors are never touched), and the sync of
 * every PATH through the one file-tree sync (treesync.c) with content
 * comparison on.  cmd_files.c takes the PATHs, calls the checks
 * (files_check.h) in between, and reports.
 */
#ifndef MM_FILES_COPY_H
#define MM_FILES_COPY_H

#include "files_check.h"
#include "owners.h"
#include "treesync.h"

/* One run of `mailmove files`. */
struct files_run {
	int dry_run;
	struct endpoint *ep;
	const char *root;
	struct fpath *v;
	size_t n;
	int explicit_paths;
	struct idmap src_ids, dst_ids;
	struct owner_map owners;
	struct ts_stats total;
	/* Called for every entry the sync decides about (treesync.h);
	 * cur_anc is the ancestor its path is relative to. */
	void (*note)(void *arg, const char *action, const struct ts_entry *e,
		     int err);
	void *note_arg;
	const char *cur_anc;
	unsigned warnings;
	unsigned item_errors;
};

/* Reads both servers' owners and whether each PATH is on the old server
 * (r->v[].present; a PATH given and missing is an item error).  Returns
 * an enum mm_exit. */
int files_list(struct files_run *r);
/* Finds where a present PATH lands and lists it.  Returns an enum
 * mm_exit. */
int files_plan_path(struct files_run *r, struct fpath *p);
/* Syncs every present PATH.  Returns MM_OK, MM_EDIFF, or the exit code of
 * a failure that ends the run. */
int files_sync_all(struct files_run *r);
void files_run_release(struct files_run *r);

#endif
