/*
 * cmd_exec.c: plumbing on the old server: `mailmove exec` runs a program
 * there (argv, no shell) and `mailmove tunnel` runs a local program while a
 * local socket reaches a port or socket there.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "endpoint.h"
#include "fwd.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "banned.h"

/* The program's output, live. */
static int to_stdout(void *arg, const void *p, size_t n)
{
	(void)arg;
	fwrite(p, 1, n, stdout);
	fflush(stdout);
	return 0;
}

static int to_stderr(void *arg, const void *p, size_t n)
{
	(void)arg;
	fwrite(p, 1, n, stderr);
	return 0;
}

int cmd_exec(struct mm_ctx *ctx, int argc, char **argv)
{
	struct buf err = BUF_INIT;
	struct endpoint *ep;
	int first, rc, status;

	rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (first >= argc) {
		log_error("exec: give the program and its arguments, "
			  "after -- if they start with '-'");
		return MM_EUSAGE;
	}
	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	rc = remote_run_stream(ep, argv + first, NULL, to_stdout, to_stderr,
			       NULL, &status, &err);
	fflush(stdout);
	if (rc < 0) {
		rc = ep_exit_code(ep);
	} else if (rc > 0) {
		log_error("exec: %s: %s%s%s", argv[first], strerror(rc),
			  err.len ? ": " : "", buf_cstr(&err));
		rc = MM_EDIFF;
	} else if (status != 0) {
		log_error("exec: %s exited with %s %d", argv[first],
			  status < 0 ? "signal" : "status",
			  status < 0 ? -status : status);
		rc = MM_EDIFF;
	}
	buf_release(&err);
	ep_close(ep);
	return rc;
}

int cmd_tunnel(struct mm_ctx *ctx, int argc, char **argv)
{
	struct endpoint *ep;
	struct fwd *f = NULL;
	char **cargv;
	int first, rc, i, n, st;
	pid_t pid;

	rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (argc - first < 2) {
		log_error("tunnel: give TARGET (tcp:HOST:PORT or unix:PATH) "
			  "and a local COMMAND");
		return MM_EUSAGE;
	}
	if (strncmp(argv[first], "tcp:", 4) && strncmp(argv[first], "unix:", 5)) {
		log_error("tunnel: %s: TARGET must be tcp:HOST:PORT or "
			  "unix:PATH", argv[first]);
		return MM_EUSAGE;
	}
	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	rc = fwd_start(ep, argv[first], &f);
	if (rc) {
		ep_close(ep);
		return rc;
	}
	if (argc - first > 2 && !strcmp(argv[first + 1], "--"))
		first++;	/* TARGET -- COMMAND */
	n = argc - first - 1;
	cargv = xcalloc((size_t)n + 1, sizeof *cargv);
	for (i = 0; i < n; i++)
		cargv[i] = strcmp(argv[first + 1 + i], "{}") ? argv[first + 1 + i]
			   : (char *)fwd_socket_path(f);
	if (!strcmp(cargv[0], "--")) {
		log_error("tunnel: give a COMMAND after --");
		free(cargv);
		fwd_stop(f);
		ep_close(ep);
		return MM_EUSAGE;
	}
	setenv("MAILMOVE_SOCKET", fwd_socket_path(f), 1);
	pid = fork();
	if (pid == 0) {
		execvp(cargv[0], cargv);
		fprintf(stderr, "mailmove: tunnel: %s: %s\n", cargv[0],
			strerror(errno));
		_exit(127);
	}
	free(cargv);
	st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (fwd_stop(f) < 0)
		rc = ep_exit_code(ep);
	else if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		rc = MM_EDIFF;
	ep_close(ep);
	return rc;
}
