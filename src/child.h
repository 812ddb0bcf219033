/*
 * child.h: running programs as children of the controller, and this
 * mailmove binary itself for the steps of `run` and `cutover`, so a step
 * behaves exactly as when the admin runs it by hand.
 */
#ifndef MM_CHILD_H
#define MM_CHILD_H

#include <stddef.h>

#include "mailmove.h"

/* The running mailmove binary's path.  Returns 0, or -1 after saying so. */
int mm_self_path(char *buf, size_t len);

/* Runs argv (PATH searched) and waits.  Returns its exit status, 128 + the
 * signal that ended it, or 127 when it could not start. */
int mm_run_wait(char *const *argv);
/* The same with its stdout on `outfd` (-1: ours). */
int mm_run_wait_out(char *const *argv, int outfd);

/* A growing argv, always NULL-terminated. */
struct argvb {
	char **v;
	size_t n, cap;
};
void argvb_add(struct argvb *a, const char *arg);
void argvb_release(struct argvb *a);

#define CHILD_REMOTE	(1u << 0)	/* --from, --rsh, --agent */
#define CHILD_TO	(1u << 1)	/* --to */
#define CHILD_DRYRUN	(1u << 2)	/* --dry-run when ours has it */

/* Adds the options of ctx that a child step shares, and -q when quiet. */
void argvb_common(struct argvb *a, const struct mm_ctx *ctx, unsigned what);

#endif
