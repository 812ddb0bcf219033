/*
 * cmd_run.c: `mailmove run`, the whole plan in the order of the manual
 * procedure: check, db (and Roundcube), redis, files, the hot sync, then the
 * cutover, which asks before the downtime.  Each step is this mailmove
 * binary run as a child, so it behaves exactly as when run by hand.  A
 * journal records each step's outcome, start and duration, so a rerun
 * after a failure or an interruption starts at the first step not yet done
 * (the hot sync is always run again: it is cheap and catches up), and
 * `run --status` says where a migration stands.
 *
 * The journal is text, one line per step that ran:
 *     STEP done|failed START_EPOCH SECONDS EXIT
 * rewritten whole and atomically after every step.  A line holding only a
 * step name (the first format) means done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "child.h"
#include "fsops.h"
#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "relay_state.h"
#include "banned.h"

enum {
	OPT_YES = 3000, OPT_SKIP, OPT_ROUNDCUBE, OPT_JOURNAL, OPT_RESTART,
	OPT_STATUS, OPT_CUTOVER_OPT,
};

/* Options of run handed to the cutover step as they are. */
static const char *const cutover_opts[] = {
	"--relay-to", "--imap", "--login", "--password-file",
	"--old-postfix-config", "--old-doveadm-config", "--postfix-config",
};
#define NCUTOVER_OPTS (sizeof cutover_opts / sizeof cutover_opts[0])

struct step {
	const char *name;
	const char *what;
	int always;		/* run again even when the journal has it */
};

static const struct step steps[] = {
	{ "check", "preflight", 0 },
	{ "db", "the mailserver database", 0 },
	{ "redis", "rspamd's Redis data", 0 },
	{ "files", "certificates, DKIM keys, rspamd signing setup", 0 },
	{ "sync", "the hot sync of /var/vmail", 1 },
	{ "cutover", "the downtime: cold sync, verify, start", 0 },
};
#define NSTEPS (sizeof steps / sizeof steps[0])

enum { J_NONE, J_DONE, J_FAILED };

/* What the journal knows of one step. */
struct jstep {
	int status;		/* J_* */
	long long start;	/* epoch seconds */
	double seconds;
	int exit;
};

struct run {
	int yes, roundcube, restart, status;
	const char *journal;
	const char *cut[NCUTOVER_OPTS];	/* values of cutover_opts */
	char skip[NSTEPS];
	struct jstep j[NSTEPS];
};

static int step_index(const char *name)
{
	size_t i;

	for (i = 0; i < NSTEPS; i++)
		if (!strcmp(steps[i].name, name))
			return (int)i;
	return -1;
}

static int run_opt(void *arg, int key, const char *val)
{
	struct run *r = arg;
	int i;

	switch (key) {
	case OPT_YES: r->yes = 1; break;
	case OPT_ROUNDCUBE: r->roundcube = 1; break;
	case OPT_JOURNAL: r->journal = val; break;
	case OPT_RESTART: r->restart = 1; break;
	case OPT_STATUS: r->status = 1; break;
	default:
		if (key >= OPT_CUTOVER_OPT &&
		    key < OPT_CUTOVER_OPT + (int)NCUTOVER_OPTS) {
			r->cut[key - OPT_CUTOVER_OPT] = val;
			break;
		}
		return -1;
	case OPT_SKIP:
		i = step_index(val);
		if (i < 0) {
			log_error("run: --skip %s: no such step (check, db, "
				  "redis, files, sync, cutover)", val);
			return -1;
		}
		r->skip[i] = 1;
		break;
	}
	return 0;
}

/* The default journal: one per old server and destination, in the
 * destination's /var/lib/mailmove. */
static void journal_path(const struct mm_ctx *ctx, struct buf *out)
{
	struct buf key = BUF_INIT;
	XXH64_hash_t h;

	buf_printf(&key, "%s\n%s", ctx->from, mm_dest_root(ctx));
	h = XXH3_64bits(key.data, key.len);
	buf_addstr(out, mm_dest_root(ctx));
	while (out->len && out->data[out->len - 1] == '/')
		out->len--;
	buf_printf(out, "/var/lib/mailmove/run-%016llx.journal",
		   (unsigned long long)h);
	buf_release(&key);
}

static void journal_load(const char *path, struct run *r)
{
	char line[256];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char name[32], status[16];
		long long start = 0;
		double secs = 0;
		int i, ex = 0, n;

		line[strcspn(line, "\n")] = '\0';
		n = sscanf(line, "%31s %15s %lld %lf %d", name, status, &start,
			   &secs, &ex);
		if (n < 1 || (i = step_index(name)) < 0)
			continue;
		if (n == 1 || !strcmp(status, "done"))
			r->j[i].status = J_DONE;
		else if (!strcmp(status, "failed"))
			r->j[i].status = J_FAILED;
		else
			continue;
		r->j[i].start = n >= 3 ? start : 0;
		r->j[i].seconds = n >= 4 ? secs : 0;
		r->j[i].exit = n >= 5 ? ex : 0;
	}
	fclose(f);
}

/* Rewrites the journal atomically with the steps done so far. */
static int journal_save(const char *path, const struct run *r)
{
	struct buf data = BUF_INIT, dir = BUF_INIT;
	const char *slash = strrchr(path, '/');
	size_t i;
	int fd, e;

	for (i = 0; i < NSTEPS; i++)
		if (r->j[i].status != J_NONE)
			buf_printf(&data, "%s %s %lld %.3f %d\n", steps[i].name,
				   r->j[i].status == J_DONE ? "done" : "failed",
				   r->j[i].start, r->j[i].seconds, r->j[i].exit);
	buf_add(&dir, path, slash && slash != path ? (size_t)(slash - path) : 1);
	e = fs_open_base("/", dir.data, 1, &fd);
	if (!e) {
		struct fs_meta m;
		memset(&m, 0, sizeof m);
		m.mode = 0600;
		e = fs_replace_file(fd, slash ? slash + 1 : path,
				    buf_cstr(&data), data.len, &m);
		close(fd);
	}
	if (e)
		log_warn("run: cannot write the journal %s: %s", path,
			 strerror(e));
	buf_release(&data);
	buf_release(&dir);
	return e;
}

/* `run --status`: each step's outcome from the journal, and what is next. */
static int run_status(const struct run *r, const char *jpath)
{
	json_t *arr = json_array();
	const char *next = NULL;
	size_t i;

	log_out("journal %s\n", jpath);
	for (i = 0; i < NSTEPS; i++) {
		const struct jstep *j = &r->j[i];
		char when[32] = "";
		struct tm tm;
		time_t t = (time_t)j->start;

		if (j->start && gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC",
				 &tm);
		if (j->status == J_DONE)
			log_out("  %-8s done    %s, %.1f s\n", steps[i].name,
				when[0] ? when : "(time not recorded)",
				j->seconds);
		else if (j->status == J_FAILED)
			log_out("  %-8s FAILED  %s, exit %d after %.1f s\n",
				steps[i].name, when, j->exit, j->seconds);
		else
			log_out("  %-8s not yet\n", steps[i].name);
		if (!next && j->status != J_DONE)
			next = steps[i].name;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:f, s:i}",
			"step", steps[i].name, "status",
			j->status == J_DONE ? "done" : j->status == J_FAILED ?
			"failed" : "pending", "start", (json_int_t)j->start,
			"seconds", j->seconds, "exit", j->exit));
	}
	if (next)
		log_out("next: mailmove run resumes at %s\n", next);
	else
		log_out("every step is done.  Next: switch the MX records, "
			"watch the queue, then mailmove softbounce off; "
			"mailmove finish retires the old server\n");
	out_result(json_pack("{s:s, s:o, s:s?}", "journal", jpath, "steps",
			     arr, "next", next));
	return MM_OK;
}

int cmd_run(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "yes", no_argument, NULL, OPT_YES },
		{ "skip", required_argument, NULL, OPT_SKIP },
		{ "roundcube", no_argument, NULL, OPT_ROUNDCUBE },
		{ "journal", required_argument, NULL, OPT_JOURNAL },
		{ "restart", no_argument, NULL, OPT_RESTART },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "relay-to", required_argument, NULL, OPT_CUTOVER_OPT + 0 },
		{ "imap", required_argument, NULL, OPT_CUTOVER_OPT + 1 },
		{ "login", required_argument, NULL, OPT_CUTOVER_OPT + 2 },
		{ "password-file", required_argument, NULL, OPT_CUTOVER_OPT + 3 },
		{ "old-postfix-config", required_argument, NULL,
		  OPT_CUTOVER_OPT + 4 },
		{ "old-doveadm-config", required_argument, NULL,
		  OPT_CUTOVER_OPT + 5 },
		{ "postfix-config", required_argument, NULL,
		  OPT_CUTOVER_OPT + 6 },
		{ NULL, 0, NULL, 0 },
	};
	struct run r;
	struct served_info si;
	struct buf jpath = BUF_INIT;
	char self[4096];
	double t0;
	size_t i;
	int first, rc;

	memset(&r, 0, sizeof r);
	rc = mm_parse_options(ctx, argc, argv, opts, NULL, run_opt, &r, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (first < argc && !ctx->from)
		ctx->from = argv[first++];
	if (first < argc) {
		log_error("run: unexpected argument %s", argv[first]);
		return MM_EUSAGE;
	}
	if (!r.status && !ctx->dry_run && (rc = mm_lock_command(ctx)))
		return rc;
	if (!ctx->from && !(r.status && r.journal)) {
		log_error("run: which old server?  Give --from [user@]host[:port] "
			  "or --from DIR");
		return MM_EUSAGE;
	}
	if (mm_self_path(self, sizeof self) < 0)
		return MM_EUSAGE;
	if (r.journal)
		buf_addstr(&jpath, r.journal);
	else
		journal_path(ctx, &jpath);
	if (r.status) {
		journal_load(jpath.data, &r);
		rc = run_status(&r, jpath.data);
		buf_release(&jpath);
		return rc;
	}
	if (!r.restart && !ctx->dry_run)
		journal_load(jpath.data, &r);

	for (i = 0; i < NSTEPS; i++) {
		struct argvb cv = { NULL, 0, 0 };

		if (r.skip[i]) {
			log_info("run: %s skipped (--skip)", steps[i].name);
			continue;
		}
		if (!strcmp(steps[i].name, "sync") &&
		    served_marked(ctx, &si)) {
			/* A rerun after the cutover's downtime: users work
			 * here, a sync from the old server would undo it. */
			struct buf sd = BUF_INIT;

			served_describe(&si, &sd);
			log_warn("run: sync skipped: the new Dovecot has served "
				 "users %s (%s/var/lib/mailmove/cutover-served)",
				 sd.data, mm_dest_root(ctx));
			buf_release(&sd);
			out_event("step_skipped", json_pack("{s:s, s:s}",
				  "step", steps[i].name, "why",
				  "the new Dovecot has served users since the "
				  "cutover"));
			continue;
		}
		if (r.j[i].status == J_DONE && !steps[i].always) {
			log_info("run: %s already done (journal %s)",
				 steps[i].name, jpath.data);
			continue;
		}
		log_info("run: step %zu of %zu: %s (%s)", i + 1, NSTEPS,
			 steps[i].name, steps[i].what);
		out_event("step", json_pack("{s:s, s:s}", "step",
					    steps[i].name, "what",
					    steps[i].what));
		argvb_add(&cv, self);
		argvb_add(&cv, steps[i].name);
		argvb_common(&cv, ctx, CHILD_REMOTE | CHILD_TO |
				 (strcmp(steps[i].name, "check") ? CHILD_DRYRUN : 0));
		if (!strcmp(steps[i].name, "db") && r.roundcube)
			argvb_add(&cv, "--roundcube");
		if (!strcmp(steps[i].name, "cutover")) {
			size_t k;

			if (r.yes)
				argvb_add(&cv, "--yes");
			for (k = 0; k < NCUTOVER_OPTS; k++)
				if (r.cut[k]) {
					argvb_add(&cv, cutover_opts[k]);
					argvb_add(&cv, r.cut[k]);
				}
		}
		t0 = mm_now();
		r.j[i].start = (long long)time(NULL);
		rc = mm_run_wait_out(cv.v, log_json() ? 2 : -1);
		argvb_release(&cv);
		r.j[i].seconds = mm_now() - t0;
		r.j[i].exit = rc;
		log_info("run: %s took %.1f s", steps[i].name, r.j[i].seconds);
		out_event("step_done", json_pack("{s:s, s:f, s:i}", "step",
						 steps[i].name, "seconds",
						 r.j[i].seconds, "exit", rc));
		if (rc && !ctx->dry_run) {
			r.j[i].status = J_FAILED;
			journal_save(jpath.data, &r);
		}
		if (rc) {
			log_error("run: step %s ended with exit %d; fix what it "
				  "said and run again (done steps are skipped), "
				  "or --skip %s", steps[i].name, rc,
				  steps[i].name);
			out_result(json_pack("{s:s, s:i}", "failed_step",
					     steps[i].name, "exit", rc));
			buf_release(&jpath);
			return rc <= MM_EINTR ? rc : MM_EDIFF;
		}
		if (!ctx->dry_run) {
			r.j[i].status = J_DONE;
			journal_save(jpath.data, &r);
		}
	}
	log_info("run: done.  Next: switch the MX records (mailmove dns "
		 "--wait-switched), watch the queue (mailmove queue --watch), "
		 "then mailmove softbounce off.");
	out_result(json_pack("{s:i, s:s}", "exit", MM_OK, "journal", jpath.data));
	buf_release(&jpath);
	return MM_OK;
}
