/*
 * cmd_redis.c: `mailmove redis`, rspamd's Redis data (Bayes tokens,
 * reputation, ratelimits, history) from the old server to the new one.
 *
 * This file finds the two servers (options, else rspamd's configuration on
 * each side, else 127.0.0.1:6379), reads the passwords, reaches the old
 * Redis through the agent, and reports; redis.c does the copying.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "endpoint.h"
#include "fsops.h"
#include "fwd.h"
#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "redis.h"
#include "remote.h"
#include "secret.h"
#include "banned.h"

#define CONF_MAX (1 << 20)

/* rspamd's files naming its Redis, strongest first. */
static const char *const rspamd_conf_files[] = {
	"/etc/rspamd/override.d/redis.conf",
	"/etc/rspamd/local.d/redis.conf",
	"/etc/rspamd/local.d/classifier-bayes.conf",
};
#define N_CONF_FILES (sizeof rspamd_conf_files / sizeof rspamd_conf_files[0])

enum {
	OPT_SRC = 2000, OPT_DEST, OPT_DB, OPT_MATCH, OPT_REPLACE,
	OPT_RENAME_HISTORY, OPT_PASSWORD_FILE, OPT_DEST_PASSWORD_FILE,
	OPT_NO_VERIFY, OPT_BATCH,
};

struct redis_opts {
	const char *src, *dest;
	int *dbs;
	size_t ndbs;
	const char *match;
	int replace;
	char *hist_old, *hist_new;
	const char *password_file, *dest_password_file;
	int no_verify;
	unsigned batch;
};

static int on_redis_opt(void *arg, int key, const char *val)
{
	struct redis_opts *o = arg;
	uint64_t n;
	const char *colon;

	switch (key) {
	case OPT_SRC: o->src = val; return 0;
	case OPT_DEST: o->dest = val; return 0;
	case OPT_MATCH: o->match = val; return 0;
	case OPT_REPLACE: o->replace = 1; return 0;
	case OPT_PASSWORD_FILE: o->password_file = val; return 0;
	case OPT_DEST_PASSWORD_FILE: o->dest_password_file = val; return 0;
	case OPT_NO_VERIFY: o->no_verify = 1; return 0;
	case OPT_DB:
		if (mm_parse_u64(val, &n) || n > 1000000) {
			log_error("redis: --db %s: not a database number", val);
			return -1;
		}
		o->dbs = xrealloc(o->dbs, (o->ndbs + 1) * sizeof *o->dbs);
		o->dbs[o->ndbs++] = (int)n;
		return 0;
	case OPT_BATCH:
		if (mm_parse_u64(val, &n) || n < 1 || n > 100000) {
			log_error("redis: --batch %s: give 1 to 100000", val);
			return -1;
		}
		o->batch = (unsigned)n;
		return 0;
	case OPT_RENAME_HISTORY:
		colon = strchr(val, ':');
		if (!colon || colon == val || !colon[1] ||
		    strchr(colon + 1, ':')) {
			log_error("redis: --rename-history %s: give OLD:NEW, the "
				  "old and the new host name", val);
			return -1;
		}
		free(o->hist_old);
		free(o->hist_new);
		o->hist_old = xstrndup(val, (size_t)(colon - val));
		o->hist_new = xstrdup(colon + 1);
		return 0;
	}
	return -1;
}

/* The password in a password file (secret.c), as a new string; NULL
 * after saying why. */
static char *read_password_file(const char *path)
{
	struct buf b = BUF_INIT;

	if (secret_read_file(path, &b))
		return NULL;
	return buf_detach(&b);
}

/*
 * Fills conf from rspamd's files on one side: the old server through the
 * agent (ep), or the new one under `root`.  Returns 0, or -1 (an unreadable
 * or unparsable file, reported; or the agent link failed: *link_failed).
 */
static int discover(struct endpoint *ep, const char *root, const char *side,
		    struct redis_conf *conf, const char **found_in,
		    int *link_failed)
{
	/* With the address given, a file that cannot be understood costs
	 * only its password: warn and go on. */
	int given = conf->has_addr;
	struct buf text = BUF_INIT;
	size_t i;
	int rc = 0, err;

	*found_in = NULL;
	for (i = 0; i < N_CONF_FILES; i++) {
		const char *path = rspamd_conf_files[i];
		int had = conf->has_addr;

		if (ep)
			err = remote_read_file(ep, path, &text, CONF_MAX, NULL);
		else
			err = fs_read_under(root, path, &text, CONF_MAX);
		if (err < 0) {
			*link_failed = 1;
			rc = -1;
			break;
		}
		if (err == ENOENT || err == ENOTDIR)
			continue;
		if (err) {
			log_error("redis: %s server: %s: %s", side, path,
				  mm_strerror(err));
			rc = -1;
			break;
		}
		if (redis_conf_parse(conf, text.data ? text.data : "",
				     text.len) < 0) {
			if (given) {
				log_warn("redis: %s server: %s: cannot "
					 "understand its servers setting", side,
					 path);
				continue;
			}
			log_error("redis: %s server: %s: cannot understand its "
				  "servers setting (give the address with %s)",
				  side, path, ep ? "--src" : "--dest");
			rc = -1;
			break;
		}
		if (!had && conf->has_addr)
			*found_in = path;
	}
	if (text.data)
		explicit_bzero(text.data, text.cap);
	buf_release(&text);
	return rc;
}

/* The server's run_id (INFO server), to refuse copying a server onto
 * itself.  Returns a new string or NULL. */
static char *server_run_id(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO server");
	char *id = NULL, *p;

	if (r && r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "run_id:")) != NULL)
		id = xstrndup(p + 7, strcspn(p + 7, "\r\n"));
	if (r)
		freeReplyObject(r);
	return id;
}

static json_t *db_json(const struct redis_db_stats *s, int verify)
{
	json_t *j = json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			      "s:I, s:I}",
			      "db", s->db, "dest_db", s->dest_db,
			      "keys", (json_int_t)s->keys,
			      "copied", (json_int_t)s->copied,
			      "copied_by_type", (json_int_t)s->fallback,
			      "identical", (json_int_t)s->identical,
			      "conflicts", (json_int_t)s->conflicts,
			      "replaced", (json_int_t)s->replaced,
			      "vanished", (json_int_t)s->gone,
			      "failed", (json_int_t)s->failed,
			      "renamed", (json_int_t)s->renamed);
	if (verify)
		json_object_set_new(j, "check", json_pack(
			"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"keys", (json_int_t)s->v_keys,
			"present", (json_int_t)s->v_present,
			"equal", (json_int_t)s->v_equal,
			"missing", (json_int_t)s->v_missing,
			"different", (json_int_t)s->v_differ,
			"ttl_different", (json_int_t)s->v_ttl,
			"dbsize_old", (json_int_t)s->dbsize_src,
			"dbsize_new", (json_int_t)s->dbsize_dest));
	return j;
}

static void report(const struct redis_copy_result *res,
		   const struct redis_copy_opts *co, int rc)
{
	json_t *dbs = json_array();
	size_t i;
	uint64_t total = 0;

	for (i = 0; i < res->ndb; i++) {
		const struct redis_db_stats *s = &res->db[i];
		int verify = co->verify && !co->dry_run;

		total += s->keys;
		char label[48];

		if (s->dest_db != s->db)
			snprintf(label, sizeof label, "db%d -> db%d", s->db,
				 s->dest_db);
		else
			snprintf(label, sizeof label, "db%d", s->db);
		log_out("%s: %llu keys: %llu %scopied, %llu by type, "
			"%llu identical (skipped), %llu conflicts kept, "
			"%llu %sreplaced, %llu vanished, %llu failed%s\n",
			label,
			(unsigned long long)s->keys,
			(unsigned long long)s->copied,
			co->dry_run ? "to be " : "",
			(unsigned long long)s->fallback,
			(unsigned long long)s->identical,
			(unsigned long long)s->conflicts,
			(unsigned long long)s->replaced,
			co->dry_run ? "to be " : "",
			(unsigned long long)s->gone,
			(unsigned long long)s->failed,
			s->renamed ? ", history renamed" : "");
		if (verify)
			log_out("db%d check: %llu keys on the old server, %llu "
				"present on the new, %llu equal, %llu missing, "
				"%llu different, %llu with another TTL; DBSIZE "
				"old %lld, new %lld\n", s->dest_db,
				(unsigned long long)s->v_keys,
				(unsigned long long)s->v_present,
				(unsigned long long)s->v_equal,
				(unsigned long long)s->v_missing,
				(unsigned long long)s->v_differ,
				(unsigned long long)s->v_ttl,
				s->dbsize_src, s->dbsize_dest);
		json_array_append_new(dbs, db_json(s, verify));
	}
	if (!res->ndb)
		log_out("redis: the old server has no keys in the selected "
			"databases\n");
	if (res->history_kept)
		log_info("redis: rspamd's history (rs_history<host>, %llu "
			 "keys) keeps the old host's name; --rename-history "
			 "OLD:NEW names it for this host",
			 (unsigned long long)res->history_kept);
	if (res->fallback_used)
		log_out("redis: the new server refused DUMP payloads; keys "
			"were copied by type\n");
	out_result(json_pack("{s:o, s:I, s:b, s:s?, s:b, s:f, s:f, s:i}",
			     "databases", dbs, "keys", (json_int_t)total,
			     "fallback", res->fallback_used,
			     "fallback_reason", res->fallback_reason,
			     "dry_run", co->dry_run,
			     "seconds_copy", res->seconds_copy,
			     "seconds_check", res->seconds_verify,
			     "exit", rc));
}

static const struct option redis_options[] = {
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dest", required_argument, NULL, OPT_DEST },
	{ "db", required_argument, NULL, OPT_DB },
	{ "match", required_argument, NULL, OPT_MATCH },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "rename-history", required_argument, NULL,
	  OPT_RENAME_HISTORY },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "dest-password-file", required_argument, NULL,
	  OPT_DEST_PASSWORD_FILE },
	{ "no-check", no_argument, NULL, OPT_NO_VERIFY },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ NULL, 0, NULL, 0 },
};

/* Checks the operands and the addresses given, reads the password files
 * (*spw, *dpw).  Returns MM_OK or MM_EUSAGE (said why). */
static int take_args(struct mm_ctx *ctx, struct redis_opts *o, int argc,
		     char **argv, int first, struct redis_conf *sconf,
		     struct redis_conf *dconf, char **spw, char **dpw)
{
	const char *why;

	if (first < argc) {
		log_error("redis: unexpected argument %s (see mailmove redis "
			  "--help)", argv[first]);
		return MM_EUSAGE;
	}
	if (!ctx->from && !o->src) {
		log_error("redis: which old server? Give --from HOST (its Redis "
			  "is reached through the agent) or --src ADDR");
		return MM_EUSAGE;
	}
	if (o->src && redis_addr_parse(&sconf->addr, o->src, 0, &why) < 0) {
		log_error("redis: --src %s: %s", o->src, why);
		return MM_EUSAGE;
	}
	sconf->has_addr = o->src != NULL;
	if (o->dest && redis_addr_parse(&dconf->addr, o->dest, 0, &why) < 0) {
		log_error("redis: --dest %s: %s", o->dest, why);
		return MM_EUSAGE;
	}
	dconf->has_addr = o->dest != NULL;
	if (o->password_file && !(*spw = read_password_file(o->password_file)))
		return MM_EUSAGE;
	if (o->dest_password_file &&
	    !(*dpw = read_password_file(o->dest_password_file)))
		return MM_EUSAGE;
	return MM_OK;
}

/* rspamd's database numbers differ on the two servers: say what happens. */
static void warn_db_numbers(const struct redis_opts *o,
			    const struct redis_conf *sconf,
			    const struct redis_conf *dconf)
{
	int sdb = sconf->db > 0 ? sconf->db : 0;
	int ddb = dconf->db > 0 ? dconf->db : 0;

	if (!o->dest && sdb != ddb)
		log_warn("redis: rspamd uses database %d on the old server and "
			 "%d on the new one; databases are copied to the same "
			 "number unless --dest names one (redis://HOST:PORT/%d "
			 "with --db %d)", sdb, ddb, ddb, sdb);
}

/* The copy's options from the command's. */
static void copy_opts(struct redis_copy_opts *co, const struct redis_opts *o,
		      struct redis_conf *sconf, const struct redis_conf *dconf,
		      int dry_run)
{
	memset(co, 0, sizeof *co);
	co->match = o->match;
	co->dbs = o->dbs;
	co->ndbs = o->ndbs;
	if (sconf->addr.db >= 0 && o->src) {
		co->dbs = &sconf->addr.db;
		co->ndbs = 1;
	}
	co->dest_db = o->dest ? dconf->addr.db : -1;
	co->replace = o->replace;
	co->dry_run = dry_run;
	co->verify = !o->no_verify;
	co->hist_old = o->hist_old;
	co->hist_new = o->hist_new;
	co->batch = o->batch;
	/* Hidden switch for tests and benchmarks: copy by type everywhere. */
	co->force_fallback = getenv("MAILMOVE_REDIS_BY_TYPE") != NULL;
}

int cmd_redis(struct mm_ctx *ctx, int argc, char **argv)
{
	struct redis_opts o;
	struct redis_conf sconf, dconf;
	struct redis_copy_opts co;
	struct redis_copy_result res;
	struct endpoint *ep = NULL;
	struct fwd *f = NULL;
	redisContext *src = NULL, *dst = NULL;
	struct buf sdesc = BUF_INIT, ddesc = BUF_INIT, target = BUF_INIT;
	char *spw = NULL, *dpw = NULL, *sid = NULL, *did = NULL;
	const char *why, *found = NULL;
	int first, rc, link_failed = 0;

	memset(&o, 0, sizeof o);
	o.batch = 1000;
	redis_conf_init(&sconf);
	redis_conf_init(&dconf);
	redis_copy_result_init(&res);
	rc = mm_parse_options(ctx, argc, argv, redis_options, NULL,
			      on_redis_opt, &o, &first);
	if (rc) {
		rc = rc < 0 ? MM_OK : rc;
		goto out;
	}
	if (!ctx->dry_run && (rc = mm_lock_command(ctx)))
		goto out;
	rc = take_args(ctx, &o, argc, argv, first, &sconf, &dconf, &spw, &dpw);
	if (rc)
		goto out;
	rc = MM_EUSAGE;
	/* The new server's Redis: --dest, else rspamd's files under --to. */
	if (discover(NULL, mm_dest_root(ctx), "new", &dconf, &found,
		     &link_failed) < 0)
		goto out;
	if (!dconf.has_addr) {
		redis_addr_parse(&dconf.addr, "redis://127.0.0.1:6379", 0, &why);
		dconf.has_addr = 1;
	}
	redis_addr_target(&dconf.addr, &ddesc);
	if (found && !o.dest)
		log_verbose("redis: new server's Redis %s from %s",
			    buf_cstr(&ddesc), found);

	/* The old server's: --src, else rspamd's files there; reached
	 * through the agent when there is an old server. */
	if (ctx->from) {
		rc = ep_open_ctx(ctx, &ep);
		if (rc)
			goto out;
		rc = MM_EUSAGE;
		if (discover(ep, NULL, "old", &sconf, &found, &link_failed) < 0) {
			if (link_failed)
				rc = ep_exit_code(ep);
			goto out;
		}
		if (!sconf.has_addr) {
			redis_addr_parse(&sconf.addr, "redis://127.0.0.1:6379",
					 0, &why);
			sconf.has_addr = 1;
		}
		redis_addr_target(&sconf.addr, &target);
		if (found && !o.src)
			log_verbose("redis: old server's Redis %s from %s",
				    buf_cstr(&target), found);
		rc = fwd_start(ep, target.data, &f);
		if (rc)
			goto out;
	}
	redis_addr_target(&sconf.addr, &sdesc);
	if (f)
		buf_addstr(&sdesc, " on the old server");
	if (!spw && sconf.password)
		spw = xstrdup(sconf.password);
	if (!dpw && dconf.password)
		dpw = xstrdup(dconf.password);

	rc = MM_EREMOTE;
	src = redis_connect(sdesc.data, &sconf.addr,
			    f ? fwd_socket_path(f) : NULL, sconf.username, spw);
	if (!src)
		goto out;
	rc = MM_EDEST;
	dst = redis_connect(ddesc.data, &dconf.addr, NULL, dconf.username, dpw);
	if (!dst)
		goto out;
	sid = server_run_id(src);
	did = server_run_id(dst);
	if (sid && did && !strcmp(sid, did)) {
		log_error("redis: %s and %s are the same Redis server; "
			  "nothing to copy", sdesc.data, ddesc.data);
		rc = MM_EUSAGE;
		goto out;
	}
	log_info("redis: %s%s -> %s", ctx->dry_run ? "(dry run) " : "",
		 sdesc.data, ddesc.data);
	warn_db_numbers(&o, &sconf, &dconf);
	copy_opts(&co, &o, &sconf, &dconf, ctx->dry_run);
	rc = redis_copy(src, dst, &co, &res);
	if (rc == MM_OK || rc == MM_EDIFF)
		report(&res, &co, rc);
out:
	if (src)
		redisFree(src);
	if (dst)
		redisFree(dst);
	if (f && fwd_stop(f) < 0 && (rc == MM_OK || rc == MM_EDIFF))
		rc = ep_exit_code(ep);
	if (ep)
		ep_close(ep);
	if (spw) {
		explicit_bzero(spw, strlen(spw));
		free(spw);
	}
	if (dpw) {
		explicit_bzero(dpw, strlen(dpw));
		free(dpw);
	}
	free(sid);
	free(did);
	free(o.dbs);
	free(o.hist_old);
	free(o.hist_new);
	buf_release(&sdesc);
	buf_release(&ddesc);
	buf_release(&target);
	redis_conf_release(&sconf);
	redis_conf_release(&dconf);
	redis_copy_result_release(&res);
	return rc;
}
