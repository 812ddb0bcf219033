/*
 * agent.c: the agent's main loop.
 *
 * Reads frames from the controller, queues stream jobs and starts async
 * ones, and writes answers without ever blocking: input is always drained,
 * output is produced only while the output buffer is below AGENT_OUT_HIGH.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../banned.h"

#ifndef MAILMOVE_VERSION
#define MAILMOVE_VERSION "0"
#endif

static void agent_write_some(struct agent *a);

void emit(struct agent *a, uint8_t type, uint32_t id, const void *p, size_t n)
{
	if (frame_put(&a->out, type, id, p, n) < 0) {
		/* Only a bug can get here: payloads are built below the cap. */
		static const char msg[] = "mailmove-agent: frame too large\n";
		ssize_t r = write(2, msg, sizeof msg - 1);
		(void)r;
		abort();
	}
}

static void emit_vmsg(struct agent *a, uint8_t type, uint32_t id, int err,
		      int with_err, const char *fmt, va_list ap)
{
	struct buf msg = BUF_INIT, p = BUF_INIT;

	buf_vprintf(&msg, fmt, ap);
	if (msg.len > 4000)
		msg.len = 4000;
	if (with_err)
		pk_u32(&p, (uint32_t)err);
	pk_str(&p, msg.data ? msg.data : "", msg.len);
	emit(a, type, id, p.data, p.len);
	buf_release(&msg);
	buf_release(&p);
}

/* Ends request `id` with an error: errno value and a message for the admin. */
void emit_error(struct agent *a, uint32_t id, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_vmsg(a, MT_ERROR, id, err, 1, fmt, ap);
	va_end(ap);
}

/* A log or warning line (MT_LOG, MT_WARN) shown by the controller. */
void emit_msg(struct agent *a, uint8_t type, uint32_t id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_vmsg(a, type, id, 0, 0, fmt, ap);
	va_end(ap);
}

void emit_done(struct agent *a, uint32_t id)
{
	emit(a, MT_DONE, id, NULL, 0);
}

static void queue_job(struct agent *a, struct job *j)
{
	if (!j)
		return;
	j->next = NULL;
	if (a->tail)
		a->tail->next = j;
	else
		a->head = j;
	a->tail = j;
}

/* Routes one complete frame.  Malformed requests end with MT_ERROR; the
 * agent itself carries on, since the controller decides what is fatal. */
static void agent_dispatch(struct agent *a, const struct frame *f)
{
	struct rd r;

	rd_init(&r, f->p, f->len);
	if (!a->hello && f->type != MT_HELLO) {
		emit_error(a, f->id, EPROTO, "request before handshake");
		return;
	}
	switch (f->type) {
	case MT_HELLO:
		job_hello(a, f->id, &r);
		break;
	case MT_LIST:
		queue_job(a, job_list_new(a, f->id, &r));
		break;
	case MT_READ:
		queue_job(a, job_read_new(a, f->id, &r));
		break;
	case MT_HASH:
		queue_job(a, job_hash_new(a, f->id, &r));
		break;
	case MT_STAT:
		queue_job(a, job_stat_new(a, f->id, &r));
		break;
	case MT_STATFS:
		queue_job(a, job_statfs_new(a, f->id, &r));
		break;
	case MT_RUN:
		async_run_start(a, f->id, &r);
		break;
	case MT_FWD_OPEN:
		async_fwd_start(a, f->id, &r);
		break;
	case MT_RUN_STDIN:
	case MT_FWD_DATA:
	case MT_FWD_CLOSE:
		async_input(a, f->type, f->id, &r);
		break;
	case MT_BYE:
		a->in_eof = 1;
		break;
	default:
		emit_error(a, f->id, EPROTO, "unexpected frame type %s",
			   mm_type_name(f->type));
		break;
	}
}

/* Parses the complete frames in the input buffer.  A bad header means the
 * stream can no longer be trusted: the agent says why and stops. */
static int agent_parse_input(struct agent *a)
{
	size_t off = 0;

	while (a->in.len - off >= MM_FRAME_HDR) {
		struct frame f;
		const char *why;

		if (frame_header((unsigned char *)a->in.data + off, &f,
				 &why) < 0) {
			emit_msg(a, MT_WARN, 0, "agent: %s (type %u); closing",
				 why, f.type);
			return -1;
		}
		if (a->in.len - off - MM_FRAME_HDR < f.len)
			break;
		f.p = (unsigned char *)a->in.data + off + MM_FRAME_HDR;
		agent_dispatch(a, &f);
		off += MM_FRAME_HDR + f.len;
	}
	buf_consume(&a->in, off);
	return 0;
}

static int agent_read_input(struct agent *a)
{
	ssize_t n;

	if (buf_grow(&a->in, 64 << 10) < 0)
		return -1;
	n = read(a->in_fd, a->in.data + a->in.len, 64 << 10);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		a->in_eof = 1;
		return 0;
	}
	a->in.len += (size_t)n;
	return agent_parse_input(a);
}

static void agent_write_some(struct agent *a)
{
	while (a->out.len) {
		ssize_t n = write(a->out_fd, a->out.data, a->out.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* The controller is gone: nobody left to answer. */
			async_kill_all(a);
			_exit(0);
		}
		buf_consume(&a->out, (size_t)n);
	}
}

/* Runs the head stream job while there is room for its output, handing
 * what is ready to the controller as it goes, so it can work on the first
 * answers while the agent produces the next. */
static void agent_run_jobs(struct agent *a)
{
	while (a->head && a->out.len < AGENT_OUT_HIGH) {
		struct job *j = a->head;
		int done = j->step(a, j);

		if (a->out.len >= (64u << 10))
			agent_write_some(a);
		if (done) {
			a->head = j->next;
			if (!a->head)
				a->tail = NULL;
			if (j->release)
				j->release(j);
			free(j);
		}
	}
}

static int agent_loop(struct agent *a)
{
	struct pollfd pfd[64];

	for (;;) {
		int n = 0, nasync, timeout = -1, in_slot = -1, out_slot = -1;

		if (a->in_eof && a->out.len == 0 && !a->head) {
			/* The controller left: nothing may outlive it. */
			async_kill_all(a);
			return 0;
		}
		if (!a->in_eof) {
			in_slot = n;
			pfd[n].fd = a->in_fd;
			pfd[n++].events = POLLIN;
		}
		if (a->out.len) {
			out_slot = n;
			pfd[n].fd = a->out_fd;
			pfd[n++].events = POLLOUT;
		}
		nasync = async_pollfds(a, pfd + n, 64 - n);
		if (a->head && a->out.len < AGENT_OUT_HIGH)
			timeout = 0;
		else if (async_watching(a))
			timeout = 10;	/* a Dovecot stopping: see agent_dovecot.c */
		else if (async_busy(a))
			timeout = 50;	/* children that closed pipes but live on */
		if (poll(pfd, (nfds_t)(n + nasync), timeout) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (in_slot >= 0 && pfd[in_slot].revents &&
		    agent_read_input(a) < 0)
			return -1;
		if (out_slot >= 0 && pfd[out_slot].revents)
			agent_write_some(a);
		async_handle(a, pfd + n, nasync);
		agent_run_jobs(a);
		agent_write_some(a);
	}
}

static void usage(FILE *f)
{
	fputs("usage: mailmove-agent --serve [--root DIR] [--fd N]\n"
	      "The agent of mailmove(1): it answers the controller on stdin "
	      "and stdout\n(or on fd N), reading beneath DIR (default /).\n",
	      f);
}

int main(int argc, char **argv)
{
	struct agent a;
	int i, serve = 0, fd = -1;
	const char *root = NULL;

	memset(&a, 0, sizeof a);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--serve")) {
			serve = 1;
		} else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			root = argv[++i];
		} else if (!strcmp(argv[i], "--fd") && i + 1 < argc) {
			fd = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--version")) {
			printf("mailmove-agent %s protocol %d\n",
			       MAILMOVE_VERSION, MM_PROTO_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!serve) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.in_fd = fd >= 0 ? fd : 0;
	a.out_fd = fd >= 0 ? fd : 1;
	a.local = root != NULL;
	a.root = root ? root : "/";
	buf_init(&a.in, 0);
	buf_init(&a.out, 0);
	a.rootfd = open(a.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a.rootfd < 0) {
		fprintf(stderr, "mailmove-agent: %s: %s\n", a.root,
			strerror(errno));
		return 1;
	}
	fcntl(a.in_fd, F_SETFL, fcntl(a.in_fd, F_GETFL) | O_NONBLOCK);
	fcntl(a.out_fd, F_SETFL, fcntl(a.out_fd, F_GETFL) | O_NONBLOCK);
	return agent_loop(&a) < 0 ? 1 : 0;
}
