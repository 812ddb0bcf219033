/*
 * db_copy.h: the copy engine of `mailmove db`: the mailserver tables
 * (virtual_domains, virtual_users, virtual_aliases) or Roundcube's user
 * data, from one open database into another, across engines (MariaDB,
 * SQLite) and schema versions.  cmd_db.c finds and opens both ends.
 *
 * The copy never knows the engine: it talks to both ends through struct
 * db_ops (db.h).  Its rules:
 *   - the destination's schema stays; rows go in by column name; a missing
 *     schema is created in the destination's own dialect;
 *   - a destination that already has rows is compared first: identical is
 *     nothing to do, different is refused unless --replace, which writes a
 *     0600 backup of the destination tables before replacing them;
 *   - one transaction; per table the row count and an order-independent
 *     checksum of the copied values are compared on both sides before the
 *     commit, and a mismatch rolls everything back (exit 1);
 *   - killed at any moment, the destination is as it was (the engines'
 *     own transactions guarantee it).
 */
#ifndef MM_DB_COPY_H
#define MM_DB_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "log.h"

#define DB_COPY_MAX_TABLES 16

/* Which tables: the mailserver's or Roundcube's. */
enum db_set { DB_SET_MAILSERVER, DB_SET_ROUNDCUBE };

/* How a run ended, for the JSON result (db_copy_status_name). */
enum db_copy_status {
	DB_COPY_FAILED,		/* nothing changed; the exit code says why */
	DB_COPY_IDENTICAL,	/* the destination already holds the rows */
	DB_COPY_DIFFERENT,	/* other rows there, and no --replace */
	DB_COPY_DRY_RUN,	/* said what it would do */
	DB_COPY_COPIED,		/* into empty tables */
	DB_COPY_REPLACED,	/* after a backup of the old rows */
};

struct db_copy_opts {
	enum db_set set;
	int replace;		/* --replace */
	int dry_run;
	const char *dest_root;	/* "/" or --to: schema files, backups */
	const char *mail_host;	/* users.mail_host on the destination, or NULL */
	int src_remote;		/* the source is reached through the agent */
	uint64_t stall_after;	/* test hook: MAILMOVE_TEST_STALL_ROWS */
};

struct table_spec;
struct db_tab;

/* One run.  The caller opens src and dst (db_open) before db_copy_run();
 * db_copy_release() closes them. */
struct db_copy {
	struct db_copy_opts o;
	const char *set;	/* "mailserver" or "roundcube", for messages */
	struct db src, dst;
	enum db_copy_status status;
	uint64_t copied;	/* rows inserted */
	char *backup;		/* the backup file written, or NULL */
	/* private to db_copy.c */
	const struct table_spec *specs;
	struct db_tab *tabs;
	size_t ntabs;
	struct buf scratch;
	struct progress prog;
	int created;		/* the schema was created by this run */
	int dst_failed;		/* the destination refused a row */
	struct db_columns tables_before;	/* for dropping what we made */
};

void db_copy_init(struct db_copy *c, const struct db_copy_opts *o);
/* Compares, copies and verifies in one transaction of the destination.
 * Returns an enum mm_exit (reported); c->status says what happened. */
int db_copy_run(struct db_copy *c);
void db_copy_release(struct db_copy *c);

const char *db_copy_status_name(enum db_copy_status s);

#endif
