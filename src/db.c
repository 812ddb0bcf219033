/*
 * db.c: what both database engines share: URLs, column lists, opening the
 * right engine, and the order-independent row checksum.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "log.h"
#include "base.h"
#include "banned.h"

void db_url_init(struct db_url *u)
{
	memset(u, 0, sizeof *u);
}

void db_url_release(struct db_url *u)
{
	free(u->path);
	free(u->user);
	free(u->host);
	free(u->socket);
	free(u->dbname);
	db_url_init(u);
}

/* A database or user name: letters, digits, and a few punctuation marks
 * MariaDB allows without quoting trouble. */
static int name_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_-.$", *s)))
			return 0;
	return 1;
}

int db_url_parse(struct db_url *u, const char *s)
{
	const char *p, *at, *slash, *q;

	db_url_init(u);
	if (!strncmp(s, "sqlite:", 7)) {
		p = s + 7;
		/* sqlite:///abs/path is accepted like sqlite:/abs/path. */
		if (!strncmp(p, "//", 2))
			p += 2;
		if (!*p) {
			log_error("database URL %s: no file path", s);
			return -1;
		}
		u->engine = DB_SQLITE;
		u->path = xstrdup(p);
		return 0;
	}
	if (!strncmp(s, "mysql://", 8))
		p = s + 8;
	else if (!strncmp(s, "mariadb://", 10))
		p = s + 10;
	else {
		log_error("database URL %s: expected sqlite:PATH, "
			  "mysql://USER@HOST[:PORT]/DB or "
			  "mysql://USER@/DB?socket=PATH", s);
		return -1;
	}
	u->engine = DB_MARIADB;
	slash = strchr(p, '/');
	if (!slash) {
		log_error("database URL %s: no database name (…/DB)", s);
		return -1;
	}
	at = memchr(p, '@', (size_t)(slash - p));
	if (at) {
		if (memchr(p, ':', (size_t)(at - p))) {
			log_error("database URL: a password does not belong "
				  "on the command line; use --password-file");
			return -1;
		}
		u->user = xstrndup(p, (size_t)(at - p));
		p = at + 1;
	} else {
		u->user = xstrdup("root");
	}
	if (slash > p) {
		const char *colon = memchr(p, ':', (size_t)(slash - p));
		size_t hl = (size_t)((colon ? colon : slash) - p);
		u->host = xstrndup(p, hl);
		if (colon) {
			char *port = xstrndup(colon + 1,
					      (size_t)(slash - colon - 1));
			uint64_t v;
			if (mm_parse_u64(port, &v) || v == 0 || v > 65535) {
				log_error("database URL %s: bad port %s", s,
					  port);
				free(port);
				return -1;
			}
			free(port);
			u->port = (unsigned)v;
		}
	}
	p = slash + 1;
	q = strchr(p, '?');
	u->dbname = q ? xstrndup(p, (size_t)(q - p)) : xstrdup(p);
	if (q) {
		if (strncmp(q + 1, "socket=", 7) || !q[8] || q[8] != '/') {
			log_error("database URL %s: the only parameter is "
				  "?socket=/ABSOLUTE/PATH", s);
			return -1;
		}
		u->socket = xstrdup(q + 8);
	}
	if (!name_ok(u->user) || !name_ok(u->dbname)) {
		log_error("database URL %s: user and database names may hold "
			  "letters, digits, _ - . $", s);
		return -1;
	}
	if (!u->host && !u->socket)
		u->host = xstrdup("localhost");
	return 0;
}

void db_url_format(const struct db_url *u, struct buf *out)
{
	if (u->engine == DB_SQLITE) {
		buf_printf(out, "sqlite:%s", u->path);
		return;
	}
	buf_printf(out, "mysql://%s@%s", u->user, u->host ? u->host : "");
	if (u->port)
		buf_printf(out, ":%u", u->port);
	buf_printf(out, "/%s", u->dbname);
	if (u->socket)
		buf_printf(out, "?socket=%s", u->socket);
}

void db_columns_release(struct db_columns *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->name[i]);
		if (c->notnull_default)
			free(c->notnull_default[i]);
	}
	free(c->name);
	free(c->notnull_default);
	c->name = NULL;
	c->notnull_default = NULL;
	c->n = 0;
}

void db_columns_add(struct db_columns *c, const char *name,
		    const char *notnull_default)
{
	c->name = xrealloc(c->name, (c->n + 1) * sizeof *c->name);
	c->notnull_default = xrealloc(c->notnull_default,
				      (c->n + 1) * sizeof *c->notnull_default);
	c->name[c->n] = xstrdup(name);
	c->notnull_default[c->n] = notnull_default ? xstrdup(notnull_default)
		: NULL;
	c->n++;
}

char *db_default_literal(const char *expr)
{
	struct buf v = BUF_INIT;
	const char *p;

	if (!expr)
		return NULL;
	if (expr[0] == '\'') {
		for (p = expr + 1; *p; p++) {
			if (*p == '\'') {
				if (p[1] != '\'')
					break;
				p++;
			}
			buf_putc(&v, *p);
		}
		if (*p != '\'' || p[1]) {
			buf_release(&v);
			return NULL;
		}
		return buf_detach(&v);
	}
	p = expr;
	if (*p == '-')
		p++;
	if (!*p || strspn(p, "0123456789.") != strlen(p))
		return NULL;
	return xstrdup(expr);
}

int db_columns_find(const struct db_columns *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->name[i], name))
			return (int)i;
	return -1;
}

int db_open(struct db *db, const struct db_url *u, const char *password,
	    int for_write, const char *desc)
{
	struct buf d = BUF_INIT;

	memset(db, 0, sizeof *db);
	db->ops = u->engine == DB_SQLITE ? &db_sqlite_ops : &db_mariadb_ops;
	if (desc)
		buf_addstr(&d, desc);
	else
		db_url_format(u, &d);
	db->desc = buf_detach(&d);
	if (db->ops->open(db, u, password, for_write) < 0) {
		free(db->desc);
		db->desc = NULL;
		db->ops = NULL;
		return -1;
	}
	return 0;
}

void db_close(struct db *db)
{
	if (db->ops)
		db->ops->close(db);
	free(db->desc);
	memset(db, 0, sizeof *db);
}

void db_row_hash(const struct db_value *vals, size_t n, struct buf *scratch,
		 uint64_t *hi, uint64_t *lo)
{
	XXH128_hash_t h;
	size_t i;

	buf_reset(scratch);
	for (i = 0; i < n; i++) {
		unsigned char hdr[9];
		uint64_t len = vals[i].len;
		int k;

		if (!vals[i].p) {
			buf_putc(scratch, 0xff);
			continue;
		}
		hdr[0] = 0x01;
		for (k = 0; k < 8; k++)
			hdr[1 + k] = (unsigned char)(len >> (8 * k));
		buf_add(scratch, hdr, sizeof hdr);
		buf_add(scratch, vals[i].p, vals[i].len);
	}
	h = XXH3_128bits(scratch->data ? scratch->data : "", scratch->len);
	*hi = h.high64;
	*lo = h.low64;
}

void db_sum_add(struct db_sum *s, uint64_t hi, uint64_t lo)
{
	uint64_t old = s->lo;

	s->lo += lo;
	s->hi += hi + (s->lo < old);
	s->rows++;
}

int db_sum_equal(const struct db_sum *a, const struct db_sum *b)
{
	return a->rows == b->rows && a->hi == b->hi && a->lo == b->lo;
}

void db_sum_hex(const struct db_sum *s, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 16; i++)
		out[i] = hex[(s->hi >> (60 - 4 * i)) & 15];
	for (i = 0; i < 16; i++)
		out[16 + i] = hex[(s->lo >> (60 - 4 * i)) & 15];
	out[32] = '\0';
}
