/*
 * fsops.h: writing on the destination, only through directory fds.
 *
 * The destination base (say /var/vmail under --to) is opened once; below
 * it every component is opened with O_NOFOLLOW | O_DIRECTORY, so nothing
 * that arrives from the old server can lead a write through a symlink.
 * Files are created under a temporary name with O_EXCL and renamed into
 * place: a reader never sees half a file.
 *
 * Functions return 0 or an errno value (never -1).
 */
#ifndef MM_FSOPS_H
#define MM_FSOPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct fs_meta {
	uint32_t mode;		/* permission bits (07777) */
	uint32_t uid, gid;
	int64_t mtime_s;
	uint32_t mtime_ns;
	int set_owner;
	int set_mtime;
};

/* Opens `rel` (may be "" or start with '/') beneath `root`, symlinks
 * resolved inside root, creating missing directories (mode 0755) when
 * `create`.  *fd gets an O_DIRECTORY fd. */
int fs_open_base(const char *root, const char *rel, int create, int *fd);

/* Opens the directory `rel` ('/'-separated, each part a valid name) below
 * `base` without following any symlink; with `create`, makes missing
 * directories with `meta` (may be NULL: 0755, owner unchanged). */
int fs_walk(int base, const char *rel, int create, const struct fs_meta *meta,
	    int *fd);

/* Creates a new temporary file in dirfd (".mailmove.<pid>.<n>.tmp"),
 * O_EXCL | O_NOFOLLOW, mode 0600 until fs_apply_meta.  Its name goes to
 * `name`. */
int fs_tmp_create(int dirfd, struct buf *name, int *fd);

int fs_write_all(int fd, const void *p, size_t n);

/* fchown (when set_owner), fchmod, futimens (when set_mtime). */
int fs_apply_meta(int fd, const struct fs_meta *m);
/* The same on a name in dirfd without following a symlink. */
int fs_apply_meta_at(int dirfd, const char *name, const struct fs_meta *m);

/* Writes `data` to `name` in dirfd atomically (temp file, fsync, rename),
 * with meta applied before the rename. */
int fs_replace_file(int dirfd, const char *name, const void *data, size_t n,
		    const struct fs_meta *m);

/* Makes `name` a symlink to `target` atomically (temp link + rename), with
 * owner and mtime from m. */
int fs_replace_symlink(int dirfd, const char *name, const char *target,
		       const struct fs_meta *m);

/* Opens `rel` (relative to rootfd, '/'-separated) for reading with every
 * symlink resolved inside rootfd, as if rootfd were "/": an absolute or
 * "../" link cannot lead out of the destination root.  `flags` adds to
 * O_RDONLY (O_DIRECTORY, say). */
int fs_open_in_root(int rootfd, const char *rel, int flags, int *fd);

/*
 * The readers of files whose names come from the copied tree or from a
 * config (certificates, keys, rspamd and Postfix configs, password files)
 * open only regular files: O_NONBLOCK | O_NOCTTY, so that a FIFO, a
 * terminal or a device never blocks the open or becomes ours, then fstat.
 * Anything else is EISDIR (a directory) or MM_ENOTREG (base.h), and
 * nothing of it is read.
 */
/* fs_open_in_root() for a regular file. */
int fs_open_file_in_root(int rootfd, const char *rel, int *fd);
/* Opens `path` (absolute, or relative to the current directory) for
 * reading if it is a regular file; `flags` adds O_NOFOLLOW, say. */
int fs_open_file(const char *path, int flags, int *fd);

/* Reads the whole regular file `rel` beneath rootfd (fs_open_in_root)
 * into `out` (reset first, NUL-terminated); EFBIG when it holds more than
 * `max` bytes. */
int fs_read_in_root(int rootfd, const char *rel, struct buf *out,
		    size_t max);
/* Reads what is left of fd into `out` (reset first, NUL-terminated), at
 * most `max` bytes (else EFBIG); closes fd.  Its own buffers are wiped:
 * what it reads may be a key. */
int fs_read_fd(int fd, struct buf *out, size_t max);
/* The same for `path` (fs_open_file with `flags`). */
int fs_read_file(const char *path, int flags, struct buf *out, size_t max);
/* fs_read_file() of ROOT/PATH: a config file of the destination, whose
 * root is "/" or --to (symlinks followed as the destination's programs
 * follow them). */
int fs_read_under(const char *root, const char *path, struct buf *out,
		  size_t max);

/* The exit code for an errno met while writing: MM_EDEST for disk full,
 * quota, read-only, permission and I/O errors, else MM_EDIFF. */
int fs_errno_exit(int err);
/* Whether the error ends the whole run (the disk is full, say). */
int fs_errno_fatal(int err);

/* Removes what a killed run of mailmove left under its temporary names
 * (".mailmove.PID.N.tmp" or ".lnk" whose PID is no longer running) in one
 * destination directory, never a file of any other name.  `shown` names
 * the directory in the message. */
void fs_remove_stale_temps(int dirfd, const char *shown);

#endif
