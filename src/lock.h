/*
 * lock.h: one run at a time per destination.  A command that writes takes
 * an flock(2) on the destination's lock file for its whole run (sync also
 * on its state's); the file holds the pid and the command of the holder,
 * so a second run can say who it waits for.
 */
#ifndef MM_LOCK_H
#define MM_LOCK_H

struct mm_ctx;

/* Takes the lock at `path` (made 0600 when missing) for the rest of the
 * process; `what` names the holder in the file.  0, or MM_EDEST after
 * saying which pid holds it or why it cannot be taken. */
int mm_lock_path(const char *path, const char *what);

/* The destination's lock, for a CMD_LOCK command that is about to write
 * (not for a dry run or a status): <dir>/mailmove.lock, where dir is
 * $MAILMOVE_LOCK_DIR or <destination root>/var/lib/mailmove.  The holder
 * hands it down to the commands it runs as children ($MAILMOVE_LOCK_HOLDER,
 * its pid): `run` and `cutover` run their steps under their own lock. */
int mm_lock_command(const struct mm_ctx *ctx);

/* In a child about to become a mailmove step of this command (run,
 * cutover): the destination's lock fd stays open across the exec, so the
 * lock outlives this process while the step runs (a killed `run` leaves
 * no sync running unlocked). */
void mm_lock_inherit(void);

#endif
