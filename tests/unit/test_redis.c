/* test_redis.c: Redis addresses, rspamd's redis.conf, history names and
 * key quoting (the parts of redis.c without a server). */
#include <string.h>

#include "buf.h"
#include "redis.h"
#include "unit.h"

static void test_addr(void)
{
	struct redis_addr a;
	struct buf t = BUF_INIT;
	const char *why;

	redis_addr_init(&a);
	CHECK(redis_addr_parse(&a, "redis://127.0.0.1:6380/2", 0, &why) == 0);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK(a.port == 6380 && a.db == 2 && !a.path);
	redis_addr_target(&a, &t);
	CHECK_STR(t.data, "tcp:127.0.0.1:6380");
	CHECK(redis_addr_parse(&a, "redis://localhost", 0, &why) == 0);
	CHECK(a.port == 6379 && a.db == -1);
	CHECK(redis_addr_parse(&a, "redis://[::1]:7000/", 0, &why) == 0);
	CHECK_STR(a.host, "::1");
	redis_addr_target(&a, &t);
	CHECK_STR(t.data, "tcp:[::1]:7000");
	CHECK(redis_addr_parse(&a, "unix:/run/redis/redis.sock", 0, &why) == 0);
	CHECK_STR(a.path, "/run/redis/redis.sock");
	redis_addr_target(&a, &t);
	CHECK_STR(t.data, "unix:/run/redis/redis.sock");
	/* rspamd's forms only when loose */
	CHECK(redis_addr_parse(&a, "/run/redis.sock", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "/run/redis.sock", 1, &why) == 0);
	CHECK(redis_addr_parse(&a, "10.0.0.1:6390", 1, &why) == 0);
	CHECK(a.port == 6390);
	CHECK(redis_addr_parse(&a, "10.0.0.1:6390", 0, &why) < 0);
	/* refused */
	CHECK(redis_addr_parse(&a, "redis://:secret@host:6379", 0, &why) < 0);
	CHECK(strstr(why, "password-file") != NULL);
	CHECK(redis_addr_parse(&a, "redis://host:0", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "redis://host:65536", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "redis://host:x", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "redis://host:1/x", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "redis://:6379", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "unix:relative", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "redis://::1:6379", 0, &why) < 0);
	CHECK(redis_addr_parse(&a, "tcp:host:1", 0, &why) < 0);
	redis_addr_release(&a);
	buf_release(&t);
}

static void test_conf(void)
{
	struct redis_conf c;
	static const char conf1[] =
		"# rspamd's redis\n"
		"/* servers = \"commented:1\"; */\n"
		"// servers = \"commented:2\";\n"
		"servers = \"127.0.0.1:6390, 10.0.0.2\";\n"
		"password = \"p\\\"w\";   # trailing\n"
		"db = \"3\";\n";
	static const char conf2[] =
		"read_servers = \"10.0.0.9\";\n"
		"write_servers = [\"/run/redis/rspamd.sock\"];\n"
		"username = rspamd;\n";
	static const char bayes[] =
		"backend = \"redis\";\n"
		"statfile {\n  symbol = \"BAYES_SPAM\";\n}\n"
		"servers = 10.1.1.1:6379;\n";

	redis_conf_init(&c);
	CHECK(redis_conf_parse(&c, conf1, strlen(conf1)) == 1);
	CHECK(c.has_addr && c.addr.port == 6390);
	CHECK_STR(c.addr.host, "127.0.0.1");
	CHECK_STR(c.password, "p\"w");
	CHECK(c.db == 3);
	/* a later (weaker) file fills only what is missing */
	CHECK(redis_conf_parse(&c, conf2, strlen(conf2)) == 0);
	CHECK_STR(c.addr.host, "127.0.0.1");
	CHECK_STR(c.username, "rspamd");
	redis_conf_release(&c);

	redis_conf_init(&c);
	CHECK(redis_conf_parse(&c, conf2, strlen(conf2)) == 1);
	CHECK_STR(c.addr.path, "/run/redis/rspamd.sock");	/* write wins */
	CHECK(c.db == -1);
	redis_conf_release(&c);

	redis_conf_init(&c);
	CHECK(redis_conf_parse(&c, bayes, strlen(bayes)) == 1);
	CHECK_STR(c.addr.host, "10.1.1.1");
	CHECK(c.password == NULL);
	redis_conf_release(&c);

	redis_conf_init(&c);
	CHECK(redis_conf_parse(&c, "servers = \"a:b:c\";", 18) == -1);
	redis_conf_release(&c);
	redis_conf_init(&c);
	CHECK(redis_conf_parse(&c, "password = \"unterminated", 24) == 0);
	CHECK(!c.has_addr);
	redis_conf_release(&c);
}

static void test_history(void)
{
	struct buf o = BUF_INIT;

	CHECK(redis_history_rename_key("old.org", "new.org", "rs_historyold.org",
				       17, &o) == 1);
	CHECK_STR(buf_cstr(&o), "rs_historynew.org");
	CHECK(redis_history_rename_key("old.org", "new.org",
				       "rs_historyold.org_zst", 21, &o) == 1);
	CHECK_STR(buf_cstr(&o), "rs_historynew.org_zst");
	CHECK(redis_history_rename_key("old.org", "new.org",
				       "rs_historyold.orgx", 18, &o) == 0);
	CHECK(redis_history_rename_key("old.org", "new.org", "rs_history", 10,
				       &o) == 0);
	CHECK(redis_history_rename_key("old.org", "new.org", "xs_historyold.org",
				       17, &o) == 0);
	CHECK(redis_history_rename_key(NULL, NULL, "rs_historyold.org", 17,
				       &o) == 0);
	CHECK(redis_history_rename_member("old.org", "new.org", "old.org_zst",
					  11, &o) == 1);
	CHECK_STR(buf_cstr(&o), "new.org_zst");
	CHECK(redis_history_rename_member("old.org", "new.org", "other.org", 9,
					  &o) == 0);
	buf_release(&o);
}

static void test_quote(void)
{
	struct buf o = BUF_INIT;

	redis_quote(&o, "a\0b\xff\\c", 6);
	CHECK_STR(buf_cstr(&o), "a\\x00b\\xff\\\\c");
	buf_release(&o);
}

int main(void)
{
	test_addr();
	test_conf();
	test_history();
	test_quote();
	return unit_done("test_redis");
}
