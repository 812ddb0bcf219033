/*
 * endpoint.h: the old server, as seen through its agent.
 *
 * ep_open() reaches the old server named by --from: over ssh (the agent is
 * uploaded on first contact) or, for a local directory holding the old
 * root, by running the agent as a child over a socketpair.  Both speak the
 * same frames (proto.h); the rest of mailmove never knows which it has.
 *
 * Return convention for everything that talks to the agent (base.h): 0 on
 * success, a positive errno for a failure of one item (file missing,
 * program not found), and MM_LOST (-1) when the connection itself failed
 * (already reported; the caller gives up with ep_exit_code(), the one
 * place that turns a lost connection into an exit code).
 */
#ifndef MM_ENDPOINT_H
#define MM_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "proto.h"

struct mm_ctx;

struct ep_info {
	uint32_t version;
	uint32_t caps;
	char *agent_version;
	char *hostname;
	char *root;
	char *os;		/* PRETTY_NAME of the old root's os-release */
	uint32_t uid;
	uint32_t pid;
	int local;
};

struct endpoint {
	char *desc;		/* "root@old.example.org" or "/mnt/old" */
	int local;		/* a directory, not a host */
	int fd_in, fd_out;	/* may be the same socket */
	pid_t pid;		/* ssh or the local agent */
	int errfd;		/* the child's stderr, kept in a file */
	struct buf in;		/* bytes read but not yet taken as frames */
	size_t in_off;
	uint32_t next_id;
	int dead;
	int exit_code;		/* MM_EREMOTE or MM_EINTR once dead */
	int trace;
	struct ep_info info;
	uint64_t bytes_in, bytes_out;
};

/* Parses --from: sets *user, *host, *port (0 = default) for a host, or
 * returns 1 for a local directory.  Returns -1 if it is neither. */
int ep_parse_from(const char *from, char **user, char **host, int *port);

/* How to reach an old server over ssh: --rsh (NULL: ssh), --agent (NULL:
 * upload this mailmove's agent), and the seconds a master connection
 * stays open for the next command (0: none). */
struct ep_opts {
	const char *rsh;
	const char *agent;
	int persist;
};

/* Connects and shakes hands.  Returns MM_OK or an exit code (reported). */
int ep_open_with(const struct ep_opts *o, const char *from,
		 struct endpoint **out);
/* ep_open_with() with the common options of ctx (options.c, the
 * command layer). */
int ep_open(const struct mm_ctx *ctx, const char *from, struct endpoint **out);
/* ep_open() for ctx->from; says so when --from is missing. */
int ep_open_ctx(const struct mm_ctx *ctx, struct endpoint **out);
void ep_close(struct endpoint *ep);
/* The exit code a command should return once the endpoint failed. */
int ep_exit_code(const struct endpoint *ep);

/* Sends a request; returns its id, or 0 if the connection is gone. */
uint32_t ep_send(struct endpoint *ep, uint8_t type, const void *p, size_t n);
/* Sends a frame for an existing request id (stdin, forwarded data). */
int ep_send_id(struct endpoint *ep, uint8_t type, uint32_t id, const void *p,
	       size_t n);
/* Reads the next frame that is not a log line; blocks.  0 or -1. */
int ep_recv(struct endpoint *ep, struct frame *f);
/* Non-blocking variants for the forwarder: read what is there (0, or -1
 * when the connection ended), then take complete frames (1 if one). */
int ep_fill(struct endpoint *ep);
int ep_take(struct endpoint *ep, struct frame *f);
/* Shows an agent's MT_LOG or MT_WARN frame; returns 1 if `f` was one. */
int ep_log_frame(struct endpoint *ep, const struct frame *f);
/* Marks the endpoint broken with a message (protocol violation). */
int ep_fail(struct endpoint *ep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* An endpoint that reads frames from memory: the fuzzer's and tests' way in. */
struct endpoint *ep_from_memory(const void *data, size_t n);

/* The agent binary this controller would upload or run. */
int ep_agent_binary(struct buf *path);

#endif
