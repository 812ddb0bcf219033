/* test_verify.c: verify's report: counting per user and in total, which
 * categories fail the check, and JSON strings for any file name. */
#include "unit.h"

#include "verify.h"

static void test_counts(void)
{
	struct vreport r;
	struct vcounts *c;

	vreport_init(&r, "files");
	CHECK(!vreport_failed(&r));
	verify_note(&r, VC_DEST_ONLY, "example.org/ann", "INBOX", "1.M1.h",
		    NULL, "new delivery");
	verify_note(&r, VC_FOLDER_DEST_ONLY, "example.org/ann", "Lists", NULL,
		    NULL, "%s", "");
	CHECK(!vreport_failed(&r));	/* only on the destination: fine */
	verify_note(&r, VC_UID, "example.org/bob", "Sent", NULL, NULL,
		    "UIDVALIDITY %u on the source, %u here", 1u, 2u);
	CHECK(vreport_failed(&r));
	c = vreport_user(&r, "example.org/ann");
	CHECK(c->n[VC_DEST_ONLY] == 1 && c->n[VC_FOLDER_DEST_ONLY] == 1);
	CHECK(vreport_user(&r, "example.org/bob")->n[VC_UID] == 1);
	CHECK(r.total.n[VC_UID] == 1 && r.total.n[VC_DEST_ONLY] == 1);
	CHECK(r.n == 2);
	CHECK_STR(vcat_name(VC_FOLDER_MISSING), "folder_missing");
	CHECK_STR(vcat_name(VC_DEST_ONLY), "dest_only");
	vreport_release(&r);
}

static void test_json_names(void)
{
	json_t *j = json_str_any("caf\xc3\xa9");

	CHECK_STR(json_string_value(j), "caf\xc3\xa9");	/* UTF-8 kept */
	json_decref(j);
	j = json_str_any("bad\xff\\name");
	CHECK_STR(json_string_value(j), "bad\\377\\134name");
	json_decref(j);
}

int main(void)
{
	log_setup(-1, 0);
	test_counts();
	test_json_names();
	return unit_done("test_verify");
}
