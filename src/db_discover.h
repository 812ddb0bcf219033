/*
 * db_discover.h: finding a server's databases and their credentials in the
 * server's own configuration, so that no password is ever typed on a
 * command line.
 *
 * The mailserver database: the maps Postfix uses (`postconf -h
 * virtual_mailbox_domains virtual_mailbox_maps virtual_alias_maps`), their
 * lookup files (mysql-*.cf, mariadb-*.cf, sqlite-*.cf: user, password,
 * hosts, dbname, dbpath), else the well-known file names, else Dovecot's
 * SQL configuration.  Roundcube: /etc/roundcube/debian-db.php, else
 * config.inc.php's db_dsnw.  The IMAP host Roundcube stores in
 * users.mail_host: config.inc.php's imap_host (1.6) or default_host (1.4).
 *
 * The same code reads the old server (through the agent) and this one
 * (under --to), through struct cfg_reader.
 */
#ifndef MM_DB_DISCOVER_H
#define MM_DB_DISCOVER_H

#include "buf.h"
#include "db.h"

struct endpoint;

struct cfg_reader {
	/* Reads a file by its absolute path on that server: 0, a positive
	 * errno (missing, unreadable), or -1 (connection lost). */
	int (*read)(void *arg, const char *path, struct buf *out);
	/* `postconf -h KEY...` there: 0 with the output, > 0 when postconf
	 * cannot answer, -1 connection lost.  May be NULL. */
	int (*postconf)(void *arg, char *const *keys, struct buf *out);
	void *arg;
};

/* This machine's files under `root` ("/" or --to; postconf only for
 * "/"), read as regular files only (fsops.h); `root` must outlive r. */
void cfg_reader_local(struct cfg_reader *r, const char *root);
/* The old server's, through its agent (or a --from DIR root). */
void cfg_reader_remote(struct cfg_reader *r, struct endpoint *ep);

/* What a configuration file says about one database. */
struct db_found {
	struct db_url url;
	struct buf password;
	int has_password;
	char *file;		/* the file that said so */
};
void db_found_init(struct db_found *f);
void db_found_release(struct db_found *f);

/* 0 found, 1 nothing found (nothing logged), -1 connection lost. */
int db_discover_mailserver(const struct cfg_reader *r, struct db_found *out);
int db_discover_roundcube(const struct cfg_reader *r, struct db_found *out);
int db_discover_mail_host(const struct cfg_reader *r, struct buf *host);

/* The parsers, for the unit tests.  Each returns 0 when the text names a
 * database (or host), 1 when it does not. */
int db_parse_postfix_cf(const char *text, struct db_found *out);
int db_parse_dovecot_sql(const char *text, struct db_found *out);
int db_parse_roundcube_debian_db(const char *text, struct db_found *out);
int db_parse_roundcube_dsn(const char *dsn, struct db_found *out);
int db_parse_php_setting(const char *text, const char *key, struct buf *val);
int db_parse_imap_host(const char *config_inc, struct buf *host);
/* Picks the first mysql: or sqlite: lookup file out of postconf's output. */
int db_parse_postconf_maps(const char *text, struct buf *path);

#endif
