/*
 * lock.h: one run at a time per destination.  A command that writes takes
 * an flock(2) on a lock file for its whole run; the file holds the pid and
 * the command of the holder, so a second run can say who it waits for.
 */
#ifndef MM_LOCK_H
#define MM_LOCK_H

struct mm_ctx;

/* Takes the lock at `path` (made 0600 when missing) for the rest of the
 * process; `what` names the holder in the file.  0, or MM_EDEST after
 * saying which pid holds it or why it cannot be taken. */
int mm_lock_path(const char *path, const char *what);

/* The lock of ctx->cmd (a CMD_LOCK command that is about to write; not
 * for a dry run or a status): <dir>/<command>.lock, where dir is
 * $MAILMOVE_LOCK_DIR or <destination root>/var/lib/mailmove. */
int mm_lock_command(const struct mm_ctx *ctx);

#endif
