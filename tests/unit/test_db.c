/* test_db.c: database URLs, the configuration parsers of db_discover.c,
 * and the order-independent row checksum. */
#include "unit.h"

#include "buf.h"
#include "db.h"
#include "db_discover.h"

static void test_urls(void)
{
	struct db_url u;
	struct buf b = BUF_INIT;

	CHECK(db_url_parse(&u, "sqlite:/var/lib/x.sqlite") == 0);
	CHECK(u.engine == DB_SQLITE);
	CHECK_STR(u.path, "/var/lib/x.sqlite");
	db_url_release(&u);
	CHECK(db_url_parse(&u, "mysql://mailadmin@db.example:3307/mailserver") == 0);
	CHECK(u.engine == DB_MARIADB);
	CHECK_STR(u.user, "mailadmin");
	CHECK_STR(u.host, "db.example");
	CHECK(u.port == 3307);
	CHECK_STR(u.dbname, "mailserver");
	db_url_format(&u, &b);
	CHECK_STR(b.data, "mysql://mailadmin@db.example:3307/mailserver");
	db_url_release(&u);
	CHECK(db_url_parse(&u, "mysql://root@/roundcube?socket=/run/mysqld/mysqld.sock") == 0);
	CHECK(u.host == NULL);
	CHECK_STR(u.socket, "/run/mysqld/mysqld.sock");
	db_url_release(&u);
	/* A password, a bad port, a bad name, an unknown scheme: refused. */
	CHECK(db_url_parse(&u, "mysql://u:secret@h/db") < 0);
	db_url_release(&u);
	CHECK(db_url_parse(&u, "mysql://u@h:99999/db") < 0);
	db_url_release(&u);
	CHECK(db_url_parse(&u, "mysql://u@h/d;b") < 0);
	db_url_release(&u);
	CHECK(db_url_parse(&u, "postgres://u@h/db") < 0);
	db_url_release(&u);
	CHECK(db_url_parse(&u, "mysql://u@/db?socket=relative") < 0);
	db_url_release(&u);
	buf_release(&b);
}

static void test_postfix(void)
{
	struct db_found f;
	struct buf p = BUF_INIT;

	db_found_init(&f);
	CHECK(db_parse_postfix_cf("# comment\nuser = mailserver\n"
				  "password = x$y'z\nhosts = 127.0.0.1\n"
				  "dbname = mailserver\nquery = SELECT 1 "
				  "FROM virtual_domains WHERE name='%s'\n", &f) == 0);
	CHECK(f.url.engine == DB_MARIADB);
	CHECK_STR(f.url.user, "mailserver");
	CHECK_STR(f.url.host, "127.0.0.1");
	CHECK_STR(f.url.dbname, "mailserver");
	CHECK(f.has_password);
	CHECK_STR(buf_cstr(&f.password), "x$y'z");
	CHECK(db_parse_postfix_cf("user=u\npassword=p\nhosts = unix:/run/mysqld/mysqld.sock\ndbname=d\n", &f) == 0);
	CHECK_STR(f.url.socket, "/run/mysqld/mysqld.sock");
	CHECK(db_parse_postfix_cf("user=u\nhosts = inet:db.example:3307 other\ndbname=d\n", &f) == 0);
	CHECK_STR(f.url.host, "db.example");
	CHECK(f.url.port == 3307);
	CHECK(!f.has_password);
	CHECK(db_parse_postfix_cf("user=u\nhosts = localhost\ndbname=d\n", &f) == 0);
	CHECK_STR(f.url.socket, "/run/mysqld/mysqld.sock");
	CHECK(db_parse_postfix_cf("dbpath = /var/vmail/ispmail.sqlite\nquery = x\n", &f) == 0);
	CHECK(f.url.engine == DB_SQLITE);
	CHECK_STR(f.url.path, "/var/vmail/ispmail.sqlite");
	CHECK(db_parse_postfix_cf("query = SELECT 1\n", &f) == 1);
	db_found_release(&f);

	CHECK(db_parse_postconf_maps("$virtual_mailbox_maps\n"
				     "proxy:mysql:/etc/postfix/m.cf, hash:/x\n", &p) == 0);
	CHECK_STR(p.data, "/etc/postfix/m.cf");
	CHECK(db_parse_postconf_maps("hash:/etc/postfix/virtual\n", &p) == 1);
	buf_release(&p);
}

static void test_dovecot(void)
{
	struct db_found f;

	db_found_init(&f);
	CHECK(db_parse_dovecot_sql("driver = mysql\nconnect = \"host=127.0.0.1 "
				   "dbname=mailserver user=mailserver "
				   "password=pw\"\n", &f) == 0);
	CHECK_STR(f.url.user, "mailserver");
	CHECK_STR(f.url.host, "127.0.0.1");
	CHECK_STR(buf_cstr(&f.password), "pw");
	CHECK(db_parse_dovecot_sql("sql_driver = mysql\nmysql 127.0.0.1 {\n"
				   "  user = mailserver\n  password = p2\n"
				   "  dbname = mailserver\n}\n", &f) == 0);
	CHECK_STR(buf_cstr(&f.password), "p2");
	CHECK_STR(f.url.dbname, "mailserver");
	db_found_release(&f);
}

static void test_roundcube(void)
{
	struct db_found f;
	struct buf h = BUF_INIT;

	db_found_init(&f);
	CHECK(db_parse_roundcube_debian_db("<?php\n$dbuser='roundcube';\n"
		"$dbpass='p\\'w';\n$basepath='';\n$dbname='roundcube';\n"
		"$dbserver='localhost';\n$dbport='3306';\n$dbtype='mysql';\n",
		&f) == 0);
	CHECK_STR(f.url.user, "roundcube");
	CHECK_STR(buf_cstr(&f.password), "p'w");
	CHECK_STR(f.url.socket, "/run/mysqld/mysqld.sock");
	CHECK(db_parse_roundcube_debian_db("$dbname='rc.db';\n"
		"$basepath='/var/lib/dbconfig-common/sqlite3/roundcube';\n"
		"$dbtype='sqlite3';\n", &f) == 0);
	CHECK(f.url.engine == DB_SQLITE);
	CHECK_STR(f.url.path, "/var/lib/dbconfig-common/sqlite3/roundcube/rc.db");
	CHECK(db_parse_roundcube_dsn("mysql://rc:p%40ss@db.example:3307/roundcubemail", &f) == 0);
	CHECK_STR(buf_cstr(&f.password), "p@ss");
	CHECK(f.url.port == 3307);
	CHECK_STR(f.url.dbname, "roundcubemail");
	CHECK(db_parse_roundcube_dsn("sqlite:////var/lib/roundcube/db.sqlite?mode=0646", &f) == 0);
	CHECK_STR(f.url.path, "/var/lib/roundcube/db.sqlite");
	db_found_release(&f);

	CHECK(db_parse_imap_host("// $config['imap_host'] = 'no';\n"
				 "$config['imap_host'] = 'ssl://mail.example.org:993';\n", &h) == 0);
	CHECK_STR(h.data, "mail.example.org");
	CHECK(db_parse_imap_host("$config['default_host'] = array('tls://imap.example.net');\n", &h) == 0);
	CHECK_STR(h.data, "imap.example.net");
	CHECK(db_parse_imap_host("$config['imap_host'] = 'localhost:143';\n", &h) == 0);
	CHECK_STR(h.data, "localhost");
	CHECK(db_parse_imap_host("$config['imap_host'] = '%n';\n", &h) == 1);
	buf_release(&h);
}

static void test_checksum(void)
{
	struct db_value r1[3] = { { "1", 1 }, { NULL, 0 }, { "a\0b", 3 } };
	struct db_value r2[3] = { { "2", 1 }, { "", 0 }, { "x", 1 } };
	struct db_value r3[3] = { { "1", 1 }, { "", 0 }, { "a\0b", 3 } };
	struct db_sum a = { 0, 0, 0 }, b = { 0, 0, 0 }, c = { 0, 0, 0 };
	struct buf scratch = BUF_INIT;
	uint64_t hi, lo;
	char hex[33];

	db_row_hash(r1, 3, &scratch, &hi, &lo);
	db_sum_add(&a, hi, lo);
	db_row_hash(r2, 3, &scratch, &hi, &lo);
	db_sum_add(&a, hi, lo);
	/* The other order: the same sum. */
	db_row_hash(r2, 3, &scratch, &hi, &lo);
	db_sum_add(&b, hi, lo);
	db_row_hash(r1, 3, &scratch, &hi, &lo);
	db_sum_add(&b, hi, lo);
	CHECK(db_sum_equal(&a, &b));
	/* NULL and '' differ. */
	db_row_hash(r3, 3, &scratch, &hi, &lo);
	db_sum_add(&c, hi, lo);
	db_row_hash(r2, 3, &scratch, &hi, &lo);
	db_sum_add(&c, hi, lo);
	CHECK(!db_sum_equal(&a, &c));
	db_sum_hex(&a, hex);
	CHECK(strlen(hex) == 32);
	buf_release(&scratch);
}

int main(void)
{
	test_urls();
	test_postfix();
	test_dovecot();
	test_roundcube();
	test_checksum();
	return unit_done("test_db");
}
