/*
 * db_copy.c: the copy engine of `mailmove db` (see db_copy.h): compare,
 * create the schema if there is none, back up, copy in one transaction,
 * read back and compare, commit or roll back.
 */
#include "db_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "fsops.h"
#include "log.h"
#include "strmap.h"
#include "banned.h"

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

/* One table as both sides have it. */
struct db_tab {
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

static void tab_release(struct db_tab *t)
{
	db_columns_release(&t->src_cols);
	db_columns_release(&t->dst_cols);
	free(t->cols);
	free(t->null_default);
	free(t->nulls_replaced);
}

/* Row values as the destination gets them: users.mail_host replaced. */
struct row_ctx {
	struct db_copy *job;
	struct db_tab *tab;
	struct db_value *vals;
	int insert;		/* insert into the destination too */
	struct db_sum *sum;
	int from_src;		/* source rows: mail_host is replaced */
};

static const struct db_value *row_values(struct row_ctx *rc,
					 const struct db_value *vals, size_t n)
{
	struct db_tab *t = rc->tab;
	int host = t->override_col >= 0 && rc->job->o.mail_host;
	size_t i;

	if (!rc->from_src || (!host && !t->has_null_defaults))
		return vals;
	memcpy(rc->vals, vals, n * sizeof *vals);
	if (host) {
		rc->vals[t->override_col].p = rc->job->o.mail_host;
		rc->vals[t->override_col].len = strlen(rc->job->o.mail_host);
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

static int stall_for_test(struct db_copy *j, struct db_tab *t)
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
	struct db_copy *j = rc->job;
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
	if (j->o.stall_after && j->copied == j->o.stall_after &&
	    stall_for_test(j, rc->tab) < 0)
		return -1;
	return 0;
}

static int sum_table(struct db_copy *j, struct db *db, struct db_tab *t,
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

/* A multiset of row hashes with a label each, for the difference
 * summary: the destination's rows go in, the source's take them out. */
struct row_entry {
	char key[33];		/* the row hash in hex: the map's key */
	uint32_t count;
	char *label;
};

/* The entry of one row hash; a new one (count 0, label from `label_of`
 * when given) if `create`, else NULL when absent. */
static struct row_entry *rowset_entry(struct strmap *set, uint64_t hi,
				      uint64_t lo, int create)
{
	struct row_entry *e;
	char key[33];

	snprintf(key, sizeof key, "%016llx%016llx", (unsigned long long)hi,
		 (unsigned long long)lo);
	e = strmap_get(set, key);
	if (e || !create)
		return e;
	e = xcalloc(1, sizeof *e);
	memcpy(e->key, key, sizeof key);
	strmap_put(set, e->key, e);
	return e;
}

static void rowset_release(struct strmap *set)
{
	const struct strmap_entry *se;
	size_t pos = 0;

	while ((se = strmap_next(set, &pos))) {
		struct row_entry *e = se->val;
		free(e->label);
		free(e);
	}
	strmap_release(set);
}

struct diff_ctx {
	struct db_copy *job;
	struct db_tab *tab;
	struct strmap *set;
	struct db_value *vals;
	int adding;		/* 1: destination rows go in; 0: source rows */
	uint64_t only_src, same;
	struct buf examples_src;
	int nex_src;
};

static char *row_label(const struct db_tab *t, const struct db_value *v)
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
	struct row_entry *e;
	uint64_t hi, lo;

	db_row_hash(v, n, &d->job->scratch, &hi, &lo);
	e = rowset_entry(d->set, hi, lo, d->adding);
	if (d->adding) {
		if (!e->label)
			e->label = row_label(d->tab, v);
		e->count++;
		return 0;
	}
	if (e && e->count) {
		e->count--;
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
static int describe_difference(struct db_copy *j, struct db_tab *t, json_t *jt)
{
	struct diff_ctx d;
	struct strmap set = STRMAP_INIT;
	const struct strmap_entry *se;
	struct buf ex_dst = BUF_INIT;
	uint64_t only_dst = 0;
	size_t pos = 0;
	int nex = 0, rc;

	memset(&d, 0, sizeof d);
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
	while (rc == 0 && (se = strmap_next(&set, &pos))) {
		const struct row_entry *e = se->val;

		if (!e->count)
			continue;
		only_dst += e->count;
		if (nex < 3) {
			struct buf q = BUF_INIT;
			mm_quote(&q, e->label);
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
static int roundcube_schema(struct db_copy *j, struct buf *sql, struct buf *from)
{
	static const char *const dirs[][2] = {
		{ "/usr/share/roundcube/SQL/", ".initial.sql" },
		{ "/usr/share/dbconfig-common/data/roundcube/install/", "" },
		{ NULL, NULL },
	};
	int i;

	for (i = 0; dirs[i][0]; i++) {
		buf_reset(from);
		buf_printf(from, "%s%s%s", dirs[i][0], j->dst.ops->dialect,
			   dirs[i][1]);
		if (fs_read_under(j->o.dest_root, from->data, sql,
				  4u << 20) == 0 && sql->len)
			return 0;
	}
	log_error("the new server has no Roundcube schema file "
		  "(/usr/share/roundcube/SQL/%s.initial.sql under %s): install "
		  "Roundcube there first, or create its database",
		  j->dst.ops->dialect, j->o.dest_root);
	return -1;
}

/* Creates the destination schema in its own dialect.  Engines that
 * cannot roll DDL back remember which tables were new, so that a failed
 * run can drop them again. */
static int create_schema(struct db_copy *j)
{
	struct buf sql = BUF_INIT, from = BUF_INIT;
	int rc = -1;

	if ((j->o.set == DB_SET_ROUNDCUBE)) {
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
static void undo_schema(struct db_copy *j)
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
static int load_tables(struct db_copy *j, int *missing_dst, int *present_dst)
{
	const struct table_spec *s;
	int r;

	*missing_dst = *present_dst = 0;
	for (s = j->specs; s->name; s++) {
		struct db_tab *t = &j->tabs[j->ntabs];

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
static int map_columns(struct db_copy *j)
{
	size_t i, k;
	int bad = 0;

	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
		const struct db_columns *dc = t->in_dst ? &t->dst_cols : &t->src_cols;

		if (!t->in_src)
			continue;
		if (!t->in_dst && !j->o.dry_run) {
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
			if ((j->o.set == DB_SET_ROUNDCUBE) && !strcmp(t->spec->name, "users") &&
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
	struct db_copy *job;
	struct db_tab *tab;
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
static int write_backup(struct db_copy *j)
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
	if (make_dirs(j->o.dest_root, "var/backups/mailmove", &dir) < 0) {
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
		struct db_tab *t = &j->tabs[i];
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
	make_dirs(j->o.dest_root, "var/backups/mailmove", &dir);
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

static void print_table_line(struct db_copy *j, struct db_tab *t, int ok)
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
static int copy_and_verify(struct db_copy *j)
{
	size_t i;
	int rc, bad = 0;
	uint64_t total = 0;
	double t0;

	for (i = j->ntabs; i-- > 0;) {
		struct db_tab *t = &j->tabs[i];
		if (!t->in_src)
			continue;
		total += t->src_rows;
		if (t->dst_rows && j->dst.ops->delete_all(&j->dst, t->spec->name) < 0)
			return MM_EDEST;
	}
	progress_start(&j->prog, "rows", total, 0);
	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
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
				return j->o.src_remote ? MM_EREMOTE : MM_EUSAGE;
			return MM_EDEST;
		}
	}
	progress_end(&j->prog);
	log_verbose("copied in %.2f s", mm_now() - j->prog.start);
	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
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
		struct db_tab *t = &j->tabs[i];
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

/* Decides whether the destination's tables can take the set: all there,
 * none there (created here, or said so on a dry run), or, for Roundcube,
 * the optional ones missing.  *began: a transaction was opened for the
 * schema.  Returns MM_OK or an exit code. */
static int prepare_schema(struct db_copy *j, int *began)
{
	int rc, missing, present;
	size_t i;

	rc = load_tables(j, &missing, &present);
	if (rc)
		return rc;
	if (missing && present && j->o.set != DB_SET_ROUNDCUBE) {
		log_error("%s: has some of the %s tables but not all: "
			  "unexpected schema, nothing changed", j->dst.desc,
			  j->set);
		return MM_EDEST;
	}
	for (i = 0; missing && present && i < j->ntabs; i++)
		if (j->tabs[i].in_src && !j->tabs[i].in_dst &&
		    j->tabs[i].spec->required) {
			log_error("%s: no table %s", j->dst.desc,
				  j->tabs[i].spec->name);
			return MM_EDEST;
		}
	if (!missing || present)
		return map_columns(j);
	if (j->o.dry_run) {
		log_out("would create the %s schema in %s\n", j->set,
			j->dst.desc);
		return map_columns(j);
	}
	if (j->dst.ops->ddl_in_transaction) {
		if (j->dst.ops->begin(&j->dst, 1) < 0)
			return MM_EDEST;
		*began = 1;
	}
	if (create_schema(j) < 0)
		return MM_EDEST;
	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
		db_columns_release(&t->dst_cols);
		if (j->dst.ops->columns(&j->dst, t->spec->name,
					&t->dst_cols) == 0)
			t->in_dst = 1;
	}
	return map_columns(j);
}

/* Counts the rows on both sides: *total from the source, *empty when the
 * destination has none.  Returns MM_OK or an exit code. */
static int count_rows(struct db_copy *j, uint64_t *total, int *empty)
{
	size_t i;

	*total = 0;
	*empty = 1;
	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
		if (t->in_src && j->src.ops->count(&j->src, t->spec->name,
						   &t->src_rows) < 0)
			return MM_EREMOTE;
		if (t->in_dst && j->dst.ops->count(&j->dst, t->spec->name,
						   &t->dst_rows) < 0)
			return MM_EDEST;
		if (t->dst_rows)
			*empty = 0;
		*total += t->src_rows;
	}
	return MM_OK;
}

/* Reports how a destination that holds rows differs, table by table. */
static int report_differences(struct db_copy *j)
{
	size_t i;

	log_out("%s: the new database already has different rows:\n", j->set);
	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
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
			return MM_EDEST;
		}
		if (!t->in_src)
			log_out("  %s: %llu rows only on the new server\n",
				t->spec->name, (unsigned long long)t->dst_rows);
		out_event("difference", jt);
	}
	return MM_OK;
}

/* A destination that already holds rows: compared first.  The same rows
 * need nothing (DB_COPY_IDENTICAL); others need --replace.  A destination
 * table the source lacks counts as different when it has rows.  Returns
 * MM_OK when the copy may go on (or is not needed: j->status says). */
static int compare_existing(struct db_copy *j, uint64_t total)
{
	int identical = 1, rc;
	size_t i;

	for (i = 0; i < j->ntabs; i++) {
		struct db_tab *t = &j->tabs[i];
		if (!t->in_src) {
			if (t->dst_rows)
				identical = 0;
			continue;
		}
		if (sum_table(j, &j->src, t, &t->src_sum) ||
		    sum_table(j, &j->dst, t, &t->dst_sum))
			return MM_EDEST;
		if (!db_sum_equal(&t->src_sum, &t->dst_sum))
			identical = 0;
	}
	if (identical) {
		log_out("%s: the new database already holds the same "
			"%llu rows: nothing to do\n", j->set,
			(unsigned long long)total);
		j->status = DB_COPY_IDENTICAL;
		return MM_OK;
	}
	rc = report_differences(j);
	if (rc)
		return rc;
	if (!j->o.replace) {
		log_error("refusing to change a %s database that holds "
			  "other rows; --replace replaces them (after "
			  "a backup)", j->set);
		j->status = DB_COPY_DIFFERENT;
		return MM_EDIFF;
	}
	return MM_OK;
}

static void say_dry_run(struct db_copy *j, uint64_t total, int empty)
{
	size_t i;

	log_out("would %s %llu rows into %s%s\n",
		empty ? "copy" : "replace the tables with",
		(unsigned long long)total, j->dst.desc,
		empty ? "" : " (after a backup)");
	for (i = 0; i < j->ntabs; i++)
		if (j->tabs[i].in_src)
			log_out("  %-20s %9llu rows\n", j->tabs[i].spec->name,
				(unsigned long long)j->tabs[i].src_rows);
	j->status = DB_COPY_DRY_RUN;
}

/* Backs up what the copy replaces, copies, verifies and commits.
 * Returns MM_OK or an exit code (then the caller rolls back). */
static int copy_and_commit(struct db_copy *j, int empty, int *began)
{
	double t0;
	int rc;

	if (!*began) {
		if (j->dst.ops->begin(&j->dst, 1) < 0)
			return MM_EDEST;
		*began = 1;
	}
	if (!empty && write_backup(j) < 0)
		return MM_EDEST;
	log_out("%s: %s → %s\n", j->set, j->src.desc, j->dst.desc);
	rc = copy_and_verify(j);
	if (rc)
		return rc;
	t0 = mm_now();
	if (j->dst.ops->commit(&j->dst) < 0)
		return MM_EDEST;
	*began = 0;
	log_verbose("committed in %.2f s", mm_now() - t0);
	if (j->o.mail_host)
		log_out("users.mail_host is now %s\n", j->o.mail_host);
	log_out("%s: %llu rows copied in one transaction\n", j->set,
		(unsigned long long)j->copied);
	j->status = empty ? DB_COPY_COPIED : DB_COPY_REPLACED;
	return MM_OK;
}

int db_copy_run(struct db_copy *j)
{
	int rc, empty, began = 0;
	uint64_t total;

	j->status = DB_COPY_FAILED;
	if (j->src.ops->begin(&j->src, 0) < 0)
		return MM_EREMOTE;
	rc = prepare_schema(j, &began);
	if (!rc)
		rc = count_rows(j, &total, &empty);
	if (!rc && !empty)
		rc = compare_existing(j, total);
	if (!rc && j->status == DB_COPY_FAILED) {
		if (j->o.dry_run)
			say_dry_run(j, total, empty);
		else
			rc = copy_and_commit(j, empty, &began);
	}
	if (began)
		j->dst.ops->rollback(&j->dst);
	if (rc != MM_OK)
		undo_schema(j);
	return rc;
}

static const struct table_spec *const set_specs[] = {
	[DB_SET_MAILSERVER] = mailserver_tables,
	[DB_SET_ROUNDCUBE] = roundcube_tables,
};

void db_copy_init(struct db_copy *j, const struct db_copy_opts *o)
{
	memset(j, 0, sizeof *j);
	j->o = *o;
	j->set = o->set == DB_SET_ROUNDCUBE ? "roundcube" : "mailserver";
	j->specs = set_specs[o->set];
	j->tabs = xcalloc(DB_COPY_MAX_TABLES, sizeof *j->tabs);
	buf_init(&j->scratch, 0);
}

void db_copy_release(struct db_copy *j)
{
	size_t i;

	for (i = 0; i < j->ntabs; i++)
		tab_release(&j->tabs[i]);
	free(j->tabs);
	db_columns_release(&j->tables_before);
	if (j->dst.ops)
		db_close(&j->dst);
	if (j->src.ops)
		db_close(&j->src);
	free(j->backup);
	buf_release(&j->scratch);
	memset(j, 0, sizeof *j);
}

const char *db_copy_status_name(enum db_copy_status s)
{
	static const char *const names[] = {
		[DB_COPY_FAILED] = "failed",
		[DB_COPY_IDENTICAL] = "identical",
		[DB_COPY_DIFFERENT] = "different",
		[DB_COPY_DRY_RUN] = "dry-run",
		[DB_COPY_COPIED] = "copied",
		[DB_COPY_REPLACED] = "replaced",
	};

	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "failed";
}
