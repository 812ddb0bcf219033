/* test_switch.c: the TTL advice as the zone changes, and the Postfix log
 * and queue-ID parsing that `queue` relies on. */
#include "unit.h"

#include <stdlib.h>
#include <time.h>

#include "dkim.h"
#include "dns.h"
#include "mail_domains.h"
#include "postfix.h"
#include "queue.h"
#include "switch_state.h"

static void test_ttl_advice(void)
{
	struct ttl_memory m;
	int64_t safe;

	memset(&m, 0, sizeof m);
	/* High at the first check, then higher: the highest counts. */
	CHECK(ttl_memory_update(&m, 3600, 1000, &safe) == TTL_ADVICE_LOWER);
	CHECK(m.first_ttl == 3600 && m.first_seen == 1000 && safe == 0);
	CHECK(ttl_memory_update(&m, 86400, 2000, &safe) == TTL_ADVICE_LOWER);
	CHECK(m.high_ttl == 86400 && m.first_ttl == 3600);
	/* Lowered: safe one old TTL after the run that saw it. */
	CHECK(ttl_memory_update(&m, 300, 5000, &safe) == TTL_ADVICE_WAIT);
	CHECK(m.lowered_at == 5000 && safe == 5000 + 86400);
	CHECK(ttl_memory_update(&m, 60, 6000, &safe) == TTL_ADVICE_WAIT);
	CHECK(m.lowered_at == 5000 && safe == 5000 + 86400);
	CHECK(ttl_memory_update(&m, 60, 5000 + 86400, &safe) ==
	      TTL_ADVICE_SAFE);
	/* Raised again: start over. */
	CHECK(ttl_memory_update(&m, 600, 100000, &safe) == TTL_ADVICE_LOWER);
	CHECK(m.lowered_at == 0);
	CHECK(ttl_memory_update(&m, 300, 100100, &safe) == TTL_ADVICE_WAIT);
	CHECK(m.lowered_at == 100100 && safe == 100100 + 86400);
	/* Low at the first check: no moment can be named. */
	memset(&m, 0, sizeof m);
	CHECK(ttl_memory_update(&m, 300, 1000, &safe) ==
	      TTL_ADVICE_LOW_AT_FIRST);
	CHECK(safe == 0);
	CHECK(ttl_memory_update(&m, TTL_LOW + 1, 1100, &safe) ==
	      TTL_ADVICE_LOWER);
}

static void test_log_time(void)
{
	int64_t now = 1795894600;	/* 2026-11-28 */

	CHECK(pf_log_time("2026-11-28T19:37:07.123456+00:00 host x", now) ==
	      1795894627);
	CHECK(pf_log_time("2026-11-28T20:37:07+0100 host x", now) ==
	      1795894627);
	CHECK(pf_log_time("2026-11-28T19:37:07Z host", now) == 1795894627);
	CHECK(pf_log_time("Nov 28 19:37:07 host postfix/smtpd[1]: x", now) ==
	      1795894627);
	/* A December line read in January belongs to last year. */
	CHECK(pf_log_time("Dec 31 23:59:59 host x", 1798761600 + 3600) ==
	      1798761599);
	CHECK(pf_log_time("garbage", now) == 0);
	CHECK(pf_log_time("", now) == 0);
}

static void test_reject(void)
{
	struct pf_reject r;
	int64_t now = 1795894600;

	CHECK(pf_parse_reject("Nov 28 19:37:07 mmtest postfix-mmtest/smtpd[18678]: "
		"NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 450 4.7.1 "
		"<bad@example.com>: Recipient address rejected: no such user "
		"here; from=<a@src.test> to=<bad@example.com> proto=ESMTP "
		"helo=<x>", now, &r) == 1);
	CHECK(r.when == 1795894627);
	CHECK_STR(r.client, "localhost[127.0.0.1]");
	CHECK_STR(r.code, "450 4.7.1");
	CHECK_STR(r.reason, "<bad@example.com>: Recipient address rejected: "
		  "no such user here");
	CHECK_STR(r.sender, "a@src.test");
	CHECK_STR(r.recipient, "bad@example.com");
	pf_reject_release(&r);
	/* A final (5xx) refusal is not a soft bounce; other lines neither. */
	CHECK(pf_parse_reject("Nov 28 19:37:07 h postfix/smtpd[1]: NOQUEUE: "
		"reject: RCPT from h[1.2.3.4]: 550 5.1.1 <x@y>: no; from=<> "
		"to=<x@y>", now, &r) == 0);
	CHECK(pf_parse_reject("Nov 28 19:37:07 h postfix/smtp[1]: ABC: "
		"to=<x@y>, status=deferred", now, &r) == 0);
	CHECK(pf_parse_reject("Nov 28 19:37:07 h postfix/smtpd[1]: NOQUEUE: "
		"reject: RCPT from", now, &r) == 0);
	CHECK(pf_parse_reject("", now, &r) == 0);
	/* Without the from=/to= tail: empty sender and recipient. */
	CHECK(pf_parse_reject("2026-11-28T19:37:07+00:00 h postfix/smtpd[1]: "
		"ABC123: reject: MAIL from h[1.2.3.4]: 421 service down",
		now, &r) == 1);
	CHECK_STR(r.code, "421");
	CHECK_STR(r.reason, "service down");
	CHECK_STR(r.recipient, "");
	pf_reject_release(&r);
}

static void test_ids_and_addrs(void)
{
	char out[64];

	CHECK(pf_queue_id_ok("6F57AA724B4"));
	CHECK(pf_queue_id_ok("4Vb3xY1z2Qz9kJt"));
	CHECK(!pf_queue_id_ok(""));
	CHECK(!pf_queue_id_ok("ABC/../x"));
	CHECK(!pf_queue_id_ok("-d"));
	CHECK(!pf_queue_id_ok("ALL"));
	CHECK(!pf_queue_id_ok("all"));
	CHECK(!pf_queue_id_ok("ABC\n"));
	CHECK(dns_canonical_addr("192.0.2.1", out, sizeof out) == 0);
	CHECK_STR(out, "192.0.2.1");
	CHECK(dns_canonical_addr("2001:DB8:0:0::1", out, sizeof out) == 0);
	CHECK_STR(out, "2001:db8::1");
	CHECK(dns_canonical_addr("example.org", out, sizeof out) < 0);
	CHECK(dns_canonical_addr("192.0.2.1/24", out, sizeof out) < 0);
}

static void test_dkim_and_conf(void)
{
	struct buf pub = BUF_INIT;
	char *v;

	buf_add(&pub, "\x01\x02\x03", 3);	/* base64 AQID */
	v = dkim_record_tag("v=DKIM1; k=rsa; p=AQ ID ", "p");
	CHECK_STR(v, "AQID");
	free(v);
	CHECK(dkim_record_tag("v=DKIM1; k=rsa", "p") == NULL);
	CHECK(dkim_record_matches("v=DKIM1; k=rsa; p=AQID", &pub, 0) == 1);
	CHECK(dkim_record_matches("v=DKIM1; p=AQID", &pub, 0) == 1);
	CHECK(dkim_record_matches("v=DKIM1; k=ed25519; p=AQID", &pub, 0) == 0);
	CHECK(dkim_record_matches("v=DKIM1; k=rsa; p=AQIE", &pub, 0) == 0);
	CHECK(dkim_record_matches("v=DKIM1; k=rsa; p=", &pub, 0) == 0);
	CHECK(dkim_record_matches("v=DKIM1; k=rsa; p=A", &pub, 0) == 0);
	CHECK(dkim_record_matches("v=spf1 -all", &pub, 0) == -1);
	buf_release(&pub);

	v = conf_file_value("# c\nuser = mailserver\npassword=x y\n"
			    "user = second\n", "user");
	CHECK_STR(v, "second");
	free(v);
	v = conf_file_value("password=x y\n", "password");
	CHECK_STR(v, "x y");
	free(v);
	CHECK(conf_file_value("users = a\n", "user") == NULL);
	CHECK(dns_name_ok("example.org"));
	CHECK(dns_name_ok("2026"));
	CHECK(!dns_name_ok("../etc"));
	CHECK(!dns_name_ok("a/b"));
	CHECK(!dns_name_ok(".hidden"));
	CHECK(!dns_name_ok(""));
}

/* postqueue -j parsed and grouped as `mailmove queue` shows it. */
static void test_queue_grouping(void)
{
	static const char text[] =
		"{\"queue_name\":\"deferred\",\"queue_id\":\"4AbC1\","
		"\"arrival_time\":1000,\"message_size\":10,\"sender\":\"s@x\","
		"\"recipients\":[{\"address\":\"a@ex.org\",\"delay_reason\":"
		"\"550 a@ex.org unknown\"},{\"address\":\"b@ex.org\","
		"\"delay_reason\":\"550 b@ex.org unknown\"}]}\n"
		"not json\n"
		"{\"queue_name\":\"hold\",\"queue_id\":\"ALL\"}\n"
		"{\"queue_name\":\"odd\",\"queue_id\":\"5B\",\"arrival_time\":900,"
		"\"recipients\":[{\"address\":\"c@ex.net\"}]}\n";
	struct qlist q;
	struct queue_summary qs;
	char *k;

	CHECK(qlist_parse(text, &q) == 2);	/* a bad line, postsuper's ALL */
	CHECK(q.n == 2 && q.m[0].nrcpt == 2);
	queue_summarize(&q, &qs);
	CHECK(qs.counts[1] == 1 && qs.other == 1 && qs.nrcpt == 3);
	CHECK(qs.oldest == 900 && !strcmp(qs.oldest_id, "5B"));
	/* One refusal for two recipients is one group. */
	CHECK(json_integer_value(json_object_get(qs.reasons,
		"550 RECIPIENT unknown")) == 2);
	CHECK(json_integer_value(json_object_get(qs.reasons,
		"(no reason given yet)")) == 1);
	CHECK(json_integer_value(json_object_get(qs.domains, "ex.org")) == 2);
	k = queue_reason_key("x", "");
	CHECK_STR(k, "x");
	free(k);
	queue_summary_release(&qs);
	qlist_release(&q);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_ttl_advice();
	test_log_time();
	test_reject();
	test_ids_and_addrs();
	test_dkim_and_conf();
	test_queue_grouping();
	return unit_done("test_switch");
}
