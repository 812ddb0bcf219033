/*
 * relay_state.h: what `cutover --relay-to` changed on the old Postfix
 * (its virtual_transport before), kept on this server so that `finish
 * --relay remove` can restore it.  One line in
 * /var/lib/mailmove/relay-saved under the destination root, mode 0600.
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

#endif
