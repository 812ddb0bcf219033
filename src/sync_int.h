/*
 * sync_int.h: the sync engine's private header, between sync.c (the run)
 * and the files of its steps: sync_discover.c, sync_plan.c, sync_copy.c,
 * sync_meta.c, sync_vanished.c, with sync_model.c (the in-memory model)
 * and sync_dest.c (a folder's directories on the destination).  sync.h is
 * the public header.  Every function shared between those files starts
 * with sync_; everything else in them is static.
 */
#ifndef MM_SYNC_INT_H
#define MM_SYNC_INT_H

#include "sync.h"

#include <stdint.h>
#include <time.h>

#include "fsops.h"
#include "log.h"
#include "owners.h"
#include "proto.h"
#include "state.h"
#include "strmap.h"
#include "treesync.h"

#define STAT_BATCH 2048			/* paths per stat request */
#define READ_BATCH_FILES 256		/* files per read request */
#define READ_BATCH_BYTES (8u << 20)	/* bytes per read request */
#define FLUSH_FILES 16384		/* tmp files before a syncfs */
#define FLUSH_BYTES (512u << 20)
#define FLUSH_FOLDERS 2048		/* finished folders before a commit */
#define RACY_SECONDS 2
#define LOCK_WAIT_SECONDS 10
#define LOCK_STALE_SECONDS 120

/* ---- the model of the source tree ---- */

struct folder;

/* What a directory of the source tree is, from the tree's shape (a
 * directory with a cur/ is a folder).  The values are the letters the
 * state stores. */
enum dnode_kind {
	DN_NONE = 0,		/* the root's parent */
	DN_PLAIN = 'd',		/* a plain directory */
	DN_FOLDER = 'F',	/* a folder (a Maildir): it has a cur/ */
	DN_CUR = 'c',		/* a folder's cur/, new/, tmp/ */
	DN_NEW = 'n',
	DN_TMP = 't',
	DN_IGNORED = 'x',	/* below a cur/, new/ or tmp/: not ours */
};

/* A directory of the source tree, as the state knew it and as this run
 * found it. */
struct dnode {
	char *path;		/* relative to the source root; "" is the root */
	const char *name;	/* last component */
	enum dnode_kind kind;
	int depth;
	struct dnode *parent, *child, *sibling;
	int in_state;
	int64_t old_s;
	uint32_t old_ns;
	int has_dest;		/* cur/, new/: the state lists the destination's */
	int64_t dest_s;		/* directory exactly while it has this mtime */
	uint32_t dest_ns;
	int have_now;
	struct mm_stat now;
	int listed;		/* its own entries were listed this run */
	int is_new;
	int vanished;
	int failed;		/* listing or a write below it failed */
	int seen;		/* seen in its parent's new listing */
	int keep_vanished;	/* vanished, but its removal failed below it:
				   stays in the state for the next run */
	int odd;		/* holds an entry that is reported and not
				   copied: listed again next run */
	size_t nmsgs;		/* cur/, new/: message files listed */
	struct folder *fo;
};

/* A file or symlink from a listing. */
struct fentry {
	char *path;
	const char *name;
	char kind;		/* 'f', 'l'; 'X' reported, not copied */
	int has_stat;
	struct mm_stat st;
	char *target;
	struct dnode *parent;
};

/* Strings that live as long as one folder's planning. */
struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
};

struct arena {
	struct arena_blk *head;
};

/* One base name of a folder as the source, the destination and the state
 * have it. */
struct msgent {
	const char *base;
	uint64_t h;
	/* the source: listed, or named by the state when cur/ or new/ was
	 * not listed again */
	char s_sub;		/* 'c' or 'n'; 0: not on the source */
	char s_listed;		/* seen in this run's listing */
	char s_has_stat;	/* s_st is valid */
	const char *s_name;	/* without cur/ or new/ */
	const char *s_orig;	/* a conflict copy: the name on the source */
	struct mm_stat s_st;
	/* the destination */
	char d_sub;		/* 'c' or 'n'; 0: not on the destination */
	const char *d_name;
	/* the state: the file came from the source */
	const char *alias;	/* the source's base name of a conflict copy
				   here under this other base, or NULL */
	char has_p, p_gone;
	const char *p_name;	/* "cur/..." or "new/..." */
	uint64_t p_dev, p_ino, p_size;
	/* an intent: a run killed before its commit was placing this copy */
	char has_i;
	const char *i_name;	/* "cur/..." or "new/..." */
	uint64_t i_size;
	char claimed;		/* a conflict copy here another entry proves */
};

/* A folder's base names, found by hash (the hot path of a big folder). */
struct msgtab {
	struct msgent *v;
	size_t n, cap;
	uint32_t *slot;		/* index + 1; 0 is empty */
	size_t nslot;
	struct arena ar;
};

/* ---- a run ---- */

/* What a copy is for. */
enum job_kind {
	JOB_COPY,		/* a message new here */
	JOB_RECOPY,		/* replaces the copy here, of another size */
	JOB_PROVE,		/* a file here has its base name but no state
				   row: read, then compared; the same content
				   is adopted, other content is a conflict */
	JOB_CONFLICT,		/* placed under a fresh base name, the file
				   here with its name left alone */
};

/* Where a copy stands. */
enum job_state {
	JOB_QUEUED = 0,		/* to read, or to link at dispatch */
	JOB_IN_TMP,		/* written to tmp/: renamed at the next flush */
	JOB_PLACED,		/* in cur/ or new/ */
	JOB_WAITS_TWIN,		/* a hard link to make once its twin is placed */
	JOB_FAILED,		/* reported, or gone on the old server */
};

/* A message to copy (step 4). */
struct job {
	struct folder *fo;
	char *base;		/* the base of its state row (the source's) */
	char *name;		/* its name here */
	char *src;		/* its name on the old server */
	char sub;
	struct mm_stat st;
	struct fs_meta meta;
	enum job_state state;
	int need_stat;		/* listed by name only: stat before copying */
	struct job *twin;	/* JOB_WAITS_TWIN: the job it links to */
	char *state_twin;	/* a destination file (relative) the state
				   knows for the same source file, proven in
				   this run (prove_state_twins), or NULL */
	char *tmp;		/* its name in tmp/ (SYNC_TMP_PREFIX base) */
	enum job_kind kind;
	char d_sub;		/* JOB_PROVE: the file here to compare with */
	char *d_name;
	size_t row;		/* its row in fo->rows */
	unsigned conflict_n;	/* JOB_PROVE: the conflict name to take if
				   the file here is another message */
};

/* Every temporary file of a message starts with this: a file in a tmp/
 * that does not is somebody else's (a delivery in progress here). */
#define SYNC_TMP_PREFIX "mailmove."

/* What the folder's state rows become once it is finished. */
struct finrow {
	struct state_msg m;
	struct job *job;	/* the row is valid once this job is placed */
	int del;		/* delete the row instead */
	int rename_only;	/* only its name changes */
};

/* A Dovecot file of the folder to copy (step 5). */
struct metafile {
	char *name;
	struct mm_stat st;	/* as copied (ino 0: not copied) */
	struct mm_stat src;	/* as read in this run */
	char *tmp;		/* the temporary file, until renamed */
	int index;		/* a dovecot.index* file (--with-indexes) */
};

/* A folder (a directory with a cur/) from its planning to its commit. */
struct folder {
	struct dnode *dir;
	char *path;
	char *user;
	size_t pending;		/* jobs not yet placed or failed */
	int intents;		/* the state holds intents for it */
	int errors;
	int planned;
	int done;
	struct finrow *rows;
	size_t nrows, caprows;
	struct metafile *meta;
	size_t nmeta;
	int cur_fd, new_fd, tmp_fd;
	int dir_fd;		/* while its metadata is written */
	int trusted[2];		/* cur/, new/ taken from the state's rows */
	int inexact[2];		/* the rows will not list cur/, new/ exactly */
	struct timespec seen[2];	/* the mtime of cur/, new/ when read or
				   trusted, then right after each change
				   this run made there */
};

/* The counts of the report, per user and in total. */
struct ustats {
	char *user;
	uint64_t copied, linked, renamed, deleted, kept_only, src_gone,
		bytes, errors, conflicts;
};

/* A deletion planned with --delete, done once the whole run's count of
 * deletions is known to be within the limit (sync_plan_deletions). */
struct pending_del {
	struct folder *fo;
	char *base;		/* the base of its state row */
	char d_sub;
	char *d_name;
	int trusted;		/* its directory was taken from the state */
};

/* One run. */
struct sync {
	struct mm_ctx *ctx;
	const struct sync_opts *o;
	struct endpoint *ep;
	struct state state;
	struct idmap src_ids, dst_ids;
	struct owner_map owners;
	int dst_fd;		/* the destination base, or -1 (dry run) */
	const char *src;	/* source root without trailing '/' */
	char *dest_name;	/* for messages */
	int dry;
	int64_t t0;		/* the old server's clock at the start */
	char hostname[256];

	struct strmap dirs;
	struct dnode **dv;
	size_t ndv, capdv;
	struct fentry *fv;
	size_t nfv, capfv;

	struct folder **folders;
	size_t nfolders, capfolders;
	struct job **jobs;
	size_t njobs, capjobs;
	struct strmap links;	/* "dev:ino" -> a placed job or dest path */
	struct strmap users;

	struct folder **ready;	/* finished folders waiting for a commit */
	size_t nready, capready;
	struct job **placed_wait;	/* in tmp, to rename at the flush */
	size_t nwait, capwait;
	uint64_t wait_bytes;

	struct progress prog;
	struct buf errors;	/* the list of failures for the summary */
	uint64_t nerrors;
	uint64_t nchanged;	/* of them: changed on the old server while
				 * read (it serves), for the next run */
	int fatal;		/* an errno that ends the run (disk full) */
	int lost;		/* the agent connection is gone */
	size_t dest_read, dest_trusted;	/* cur/ and new/ read, or not */
	int incremental;	/* the state knew the tree before this run */
	int tmp_dirty;		/* temporaries of ours may be in some tmp/ */
	struct strmap intent_folders;	/* folders with intents of a killed
					   run (values unused) */
	struct pending_del *dels;	/* --delete: planned, not yet done */
	size_t ndels, capdels;
	struct ustats total;
	struct ts_stats files;
};

#define VEC_PUSH(v, n, cap, x) do { \
	XGROW((v), (n), (cap), 64); \
	(v)[(n)++] = (x); \
} while (0)

/* A source inode with more than one link: where its first copy is. */
struct linkref {
	char key[48];
	struct job *job;	/* a job of this run, or NULL */
	char *dest;		/* a destination path (relative), or NULL */
};

/* sync_model.c: the model */
const char *sync_arena_strndup(struct arena *a, const char *p, size_t n);
struct msgent *sync_msgtab_at(struct msgtab *t, const char *base, size_t len);
/* The entry of `base`, or NULL (nothing added). */
struct msgent *sync_msgtab_find(const struct msgtab *t, const char *base);
void sync_msgtab_release(struct msgtab *t);
/* state_msgs_each()'s callback: a state row into the msgtab `arg`. */
int sync_msgtab_state_cb(void *arg, const struct state_msg *m);
char *sync_join(const char *a, const char *b);
char *sync_src_abs(const struct sync *s, const char *rel);
int sync_depth_of(const char *path);
struct dnode *sync_dnode_get(struct sync *s, const char *path, int make);
struct dnode *sync_child_named(struct dnode *d, const char *name);
char *sync_msg_rel(const struct folder *fo, char sub, const char *name);

/* sync_dest.c: a folder's directories on the destination */
int sync_sub_fd(struct sync *s, struct folder *fo, char sub);
void sync_dest_changing(struct sync *s, struct folder *fo, char sub);
void sync_dest_changed(struct sync *s, struct folder *fo, char sub);
void sync_folder_close_fds(struct folder *fo);
int sync_read_dest_sub(struct sync *s, struct folder *fo, char sub,
		       struct msgtab *t);

/* sync.c: reporting */
struct ustats *sync_user_stats(struct sync *s, const char *user);

/* How far a failure reaches (isync grades its failures the same way).
 * Every failure is reported and listed in the summary, and counts against
 * its folder, if any, which is then not recorded as complete: the next run
 * tries again. */
enum sync_grade {
	SYNC_ITEM_BAD,		/* one message, file or directory: a read on
				   the old server, an owner missing here, a
				   hard link whose twin failed */
	SYNC_DEST_BAD,		/* a change on this server: when its errno
				   says the destination cannot take more (disk
				   full, quota, read-only, I/O error), the
				   whole run stops */
};
void sync_item_failed(struct sync *s, enum sync_grade grade,
		      struct folder *fo, const char *rel, const char *what,
		      int err);
void sync_plan_line(struct sync *s, const char *action, const char *path,
		    const char *to);

/* A source entry that is not copied, with the reason; counted as a
 * failure of the run (exit 1). */
void sync_item_skipped(struct sync *s, const char *rel, const char *why);
/* sync_check.c: the source's tree, read before anything changes here */
int sync_check_source(struct sync *s);
void sync_check_links(struct sync *s);
int sync_guard_source(struct sync *s);
/* The name of the mailbox folder `d` belongs to (its top-most folder's
 * user, or that folder's path). */
void sync_mailbox_name(const struct dnode *d, struct buf *out);
/* With --delete, once the deletions are planned and before any is done:
 * MM_EDIFF (said why) when a mailbox would lose all or nearly all of the
 * messages the state knows came from the source. */
int sync_guard_mailboxes(struct sync *s);
/* sync_discover.c: step 1 */
int sync_discover(struct sync *s);

/* sync_plan.c: step 3 */
int sync_plan_folder(struct sync *s, struct dnode *fd_node,
		     struct fentry **files, size_t nfiles);
/* After every folder is planned: the --delete limit over the planned
 * deletions and the vanished folders' messages; within it, the planned
 * deletions are done.  MM_OK, MM_EDIFF (refused, said why; nothing
 * deleted) or MM_EDEST. */
int sync_plan_deletions(struct sync *s);

/* What planning does with one base name of a folder. */
enum sync_action {
	SYNC_NONE,		/* on no side and not in the state */
	SYNC_IN_PLACE,		/* on both sides under the source's name */
	SYNC_RENAME,		/* on both sides, another name here (a flag
				   change, new/ to cur/): rename it here */
	SYNC_COPY,		/* only on the source, listed: copy it (step 4
				   makes it a hard link where it can) */
	SYNC_LOST_HERE,		/* only in the state's names of a source
				   directory not listed again, and gone here:
				   the folder is listed again next run */
	SYNC_DELETE,		/* only here, the state proves it came from
				   the source, --delete: delete it */
	SYNC_KEEP_GONE,		/* the same without --delete: kept, counted */
	SYNC_KEEP_OWN,		/* only here, not from the source (delivered
				   here): kept, never deleted */
	SYNC_FORGET,		/* gone from both sides: drop its state row */
	SYNC_PROVE,		/* on both sides, but the state never saw it
				   placed: the file here may be another
				   message of the same base name; proven by
				   size and content before it is adopted */
	SYNC_RECOPY,		/* on both sides, but the source's size is
				   not the one the state recorded: copied
				   again over the copy here */
};

/* The decision for `e` from its source, destination and state rows and
 * --delete alone; no I/O (tests/unit/test_plan.c). */
enum sync_action sync_plan_decide(const struct msgent *e, int delete);
/* A fresh name for the source's message `name` (of base `base`) beside
 * another message here with its base name; the caller frees it. */
char *sync_conflict_name(const char *base, const char *name, unsigned n);
/* Job `j` is placed under the conflict name `name` (taken), the file
 * `here` with its base name left alone; said and counted. */
void sync_job_conflict(struct sync *s, struct job *j, char *name,
		       const char *here);

/* sync_copy.c: step 4 */
void sync_link_register(struct sync *s, const struct mm_stat *st,
			struct job *job, const char *dest);
int sync_job_meta(struct sync *s, struct job *j);
int sync_flush(struct sync *s);
int sync_run_jobs(struct sync *s);
/* After a run that ended with temporaries of its own left (killed, or
 * stopped on a fatal error), removes them from every folder's tmp/; a
 * first run (no state) looks in every tmp/ of the destination. */
int sync_clean_tmp(struct sync *s);
/* Removes the temporaries of ours from the destination directory `rel`. */
void sync_clean_tmp_dir(struct sync *s, const char *rel);

/* sync_meta.c: step 5 */
int sync_finish_meta_batch(struct sync *s, struct folder **v, size_t n);
void sync_put_dir_mtime(struct sync *s, struct dnode *d, int ok);
void sync_commit_folder(struct sync *s, struct folder *fo);

/* sync_vanished.c: folders and directories gone from the source */
int sync_handle_vanished(struct sync *s);

#endif
