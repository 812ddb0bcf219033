/*
 * treesync.h: the one file-tree sync of mailmove.
 *
 * Used by `mailmove files` (certificates, DKIM keys, rspamd's signing
 * setup) and by `mailmove sync` for everything in a vmail tree that is not
 * a Maildir message or Dovecot metadata (sieve scripts, the .dovecot.sieve
 * symlink).  Quick check by size and mtime (and, with TS_CONTENT, by
 * content hash); a changed file is replaced atomically (temp file, fsync,
 * rename); symlinks stay symlinks; modes are kept and owners mapped by
 * name.  Nothing on the destination is ever deleted here.
 */
#ifndef MM_TREESYNC_H
#define MM_TREESYNC_H

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "owners.h"
#include "remote.h"

struct ts_entry {
	char *path;		/* relative to the tree root; "" is the root */
	char kind;		/* 'f', 'd', 'l' */
	struct mm_stat st;
	char *target;		/* for 'l' */
	int no_temps;		/* 'd': no run of mailmove leaves temporary
				   files here (Maildir cur/, new/, tmp/) */
};

struct ts_list {
	struct ts_entry *v;
	size_t n, cap;
};

/* Adds a listed entry (files, directories and symlinks; others skipped). */
void ts_list_add(struct ts_list *l, const struct rentry *e);
/* Adds an entry (copies of path and target); returns it. */
struct ts_entry *ts_list_push(struct ts_list *l, const char *path, char kind,
			      const struct mm_stat *st, const char *target);
void ts_list_release(struct ts_list *l);

#define TS_DRY_RUN	(1u << 0)	/* decide and report, write nothing */
#define TS_CONTENT	(1u << 1)	/* same size and mtime: compare hashes */
#define TS_KEEP_ROOT	(1u << 2)	/* the root keeps its own owner and mode */

struct ts_stats {
	uint64_t copied;	/* new files */
	uint64_t updated;	/* replaced files */
	uint64_t same;		/* nothing to do */
	uint64_t links;		/* symlinks made or replaced */
	uint64_t dirs;		/* directories made */
	uint64_t meta;		/* owner or mode corrected */
	uint64_t vanished;	/* gone on the old server since the listing */
	uint64_t errors;
	uint64_t changed;	/* of them: changed on the old server while
				 * read */
	uint64_t bytes;
};

struct treesync {
	struct endpoint *ep;
	const char *src_root;	/* the tree on the old server */
	int dst_fd;		/* the destination directory of the root */
	const char *dst_name;	/* the destination, for messages */
	const struct owner_map *owners;
	unsigned flags;
	struct ts_stats st;
	/* Called for every decision: action is "copy", "update", "link",
	 * "mkdir", "meta", "same", "vanished" or "error" (err set). */
	void (*note)(void *arg, const char *action, const struct ts_entry *e,
		     int err);
	void *arg;
};

/*
 * Syncs the listed entries (parents before children, as a listing gives
 * them) into ts->dst_fd.  Returns MM_OK; MM_EDIFF when items failed
 * (each reported through note and the log); MM_EUSAGE when an owner has
 * no counterpart on the destination (checked before anything is written);
 * MM_EDEST when the destination fails (disk full); MM_EREMOTE or MM_EINTR
 * when the old server's agent is lost or the run is interrupted.
 */
int treesync_entries(struct treesync *ts, const struct ts_list *l);

/* Lists ts->src_root on the old server and syncs all of it.  A missing
 * source root returns ENOENT's exit MM_EDIFF after saying so. */
int treesync_tree(struct treesync *ts);

#endif
