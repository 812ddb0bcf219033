/*
 * cmd_db.c: `mailmove db`, the mailserver database (virtual_domains,
 * virtual_users, virtual_aliases) or, with --roundcube, Roundcube's user
 * data, copied from the old server's database into this server's, across
 * engines (MariaDB, SQLite) and schema versions.
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
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "db_discover.h"
#include "endpoint.h"
#include "fwd.h"
#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "secret.h"
#include "banned.h"

extern char **environ;

#define MAX_TABLES 16
#define PASSWORD_MAX 4096

struct table_spec {
	const char *name;
	const char *label;	/* the column that names a row in messages */
	int required;		/* the source must have it */
};

static const struct table_spec mailserver_tables[] = {
	{ "virtual_domains", "name", 1 },
	{ "virtual_users", "email", 1 },
	{ "virtual_aliases", "source", 1 },
	{ NULL, NULL, 0 },
};

/* Roundcube's user data, parents first; sessions, caches and `system`
 * (the schema version) are not copied. */
static const struct table_spec roundcube_tables[] = {
	{ "users", "username", 1 },
	{ "identities", "email", 0 },
	{ "contacts", "email", 0 },
	{ "contactgroups", "name", 0 },
	{ "contactgroupmembers", "contact_id", 0 },
	{ "collected_addresses", "email", 0 },
	{ "responses", "name", 0 },
	{ "dictionary", "language", 0 },
	{ "searches", "name", 0 },
	{ "filestore", "filename", 0 },
	{ NULL, NULL, 0 },
};

/* The mailserver schema, when the destination has none: the newest
 * ISPmail shape (bigint quota, UNIQUE(name) on virtual_domains). */
static const char mailserver_schema_mysql[] =
	"CREATE TABLE virtual_domains (\n"
	" id int(11) NOT NULL AUTO_INCREMENT,\n"
	" name varchar(255) NOT NULL,\n"
	" PRIMARY KEY (id), UNIQUE KEY name (name)\n"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n"
	"CREATE TABLE virtual_users (\n"
	" id int(11) NOT NULL AUTO_INCREMENT,\n"
	" domain_id int(11) NOT NULL,\n"
	" email varchar(255) NOT NULL,\n"
	" password varchar(255) NOT NULL,\n"
	" quota bigint(11) NOT NULL DEFAULT 0,\n"
	" PRIMARY KEY (id), UNIQUE KEY email (email),\n"
	" FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE\n"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n"
	"CREATE TABLE virtual_aliases (\n"
	" id int(11) NOT NULL AUTO_INCREMENT,\n"
	" domain_id int(11) NOT NULL,\n"
	" source varchar(255) NOT NULL,\n"
	" destination varchar(255) NOT NULL,\n"
	" PRIMARY KEY (id),\n"
	" FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE\n"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n";

static const char mailserver_schema_sqlite[] =
	"CREATE TABLE virtual_domains (id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	" name TEXT NOT NULL UNIQUE);\n"
	"CREATE TABLE virtual_users (id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	" domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,\n"
	" email TEXT NOT NULL UNIQUE, password TEXT NOT NULL,\n"
	" quota INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE TABLE virtual_aliases (id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	" domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,\n"
	" source TEXT NOT NULL, destination TEXT NOT NULL);\n";

struct db_opts {
	const char *src, *dest, *mail_host;
	const char *password_file, *src_password_file;
	int roundcube, replace;
};

enum { OPT_SRC = 2000, OPT_DEST, OPT_ROUNDCUBE, OPT_MAIL_HOST, OPT_REPLACE,
       OPT_PASSWORD_FILE, OPT_SRC_PASSWORD_FILE };

static const struct option db_options[] = {
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dest", required_argument, NULL, OPT_DEST },
	{ "roundcube", no_argument, NULL, OPT_ROUNDCUBE },
	{ "mail-host", required_argument, NULL, OPT_MAIL_HOST },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "src-password-file", required_argument, NULL, OPT_SRC_PASSWORD_FILE },
	{ NULL, 0, NULL, 0 },
};

static int on_db_opt(void *arg, int key, const char *val)
{
	struct db_opts *o = arg;

	switch (key) {
	case OPT_SRC: o->src = val; break;
	case OPT_DEST: o->dest = val; break;
	case OPT_ROUNDCUBE: o->roundcube = 1; break;
	case OPT_MAIL_HOST: o->mail_host = val; break;
	case OPT_REPLACE: o->replace = 1; break;
	case OPT_PASSWORD_FILE: o->password_file = val; break;
	case OPT_SRC_PASSWORD_FILE: o->src_password_file = val; break;
	default: return -1;
	}
	return 0;
}

/* One table as both sides have it. */
struct tab {
	const struct table_spec *spec;
	int in_src, in_dst;
	struct db_columns src_cols, dst_cols;
	char **cols;		/* copied: source columns the destination has */
	size_t ncols;
	int override_col;	/* index in cols of users.mail_host, or -1 */
	int label_col;
	/* Per copied column: what a NULL from the source becomes because the
	 * destination column is NOT NULL with a literal default (Roundcube's
	 * SQLite schema where MariaDB's allows NULL), and how many did. */
	const char **null_default;
	uint64_t *nulls_replaced;
	int has_null_defaults;
	uint64_t src_rows, dst_rows;
	struct db_sum src_sum, dst_sum, after_sum;
};

struct job {
	struct mm_ctx *ctx;
	const struct db_opts *o;
	const char *set;	/* "mailserver" or "roundcube" */
	const struct table_spec *specs;
	struct db src, dst;
	struct tab tabs[MAX_TABLES];
	size_t ntabs;
	const char *mail_host;	/* users.mail_host on the destination */
	struct buf scratch;
	struct progress prog;
	uint64_t copied, stall_after;
	int created;		/* the schema was created by this run */
	int dst_failed;		/* the destination refused a row */
	int src_remote;		/* the source is reached through the agent */
	struct db_columns tables_before;	/* for dropping what we made */
	char *backup;
};

/* ---- reading configuration on either server ---- */

struct local_reader {
	const char *root;
};

/* Reads root/path on this machine (at most 1 MiB). */
static int local_read(void *arg, const char *path, struct buf *out)
{
	struct local_reader *lr = arg;
	struct buf full = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd, e = 0;

	if (strcmp(lr->root, "/"))
		buf_addstr(&full, lr->root);
	buf_addstr(&full, path);
	fd = open(full.data, O_RDONLY | O_CLOEXEC);
	buf_release(&full);
	if (fd < 0)
		return errno ? errno : EIO;
	buf_reset(out);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (buf_add(out, chunk, (size_t)n) < 0) {
			e = EFBIG;
			break;
		}
	if (n < 0)
		e = errno;
	close(fd);
	return e;
}

/* Runs argv on this machine (no shell) and collects its stdout. */
static int local_capture(char *const *argv, struct buf *out)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2], status = 0, rc = 1;
	char chunk[4096];
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pipefd[0]);
		close(pipefd[1]);
		return 1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	buf_reset(out);
	while ((n = read(pipefd[0], chunk, sizeof chunk)) > 0)
		buf_add(out, chunk, (size_t)n);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	return rc;
}

/* postconf on this machine: only when the root is "/" (another root's
 * main.cf would be read with the paths of this machine's Postfix). */
static int local_postconf(void *arg, char *const *keys, struct buf *out)
{
	struct local_reader *lr = arg;
	char *argv[8];
	int i = 0;

	if (strcmp(lr->root, "/"))
		return 1;
	argv[i++] = "postconf";
	argv[i++] = "-h";
	while (*keys && i < 7)
		argv[i++] = *keys++;
	argv[i] = NULL;
	return local_capture(argv, out);
}

static int remote_cfg_read(void *arg, const char *path, struct buf *out)
{
	return remote_read_file(arg, path, out, 1024 * 1024, NULL);
}

/* postconf on the old server; for a --from DIR root, with -c DIR/etc/postfix
 * (run on this machine, reading that root's main.cf). */
static int remote_postconf(void *arg, char *const *keys, struct buf *out)
{
	struct endpoint *ep = arg;
	struct buf err = BUF_INIT, conf = BUF_INIT;
	char *argv[10];
	int i = 0, status, rc;

	argv[i++] = "postconf";
	if (ep->local) {
		buf_printf(&conf, "%s/etc/postfix", ep->info.root);
		argv[i++] = "-c";
		argv[i++] = conf.data;
	}
	argv[i++] = "-h";
	while (*keys && i < 9)
		argv[i++] = *keys++;
	argv[i] = NULL;
	rc = remote_run(ep, argv, NULL, out, &err, 65536, &status);
	buf_release(&err);
	buf_release(&conf);
	if (rc < 0)
		return -1;
	return rc == 0 && status == 0 ? 0 : 1;
}

/* ---- the copy ---- */

static void tab_release(struct tab *t)
{
	db_columns_release(&t->src_cols);
	db_columns_release(&t->dst_cols);
	free(t->cols);
	free(t->null_default);
	free(t->nulls_replaced);
}

/* Row values as the destination gets them: users.mail_host replaced. */
struct row_ctx {
	struct job *job;
	struct tab *tab;
	struct db_value *vals;
	int insert;		/* insert into the destination too */
	struct db_sum *sum;
	int from_src;		/* source rows: mail_host is replaced */
};

static const struct db_value *row_values(struct row_ctx *rc,
					 const struct db_value *vals, size_t n)
{
	struct tab *t = rc->tab;
	int host = t->override_col >= 0 && rc->job->mail_host;
	size_t i;

	if (!rc->from_src || (!host && !t->has_null_defaults))
		return vals;
	memcpy(rc->vals, vals, n * sizeof *vals);
	if (host) {
		rc->vals[t->override_col].p = rc->job->mail_host;
		rc->vals[t->override_col].len = strlen(rc->job->mail_host);
	}
	for (i = 0; t->has_null_defaults && i < n; i++) {
		if (rc->vals[i].p || !t->null_default[i])
			continue;
		rc->vals[i].p = t->null_default[i];
		rc->vals[i].len = strlen(t->null_default[i]);
		if (rc->insert)
			t->nulls_replaced[i]++;
	}
	return rc->vals;
}

static int stall_for_test(struct job *j, struct tab *t)
{
	/* The kill test's hook: everything sent so far reaches the server,
	 * then the run waits to be killed mid-copy. */
	if (j->dst.ops->insert_finish(&j->dst) < 0)
		return -1;
	log_info("MAILMOVE_TEST_STALL_ROWS: stalling after %llu rows",
		 (unsigned long long)j->copied);
	while (!mm_interrupted)
		pause();
	return j->dst.ops->insert_start(&j->dst, t->spec->name, t->cols,
					t->ncols);
}

static int on_row(void *arg, const struct db_value *vals, size_t n)
{
	struct row_ctx *rc = arg;
	struct job *j = rc->job;
	const struct db_value *v = row_values(rc, vals, n);
	uint64_t hi, lo;

	db_row_hash(v, n, &j->scratch, &hi, &lo);
	db_sum_add(rc->sum, hi, lo);
	if (!rc->insert)
		return 0;
	if (j->dst.ops->insert_row(&j->dst, v) < 0) {
		j->dst_failed = 1;
		return -1;
	}
	j->copied++;
	if ((j->copied & 1023) == 0)
		progress_add(&j->prog, 1024, 0);
	if (mm_interrupted)
		return 1;
	if (j->stall_after && j->copied == j->stall_after &&
	    stall_for_test(j, rc->tab) < 0)
		return -1;
	return 0;
}

static int sum_table(struct job *j, struct db *db, struct tab *t,
		     struct db_sum *sum)
{
	struct row_ctx rc = { j, t, NULL, 0, sum, db == &j->src };
	int r;

	memset(sum, 0, sizeof *sum);
	rc.vals = xcalloc(t->ncols + 1, sizeof *rc.vals);
	r = db->ops->select(db, t->spec->name, t->cols, t->ncols, on_row, &rc);
	free(rc.vals);
	return r;
}

/* A set of row hashes with a label each, for the difference summary. */
struct rowset {
	uint64_t *hi, *lo;
	uint32_t *count;
	char **label;
	size_t cap, n;
};

static size_t rowset_slot(const struct rowset *s, uint64_t hi, uint64_t lo)
{
	size_t i = (size_t)(lo ^ (hi >> 7)) & (s->cap - 1);

	/* A slot is used once it has a label, even when its count went
	 * back to 0, so probe chains stay intact. */
	while (s->label[i] && (s->hi[i] != hi || s->lo[i] != lo))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void rowset_init(struct rowset *s, uint64_t rows)
{
	memset(s, 0, sizeof *s);
	s->cap = 64;
	while (s->cap < rows * 2 + 2)
		s->cap *= 2;
	s->hi = xcalloc(s->cap, sizeof *s->hi);
	s->lo = xcalloc(s->cap, sizeof *s->lo);
	s->count = xcalloc(s->cap, sizeof *s->count);
	s->label = xcalloc(s->cap, sizeof *s->label);
}

static void rowset_release(struct rowset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->label[i]);
	free(s->hi);
	free(s->lo);
	free(s->count);
	free(s->label);
}

struct diff_ctx {
	struct job *job;
	struct tab *tab;
	struct rowset *set;
	struct db_value *vals;
	int adding;		/* 1: destination rows go in; 0: source rows */
	uint64_t only_src, same;
	struct buf examples_src;
	int nex_src;
};

static char *row_label(const struct tab *t, const struct db_value *v)
{
	int c = t->label_col >= 0 ? t->label_col : 0;

	if (!v[c].p)
		return xstrdup("NULL");
	return xstrndup(v[c].p, v[c].len > 60 ? 60 : v[c].len);
}

static int on_diff_row(void *arg, const struct db_value *vals, size_t n)
{
	struct diff_ctx *d = arg;
	struct row_ctx rc = { d->job, d->tab, d->vals, 0, NULL, 1 };
	const struct db_value *v = d->adding ? vals : row_values(&rc, vals, n);
	uint64_t hi, lo;
	size_t i;

	db_row_hash(v, n, &d->job->scratch, &hi, &lo);
	i = rowset_slot(d->set, hi, lo);
	if (d->adding) {
		if (!d->set->label[i]) {
			d->set->hi[i] = hi;
			d->set->lo[i] = lo;
			d->set->label[i] = row_label(d->tab, v);
		}
		d->set->count[i]++;
		return 0;
	}
	if (d->set->count[i]) {
		d->set->count[i]--;
		d->same++;
		return 0;
	}
	d->only_src++;
	if (d->nex_src < 3) {
		char *l = row_label(d->tab, v);
		struct buf q = BUF_INIT;
		mm_quote(&q, l);
		buf_printf(&d->examples_src, "%s%s", d->nex_src ? ", " : "",
			   q.data ? q.data : "");
		buf_release(&q);
		free(l);
		d->nex_src++;
	}
	return 0;
}

/* Says how one table differs: rows only on either side, with examples. */
static int describe_difference(struct job *j, struct tab *t, json_t *jt)
{
	struct diff_ctx d;
	struct rowset set;
	struct buf ex_dst = BUF_INIT;
	uint64_t only_dst = 0;
	size_t i;
	int nex = 0, rc;

	memset(&d, 0, sizeof d);
	rowset_init(&set, t->dst_rows);
	d.job = j;
	d.tab = t;
	d.set = &set;
	d.vals = xcalloc(t->ncols + 1, sizeof *d.vals);
	d.adding = 1;
	rc = j->dst.ops->select(&j->dst, t->spec->name, t->cols, t->ncols,
				on_diff_row, &d);
	if (rc == 0) {
		d.adding = 0;
		rc = j->src.ops->select(&j->src, t->spec->name, t->cols,
					t->ncols, on_diff_row, &d);
	}
	for (i = 0; rc == 0 && i < set.cap; i++) {
		if (!set.count[i])
			continue;
		only_dst += set.count[i];
		if (nex < 3) {
			struct buf q = BUF_INIT;
			mm_quote(&q, set.label[i]);
			buf_printf(&ex_dst, "%s%s", nex ? ", " : "",
				   q.data ? q.data : "");
			buf_release(&q);
			nex++;
		}
	}
	if (rc == 0) {
		log_out("  %s: %llu rows the same, %llu only on the old server"
			"%s%s%s, %llu only on the new server%s%s%s\n",
			t->spec->name, (unsigned long long)d.same,
			(unsigned long long)d.only_src,
			d.nex_src ? " (" : "", buf_cstr(&d.examples_src),
			d.nex_src ? ")" : "", (unsigned long long)only_dst,
			nex ? " (" : "", buf_cstr(&ex_dst), nex ? ")" : "");
		json_object_set_new(jt, "same", json_integer((json_int_t)d.same));
		json_object_set_new(jt, "only_old",
				    json_integer((json_int_t)d.only_src));
		json_object_set_new(jt, "only_new",
				    json_integer((json_int_t)only_dst));
	}
	rowset_release(&set);
	buf_release(&d.examples_src);
	buf_release(&ex_dst);
	free(d.vals);
	return rc;
}

/* Reads the schema file Roundcube ships on this server for `dialect`. */
static int roundcube_schema(struct job *j, struct buf *sql, struct buf *from)
{
	static const char *const dirs[][2] = {
		{ "/usr/share/roundcube/SQL/", ".initial.sql" },
		{ "/usr/share/dbconfig-common/data/roundcube/install/", "" },
		{ NULL, NULL },
	};
	struct local_reader lr = { mm_dest_root(j->ctx) };
	int i;

	for (i = 0; dirs[i][0]; i++) {
		buf_reset(from);
		buf_printf(from, "%s%s%s", dirs[i][0], j->dst.ops->dialect,
			   dirs[i][1]);
		if (local_read(&lr, from->data, sql) == 0 && sql->len)
			return 0;
	}
	log_error("the new server has no Roundcube schema file "
		  "(/usr/share/roundcube/SQL/%s.initial.sql under %s): install "
		  "Roundcube there first, or create its database",
		  j->dst.ops->dialect, lr.root);
	return -1;
}

/* Creates the destination schema in its own dialect.  Engines that
 * cannot roll DDL back remember which tables were new, so that a failed
 * run can drop them again. */
static int create_schema(struct job *j)
{
	struct buf sql = BUF_INIT, from = BUF_INIT;
	int rc = -1;

	if (j->o->roundcube) {
		if (roundcube_schema(j, &sql, &from) < 0)
			goto out;
	} else {
		buf_addstr(&sql, strcmp(j->dst.ops->dialect, "sqlite")
			   ? mailserver_schema_mysql : mailserver_schema_sqlite);
		buf_addstr(&from, "mailmove's built-in schema");
	}
	if (!j->dst.ops->ddl_in_transaction &&
	    j->dst.ops->tables(&j->dst, &j->tables_before) < 0)
		goto out;
	log_info("%s: creating the %s schema (%s)", j->dst.desc, j->set,
		 from.data);
	if (j->dst.ops->exec_script(&j->dst, sql.data) < 0)
		goto out;
	j->created = 1;
	rc = 0;
out:
	buf_release(&sql);
	buf_release(&from);
	return rc;
}

/* After a failure: drop the tables this run created where the engine
 * could not roll their creation back. */
static void undo_schema(struct job *j)
{
	struct db_columns now = { NULL, NULL, 0 };
	size_t i;

	if (!j->created || j->dst.ops->ddl_in_transaction)
		return;
	if (j->dst.ops->tables(&j->dst, &now) < 0)
		return;
	j->dst.ops->exec_script(&j->dst, "SET FOREIGN_KEY_CHECKS=0");
	for (i = 0; i < now.n; i++)
		if (db_columns_find(&j->tables_before, now.name[i]) < 0)
			j->dst.ops->drop_table(&j->dst, now.name[i]);
	j->dst.ops->exec_script(&j->dst, "SET FOREIGN_KEY_CHECKS=1");
	db_columns_release(&now);
	log_info("%s: dropped the tables this run had created", j->dst.desc);
}

/* Reads both sides' columns.  Returns MM_OK or an exit code. */
static int load_tables(struct job *j, int *missing_dst, int *present_dst)
{
	const struct table_spec *s;
	int r;

	*missing_dst = *present_dst = 0;
	for (s = j->specs; s->name; s++) {
		struct tab *t = &j->tabs[j->ntabs];

		memset(t, 0, sizeof *t);
		t->spec = s;
		t->override_col = -1;
		t->label_col = -1;
		r = j->src.ops->columns(&j->src, s->name, &t->src_cols);
		if (r < 0)
			return MM_EREMOTE;
		if (r > 0 && s->required) {
			log_error("%s: no table %s: is this the %s database?",
				  j->src.desc, s->name, j->set);
			return MM_EUSAGE;
		}
		t->in_src = r == 0;
		r = j->dst.ops->columns(&j->dst, s->name, &t->dst_cols);
		if (r < 0)
			return MM_EDEST;
		t->in_dst = r == 0;
		if (t->in_dst)
			(*present_dst)++;
		else if (t->in_src)
			(*missing_dst)++;
		j->ntabs++;
	}
	return MM_OK;
}

/* Decides the copied columns of each table: the source's columns that
 * the destination has.  A source column the destination lacks would be
 * lost: that is an unexpected schema, refused. */
static int map_columns(struct job *j)
{
	size_t i, k;
	int bad = 0;

	for (i = 0; i < j->ntabs; i++) {
		struct tab *t = &j->tabs[i];
		const struct db_columns *dc = t->in_dst ? &t->dst_cols : &t->src_cols;

		if (!t->in_src)
			continue;
		if (!t->in_dst && !j->ctx->dry_run) {
			log_error("%s: no table %s", j->dst.desc, t->spec->name);
			bad = 1;
			continue;
		}
		t->cols = xcalloc(t->src_cols.n + 1, sizeof *t->cols);
		t->null_default = xcalloc(t->src_cols.n + 1,
					  sizeof *t->null_default);
		t->nulls_replaced = xcalloc(t->src_cols.n + 1,
					    sizeof *t->nulls_replaced);
		for (k = 0; k < t->src_cols.n; k++) {
			const char *c = t->src_cols.name[k];
			int d = db_columns_find(dc, c);
			if (d >= 0 && dc->notnull_default &&
			    dc->notnull_default[d]) {
				t->null_default[t->ncols] = dc->notnull_default[d];
				t->has_null_defaults = 1;
			}
			if (d < 0) {
				log_error("%s: column %s.%s of the old database "
					  "has no place in the new schema",
					  j->dst.desc, t->spec->name, c);
				bad = 1;
				continue;
			}
			if (!strcmp(c, t->spec->label))
				t->label_col = (int)t->ncols;
			if (j->o->roundcube && !strcmp(t->spec->name, "users") &&
			    !strcmp(c, "mail_host"))
				t->override_col = (int)t->ncols;
			t->cols[t->ncols++] = t->src_cols.name[k];
		}
		for (k = 0; t->in_dst && k < t->dst_cols.n; k++)
			if (db_columns_find(&t->src_cols, t->dst_cols.name[k]) < 0)
				log_verbose("%s.%s: new in the destination "
					    "schema; gets its default",
					    t->spec->name, t->dst_cols.name[k]);
	}
	return bad ? MM_EDEST : MM_OK;
}

struct backup_ctx {
	struct job *job;
	struct tab *tab;
	int fd;
	struct buf out;
	int err;
};

static int flush_backup(struct backup_ctx *b)
{
	size_t off = 0;

	while (off < b->out.len) {
		ssize_t n = write(b->fd, b->out.data + off, b->out.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			b->err = errno;
			return -1;
		}
		off += (size_t)n;
	}
	buf_reset(&b->out);
	return 0;
}

static int on_backup_row(void *arg, const struct db_value *vals, size_t n)
{
	struct backup_ctx *b = arg;
	struct db *dst = &b->job->dst;
	size_t i;

	buf_addstr(&b->out, "INSERT INTO ");
	dst->ops->ident(&b->out, b->tab->spec->name);
	buf_addstr(&b->out, " (");
	for (i = 0; i < n; i++) {
		if (i)
			buf_putc(&b->out, ',');
		dst->ops->ident(&b->out, b->tab->dst_cols.name[i]);
	}
	buf_addstr(&b->out, ") VALUES (");
	for (i = 0; i < n; i++) {
		if (i)
			buf_putc(&b->out, ',');
		dst->ops->literal(dst, &b->out, &vals[i]);
	}
	buf_addstr(&b->out, ");\n");
	if (b->out.len > 65536 && flush_backup(b) < 0)
		return -1;
	return 0;
}

/* mkdir -p for root/rel with mode 0700 for what it creates. */
static int make_dirs(const char *root, const char *rel, struct buf *path)
{
	const char *p = rel;

	buf_reset(path);
	buf_addstr(path, root);
	while (*p) {
		size_t n = strcspn(p, "/");
		if (path->len && path->data[path->len - 1] != '/')
			buf_putc(path, '/');
		buf_add(path, p, n);
		if (mkdir(path->data, 0700) < 0 && errno != EEXIST)
			return -1;
		p += n;
		p += strspn(p, "/");
	}
	return 0;
}

/* Writes every destination table of the set as SQL statements that
 * restore it (DELETE then INSERT), to a new 0600 file under
 * ROOT/var/backups/mailmove.  Returns 0 or -1. */
static int write_backup(struct job *j)
{
	struct backup_ctx b;
	struct buf dir = BUF_INIT, name = BUF_INIT;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int dfd = -1, rc = -1;

	memset(&b, 0, sizeof b);
	b.job = j;
	b.fd = -1;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if (make_dirs(mm_dest_root(j->ctx), "var/backups/mailmove", &dir) < 0) {
		log_error("cannot create %s: %s", dir.data, strerror(errno));
		goto out;
	}
	dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		log_error("cannot open %s: %s", dir.data, strerror(errno));
		goto out;
	}
	for (i = 0; i < 100 && b.fd < 0; i++) {
		buf_reset(&name);
		buf_printf(&name, "db-%s-%s%s%.0zu.sql", j->set, stamp,
			   i ? "-" : "", i);
		b.fd = openat(dfd, name.data, O_WRONLY | O_CREAT | O_EXCL |
			      O_NOFOLLOW | O_CLOEXEC, 0600);
		if (b.fd < 0 && errno != EEXIST)
			break;
	}
	if (b.fd < 0) {
		log_error("cannot create a backup in %s: %s", dir.data,
			  strerror(errno));
		goto out;
	}
	buf_printf(&b.out, "-- mailmove backup of the %s tables of %s, %s\n"
		   "BEGIN;\n", j->set, j->dst.desc, stamp);
	for (i = j->ntabs; i-- > 0;) {
		if (!j->tabs[i].in_dst)
			continue;
		buf_addstr(&b.out, "DELETE FROM ");
		j->dst.ops->ident(&b.out, j->tabs[i].spec->name);
		buf_addstr(&b.out, ";\n");
	}
	for (i = 0; i < j->ntabs; i++) {
		struct tab *t = &j->tabs[i];
		if (!t->in_dst)
			continue;
		b.tab = t;
		if (j->dst.ops->select(&j->dst, t->spec->name, t->dst_cols.name,
				       t->dst_cols.n, on_backup_row, &b) != 0)
			goto out;
	}
	buf_addstr(&b.out, "COMMIT;\n");
	if (flush_backup(&b) < 0 || fsync(b.fd) < 0 || fsync(dfd) < 0) {
		log_error("cannot write the backup %s/%s: %s", dir.data,
			  name.data, strerror(b.err ? b.err : errno));
		goto out;
	}
	buf_reset(&dir);
	make_dirs(mm_dest_root(j->ctx), "var/backups/mailmove", &dir);
	buf_printf(&dir, "/%s", name.data);
	j->backup = buf_detach(&dir);
	log_out("backup of the destination tables: %s\n", j->backup);
	rc = 0;
out:
	if (b.fd >= 0)
		close(b.fd);
	if (dfd >= 0)
		close(dfd);
	buf_release(&b.out);
	buf_release(&dir);
	buf_release(&name);
	return rc;
}

static void print_table_line(struct job *j, struct tab *t, int ok)
{
	char hs[33], hd[33];

	db_sum_hex(&t->src_sum, hs);
	db_sum_hex(&t->after_sum, hd);
	log_out("  %-20s %9llu %9llu  %.16s %.16s  %s\n", t->spec->name,
		(unsigned long long)t->src_sum.rows,
		(unsigned long long)t->after_sum.rows, hs, hd,
		ok ? "ok" : "MISMATCH");
	out_event("table", json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:b}",
				     "set", j->set, "table", t->spec->name,
				     "old_rows", (json_int_t)t->src_sum.rows,
				     "new_rows", (json_int_t)t->after_sum.rows,
				     "old_checksum", hs, "new_checksum", hd,
				     "ok", ok));
}

/* Copies every table in the destination's write transaction, then reads
 * the destination back and compares.  Returns MM_OK (committed) or an
 * exit code (rolled back). */
static int copy_and_verify(struct job *j)
{
	size_t i;
	int rc, bad = 0;
	uint64_t total = 0;
	double t0;

	for (i = j->ntabs; i-- > 0;) {
		struct tab *t = &j->tabs[i];
		if (!t->in_src)
			continue;
		total += t->src_rows;
		if (t->dst_rows && j->dst.ops->delete_all(&j->dst, t->spec->name) < 0)
			return MM_EDEST;
	}
	progress_start(&j->prog, "rows", total, 0);
	for (i = 0; i < j->ntabs; i++) {
		struct tab *t = &j->tabs[i];
		struct row_ctx rcx = { j, t, NULL, 1, &t->src_sum, 1 };

		if (!t->in_src)
			continue;
		memset(&t->src_sum, 0, sizeof t->src_sum);
		rcx.vals = xcalloc(t->ncols + 1, sizeof *rcx.vals);
		if (j->dst.ops->insert_start(&j->dst, t->spec->name, t->cols,
					     t->ncols) < 0) {
			free(rcx.vals);
			progress_end(&j->prog);
			return MM_EDEST;
		}
		rc = j->src.ops->select(&j->src, t->spec->name, t->cols,
					t->ncols, on_row, &rcx);
		free(rcx.vals);
		if (rc == 0 && j->dst.ops->insert_finish(&j->dst) < 0) {
			j->dst_failed = 1;
			rc = -1;
		}
		if (rc) {
			progress_end(&j->prog);
			if (rc > 0 || mm_interrupted) {
				log_error("interrupted: nothing was changed");
				return MM_EINTR;
			}
			/* Reading the old database failed, or writing the new. */
			if (!j->dst_failed)
				return j->src_remote ? MM_EREMOTE : MM_EUSAGE;
			return MM_EDEST;
		}
	}
	progress_end(&j->prog);
	log_verbose("copied in %.2f s", mm_now() - j->prog.start);
	for (i = 0; i < j->ntabs; i++) {
		struct tab *t = &j->tabs[i];
		size_t k;
		for (k = 0; t->in_src && k < t->ncols; k++) {
			if (!t->nulls_replaced[k])
				continue;
			log_out("  %s.%s: %llu NULL%s stored as '%s', the new "
				"schema's default for a column that takes no "
				"NULL\n", t->spec->name, t->cols[k],
				(unsigned long long)t->nulls_replaced[k],
				t->nulls_replaced[k] == 1 ? "" : "s",
				t->null_default[k]);
			out_event("null_as_default", json_pack(
				"{s:s, s:s, s:s, s:I, s:s}", "set", j->set,
				"table", t->spec->name, "column", t->cols[k],
				"rows", (json_int_t)t->nulls_replaced[k],
				"value", t->null_default[k]));
		}
	}
	t0 = mm_now();
	log_out("  %-20s %9s %9s  %-16s %-16s\n", "table", "old rows",
		"new rows", "old checksum", "new checksum");
	for (i = 0; i < j->ntabs; i++) {
		struct tab *t = &j->tabs[i];
		int ok;
		if (!t->in_src)
			continue;
		if (sum_table(j, &j->dst, t, &t->after_sum) != 0)
			return MM_EDEST;
		ok = db_sum_equal(&t->src_sum, &t->after_sum);
		print_table_line(j, t, ok);
		if (!ok)
			bad++;
	}
	log_verbose("read back and compared in %.2f s", mm_now() - t0);
	if (bad) {
		log_error("%d table%s differ after the copy: rolled back, "
			  "nothing was changed", bad, bad == 1 ? "" : "s");
		return MM_EDIFF;
	}
	if (mm_interrupted)
		return MM_EINTR;
	return MM_OK;
}

/* The whole run for one database, both ends open.  Returns an exit code;
 * `status` says what happened, for the JSON result. */
static int run_job(struct job *j, const char **status)
{
	int rc, missing, present, identical = 1, empty = 1, began = 0;
	size_t i;
	uint64_t total = 0;
	double t0;

	*status = "failed";
	if (j->src.ops->begin(&j->src, 0) < 0)
		return MM_EREMOTE;
	rc = load_tables(j, &missing, &present);
	if (rc)
		return rc;
	if (missing && present && !j->o->roundcube) {
		log_error("%s: has some of the %s tables but not all: "
			  "unexpected schema, nothing changed", j->dst.desc,
			  j->set);
		return MM_EDEST;
	}
	if (missing && present) {
		for (i = 0; i < j->ntabs; i++)
			if (j->tabs[i].in_src && !j->tabs[i].in_dst &&
			    j->tabs[i].spec->required) {
				log_error("%s: no table %s", j->dst.desc,
					  j->tabs[i].spec->name);
				return MM_EDEST;
			}
	}
	if (missing && !present) {
		if (j->ctx->dry_run) {
			log_out("would create the %s schema in %s\n", j->set,
				j->dst.desc);
		} else {
			if (j->dst.ops->ddl_in_transaction) {
				if (j->dst.ops->begin(&j->dst, 1) < 0)
					return MM_EDEST;
				began = 1;
			}
			if (create_schema(j) < 0) {
				rc = MM_EDEST;
				goto fail;
			}
			for (i = 0; i < j->ntabs; i++) {
				struct tab *t = &j->tabs[i];
				db_columns_release(&t->dst_cols);
				if (j->dst.ops->columns(&j->dst, t->spec->name,
							&t->dst_cols) == 0)
					t->in_dst = 1;
			}
		}
	}
	rc = map_columns(j);
	if (rc)
		goto fail;
	for (i = 0; i < j->ntabs; i++) {
		struct tab *t = &j->tabs[i];
		if (t->in_src && j->src.ops->count(&j->src, t->spec->name,
						   &t->src_rows) < 0) {
			rc = MM_EREMOTE;
			goto fail;
		}
		if (t->in_dst && j->dst.ops->count(&j->dst, t->spec->name,
						   &t->dst_rows) < 0) {
			rc = MM_EDEST;
			goto fail;
		}
		if (t->dst_rows)
			empty = 0;
		total += t->src_rows;
	}
	if (!empty) {
		/* Compare first: the same rows need nothing; others need
		 * --replace.  A destination table the source lacks counts as
		 * different when it has rows. */
		for (i = 0; i < j->ntabs; i++) {
			struct tab *t = &j->tabs[i];
			if (!t->in_src) {
				if (t->dst_rows)
					identical = 0;
				continue;
			}
			if (sum_table(j, &j->src, t, &t->src_sum) ||
			    sum_table(j, &j->dst, t, &t->dst_sum)) {
				rc = MM_EDEST;
				goto fail;
			}
			if (!db_sum_equal(&t->src_sum, &t->dst_sum))
				identical = 0;
		}
		if (identical) {
			log_out("%s: the new database already holds the same "
				"%llu rows: nothing to do\n", j->set,
				(unsigned long long)total);
			*status = "identical";
			rc = MM_OK;
			goto fail;
		}
		log_out("%s: the new database already has different rows:\n",
			j->set);
		for (i = 0; i < j->ntabs; i++) {
			struct tab *t = &j->tabs[i];
			json_t *jt;
			if (!t->in_dst || (t->in_src &&
			    db_sum_equal(&t->src_sum, &t->dst_sum)))
				continue;
			jt = json_pack("{s:s, s:s, s:I, s:I}", "set", j->set,
				       "table", t->spec->name, "old_rows",
				       (json_int_t)t->src_rows, "new_rows",
				       (json_int_t)t->dst_rows);
			if (t->in_src && describe_difference(j, t, jt) != 0) {
				json_decref(jt);
				rc = MM_EDEST;
				goto fail;
			}
			if (!t->in_src)
				log_out("  %s: %llu rows only on the new server\n",
					t->spec->name,
					(unsigned long long)t->dst_rows);
			out_event("difference", jt);
		}
		if (!j->o->replace) {
			log_error("refusing to change a %s database that holds "
				  "other rows; --replace replaces them (after "
				  "a backup)", j->set);
			*status = "different";
			rc = MM_EDIFF;
			goto fail;
		}
	}
	if (j->ctx->dry_run) {
		log_out("would %s %llu rows into %s%s\n",
			empty ? "copy" : "replace the tables with",
			(unsigned long long)total, j->dst.desc,
			empty ? "" : " (after a backup)");
		for (i = 0; i < j->ntabs; i++)
			if (j->tabs[i].in_src)
				log_out("  %-20s %9llu rows\n",
					j->tabs[i].spec->name,
					(unsigned long long)j->tabs[i].src_rows);
		*status = "dry-run";
		rc = MM_OK;
		goto fail;
	}
	if (!began) {
		if (j->dst.ops->begin(&j->dst, 1) < 0) {
			rc = MM_EDEST;
			goto fail;
		}
		began = 1;
	}
	if (!empty && write_backup(j) < 0) {
		rc = MM_EDEST;
		goto fail;
	}
	log_out("%s: %s → %s\n", j->set, j->src.desc, j->dst.desc);
	rc = copy_and_verify(j);
	if (rc)
		goto fail;
	t0 = mm_now();
	if (j->dst.ops->commit(&j->dst) < 0) {
		rc = MM_EDEST;
		goto fail;
	}
	began = 0;
	log_verbose("committed in %.2f s", mm_now() - t0);
	if (j->mail_host)
		log_out("users.mail_host is now %s\n", j->mail_host);
	log_out("%s: %llu rows copied in one transaction\n", j->set,
		(unsigned long long)j->copied);
	*status = empty ? "copied" : "replaced";
	return MM_OK;
fail:
	if (began)
		j->dst.ops->rollback(&j->dst);
	if (rc != MM_OK)
		undo_schema(j);
	return rc;
}

/* ---- opening both ends ---- */

/* Copies the old server's SQLite file (and its -wal) into a private
 * directory and points `u` at the copy. */
struct fetch_ctx {
	int fd;
	int err;
};

static int fetch_begin(void *arg, uint32_t index, int err,
		       const struct mm_stat *st)
{
	struct fetch_ctx *f = arg;

	(void)index;
	(void)st;
	f->err = err;
	return 0;
}

static int fetch_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct fetch_ctx *f = arg;
	const char *c = p;

	(void)index;
	while (n && !f->err) {
		ssize_t w = write(f->fd, c, n);
		if (w < 0) {
			if (errno != EINTR)
				f->err = errno;
			continue;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fetch_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct fetch_ctx *f = arg;

	(void)index;
	(void)total;
	if (err && !f->err)
		f->err = err;
	return 0;
}

static int fetch_sqlite(struct endpoint *ep, struct db_url *u, char *tmpdir)
{
	static const struct rread_ops ops = { fetch_begin, fetch_data, fetch_end };
	static const char *const suffix[] = { "", "-wal" };
	struct buf local = BUF_INIT, remote = BUF_INIT;
	int i, rc = MM_OK;

	for (i = 0; i < 2; i++) {
		struct fetch_ctx f = { -1, 0 };
		char *paths[1];
		int r;

		buf_reset(&local);
		buf_printf(&local, "%s/db.sqlite%s", tmpdir, suffix[i]);
		buf_reset(&remote);
		buf_printf(&remote, "%s%s", u->path, suffix[i]);
		f.fd = open(local.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
		if (f.fd < 0) {
			log_error("%s: %s", local.data, strerror(errno));
			rc = MM_EDEST;
			break;
		}
		paths[0] = remote.data;
		r = remote_read(ep, paths, 1, &ops, &f);
		close(f.fd);
		if (r < 0) {
			rc = ep_exit_code(ep);
			break;
		}
		if (r == 0)
			r = f.err;
		if (r) {
			unlink(local.data);
			if (i == 1 && r == ENOENT)
				break;
			log_error("the old server's %s: %s", remote.data,
				  strerror(r));
			rc = MM_EUSAGE;
			break;
		}
	}
	if (rc == MM_OK) {
		buf_reset(&local);
		buf_printf(&local, "%s/db.sqlite", tmpdir);
		log_verbose("read the old server's %s into %s", u->path,
			    local.data);
		free(u->path);
		u->path = buf_detach(&local);
	}
	buf_release(&local);
	buf_release(&remote);
	return rc;
}

static void remove_tmpdir(const char *dir)
{
	struct buf p = BUF_INIT;

	buf_printf(&p, "%s/db.sqlite", dir);
	unlink(p.data);
	buf_addstr(&p, "-wal");
	unlink(p.data);
	buf_reset(&p);
	buf_printf(&p, "%s/db.sqlite-shm", dir);
	unlink(p.data);
	buf_reset(&p);
	buf_printf(&p, "%s/db.sqlite-journal", dir);
	unlink(p.data);
	rmdir(dir);
	buf_release(&p);
}

/* Where a discovered destination mailserver DB is written: root over the
 * local socket (Debian's unix_socket authentication), because the
 * account Postfix uses may only read. */
static void dest_as_root(struct db_found *f)
{
	if (f->url.engine != DB_MARIADB)
		return;
	if (f->url.host && strcmp(f->url.host, "127.0.0.1") &&
	    strcmp(f->url.host, "::1") && strcmp(f->url.host, "localhost"))
		return;
	free(f->url.user);
	f->url.user = xstrdup("root");
	free(f->url.host);
	f->url.host = NULL;
	f->url.port = 0;
	if (!f->url.socket)
		f->url.socket = xstrdup("/run/mysqld/mysqld.sock");
	buf_reset(&f->password);
	f->has_password = 0;
}

/* Fills *dst from --dest (+ --password-file) or this server's config. */
static int resolve_dest(struct job *j, struct db_found *dst)
{
	struct local_reader lr = { mm_dest_root(j->ctx) };
	struct cfg_reader r = { local_read, local_postconf, &lr };
	int rc;

	if (j->o->dest) {
		if (db_url_parse(&dst->url, j->o->dest) < 0)
			return MM_EUSAGE;
		if (j->o->password_file) {
			if (secret_read_file(j->o->password_file,
					     &dst->password))
				return MM_EUSAGE;
			dst->has_password = 1;
		}
		return MM_OK;
	}
	rc = j->o->roundcube ? db_discover_roundcube(&r, dst)
		: db_discover_mailserver(&r, dst);
	if (rc) {
		log_error("no %s database found in this server's configuration"
			  " under %s (%s): give --dest URL", j->set, lr.root,
			  j->o->roundcube ? "/etc/roundcube/debian-db.php, "
			  "config.inc.php" : "postconf, /etc/postfix/*.cf, "
			  "Dovecot's SQL config");
		return MM_EUSAGE;
	}
	if (!j->o->roundcube)
		dest_as_root(dst);
	if (dst->url.engine == DB_SQLITE && strcmp(lr.root, "/")) {
		char *p = dst->url.path;
		struct buf full = BUF_INIT;
		buf_printf(&full, "%s%s", lr.root, p);
		dst->url.path = buf_detach(&full);
		free(p);
	}
	if (j->o->password_file) {
		if (secret_read_file(j->o->password_file, &dst->password))
			return MM_EUSAGE;
		dst->has_password = 1;
	}
	{
		struct buf d = BUF_INIT;
		db_url_format(&dst->url, &d);
		log_info("new %s database: %s (from %s%s)", j->set, d.data,
			 strcmp(lr.root, "/") ? lr.root : "",
			 dst->file ? dst->file : "");
		buf_release(&d);
	}
	return MM_OK;
}

/* Fills *src from --src or the old server's config (read through `ep`,
 * which may be NULL without --from). */
static int resolve_src(struct job *j, struct endpoint *ep, struct db_found *src)
{
	struct db_found disc;
	struct cfg_reader r = { remote_cfg_read, remote_postconf, ep };
	int rc = 1;

	db_found_init(&disc);
	if (ep) {
		rc = j->o->roundcube ? db_discover_roundcube(&r, &disc)
			: db_discover_mailserver(&r, &disc);
		if (rc < 0) {
			db_found_release(&disc);
			return ep_exit_code(ep);
		}
	}
	if (j->o->src) {
		if (db_url_parse(&src->url, j->o->src) < 0) {
			db_found_release(&disc);
			return MM_EUSAGE;
		}
		/* The same account as the old server's config: its password. */
		if (rc == 0 && src->url.engine == DB_MARIADB &&
		    disc.url.engine == DB_MARIADB && disc.has_password &&
		    !strcmp(src->url.user, disc.url.user)) {
			buf_addstr(&src->password, buf_cstr(&disc.password));
			src->has_password = 1;
		}
	} else if (rc == 0) {
		struct db_found tmp = *src;
		*src = disc;
		disc = tmp;
		{
			struct buf d = BUF_INIT;
			db_url_format(&src->url, &d);
			log_info("old %s database: %s (from %s)", j->set,
				 d.data, src->file);
			buf_release(&d);
		}
	} else {
		log_error("no %s database found in the old server's "
			  "configuration: give --src URL", j->set);
		db_found_release(&disc);
		return MM_EUSAGE;
	}
	db_found_release(&disc);
	if (j->o->src_password_file) {
		if (secret_read_file(j->o->src_password_file,
				     &src->password))
			return MM_EUSAGE;
		src->has_password = 1;
	}
	return MM_OK;
}

int cmd_db(struct mm_ctx *ctx, int argc, char **argv)
{
	struct db_opts o;
	struct job j;
	struct db_found src, dst;
	struct endpoint *ep = NULL;
	struct fwd *fwd = NULL;
	struct buf mail_host = BUF_INIT, src_desc = BUF_INIT, dst_desc = BUF_INIT;
	char tmpdir[64] = "", *missing_file = NULL, *src_remote_path = NULL;
	const char *status = "failed", *stall;
	int first, rc;
	size_t i;
	json_t *res;

	memset(&o, 0, sizeof o);
	rc = mm_parse_options(ctx, argc, argv, db_options, NULL, on_db_opt, &o,
			      &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (!ctx->dry_run && (rc = mm_lock_command(ctx)))
		return rc;
	if (first < argc && !ctx->from)
		ctx->from = argv[first++];
	if (first < argc) {
		log_error("db: unexpected argument %s", argv[first]);
		return MM_EUSAGE;
	}
	if (!ctx->from && !o.src) {
		log_error("db: give --from HOST (the old server) or --src URL");
		return MM_EUSAGE;
	}
	if (o.mail_host && !o.roundcube) {
		log_error("db: --mail-host is for --roundcube");
		return MM_EUSAGE;
	}
	memset(&j, 0, sizeof j);
	j.ctx = ctx;
	j.o = &o;
	j.set = o.roundcube ? "roundcube" : "mailserver";
	j.specs = o.roundcube ? roundcube_tables : mailserver_tables;
	buf_init(&j.scratch, 0);
	stall = getenv("MAILMOVE_TEST_STALL_ROWS");
	if (stall && mm_parse_u64(stall, &j.stall_after) < 0)
		j.stall_after = 0;
	db_found_init(&src);
	db_found_init(&dst);

	rc = resolve_dest(&j, &dst);
	if (rc)
		goto out;
	if (o.roundcube) {
		struct local_reader lr = { mm_dest_root(ctx) };
		struct cfg_reader r = { local_read, NULL, &lr };
		if (o.mail_host) {
			buf_addstr(&mail_host, o.mail_host);
		} else if (db_discover_mail_host(&r, &mail_host) == 0) {
			log_info("users.mail_host will be %s (imap_host in "
				 "this server's Roundcube config)", mail_host.data);
		} else {
			log_warn("users.mail_host stays as it is: no --mail-host"
				 " and no single imap_host in this server's "
				 "/etc/roundcube/config.inc.php");
		}
		if (mail_host.len)
			j.mail_host = mail_host.data;
	}
	if (ctx->from) {
		rc = ep_open_ctx(ctx, &ep);
		if (rc)
			goto out;
	}
	rc = resolve_src(&j, ep, &src);
	if (rc)
		goto out;
	if (ep && src.url.engine == DB_SQLITE) {
		const char *t = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/mailmove-db.XXXXXX",
			 t && strlen(t) < 40 ? t : "/tmp");
		if (!mkdtemp(tmpdir)) {
			log_error("cannot make a temporary directory: %s",
				  strerror(errno));
			tmpdir[0] = '\0';
			rc = MM_EDEST;
			goto out;
		}
		src_remote_path = xstrdup(src.url.path);
		rc = fetch_sqlite(ep, &src.url, tmpdir);
		if (rc)
			goto out;
	} else if (ep) {
		/* The old server's MariaDB, through the agent. */
		struct buf target = BUF_INIT;
		if (src.url.socket)
			buf_printf(&target, "unix:%s", src.url.socket);
		else
			buf_printf(&target, "tcp:%s:%u", src.url.host,
				   src.url.port ? src.url.port : 3306);
		rc = fwd_start(ep, target.data, &fwd);
		buf_release(&target);
		if (rc)
			goto out;
		free(src.url.host);
		free(src.url.socket);
		src.url.host = NULL;
		src.url.port = 0;
		src.url.socket = xstrdup(fwd_socket_path(fwd));
	}
	j.src_remote = ep != NULL;
	if (ep) {
		/* Messages name the old server, not the local copy or socket. */
		buf_printf(&src_desc, "%s:", ep->desc);
		if (src.url.engine == DB_SQLITE)
			buf_printf(&src_desc, "sqlite:%s", src_remote_path);
		else
			buf_printf(&src_desc, "mysql/%s", src.url.dbname);
	}
	if (db_open(&j.src, &src.url, src.has_password ? src.password.data : NULL,
		    0, ep ? src_desc.data : NULL) < 0) {
		rc = ep ? MM_EREMOTE : MM_EUSAGE;
		goto out;
	}
	if (ctx->dry_run && dst.url.engine == DB_SQLITE &&
	    access(dst.url.path, F_OK) < 0 && errno == ENOENT) {
		/* Nothing to read yet: an empty database stands in for it. */
		log_out("would create %s\n", dst.url.path);
		missing_file = dst.url.path;
		dst.url.path = xstrdup(":memory:");
		buf_printf(&dst_desc, "sqlite:%s", missing_file);
	}
	if (db_open(&j.dst, &dst.url, dst.has_password ? dst.password.data : NULL,
		    !ctx->dry_run, missing_file ? dst_desc.data : NULL) < 0) {
		rc = MM_EDEST;
		goto out;
	}
	rc = run_job(&j, &status);
out:
	for (i = 0; i < j.ntabs; i++)
		tab_release(&j.tabs[i]);
	db_columns_release(&j.tables_before);
	if (j.dst.ops)
		db_close(&j.dst);
	if (j.src.ops)
		db_close(&j.src);
	if (fwd && fwd_stop(fwd) < 0 && !rc)
		rc = MM_EREMOTE;
	if (ep)
		ep_close(ep);
	if (tmpdir[0])
		remove_tmpdir(tmpdir);
	res = json_pack("{s:s, s:s, s:I, s:i}", "database", j.set, "status",
			status, "rows", (json_int_t)j.copied, "exit", rc);
	if (j.backup)
		json_object_set_new(res, "backup", json_string(j.backup));
	if (j.mail_host)
		json_object_set_new(res, "mail_host", json_string(j.mail_host));
	out_result(res);
	free(j.backup);
	free(missing_file);
	free(src_remote_path);
	buf_release(&j.scratch);
	buf_release(&mail_host);
	buf_release(&src_desc);
	buf_release(&dst_desc);
	db_found_release(&src);
	db_found_release(&dst);
	return rc;
}
