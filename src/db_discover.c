/*
 * db_discover.c: reading database locations and credentials out of
 * Postfix, Dovecot and Roundcube configuration (see db_discover.h).
 *
 * Passwords found here stay in memory (struct db_found.password), go to
 * the client library only, and are wiped on release.
 */
#include "db_discover.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "endpoint.h"
#include "fsops.h"
#include "log.h"
#include "remote.h"
#include "banned.h"

extern char **environ;

#define DEFAULT_MYSQL_SOCKET "/run/mysqld/mysqld.sock"
#define CFG_MAX (1024 * 1024)

void db_found_init(struct db_found *f)
{
	memset(f, 0, sizeof *f);
	db_url_init(&f->url);
	buf_init(&f->password, 4096);
}

void db_found_release(struct db_found *f)
{
	if (f->password.data)
		memset(f->password.data, 0, f->password.cap);
	buf_release(&f->password);
	db_url_release(&f->url);
	free(f->file);
	memset(f, 0, sizeof *f);
}

/* Postfix's `hosts` and Roundcube's server: "unix:/path", "inet:h:p",
 * "h:p", "h"; "localhost" means the default socket, as for the client
 * library. */
static void set_mysql_host(struct db_url *u, const char *h)
{
	const char *colon;

	free(u->host);
	free(u->socket);
	u->host = u->socket = NULL;
	u->port = 0;
	if (!strncmp(h, "unix:", 5)) {
		u->socket = xstrdup(h + 5);
		return;
	}
	if (!strncmp(h, "inet:", 5))
		h += 5;
	if (h[0] == '/') {
		u->socket = xstrdup(h);
		return;
	}
	colon = strrchr(h, ':');
	if (colon && !strchr(colon, ']')) {
		uint64_t port;
		if (!mm_parse_u64(colon + 1, &port) && port && port < 65536)
			u->port = (unsigned)port;
		u->host = xstrndup(h, (size_t)(colon - h));
	} else {
		u->host = xstrdup(h);
	}
	if (!strcmp(u->host, "localhost") && !u->port) {
		free(u->host);
		u->host = NULL;
		u->socket = xstrdup(DEFAULT_MYSQL_SOCKET);
	}
}

/* Trims spaces and one pair of surrounding quotes in place. */
static char *trim(char *s)
{
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

/* Postfix lookup table syntax: "key = value", # comments, continuation
 * lines start with white space.  Calls cb for each setting. */
static void parse_key_values(const char *text,
			     void (*cb)(void *arg, const char *k, char *v),
			     void *arg)
{
	char *copy = xstrdup(text), *line, *save = NULL, *eq;

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *k;
		if (line[0] == '#' || isspace((unsigned char)line[0]))
			continue;
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		k = trim(line);
		cb(arg, k, trim(eq + 1));
	}
	memset(copy, 0, strlen(text));
	free(copy);
}

struct cf_fields {
	char *user, *password, *hosts, *dbname, *dbpath;
};

static void cf_field(void *arg, const char *k, char *v)
{
	struct cf_fields *f = arg;
	char **slot = NULL;

	if (!strcmp(k, "user"))
		slot = &f->user;
	else if (!strcmp(k, "password"))
		slot = &f->password;
	else if (!strcmp(k, "hosts"))
		slot = &f->hosts;
	else if (!strcmp(k, "dbname"))
		slot = &f->dbname;
	else if (!strcmp(k, "dbpath"))
		slot = &f->dbpath;
	if (slot) {
		free(*slot);
		*slot = xstrdup(v);
	}
}

static void cf_fields_release(struct cf_fields *f)
{
	if (f->password)
		memset(f->password, 0, strlen(f->password));
	free(f->user);
	free(f->password);
	free(f->hosts);
	free(f->dbname);
	free(f->dbpath);
}

/* Turns the fields of a config file into the database it names: SQLite
 * with an absolute dbpath, else MariaDB with dbname and user (the first of
 * several hosts).  Returns 0, or 1 when the fields name no database. */
static int found_from_fields(struct cf_fields *f, struct db_found *out)
{
	db_url_release(&out->url);
	if (f->dbpath && f->dbpath[0] == '/') {
		out->url.engine = DB_SQLITE;
		out->url.path = xstrdup(f->dbpath);
		return 0;
	}
	if (f->dbname && f->user) {
		char *h = f->hosts ? f->hosts : "localhost", *end;

		h += strspn(h, " ,\t");
		end = h + strcspn(h, " ,\t");
		*end = '\0';
		out->url.engine = DB_MARIADB;
		out->url.user = xstrdup(f->user);
		out->url.dbname = xstrdup(f->dbname);
		set_mysql_host(&out->url, *h ? h : "localhost");
		buf_reset(&out->password);
		out->has_password = f->password != NULL;
		if (f->password)
			buf_addstr(&out->password, f->password);
		return 0;
	}
	return 1;
}

int db_parse_postfix_cf(const char *text, struct db_found *out)
{
	struct cf_fields f = { NULL, NULL, NULL, NULL, NULL };
	int rc;

	parse_key_values(text, cf_field, &f);
	rc = found_from_fields(&f, out);
	cf_fields_release(&f);
	return rc;
}

/* Dovecot 2.3: connect = host=127.0.0.1 dbname=mailserver user=u
 * password=p; Dovecot 2.4: a `mysql HOST { user = ... }` block with
 * sql_driver, or sqlite_path. */
int db_parse_dovecot_sql(const char *text, struct db_found *out)
{
	struct cf_fields f = { NULL, NULL, NULL, NULL, NULL };
	char *copy = xstrdup(text), *line, *save = NULL;
	int rc;

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *s = trim(line), *eq;
		if (s[0] == '#')
			continue;
		if (!strncmp(s, "connect", 7) && (eq = strchr(s, '='))) {
			char *tok, *tsave = NULL, *v = trim(eq + 1);
			for (tok = strtok_r(v, " \t", &tsave); tok;
			     tok = strtok_r(NULL, " \t", &tsave)) {
				char *e = strchr(tok, '=');
				if (!e)
					continue;
				*e = '\0';
				if (!strcmp(tok, "host"))
					cf_field(&f, "hosts", trim(e + 1));
				else
					cf_field(&f, tok, trim(e + 1));
			}
			continue;
		}
		if (!strncmp(s, "mysql ", 6) && strchr(s, '{')) {
			char *h = trim(s + 6), *brace = strchr(h, '{');
			*brace = '\0';
			cf_field(&f, "hosts", trim(h));
			continue;
		}
		if (!strncmp(s, "sqlite_path", 11) && (eq = strchr(s, '='))) {
			cf_field(&f, "dbpath", trim(eq + 1));
			continue;
		}
		eq = strchr(s, '=');
		if (eq) {
			*eq = '\0';
			if (!strcmp(trim(s), "user") || !strcmp(trim(s), "password") ||
			    !strcmp(trim(s), "dbname"))
				cf_field(&f, trim(s), trim(eq + 1));
		}
	}
	memset(copy, 0, strlen(text));
	free(copy);
	rc = found_from_fields(&f, out);
	cf_fields_release(&f);
	return rc;
}

int db_parse_postconf_maps(const char *text, struct buf *path)
{
	const char *p = text;

	while (*p) {
		size_t n;
		p += strspn(p, " ,\t\n");
		n = strcspn(p, " ,\t\n");
		if (!n)
			break;
		{
			char *map = xstrndup(p, n), *m = map;
			if (!strncmp(m, "proxy:", 6))
				m += 6;
			if ((!strncmp(m, "mysql:", 6) || !strncmp(m, "sqlite:", 7)) &&
			    strchr(m, '/')) {
				buf_reset(path);
				buf_addstr(path, strchr(m, '/'));
				free(map);
				return 0;
			}
			free(map);
		}
		p += n;
	}
	return 1;
}

/* A PHP string literal starting at p ('...' or "..."), unescaped into
 * val.  Returns 0, or 1 if p is not at a string. */
static int php_string(const char *p, struct buf *val)
{
	char q;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p != '\'' && *p != '"')
		return 1;
	q = *p++;
	buf_reset(val);
	for (; *p && *p != q; p++) {
		if (*p == '\\' && (p[1] == q || p[1] == '\\'))
			p++;
		buf_putc(val, *p);
	}
	return *p == q ? 0 : 1;
}

/* `key` is either a variable "$dbuser" or a config entry "db_dsnw"
 * ($config['db_dsnw'] or the old $rcmail_config['db_dsnw']).  The last
 * assignment wins, as in PHP.  Array values give their first string. */
int db_parse_php_setting(const char *text, const char *key, struct buf *val)
{
	const char *p = text;
	int found = 1;

	while ((p = strstr(p, key))) {
		const char *after = p + strlen(key), *line = p;
		while (line > text && line[-1] != '\n')
			line--;
		/* Skip commented-out lines. */
		while (line < p && isspace((unsigned char)*line))
			line++;
		if (!strncmp(line, "//", 2) || *line == '#' ||
		    !strncmp(line, "/*", 2) || *line == '*') {
			p = after;
			continue;
		}
		if (key[0] == '$') {
			if (isalnum((unsigned char)*after) || *after == '_') {
				p = after;
				continue;
			}
		} else {
			if (p == text || (p[-1] != '\'' && p[-1] != '"') ||
			    (*after != '\'' && *after != '"')) {
				p = after;
				continue;
			}
			after++;
			while (*after && isspace((unsigned char)*after))
				after++;
			if (*after != ']') {
				p = after;
				continue;
			}
			after++;
		}
		while (*after && isspace((unsigned char)*after))
			after++;
		if (*after != '=' || after[1] == '=' || after[1] == '>') {
			p = after;
			continue;
		}
		after++;
		while (*after && isspace((unsigned char)*after))
			after++;
		if (!strncmp(after, "array(", 6))
			after += 6;
		else if (*after == '[')
			after++;
		if (php_string(after, val) == 0)
			found = 0;
		p = after;
	}
	return found;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends s[0..n) with %XX decoded. */
static void url_decode(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 1 && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			buf_putc(out, hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			buf_putc(out, s[i]);
		}
	}
}

/* Roundcube's DSN: mysql://user:pass@host[:port]/db, or
 * sqlite:////absolute/path?mode=0646. */
int db_parse_roundcube_dsn(const char *dsn, struct db_found *out)
{
	const char *p, *at, *slash, *q;
	struct buf tmp = BUF_INIT;

	db_url_release(&out->url);
	if (!strncmp(dsn, "sqlite:", 7)) {
		p = dsn + 7;
		while (p[0] == '/' && p[1] == '/')
			p++;
		q = strchr(p, '?');
		out->url.engine = DB_SQLITE;
		out->url.path = q ? xstrndup(p, (size_t)(q - p)) : xstrdup(p);
		return out->url.path[0] == '/' ? 0 : 1;
	}
	if (!strncmp(dsn, "mysql://", 8))
		p = dsn + 8;
	else if (!strncmp(dsn, "mysqli://", 9))
		p = dsn + 9;
	else
		return 1;
	at = strrchr(p, '@');
	if (!at)
		return 1;
	slash = strchr(at, '/');
	if (!slash)
		return 1;
	{
		const char *colon = memchr(p, ':', (size_t)(at - p));
		url_decode(&tmp, p, (size_t)((colon ? colon : at) - p));
		out->url.user = buf_detach(&tmp);
		buf_reset(&out->password);
		out->has_password = colon != NULL;
		if (colon)
			url_decode(&out->password, colon + 1,
				   (size_t)(at - colon - 1));
	}
	{
		char *h = xstrndup(at + 1, (size_t)(slash - at - 1));
		/* Roundcube writes a socket as host "unix(/path)". */
		if (!strncmp(h, "unix(", 5) && h[strlen(h) - 1] == ')') {
			h[strlen(h) - 1] = '\0';
			out->url.socket = xstrdup(h + 5);
		} else {
			set_mysql_host(&out->url, *h ? h : "localhost");
		}
		free(h);
	}
	q = strchr(slash + 1, '?');
	out->url.dbname = q ? xstrndup(slash + 1, (size_t)(q - slash - 1))
		: xstrdup(slash + 1);
	out->url.engine = DB_MARIADB;
	return *out->url.dbname ? 0 : 1;
}

/* Debian's dbconfig-common file: $dbuser, $dbpass, $dbname, $dbserver,
 * $dbport, $dbtype ('mysql' or 'sqlite3'), $basepath (sqlite). */
int db_parse_roundcube_debian_db(const char *text, struct db_found *out)
{
	struct buf type = BUF_INIT, v = BUF_INIT;
	int rc = 1;

	if (db_parse_php_setting(text, "$dbtype", &type))
		goto out;
	db_url_release(&out->url);
	if (!strcmp(type.data, "sqlite3") || !strcmp(type.data, "sqlite")) {
		struct buf path = BUF_INIT;
		if (db_parse_php_setting(text, "$basepath", &v) == 0 && v.len)
			buf_printf(&path, "%s/", v.data);
		if (db_parse_php_setting(text, "$dbname", &v) || !v.len) {
			buf_release(&path);
			goto out;
		}
		buf_addstr(&path, v.data);
		out->url.engine = DB_SQLITE;
		out->url.path = buf_detach(&path);
		rc = out->url.path[0] == '/' ? 0 : 1;
		goto out;
	}
	if (strcmp(type.data, "mysql") && strcmp(type.data, "mysqli"))
		goto out;
	out->url.engine = DB_MARIADB;
	if (db_parse_php_setting(text, "$dbuser", &v) || !v.len)
		goto out;
	out->url.user = xstrdup(v.data);
	if (db_parse_php_setting(text, "$dbname", &v) || !v.len)
		goto out;
	out->url.dbname = xstrdup(v.data);
	buf_reset(&out->password);
	out->has_password = db_parse_php_setting(text, "$dbpass", &out->password) == 0;
	if (db_parse_php_setting(text, "$dbserver", &v) || !v.len)
		buf_addstr(&v, "localhost");
	{
		struct buf h = BUF_INIT;
		struct buf port = BUF_INIT;
		buf_addstr(&h, v.data);
		if (db_parse_php_setting(text, "$dbport", &port) == 0 &&
		    port.len && strcmp(h.data, "localhost"))
			buf_printf(&h, ":%s", port.data);
		set_mysql_host(&out->url, h.data);
		buf_release(&h);
		buf_release(&port);
	}
	rc = 0;
out:
	buf_release(&type);
	buf_release(&v);
	return rc;
}

int db_parse_imap_host(const char *config_inc, struct buf *host)
{
	struct buf v = BUF_INIT;
	const char *h, *end;
	int rc = 1;

	if (db_parse_php_setting(config_inc, "imap_host", &v) &&
	    db_parse_php_setting(config_inc, "default_host", &v))
		goto out;
	h = v.data;
	if (strstr(h, "://"))
		h = strstr(h, "://") + 3;
	end = h + strcspn(h, ":/");
	/* Placeholders (%n, %d...) name no single host. */
	if (end == h || memchr(h, '%', (size_t)(end - h)))
		goto out;
	buf_reset(host);
	buf_add(host, h, (size_t)(end - h));
	rc = 0;
out:
	buf_release(&v);
	return rc;
}

static int found_file(struct db_found *out, const char *path)
{
	free(out->file);
	out->file = xstrdup(path);
	return 0;
}

int db_discover_mailserver(const struct cfg_reader *r, struct db_found *out)
{
	static char *const keys[] = { "virtual_mailbox_domains",
		"virtual_mailbox_maps", "virtual_alias_maps", NULL };
	static const char *const known[] = {
		"/etc/postfix/mariadb-virtual-mailbox-maps.cf",
		"/etc/postfix/mysql-virtual-mailbox-maps.cf",
		"/etc/postfix/sqlite-virtual-mailbox-maps.cf",
		"/etc/postfix/mariadb-virtual-mailbox-domains.cf",
		"/etc/postfix/mysql-virtual-mailbox-domains.cf",
		"/etc/postfix/sqlite-virtual-mailbox-domains.cf",
		"/etc/postfix/mysql-virtual-alias-maps.cf",
		"/etc/postfix/mariadb-virtual-alias-maps.cf",
		"/etc/postfix/sqlite-virtual-alias-maps.cf",
		"/etc/dovecot/dovecot-sql.conf.ext",
		"/etc/dovecot/conf.d/99-ispmail-sql.conf",
		NULL,
	};
	struct buf text, path = BUF_INIT;
	int rc, i;

	buf_init(&text, CFG_MAX);
	if (r->postconf) {
		rc = r->postconf(r->arg, keys, &text);
		if (rc < 0)
			goto lost;
		if (rc == 0 && db_parse_postconf_maps(buf_cstr(&text), &path) == 0) {
			rc = r->read(r->arg, path.data, &text);
			if (rc < 0)
				goto lost;
			if (rc == 0 && db_parse_postfix_cf(buf_cstr(&text), out) == 0) {
				found_file(out, path.data);
				goto found;
			}
		}
	}
	for (i = 0; known[i]; i++) {
		rc = r->read(r->arg, known[i], &text);
		if (rc < 0)
			goto lost;
		if (rc)
			continue;
		if ((strstr(known[i], "dovecot")
		     ? db_parse_dovecot_sql(buf_cstr(&text), out)
		     : db_parse_postfix_cf(buf_cstr(&text), out)) == 0) {
			found_file(out, known[i]);
			goto found;
		}
	}
	rc = 1;
	goto out;
found:
	rc = 0;
	goto out;
lost:
	rc = -1;
out:
	if (text.data)
		memset(text.data, 0, text.cap);
	buf_release(&text);
	buf_release(&path);
	return rc;
}

int db_discover_roundcube(const struct cfg_reader *r, struct db_found *out)
{
	struct buf text, v = BUF_INIT;
	int rc;

	buf_init(&text, CFG_MAX);
	rc = r->read(r->arg, "/etc/roundcube/debian-db.php", &text);
	if (rc < 0)
		goto out;
	if (rc == 0 && db_parse_roundcube_debian_db(buf_cstr(&text), out) == 0) {
		found_file(out, "/etc/roundcube/debian-db.php");
		goto out;
	}
	rc = r->read(r->arg, "/etc/roundcube/config.inc.php", &text);
	if (rc < 0)
		goto out;
	if (rc == 0 && db_parse_php_setting(buf_cstr(&text), "db_dsnw", &v) == 0 &&
	    db_parse_roundcube_dsn(v.data, out) == 0) {
		found_file(out, "/etc/roundcube/config.inc.php");
		goto out;
	}
	rc = 1;
out:
	if (text.data)
		memset(text.data, 0, text.cap);
	if (v.data)
		memset(v.data, 0, v.cap);
	buf_release(&text);
	buf_release(&v);
	return rc;
}

int db_discover_mail_host(const struct cfg_reader *r, struct buf *host)
{
	struct buf text;
	int rc;

	buf_init(&text, CFG_MAX);
	rc = r->read(r->arg, "/etc/roundcube/config.inc.php", &text);
	if (rc == 0)
		rc = db_parse_imap_host(buf_cstr(&text), host);
	else if (rc > 0)
		rc = 1;
	buf_release(&text);
	return rc;
}

/* ---- reading configuration on either server ---- */

/* Reads root/path on this machine (a regular file of at most 1 MiB). */
static int local_read(void *arg, const char *path, struct buf *out)
{
	return fs_read_under(arg, path, out, CFG_MAX);
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
	const char *root = arg;
	char *argv[8];
	int i = 0;

	if (strcmp(root, "/"))
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
	return remote_read_file(arg, path, out, CFG_MAX, NULL);
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
		return MM_LOST;
	return rc == 0 && status == 0 ? 0 : 1;
}

void cfg_reader_local(struct cfg_reader *r, const char *root)
{
	r->read = local_read;
	r->postconf = local_postconf;
	r->arg = (void *)root;
}

void cfg_reader_remote(struct cfg_reader *r, struct endpoint *ep)
{
	r->read = remote_cfg_read;
	r->postconf = remote_postconf;
	r->arg = ep;
}
