/*
 * relay_state.h: what the cutover leaves for a later command on this
 * server: the old Postfix's virtual_transport before `cutover --relay-to`
 * (so that `finish --relay remove` can restore it; one line in
 * /var/lib/mailmove/relay-saved under the destination root, mode 0600),
 * and whether a cutover is inside its downtime.
 */
#ifndef MM_RELAY_STATE_H
#define MM_RELAY_STATE_H

#include "buf.h"
#include "mailmove.h"

/* Records `value` unless a value is recorded already (a rerun of the
 * cutover finds its own relay and must not record that).  0 or errno. */
int relay_state_save(const struct mm_ctx *ctx, const char *value);
/* The recorded value into `out`.  0, or an errno (ENOENT: none). */
int relay_state_load(const struct mm_ctx *ctx, struct buf *out);

/*
 * The cutover's downtime marker, /var/lib/mailmove/cutover-downtime: made
 * when the cutover stops the Dovecots, removed when the new one answers.
 * A rerun that finds it knows the new Dovecot is down on purpose.
 */
int downtime_mark(const struct mm_ctx *ctx);	/* 0 or errno */
int downtime_clear(const struct mm_ctx *ctx);	/* 0 or errno */
int downtime_marked(const struct mm_ctx *ctx);	/* 1 when marked */

/*
 * The cutover's end-of-downtime marker, /var/lib/mailmove/cutover-served:
 * made when the new Dovecot first answers.  From then on users change
 * their mail here; a rerun runs only the steps after the downtime, never
 * a sync from the old server again.
 */
struct served_info {
	char from[1024];	/* the --from of the cutover that made it */
	long long since;	/* when (epoch), 0 if not known */
	int other;		/* made for another source: not binding */
};
/* Writes the mark for this --from, with the time.  0 or errno. */
int served_mark(const struct mm_ctx *ctx);
/* 1 when marked for this --from (or marked in a form that cannot be
 * read: that binds too); 0 when not, or marked for another source (then
 * `si->other` is set, for a warning). */
int served_marked(const struct mm_ctx *ctx, struct served_info *si);
/* "since 2026-12-03 12:00:00 UTC by a cutover from HOST" for messages. */
void served_describe(const struct served_info *si, struct buf *out);

#endif
