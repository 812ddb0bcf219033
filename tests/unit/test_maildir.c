/* test_maildir.c: names, flags, classes, uidlist, keywords, mUTF-7. */
#include "unit.h"

#include "maildir.h"

static void test_names(void)
{
	struct buf s = BUF_INIT, k = BUF_INIT;
	const char *n = "1700000000.M1P2.host,S=12,W=13:2,TSRFba,extra";

	CHECK(md_base_len(n) == strlen("1700000000.M1P2.host,S=12,W=13"));
	CHECK(md_base_len("plain") == 5);
	CHECK(md_flags(n, &s, &k) == 0);
	CHECK_STR(buf_cstr(&s), "FRST");
	CHECK_STR(buf_cstr(&k), "ba");
	CHECK(md_flags("x:2,", &s, &k) == 0 && s.len == 0 && k.len == 0);
	CHECK(md_flags("x", &s, &k) < 0);
	CHECK(md_flags("x:1,S", &s, &k) < 0);
	CHECK(md_is_message_name("1.M1.h"));
	CHECK(!md_is_message_name(".hidden"));
	CHECK(!md_is_message_name("a\nb"));
	CHECK(md_classify("cur") == MD_SUBDIR_MSG);
	CHECK(md_classify("tmp") == MD_SUBDIR_TMP);
	CHECK(md_classify("dovecot-uidlist") == MD_META);
	CHECK(md_classify("dovecot-uidlist.lock") == MD_NEVER);
	CHECK(md_classify("dovecot-uidvalidity.5f3a") == MD_NEVER);
	CHECK(md_classify("dovecot.index.cache") == MD_INDEX);
	CHECK(md_classify("dovecot.list.index.log") == MD_INDEX);
	CHECK(md_classify("maildirsize") == MD_QUOTA);
	CHECK(md_classify(".Sent") == MD_OTHER);
	buf_release(&s);
	buf_release(&k);
}

static void test_uidlist(void)
{
	const char good[] = "3 V1700000000 N5 G0123abcd\n"
			    "1 :1.M1.h,S=3\n"
			    "3 G89ab W100 :3.M3.h\n"
			    "4 :name:with:colons\n";
	struct uidlist ul;
	struct buf why = BUF_INIT;

	CHECK(uidlist_parse(good, sizeof good - 1, &ul, &why) == 0);
	CHECK(ul.version == 3 && ul.uidvalidity == 1700000000 && ul.nextuid == 5);
	CHECK_STR(ul.guid, "0123abcd");
	CHECK(ul.n == 3);
	CHECK(ul.recs[1].uid == 3);
	CHECK_STR(ul.recs[1].base, "3.M3.h");
	CHECK_STR(ul.recs[1].extra, "G89ab W100 ");
	CHECK_STR(ul.recs[2].base, "name:with:colons");
	uidlist_release(&ul);

	CHECK(uidlist_parse("3 V1 N3\n2 :a\n1 :b\n", 19, &ul, &why) < 0);
	buf_reset(&why);
	CHECK(uidlist_parse("3 V0 N3\n", 8, &ul, &why) < 0);
	buf_reset(&why);
	CHECK(uidlist_parse("1 V1 N3\n", 8, &ul, &why) < 0);
	buf_reset(&why);
	CHECK(uidlist_parse("3 V1 N3\n1 nocolon\n", 18, &ul, &why) < 0);
	buf_release(&why);
}

static void test_keywords(void)
{
	const char k1[] = "0 $Junk\n1 work\n25 z\n26 bad\n";
	const char k2[] = "0 work\n1 $Junk\n";
	struct keywords a, b;
	struct buf x = BUF_INIT, y = BUF_INIT;

	keywords_parse(k1, sizeof k1 - 1, &a);
	keywords_parse(k2, sizeof k2 - 1, &b);
	CHECK_STR(a.name[1], "work");
	CHECK_STR(a.name[25], "z");
	md_keyword_names("ab", 2, &a, &x);
	md_keyword_names("ba", 2, &b, &y);
	CHECK_STR(buf_cstr(&x), buf_cstr(&y));
	CHECK_STR(buf_cstr(&x), "$Junk work");
	md_keyword_names("c", 1, &a, &x);
	CHECK_STR(buf_cstr(&x), "?c");
	keywords_release(&a);
	keywords_release(&b);
	buf_release(&x);
	buf_release(&y);
}

static void test_mutf7_user(void)
{
	struct buf o = BUF_INIT;

	CHECK(md_mutf7_decode(".Entw&APw-rfe", &o) == 0);
	CHECK_STR(buf_cstr(&o), ".Entw\xc3\xbc" "rfe");
	buf_reset(&o);
	CHECK(md_mutf7_decode("a&-b", &o) == 0);
	CHECK_STR(buf_cstr(&o), "a&b");
	buf_reset(&o);
	CHECK(md_mutf7_decode("&2D3eAA-", &o) == 0);	/* U+1F600 */
	CHECK_STR(buf_cstr(&o), "\xf0\x9f\x98\x80");
	buf_reset(&o);
	CHECK(md_mutf7_decode("bad&!!", &o) < 0);
	CHECK_STR(buf_cstr(&o), "bad&!!");
	md_user_of("example.org/alice/Maildir/.Sent/cur", &o);
	CHECK_STR(buf_cstr(&o), "example.org/alice");
	md_user_of("example.org/bob/sieve/x", &o);
	CHECK_STR(buf_cstr(&o), "example.org/bob");
	md_user_of("top", &o);
	CHECK_STR(buf_cstr(&o), "");
	buf_release(&o);
}

static void test_symlink_hides_mail(void)
{
	CHECK(md_symlink_hides_mail("example.org/bob/Maildir"));
	CHECK(md_symlink_hides_mail("bob/Maildir/cur"));
	CHECK(md_symlink_hides_mail("example.org/bob/Maildir/.Archive"));
	CHECK(md_symlink_hides_mail("example.org/bob/Maildir/cur/1.M1P1.x:2,S"));
	CHECK(md_symlink_hides_mail("other.org"));
	CHECK(md_symlink_hides_mail("example.org/bob"));
	CHECK(!md_symlink_hides_mail("example.org/bob/.dovecot.sieve"));
	CHECK(!md_symlink_hides_mail("example.org/bob/Maildir/.dovecot.sieve"));
	CHECK(!md_symlink_hides_mail("example.org/bob/sieve/active.sieve"));
	CHECK(!md_symlink_hides_mail(".hidden"));
}

int main(void)
{
	test_symlink_hides_mail();
	test_names();
	test_uidlist();
	test_keywords();
	test_mutf7_user();
	return unit_done("test_maildir");
}
