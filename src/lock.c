/*
 * lock.c: one run at a time per destination (see lock.h).  flock(2)
 * rather than a pid file alone: the kernel drops the lock when its holder
 * dies, even by kill -9, so a stale lock never blocks the next run.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

int mm_lock_path(const char *path, const char *what)
{
	char held[256];
	ssize_t n;
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
		buf_release(&b);
		return MM_OK;	/* the fd stays open until the process ends */
	}
	if (errno != EWOULDBLOCK) {
		log_error("%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return MM_EDEST;
	}
	n = pread(fd, held, sizeof held - 1, 0);
	close(fd);
	held[n > 0 ? n : 0] = '\0';
	held[strcspn(held, "\n")] = '\0';
	{
		char *sp = strchr(held, ' ');
		const char *cmd = sp ? sp + 1 : "";

		if (sp)
			*sp = '\0';
		if (*held)
			log_error("another mailmove (pid %s%s%s) is running on "
				  "this destination and holds %s; wait for it "
				  "to end", held, *cmd ? ", " : "", cmd, path);
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

	if (dir && *dir) {
		buf_printf(&p, "%s/%s.lock", dir, ctx->cmd->name);
	} else {
		buf_addstr(&p, mm_dest_root(ctx));
		while (p.len && p.data[p.len - 1] == '/')
			p.data[--p.len] = '\0';	/* "/" becomes "" */
		buf_printf(&p, "/var/lib/mailmove/%s.lock", ctx->cmd->name);
	}
	rc = mm_lock_path(p.data, ctx->cmd->name);
	buf_release(&p);
	return rc;
}
