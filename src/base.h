/*
 * base.h: what every layer of mailmove shares, below the commands: the
 * exit codes, the interrupt flag, and the return convention of the lower
 * layers with its two values of its own.
 *
 * Return convention of the layers below the commands (fsops, treesync,
 * endpoint, remote, owners, redis, db, certcheck, ...):
 *   0            success;
 *   > 0          an errno value (or MM_ENOTREG) for this one item or
 *                request: a file missing, a program not found;
 *   MM_LOST (-1) the connection to the old server's agent is lost (already
 *                reported; ep_exit_code() says how to exit).
 * Layers that never talk to the agent return 0 or an errno, never -1.
 * Engines that run a whole command's work (sync_run, db_copy_run, ...)
 * return an enum mm_exit; only the command files turn other results into
 * exit codes, and only main() exits.
 */
#ifndef MM_BASE_H
#define MM_BASE_H

#include <signal.h>
#include <stdint.h>

/* Exit codes: documented in --help and mailmove(1); used everywhere. */
enum mm_exit {
	MM_OK = 0,		/* success */
	MM_EDIFF = 1,		/* finished, with differences or item failures */
	MM_EUSAGE = 2,		/* usage or configuration error */
	MM_EREMOTE = 3,		/* cannot reach the other host or its agent */
	MM_EDEST = 4,		/* destination problem: disk full, permission */
	MM_EINTR = 5,		/* interrupted */
};

/* The connection to the agent is lost (see the convention above). */
#define MM_LOST (-1)

/* Not a regular file (a FIFO, device, socket or directory where a file
 * was expected): outside errno's range, so mm_strerror() names it. */
#define MM_ENOTREG 4096

/* strerror(), plus MM_ENOTREG. */
const char *mm_strerror(int err);

/* Set by SIGINT/SIGTERM; long loops check it and stop cleanly. */
extern volatile sig_atomic_t mm_interrupted;

/* Parses a decimal number into *out; returns -1 if not a whole number. */
int mm_parse_u64(const char *s, uint64_t *out);

/* Splits a command given as one string into argv words (spaces separate,
 * single or double quotes group).  Returns 0, or -1 if unbalanced/empty. */
int mm_split_words(const char *s, char ***argv, int *argc);
void mm_free_words(char **argv, int argc);

#endif
