/*
 * fwd.h: reaching a TCP port or unix socket on the old server from a local
 * unix socket, through the agent.
 *
 * Why through the agent and not `ssh -L`: the admin authenticates once (a
 * second ssh session would ask again for a password or key passphrase),
 * it works with any --rsh transport, with sshd configurations that forbid
 * forwarding (AllowTcpForwarding no, AllowStreamLocalForwarding no), and
 * for a local --from directory alike.  The cost is a thread that pumps the
 * bytes while a database or Redis session is open.
 *
 * While forwarding runs, its thread owns the endpoint: the caller must not
 * send or receive on it until fwd_stop().
 */
#ifndef MM_FWD_H
#define MM_FWD_H

#include "endpoint.h"

struct fwd;

/* target: "tcp:HOST:PORT" or "unix:PATH" as seen from the old server.
 * Returns MM_OK or an exit code (reported). */
int fwd_start(struct endpoint *ep, const char *target, struct fwd **out);
/* The local socket to connect to (in a private 0700 directory). */
const char *fwd_socket_path(const struct fwd *f);
/* Closes every forwarded connection and gives the endpoint back.
 * Returns 0, or -1 if the endpoint failed meanwhile. */
int fwd_stop(struct fwd *f);

#endif
