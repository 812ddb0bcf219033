/* child.c: children of the controller (see child.h). */
#include "child.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "lock.h"
#include "log.h"
#include "banned.h"

int mm_self_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n <= 0) {
		log_error("cannot find the mailmove binary (/proc/self/exe)");
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

int mm_run_wait(char *const *argv)
{
	return mm_run_wait_out(argv, -1);
}

int mm_run_wait_out(char *const *argv, int outfd)
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return 127;
	if (pid == 0) {
		char self[4096];

		/* A step of ours works under our lock, even if we die. */
		if (mm_self_path(self, sizeof self) == 0 &&
		    !strcmp(self, argv[0]))
			mm_lock_inherit();
		if (outfd >= 0 && outfd != 1)
			dup2(outfd, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "mailmove: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

void argvb_add(struct argvb *a, const char *arg)
{
	a->v = xgrow(a->v, sizeof *a->v, a->n + 2, &a->cap, 16);
	a->v[a->n++] = (char *)arg;
	a->v[a->n] = NULL;
}

void argvb_release(struct argvb *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

void argvb_common(struct argvb *a, const struct mm_ctx *ctx, unsigned what)
{
	if (what & CHILD_REMOTE) {
		if (ctx->from) {
			argvb_add(a, "--from");
			argvb_add(a, ctx->from);
		}
		if (ctx->rsh) {
			argvb_add(a, "--rsh");
			argvb_add(a, ctx->rsh);
		}
		if (ctx->agent) {
			argvb_add(a, "--agent");
			argvb_add(a, ctx->agent);
		}
		if (ctx->ssh_persist) {
			argvb_add(a, "--ssh-persist");
			argvb_add(a, ctx->ssh_persist);
		}
	}
	if ((what & CHILD_TO) && ctx->to) {
		argvb_add(a, "--to");
		argvb_add(a, ctx->to);
	}
	if ((what & CHILD_DRYRUN) && ctx->dry_run)
		argvb_add(a, "--dry-run");
	if (ctx->verbose < 0)
		argvb_add(a, "-q");
}
