/*
 * agent_proc.c: programs run on the old server, and connections forwarded
 * to its local services.
 *
 * MT_RUN executes an argv directly (no shell), streams stdout and stderr
 * back as MT_OUT and MT_ERR_OUT, then MT_EXIT and MT_DONE.  MT_FWD_OPEN
 * connects to a TCP port or a unix socket on the old server and carries the
 * bytes both ways as MT_FWD_DATA, so the controller can speak to MariaDB or
 * Redis there with the real client libraries over the one ssh connection.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../banned.h"

static struct async *async_find(struct agent *a, uint32_t id)
{
	struct async *x;

	for (x = a->async; x; x = x->next)
		if (x->id == id && !x->finished)
			return x;
	return NULL;
}

static struct async *async_new(struct agent *a, uint32_t id, int kind)
{
	struct async *x = xcalloc(1, sizeof *x);

	x->id = id;
	x->kind = kind;
	x->out_fd = x->err_fd = x->in_fd = -1;
	buf_init(&x->pending, 0);
	x->next = a->async;
	a->async = x;
	return x;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* The PATH a root shell would have, so /usr/sbin tools are found over ssh. */
static void ensure_path(void)
{
	const char *p = getenv("PATH");

	if (!p || !strstr(p, "sbin"))
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
			       "/usr/bin:/sbin:/bin", 1);
}

int async_run_start(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t flags = rd_u32(r), argc = rd_u32(r), nenv, i, timeout_ms = 0;
	char **argv = NULL, **env = NULL, *pidfile = NULL, *instance = NULL;
	struct dwatch *w = NULL;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct async *x;
	pid_t pid;
	int ok = 0;

	if (r->err || argc == 0 || argc > MM_ARGS_MAX) {
		emit_error(a, id, EINVAL, "malformed run request");
		return -1;
	}
	argv = xcalloc(argc + 1, sizeof *argv);
	for (i = 0; i < argc; i++)
		if (!(argv[i] = rd_strdup(r, MM_PATH_MAX)))
			goto out;
	nenv = rd_u32(r);
	if (r->err || nenv > MM_ARGS_MAX)
		goto out;
	env = xcalloc(nenv + 1, sizeof *env);
	for (i = 0; i < nenv; i++)
		if (!(env[i] = rd_strdup(r, MM_PATH_MAX)) ||
		    !strchr(env[i], '='))
			goto out;
	if (flags & RUN_WATCH) {
		pidfile = rd_strdup(r, MM_PATH_MAX);
		timeout_ms = rd_u32(r);
		instance = rd_strdup(r, 256);
		if (!pidfile || !instance || r->err || pidfile[0] != '/' ||
		    !timeout_ms || strchr(instance, '/'))
			goto out;
	}
	ok = 1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    ((flags & RUN_STDIN) && pipe2(in, O_CLOEXEC) < 0)) {
		emit_error(a, id, errno, "pipe: %s", strerror(errno));
		goto out;
	}
	/* The Dovecot is looked at before its stop command starts. */
	if (pidfile)
		w = dwatch_new(pidfile, instance, timeout_ms / 1000.0);
	pid = fork();
	if (pid < 0) {
		emit_error(a, id, errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(flags & RUN_STDIN ? in[0] : devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		signal(SIGPIPE, SIG_DFL);
		ensure_path();
		for (i = 0; i < nenv; i++)
			putenv(env[i]);
		execvp(argv[0], argv);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	x = async_new(a, id, ASYNC_RUN);
	x->pid = pid;
	x->watch = w;
	w = NULL;
	x->out_fd = out[0];
	x->err_fd = err[0];
	out[0] = err[0] = -1;
	set_nonblock(x->out_fd);
	set_nonblock(x->err_fd);
	if (flags & RUN_STDIN) {
		x->in_fd = in[1];
		in[1] = -1;
		set_nonblock(x->in_fd);
	}
out:
	if (!ok)
		emit_error(a, id, EINVAL, "malformed run request");
	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
	for (i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
	free(pidfile);
	free(instance);
	dwatch_free(w);
	if (in[0] >= 0) close(in[0]);
	if (in[1] >= 0) close(in[1]);
	if (out[0] >= 0) close(out[0]);
	if (out[1] >= 0) close(out[1]);
	if (err[0] >= 0) close(err[0]);
	if (err[1] >= 0) close(err[1]);
	return ok ? 0 : -1;
}

/* Connects to "tcp:HOST:PORT" or "unix:PATH".  Returns an fd or -1. */
static int fwd_connect(const char *target, const char **why)
{
	int fd;

	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(target + 5) >= sizeof sun.sun_path) {
			*why = "socket path too long";
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sun.sun_path, target + 5, strlen(target + 5));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			fd = -1;
		}
		*why = "connect";
		return fd;
	}
	if (!strncmp(target, "tcp:", 4)) {
		char *host = xstrdup(target + 4), *port = strrchr(host, ':');
		struct addrinfo hints, *res = NULL, *ai;
		int rc;

		fd = -1;
		*why = "connect";
		if (!port) {
			free(host);
			*why = "target needs a port";
			errno = EINVAL;
			return -1;
		}
		*port++ = '\0';
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc) {
			*why = gai_strerror(rc);
			free(host);
			errno = EHOSTUNREACH;
			return -1;
		}
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
				    ai->ai_protocol);
			if (fd >= 0 && connect(fd, ai->ai_addr,
					       ai->ai_addrlen) < 0) {
				int e = errno;
				close(fd);
				errno = e;
				fd = -1;
			}
		}
		freeaddrinfo(res);
		free(host);
		return fd;
	}
	*why = "target must be tcp:HOST:PORT or unix:PATH";
	errno = EINVAL;
	return -1;
}

int async_fwd_start(struct agent *a, uint32_t id, struct rd *r)
{
	char *target = rd_strdup(r, MM_PATH_MAX);
	const char *why = "";
	struct async *x;
	int fd;

	if (!target) {
		emit_error(a, id, EINVAL, "malformed forward request");
		return -1;
	}
	fd = fwd_connect(target, &why);
	if (fd < 0) {
		int e = errno;
		emit_error(a, id, e, "%s: %s: %s", target, why, strerror(e));
		free(target);
		return -1;
	}
	free(target);
	set_nonblock(fd);
	x = async_new(a, id, ASYNC_FWD);
	x->in_fd = fd;
	x->out_fd = fd;
	emit(a, MT_FWD_OK, id, NULL, 0);
	return 0;
}

/* Input for a running program or a forwarded connection. */
void async_input(struct agent *a, uint8_t type, uint32_t id, struct rd *r)
{
	struct async *x = async_find(a, id);

	if (!x)
		return;		/* already finished: the data has nowhere to go */
	if (r->left == 0 || type == MT_FWD_CLOSE) {
		x->close_in = 1;
		return;
	}
	buf_add(&x->pending, r->p, r->left);
}

/* Is a RUN_WATCH program's Dovecot being watched (a quick poll)? */
int async_watching(struct agent *a)
{
	struct async *x;

	for (x = a->async; x; x = x->next)
		if (!x->finished && x->watch &&
		    (dwatch_active(x->watch) || x->exited))
			return 1;
	return 0;
}

int async_busy(struct agent *a)
{
	struct async *x;

	for (x = a->async; x; x = x->next)
		if (!x->finished)
			return 1;
	return 0;
}

/* Fills pollfds for every live async job: one per fd and direction.  The
 * order is replayed by async_handle(). */
int async_pollfds(struct agent *a, struct pollfd *pfd, int max)
{
	struct async *x;
	int n = 0, reading = a->out.len < AGENT_OUT_HIGH;

	for (x = a->async; x && n + 3 <= max; x = x->next) {
		if (x->finished)
			continue;
		if (x->kind == ASYNC_RUN) {
			pfd[n].fd = reading ? x->out_fd : -1;
			pfd[n++].events = POLLIN;
			pfd[n].fd = reading ? x->err_fd : -1;
			pfd[n++].events = POLLIN;
			pfd[n].fd = x->pending.len || x->close_in ? x->in_fd : -1;
			pfd[n++].events = POLLOUT;
		} else {
			pfd[n].fd = reading ? x->out_fd : -1;
			pfd[n++].events = POLLIN;
			pfd[n].fd = x->pending.len ? x->in_fd : -1;
			pfd[n++].events = POLLOUT;
			pfd[n].fd = -1;
			pfd[n++].events = 0;
		}
	}
	return n;
}

/* Reads what a program or socket has; returns 0 at EOF. */
static int drain(struct agent *a, struct async *x, int fd, uint8_t type)
{
	char chunk[64 << 10];
	ssize_t n = read(fd, chunk, sizeof chunk);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 1 : 0;
	if (n > 0)
		emit(a, type, x->id, chunk, (size_t)n);
	return n > 0;
}

static void feed(struct async *x)
{
	while (x->pending.len) {
		ssize_t n = write(x->in_fd, x->pending.data, x->pending.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				buf_reset(&x->pending);	/* reader gone */
			break;
		}
		buf_consume(&x->pending, (size_t)n);
	}
}

/* Ends a program whose request is over: SIGTERM, two seconds, SIGKILL. */
/* Ends the program: SIGTERM, SIGKILL 2 s later; its status is the
 * negated signal that ended it. */
static void kill_wait(struct async *x)
{
	int i, st, sig = SIGTERM;

	kill(x->pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(x->pid, &st, WNOHANG) == x->pid)
			break;
		usleep(20000);
	}
	if (i == 100) {
		kill(x->pid, SIGKILL);
		sig = SIGKILL;
		waitpid(x->pid, &st, 0);
	}
	x->exited = 1;
	x->status = -(WIFSIGNALED(st) ? WTERMSIG(st) : sig);
}

static void end_program(struct async *x)
{
	int i;

	if (!x->exited) {
		kill(x->pid, SIGTERM);
		for (i = 0; i < 100; i++) {
			if (waitpid(x->pid, NULL, WNOHANG) == x->pid)
				break;
			usleep(20000);
		}
		if (i == 100) {
			kill(x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
		}
		x->exited = 1;
	}
	if (x->in_fd >= 0)
		close(x->in_fd);
	if (x->out_fd >= 0)
		close(x->out_fd);
	if (x->err_fd >= 0)
		close(x->err_fd);
	x->in_fd = x->out_fd = x->err_fd = -1;
	x->finished = 1;
}

/* Reaps the program without waiting; returns whether it has ended. */
static int run_reap(struct async *x)
{
	int st;

	if (!x->exited && waitpid(x->pid, &st, WNOHANG) == x->pid) {
		x->exited = 1;
		x->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	}
	return x->exited;
}

/* A RUN_WATCH program: one look at its Dovecot.  Returns 0 while the watch
 * goes on, 1 when it is over (the request finishes as any other), -1 when
 * it failed (the request has ended with MT_ERROR). */
static int run_watch(struct agent *a, struct async *x)
{
	struct buf msg = BUF_INIT;
	int r;

	if (!dwatch_active(x->watch))
		return 1;
	run_reap(x);	/* before x->status is read */
	r = dwatch_step(x->watch, x->exited, x->status, &msg);
	if (r == DW_DONE && !x->exited)
		kill_wait(x);	/* the Dovecot stopped, the command hangs */
	if (r == DW_QUIET)
		emit(a, MT_QUIET, x->id, msg.data, msg.len);
	if (r == DW_FAIL) {
		emit_error(a, x->id, ETIMEDOUT, "%.*s", (int)msg.len,
			   msg.data ? msg.data : "");
		end_program(x);
	}
	buf_release(&msg);
	return r == DW_FAIL ? -1 : r == DW_DONE;
}

/*
 * A stop command that ended while something it started still holds its
 * output (a Dovecot it started again, daemonized with the command's
 * stderr): the watch is over, so give the pipes LINGER_S to close, look
 * for a new master meanwhile, then close them.  Returns 1 while lingering,
 * 0 when the pipes are closed, -1 when the request failed.
 */
#define LINGER_S 2.0
static int run_linger(struct agent *a, struct async *x)
{
	struct buf msg = BUF_INIT;
	double now = mono_now();

	if (dwatch_restarted(x->watch, &msg)) {
		emit_error(a, x->id, ETIMEDOUT, "%.*s", (int)msg.len,
			   msg.data ? msg.data : "");
		buf_release(&msg);
		end_program(x);
		return -1;
	}
	if (x->linger_at == 0)
		x->linger_at = now;
	if (now - x->linger_at < LINGER_S)
		return 1;
	if (x->out_fd >= 0)
		close(x->out_fd);
	if (x->err_fd >= 0)
		close(x->err_fd);
	x->out_fd = x->err_fd = -1;
	return 0;
}

static void run_finish_if_done(struct agent *a, struct async *x)
{
	struct buf p = BUF_INIT;
	int st;

	if (x->watch && run_watch(a, x) <= 0)
		return;
	if ((x->out_fd >= 0 || x->err_fd >= 0) && x->watch && x->exited &&
	    run_linger(a, x))
		return;
	if (x->out_fd >= 0 || x->err_fd >= 0)
		return;
	if (!x->exited) {
		if (waitpid(x->pid, &st, WNOHANG) != x->pid)
			return;
		x->exited = 1;
		x->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	}
	if (x->in_fd >= 0) {
		close(x->in_fd);
		x->in_fd = -1;
	}
	pk_u32(&p, (uint32_t)x->status);
	emit(a, MT_EXIT, x->id, p.data, p.len);
	emit_done(a, x->id);
	buf_release(&p);
	x->finished = 1;
}

static void fwd_finish(struct agent *a, struct async *x)
{
	if (x->in_fd >= 0)
		close(x->in_fd);
	x->in_fd = x->out_fd = -1;
	emit(a, MT_FWD_CLOSE, x->id, NULL, 0);
	emit_done(a, x->id);
	x->finished = 1;
}

void async_handle(struct agent *a, struct pollfd *pfd, int n)
{
	struct async *x, **pp;
	int i = 0;

	for (x = a->async; x && i + 3 <= n; x = x->next) {
		if (x->finished)
			continue;
		if (x->kind == ASYNC_RUN) {
			if (pfd[i].fd >= 0 && pfd[i].revents &&
			    !drain(a, x, x->out_fd, MT_OUT)) {
				close(x->out_fd);
				x->out_fd = -1;
			}
			if (pfd[i + 1].fd >= 0 && pfd[i + 1].revents &&
			    !drain(a, x, x->err_fd, MT_ERR_OUT)) {
				close(x->err_fd);
				x->err_fd = -1;
			}
			if (x->in_fd >= 0) {
				feed(x);
				if (x->close_in && !x->pending.len) {
					close(x->in_fd);
					x->in_fd = -1;
				}
			}
			run_finish_if_done(a, x);
		} else {
			if (x->pending.len)
				feed(x);
			if (pfd[i].fd >= 0 && pfd[i].revents &&
			    !drain(a, x, x->out_fd, MT_FWD_DATA))
				fwd_finish(a, x);
			else if (x->close_in && !x->pending.len)
				fwd_finish(a, x);
		}
		i += 3;
	}
	/* Also finish programs whose pipes closed on an earlier round. */
	for (x = a->async; x; x = x->next)
		if (!x->finished && x->kind == ASYNC_RUN)
			run_finish_if_done(a, x);
	for (pp = &a->async; *pp;) {
		x = *pp;
		if (x->finished) {
			*pp = x->next;
			buf_release(&x->pending);
			dwatch_free(x->watch);
			free(x);
		} else {
			pp = &x->next;
		}
	}
}

/* Ends every program and connection: the controller has gone. */
void async_kill_all(struct agent *a)
{
	struct async *x;

	for (x = a->async; x; x = x->next) {
		if (x->finished)
			continue;
		if (x->kind == ASYNC_RUN) {
			end_program(x);
			continue;
		}
		if (x->in_fd >= 0)
			close(x->in_fd);
		if (x->kind == ASYNC_RUN) {
			if (x->out_fd >= 0)
				close(x->out_fd);
			if (x->err_fd >= 0)
				close(x->err_fd);
		}
		x->finished = 1;
	}
}
