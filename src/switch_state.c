/*
 * switch_state.c: the small SQLite state of `dns` and `softbounce` (see
 * switch_state.h), and the TTL advice that follows from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mailmove.h"
#include "switch_state.h"
#include "banned.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS dns_ttl ("
	" domain TEXT PRIMARY KEY, first_ttl INTEGER NOT NULL,"
	" first_seen INTEGER NOT NULL, high_ttl INTEGER NOT NULL,"
	" lowered_at INTEGER NOT NULL, low_ttl INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS soft_bounce ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" on_since INTEGER NOT NULL, off_since INTEGER NOT NULL);";

/* mkdir -p for the state's directory, mode 0700 for what it creates. */
static int make_parent_dirs(const char *path)
{
	char *copy = xstrdup(path), *p;
	int rc = 0;

	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			log_error("state: cannot create %s: %s", copy,
				  strerror(errno));
			rc = -1;
			break;
		}
		*p = '/';
	}
	free(copy);
	return rc;
}

int switch_state_open(struct switch_state *st, const struct mm_ctx *ctx,
		      const char *path, int create)
{
	struct buf def = BUF_INIT;
	sqlite3 *db = NULL;
	int fd, flags;
	char *errmsg = NULL;

	memset(st, 0, sizeof *st);
	if (!path) {
		const char *root = mm_dest_root(ctx);
		buf_printf(&def, "%s%svar/lib/mailmove/switch.sqlite", root,
			   root[strlen(root) - 1] == '/' ? "" : "/");
		path = buf_cstr(&def);
	}
	st->path = xstrdup(path);
	buf_release(&def);
	if (!create) {
		if (access(st->path, F_OK) < 0)
			return 0;
		flags = SQLITE_OPEN_READONLY;
		st->readonly = 1;
	} else {
		if (make_parent_dirs(st->path) < 0)
			return -1;
		/* Created 0600 before SQLite opens it. */
		fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			  0600);
		if (fd < 0) {
			log_error("state: cannot open %s: %s", st->path,
				  strerror(errno));
			return -1;
		}
		close(fd);
		flags = SQLITE_OPEN_READWRITE;
	}
	if (sqlite3_open_v2(st->path, &db, flags, NULL) != SQLITE_OK) {
		log_error("state: cannot open %s: %s", st->path,
			  db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (!st->readonly &&
	    sqlite3_exec(db, schema, NULL, NULL, &errmsg) != SQLITE_OK) {
		log_error("state: %s: %s", st->path, errmsg);
		sqlite3_free(errmsg);
		sqlite3_close(db);
		return -1;
	}
	st->db = db;
	return 0;
}

void switch_state_release(struct switch_state *st)
{
	if (st->db)
		sqlite3_close(st->db);
	free(st->path);
	memset(st, 0, sizeof *st);
}

enum ttl_advice ttl_memory_update(struct ttl_memory *m, int64_t ttl,
				  int64_t now, int64_t *safe_at)
{
	*safe_at = 0;
	if (!m->known) {
		memset(m, 0, sizeof *m);
		m->known = 1;
		m->first_ttl = ttl;
		m->first_seen = now;
	}
	if (ttl > TTL_LOW) {
		if (ttl > m->high_ttl)
			m->high_ttl = ttl;
		m->lowered_at = 0;	/* raised again: start over */
		m->low_ttl = 0;
		return TTL_ADVICE_LOWER;
	}
	if (!m->high_ttl)
		return TTL_ADVICE_LOW_AT_FIRST;
	if (!m->lowered_at)
		m->lowered_at = now;
	m->low_ttl = ttl;
	*safe_at = m->lowered_at + m->high_ttl;
	return now >= *safe_at ? TTL_ADVICE_SAFE : TTL_ADVICE_WAIT;
}

int switch_state_get_ttl(struct switch_state *st, const char *domain,
			 struct ttl_memory *m)
{
	sqlite3_stmt *s = NULL;
	int rc;

	memset(m, 0, sizeof *m);
	if (!st->db)
		return 0;
	if (sqlite3_prepare_v2(st->db, "SELECT first_ttl, first_seen, "
			       "high_ttl, lowered_at, low_ttl FROM dns_ttl "
			       "WHERE domain = ?", -1, &s, NULL) != SQLITE_OK) {
		/* A read-only state written by an older mailmove. */
		log_warn("state: %s: %s", st->path, sqlite3_errmsg(st->db));
		return 0;
	}
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		m->known = 1;
		m->first_ttl = sqlite3_column_int64(s, 0);
		m->first_seen = sqlite3_column_int64(s, 1);
		m->high_ttl = sqlite3_column_int64(s, 2);
		m->lowered_at = sqlite3_column_int64(s, 3);
		m->low_ttl = sqlite3_column_int64(s, 4);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_error("state: %s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

/* Runs a prepared write and finalizes it.  0, or -1 after saying why. */
static int step_save(struct switch_state *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		log_error("state: %s: cannot save: %s", st->path,
			  sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

int switch_state_put_ttl(struct switch_state *st, const char *domain,
			 const struct ttl_memory *m)
{
	sqlite3_stmt *s = NULL;

	if (!st->db || st->readonly)
		return 0;
	if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO dns_ttl "
			       "(domain, first_ttl, first_seen, high_ttl, "
			       "lowered_at, low_ttl) VALUES (?,?,?,?,?,?)",
			       -1, &s, NULL) != SQLITE_OK) {
		log_error("state: %s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, m->first_ttl);
	sqlite3_bind_int64(s, 3, m->first_seen);
	sqlite3_bind_int64(s, 4, m->high_ttl);
	sqlite3_bind_int64(s, 5, m->lowered_at);
	sqlite3_bind_int64(s, 6, m->low_ttl);
	return step_save(st, s);
}

int switch_state_get_softbounce(struct switch_state *st, int64_t *on_since,
				int64_t *off_since)
{
	sqlite3_stmt *s = NULL;

	*on_since = *off_since = 0;
	if (!st->db)
		return 0;
	if (sqlite3_prepare_v2(st->db, "SELECT on_since, off_since FROM "
			       "soft_bounce WHERE id = 1", -1, &s, NULL)
	    != SQLITE_OK)
		return 0;	/* an old read-only state: nothing known */
	if (sqlite3_step(s) == SQLITE_ROW) {
		*on_since = sqlite3_column_int64(s, 0);
		*off_since = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return 0;
}

int switch_state_put_softbounce(struct switch_state *st, int64_t on_since,
				int64_t off_since)
{
	sqlite3_stmt *s = NULL;

	if (!st->db || st->readonly)
		return 0;
	if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO soft_bounce "
			       "(id, on_since, off_since) VALUES (1, ?, ?)",
			       -1, &s, NULL) != SQLITE_OK) {
		log_error("state: %s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_int64(s, 1, on_since);
	sqlite3_bind_int64(s, 2, off_since);
	return step_save(st, s);
}
