/* state.c: the SQLite state of `mailmove sync` (see state.h). */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "banned.h"

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	/* NORMAL: a commit may be lost to a power failure, never half
	 * applied.  That is enough here: every commit follows a syncfs of
	 * the destination, so a lost commit leaves a state that says less
	 * than the disk holds, which the next run re-derives. */
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS dirs(path TEXT PRIMARY KEY, kind TEXT, "
	"  mtime_s INTEGER, mtime_ns INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS msgs(folder TEXT, base TEXT, name TEXT, "
	"  dev INTEGER, ino INTEGER, size INTEGER, gone INTEGER, "
	"  PRIMARY KEY(folder, base)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS msgs_ino ON msgs(ino);"
	"CREATE TABLE IF NOT EXISTS meta(path TEXT PRIMARY KEY, size INTEGER, "
	"  mtime_s INTEGER, mtime_ns INTEGER, ino INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS dest_dirs(path TEXT PRIMARY KEY, "
	"  mtime_s INTEGER, mtime_ns INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS flags(k TEXT PRIMARY KEY, v INTEGER) "
	"  WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS intents(folder TEXT, base TEXT, name TEXT, "
	"  size INTEGER, PRIMARY KEY(folder, base)) WITHOUT ROWID;";

static int fail(struct state *s, const char *what)
{
	log_error("state database: %s: %s", what, sqlite3_errmsg(s->db));
	return -1;
}

static int prep(struct state *s, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return fail(s, "prepare");
	return 0;
}

/* Makes the parent directories of `path` (mode 0700). */
static void make_parents(const char *path)
{
	char *p = xstrdup(path), *c;

	for (c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		mkdir(p, 0700);
		*c = '/';
	}
	free(p);
}

/* Whether the database has the state's main tables (what a dry run
 * reads; an earlier version's state has them too). */
static int has_tables(sqlite3 *db)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE "
			       "type='table' AND name IN ('dirs','msgs',"
			       "'meta','dest_dirs')", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n == 4;
}

/* Whether the database holds tables and not mailmove's (another
 * program's database given as --state): nothing may be added to it. */
static int foreign_db(sqlite3 *db)
{
	sqlite3_stmt *st;
	int all = 0, ours = 0;

	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE "
			       "type='table'", -1, &st, NULL) != SQLITE_OK)
		return 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);

		all++;
		ours += n && (!strcmp(n, "dirs") || !strcmp(n, "msgs"));
	}
	sqlite3_finalize(st);
	return all > 0 && !ours;
}

int state_open(struct state *s, const char *path, int readonly)
{
	int flags = readonly ? SQLITE_OPEN_READONLY :
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	struct buf uri = BUF_INIT;
	int fd, want_schema;

	memset(s, 0, sizeof *s);
	s->readonly = readonly;
	if (readonly && access(path, F_OK) < 0) {
		path = ":memory:";
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	} else if (!readonly) {
		make_parents(path);
		/* Create it 0600 ourselves: SQLite would use the umask. */
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			log_error("state database %s: %s", path, strerror(errno));
			return -1;
		}
		close(fd);
	}
	want_schema = !readonly || !strcmp(path, ":memory:");
	if (readonly && strcmp(path, ":memory:")) {
		/* A dry run must not even leave -wal or -shm files behind. */
		const char *c;

		buf_addstr(&uri, "file:");
		for (c = path; *c; c++)
			if (*c == '%' || *c == '?' || *c == '#')
				buf_printf(&uri, "%%%02X", (unsigned char)*c);
			else
				buf_putc(&uri, *c);
		buf_addstr(&uri, "?immutable=1");
		path = uri.data;
		flags |= SQLITE_OPEN_URI;
	}
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		buf_release(&uri);
		log_error("state database %s: %s", path,
			  s->db ? sqlite3_errmsg(s->db) : "cannot open");
		return -1;
	}
	buf_release(&uri);
	if (!want_schema && !has_tables(s->db)) {
		/* Read as it is on disk (immutable): a state a first run
		 * is still writing has no tables there yet.  As good as no
		 * state: a dry run plans a first sync. */
		sqlite3_close(s->db);
		s->db = NULL;
		if (sqlite3_open_v2(":memory:", &s->db, SQLITE_OPEN_READWRITE |
				    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
			return fail(s, "open");
		want_schema = 1;
	}
	sqlite3_busy_timeout(s->db, 10000);
	/* A resync reads and rewrites rows of most folders: keep the whole
	 * database in memory (both are upper bounds, used as needed). */
	sqlite3_exec(s->db, "PRAGMA cache_size=-262144;"
		     "PRAGMA mmap_size=1073741824;", NULL, NULL, NULL);
	if (want_schema && !readonly && foreign_db(s->db)) {
		log_error("state database %s holds tables of another program "
			  "and none of mailmove's: not used (give --state a "
			  "file of its own)", path);
		return -1;
	}
	if (want_schema) {
		if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK)
			return fail(s, "schema");
	}
	if (prep(s, &s->st_dir_put, "INSERT OR REPLACE INTO dirs VALUES(?,?,?,?)") ||
	    prep(s, &s->st_dir_del, "DELETE FROM dirs WHERE path=?") ||
	    prep(s, &s->st_dirs_all, "SELECT path, kind, mtime_s, mtime_ns FROM dirs") ||
	    prep(s, &s->st_msg_put, "INSERT OR REPLACE INTO msgs VALUES(?,?,?,?,?,?,?)") ||
	    prep(s, &s->st_msg_del, "DELETE FROM msgs WHERE folder=? AND base=?") ||
	    prep(s, &s->st_msg_rename, "UPDATE msgs SET name=? WHERE folder=? AND base=?") ||
	    prep(s, &s->st_ddir_put, "INSERT OR REPLACE INTO dest_dirs VALUES(?,?,?)") ||
	    prep(s, &s->st_ddir_del, "DELETE FROM dest_dirs WHERE path=?") ||
	    prep(s, &s->st_ddirs_all, "SELECT path, mtime_s, mtime_ns FROM dest_dirs") ||
	    prep(s, &s->st_msg_del_folder, "DELETE FROM msgs WHERE folder=?") ||
	    prep(s, &s->st_msg_load, "SELECT base, name, dev, ino, size, gone FROM msgs WHERE folder=?") ||
	    prep(s, &s->st_msg_ino, "SELECT folder, name FROM msgs WHERE ino=? AND dev=? AND size=? AND gone=0 LIMIT 1") ||
	    prep(s, &s->st_meta_get, "SELECT size, mtime_s, mtime_ns, ino FROM meta WHERE path=?") ||
	    prep(s, &s->st_meta_put, "INSERT OR REPLACE INTO meta VALUES(?,?,?,?,?)") ||
	    prep(s, &s->st_meta_del, "DELETE FROM meta WHERE path=?") ||
	    (want_schema && prep(s, &s->st_int_put,
			"INSERT OR REPLACE INTO intents VALUES(?,?,?,?)")))
		return -1;
	return 0;
}

void state_release(struct state *s)
{
	sqlite3_stmt **all[] = { &s->st_dir_put, &s->st_dir_del, &s->st_msg_put,
		&s->st_msg_del, &s->st_msg_load, &s->st_msg_ino, &s->st_meta_get,
		&s->st_meta_put, &s->st_meta_del, &s->st_dirs_all,
		&s->st_msg_del_folder, &s->st_msg_rename, &s->st_ddir_put,
		&s->st_ddir_del, &s->st_ddirs_all, &s->st_int_put };
	size_t i;

	if (s->in_txn)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	for (i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(*all[i]);
	if (s->db)
		sqlite3_close(s->db);
	memset(s, 0, sizeof *s);
}

int state_begin(struct state *s)
{
	if (s->readonly || s->in_txn)
		return 0;
	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return fail(s, "begin");
	s->in_txn = 1;
	return 0;
}

int state_commit(struct state *s)
{
	if (s->readonly || !s->in_txn)
		return 0;
	s->in_txn = 0;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return fail(s, "commit");
	return 0;
}

/* `p` without repeated or trailing slashes ("/" stays "/"). */
static void clean_path(const char *p, struct buf *out)
{
	for (; *p; p++)
		if (*p != '/' || !out->len || out->data[out->len - 1] != '/')
			buf_putc(out, *p);
	while (out->len > 1 && out->data[out->len - 1] == '/')
		out->data[--out->len] = '\0';
}

/* One spelling of the old server: a directory as its real path (or
 * cleaned), a host without this user's name before '@' (ssh's default)
 * or ssh's default port after it. */
static void canonical_from(const char *from, struct buf *out)
{
	const char *at = strchr(from, '@');
	struct passwd *pw = getpwuid(getuid());
	char real[PATH_MAX];
	size_t n;

	if (strchr(from, '/') || *from == '.') {
		if (realpath(from, real))
			buf_addstr(out, real);
		else
			clean_path(from, out);
		return;
	}
	if (at && pw && (size_t)(at - from) == strlen(pw->pw_name) &&
	    !strncmp(from, pw->pw_name, (size_t)(at - from)))
		from = at + 1;
	buf_addstr(out, from);
	n = out->len;
	if (n > 3 && !strcmp(out->data + n - 3, ":22"))
		out->data[out->len -= 3] = '\0';
}

/* `path` resolved as realpath(3) does, also when its last components do
 * not exist yet (the deepest existing directory resolved, the rest as
 * written), so a state named before the destination is made keeps its
 * name once it is. */
static void real_path_of(const char *path, struct buf *out)
{
	struct buf p = BUF_INIT, rest = BUF_INIT;
	char real[PATH_MAX];

	clean_path(path, &p);
	while (!realpath(p.data, real)) {
		char *slash = strrchr(p.data, '/');
		struct buf r = BUF_INIT;

		if (!slash || slash == p.data) {
			buf_addstr(out, p.data);
			buf_addstr(out, rest.len ? rest.data : "");
			goto out;
		}
		buf_printf(&r, "%s%s", slash, rest.len ? rest.data : "");
		buf_reset(&rest);
		buf_addstr(&rest, r.data);
		buf_release(&r);
		*slash = '\0';
		p.len = (size_t)(slash - p.data);
	}
	buf_addstr(out, real);
	if (strcmp(real, "/") || !rest.len)
		buf_addstr(out, rest.len ? rest.data : "");
	else
		buf_addstr(out, rest.data + 1);
out:
	buf_release(&p);
	buf_release(&rest);
}

static void path_for_key(const char *dest_root, const char *from,
			 const char *src, const char *dest, int canonical,
			 struct buf *out)
{
	struct buf key = BUF_INIT;
	uint64_t h;

	if (canonical) {
		canonical_from(from ? from : "", &key);
		buf_putc(&key, '\0');
		clean_path(src, &key);
		buf_putc(&key, '\0');
		{
			/* The destination as it really is (a symlink under
			 * the root is the directory it names), made or not. */
			struct buf full = BUF_INIT;

			buf_printf(&full, "%s/%s", dest_root, dest);
			real_path_of(full.data, &key);
			buf_release(&full);
		}
	} else {
		buf_printf(&key, "%s%c%s%c%s", from ? from : "", 0, src, 0,
			   dest);
	}
	h = XXH3_64bits(key.data, key.len);
	buf_reset(out);
	buf_addstr(out, dest_root);
	while (out->len && out->data[out->len - 1] == '/')
		out->len--;
	buf_printf(out, "/var/lib/mailmove/sync-%016llx.sqlite",
		   (unsigned long long)h);
	buf_release(&key);
}

void state_default_path(const char *dest_root, const char *from,
			const char *src, const char *dest, struct buf *out)
{
	struct buf typed = BUF_INIT;

	/* One state for one source and destination however they are
	 * spelled; a state an earlier version named by the spelling alone
	 * is still used when it is the only one. */
	path_for_key(dest_root, from, src, dest, 1, out);
	if (access(out->data, F_OK) < 0) {
		path_for_key(dest_root, from, src, dest, 0, &typed);
		if (access(typed.data, F_OK) == 0) {
			buf_reset(out);
			buf_addstr(out, typed.data);
		}
	}
	buf_release(&typed);
}

/* Runs a write statement; resets it.  0 or -1. */
static int run(struct state *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return fail(s, what);
	return 0;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v, (int)strlen(v), SQLITE_TRANSIENT);
}

int state_dirs_each(struct state *s, state_dir_cb cb, void *arg)
{
	sqlite3_stmt *st = s->st_dirs_all;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW && !r) {
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		r = cb(arg, (const char *)sqlite3_column_text(st, 0),
		       kind ? kind[0] : 'd', sqlite3_column_int64(st, 2),
		       (uint32_t)sqlite3_column_int64(st, 3));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail(s, "reading directories");
	return r;
}

int state_dir_put(struct state *s, const char *path, char kind,
		  int64_t mtime_s, uint32_t mtime_ns)
{
	char k[2] = { kind, 0 };

	if (s->readonly)
		return 0;
	bind_str(s->st_dir_put, 1, path);
	bind_str(s->st_dir_put, 2, k);
	sqlite3_bind_int64(s->st_dir_put, 3, mtime_s);
	sqlite3_bind_int64(s->st_dir_put, 4, mtime_ns);
	return run(s, s->st_dir_put, "saving a directory");
}

int state_dir_del(struct state *s, const char *path)
{
	if (s->readonly)
		return 0;
	bind_str(s->st_dir_del, 1, path);
	return run(s, s->st_dir_del, "removing a directory");
}

int state_dest_dirs_each(struct state *s, state_dir_cb cb, void *arg)
{
	sqlite3_stmt *st = s->st_ddirs_all;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW && !r) {
		const char *path = (const char *)sqlite3_column_text(st, 0);

		if (path)
			r = cb(arg, path, 'd', sqlite3_column_int64(st, 1),
			       (uint32_t)sqlite3_column_int64(st, 2));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail(s, "reading destination directories");
	return r;
}

int state_dest_dir_put(struct state *s, const char *path, int64_t mtime_s,
		       uint32_t mtime_ns)
{
	if (s->readonly)
		return 0;
	if (!mtime_s && !mtime_ns) {
		bind_str(s->st_ddir_del, 1, path);
		return run(s, s->st_ddir_del, "forgetting a destination directory");
	}
	bind_str(s->st_ddir_put, 1, path);
	sqlite3_bind_int64(s->st_ddir_put, 2, mtime_s);
	sqlite3_bind_int64(s->st_ddir_put, 3, mtime_ns);
	return run(s, s->st_ddir_put, "saving a destination directory");
}

int state_msgs_each(struct state *s, const char *folder, state_msg_cb cb,
		    void *arg)
{
	sqlite3_stmt *st = s->st_msg_load;
	struct state_msg m;
	int rc, r = 0;

	bind_str(st, 1, folder);
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		m.base = (const char *)sqlite3_column_text(st, 0);
		m.name = (const char *)sqlite3_column_text(st, 1);
		m.dev = (uint64_t)sqlite3_column_int64(st, 2);
		m.ino = (uint64_t)sqlite3_column_int64(st, 3);
		m.size = (uint64_t)sqlite3_column_int64(st, 4);
		m.gone = sqlite3_column_int(st, 5);
		if (m.base && m.name)
			r = cb(arg, &m);
	}
	if (!r && rc != SQLITE_DONE)
		r = fail(s, "reading messages");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int state_msg_put(struct state *s, const char *folder,
		  const struct state_msg *m)
{
	sqlite3_stmt *st = s->st_msg_put;

	if (s->readonly)
		return 0;
	bind_str(st, 1, folder);
	bind_str(st, 2, m->base);
	bind_str(st, 3, m->name);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)m->dev);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->ino);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)m->size);
	sqlite3_bind_int(st, 7, m->gone);
	return run(s, st, "saving a message");
}

int state_msg_rename(struct state *s, const char *folder, const char *base,
		     const char *name)
{
	if (s->readonly)
		return 0;
	bind_str(s->st_msg_rename, 1, name);
	bind_str(s->st_msg_rename, 2, folder);
	bind_str(s->st_msg_rename, 3, base);
	return run(s, s->st_msg_rename, "renaming a message");
}

int state_msg_del(struct state *s, const char *folder, const char *base)
{
	if (s->readonly)
		return 0;
	bind_str(s->st_msg_del, 1, folder);
	bind_str(s->st_msg_del, 2, base);
	return run(s, s->st_msg_del, "removing a message");
}

int state_msg_del_folder(struct state *s, const char *folder)
{
	if (s->readonly)
		return 0;
	bind_str(s->st_msg_del_folder, 1, folder);
	return run(s, s->st_msg_del_folder, "removing a folder");
}

int state_msg_by_inode(struct state *s, uint64_t dev, uint64_t ino,
		       uint64_t size, struct buf *folder, struct buf *name)
{
	sqlite3_stmt *st = s->st_msg_ino;
	int rc, found = 0;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)dev);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		buf_reset(folder);
		buf_reset(name);
		buf_addstr(folder, (const char *)sqlite3_column_text(st, 0));
		buf_addstr(name, (const char *)sqlite3_column_text(st, 1));
		found = 1;
	} else if (rc != SQLITE_DONE) {
		found = fail(s, "looking up an inode");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return found;
}

int state_meta_get(struct state *s, const char *path, uint64_t *size,
		   int64_t *mtime_s, uint32_t *mtime_ns, uint64_t *ino)
{
	sqlite3_stmt *st = s->st_meta_get;
	int found = 0;

	bind_str(st, 1, path);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		*mtime_s = sqlite3_column_int64(st, 1);
		*mtime_ns = (uint32_t)sqlite3_column_int64(st, 2);
		*ino = (uint64_t)sqlite3_column_int64(st, 3);
		found = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return found;
}

int state_meta_put(struct state *s, const char *path, uint64_t size,
		   int64_t mtime_s, uint32_t mtime_ns, uint64_t ino)
{
	sqlite3_stmt *st = s->st_meta_put;

	if (s->readonly)
		return 0;
	bind_str(st, 1, path);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, mtime_s);
	sqlite3_bind_int64(st, 4, mtime_ns);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)ino);
	return run(s, st, "saving a metadata file");
}

int state_meta_del(struct state *s, const char *path)
{
	if (s->readonly)
		return 0;
	bind_str(s->st_meta_del, 1, path);
	return run(s, s->st_meta_del, "removing a metadata file");
}

/* A one-row query with one integer result, or -1 (logged). */
static int64_t query_int(struct state *s, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	int rc;

	if (prep(s, &st, sql) < 0)
		return -1;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		v = 0;
	else
		fail(s, "query");
	sqlite3_finalize(st);
	return v;
}

int64_t state_msgs_count(struct state *s, const char *folder)
{
	if (!folder)
		return query_int(s, "SELECT count(*) FROM msgs WHERE gone=0",
				 NULL);
	return query_int(s, "SELECT count(*) FROM msgs WHERE folder=? AND "
			 "gone=0", folder);
}

int64_t state_flag_get(struct state *s, const char *key)
{
	return query_int(s, "SELECT v FROM flags WHERE k=?", key);
}

int state_flag_put(struct state *s, const char *key, int64_t v)
{
	sqlite3_stmt *st;
	int rc;

	if (s->readonly)
		return 0;
	if (prep(s, &st, "INSERT OR REPLACE INTO flags VALUES(?,?)") < 0)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "flag");
}

int state_intent_put(struct state *s, const char *folder, const char *base,
		     const char *name, uint64_t size)
{
	sqlite3_stmt *st = s->st_int_put;

	if (s->readonly || !st)
		return 0;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
	return run(s, st, "recording a copy");
}

int state_intents_each(struct state *s, const char *folder,
		       state_intent_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (prep(s, &st, "SELECT base, name, size FROM intents WHERE "
		 "folder=?") < 0)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st, 0);
		const char *n = (const char *)sqlite3_column_text(st, 1);

		if (b && n)
			r = cb(arg, b, n,
			       (uint64_t)sqlite3_column_int64(st, 2));
	}
	if (!r && rc != SQLITE_DONE)
		r = fail(s, "reading intents");
	sqlite3_finalize(st);
	return r;
}

int state_intent_del_folder(struct state *s, const char *folder)
{
	sqlite3_stmt *st;

	if (s->readonly)
		return 0;
	if (prep(s, &st, "DELETE FROM intents WHERE folder=?") < 0)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		return fail(s, "dropping intents");
	}
	sqlite3_finalize(st);
	return 0;
}

int state_intent_folders(struct state *s,
			 int (*cb)(void *arg, const char *folder), void *arg)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (prep(s, &st, "SELECT DISTINCT folder FROM intents") < 0)
		return -1;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(st, 0);

		if (f)
			r = cb(arg, f);
	}
	if (!r && rc != SQLITE_DONE)
		r = fail(s, "reading intents");
	sqlite3_finalize(st);
	return r;
}
