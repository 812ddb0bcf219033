/*
 * switch_state.h: what mailmove remembers about switching over, in a small
 * SQLite file on the destination (default
 * <root>/var/lib/mailmove/switch.sqlite, mode 0600): per domain the DNS TTLs
 * it saw and when, and since when soft_bounce is on.  `dns` and
 * `softbounce` write it; `queue` reads it.
 */
#ifndef MM_SWITCH_STATE_H
#define MM_SWITCH_STATE_H

#include <stdint.h>

struct mm_ctx;

/* TTLs at or below this are low enough to switch (the advice's figure). */
#define TTL_LOW 300

struct switch_state {
	void *db;		/* sqlite3 *; NULL when there is no file */
	char *path;
	int readonly;
};

/* Opens (creating with `create`) the state at `path`, or the default for
 * ctx's destination when path is NULL.  Without `create` a missing file is
 * not an error: st->db stays NULL.  Returns 0, or -1 after saying why. */
int switch_state_open(struct switch_state *st, const struct mm_ctx *ctx,
		      const char *path, int create);
void switch_state_release(struct switch_state *st);

/* What was remembered about one domain's TTL. */
struct ttl_memory {
	int known;
	int64_t first_ttl, first_seen;	/* the first check */
	int64_t high_ttl;		/* the highest TTL above TTL_LOW seen */
	int64_t lowered_at;		/* when it was first seen low after
					 * being high; 0 while high */
	int64_t low_ttl;
};

enum ttl_advice {
	TTL_ADVICE_LOWER,	/* high: lower it to TTL_LOW or less */
	TTL_ADVICE_WAIT,	/* lowered: safe from safe_at */
	TTL_ADVICE_SAFE,	/* lowered, and safe_at has passed */
	TTL_ADVICE_LOW_AT_FIRST,/* low since the first check: when it was
				 * lowered is unknown */
};

/* Folds the TTL seen `now` into m and says what to do; *safe_at is the
 * moment from which caches hold no record with the old high TTL (the
 * moment of lowering plus that TTL), 0 when unknown.  Pure: the unit test
 * drives it. */
enum ttl_advice ttl_memory_update(struct ttl_memory *m, int64_t ttl,
				  int64_t now, int64_t *safe_at);

int switch_state_get_ttl(struct switch_state *st, const char *domain,
			 struct ttl_memory *m);
int switch_state_put_ttl(struct switch_state *st, const char *domain,
			 const struct ttl_memory *m);

/* soft_bounce: *on_since is 0 when it is not recorded as on. */
int switch_state_get_softbounce(struct switch_state *st, int64_t *on_since,
				int64_t *off_since);
int switch_state_put_softbounce(struct switch_state *st, int64_t on_since,
				int64_t off_since);

#endif
