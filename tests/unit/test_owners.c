/* test_owners.c: passwd/group parsing and owner mapping by name. */
#include <stdint.h>
#include <string.h>

#include "../../src/owners.h"
#include "unit.h"

static const char old_passwd[] =
	"# a comment\n"
	"root:x:0:0:root:/root:/bin/bash\n"
	"\n"
	"vmail:x:5000:5000::/var/vmail:/usr/sbin/nologin\n"
	"_rspamd:x:108:115::/var/lib/rspamd:/usr/sbin/nologin\r\n"
	"+nisuser::::::\n"
	"-excluded:x:77:77::/:/bin/false\n"
	"broken-no-id:x::0::/:/bin/false\n"
	"negative:x:-1:0::/:/bin/false\n"
	"spaced:x: 12:0::/:/bin/false\n"
	"huge:x:4294967296:0::/:/bin/false\n"
	"max:x:4294967295:0::/:/bin/false\n"
	"text:x:12ab:0::/:/bin/false\n"
	"vmail:x:5001:5001:duplicate name:/:/bin/false\n"
	"last:x:42:42::/:/bin/false";		/* no final newline */
static const char old_group[] =
	"root:x:0:\n"
	"vmail:x:5000:\n"
	"_rspamd:x:115:\n"
	"short:x:200\n"			/* no members field at all */
	"adm:x:4:syslog,alice\n";
static const char new_passwd[] =
	"root:x:0:0:root:/root:/bin/bash\n"
	"_rspamd:x:104:105::/var/lib/rspamd:/usr/sbin/nologin\n"
	"vmail:x:996:996::/var/vmail:/usr/sbin/nologin\n";
static const char new_group[] =
	"root:x:0:\n"
	"_rspamd:x:105:\n"
	"vmail:x:996:\n";

static void test_parse(void)
{
	struct idmap m;
	uint32_t id = 0;

	idmap_parse(&m, old_passwd, strlen(old_passwd), old_group,
		    strlen(old_group));
	CHECK_STR(idmap_user_name(&m, 0), "root");
	CHECK_STR(idmap_user_name(&m, 5000), "vmail");
	CHECK_STR(idmap_user_name(&m, 108), "_rspamd");
	CHECK(idmap_user_id(&m, "_rspamd", &id) == 0 && id == 108);
	/* The first entry of a name wins, as getpwnam() would see it. */
	CHECK(idmap_user_id(&m, "vmail", &id) == 0 && id == 5000);
	CHECK_STR(idmap_user_name(&m, 5001), "vmail");
	CHECK_STR(idmap_user_name(&m, 42), "last");
	CHECK_STR(idmap_user_name(&m, 4294967295u), "max");
	/* NIS lines, empty, negative, spaced, too large or non-numeric ids
	 * are no entries. */
	CHECK(idmap_user_id(&m, "+nisuser", &id) < 0);
	CHECK(idmap_user_id(&m, "-excluded", &id) < 0);
	CHECK(idmap_user_id(&m, "broken-no-id", &id) < 0);
	CHECK(idmap_user_id(&m, "negative", &id) < 0);
	CHECK(idmap_user_id(&m, "spaced", &id) < 0);
	CHECK(idmap_user_id(&m, "huge", &id) < 0);
	CHECK(idmap_user_id(&m, "text", &id) < 0);
	CHECK(idmap_user_id(&m, "# a comment", &id) < 0);
	CHECK(idmap_user_name(&m, 77) == NULL);
	CHECK(idmap_user_name(&m, 12) == NULL);

	CHECK_STR(idmap_group_name(&m, 115), "_rspamd");
	CHECK_STR(idmap_group_name(&m, 4), "adm");
	CHECK(idmap_group_id(&m, "short", &id) == 0 && id == 200);
	CHECK(idmap_group_id(&m, "nobody", &id) < 0);
	idmap_release(&m);
	CHECK(m.nusers == 0 && m.users == NULL);
}

static void test_map(void)
{
	struct idmap src, dst, dst_bare;
	struct owner_map om;
	struct buf why = BUF_INIT;
	uint32_t u = 1, g = 1;

	idmap_parse(&src, old_passwd, strlen(old_passwd), old_group,
		    strlen(old_group));
	idmap_parse(&dst, new_passwd, strlen(new_passwd), new_group,
		    strlen(new_group));
	idmap_parse(&dst_bare, "root:x:0:0::/:/bin/sh\n", 22, "root:x:0:\n",
		    10);
	memset(&om, 0, sizeof om);
	om.src = &src;
	om.dst = &dst;

	CHECK(owner_map_ids(&om, 108, 115, &u, &g, &why) == 0);
	CHECK(u == 104 && g == 105);
	CHECK(owner_map_ids(&om, 5000, 5000, &u, &g, &why) == 0);
	CHECK(u == 996 && g == 996);
	CHECK(owner_map_ids(&om, 0, 0, &u, &g, &why) == 0);
	CHECK(u == 0 && g == 0);
	/* No name on the old server: the number is kept. */
	CHECK(owner_map_ids(&om, 3333, 4444, &u, &g, &why) == 0);
	CHECK(u == 3333 && g == 4444);
	/* A name the destination lacks is an error, with a reason. */
	buf_reset(&why);
	CHECK(owner_map_ids(&om, 42, 0, &u, &g, &why) < 0);
	CHECK(strstr(buf_cstr(&why), "user last (uid 42") != NULL);
	buf_reset(&why);
	CHECK(owner_map_ids(&om, 0, 4, &u, &g, &why) < 0);
	CHECK(strstr(buf_cstr(&why), "group adm (gid 4") != NULL);
	om.dst = &dst_bare;
	buf_reset(&why);
	CHECK(owner_map_ids(&om, 108, 115, &u, &g, &why) < 0);
	CHECK(strstr(buf_cstr(&why), "_rspamd") != NULL);
	/* Forced owners ignore names. */
	om.forced = 1;
	om.force_uid = 7;
	om.force_gid = 8;
	CHECK(owner_map_ids(&om, 42, 4, &u, &g, &why) == 0);
	CHECK(u == 7 && g == 8);

	CHECK(owner_parse_chown(&dst, "_rspamd:_rspamd", &u, &g) == 0);
	CHECK(u == 104 && g == 105);
	CHECK(owner_parse_chown(&dst, "12:vmail", &u, &g) == 0);
	CHECK(u == 12 && g == 996);
	CHECK(owner_parse_chown(&dst, "nobody:root", &u, &g) < 0);
	CHECK(owner_parse_chown(&dst, "root", &u, &g) < 0);
	CHECK(owner_parse_chown(&dst, ":root", &u, &g) < 0);
	CHECK(owner_parse_chown(&dst, "root:", &u, &g) < 0);

	buf_release(&why);
	idmap_release(&src);
	idmap_release(&dst);
	idmap_release(&dst_bare);
}

int main(void)
{
	test_parse();
	test_map();
	return unit_done("owners");
}
