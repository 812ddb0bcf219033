/*
 * cmd_softbounce.c: `mailmove softbounce on|off|status`, the safety net
 * after the switch.  With soft_bounce=yes Postfix turns every refusal into
 * a temporary one, so the sender retries instead of losing the mail while
 * the new server's configuration is being fixed.  mailmove records when
 * it was turned on, so `mailmove queue` can list what was refused since.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "postfix.h"
#include "switch_state.h"
#include "banned.h"

struct softbounce_opts {
	const char *config_dir;
	const char *state_path;
};

enum { OPT_SB_CONFIG = 4000, OPT_SB_STATE };

static const struct option softbounce_options[] = {
	{ "postfix-config", required_argument, NULL, OPT_SB_CONFIG },
	{ "state", required_argument, NULL, OPT_SB_STATE },
	{ NULL, 0, NULL, 0 },
};

static int softbounce_on_opt(void *arg, int key, const char *val)
{
	struct softbounce_opts *o = arg;

	if (key == OPT_SB_CONFIG)
		o->config_dir = val;
	else if (key == OPT_SB_STATE)
		o->state_path = val;
	else
		return -1;
	return 0;
}

/* Postfix's current soft_bounce: 1 yes, 0 no, -1 unknown (reported). */
static int softbounce_setting(struct pf_runner *pr)
{
	static const char *const args[] = { "-h", "soft_bounce", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int rc, status, on = -1;

	rc = pf_run(pr, "postconf", args, NULL, &out, &err, 4096, &status);
	if (rc == 0 && status == 0)
		on = !strncmp(buf_cstr(&out), "yes", 3);
	else
		log_error("softbounce: postconf -h soft_bounce failed: %s",
			  rc ? strerror(rc) : buf_cstr(&err));
	buf_release(&out);
	buf_release(&err);
	return on;
}

/* Whether the Postfix master runs (postfix status exits 0). */
static int postfix_running(struct pf_runner *pr)
{
	static const char *const args[] = { "status", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int rc, status;

	rc = pf_run(pr, "postfix", args, NULL, &out, &err, 1u << 16, &status);
	buf_release(&out);
	buf_release(&err);
	return rc == 0 && status == 0;
}

/* postconf -e soft_bounce=VALUE, then postfix reload if it runs. */
static int softbounce_set(struct pf_runner *pr, int on, int dry_run)
{
	const char *const set_args[] = { "-e", on ? "soft_bounce=yes"
					 : "soft_bounce=no", NULL };
	static const char *const reload_args[] = { "reload", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int rc, status, running = postfix_running(pr);

	if (dry_run) {
		log_out("--dry-run: would run postconf -e %s%s\n", set_args[1],
			running ? " and postfix reload" : "");
		return MM_OK;
	}
	rc = pf_run(pr, "postconf", set_args, NULL, &out, &err, 1u << 16,
		    &status);
	if (rc || status) {
		log_error("softbounce: postconf -e %s failed: %s", set_args[1],
			  rc ? strerror(rc) : buf_cstr(&err));
		rc = MM_EDEST;
		goto out;
	}
	if (!running) {
		log_warn("softbounce: Postfix is not running: the setting "
			 "takes effect when it starts");
		rc = MM_OK;
		goto out;
	}
	rc = pf_run(pr, "postfix", reload_args, NULL, &out, &err, 1u << 16,
		    &status);
	if (rc || status) {
		log_error("softbounce: postfix reload failed: %s",
			  rc ? strerror(rc) : buf_cstr(&err));
		rc = MM_EDEST;
		goto out;
	}
	rc = MM_OK;
out:
	buf_release(&out);
	buf_release(&err);
	return rc;
}

int cmd_softbounce(struct mm_ctx *ctx, int argc, char **argv)
{
	struct softbounce_opts o;
	struct pf_runner pr;
	struct switch_state st;
	int64_t on_since = 0, off_since = 0, now = (int64_t)time(NULL);
	const char *verb;
	int first, rc, on;
	char when[64];
	json_t *res;

	memset(&o, 0, sizeof o);
	memset(&pr, 0, sizeof pr);
	memset(&st, 0, sizeof st);
	rc = mm_parse_options(ctx, argc, argv, softbounce_options, "",
			      softbounce_on_opt, &o, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (argc - first != 1 || (strcmp(argv[first], "on") &&
				  strcmp(argv[first], "off") &&
				  strcmp(argv[first], "status"))) {
		log_error("softbounce: say on, off or status");
		return MM_EUSAGE;
	}
	verb = argv[first];
	if (strcmp(verb, "status") && !ctx->dry_run &&
	    (rc = mm_lock_command(ctx)))
		return rc;
	pr.config_dir = o.config_dir;
	if (switch_state_open(&st, ctx, o.state_path,
			      strcmp(verb, "status") && !ctx->dry_run) < 0)
		return MM_EDEST;
	switch_state_get_softbounce(&st, &on_since, &off_since);
	on = softbounce_setting(&pr);
	if (on < 0) {
		rc = MM_EDEST;
		goto out;
	}
	if (!strcmp(verb, "on")) {
		rc = softbounce_set(&pr, 1, ctx->dry_run);
		if (rc)
			goto out;
		/* Keep the first moment while it stays on. */
		if (!(on && on_since && on_since > off_since))
			on_since = now;
		if (!ctx->dry_run)
			switch_state_put_softbounce(&st, on_since, off_since);
		on = 1;
	} else if (!strcmp(verb, "off")) {
		rc = softbounce_set(&pr, 0, ctx->dry_run);
		if (rc)
			goto out;
		if (on || !off_since || off_since < on_since)
			off_since = now;
		if (!ctx->dry_run)
			switch_state_put_softbounce(&st, on_since, off_since);
		on = 0;
	}
	if (ctx->dry_run && strcmp(verb, "status")) {
		rc = MM_OK;
		goto out;
	}
	if (on && on_since && on_since > off_since) {
		mm_format_time(on_since, when, sizeof when);
		log_out("soft_bounce is on since %s\n", when);
	} else if (on) {
		log_out("soft_bounce is on (since when is not recorded: it "
			"was not turned on by mailmove softbounce on)\n");
	} else if (off_since && off_since >= on_since) {
		mm_format_time(off_since, when, sizeof when);
		log_out("soft_bounce is off since %s\n", when);
	} else {
		log_out("soft_bounce is off\n");
	}
	res = json_object();
	json_object_set_new(res, "soft_bounce", json_boolean(on));
	if (on_since)
		json_object_set_new(res, "on_since", json_integer(on_since));
	if (off_since)
		json_object_set_new(res, "off_since", json_integer(off_since));
	out_result(res);
	rc = MM_OK;
out:
	switch_state_release(&st);
	return rc;
}
