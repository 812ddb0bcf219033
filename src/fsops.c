/* fsops.c: destination writes through directory fds (see fsops.h). */
#include "fsops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "base.h"
#include "proto.h"
#include "banned.h"

#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif

struct fs_open_how {
	uint64_t flags, mode, resolve;
};

static int open_in_root(int rootfd, const char *rel, int flags)
{
	struct fs_open_how how;
	int fd;

	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		fd = openat(rootfd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
	return fd;
}

int fs_open_base(const char *root, const char *rel, int create, int *fd)
{
	struct buf part = BUF_INIT;
	const char *p;
	int rootfd, cur, e = 0;

	*fd = -1;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errno;
	while (*rel == '/')
		rel++;
	if (!*rel) {
		*fd = rootfd;
		return 0;
	}
	if (!mm_relpath_valid(rel, strlen(rel))) {
		close(rootfd);
		return EINVAL;
	}
	cur = open_in_root(rootfd, rel, O_RDONLY | O_DIRECTORY);
	if (cur >= 0 || errno != ENOENT || !create) {
		e = cur < 0 ? errno : 0;
		close(rootfd);
		*fd = cur;
		return e;
	}
	/* Make the missing components, one at a time, inside root. */
	for (p = rel;; p++) {
		if (*p == '/' || *p == '\0') {
			buf_reset(&part);
			buf_add(&part, rel, (size_t)(p - rel));
			if (mkdirat(rootfd, part.data, 0755) < 0 &&
			    errno != EEXIST) {
				e = errno;
				break;
			}
			if (!*p)
				break;
		}
	}
	buf_release(&part);
	if (!e) {
		cur = open_in_root(rootfd, rel, O_RDONLY | O_DIRECTORY);
		e = cur < 0 ? errno : 0;
		*fd = cur;
	}
	close(rootfd);
	return e;
}

int fs_walk(int base, const char *rel, int create, const struct fs_meta *meta,
	    int *fd)
{
	char *copy, *p, *slash;
	int cur, e = 0;

	*fd = -1;
	while (*rel == '/')
		rel++;
	if (!*rel) {
		cur = dup(base);
		if (cur < 0)
			return errno;
		*fd = cur;
		return 0;
	}
	if (!mm_relpath_valid(rel, strlen(rel)))
		return EINVAL;
	{
		/* One lookup in the kernel refusing every symlink on the way
		 * (what the loop below does a component at a time); the loop
		 * stays for missing directories and kernels before 5.6. */
		struct fs_open_how how;

		memset(&how, 0, sizeof how);
		how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			RESOLVE_NO_MAGICLINKS;
		cur = (int)syscall(SYS_openat2, base, rel, &how, sizeof how);
		if (cur >= 0) {
			*fd = cur;
			return 0;
		}
		if (errno == ELOOP)
			return ENOTDIR;
		if (errno != ENOSYS && errno != EPERM &&
		    !(errno == ENOENT && create))
			return errno;
	}
	copy = xstrdup(rel);
	cur = dup(base);
	for (p = copy; cur >= 0; p = slash + 1) {
		int next;

		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				      O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, p, meta ? (meta->mode & 07777) : 0755) < 0 &&
			    errno != EEXIST) {
				e = errno;
				break;
			}
			next = openat(cur, p, O_RDONLY | O_DIRECTORY |
					      O_NOFOLLOW | O_CLOEXEC);
			if (next >= 0 && meta && (e = fs_apply_meta(next, meta))) {
				close(next);
				break;
			}
		}
		if (next < 0) {
			e = errno == ELOOP ? ENOTDIR : errno;
			break;
		}
		close(cur);
		cur = next;
		if (!slash)
			break;
	}
	free(copy);
	if (e || cur < 0) {
		if (cur >= 0)
			close(cur);
		return e ? e : errno;
	}
	*fd = cur;
	return 0;
}

int fs_tmp_create(int dirfd, struct buf *name, int *fd)
{
	static unsigned counter;
	int i;

	for (i = 0; i < 100; i++) {
		buf_reset(name);
		buf_printf(name, ".mailmove.%ld.%u.tmp", (long)getpid(),
			   counter++);
		*fd = openat(dirfd, name->data, O_WRONLY | O_CREAT | O_EXCL |
			     O_NOFOLLOW | O_CLOEXEC, 0600);
		if (*fd >= 0)
			return 0;
		if (errno != EEXIST)
			return errno;
	}
	return EEXIST;
}

int fs_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The times for futimens/utimensat: atime untouched, mtime from m. */
static void meta_times(const struct fs_meta *m, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = (time_t)m->mtime_s;
	ts[1].tv_nsec = (long)m->mtime_ns;
}

int fs_apply_meta(int fd, const struct fs_meta *m)
{
	if (m->set_owner && fchown(fd, m->uid, m->gid) < 0)
		return errno;
	if (fchmod(fd, m->mode & 07777) < 0)
		return errno;
	if (m->set_mtime) {
		struct timespec ts[2];
		meta_times(m, ts);
		if (futimens(fd, ts) < 0)
			return errno;
	}
	return 0;
}

int fs_apply_meta_at(int dirfd, const char *name, const struct fs_meta *m)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (m->set_owner &&
	    fchownat(dirfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (!S_ISLNK(st.st_mode) &&
	    fchmodat(dirfd, name, m->mode & 07777, 0) < 0)
		return errno;
	if (m->set_mtime) {
		struct timespec ts[2];
		meta_times(m, ts);
		if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return errno;
	}
	return 0;
}

int fs_replace_file(int dirfd, const char *name, const void *data, size_t n,
		    const struct fs_meta *m)
{
	struct buf tmp = BUF_INIT;
	int fd = -1, e;

	e = fs_tmp_create(dirfd, &tmp, &fd);
	if (!e)
		e = fs_write_all(fd, data, n);
	if (!e && m)
		e = fs_apply_meta(fd, m);
	if (!e && fsync(fd) < 0)
		e = errno;
	if (fd >= 0 && close(fd) < 0 && !e)
		e = errno;
	if (!e && renameat(dirfd, tmp.data, dirfd, name) < 0)
		e = errno;
	if (e && fd >= 0)
		unlinkat(dirfd, tmp.data, 0);
	buf_release(&tmp);
	return e;
}

int fs_replace_symlink(int dirfd, const char *name, const char *target,
		       const struct fs_meta *m)
{
	struct buf tmp = BUF_INIT;
	static unsigned counter;
	int e = 0, i;

	for (i = 0; i < 100; i++) {
		buf_reset(&tmp);
		buf_printf(&tmp, ".mailmove.%ld.%u.lnk", (long)getpid(),
			   counter++);
		if (symlinkat(target, dirfd, tmp.data) == 0)
			break;
		if (errno != EEXIST) {
			e = errno;
			break;
		}
	}
	if (!e && m)
		e = fs_apply_meta_at(dirfd, tmp.data, m);
	if (!e && renameat(dirfd, tmp.data, dirfd, name) < 0)
		e = errno;
	if (e)
		unlinkat(dirfd, tmp.data, 0);
	buf_release(&tmp);
	return e;
}

int fs_open_in_root(int rootfd, const char *rel, int flags, int *fd)
{
	while (*rel == '/')
		rel++;
	*fd = -1;
	if (*rel && !mm_relpath_valid(rel, strlen(rel)))
		return EINVAL;
	*fd = open_in_root(rootfd, *rel ? rel : ".", O_RDONLY | flags);
	return *fd < 0 ? errno : 0;
}

/* Keeps *fd only if it is a regular file; else closes it.  The open was
 * O_NONBLOCK (a FIFO without a writer would block it forever); reads from
 * a regular file do not care, but the flag goes anyway. */
static int keep_regular(int *fd)
{
	struct stat st;
	int e = 0, fl;

	if (fstat(*fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = S_ISDIR(st.st_mode) ? EISDIR : MM_ENOTREG;
	else if ((fl = fcntl(*fd, F_GETFL)) < 0 ||
		 fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		e = errno;
	if (e) {
		close(*fd);
		*fd = -1;
	}
	return e;
}

int fs_open_file_in_root(int rootfd, const char *rel, int *fd)
{
	int e = fs_open_in_root(rootfd, rel, O_NONBLOCK | O_NOCTTY, fd);

	return e ? e : keep_regular(fd);
}

int fs_open_file(const char *path, int flags, int *fd)
{
	*fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | flags);
	if (*fd < 0)
		return errno;
	return keep_regular(fd);
}

int fs_read_fd(int fd, struct buf *out, size_t max)
{
	char chunk[16384];
	struct stat st;
	ssize_t n;
	int e;

	buf_reset(out);
	/* Sized up front: a key read here is not left behind in a block
	 * that growing the buffer freed (the caller wipes the one buffer). */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < max)
		buf_grow(out, (size_t)st.st_size + 1);
	while ((n = read(fd, chunk, sizeof chunk)) > 0) {
		if (out->len + (size_t)n > max) {
			close(fd);
			explicit_bzero(chunk, sizeof chunk);
			return EFBIG;
		}
		buf_add(out, chunk, (size_t)n);
	}
	e = n < 0 ? errno : 0;
	close(fd);
	explicit_bzero(chunk, sizeof chunk);
	if (out->data)
		out->data[out->len] = '\0';	/* sized with room for it */
	return e;
}

int fs_read_in_root(int rootfd, const char *rel, struct buf *out,
		    size_t max)
{
	int fd, e;

	buf_reset(out);
	e = fs_open_file_in_root(rootfd, rel, &fd);
	return e ? e : fs_read_fd(fd, out, max);
}

int fs_read_file(const char *path, int flags, struct buf *out, size_t max)
{
	int fd, e;

	buf_reset(out);
	e = fs_open_file(path, flags, &fd);
	return e ? e : fs_read_fd(fd, out, max);
}

int fs_read_under(const char *root, const char *path, struct buf *out,
		  size_t max)
{
	struct buf full = BUF_INIT;
	int e;

	if (strcmp(root, "/"))
		buf_addstr(&full, root);
	buf_addstr(&full, path);
	e = fs_read_file(full.data, 0, out, max);
	buf_release(&full);
	return e;
}

int fs_errno_fatal(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EROFS || err == EIO;
}

int fs_errno_exit(int err)
{
	if (fs_errno_fatal(err) || err == EACCES || err == EPERM)
		return MM_EDEST;
	return MM_EDIFF;
}

/* Whether `name` is a temporary name of fsops.c (".mailmove.PID.N.tmp" or
 * ".lnk") whose run is gone: killed before its rename. */
static int stale_temp_name(const char *name)
{
	const char *p = name + 10;
	char *end;
	long pid;

	if (strncmp(name, ".mailmove.", 10))
		return 0;
	pid = strtol(p, &end, 10);
	if (end == p || *end != '.' || pid <= 0 || pid == (long)getpid())
		return 0;
	p = end + 1;
	(void)strtoul(p, &end, 10);
	if (end == p || (strcmp(end, ".tmp") && strcmp(end, ".lnk")))
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

void fs_remove_stale_temps(int dirfd_in, const char *shown)
{
	struct dirent *d;
	DIR *dh;
	int fd = dup(dirfd_in);

	if (fd < 0 || !(dh = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((d = readdir(dh)) != NULL) {
		struct stat st;

		if (!stale_temp_name(d->d_name) ||
		    fstatat(dirfd(dh), d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		if (unlinkat(dirfd(dh), d->d_name, 0) == 0)
			log_info("%s/%s: removed, left by an interrupted run",
				 shown, d->d_name);
	}
	closedir(dh);
}
