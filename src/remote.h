/*
 * remote.h: the requests of the wire as C calls.
 *
 * Everything the agent answers is checked here before it reaches a caller:
 * names are valid path components, parent references exist, sizes and
 * counts are within the request.  A violation ends the connection
 * (ep_fail) and the call returns -1.
 *
 * Return convention (base.h, as in endpoint.h): 0 success, > 0 an errno
 * for this one item or request, MM_LOST (-1) the connection failed
 * (reported already).
 */
#ifndef MM_REMOTE_H
#define MM_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "endpoint.h"

/* One entry of a listing.  `path` is relative to the listed directory
 * ("" for the directory itself, "a/b" below it); each component has
 * passed mm_name_valid(). */
struct rentry {
	const char *path;
	const char *name;
	uint32_t index, parent;
	char kind;		/* 'f', 'd', 'l', 'o'; 'e' = unreadable dir */
	int has_stat;
	struct mm_stat st;
	const char *target;	/* symlink target (has_stat only) */
	int err;		/* kind 'e': errno; `path` names the directory */
};

/* Callback per entry; a non-zero return stops the listing early (the rest
 * of the answer is still read and dropped) and is returned. */
typedef int (*rlist_cb)(void *arg, const struct rentry *e);

/* Lists `path` on the old server (maxdepth 0 = unlimited with LIST_RECURSE,
 * 1 = the directory's own entries). */
int remote_list(struct endpoint *ep, const char *path, unsigned flags,
		unsigned maxdepth, rlist_cb cb, void *arg);

/* remote_list in two halves, so that many listings can be in flight:
 * answers must be received in the order the requests were sent.
 * remote_list_send returns the request id, or 0 if the connection is
 * gone; remote_list_recv returns as remote_list does. */
uint32_t remote_list_send(struct endpoint *ep, const char *path,
			  unsigned flags, unsigned maxdepth);
int remote_list_recv(struct endpoint *ep, uint32_t id, const char *path,
		     rlist_cb cb, void *arg);

/* Reading many files in one request, streamed. */
struct rread_ops {
	/* err != 0: the file could not be opened (st is NULL). */
	int (*begin)(void *arg, uint32_t index, int err,
		     const struct mm_stat *st);
	int (*data)(void *arg, uint32_t index, const void *p, size_t n);
	/* err != 0: reading failed part-way. */
	int (*end)(void *arg, uint32_t index, int err, uint64_t total);
};

/* Sends a read request for `n` paths; returns the request id or 0. */
uint32_t remote_read_send(struct endpoint *ep, char *const *paths, size_t n);
/* Receives the whole answer to request `id` (sent for `n` paths). */
int remote_read_recv(struct endpoint *ep, uint32_t id, size_t n,
		     const struct rread_ops *ops, void *arg);
int remote_read(struct endpoint *ep, char *const *paths, size_t n,
		const struct rread_ops *ops, void *arg);

/* Reads one whole file of at most `max` bytes into `out` (reset first). */
int remote_read_file(struct endpoint *ep, const char *path, struct buf *out,
		     size_t max, struct mm_stat *st);

struct rhash {
	uint32_t index;
	int err;
	uint64_t size;
	uint64_t hi, lo;	/* XXH3-128 */
};
int remote_hash(struct endpoint *ep, char *const *paths, size_t n,
		int (*cb)(void *arg, const struct rhash *h), void *arg);
/* The same in two halves, so that several requests can be in flight (the
 * agent answers them in order): send returns the request id or 0; recv
 * takes the whole answer to request `id` (sent for `n` paths). */
uint32_t remote_hash_send(struct endpoint *ep, char *const *paths, size_t n);
int remote_hash_recv(struct endpoint *ep, uint32_t id, size_t n,
		     int (*cb)(void *arg, const struct rhash *h), void *arg);

/* lstat() of each path: cb gets err (0 or errno) and st (NULL on error). */
int remote_stat(struct endpoint *ep, char *const *paths, size_t n,
		int (*cb)(void *arg, uint32_t index, int err,
			  const struct mm_stat *st), void *arg);

int remote_statfs(struct endpoint *ep, const char *path, uint64_t *total,
		  uint64_t *avail);

/*
 * Runs argv on the old server (no shell).  `in` (may be NULL) is sent as
 * stdin.  Output is collected up to `max` bytes per stream (more is an
 * error: -1 is not returned for that, EFBIG is).  *status is the exit code,
 * or -signal.
 */
int remote_run(struct endpoint *ep, char *const *argv, const struct buf *in,
	       struct buf *out, struct buf *err, size_t max, int *status);

/*
 * The same, handing stdout and stderr to on_out/on_err as they arrive (a
 * long doveadm run shows its output live).  On a request error (> 0 return)
 * the agent's message goes to `why` (may be NULL).
 */
int remote_run_stream(struct endpoint *ep, char *const *argv,
		      const struct buf *in,
		      int (*on_out)(void *arg, const void *p, size_t n),
		      int (*on_err)(void *arg, const void *p, size_t n),
		      void *arg, int *status, struct buf *why);

/*
 * A command that stops a Dovecot, run with the agent watching it (proto.h
 * RUN_WATCH, agent_dovecot.c).  Fill pidfile, timeout_ms and the buffers
 * (BUF_INIT) first.  remote_watch_begin() returns 0 as soon as the Dovecot
 * is quiet (`quiet` set: no process of it can touch mail any more) or the
 * request ended before (`done` set: the command failed, or no running
 * Dovecot was found and the command ended); remote_watch_end() then waits
 * until the command and the Dovecot's master have ended.  `status` is the
 * command's exit status once `got_exit`; `output` holds what it printed.
 * Both return as remote_run_stream: -1 lost, > 0 the agent's error (in
 * `why`: the Dovecot did not stop, or started a process after quiet).
 */
struct remote_watch {
	const char *pidfile;
	const char *instance;	/* its instance_name, NULL unknown */
	uint32_t timeout_ms;
	uint32_t id;
	int status, got_exit, quiet, done;
	uint32_t quiet_ms, nended;
	struct buf ended;	/* "imap (pid 1234), ..." */
	struct buf how;		/* "exiting", "exited", "not running" */
	struct buf output;
	struct buf note;	/* the agent's remark on finding the master */
};
int remote_watch_begin(struct endpoint *ep, char *const *argv,
		       struct remote_watch *w, struct buf *why);
int remote_watch_end(struct endpoint *ep, struct remote_watch *w,
		     struct buf *why);

#endif
