/*
 * cmd_run.c: `mailmove run`, the whole plan in the order of the manual
 * procedure: check, db (and Roundcube), redis, files, the hot sync, then the
 * cutover, which asks before the downtime.  Each step is this mailmove
 * binary run as a child, so it behaves exactly as when run by hand.  A
 * journal records the steps that finished, so a rerun after a failure or
 * an interruption starts at the first step not yet done (the hot sync is
 * always run again: it is cheap and catches up).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "child.h"
#include "fsops.h"
#include "log.h"
#include "mailmove.h"
#include "banned.h"

enum {
	OPT_YES = 3000, OPT_SKIP, OPT_ROUNDCUBE, OPT_JOURNAL, OPT_RESTART,
};

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

struct run {
	int yes, roundcube, restart;
	const char *journal;
	char skip[NSTEPS];
	char done[NSTEPS];
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
	case OPT_SKIP:
		i = step_index(val);
		if (i < 0) {
			log_error("run: --skip %s: no such step (check, db, "
				  "redis, files, sync, cutover)", val);
			return -1;
		}
		r->skip[i] = 1;
		break;
	default:
		return -1;
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
	char line[64];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		int i;
		line[strcspn(line, "\n")] = '\0';
		i = step_index(line);
		if (i >= 0)
			r->done[i] = 1;
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
		if (r->done[i])
			buf_printf(&data, "%s\n", steps[i].name);
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

int cmd_run(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "yes", no_argument, NULL, OPT_YES },
		{ "skip", required_argument, NULL, OPT_SKIP },
		{ "roundcube", no_argument, NULL, OPT_ROUNDCUBE },
		{ "journal", required_argument, NULL, OPT_JOURNAL },
		{ "restart", no_argument, NULL, OPT_RESTART },
		{ NULL, 0, NULL, 0 },
	};
	struct run r;
	struct buf jpath = BUF_INIT;
	char self[4096];
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
	if (!ctx->from) {
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
	if (!r.restart && !ctx->dry_run)
		journal_load(jpath.data, &r);

	for (i = 0; i < NSTEPS; i++) {
		struct argvb cv = { NULL, 0, 0 };

		if (r.skip[i]) {
			log_info("run: %s skipped (--skip)", steps[i].name);
			continue;
		}
		if (r.done[i] && !steps[i].always) {
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
		if (!strcmp(steps[i].name, "cutover") && r.yes)
			argvb_add(&cv, "--yes");
		rc = mm_run_wait(cv.v);
		argvb_release(&cv);
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
			r.done[i] = 1;
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
