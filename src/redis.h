/*
 * redis.h: copying rspamd's Redis data from the old server's Redis to the
 * new one, key by key, and proving the result.
 *
 * The parsing half (addresses, rspamd's redis.conf) has no I/O and is unit
 * tested; the copying half talks to two live servers through hiredis.
 */
#ifndef MM_REDIS_H
#define MM_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct redisContext;

/* Where a Redis listens: a unix socket, or host and port. */
struct redis_addr {
	char *path;		/* unix socket; NULL for TCP */
	char *host;
	int port;
	int db;			/* logical database named in the address; -1 none */
};

void redis_addr_init(struct redis_addr *a);
void redis_addr_release(struct redis_addr *a);
/*
 * Parses `redis://HOST:PORT[/DB]`, `unix:PATH`, and (from rspamd's
 * configuration) `HOST[:PORT]`, `[V6]:PORT` or `/PATH` when `loose`.
 * Returns 0, or -1 with *why saying what is wrong.  User info (a password
 * in the address) is refused: passwords never go on a command line.
 */
int redis_addr_parse(struct redis_addr *a, const char *s, int loose,
		     const char **why);
/* "tcp:HOST:PORT" or "unix:PATH", the form fwd_start() takes. */
void redis_addr_target(const struct redis_addr *a, struct buf *out);

/* What rspamd's configuration says about its Redis. */
struct redis_conf {
	struct redis_addr addr;
	int has_addr;
	char *password;		/* NULL if none */
	char *username;		/* Redis 6 ACL user; NULL if none */
	int db;			/* rspamd's `db` setting; -1 if none */
};

void redis_conf_init(struct redis_conf *c);
void redis_conf_release(struct redis_conf *c);
/*
 * Reads one rspamd UCL file's text (redis.conf or classifier-bayes.conf)
 * and fills what `c` does not have yet: the first of write_servers,
 * servers, read_servers; password; username; db.  Returns 1 if the file named
 * a server, 0 if not, -1 if the server it names cannot be parsed.
 */
int redis_conf_parse(struct redis_conf *c, const char *text, size_t len);

/*
 * rspamd's history keys: `rs_history<HOST>` and `rs_history<HOST>_zst`,
 * and the set `rs_history` listing the hosts.  Returns 1 and puts the new
 * name in `out` when `name` (of `len` bytes) is one of OLD's keys (or,
 * for members, one of OLD's set members), else 0.
 */
int redis_history_rename_key(const char *old, const char *new_host,
			     const char *name, size_t len, struct buf *out);
int redis_history_rename_member(const char *old, const char *new_host,
				const char *name, size_t len, struct buf *out);

/* Appends a key for printing: printable ASCII as is, other bytes \xHH. */
void redis_quote(struct buf *out, const char *p, size_t n);

/* Connects (unix socket or TCP), sends AUTH when a password is given, and
 * checks with PING.  Returns NULL after saying why (never the password). */
struct redisContext *redis_connect(const char *what,
				   const struct redis_addr *a,
				   const char *connect_path,
				   const char *username, const char *password);

struct redis_copy_opts {
	const char *match;	/* SCAN MATCH pattern, or NULL */
	const int *dbs;		/* source databases to copy; NULL = all in use */
	size_t ndbs;
	int dest_db;		/* -1: the same number as the source */
	int replace;
	int dry_run;
	int verify;		/* compare after the copy */
	const char *hist_old, *hist_new;	/* --rename-history */
	int force_fallback;	/* type-aware copy even if RESTORE works */
	unsigned batch;		/* keys per pipelined batch */
};

struct redis_db_stats {
	int db, dest_db;
	uint64_t keys;		/* seen by SCAN (matching) */
	uint64_t copied;	/* written by RESTORE */
	uint64_t fallback;	/* written by the type-aware copy */
	uint64_t identical;	/* already on the destination, same content */
	uint64_t conflicts;	/* different on the destination, kept */
	uint64_t replaced;	/* different on the destination, replaced */
	uint64_t gone;		/* vanished from the source meanwhile */
	uint64_t failed;
	uint64_t renamed;
	uint64_t v_keys, v_present, v_equal, v_missing, v_differ, v_ttl;
	long long dbsize_src, dbsize_dest;
};

struct redis_copy_result {
	struct redis_db_stats *db;
	size_t ndb;
	int fallback_used;	/* the destination refused RESTORE payloads */
	uint64_t history_kept;	/* rs_history<host> keys copied unrenamed */
	char *fallback_reason;
	double seconds_copy, seconds_verify;
};

void redis_copy_result_init(struct redis_copy_result *r);
void redis_copy_result_release(struct redis_copy_result *r);

/*
 * Copies every selected database of `src` to `dst`, then (opts->verify)
 * compares.  Returns MM_OK, MM_EDIFF (conflicts kept, failed keys or
 * differences, all reported), MM_EREMOTE (the source connection failed),
 * MM_EDEST (the destination failed) or MM_EINTR.
 */
int redis_copy(struct redisContext *src, struct redisContext *dst,
	       const struct redis_copy_opts *opts,
	       struct redis_copy_result *res);

#endif
