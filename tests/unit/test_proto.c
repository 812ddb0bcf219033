/* test_proto.c: frames, the decoder's bounds, name and path checks. */
#include "unit.h"

#include "buf.h"
#include "endpoint.h"
#include "proto.h"
#include "remote.h"

static void test_names(void)
{
	CHECK(mm_name_valid("cur", 3));
	CHECK(mm_name_valid("1700000000.M1P2.host,S=12:2,S", 29));
	CHECK(mm_name_valid("a\nb", 3));	/* legal on disk, kept */
	CHECK(mm_name_valid(".Entw&APw-rfe", 13));
	CHECK(!mm_name_valid("", 0));
	CHECK(!mm_name_valid(".", 1));
	CHECK(!mm_name_valid("..", 2));
	CHECK(!mm_name_valid("a/b", 3));
	CHECK(!mm_name_valid("a\0b", 3));
	{
		char longname[300];
		memset(longname, 'x', sizeof longname);
		CHECK(mm_name_valid(longname, 255));
		CHECK(!mm_name_valid(longname, 256));
	}
	CHECK(mm_relpath_valid("", 0));
	CHECK(mm_relpath_valid("/", 1));
	CHECK(mm_relpath_valid("/var/vmail", 10));
	CHECK(mm_relpath_valid("var/vmail", 9));
	CHECK(!mm_relpath_valid("var//vmail", 10));
	CHECK(!mm_relpath_valid("var/vmail/", 10));
	CHECK(!mm_relpath_valid("/var/../etc", 11));
	CHECK(!mm_relpath_valid("./x", 3));
	CHECK(!mm_relpath_valid("//x", 3));
}

static void test_frames(void)
{
	struct buf b = BUF_INIT;
	struct frame f;
	struct rd r;
	const char *why, *s;
	size_t off, n;
	struct mm_stat st = { 0100644, 5000, 5000, 2, 1234, 99, 7, -5, 999999999 }, st2;

	off = frame_start(&b, MT_FILE, 0x01020304);
	pk_u32(&b, 7);
	pk_u64(&b, 0x1122334455667788ull);
	pk_cstr(&b, "name");
	pk_stat(&b, &st);
	CHECK(frame_finish(&b, off) == 0);
	CHECK(frame_header((unsigned char *)b.data, &f, &why) == 0);
	CHECK(f.type == MT_FILE && f.id == 0x01020304);
	CHECK(f.len == b.len - MM_FRAME_HDR);
	rd_init(&r, b.data + MM_FRAME_HDR, f.len);
	CHECK(rd_u32(&r) == 7);
	CHECK(rd_u64(&r) == 0x1122334455667788ull);
	CHECK(rd_str(&r, &s, &n, 10) == 0 && n == 4 && !memcmp(s, "name", 4));
	rd_stat(&r, &st2);
	CHECK(!r.err && r.left == 0);
	CHECK(st2.mtime_s == -5 && st2.mtime_ns == 999999999 && st2.size == 1234);
	/* Reading past the end is sticky and returns zeros. */
	CHECK(rd_u32(&r) == 0 && r.err);

	/* A string longer than its cap is refused before it is touched. */
	buf_reset(&b);
	pk_cstr(&b, "toolong");
	rd_init(&r, b.data, b.len);
	CHECK(rd_str(&r, &s, &n, 3) < 0 && r.err);
	/* A length beyond the payload is refused. */
	buf_reset(&b);
	pk_u32(&b, 1000);
	rd_init(&r, b.data, b.len);
	CHECK(rd_str(&r, &s, &n, 4096) < 0);
	/* NUL inside a string for rd_strdup. */
	buf_reset(&b);
	pk_str(&b, "a\0b", 3);
	rd_init(&r, b.data, b.len);
	CHECK(rd_strdup(&r, 10) == NULL);

	/* Headers: oversize and unknown types. */
	{
		unsigned char h[9] = { 0, 0x10, 0, 1, MT_DATA, 0, 0, 0, 1 };
		CHECK(frame_header(h, &f, &why) < 0);
		h[1] = 0; h[4] = 250;
		CHECK(frame_header(h, &f, &why) < 0);
		h[4] = MT_DATA;
		CHECK(frame_header(h, &f, &why) == 0 && f.len == 1);
	}
	buf_release(&b);
}

static void test_buf_cap(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK(buf_addstr(&b, "12345678") == 0);
	CHECK(buf_addstr(&b, "9") < 0);
	CHECK(b.len == 8);
	CHECK(buf_printf(&b, "%d", 1) < 0);
	buf_consume(&b, 3);
	CHECK_STR(buf_cstr(&b), "45678");
	buf_release(&b);
	CHECK_STR(buf_cstr(&b), "");
}

static void test_parse_from(void)
{
	char *user, *host;
	int port;

	CHECK(ep_parse_from("root@old.example.org", &user, &host, &port) == 0);
	CHECK_STR(user, "root");
	CHECK_STR(host, "old.example.org");
	CHECK(port == 0);
	free(user); free(host);
	CHECK(ep_parse_from("old:2222", &user, &host, &port) == 0);
	CHECK(user == NULL && port == 2222);
	CHECK_STR(host, "old");
	free(host);
	CHECK(ep_parse_from("admin@[::1]:22", &user, &host, &port) == 0);
	CHECK_STR(host, "::1");
	CHECK(port == 22);
	free(user); free(host);
	CHECK(ep_parse_from("/mnt/old", &user, &host, &port) == 1);
	CHECK(ep_parse_from("old:99999", &user, &host, &port) < 0);
	CHECK(ep_parse_from("old:x", &user, &host, &port) < 0);
	CHECK(ep_parse_from("-oProxyCommand=x", &user, &host, &port) < 0);
	CHECK(ep_parse_from("@host", &user, &host, &port) < 0);
	CHECK(ep_parse_from("", &user, &host, &port) < 0);
}

static int count_cb(void *arg, const struct rentry *e)
{
	(*(int *)arg)++;
	(void)e;
	return 0;
}

/* A listing from memory: good records pass, a bad name ends it. */
static void test_list_from_memory(void)
{
	struct buf in = BUF_INIT, p = BUF_INIT;
	struct mm_stat st;
	struct endpoint *ep;
	size_t off;
	int n = 0;

	memset(&st, 0, sizeof st);
	st.mode = 040755;
	off = frame_start(&in, MT_ENTRIES, 1);
	pk_u32(&in, UINT32_MAX); pk_u8(&in, 'd'); pk_u8(&in, 1);
	pk_cstr(&in, "."); pk_stat(&in, &st);
	pk_u32(&in, 0); pk_u8(&in, 'f'); pk_u8(&in, 0); pk_cstr(&in, "msg");
	frame_finish(&in, off);
	frame_put(&in, MT_DONE, 1, NULL, 0);
	ep = ep_from_memory(in.data, in.len);
	CHECK(remote_list(ep, "x", 0, 1, count_cb, &n) == 0);
	CHECK(n == 2);
	ep_close(ep);

	buf_reset(&in);
	off = frame_start(&in, MT_ENTRIES, 1);
	pk_u32(&in, UINT32_MAX); pk_u8(&in, 'd'); pk_u8(&in, 1);
	pk_cstr(&in, "."); pk_stat(&in, &st);
	pk_u32(&in, 0); pk_u8(&in, 'f'); pk_u8(&in, 0); pk_cstr(&in, "../x");
	frame_finish(&in, off);
	frame_put(&in, MT_DONE, 1, NULL, 0);
	ep = ep_from_memory(in.data, in.len);
	n = 0;
	CHECK(remote_list(ep, "x", 0, 1, count_cb, &n) < 0);
	CHECK(n == 1 && ep->dead);
	ep_close(ep);
	buf_release(&in);
	buf_release(&p);
}

int main(void)
{
	test_names();
	test_frames();
	test_buf_cap();
	test_parse_from();
	test_list_from_memory();
	return unit_done("test_proto");
}
