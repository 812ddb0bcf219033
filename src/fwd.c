/*
 * fwd.c: the forwarding thread (see fwd.h for why it exists).
 *
 * Each accepted local connection becomes a channel: MT_FWD_OPEN with a new
 * request id, then MT_FWD_DATA both ways, MT_FWD_CLOSE when either side is
 * done, and the agent's MT_DONE ends it.  Client sockets are non-blocking
 * with a buffer each, so the thread never waits on a client that is busy
 * writing: pipelined Redis traffic cannot deadlock it.
 */
#include "fwd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "base.h"
#include "banned.h"

#define FWD_MAX_CHANNELS 32

struct chan {
	uint32_t id;
	int fd;			/* local client; -1 once closed */
	int sent_close;		/* MT_FWD_CLOSE sent to the agent */
	int agent_closed;	/* the agent said MT_FWD_CLOSE */
	struct buf pending;	/* agent bytes waiting for the client */
};

struct fwd {
	struct endpoint *ep;
	char *target;
	char dir[64];
	char sock[128];
	int listen_fd;
	int wake[2];
	pthread_t thread;
	int stopping;
	int failed;
	struct chan ch[FWD_MAX_CHANNELS];
	int nch;
};

const char *fwd_socket_path(const struct fwd *f)
{
	return f->sock;
}

static struct chan *chan_find(struct fwd *f, uint32_t id)
{
	int i;

	for (i = 0; i < f->nch; i++)
		if (f->ch[i].id == id)
			return &f->ch[i];
	return NULL;
}

static void chan_close_client(struct chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void chan_remove(struct fwd *f, struct chan *c)
{
	chan_close_client(c);
	buf_release(&c->pending);
	*c = f->ch[--f->nch];
}

static void chan_send_close(struct fwd *f, struct chan *c)
{
	if (!c->sent_close) {
		c->sent_close = 1;
		if (ep_send_id(f->ep, MT_FWD_CLOSE, c->id, NULL, 0) < 0)
			f->failed = 1;
	}
}

static void fwd_accept(struct fwd *f)
{
	int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct buf p = BUF_INIT;
	struct chan *c;
	uint32_t id;

	if (fd < 0)
		return;
	if (f->nch == FWD_MAX_CHANNELS || f->stopping) {
		close(fd);
		return;
	}
	pk_cstr(&p, f->target);
	id = ep_send(f->ep, MT_FWD_OPEN, p.data, p.len);
	buf_release(&p);
	if (!id) {
		close(fd);
		f->failed = 1;
		return;
	}
	c = &f->ch[f->nch++];
	memset(c, 0, sizeof *c);
	c->id = id;
	c->fd = fd;
	buf_init(&c->pending, 0);
}

static void chan_flush(struct chan *c)
{
	while (c->fd >= 0 && c->pending.len) {
		ssize_t n = write(c->fd, c->pending.data, c->pending.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				chan_close_client(c);
			return;
		}
		buf_consume(&c->pending, (size_t)n);
	}
	if (c->fd >= 0 && c->agent_closed && !c->pending.len)
		shutdown(c->fd, SHUT_WR);
}

static void chan_from_client(struct fwd *f, struct chan *c)
{
	char chunk[64 << 10];
	ssize_t n = read(c->fd, chunk, sizeof chunk);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		chan_close_client(c);
		chan_send_close(f, c);
		return;
	}
	if (ep_send_id(f->ep, MT_FWD_DATA, c->id, chunk, (size_t)n) < 0)
		f->failed = 1;
}

/* Handles every complete frame the agent has sent. */
static void fwd_from_agent(struct fwd *f)
{
	struct frame fr;
	int r;

	if (ep_fill(f->ep) < 0) {
		f->failed = 1;
		return;
	}
	while ((r = ep_take(f->ep, &fr)) > 0) {
		struct chan *c;

		if (ep_log_frame(f->ep, &fr))
			continue;
		c = chan_find(f, fr.id);
		if (!c) {
			ep_fail(f->ep, "forwarded data for unknown channel %u",
				fr.id);
			f->failed = 1;
			return;
		}
		switch (fr.type) {
		case MT_FWD_OK:
			break;
		case MT_FWD_DATA:
			if (c->fd >= 0)
				buf_add(&c->pending, fr.p, fr.len);
			chan_flush(c);
			break;
		case MT_FWD_CLOSE:
			c->agent_closed = 1;
			chan_flush(c);
			break;
		case MT_ERROR: {
			struct rd rd;
			const char *s;
			size_t n;

			rd_init(&rd, fr.p, fr.len);
			rd_u32(&rd);
			rd_str(&rd, &s, &n, 8192);
			log_error("%s: cannot connect to %s: %.*s", f->ep->desc,
				  f->target, rd.err ? 0 : (int)n,
				  rd.err ? "" : s);
			chan_remove(f, c);
			break;
		}
		case MT_DONE:
			chan_flush(c);
			chan_remove(f, c);
			break;
		default:
			ep_fail(f->ep, "unexpected %s on a forwarded channel",
				mm_type_name(fr.type));
			f->failed = 1;
			return;
		}
	}
	if (r < 0)
		f->failed = 1;
}

static void *fwd_main(void *arg)
{
	struct fwd *f = arg;
	struct pollfd pfd[FWD_MAX_CHANNELS + 3];

	while (!f->failed) {
		int n = 0, i;

		if (f->stopping) {
			for (i = 0; i < f->nch; i++) {
				chan_close_client(&f->ch[i]);
				chan_send_close(f, &f->ch[i]);
			}
			if (!f->nch)
				break;
		}
		pfd[n].fd = f->wake[0];
		pfd[n++].events = POLLIN;
		pfd[n].fd = f->listen_fd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = f->ep->fd_in;
		pfd[n++].events = POLLIN;
		for (i = 0; i < f->nch; i++) {
			struct chan *c = &f->ch[i];
			pfd[n].fd = c->fd;
			pfd[n++].events = (short)((c->sent_close ? 0 : POLLIN) |
					  (c->pending.len ? POLLOUT : 0));
		}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			char c;
			if (read(f->wake[0], &c, 1) == 1)
				f->stopping = 1;
		}
		if (pfd[1].revents)
			fwd_accept(f);
		/* Client events first: indices shift once channels go. */
		for (i = 0; i < f->nch && 3 + i < n; i++) {
			struct chan *c = &f->ch[i];
			if (c->fd < 0 || pfd[3 + i].fd != c->fd)
				continue;
			if (pfd[3 + i].revents & POLLOUT)
				chan_flush(c);
			if (pfd[3 + i].revents & (POLLIN | POLLHUP | POLLERR))
				chan_from_client(f, c);
		}
		if (pfd[2].revents)
			fwd_from_agent(f);
	}
	return NULL;
}

int fwd_start(struct endpoint *ep, const char *target, struct fwd **out)
{
	struct fwd *f = xcalloc(1, sizeof *f);
	struct sockaddr_un sun;

	*out = NULL;
	f->ep = ep;
	f->target = xstrdup(target);
	f->listen_fd = -1;
	f->wake[0] = f->wake[1] = -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/mailmove-fwd-XXXXXX");
	if (!mkdtemp(f->dir)) {
		log_error("cannot create a private socket directory: %s",
			  strerror(errno));
		free(f->target);
		free(f);
		return MM_EDEST;
	}
	snprintf(f->sock, sizeof f->sock, "%s/s", f->dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, f->sock, strlen(f->sock));
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->listen_fd < 0 ||
	    bind(f->listen_fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    listen(f->listen_fd, 8) < 0 || pipe2(f->wake, O_CLOEXEC) < 0) {
		log_error("cannot listen on %s: %s", f->sock, strerror(errno));
		goto fail;
	}
	fcntl(ep->fd_in, F_SETFL, fcntl(ep->fd_in, F_GETFL) | O_NONBLOCK);
	if (pthread_create(&f->thread, NULL, fwd_main, f)) {
		log_error("cannot start the forwarding thread");
		fcntl(ep->fd_in, F_SETFL, fcntl(ep->fd_in, F_GETFL) & ~O_NONBLOCK);
		goto fail;
	}
	*out = f;
	return MM_OK;
fail:
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	if (f->wake[0] >= 0) {
		close(f->wake[0]);
		close(f->wake[1]);
	}
	unlink(f->sock);
	rmdir(f->dir);
	free(f->target);
	free(f);
	return MM_EDEST;
}

int fwd_stop(struct fwd *f)
{
	int failed;
	ssize_t w;
	int i;

	if (!f)
		return 0;
	w = write(f->wake[1], "x", 1);
	(void)w;
	pthread_join(f->thread, NULL);
	failed = f->failed || f->ep->dead;
	fcntl(f->ep->fd_in, F_SETFL, fcntl(f->ep->fd_in, F_GETFL) & ~O_NONBLOCK);
	for (i = f->nch - 1; i >= 0; i--)
		chan_remove(f, &f->ch[i]);
	close(f->listen_fd);
	close(f->wake[0]);
	close(f->wake[1]);
	unlink(f->sock);
	rmdir(f->dir);
	free(f->target);
	free(f);
	return failed ? -1 : 0;
}
