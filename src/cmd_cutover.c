/*
 * cmd_cutover.c: `mailmove cutover`, the downtime in one command.
 *
 * The seed procedure's "Downtime" and "Migrate the emails cold" steps, in
 * their order: stop Dovecot on the old server and on this one, the cold
 * sync with --delete, a verify of the result, Dovecot started here and
 * its indexes rebuilt (`doveadm force-resync`, a quota recount), soft_bounce
 * on, Postfix started here; optionally the old Postfix relays what still reaches it to
 * this server.  Every step is idempotent, so after a failure or an
 * interruption the same command picks up where it stopped.  The sync,
 * verify and softbounce steps run this same mailmove binary as a child,
 * so they behave exactly as when run by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "endpoint.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "banned.h"

enum {
	OPT_YES = 2000, OPT_OLD_STOP, OPT_NEW_STOP, OPT_NEW_START,
	OPT_RESYNC, OPT_RELAY, OPT_STATE, OPT_POSTFIX_CONFIG, OPT_NO_VERIFY,
	OPT_SWITCH_STATE, OPT_POSTFIX_START,
};

struct cutover {
	int yes;
	int no_verify;
	const char *old_stop, *new_stop, *new_start, *postfix_start, *resync;
	const char *relay_to, *state, *postfix_config, *switch_state;
	int step;
};

static int cutover_opt(void *arg, int key, const char *val)
{
	struct cutover *c = arg;

	switch (key) {
	case OPT_YES: c->yes = 1; break;
	case OPT_NO_VERIFY: c->no_verify = 1; break;
	case OPT_OLD_STOP: c->old_stop = val; break;
	case OPT_NEW_STOP: c->new_stop = val; break;
	case OPT_NEW_START: c->new_start = val; break;
	case OPT_POSTFIX_START: c->postfix_start = val; break;
	case OPT_RESYNC: c->resync = val; break;
	case OPT_RELAY: c->relay_to = val; break;
	case OPT_STATE: c->state = val; break;
	case OPT_POSTFIX_CONFIG: c->postfix_config = val; break;
	case OPT_SWITCH_STATE: c->switch_state = val; break;
	default: return -1;
	}
	return 0;
}

/* Stops or starts services the way the host runs them. */
static const char stop_dovecot_sh[] =
	"if [ -d /run/systemd/system ]; then systemctl stop dovecot; "
	"else service dovecot stop; fi";
static const char start_dovecot_sh[] =
	"if [ -d /run/systemd/system ]; then systemctl start dovecot; "
	"else service dovecot start; fi";
static const char start_postfix_sh[] =
	"if [ -d /run/systemd/system ]; then systemctl start postfix; "
	"else service postfix start; fi";

static void step_header(struct mm_ctx *ctx, struct cutover *c,
			const char *what)
{
	c->step++;
	log_info("step %d: %s%s", c->step, what, ctx->dry_run ? " (dry run)" : "");
	out_event("step", json_pack("{s:i, s:s, s:b}", "step", c->step,
				    "what", what, "dry_run", ctx->dry_run));
}

/* Runs a command given as one string (`cmd`), or `sh -c default_sh`. */
static int run_local_cmd(const char *cmd, const char *default_sh)
{
	char *shv[] = { "sh", "-c", (char *)default_sh, NULL };
	char **argv;
	int argc, rc;

	if (!cmd)
		return mm_run_wait(shv);
	if (mm_split_words(cmd, &argv, &argc) < 0) {
		log_error("cannot parse command \"%s\"", cmd);
		return 127;
	}
	rc = mm_run_wait(argv);
	mm_free_words(argv, argc);
	return rc;
}

static int run_remote_cmd(struct endpoint *ep, const char *cmd,
			  const char *default_sh, int *status)
{
	char *shv[] = { "sh", "-c", (char *)default_sh, NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	char **argv = shv;
	int argc = 0, rc;

	if (cmd && mm_split_words(cmd, &argv, &argc) < 0) {
		log_error("cannot parse command \"%s\"", cmd);
		return MM_EUSAGE;
	}
	rc = remote_run(ep, argv, NULL, &out, &err, 1u << 20, status);
	if (out.len)
		log_info("%s: %s", ep->desc, buf_cstr(&out));
	if (err.len)
		log_warn("%s: %s", ep->desc, buf_cstr(&err));
	if (argv != shv)
		mm_free_words(argv, argc);
	buf_release(&out);
	buf_release(&err);
	if (rc < 0)
		return ep_exit_code(ep);
	if (rc > 0) {
		log_error("%s: cannot run: %s", ep->desc, strerror(rc));
		return MM_EDIFF;
	}
	return MM_OK;
}

/*
 * Runs `mailmove sync --delete` or `mailmove verify` as a child with our
 * --from, --rsh, --agent and --to (and --dry-run, --state for the sync),
 * and SRC DEST when given.  Returns its exit status.
 */
static int run_step_child(struct mm_ctx *ctx, const char *self,
			  const char *cmd, const char *state,
			  char *const *src_dest)
{
	struct argvb cv = { NULL, 0, 0 };
	int sync = !strcmp(cmd, "sync"), st;

	argvb_add(&cv, self);
	argvb_add(&cv, cmd);
	if (sync)
		argvb_add(&cv, "--delete");
	argvb_common(&cv, ctx, CHILD_REMOTE | CHILD_TO |
			       (sync ? CHILD_DRYRUN : 0));
	if (state) {
		argvb_add(&cv, "--state");
		argvb_add(&cv, state);
	}
	if (src_dest) {
		argvb_add(&cv, src_dest[0]);
		argvb_add(&cv, src_dest[1]);
	}
	st = mm_run_wait(cv.v);
	argvb_release(&cv);
	return st;
}

static int confirm(const char *desc)
{
	char line[16];

	if (!isatty(0))
		return -1;
	fprintf(stderr, "This stops Dovecot on %s and on this server: mail "
		"is not readable until the cutover ends.\nGo ahead? [y/N] ",
		desc);
	if (!fgets(line, sizeof line, stdin))
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

int cmd_cutover(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "yes", no_argument, NULL, OPT_YES },
		{ "old-stop", required_argument, NULL, OPT_OLD_STOP },
		{ "new-stop", required_argument, NULL, OPT_NEW_STOP },
		{ "new-start", required_argument, NULL, OPT_NEW_START },
		{ "postfix-start", required_argument, NULL, OPT_POSTFIX_START },
		{ "resync", required_argument, NULL, OPT_RESYNC },
		{ "relay-to", required_argument, NULL, OPT_RELAY },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "postfix-config", required_argument, NULL, OPT_POSTFIX_CONFIG },
		{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
		{ "switch-state", required_argument, NULL, OPT_SWITCH_STATE },
		{ NULL, 0, NULL, 0 },
	};
	struct cutover c;
	struct endpoint *ep = NULL;
	struct argvb cv = { NULL, 0, 0 };
	char self[4096];
	double t0 = mm_now();
	int first, rc, st;

	memset(&c, 0, sizeof c);
	rc = mm_parse_options(ctx, argc, argv, opts, NULL, cutover_opt, &c,
			      &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (argc - first != 0 && argc - first != 2) {
		log_error("cutover: give SRC and DEST as for sync, or neither");
		return MM_EUSAGE;
	}
	if (mm_self_path(self, sizeof self) < 0)
		return MM_EUSAGE;
	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	if (!ctx->dry_run && !c.yes) {
		int ok = confirm(ep->desc);
		if (ok < 0) {
			log_error("cutover: not a terminal; give --yes to run "
				  "the downtime without asking");
			ep_close(ep);
			return MM_EUSAGE;
		}
		if (!ok) {
			log_info("cutover: nothing done");
			ep_close(ep);
			return MM_OK;
		}
	}

	step_header(ctx, &c, "stop Dovecot on the old server");
	if (!ctx->dry_run) {
		rc = run_remote_cmd(ep, c.old_stop, stop_dovecot_sh, &st);
		if (rc)
			goto out;
		if (st != 0) {
			log_error("stopping Dovecot on %s failed (status %d); "
				  "nothing else was done", ep->desc, st);
			rc = MM_EDIFF;
			goto out;
		}
	}

	step_header(ctx, &c, "stop Dovecot on this server");
	if (!ctx->dry_run && (st = run_local_cmd(c.new_stop, stop_dovecot_sh))) {
		log_error("stopping Dovecot here failed (status %d)", st);
		rc = MM_EDEST;
		goto out;
	}

	/* The sync and the verify are this mailmove as a child, each with
	 * its own connection to the old server. */
	step_header(ctx, &c, "cold sync with --delete");
	st = run_step_child(ctx, self, "sync", c.state, first < argc ?
			    argv + first : NULL);
	if (st) {
		log_error("the cold sync failed (exit %d); Dovecot stays "
			  "stopped on both servers: fix and rerun cutover", st);
		rc = st == MM_EINTR ? MM_EINTR : st <= 5 ? st : MM_EDIFF;
		goto out;
	}

	if (!c.no_verify && !ctx->dry_run) {
		step_header(ctx, &c, "verify every message, flag and UID");
		st = run_step_child(ctx, self, "verify", NULL,
				    first < argc ? argv + first : NULL);
		if (st) {
			log_error("verify found differences (exit %d); Dovecot "
				  "stays stopped on both servers: look at the "
				  "report, then rerun cutover", st);
			rc = st <= 5 ? st : MM_EDIFF;
			goto out;
		}
	}

	/* doveadm -A lists the users through Dovecot's auth service, so the
	 * new Dovecot runs again before its indexes are rebuilt. */
	step_header(ctx, &c, "start Dovecot on this server");
	if (!ctx->dry_run && (st = run_local_cmd(c.new_start, start_dovecot_sh))) {
		log_error("starting Dovecot failed (status %d)", st);
		rc = MM_EDEST;
		goto out;
	}

	step_header(ctx, &c, "rebuild Dovecot's indexes (force-resync)");
	if (!ctx->dry_run) {
		char *fr[] = { "doveadm", "force-resync", "-A", "*", NULL };
		char *qr[] = { "doveadm", "quota", "recalc", "-A", NULL };

		st = c.resync ? run_local_cmd(c.resync, NULL) : mm_run_wait(fr);
		if (st) {
			log_error("force-resync failed (status %d)", st);
			rc = MM_EDEST;
			goto out;
		}
		if (!c.resync && mm_run_wait(qr) != 0)
			log_warn("doveadm quota recalc failed: no quota plugin? "
				 "(harmless without quotas)");
	}

	step_header(ctx, &c, "soft_bounce on: nothing is rejected for good");
	if (!ctx->dry_run) {
		argvb_add(&cv, self);
		argvb_add(&cv, "softbounce");
		argvb_add(&cv, "on");
		argvb_common(&cv, ctx, 0);
		if (c.postfix_config) {
			argvb_add(&cv, "--postfix-config");
			argvb_add(&cv, c.postfix_config);
		}
		if (c.switch_state) {
			argvb_add(&cv, "--state");
			argvb_add(&cv, c.switch_state);
		}
		st = mm_run_wait(cv.v);
		argvb_release(&cv);
		if (st) {
			log_error("turning soft_bounce on failed (exit %d)", st);
			rc = MM_EDEST;
			goto out;
		}
	}

	step_header(ctx, &c, "start Postfix on this server");
	if (!ctx->dry_run &&
	    (st = run_local_cmd(c.postfix_start, start_postfix_sh))) {
		log_error("starting Postfix failed (status %d)", st);
		rc = MM_EDEST;
		goto out;
	}

	if (c.relay_to) {
		struct buf cmd = BUF_INIT;

		step_header(ctx, &c, "old Postfix relays late mail to this server");
		buf_printf(&cmd, "postconf -h virtual_transport; "
			   "postconf -e 'virtual_transport=smtp:[%s]:25' && "
			   "postfix reload", c.relay_to);
		if (strpbrk(c.relay_to, "'\"\\ ;&|$`<>()")) {
			log_error("--relay-to %s: not a host name or address",
				  c.relay_to);
			buf_release(&cmd);
			rc = MM_EUSAGE;
			goto out;
		}
		if (!ctx->dry_run) {
			rc = run_remote_cmd(ep, NULL, cmd.data, &st);
			if (!rc && st) {
				log_error("relaying could not be set up on %s "
					  "(status %d)", ep->desc, st);
				rc = MM_EDIFF;
			}
		}
		buf_release(&cmd);
		if (rc)
			goto out;
	}
	log_info("cutover done in %.0f s. Next: switch the MX records "
		 "(mailmove dns --wait-switched), watch the queue (mailmove "
		 "queue --watch), then mailmove softbounce off.",
		 mm_now() - t0);
	rc = MM_OK;
out:
	out_result(json_pack("{s:i, s:i, s:f}", "exit", rc, "steps", c.step,
			     "seconds", mm_now() - t0));
	ep_close(ep);
	return rc;
}
