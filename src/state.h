/*
 * state.h: what `mailmove sync` remembers between runs, in SQLite on the
 * destination.
 *
 * dirs:  every directory of the source tree with the mtime it had when it
 *        was last listed completely (0 = list it again next run: new,
 *        unfinished, failed, or changed within 2 s of its listing).
 * msgs:  per folder, every message base name that the destination holds
 *        because the source had it: the proof `--delete` needs, and the
 *        source's names of directories not listed again.
 * meta:  the Dovecot files of a folder last copied (size, mtime, inode).
 *
 * A read-only state (--dry-run) accepts writes and drops them.
 */
#ifndef MM_STATE_H
#define MM_STATE_H

#include <stdint.h>

#include "buf.h"

struct sqlite3;
struct sqlite3_stmt;

struct state {
	struct sqlite3 *db;
	int readonly;
	int in_txn;
	struct sqlite3_stmt *st_dir_put, *st_dir_del, *st_msg_put, *st_msg_del,
		*st_msg_load, *st_msg_ino, *st_meta_get, *st_meta_put,
		*st_meta_del, *st_dirs_all, *st_msg_del_folder, *st_msg_rename,
		*st_ddir_put, *st_ddir_del, *st_ddirs_all;
};

/* Opens (creating the file and its directory unless readonly) the state.
 * A readonly state whose file does not exist is empty.  0 or -1 (logged). */
int state_open(struct state *s, const char *path, int readonly);
void state_release(struct state *s);
int state_begin(struct state *s);
int state_commit(struct state *s);

/* The default state file for a source and destination pair:
 * <root>/var/lib/mailmove/sync-<hash>.sqlite. */
void state_default_path(const char *dest_root, const char *from,
			const char *src, const char *dest, struct buf *out);

typedef int (*state_dir_cb)(void *arg, const char *path, char kind,
			    int64_t mtime_s, uint32_t mtime_ns);
int state_dirs_each(struct state *s, state_dir_cb cb, void *arg);
int state_dir_put(struct state *s, const char *path, char kind,
		  int64_t mtime_s, uint32_t mtime_ns);
int state_dir_del(struct state *s, const char *path);

/* The mtime a destination cur/ or new/ had when the state last listed
 * every file in it, exactly (no file of its own, no failure): while the
 * directory still has that mtime, the state's rows are its listing.  A
 * zero mtime forgets the directory. */
int state_dest_dirs_each(struct state *s, state_dir_cb cb, void *arg);
int state_dest_dir_put(struct state *s, const char *path, int64_t mtime_s,
		       uint32_t mtime_ns);

struct state_msg {
	const char *base;
	const char *name;	/* "cur/NAME" or "new/NAME" as on the source */
	uint64_t dev, ino, size;
	int gone;		/* the source no longer has it */
};
typedef int (*state_msg_cb)(void *arg, const struct state_msg *m);
int state_msgs_each(struct state *s, const char *folder, state_msg_cb cb,
		    void *arg);
int state_msg_put(struct state *s, const char *folder,
		  const struct state_msg *m);
int state_msg_del(struct state *s, const char *folder, const char *base);
/* Only the name of a row changes (a flag change or a move to cur/): the
 * inode index is left alone. */
int state_msg_rename(struct state *s, const char *folder, const char *base,
		     const char *name);
int state_msg_del_folder(struct state *s, const char *folder);
/* A message copied earlier from the same source inode: 1 found (folder and
 * name filled), 0 not, -1 error. */
int state_msg_by_inode(struct state *s, uint64_t dev, uint64_t ino,
		       uint64_t size, struct buf *folder, struct buf *name);

/* 1 and the fields when known, 0 when not. */
int state_meta_get(struct state *s, const char *path, uint64_t *size,
		   int64_t *mtime_s, uint32_t *mtime_ns, uint64_t *ino);
int state_meta_put(struct state *s, const char *path, uint64_t size,
		   int64_t mtime_s, uint32_t mtime_ns, uint64_t ino);
int state_meta_del(struct state *s, const char *path);

/* The messages the state knows came from the source and the source still
 * had at the last run: in `folder`, or in all folders when NULL.  -1 on
 * error (logged). */
int64_t state_msgs_count(struct state *s, const char *folder);

/* A small integer kept across runs (0 when never set; -1 on error):
 * "tmp_dirty" is 1 from the moment a run writes its first temporary file
 * until that run ends with none left (see sync_copy.c). */
int64_t state_flag_get(struct state *s, const char *key);
int state_flag_put(struct state *s, const char *key, int64_t v);

#endif
