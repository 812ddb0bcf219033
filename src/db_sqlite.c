/*
 * db_sqlite.c: struct db_ops for SQLite files.
 *
 * Reads happen inside one deferred transaction, so every table is read
 * from the same snapshot.  Writes happen inside one BEGIN IMMEDIATE
 * transaction with a prepared INSERT per table; SQLite's journal makes a
 * killed run leave the file as it was (the next opener rolls back).
 * Values are bound as text (or blob when they came as a blob), and the
 * column's affinity turns "5" back into the integer 5.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "banned.h"

struct sq {
	sqlite3 *h;
	sqlite3_stmt *ins;
	size_t ins_cols;
	int in_txn;
};

static void sq_error(struct db *db, const char *what)
{
	struct sq *s = db->impl;

	if (db->table)
		log_error("%s: %s in table %s: %s", db->desc, what, db->table,
			  sqlite3_errmsg(s->h));
	else
		log_error("%s: %s: %s", db->desc, what, sqlite3_errmsg(s->h));
}

static void sq_ident(struct buf *out, const char *name)
{
	const char *p;

	buf_putc(out, '"');
	for (p = name; *p; p++) {
		if (*p == '"')
			buf_putc(out, '"');
		buf_putc(out, *p);
	}
	buf_putc(out, '"');
}

static void sq_literal(struct db *db, struct buf *out, const struct db_value *v)
{
	size_t i;

	(void)db;
	if (!v->p) {
		buf_addstr(out, "NULL");
		return;
	}
	/* A value with a NUL byte or invalid text goes as a blob literal. */
	if (memchr(v->p, '\0', v->len)) {
		static const char hex[] = "0123456789abcdef";
		buf_addstr(out, "X'");
		for (i = 0; i < v->len; i++) {
			buf_putc(out, hex[(unsigned char)v->p[i] >> 4]);
			buf_putc(out, hex[(unsigned char)v->p[i] & 15]);
		}
		buf_putc(out, '\'');
		return;
	}
	buf_putc(out, '\'');
	for (i = 0; i < v->len; i++) {
		if (v->p[i] == '\'')
			buf_putc(out, '\'');
		buf_putc(out, v->p[i]);
	}
	buf_putc(out, '\'');
}

static int sq_open(struct db *db, const struct db_url *u, const char *password,
		   int for_write)
{
	struct sq *s = xcalloc(1, sizeof *s);
	int flags, rc;

	(void)password;
	if (for_write) {
		/* A new file holds password hashes: private from the start. */
		int fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			      O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST) {
			log_error("%s: cannot create: %s", db->desc,
				  strerror(errno));
			free(s);
			return -1;
		}
		flags = SQLITE_OPEN_READWRITE;
	} else {
		flags = SQLITE_OPEN_READONLY;
	}
	rc = sqlite3_open_v2(u->path, &s->h, flags | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		log_error("%s: cannot open: %s", db->desc,
			  s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
		sqlite3_close(s->h);
		free(s);
		return -1;
	}
	db->impl = s;
	sqlite3_busy_timeout(s->h, 10000);
	/* Fails here, not halfway, when the file is not a database. */
	if (sqlite3_exec(s->h, "SELECT count(*) FROM sqlite_master", NULL,
			 NULL, NULL) != SQLITE_OK) {
		sq_error(db, "cannot read");
		sqlite3_close(s->h);
		free(s);
		db->impl = NULL;
		return -1;
	}
	return 0;
}

static void sq_close(struct db *db)
{
	struct sq *s = db->impl;

	if (!s)
		return;
	sqlite3_finalize(s->ins);
	sqlite3_close(s->h);
	free(s);
	db->impl = NULL;
}

static int sq_exec(struct db *db, const char *sql, const char *what)
{
	struct sq *s = db->impl;

	if (sqlite3_exec(s->h, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sq_error(db, what);
		return -1;
	}
	return 0;
}

static int sq_begin(struct db *db, int for_write)
{
	struct sq *s = db->impl;

	if (sq_exec(db, for_write ? "BEGIN IMMEDIATE" : "BEGIN",
		    "cannot begin a transaction") < 0)
		return -1;
	s->in_txn = 1;
	return 0;
}

static int sq_commit(struct db *db)
{
	struct sq *s = db->impl;

	if (sq_exec(db, "COMMIT", "cannot commit") < 0)
		return -1;
	s->in_txn = 0;
	return 0;
}

static int sq_rollback(struct db *db)
{
	struct sq *s = db->impl;

	if (!s->in_txn)
		return 0;
	s->in_txn = 0;
	sqlite3_finalize(s->ins);
	s->ins = NULL;
	return sq_exec(db, "ROLLBACK", "cannot roll back");
}

static int sq_exec_script(struct db *db, const char *sql)
{
	return sq_exec(db, sql, "schema");
}

static int sq_columns(struct db *db, const char *table, struct db_columns *out)
{
	struct sq *s = db->impl;
	struct buf q = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc;

	out->n = 0;
	out->name = NULL;
	buf_addstr(&q, "PRAGMA table_info(");
	sq_ident(&q, table);
	buf_putc(&q, ')');
	if (sqlite3_prepare_v2(s->h, q.data, -1, &st, NULL) != SQLITE_OK) {
		buf_release(&q);
		sq_error(db, "cannot list columns");
		return -1;
	}
	buf_release(&q);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *dflt = (const char *)sqlite3_column_text(st, 4);
		char *lit = sqlite3_column_int(st, 3) ? db_default_literal(dflt)
			: NULL;
		db_columns_add(out, name ? name : "", lit);
		free(lit);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sq_error(db, "cannot list columns");
		db_columns_release(out);
		return -1;
	}
	return out->n ? 0 : 1;
}

static int sq_tables(struct db *db, struct db_columns *out)
{
	struct sq *s = db->impl;
	sqlite3_stmt *st = NULL;
	int rc;

	out->n = 0;
	out->name = NULL;
	if (sqlite3_prepare_v2(s->h, "SELECT name FROM sqlite_master WHERE "
			       "type='table' AND name NOT LIKE 'sqlite_%'",
			       -1, &st, NULL) != SQLITE_OK) {
		sq_error(db, "cannot list tables");
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		db_columns_add(out, name ? name : "", NULL);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sq_error(db, "cannot list tables");
		db_columns_release(out);
		return -1;
	}
	return 0;
}

static int sq_count(struct db *db, const char *table, uint64_t *rows)
{
	struct sq *s = db->impl;
	struct buf q = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	buf_addstr(&q, "SELECT count(*) FROM ");
	sq_ident(&q, table);
	db->table = table;
	if (sqlite3_prepare_v2(s->h, q.data, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*rows = (uint64_t)sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		sq_error(db, "cannot count rows");
	}
	db->table = NULL;
	sqlite3_finalize(st);
	buf_release(&q);
	return rc;
}

static int sq_select(struct db *db, const char *table, char *const *cols,
		     size_t ncols, db_row_cb cb, void *arg)
{
	struct sq *s = db->impl;
	struct buf q = BUF_INIT;
	struct db_value *vals;
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc, stop = 0;

	buf_addstr(&q, "SELECT ");
	for (i = 0; i < ncols; i++) {
		if (i)
			buf_putc(&q, ',');
		sq_ident(&q, cols[i]);
	}
	buf_addstr(&q, " FROM ");
	sq_ident(&q, table);
	db->table = table;
	if (sqlite3_prepare_v2(s->h, q.data, -1, &st, NULL) != SQLITE_OK) {
		sq_error(db, "cannot read");
		buf_release(&q);
		db->table = NULL;
		return -1;
	}
	buf_release(&q);
	vals = xcalloc(ncols ? ncols : 1, sizeof *vals);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < ncols; i++) {
			int t = sqlite3_column_type(st, (int)i);
			if (t == SQLITE_NULL) {
				vals[i].p = NULL;
				vals[i].len = 0;
			} else if (t == SQLITE_BLOB) {
				vals[i].p = sqlite3_column_blob(st, (int)i);
				vals[i].len = (size_t)sqlite3_column_bytes(st, (int)i);
				if (!vals[i].p)
					vals[i].p = "";
			} else {
				vals[i].p = (const char *)sqlite3_column_text(st, (int)i);
				vals[i].len = (size_t)sqlite3_column_bytes(st, (int)i);
			}
		}
		stop = cb(arg, vals, ncols);
		if (stop)
			break;
	}
	free(vals);
	if (!stop && rc != SQLITE_DONE) {
		sq_error(db, "cannot read");
		stop = -1;
	}
	sqlite3_finalize(st);
	db->table = NULL;
	return stop;
}

static int sq_insert_start(struct db *db, const char *table, char *const *cols,
			   size_t ncols)
{
	struct sq *s = db->impl;
	struct buf q = BUF_INIT;
	size_t i;

	buf_addstr(&q, "INSERT INTO ");
	sq_ident(&q, table);
	buf_addstr(&q, " (");
	for (i = 0; i < ncols; i++) {
		if (i)
			buf_putc(&q, ',');
		sq_ident(&q, cols[i]);
	}
	buf_addstr(&q, ") VALUES (");
	for (i = 0; i < ncols; i++)
		buf_addstr(&q, i ? ",?" : "?");
	buf_putc(&q, ')');
	db->table = table;
	sqlite3_finalize(s->ins);
	s->ins = NULL;
	if (sqlite3_prepare_v2(s->h, q.data, -1, &s->ins, NULL) != SQLITE_OK) {
		sq_error(db, "cannot prepare the insert");
		buf_release(&q);
		return -1;
	}
	s->ins_cols = ncols;
	buf_release(&q);
	return 0;
}

static int sq_insert_row(struct db *db, const struct db_value *vals)
{
	struct sq *s = db->impl;
	size_t i;
	int rc;

	for (i = 0; i < s->ins_cols; i++) {
		int col = (int)i + 1;
		if (!vals[i].p)
			rc = sqlite3_bind_null(s->ins, col);
		else if (memchr(vals[i].p, '\0', vals[i].len))
			rc = sqlite3_bind_blob64(s->ins, col, vals[i].p,
						 vals[i].len, SQLITE_STATIC);
		else
			rc = sqlite3_bind_text64(s->ins, col, vals[i].p,
						 vals[i].len, SQLITE_STATIC,
						 SQLITE_UTF8);
		if (rc != SQLITE_OK) {
			sq_error(db, "cannot bind a value");
			return -1;
		}
	}
	rc = sqlite3_step(s->ins);
	sqlite3_reset(s->ins);
	if (rc != SQLITE_DONE) {
		struct buf row = BUF_INIT;
		/* Name the row by its first column (the id). */
		if (s->ins_cols && vals[0].p)
			buf_add(&row, vals[0].p, vals[0].len > 80 ? 80 : vals[0].len);
		log_error("%s: table %s, row %s: %s", db->desc, db->table,
			  row.len ? row.data : "?", sqlite3_errmsg(s->h));
		buf_release(&row);
		return -1;
	}
	return 0;
}

static int sq_insert_finish(struct db *db)
{
	struct sq *s = db->impl;

	sqlite3_finalize(s->ins);
	s->ins = NULL;
	db->table = NULL;
	return 0;
}

static int sq_table_statement(struct db *db, const char *verb,
			      const char *table, const char *what)
{
	struct buf q = BUF_INIT;
	int rc;

	buf_addstr(&q, verb);
	sq_ident(&q, table);
	db->table = table;
	rc = sq_exec(db, q.data, what);
	db->table = NULL;
	buf_release(&q);
	return rc;
}

static int sq_delete_all(struct db *db, const char *table)
{
	return sq_table_statement(db, "DELETE FROM ", table,
				  "cannot delete the old rows");
}

static int sq_drop_table(struct db *db, const char *table)
{
	return sq_table_statement(db, "DROP TABLE IF EXISTS ", table,
				  "cannot drop");
}

const struct db_ops db_sqlite_ops = {
	.engine = "sqlite",
	.dialect = "sqlite",
	.ddl_in_transaction = 1,
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.exec_script = sq_exec_script,
	.columns = sq_columns,
	.tables = sq_tables,
	.count = sq_count,
	.select = sq_select,
	.insert_start = sq_insert_start,
	.insert_row = sq_insert_row,
	.insert_finish = sq_insert_finish,
	.delete_all = sq_delete_all,
	.drop_table = sq_drop_table,
	.literal = sq_literal,
	.ident = sq_ident,
};
