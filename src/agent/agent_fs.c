/*
 * agent_fs.c: everything the agent reads from the old server's files.
 *
 * Every path is resolved beneath the root directory fd with openat2's
 * RESOLVE_IN_ROOT: with --root DIR an absolute or ".." symlink in the old
 * tree resolves inside DIR, as it would on the old machine, and can never
 * reach this machine's files.  Where the kernel lacks openat2, paths are
 * walked one component at a time and no symlink is followed at all.
 * Files are opened with O_NOATIME where allowed: reading changes nothing.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "../banned.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif

struct mm_open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};

static int have_openat2 = 1;

/* Walks `rel` one component at a time without following any symlink. */
static int open_walk(int rootfd, const char *rel, int flags)
{
	char *copy = xstrdup(rel), *p = copy, *slash;
	int dfd = dup(rootfd), fd;

	while (dfd >= 0 && (slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		fd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				    O_CLOEXEC);
		close(dfd);
		dfd = fd;
		p = slash + 1;
	}
	if (dfd < 0) {
		free(copy);
		return -1;
	}
	fd = openat(dfd, p, flags | O_NOFOLLOW | O_CLOEXEC);
	{
		int e = errno;
		close(dfd);
		free(copy);
		errno = e;
	}
	return fd;
}

/*
 * Opens `path` (relative to the root; a leading '/' is allowed) with
 * `flags`.  The path must pass mm_relpath_valid(); "" and "/" open the root.
 * Returns an fd or -1 with errno set.
 */
int agent_open(struct agent *a, const char *path, int flags)
{
	struct mm_open_how how;
	int fd;

	if (!mm_relpath_valid(path, strlen(path))) {
		errno = EINVAL;
		return -1;
	}
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	if (have_openat2) {
		memset(&how, 0, sizeof how);
		how.flags = (uint64_t)(flags | O_CLOEXEC);
		how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, a->rootfd, path, &how,
				  sizeof how);
		if (fd < 0 && errno == EPERM && (flags & O_NOATIME)) {
			/* O_NOATIME on a file of another user's (an agent
			 * not running as root): refused by the open itself,
			 * not a sign that openat2 is filtered. */
			how.flags &= ~(uint64_t)O_NOATIME;
			fd = (int)syscall(SYS_openat2, a->rootfd, path, &how,
					  sizeof how);
		}
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return fd;
		have_openat2 = 0;
	}
	if (!strcmp(path, "."))
		return openat(a->rootfd, ".", flags | O_CLOEXEC);
	return open_walk(a->rootfd, path, flags);
}

/* lstat() of a path under the root: the last component is not followed. */
int agent_lstat(struct agent *a, const char *path, struct stat *st)
{
	const char *slash;
	char *dir;
	int dfd, r, e;

	while (*path == '/')
		path++;
	if (!*path)
		return fstat(a->rootfd, st);
	if (!mm_relpath_valid(path, strlen(path))) {
		errno = EINVAL;
		return -1;
	}
	slash = strrchr(path, '/');
	dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	dfd = agent_open(a, dir, O_PATH | O_DIRECTORY);
	e = errno;
	free(dir);
	if (dfd < 0) {
		errno = e;
		return -1;
	}
	r = fstatat(dfd, slash ? slash + 1 : path, st, AT_SYMLINK_NOFOLLOW);
	e = errno;
	close(dfd);
	errno = e;
	return r;
}

/* Reads the PRETTY_NAME of the root's os-release, or "". */
static void os_pretty_name(struct agent *a, struct buf *out)
{
	const char *paths[] = { "etc/os-release", "usr/lib/os-release" };
	char text[8192], *line, *save;
	ssize_t n = -1;
	size_t i;

	for (i = 0; i < 2 && n < 0; i++) {
		/* A regular file only: a FIFO there must not block. */
		int fd = agent_open(a, paths[i], O_RDONLY | O_NONBLOCK |
				    O_NOCTTY);
		struct stat st;

		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			n = read(fd, text, sizeof text - 1);
		close(fd);
	}
	if (n < 0)
		return;
	text[n] = '\0';
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		line += 12;
		if (*line == '"' || *line == '\'') {
			char q = *line++, *end = strchr(line, q);
			if (end)
				*end = '\0';
		}
		buf_addstr(out, line);
		return;
	}
}

/* MT_HELLO: agree on the protocol and say who we are. */
int job_hello(struct agent *a, uint32_t id, struct rd *r)
{
	struct buf p = BUF_INIT, os = BUF_INIT;
	uint32_t version = rd_u32(r);
	char host[256] = "";

	if (r->err) {
		emit_error(a, id, EPROTO, "malformed handshake");
		return -1;
	}
	if (version != MM_PROTO_VERSION) {
		emit_error(a, id, EPROTO,
			   "protocol version %u requested, agent speaks %d",
			   version, MM_PROTO_VERSION);
		return -1;
	}
	gethostname(host, sizeof host - 1);
	os_pretty_name(a, &os);
	pk_u32(&p, MM_PROTO_VERSION);
	pk_u32(&p, MM_CAP_ALL);
	pk_cstr(&p, MAILMOVE_VERSION);
	pk_cstr(&p, host);
	pk_cstr(&p, a->root);
	pk_u32(&p, (uint32_t)getuid());
	pk_u8(&p, (uint8_t)a->local);
	pk_str(&p, buf_cstr(&os), os.len);
	pk_u32(&p, (uint32_t)getpid());
	emit(a, MT_HELLO_OK, id, p.data, p.len);
	a->hello = 1;
	buf_release(&p);
	buf_release(&os);
	return 0;
}

static void free_paths(char **v, uint32_t n)
{
	uint32_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Reads `n` request paths; on a bad one ends the request and returns NULL. */
static char **read_paths(struct agent *a, uint32_t id, struct rd *r,
			 uint32_t *count)
{
	uint32_t n = rd_u32(r), i;
	char **v;

	if (r->err || n > r->left / 4) {
		emit_error(a, id, EPROTO, "malformed path list");
		return NULL;
	}
	v = xcalloc(n + 1, sizeof *v);
	for (i = 0; i < n; i++) {
		v[i] = rd_strdup(r, MM_PATH_MAX);
		if (!v[i] || !mm_relpath_valid(v[i], strlen(v[i]))) {
			emit_error(a, id, EINVAL, "invalid path in request");
			free_paths(v, i + 1);
			return NULL;
		}
	}
	*count = n;
	return v;
}

static struct job *job_new(uint32_t id, uint8_t type,
			   int (*step)(struct agent *, struct job *),
			   void (*release)(struct job *), void *state)
{
	struct job *j = xcalloc(1, sizeof *j);

	j->id = id;
	j->type = type;
	j->step = step;
	j->release = release;
	j->state = state;
	return j;
}

/* ---- MT_LIST ---- */

/* A directory being read with getdents64 into a 64 KiB buffer: musl's
 * readdir() asks for 2 KiB at a time, a dozen calls for one cur/ of a
 * few hundred messages. */
#define DIRBUF_SIZE (64u << 10)

struct ldir {
	int fd;
	char *buf;
	size_t pos, len;
	uint32_t index;
	uint32_t depth;
	int test_eio;		/* entries left before the test hook's EIO,
				   -1 when the hook is off for it */
};

struct list_state {
	uint32_t flags, maxdepth;
	char *path;
	int started;
	uint32_t next_index;
	struct ldir *stack;
	size_t nstack, capstack;
	struct buf frame;	/* records of the frame being filled */
};

static void ldir_close(struct ldir *d)
{
	close(d->fd);
	free(d->buf);
	d->fd = -1;
	d->buf = NULL;
}

/* The next entry, or NULL at the end (errno 0) or on an error (errno). */
static struct dirent *ldir_read(struct ldir *d)
{
	struct dirent *de;

	if (d->pos >= d->len) {
		long n = syscall(SYS_getdents64, d->fd, d->buf, DIRBUF_SIZE);

		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return NULL;
		}
		d->len = (size_t)n;
		d->pos = 0;
	}
	de = (struct dirent *)(void *)(d->buf + d->pos);
	d->pos += de->d_reclen;
	return de;
}

static void list_release(struct job *j)
{
	struct list_state *s = j->state;

	while (s->nstack)
		ldir_close(&s->stack[--s->nstack]);
	free(s->stack);
	free(s->path);
	buf_release(&s->frame);
	free(s);
}

static void list_record(struct list_state *s, uint32_t parent, char kind,
			const char *name, const struct stat *st,
			const char *target)
{
	struct mm_stat ms;

	pk_u32(&s->frame, parent);
	pk_u8(&s->frame, (uint8_t)kind);
	pk_u8(&s->frame, st ? 1 : 0);
	pk_cstr(&s->frame, name);
	if (st) {
		mm_stat_from(&ms, st);
		pk_stat(&s->frame, &ms);
		if (kind == 'l')
			pk_cstr(&s->frame, target ? target : "");
	}
	s->next_index++;
}

static void list_error_record(struct list_state *s, uint32_t parent, int err)
{
	pk_u32(&s->frame, parent);
	pk_u8(&s->frame, 'e');
	pk_u8(&s->frame, 0);
	pk_cstr(&s->frame, ".");
	pk_u32(&s->frame, (uint32_t)err);
	s->next_index++;
}

static char kind_of(mode_t m)
{
	if (S_ISREG(m))
		return 'f';
	if (S_ISDIR(m))
		return 'd';
	if (S_ISLNK(m))
		return 'l';
	return 'o';
}

/* Test hook, for the regression tests of a listing that fails partway:
 * when MAILMOVE_AGENT_TEST_EIO is set and non-empty, reading a directory
 * whose path ends with its value fails with EIO after its first two
 * entries, as a failing disk would.  Returns the entries to let through,
 * or -1 when the hook is off for this directory (always, unless set). */
static int test_eio_budget(int fd)
{
	const char *suffix = getenv("MAILMOVE_AGENT_TEST_EIO");
	char link[64], path[MM_PATH_MAX];
	size_t plen, slen;
	ssize_t n;

	if (!suffix || !*suffix)
		return -1;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return -1;
	path[n] = '\0';
	plen = (size_t)n;
	slen = strlen(suffix);
	if (plen < slen || strcmp(path + plen - slen, suffix))
		return -1;
	return 2;
}

/* Test hook, for the regression test of a message moved from new/ to cur/
 * between the listings of its folder: when MAILMOVE_AGENT_TEST_PAUSE is
 * set and non-empty, the agent stops itself (SIGSTOP) once, after the
 * first listing of a directory named cur or new. */
static void test_pause_after(const char *path)
{
	static int paused;
	const char *v = getenv("MAILMOVE_AGENT_TEST_PAUSE");
	size_t n = strlen(path);

	if (paused || !v || !*v || n < 4 || (strcmp(path + n - 4, "/cur") &&
					     strcmp(path + n - 4, "/new")))
		return;
	paused = 1;
	raise(SIGSTOP);
}

static void list_push(struct list_state *s, int fd, uint32_t index,
		      uint32_t depth)
{
	if (s->nstack == s->capstack) {
		s->capstack = s->capstack ? s->capstack * 2 : 16;
		s->stack = xrealloc(s->stack, s->capstack * sizeof *s->stack);
	}
	s->stack[s->nstack].fd = fd;
	s->stack[s->nstack].buf = xmalloc(DIRBUF_SIZE);
	s->stack[s->nstack].pos = s->stack[s->nstack].len = 0;
	s->stack[s->nstack].index = index;
	s->stack[s->nstack].depth = depth;
	s->stack[s->nstack].test_eio = test_eio_budget(fd);
	s->nstack++;
}

/* Handles one directory entry of the directory on top of the stack. */
static void list_entry(struct agent *a, struct list_state *s,
		       struct dirent *de)
{
	struct ldir *top = &s->stack[s->nstack - 1];
	int dfd = top->fd;
	struct stat st;
	char kind, target[MM_PATH_MAX];
	int want_stat;
	uint32_t index;

	(void)a;
	switch (de->d_type) {
	case DT_REG: kind = 'f'; break;
	case DT_DIR: kind = 'd'; break;
	case DT_LNK: kind = 'l'; break;
	case DT_UNKNOWN: kind = '?'; break;
	default: kind = 'o'; break;
	}
	want_stat = (s->flags & LIST_STAT) || kind == 'd' || kind == '?';
	if (want_stat) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return;	/* gone since readdir: as if never seen */
			list_record(s, top->index, kind == '?' ? 'o' : kind,
				    de->d_name, NULL, NULL);
			return;
		}
		kind = kind_of(st.st_mode);
	}
	target[0] = '\0';
	if (kind == 'l' && want_stat) {
		ssize_t n = readlinkat(dfd, de->d_name, target,
				       sizeof target - 1);
		target[n > 0 ? n : 0] = '\0';
	}
	index = s->next_index;
	list_record(s, top->index, kind, de->d_name, want_stat ? &st : NULL,
		    target);
	if (kind == 'd' && (s->flags & LIST_RECURSE) &&
	    (s->maxdepth == 0 || top->depth + 1 < s->maxdepth)) {
		int fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
				O_NOFOLLOW | O_NOATIME | O_CLOEXEC);

		if (fd < 0 && errno == EPERM)
			fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0) {
			list_error_record(s, index, errno);
			return;
		}
		list_push(s, fd, index, top->depth + 1);
	}
}

static int list_flush(struct agent *a, struct job *j, struct list_state *s)
{
	if (s->frame.len) {
		emit(a, MT_ENTRIES, j->id, s->frame.data, s->frame.len);
		buf_reset(&s->frame);
	}
	return 0;
}

static int list_step(struct agent *a, struct job *j)
{
	struct list_state *s = j->state;

	if (!s->started) {
		struct stat st;
		int fd;

		s->started = 1;
		/* No atime either: relatime would write the inode of every
		 * changed directory listed. */
		fd = agent_open(a, s->path, O_RDONLY | O_DIRECTORY | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = agent_open(a, s->path, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || fstat(fd, &st) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			emit_error(a, j->id, e, "%s: %s", s->path, strerror(e));
			return 1;
		}
		list_record(s, UINT32_MAX, 'd', ".", &st, NULL);
		list_push(s, fd, 0, 0);
	}
	while (s->nstack && s->frame.len < (60u << 10)) {
		struct ldir *top = &s->stack[s->nstack - 1];
		struct dirent *de;

		errno = 0;
		if (top->test_eio == 0) {	/* the test hook's fault */
			de = NULL;
			errno = EIO;
		} else {
			de = ldir_read(top);
		}
		if (de && top->test_eio > 0 && strcmp(de->d_name, ".") &&
		    strcmp(de->d_name, ".."))
			top->test_eio--;
		if (!de) {
			if (errno)
				list_error_record(s, top->index, errno);
			ldir_close(top);
			s->nstack--;
			continue;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		list_entry(a, s, de);
	}
	list_flush(a, j, s);
	if (s->nstack)
		return 0;
	emit_done(a, j->id);
	test_pause_after(s->path);
	return 1;
}

struct job *job_list_new(struct agent *a, uint32_t id, struct rd *r)
{
	struct list_state *s = xcalloc(1, sizeof *s);

	s->flags = rd_u32(r);
	s->maxdepth = rd_u32(r);
	s->path = rd_strdup(r, MM_PATH_MAX);
	if (r->err || !s->path || !mm_relpath_valid(s->path, strlen(s->path))) {
		emit_error(a, id, EINVAL, "malformed list request");
		free(s->path);
		free(s);
		return NULL;
	}
	buf_init(&s->frame, 0);
	return job_new(id, MT_LIST, list_step, list_release, s);
}

/* ---- MT_READ and MT_HASH ---- */

struct files_state {
	char **paths;
	uint32_t n, i;
	uint32_t algo;
	int fd;
	uint64_t sent;
	struct stat st0;	/* MT_READ: the file as it was opened */
	unsigned delay_us;	/* test hook: a pause after each chunk */
	unsigned char *chunk;
	struct buf frame;	/* MT_HASHES records being gathered */
	char *dir;		/* MT_HASH: the directory open in dirfd */
	int dirfd, have_dir;
};

static void files_release(struct job *j)
{
	struct files_state *s = j->state;

	if (s->fd >= 0)
		close(s->fd);
	free_paths(s->paths, s->n);
	if (s->have_dir)
		close(s->dirfd);
	free(s->dir);
	free(s->chunk);
	buf_release(&s->frame);
	free(s);
}

/* Checks that an open fd is a regular file and fills *st; closes it and
 * returns -1 with errno otherwise. */
static int keep_regular(int fd, struct stat *st)
{
	if (fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		errno = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	return fd;
}

/* Opens a regular file for reading without following a final symlink and
 * without touching its atime.  Returns an fd, or -1 with errno. */
static int open_regular(struct agent *a, const char *path, struct stat *st)
{
	int fd = agent_open(a, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					     O_NOATIME);

	if (fd < 0 && errno == EPERM)
		fd = agent_open(a, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	return keep_regular(fd, st);
}

/*
 * Opens a file to hash it, for a run of files in few directories (a hash
 * request lists a Maildir's messages one after another): the directory is
 * resolved beneath the root once and kept open, and each file is opened
 * from it by its last component with O_NOFOLLOW and O_NONBLOCK.  No fstat
 * here: hash_step() checks the type only when a file is larger than one
 * read, and reports the bytes it hashed, so a name that is no longer a
 * regular file shows as an error or a size the caller does not expect
 * (a directory fails with EISDIR, an empty FIFO reads as 0 bytes, a device
 * stops at its first full read).  Returns an fd, or -1 with errno.
 */
static int open_to_hash(struct agent *a, struct files_state *s,
			const char *path)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t dlen;
	int fd;

	if (!slash)
		return open_regular(a, path, &st);
	dlen = (size_t)(slash - path);
	if (!s->have_dir || strlen(s->dir) != dlen ||
	    memcmp(s->dir, path, dlen)) {
		char *d = xstrndup(path, dlen);
		int dfd = agent_open(a, d, O_PATH | O_DIRECTORY);

		if (s->have_dir)
			close(s->dirfd);
		free(s->dir);
		s->dir = NULL;
		s->have_dir = 0;
		if (dfd < 0) {
			int e = errno;
			free(d);
			errno = e;
			return -1;
		}
		s->dir = d;
		s->dirfd = dfd;
		s->have_dir = 1;
	}
	fd = openat(s->dirfd, slash + 1, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = openat(s->dirfd, slash + 1, O_RDONLY | O_NOFOLLOW |
			    O_NONBLOCK | O_CLOEXEC);
	return fd;
}

static void file_header(struct agent *a, struct job *j, uint32_t index,
			int err, const struct stat *st)
{
	struct buf p = BUF_INIT;
	struct mm_stat ms;

	pk_u32(&p, index);
	pk_u32(&p, (uint32_t)err);
	if (!err) {
		mm_stat_from(&ms, st);
		pk_stat(&p, &ms);
	}
	emit(a, MT_FILE, j->id, p.data, p.len);
	buf_release(&p);
}

static void file_end(struct agent *a, struct job *j, uint32_t index, int err,
		     uint64_t sent)
{
	struct buf p = BUF_INIT;

	pk_u32(&p, index);
	pk_u32(&p, (uint32_t)err);
	pk_u64(&p, sent);
	emit(a, MT_FILE_END, j->id, p.data, p.len);
	buf_release(&p);
}

/* After the last read of a file: ESTALE when what was sent is not the
 * file as it was opened (its size or mtime changed while it was read, or
 * fewer or more bytes than its size came), else 0.  The controller never
 * places such a copy.  The ctime is not compared: it moves with every flag
 * change (a rename) on a running server, which leaves the content alone;
 * a write moves the mtime. */
static int read_changed(const struct files_state *s)
{
	struct stat st;

	if (fstat(s->fd, &st) < 0)
		return errno;
	if (s->sent != (uint64_t)s->st0.st_size ||
	    st.st_size != s->st0.st_size ||
	    st.st_mtim.tv_sec != s->st0.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != s->st0.st_mtim.tv_nsec)
		return ESTALE;
	return 0;
}

/* Sends one chunk of the current file, or opens the next one. */
static int read_step(struct agent *a, struct job *j)
{
	struct files_state *s = j->state;
	ssize_t n;

	if (s->fd < 0) {
		struct stat st;

		if (s->i == s->n) {
			emit_done(a, j->id);
			return 1;
		}
		s->fd = open_regular(a, s->paths[s->i], &st);
		if (s->fd < 0) {
			file_header(a, j, s->i, errno, NULL);
			s->i++;
			return 0;
		}
		file_header(a, j, s->i, 0, &st);
		s->st0 = st;
		s->sent = 0;
	}
	/* No more than the size it had when opened: a file that grows
	 * faster than it is read would be read for ever; one that grew is
	 * reported changed (read_changed) and read again by the caller. */
	if (s->st0.st_size >= 0 && s->sent >= (uint64_t)s->st0.st_size) {
		n = 0;
	} else {
		uint64_t left = (uint64_t)s->st0.st_size - s->sent;

		n = read(s->fd, s->chunk, left < MM_DATA_CHUNK ?
			 (size_t)left : MM_DATA_CHUNK);
	}
	if (n < 0 && errno == EINTR)
		return 0;
	if (n > 0) {
		emit(a, MT_DATA, j->id, s->chunk, (size_t)n);
		s->sent += (uint64_t)n;
		if (s->delay_us)
			usleep(s->delay_us);
		return 0;
	}
	file_end(a, j, s->i, n < 0 ? errno : read_changed(s), s->sent);
	close(s->fd);
	s->fd = -1;
	s->i++;
	return 0;
}

static void hash_record(struct files_state *s, uint32_t index, int err,
			uint64_t size, const XXH128_hash_t *h)
{
	pk_u32(&s->frame, index);
	pk_u32(&s->frame, (uint32_t)err);
	pk_u64(&s->frame, size);
	pk_u64(&s->frame, h ? h->high64 : 0);
	pk_u64(&s->frame, h ? h->low64 : 0);
}

/* Hashes whole files, batching the results into MT_HASHES frames. */
static int hash_step(struct agent *a, struct job *j)
{
	struct files_state *s = j->state;
	int budget = 64;	/* files per step, so output keeps flowing */

	while (s->i < s->n && budget-- > 0 && s->frame.len < (60u << 10)) {
		XXH3_state_t st;
		XXH128_hash_t h;
		struct stat sb;
		uint64_t size = 0;
		ssize_t n;
		int fd = open_to_hash(a, s, s->paths[s->i]);
		int err = 0, checked = 0;

		if (fd < 0) {
			hash_record(s, s->i++, errno, 0, NULL);
			continue;
		}
		XXH3_128bits_reset(&st);
		while ((n = read(fd, s->chunk, MM_DATA_CHUNK)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				err = errno;
				break;
			}
			/* More than one read: make sure it is a regular file
			 * before going on (a device could read forever). */
			if ((size_t)n == MM_DATA_CHUNK && !checked) {
				checked = 1;
				if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
					err = EINVAL;
					break;
				}
			}
			XXH3_128bits_update(&st, s->chunk, (size_t)n);
			size += (uint64_t)n;
			/* A short read of a regular file is its end: saves
			 * the read that would return 0. */
			if ((size_t)n < MM_DATA_CHUNK)
				break;
		}
		close(fd);
		h = XXH3_128bits_digest(&st);
		hash_record(s, s->i++, err, size, err ? NULL : &h);
	}
	if (s->frame.len) {
		emit(a, MT_HASHES, j->id, s->frame.data, s->frame.len);
		buf_reset(&s->frame);
	}
	if (s->i < s->n)
		return 0;
	emit_done(a, j->id);
	return 1;
}

static struct job *files_job(struct agent *a, uint32_t id, struct rd *r,
			     uint8_t type)
{
	struct files_state *s = xcalloc(1, sizeof *s);
	uint32_t word = rd_u32(r);

	if (type == MT_HASH && word != HASH_XXH3_128) {
		emit_error(a, id, EINVAL, "unknown hash algorithm %u", word);
		free(s);
		return NULL;
	}
	s->algo = word;
	s->paths = read_paths(a, id, r, &s->n);
	if (!s->paths) {
		free(s);
		return NULL;
	}
	s->fd = -1;
	{
		/* Test hook: a slow reader, for a file to change under it. */
		const char *v = getenv("MAILMOVE_AGENT_TEST_READ_DELAY_US");

		s->delay_us = v && *v ? (unsigned)strtoul(v, NULL, 10) : 0;
	}
	s->chunk = xmalloc(MM_DATA_CHUNK);
	buf_init(&s->frame, 0);
	return job_new(id, type, type == MT_READ ? read_step : hash_step,
		       files_release, s);
}

struct job *job_read_new(struct agent *a, uint32_t id, struct rd *r)
{
	return files_job(a, id, r, MT_READ);
}

struct job *job_hash_new(struct agent *a, uint32_t id, struct rd *r)
{
	return files_job(a, id, r, MT_HASH);
}

/* ---- MT_STAT ---- */

static int stat_step(struct agent *a, struct job *j)
{
	struct files_state *s = j->state;

	while (s->i < s->n && s->frame.len < (60u << 10)) {
		struct stat st;
		struct mm_stat ms;

		pk_u32(&s->frame, s->i);
		if (agent_lstat(a, s->paths[s->i], &st) < 0) {
			pk_u32(&s->frame, (uint32_t)errno);
		} else {
			pk_u32(&s->frame, 0);
			mm_stat_from(&ms, &st);
			pk_stat(&s->frame, &ms);
		}
		s->i++;
	}
	if (s->frame.len) {
		emit(a, MT_STATS, j->id, s->frame.data, s->frame.len);
		buf_reset(&s->frame);
	}
	if (s->i < s->n)
		return 0;
	emit_done(a, j->id);
	return 1;
}

struct job *job_stat_new(struct agent *a, uint32_t id, struct rd *r)
{
	struct files_state *s = xcalloc(1, sizeof *s);

	s->paths = read_paths(a, id, r, &s->n);
	if (!s->paths) {
		free(s);
		return NULL;
	}
	s->fd = -1;
	buf_init(&s->frame, 0);
	return job_new(id, MT_STAT, stat_step, files_release, s);
}

/* ---- MT_STATFS ---- */

static int statfs_step(struct agent *a, struct job *j)
{
	struct files_state *s = j->state;
	struct statfs sf;
	struct buf p = BUF_INIT;
	int fd = agent_open(a, s->paths[0], O_RDONLY | O_DIRECTORY);

	if (fd < 0 || fstatfs(fd, &sf) < 0) {
		int e = errno;
		emit_error(a, j->id, e, "%s: %s", s->paths[0], strerror(e));
	} else {
		pk_u64(&p, (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize);
		pk_u64(&p, (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize);
		pk_u64(&p, (uint64_t)sf.f_files);
		pk_u64(&p, (uint64_t)sf.f_ffree);
		emit(a, MT_STATFS_OK, j->id, p.data, p.len);
		emit_done(a, j->id);
	}
	if (fd >= 0)
		close(fd);
	buf_release(&p);
	return 1;
}

struct job *job_statfs_new(struct agent *a, uint32_t id, struct rd *r)
{
	struct files_state *s = xcalloc(1, sizeof *s);
	char *path = rd_strdup(r, MM_PATH_MAX);

	if (!path || !mm_relpath_valid(path, strlen(path))) {
		emit_error(a, id, EINVAL, "malformed statfs request");
		free(path);
		free(s);
		return NULL;
	}
	s->paths = xcalloc(2, sizeof *s->paths);
	s->paths[0] = path;
	s->n = 1;
	s->fd = -1;
	buf_init(&s->frame, 0);
	return job_new(id, MT_STATFS, statfs_step, files_release, s);
}
