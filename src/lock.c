/*
 * lock.c: one run at a time per destination (see lock.h).  flock(2)
 * rather than a pid file alone: the kernel drops the lock when its holder
 * dies, even by kill -9, so a stale lock never blocks the next run.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mailmove.h"
#include "banned.h"

/* Makes the directories of `path` (0700), like mkdir -p of its parent. */
static void make_parents(const char *path)
{
	char *p = xstrdup(path), *s;

	for (s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			break;
		*s = '/';
	}
	free(p);
}

/* The parent of process `pid` (from /proc), or 0. */
static long parent_of(long pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name may hold spaces */
	if (!p || strlen(p) < 4)
		return 0;
	return strtol(p + 4, NULL, 10);	/* ") S PPID" */
}

/* Whether the holder `pid` of a lock is an ancestor of this process that
 * handed its lock down (MAILMOVE_LOCK_HOLDER): `run` and `cutover` run
 * their steps as children, which work under their parent's lock. */
static int held_by_ancestor(long pid)
{
	const char *h = getenv("MAILMOVE_LOCK_HOLDER");
	long p = (long)getppid();
	int depth;

	if (!h || strtol(h, NULL, 10) != pid || pid <= 1)
		return 0;
	for (depth = 0; depth < 16 && p > 1; depth++, p = parent_of(p))
		if (p == pid)
			return 1;
	return 0;
}

/* The pid holding the flock(2) on `fd`'s file, from /proc/locks (the
 * file's content can still be an earlier holder's), or 0. */
static long lock_holder(int fd)
{
	char line[256];
	struct stat st;
	long pid = 0;
	FILE *f;

	if (fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return 0;
	while (!pid && fgets(line, sizeof line, f)) {
		char type[16];
		long p;
		unsigned maj, min;
		unsigned long ino;

		if (strstr(line, "->") ||
		    sscanf(line, "%*s %15s %*s %*s %ld %x:%x:%lu", type, &p,
			   &maj, &min, &ino) != 5)
			continue;
		if (!strcmp(type, "FLOCK") && ino == (unsigned long)st.st_ino &&
		    makedev(maj, min) == st.st_dev)
			pid = p;
	}
	fclose(f);
	return pid;
}

/* The destination's lock, once taken (mm_lock_command). */
static int dest_lock_fd = -1;

void mm_lock_inherit(void)
{
	if (dest_lock_fd >= 0)
		fcntl(dest_lock_fd, F_SETFD, 0);
}

/* Takes the lock at `path`; *fdp gets its fd (kept open). */
static int lock_path_fd(const char *path, const char *what, int *fdp);

int mm_lock_path(const char *path, const char *what)
{
	int fd;

	return lock_path_fd(path, what, &fd);
}

static int lock_path_fd(const char *path, const char *what, int *fdp)
{
	char held[256];
	ssize_t n;
	long pid;
	int fd;

	make_parents(path);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		  0600);
	if (fd < 0) {
		log_error("%s: cannot open the lock file: %s", path,
			  strerror(errno));
		return MM_EDEST;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		struct buf b = BUF_INIT;

		buf_printf(&b, "%ld %s\n", (long)getpid(), what);
		if (ftruncate(fd, 0) < 0 || pwrite(fd, b.data, b.len, 0) < 0)
			log_warn("%s: cannot write the lock file: %s", path,
				 strerror(errno));
		buf_reset(&b);
		buf_printf(&b, "%ld", (long)getpid());
		setenv("MAILMOVE_LOCK_HOLDER", b.data, 1);
		buf_release(&b);
		*fdp = fd;
		return MM_OK;	/* the fd stays open until the process ends */
	}
	if (errno != EWOULDBLOCK) {
		log_error("%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return MM_EDEST;
	}
	{
		/* The file names the holder once it has written it, right
		 * after it locked; until then it may still name an earlier
		 * holder, gone since.  A living pid in the file wins (the
		 * process that locked may have handed the lock to another),
		 * else the one /proc/locks names. */
		int tries;

		pid = 0;
		for (tries = 0; tries < 50 && !pid; tries++) {
			long fpid;

			n = pread(fd, held, sizeof held - 1, 0);
			held[n > 0 ? n : 0] = '\0';
			fpid = strtol(held, NULL, 10);
			if (strchr(held, '\n') && fpid > 0 &&
			    kill((pid_t)fpid, 0) == 0)
				pid = fpid;
			else
				usleep(10000);
		}
		if (!pid)
			pid = lock_holder(fd);
	}
	close(fd);
	held[strcspn(held, "\n")] = '\0';
	{
		char *sp = strchr(held, ' ');
		long fpid = strtol(held, NULL, 10);
		const char *cmd = sp ? sp + 1 : "";

		if (pid != fpid)
			cmd = "";
		if (pid > 0 && held_by_ancestor(pid))
			return MM_OK;
		if (pid > 0)
			log_error("another mailmove (pid %ld%s%s) is running on "
				  "this destination and holds %s; wait for it "
				  "to end", pid, *cmd ? ", " : "", cmd, path);
		else
			log_error("another mailmove is running on this "
				  "destination and holds %s; wait for it to end",
				  path);
	}
	return MM_EDEST;
}

int mm_lock_command(const struct mm_ctx *ctx)
{
	const char *dir = getenv("MAILMOVE_LOCK_DIR");
	struct buf p = BUF_INIT;
	int rc;
	int fd = -1;

	if (dir && *dir) {
		buf_printf(&p, "%s/mailmove.lock", dir);
	} else {
		buf_addstr(&p, mm_dest_root(ctx));
		while (p.len && p.data[p.len - 1] == '/')
			p.data[--p.len] = '\0';	/* "/" becomes "" */
		buf_addstr(&p, "/var/lib/mailmove/mailmove.lock");
	}
	rc = lock_path_fd(p.data, ctx->cmd->name, &fd);
	if (!rc && fd >= 0)
		dest_lock_fd = fd;
	buf_release(&p);
	return rc;
}
