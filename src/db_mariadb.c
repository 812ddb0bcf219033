/*
 * db_mariadb.c: struct db_ops for MariaDB (and MySQL) through MariaDB
 * Connector/C.
 *
 * Reads use one consistent-snapshot transaction and stream rows
 * (mysql_use_result), so a table of any size costs constant memory.
 * Writes are multi-row INSERT statements of up to INSERT_BATCH bytes, all
 * inside one transaction: a killed run's connection drops and the server
 * rolls it all back.  A sender thread executes one batch while the caller
 * reads the source and builds the next, so reading and writing overlap as
 * they do in `mysqldump | mysql`.
 * The session is strict (a value that does not fit is an error, not a
 * silent truncation), in UTC, and keeps explicit ids of 0.
 */
#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "banned.h"

#define INSERT_BATCH (256 * 1024)

struct my {
	MYSQL *h;
	struct buf ins;		/* the statement being built */
	struct buf head;	/* "INSERT INTO t (cols) VALUES " */
	size_t ins_rows;
	size_t ins_cols;
	size_t batch_max;
	char first_id[81];	/* first column of the batch's first row */
	int in_txn;
	/* The sender thread and the one batch it may be executing. */
	pthread_t sender;
	int sender_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct buf sending;
	char sending_id[81];
	int has_batch, stop, failed;
	struct db *db;
};

static void my_error(struct db *db, const char *what)
{
	struct my *m = db->impl;

	if (db->table)
		log_error("%s: %s in table %s: %s", db->desc, what, db->table,
			  mysql_error(m->h));
	else
		log_error("%s: %s: %s", db->desc, what, mysql_error(m->h));
}

static void my_ident(struct buf *out, const char *name)
{
	const char *p;

	buf_putc(out, '`');
	for (p = name; *p; p++) {
		if (*p == '`')
			buf_putc(out, '`');
		buf_putc(out, *p);
	}
	buf_putc(out, '`');
}

/*
 * A string literal.  The session's character set is utf8mb4 and its
 * sql_mode keeps backslash escapes (both set in my_open), and no UTF-8
 * multi-byte sequence contains a quote or backslash byte, so escaping
 * byte by byte is exact for any value, binary included.  It needs no
 * connection handle, so the caller can build a batch while the sender
 * thread uses the handle.
 */
static void my_literal(struct db *db, struct buf *out, const struct db_value *v)
{
	const unsigned char *p, *end;
	char *o;

	(void)db;
	if (!v->p) {
		buf_addstr(out, "NULL");
		return;
	}
	if (buf_grow(out, v->len * 2 + 3) < 0)
		return;
	o = out->data + out->len;
	*o++ = '\'';
	for (p = (const unsigned char *)v->p, end = p + v->len; p < end; p++) {
		switch (*p) {
		case '\0': *o++ = '\\'; *o++ = '0'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case 0x1a: *o++ = '\\'; *o++ = 'Z'; break;
		case '\\': case '\'': case '"':
			*o++ = '\\'; *o++ = (char)*p; break;
		default: *o++ = (char)*p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	out->len = (size_t)(o - out->data);
}

static int my_query(struct db *db, const char *sql, size_t len,
		    const char *what)
{
	struct my *m = db->impl;

	if (mysql_real_query(m->h, sql, (unsigned long)len)) {
		my_error(db, what);
		return -1;
	}
	return 0;
}

static int my_exec_script(struct db *db, const char *sql);
static void my_stop_sender(struct my *m);

static int my_open(struct db *db, const struct db_url *u, const char *password,
		   int for_write)
{
	struct my *m = xcalloc(1, sizeof *m);
	unsigned int timeout = 30;
	my_bool off = 0;
	MYSQL_RES *res;
	MYSQL_ROW row;
	static const char setup[] =
		"SET SESSION sql_mode='STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,"
		"NO_ENGINE_SUBSTITUTION', time_zone='+00:00';"
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";

	(void)for_write;
	m->h = mysql_init(NULL);
	if (!m->h) {
		log_error("%s: out of memory", db->desc);
		free(m);
		return -1;
	}
	db->impl = m;
	mysql_options(m->h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(m->h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m->h, MYSQL_OPT_LOCAL_INFILE, &off);
	if (!mysql_real_connect(m->h, u->socket ? NULL : u->host, u->user,
				password, u->dbname, u->port, u->socket,
				CLIENT_MULTI_STATEMENTS)) {
		log_error("%s: cannot connect: %s", db->desc, mysql_error(m->h));
		mysql_close(m->h);
		free(m);
		db->impl = NULL;
		return -1;
	}
	if (my_exec_script(db, setup) < 0)
		goto fail;
	m->batch_max = INSERT_BATCH;
	if (!mysql_query(m->h, "SELECT @@max_allowed_packet") &&
	    (res = mysql_store_result(m->h))) {
		row = mysql_fetch_row(res);
		if (row && row[0]) {
			unsigned long long v = strtoull(row[0], NULL, 10);
			if (v / 2 < m->batch_max)
				m->batch_max = (size_t)(v / 2);
		}
		mysql_free_result(res);
	}
	return 0;
fail:
	mysql_close(m->h);
	free(m);
	db->impl = NULL;
	return -1;
}

static void my_close(struct db *db)
{
	struct my *m = db->impl;

	if (!m)
		return;
	my_stop_sender(m);
	mysql_close(m->h);
	buf_release(&m->ins);
	buf_release(&m->head);
	buf_release(&m->sending);
	free(m);
	db->impl = NULL;
}

static int my_simple(struct db *db, const char *sql, const char *what)
{
	return my_query(db, sql, strlen(sql), what);
}

static int my_begin(struct db *db, int for_write)
{
	struct my *m = db->impl;

	if (my_simple(db, for_write ? "START TRANSACTION"
		      : "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
		      "cannot begin a transaction") < 0)
		return -1;
	m->in_txn = 1;
	return 0;
}

static int my_commit(struct db *db)
{
	struct my *m = db->impl;

	if (my_simple(db, "COMMIT", "cannot commit") < 0)
		return -1;
	m->in_txn = 0;
	return 0;
}

static int my_rollback(struct db *db)
{
	struct my *m = db->impl;

	my_stop_sender(m);
	if (!m->in_txn)
		return 0;
	m->in_txn = 0;
	return my_simple(db, "ROLLBACK", "cannot roll back");
}

/* Runs every statement of `sql`, draining each result. */
static int my_exec_script(struct db *db, const char *sql)
{
	struct my *m = db->impl;
	int st;

	if (my_simple(db, sql, "schema") < 0)
		return -1;
	do {
		MYSQL_RES *res = mysql_store_result(m->h);
		if (res)
			mysql_free_result(res);
		st = mysql_next_result(m->h);
		if (st > 0) {
			my_error(db, "schema");
			return -1;
		}
	} while (st == 0);
	return 0;
}

/* Runs `sql` and collects the first column of every row into out. */
static int my_list(struct db *db, const char *sql, struct db_columns *out,
		   const char *what)
{
	struct my *m = db->impl;
	MYSQL_RES *res;
	MYSQL_ROW row;

	out->n = 0;
	out->name = NULL;
	if (my_simple(db, sql, what) < 0)
		return -1;
	res = mysql_store_result(m->h);
	if (!res) {
		my_error(db, what);
		return -1;
	}
	while ((row = mysql_fetch_row(res))) {
		char *lit = NULL;
		/* Columns: name, IS_NULLABLE, COLUMN_DEFAULT (MariaDB 10.2.7
		 * on quotes string defaults and says NULL for none). */
		if (mysql_num_fields(res) >= 3 && row[1] &&
		    !strcmp(row[1], "NO"))
			lit = db_default_literal(row[2]);
		db_columns_add(out, row[0] ? row[0] : "", lit);
		free(lit);
	}
	mysql_free_result(res);
	return 0;
}

static int my_columns(struct db *db, const char *table, struct db_columns *out)
{
	struct my *m = db->impl;
	struct buf q = BUF_INIT;
	struct db_value v = { table, strlen(table) };
	int rc;

	buf_addstr(&q, "SELECT COLUMN_NAME, IS_NULLABLE, COLUMN_DEFAULT "
		   "FROM information_schema.COLUMNS "
		   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ");
	my_literal(db, &q, &v);
	buf_addstr(&q, " ORDER BY ORDINAL_POSITION");
	(void)m;
	rc = my_list(db, q.data, out, "cannot list columns");
	buf_release(&q);
	if (rc < 0)
		return -1;
	return out->n ? 0 : 1;
}

static int my_tables(struct db *db, struct db_columns *out)
{
	return my_list(db, "SELECT TABLE_NAME FROM information_schema.TABLES "
		       "WHERE TABLE_SCHEMA = DATABASE()", out,
		       "cannot list tables");
}

static int my_count(struct db *db, const char *table, uint64_t *rows)
{
	struct my *m = db->impl;
	struct buf q = BUF_INIT;
	MYSQL_RES *res;
	MYSQL_ROW row;
	int rc = -1;

	buf_addstr(&q, "SELECT COUNT(*) FROM ");
	my_ident(&q, table);
	db->table = table;
	if (my_simple(db, q.data, "cannot count rows") == 0) {
		res = mysql_store_result(m->h);
		if (res && (row = mysql_fetch_row(res)) && row[0]) {
			*rows = strtoull(row[0], NULL, 10);
			rc = 0;
		} else {
			my_error(db, "cannot count rows");
		}
		if (res)
			mysql_free_result(res);
	}
	db->table = NULL;
	buf_release(&q);
	return rc;
}

static int my_select(struct db *db, const char *table, char *const *cols,
		     size_t ncols, db_row_cb cb, void *arg)
{
	struct my *m = db->impl;
	struct buf q = BUF_INIT;
	struct db_value *vals;
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned long *lens;
	size_t i;
	int stop = 0;

	buf_addstr(&q, "SELECT ");
	for (i = 0; i < ncols; i++) {
		if (i)
			buf_putc(&q, ',');
		my_ident(&q, cols[i]);
	}
	buf_addstr(&q, " FROM ");
	my_ident(&q, table);
	db->table = table;
	if (my_simple(db, q.data, "cannot read") < 0) {
		buf_release(&q);
		db->table = NULL;
		return -1;
	}
	buf_release(&q);
	res = mysql_use_result(m->h);
	if (!res) {
		my_error(db, "cannot read");
		db->table = NULL;
		return -1;
	}
	vals = xcalloc(ncols ? ncols : 1, sizeof *vals);
	while ((row = mysql_fetch_row(res))) {
		lens = mysql_fetch_lengths(res);
		for (i = 0; i < ncols; i++) {
			vals[i].p = row[i];
			vals[i].len = row[i] ? lens[i] : 0;
		}
		stop = cb(arg, vals, ncols);
		if (stop) {
			/* Drain the rest so the connection stays usable. */
			while (mysql_fetch_row(res))
				;
			break;
		}
	}
	if (!stop && mysql_errno(m->h)) {
		my_error(db, "cannot read");
		stop = -1;
	}
	mysql_free_result(res);
	free(vals);
	db->table = NULL;
	return stop;
}

/* The sender thread: executes each batch handed over in m->sending. */
static void *my_sender(void *arg)
{
	struct my *m = arg;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		while (!m->has_batch && !m->stop)
			pthread_cond_wait(&m->cv, &m->mu);
		if (!m->has_batch)
			break;
		pthread_mutex_unlock(&m->mu);
		if (mysql_real_query(m->h, m->sending.data,
				     (unsigned long)m->sending.len)) {
			/* The server's words name the value and the key. */
			log_error("%s: table %s, rows from id %s on: %s",
				  m->db->desc, m->db->table, m->sending_id,
				  mysql_error(m->h));
			pthread_mutex_lock(&m->mu);
			m->failed = 1;
		} else {
			pthread_mutex_lock(&m->mu);
		}
		m->has_batch = 0;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* Waits until the sender is idle; returns -1 if a batch failed. */
static int my_wait_sender(struct my *m)
{
	int failed;

	pthread_mutex_lock(&m->mu);
	while (m->has_batch)
		pthread_cond_wait(&m->cv, &m->mu);
	failed = m->failed;
	pthread_mutex_unlock(&m->mu);
	return failed ? -1 : 0;
}

static void my_stop_sender(struct my *m)
{
	if (!m->sender_running)
		return;
	my_wait_sender(m);
	pthread_mutex_lock(&m->mu);
	m->stop = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->sender, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	m->sender_running = 0;
}

static int my_insert_start(struct db *db, const char *table, char *const *cols,
			   size_t ncols)
{
	struct my *m = db->impl;
	size_t i;

	buf_reset(&m->head);
	buf_addstr(&m->head, "INSERT INTO ");
	my_ident(&m->head, table);
	buf_addstr(&m->head, " (");
	for (i = 0; i < ncols; i++) {
		if (i)
			buf_putc(&m->head, ',');
		my_ident(&m->head, cols[i]);
	}
	buf_addstr(&m->head, ") VALUES ");
	buf_reset(&m->ins);
	buf_add(&m->ins, m->head.data, m->head.len);
	m->ins_rows = 0;
	m->ins_cols = ncols;
	db->table = table;
	m->db = db;
	m->has_batch = m->stop = m->failed = 0;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if (pthread_create(&m->sender, NULL, my_sender, m) != 0) {
		log_error("%s: cannot start a thread", db->desc);
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->cv);
		return -1;
	}
	m->sender_running = 1;
	return 0;
}

/* Hands the batch built so far to the sender (once it is idle) and starts
 * the next one. */
static int my_flush(struct db *db)
{
	struct my *m = db->impl;
	struct buf tmp;

	if (!m->ins_rows)
		return 0;
	if (my_wait_sender(m) < 0)
		return -1;
	pthread_mutex_lock(&m->mu);
	tmp = m->sending;
	m->sending = m->ins;
	m->ins = tmp;
	memcpy(m->sending_id, m->first_id, sizeof m->sending_id);
	m->has_batch = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	buf_reset(&m->ins);
	buf_add(&m->ins, m->head.data, m->head.len);
	m->ins_rows = 0;
	return 0;
}

static int my_insert_row(struct db *db, const struct db_value *vals)
{
	struct my *m = db->impl;
	size_t i;

	if (m->ins_rows == 0) {
		size_t n = vals[0].p ? vals[0].len : 4;
		if (n > sizeof m->first_id - 1)
			n = sizeof m->first_id - 1;
		memcpy(m->first_id, vals[0].p ? vals[0].p : "NULL", n);
		m->first_id[n] = '\0';
	}
	buf_addstr(&m->ins, m->ins_rows ? ",(" : "(");
	for (i = 0; i < m->ins_cols; i++) {
		if (i)
			buf_putc(&m->ins, ',');
		my_literal(db, &m->ins, &vals[i]);
	}
	buf_putc(&m->ins, ')');
	m->ins_rows++;
	if (m->ins.len >= m->batch_max)
		return my_flush(db);
	return 0;
}

static int my_insert_finish(struct db *db)
{
	struct my *m = db->impl;
	int rc = my_flush(db);

	if (m->sender_running && my_wait_sender(m) < 0)
		rc = -1;
	my_stop_sender(m);
	db->table = NULL;
	return rc;
}

static int my_table_statement(struct db *db, const char *verb,
			      const char *table, const char *what)
{
	struct buf q = BUF_INIT;
	int rc;

	buf_addstr(&q, verb);
	my_ident(&q, table);
	db->table = table;
	rc = my_simple(db, q.data, what);
	db->table = NULL;
	buf_release(&q);
	return rc;
}

static int my_delete_all(struct db *db, const char *table)
{
	return my_table_statement(db, "DELETE FROM ", table,
				  "cannot delete the old rows");
}

static int my_drop_table(struct db *db, const char *table)
{
	return my_table_statement(db, "DROP TABLE IF EXISTS ", table,
				  "cannot drop");
}

const struct db_ops db_mariadb_ops = {
	.engine = "mariadb",
	.dialect = "mysql",
	.ddl_in_transaction = 0,
	.open = my_open,
	.close = my_close,
	.begin = my_begin,
	.commit = my_commit,
	.rollback = my_rollback,
	.exec_script = my_exec_script,
	.columns = my_columns,
	.tables = my_tables,
	.count = my_count,
	.select = my_select,
	.insert_start = my_insert_start,
	.insert_row = my_insert_row,
	.insert_finish = my_insert_finish,
	.delete_all = my_delete_all,
	.drop_table = my_drop_table,
	.literal = my_literal,
	.ident = my_ident,
};
