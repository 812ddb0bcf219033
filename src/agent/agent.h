/*
 * agent.h: the mailmove agent's internals.
 *
 * The agent runs on the old server (over ssh) or as a child of the
 * controller (for a local directory holding the old root).  It answers the
 * requests of proto.h.  Requests that stream a tree or files ("stream jobs")
 * run one at a time in the order they arrived; programs and forwarded
 * connections ("async jobs") run beside them.  The agent never blocks on
 * its output: it reads requests whenever they come, so the controller may
 * pipeline as many as it likes.
 */
#ifndef MM_AGENT_H
#define MM_AGENT_H

#include <stdint.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../buf.h"
#include "../proto.h"

#define AGENT_OUT_HIGH (1u << 20)	/* stop producing above this */

struct agent;

struct job {
	uint32_t id;
	uint8_t type;
	struct job *next;
	/* Does a bounded piece of work; returns 1 when the job is finished. */
	int (*step)(struct agent *a, struct job *j);
	void (*release)(struct job *j);
	void *state;
};

/* Child process of MT_RUN or socket of MT_FWD_OPEN: driven by poll(). */
struct async {
	uint32_t id;
	int kind;		/* ASYNC_RUN or ASYNC_FWD */
	struct async *next;
	pid_t pid;
	int out_fd, err_fd;	/* -1 once at EOF */
	int in_fd;		/* child's stdin or the socket; -1 when closed */
	int close_in;		/* close in_fd once `pending` is written */
	struct buf pending;	/* bytes waiting to go to in_fd */
	int status;
	int exited;
	int finished;
	struct dwatch *watch;	/* RUN_WATCH: the Dovecot it stops */
	double linger_at;	/* RUN_WATCH: exited, pipes still open since */
};

#define ASYNC_RUN 1
#define ASYNC_FWD 2

struct agent {
	int in_fd, out_fd;
	int rootfd;
	int local;		/* --root given: a directory, not this host */
	const char *root;
	int hello;
	int in_eof;
	struct buf in, out;
	struct job *head, *tail;
	struct async *async;
};

/* agent_dovecot.c: the Dovecot a RUN_WATCH program stops */
enum { DW_WAIT, DW_QUIET, DW_DONE, DW_FAIL };
struct dwatch *dwatch_new(const char *pidfile, const char *instance,
			  double timeout);
int dwatch_step(struct dwatch *w, int exited, int status, struct buf *msg);
int dwatch_restarted(struct dwatch *w, struct buf *msg);
double mono_now(void);	/* CLOCK_MONOTONIC in seconds */
int dwatch_active(const struct dwatch *w);
void dwatch_free(struct dwatch *w);

/* agent.c: output */
void emit(struct agent *a, uint8_t type, uint32_t id, const void *p, size_t n);
void emit_error(struct agent *a, uint32_t id, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void emit_msg(struct agent *a, uint8_t type, uint32_t id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void emit_done(struct agent *a, uint32_t id);

/* agent_fs.c: paths under the root and the stream jobs */
int agent_open(struct agent *a, const char *path, int flags);
int agent_lstat(struct agent *a, const char *path, struct stat *st);
int job_hello(struct agent *a, uint32_t id, struct rd *r);
struct job *job_list_new(struct agent *a, uint32_t id, struct rd *r);
struct job *job_read_new(struct agent *a, uint32_t id, struct rd *r);
struct job *job_hash_new(struct agent *a, uint32_t id, struct rd *r);
struct job *job_stat_new(struct agent *a, uint32_t id, struct rd *r);
struct job *job_statfs_new(struct agent *a, uint32_t id, struct rd *r);

/* agent_proc.c: programs and forwarded connections */
int async_run_start(struct agent *a, uint32_t id, struct rd *r);
int async_fwd_start(struct agent *a, uint32_t id, struct rd *r);
void async_input(struct agent *a, uint8_t type, uint32_t id, struct rd *r);
int async_pollfds(struct agent *a, struct pollfd *pfd, int max);
void async_handle(struct agent *a, struct pollfd *pfd, int n);
int async_busy(struct agent *a);
int async_watching(struct agent *a);
void async_kill_all(struct agent *a);

#endif
