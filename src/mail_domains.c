/*
 * mail_domains.c: the mail domains `mailmove dns` looks at, and reading the
 * destination's configuration files (see mail_domains.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "mail_domains.h"
#include "fsops.h"
#include "mailmove.h"
#include "remote.h"
#include "banned.h"

void namelist_add(struct namelist *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = xstrdup(s);
}

int namelist_has(const struct namelist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 1;
	return 0;
}

void namelist_release(struct namelist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* A domain (or DKIM selector) that is safe to print, to ask the DNS about
 * and to build a key file name from: letters, digits, '-', '_', '.', no
 * leading dot, no "..". */
int dns_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (!n || n > 253 || s[0] == '.' || strstr(s, ".."))
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return 0;
	}
	return 1;
}

int mail_domain_add(struct namelist *domains, const char *raw,
		      const char *where)
{
	char *d = xstrdup(raw);
	size_t i, n = strlen(d);

	if (n && d[n - 1] == '.')
		d[--n] = '\0';
	for (i = 0; i < n; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] - 'A' + 'a');
	if (!dns_name_ok(d)) {
		struct buf q = BUF_INIT;
		mm_quote(&q, raw);
		log_error("dns: %s: not a domain name: %s", where,
			  buf_cstr(&q));
		buf_release(&q);
		free(d);
		return -1;
	}
	if (!namelist_has(domains, d))
		namelist_add(domains, d);
	free(d);
	return 0;
}

/* Path of `rel` (absolute on the destination) under the destination root. */
void dest_file_path(const struct mm_ctx *ctx, const char *rel,
		      struct buf *out)
{
	const char *root = mm_dest_root(ctx);

	buf_reset(out);
	if (strcmp(root, "/"))
		buf_addstr(out, root);
	if (rel[0] != '/')
		buf_putc(out, '/');
	buf_addstr(out, rel);
}

/* Reads a small text file of the destination; 0, or errno. */
int dest_read_small(const char *path, struct buf *out, size_t max)
{
	int err = fs_read_file(path, O_NOFOLLOW, out, max);

	buf_cstr(out);
	return err;
}

char *conf_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* The value of `key = value` in a Postfix-style file (main.cf or a lookup
 * table's .cf), or NULL.  Caller frees. */
char *conf_file_value(const char *text, const char *key)
{
	char *copy = xstrdup(text), *line, *save = NULL, *res = NULL;
	size_t klen = strlen(key);

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = conf_trim(line);
		if (strncmp(p, key, klen))
			continue;
		p += klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		free(res);
		res = xstrdup(conf_trim(p + 1));	/* the last one wins */
	}
	/* A lookup table's .cf holds a database password. */
	explicit_bzero(copy, strlen(text));
	free(copy);
	return res;
}

/* The virtual domains of an open SQLite mailserver database; closes db.
 * `path` names it in messages. */
static int domains_from_sqlite_db(sqlite3 *db, const char *path,
				  struct namelist *domains)
{
	sqlite3_stmt *s = NULL;
	int rc, n = 0;

	if (sqlite3_prepare_v2(db, "SELECT name FROM virtual_domains "
			       "ORDER BY name", -1, &s, NULL) != SQLITE_OK) {
		log_error("dns: mailserver database %s: %s", path,
			  sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		if (name && mail_domain_add(domains, name, path) == 0)
			n++;
	}
	if (rc != SQLITE_DONE)
		log_error("dns: mailserver database %s: %s", path,
			  sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	log_verbose("dns: %d domains from %s", n, path);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int domains_from_sqlite(const char *path, struct namelist *domains)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		log_error("dns: mailserver database %s: %s", path,
			  db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	return domains_from_sqlite_db(db, path, domains);
}

/* The MariaDB of a mysql: lookup table (user, password, hosts, dbname).
 * The password goes to the client library only. */
static int domains_from_mariadb(const char *cf_text, const char *cf_path,
				struct namelist *domains)
{
	char *user = conf_file_value(cf_text, "user");
	char *password = conf_file_value(cf_text, "password");
	char *hosts = conf_file_value(cf_text, "hosts");
	char *dbname = conf_file_value(cf_text, "dbname");
	const char *host = "localhost", *sock = NULL;
	unsigned port = 0;
	MYSQL *my = mysql_init(NULL);
	MYSQL_RES *res;
	MYSQL_ROW row;
	int rc = -1;

	if (hosts && *hosts) {
		char *sp = strpbrk(hosts, " ,\t");
		if (sp)
			*sp = '\0';
		if (!strncmp(hosts, "unix:", 5)) {
			sock = hosts + 5;
		} else {
			char *colon;
			uint64_t p;

			host = !strncmp(hosts, "inet:", 5) ? hosts + 5 : hosts;
			colon = strrchr(host, ':');
			/* host:port (not an IPv6 address) */
			if (colon && colon == strchr(host, ':') &&
			    mm_parse_u64(colon + 1, &p) == 0 && p < 65536) {
				*colon = '\0';
				port = (unsigned)p;
			}
		}
	}
	if (!my || !mysql_real_connect(my, sock ? "localhost" : host, user,
				       password, dbname ? dbname : "mailserver",
				       port, sock, 0)) {
		log_error("dns: mailserver database (%s): %s", cf_path,
			  my ? mysql_error(my) : "out of memory");
		goto out;
	}
	if (mysql_query(my, "SELECT name FROM virtual_domains ORDER BY name") ||
	    !(res = mysql_store_result(my))) {
		log_error("dns: mailserver database: %s", mysql_error(my));
		goto out;
	}
	while ((row = mysql_fetch_row(res)))
		if (row[0])
			mail_domain_add(domains, row[0], cf_path);
	mysql_free_result(res);
	rc = 0;
out:
	if (my)
		mysql_close(my);
	if (password)
		explicit_bzero(password, strlen(password));
	free(user);
	free(password);
	free(hosts);
	free(dbname);
	return rc;
}

/*
 * The destination's virtual domains: Postfix's virtual_mailbox_domains
 * names the lookup table (sqlite: or mysql:), whose file names the
 * database; without main.cf, ISPmail's SQLite paths.  Returns 0 with
 * domains added, 1 when there is none and --from names an old server to
 * ask instead, or -1 after saying why.
 */
int mail_domains_from_destination(const struct mm_ctx *ctx,
				    struct namelist *domains)
{
	static const char *const fallback[] = {
		"/var/lib/ispmail/mailserver.sqlite",
		"/var/vmail/ispmail.sqlite",
	};
	struct buf path = BUF_INIT, text = BUF_INIT, cf = BUF_INIT;
	char *value = NULL, *table;
	size_t i;
	int rc = -1;

	dest_file_path(ctx, "/etc/postfix/main.cf", &path);
	if (dest_read_small(buf_cstr(&path), &text, 4u << 20) == 0)
		value = conf_file_value(buf_cstr(&text), "virtual_mailbox_domains");
	if (value) {
		table = value;
		if (!strncmp(table, "proxy:", 6))
			table += 6;
		if (!strncmp(table, "sqlite:", 7) ||
		    !strncmp(table, "mysql:", 6) ||
		    !strncmp(table, "mariadb:", 8)) {
			int is_sqlite = table[1] == 'q';
			char *file = strchr(table, ':') + 1, *db;

			dest_file_path(ctx, file, &path);
			if (dest_read_small(buf_cstr(&path), &cf, 1u << 20)) {
				log_error("dns: cannot read %s (named by "
					  "virtual_mailbox_domains)",
					  buf_cstr(&path));
				goto out;
			}
			if (!is_sqlite) {
				rc = domains_from_mariadb(buf_cstr(&cf),
							  buf_cstr(&path),
							  domains);
				goto out;
			}
			db = conf_file_value(buf_cstr(&cf), "dbpath");
			if (!db) {
				log_error("dns: %s has no dbpath",
					  buf_cstr(&path));
				goto out;
			}
			dest_file_path(ctx, db, &path);
			free(db);
			rc = domains_from_sqlite(buf_cstr(&path), domains);
			goto out;
		}
	}
	for (i = 0; i < sizeof fallback / sizeof fallback[0]; i++) {
		dest_file_path(ctx, fallback[i], &path);
		if (access(buf_cstr(&path), R_OK) == 0) {
			rc = domains_from_sqlite(buf_cstr(&path), domains);
			goto out;
		}
	}
	if (ctx->from) {
		rc = 1;		/* try the old server */
		goto out;
	}
	log_error("dns: no mailserver database found on the destination "
		  "(virtual_mailbox_domains in %s/etc/postfix/main.cf); give "
		  "DOMAIN arguments or --domains-from FILE",
		  strcmp(mm_dest_root(ctx), "/") ? mm_dest_root(ctx) : "");
out:
	free(value);
	buf_release(&path);
	buf_release(&text);
	if (cf.data)
		explicit_bzero(cf.data, cf.len);
	buf_release(&cf);
	return rc;
}

/*
 * The old server's virtual domains, when its mailserver database is SQLite:
 * the file is read through the agent and opened from memory (read-only;
 * changes still in a -wal file are not seen, domains rarely change).  A
 * MariaDB there is not reached: the admin gives the domains or copies the
 * database first.  Returns 0, or an exit code after saying why.
 */
int mail_domains_from_old(const struct mm_ctx *ctx, struct namelist *domains)
{
	static const char *const fallback[] = {
		"/var/lib/ispmail/mailserver.sqlite",
		"/var/vmail/ispmail.sqlite",
	};
	struct buf text = BUF_INIT, cf = BUF_INIT, data = BUF_INIT;
	struct endpoint *ep;
	char *value = NULL, *dbpath = NULL, *table;
	sqlite3 *db = NULL;
	size_t i;
	int rc, err;

	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	err = remote_read_file(ep, "/etc/postfix/main.cf", &text, 4u << 20,
			       NULL);
	if (err < 0)
		goto lost;
	if (err == 0)
		value = conf_file_value(buf_cstr(&text), "virtual_mailbox_domains");
	table = value;
	if (table && !strncmp(table, "proxy:", 6))
		table += 6;
	if (table && (!strncmp(table, "mysql:", 6) ||
		      !strncmp(table, "mariadb:", 8))) {
		log_error("dns: the old server's domains are in MariaDB, "
			  "which mailmove dns does not reach; give DOMAIN "
			  "arguments or --domains-from FILE, or copy the "
			  "database first");
		rc = MM_EUSAGE;
		goto out;
	}
	if (table && !strncmp(table, "sqlite:", 7)) {
		err = remote_read_file(ep, table + 7, &cf, 1u << 20, NULL);
		if (err < 0)
			goto lost;
		if (err == 0)
			dbpath = conf_file_value(buf_cstr(&cf), "dbpath");
	}
	for (i = 0; !dbpath && i < sizeof fallback / sizeof fallback[0]; i++) {
		err = remote_read_file(ep, fallback[i], &data, 1u << 30, NULL);
		if (err < 0)
			goto lost;
		if (err == 0)
			dbpath = xstrdup(fallback[i]);
	}
	if (!dbpath) {
		log_error("dns: no mailserver database found on the "
			  "destination or the old server; give DOMAIN "
			  "arguments or --domains-from FILE");
		rc = MM_EUSAGE;
		goto out;
	}
	if (!data.len) {
		err = remote_read_file(ep, dbpath, &data, 1u << 30, NULL);
		if (err < 0)
			goto lost;
		if (err > 0) {
			log_error("dns: %s on the old server: %s", dbpath,
				  strerror(err));
			rc = MM_EREMOTE;
			goto out;
		}
	}
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK ||
	    sqlite3_deserialize(db, "main", (unsigned char *)data.data,
				(sqlite3_int64)data.len,
				(sqlite3_int64)data.len,
				SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
		log_error("dns: %s of the old server is not an SQLite "
			  "database", dbpath);
		sqlite3_close(db);
		rc = MM_EUSAGE;
		goto out;
	}
	log_info("dns: domains from the old server's %s", dbpath);
	rc = domains_from_sqlite_db(db, dbpath, domains) ? MM_EUSAGE : MM_OK;
	goto out;
lost:
	rc = ep_exit_code(ep);
out:
	free(value);
	free(dbpath);
	buf_release(&text);
	buf_release(&cf);
	buf_release(&data);
	ep_close(ep);
	return rc;
}

int mail_domains_from_file(const char *file, struct namelist *domains)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	char line[1024];
	int rc = 0;

	if (!f) {
		log_error("dns: --domains-from %s: %s", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *p = conf_trim(line);
		if (!*p || *p == '#')
			continue;
		if (mail_domain_add(domains, p, file) < 0)
			rc = -1;
	}
	if (f != stdin)
		fclose(f);
	return rc;
}
