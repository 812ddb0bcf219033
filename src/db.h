/*
 * db.h: one table of database operations, and what `mailmove db` builds on
 * it.  db_sqlite.c and db_mariadb.c implement struct db_ops; cmd_db.c never
 * knows which engine it talks to (isync's driver table is the model).
 *
 * Values cross the table as byte strings: every engine can give a value
 * as text and take one back, and the text of a value is what the
 * checksums compare, so an INTEGER 5 in SQLite and an int(11) 5 in MariaDB
 * are the same value "5".  A NULL is a value with p == NULL.
 *
 * Every operation logs its own failure (naming the database and table) and
 * returns -1; success is 0.
 */
#ifndef MM_DB_H
#define MM_DB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum db_engine { DB_SQLITE = 1, DB_MARIADB = 2 };

/* A parsed database URL: `sqlite:PATH`, `mysql://USER@HOST[:PORT]/DB`,
 * `mysql://USER@/DB?socket=PATH`.  No password: those come from files. */
struct db_url {
	enum db_engine engine;
	char *path;		/* sqlite */
	char *user, *host, *socket, *dbname;	/* mariadb */
	unsigned port;		/* 0: the default */
};

void db_url_init(struct db_url *u);
void db_url_release(struct db_url *u);
/* Parses `s` into `u`; returns 0, or -1 after saying what is wrong. */
int db_url_parse(struct db_url *u, const char *s);
/* The URL again, for messages (never a password). */
void db_url_format(const struct db_url *u, struct buf *out);

struct db_value {
	const char *p;		/* NULL: SQL NULL */
	size_t len;
};

struct db_columns {
	char **name;
	/* Per column (columns() only, else NULL): the literal default of a
	 * NOT NULL column, or NULL when the column takes NULL or has no
	 * literal default. */
	char **notnull_default;
	size_t n;
};
void db_columns_release(struct db_columns *c);
/* Appends a column; `notnull_default` may be NULL. */
void db_columns_add(struct db_columns *c, const char *name,
		    const char *notnull_default);
/* The value of a default as the engines report it: 'text' (quotes
 * doubled) or a number; NULL for NULL, none, or an expression.  The
 * result is malloc'd. */
char *db_default_literal(const char *expr);
/* Index of `name` in c, or -1. */
int db_columns_find(const struct db_columns *c, const char *name);

/* Called per row; a non-zero return stops the select and is returned. */
typedef int (*db_row_cb)(void *arg, const struct db_value *vals, size_t n);

struct db;

struct db_ops {
	const char *engine;	/* "sqlite", "mariadb" */
	const char *dialect;	/* schema file prefix: "sqlite", "mysql" */
	int ddl_in_transaction;	/* CREATE TABLE can be rolled back */
	int (*open)(struct db *db, const struct db_url *u,
		    const char *password, int for_write);
	void (*close)(struct db *db);
	/* A read snapshot (for_write 0) or the one write transaction. */
	int (*begin)(struct db *db, int for_write);
	int (*commit)(struct db *db);
	int (*rollback)(struct db *db);
	/* Runs SQL text that may hold several statements (schemas). */
	int (*exec_script)(struct db *db, const char *sql);
	/* Columns of `table` in order; returns 1 if there is no such table. */
	int (*columns)(struct db *db, const char *table, struct db_columns *out);
	/* Names of all tables. */
	int (*tables)(struct db *db, struct db_columns *out);
	int (*count)(struct db *db, const char *table, uint64_t *rows);
	int (*select)(struct db *db, const char *table, char *const *cols,
		      size_t ncols, db_row_cb cb, void *arg);
	/* Rows go in between insert_start and insert_finish (batched). */
	int (*insert_start)(struct db *db, const char *table,
			    char *const *cols, size_t ncols);
	int (*insert_row)(struct db *db, const struct db_value *vals);
	int (*insert_finish)(struct db *db);
	int (*delete_all)(struct db *db, const char *table);
	int (*drop_table)(struct db *db, const char *table);
	/* Appends `v` as an SQL literal of this dialect (for backups). */
	void (*literal)(struct db *db, struct buf *out, const struct db_value *v);
	void (*ident)(struct buf *out, const char *name);
};

struct db {
	const struct db_ops *ops;
	void *impl;
	char *desc;		/* "sqlite:/x" or "mysql://u@h/db", for messages */
	const char *table;	/* the table being worked on, for messages */
};

extern const struct db_ops db_sqlite_ops, db_mariadb_ops;

/* Opens the database `u` names with the right engine.  `password` may be
 * NULL; `desc` names it in messages (NULL: the URL).  Returns 0 or -1
 * (said why). */
int db_open(struct db *db, const struct db_url *u, const char *password,
	    int for_write, const char *desc);
void db_close(struct db *db);

/*
 * Order-independent checksum of a table's rows: the 128-bit sum of the
 * XXH3-128 hash of each row's canonical encoding (per value: a NULL tag,
 * or a length and the bytes).  Equal multisets of rows give equal sums,
 * whatever order the engines return them in.
 */
struct db_sum {
	uint64_t rows;
	uint64_t hi, lo;
};
void db_row_hash(const struct db_value *vals, size_t n, struct buf *scratch,
		 uint64_t *hi, uint64_t *lo);
void db_sum_add(struct db_sum *s, uint64_t hi, uint64_t lo);
int db_sum_equal(const struct db_sum *a, const struct db_sum *b);
/* 32 hex digits. */
void db_sum_hex(const struct db_sum *s, char out[33]);

#endif
