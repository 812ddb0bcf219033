/*
 * cmd_db.c: `mailmove db`, the mailserver database (virtual_domains,
 * virtual_users, virtual_aliases) or, with --roundcube, Roundcube's user
 * data, copied from the old server's database into this server's.
 *
 * This file finds both databases (--src/--dest, or each server's own
 * configuration: db_discover.c), reaches the old one (a copy of its SQLite
 * file, or its MariaDB through the agent: fwd.c), opens both, and hands
 * them to the copy engine (db_copy.c), whose rules are in db_copy.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "db_copy.h"
#include "db_discover.h"
#include "endpoint.h"
#include "fwd.h"
#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "secret.h"
#include "banned.h"

struct db_opts {
	const char *src, *dest, *mail_host;
	const char *password_file, *src_password_file;
	int roundcube, replace;
};

enum { OPT_SRC = 2000, OPT_DEST, OPT_ROUNDCUBE, OPT_MAIL_HOST, OPT_REPLACE,
       OPT_PASSWORD_FILE, OPT_SRC_PASSWORD_FILE };

static const struct option db_options[] = {
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dest", required_argument, NULL, OPT_DEST },
	{ "roundcube", no_argument, NULL, OPT_ROUNDCUBE },
	{ "mail-host", required_argument, NULL, OPT_MAIL_HOST },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "src-password-file", required_argument, NULL, OPT_SRC_PASSWORD_FILE },
	{ NULL, 0, NULL, 0 },
};

static int on_db_opt(void *arg, int key, const char *val)
{
	struct db_opts *o = arg;

	switch (key) {
	case OPT_SRC: o->src = val; break;
	case OPT_DEST: o->dest = val; break;
	case OPT_ROUNDCUBE: o->roundcube = 1; break;
	case OPT_MAIL_HOST: o->mail_host = val; break;
	case OPT_REPLACE: o->replace = 1; break;
	case OPT_PASSWORD_FILE: o->password_file = val; break;
	case OPT_SRC_PASSWORD_FILE: o->src_password_file = val; break;
	default: return -1;
	}
	return 0;
}

/* Copies the old server's SQLite file (and its -wal) into a private
 * directory and points `u` at the copy. */
struct fetch_ctx {
	int fd;
	int err;
};

static int fetch_begin(void *arg, uint32_t index, int err,
		       const struct mm_stat *st)
{
	struct fetch_ctx *f = arg;

	(void)index;
	(void)st;
	f->err = err;
	return 0;
}

static int fetch_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct fetch_ctx *f = arg;
	const char *c = p;

	(void)index;
	while (n && !f->err) {
		ssize_t w = write(f->fd, c, n);
		if (w < 0) {
			if (errno != EINTR)
				f->err = errno;
			continue;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fetch_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct fetch_ctx *f = arg;

	(void)index;
	(void)total;
	if (err && !f->err)
		f->err = err;
	return 0;
}

static int fetch_sqlite(struct endpoint *ep, struct db_url *u, char *tmpdir)
{
	static const struct rread_ops ops = { fetch_begin, fetch_data, fetch_end };
	static const char *const suffix[] = { "", "-wal" };
	struct buf local = BUF_INIT, remote = BUF_INIT;
	int i, rc = MM_OK;

	for (i = 0; i < 2; i++) {
		struct fetch_ctx f = { -1, 0 };
		char *paths[1];
		int r;

		buf_reset(&local);
		buf_printf(&local, "%s/db.sqlite%s", tmpdir, suffix[i]);
		buf_reset(&remote);
		buf_printf(&remote, "%s%s", u->path, suffix[i]);
		f.fd = open(local.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
		if (f.fd < 0) {
			log_error("%s: %s", local.data, strerror(errno));
			rc = MM_EDEST;
			break;
		}
		paths[0] = remote.data;
		r = remote_read(ep, paths, 1, &ops, &f);
		close(f.fd);
		if (r < 0) {
			rc = ep_exit_code(ep);
			break;
		}
		if (r == 0)
			r = f.err;
		if (r) {
			unlink(local.data);
			if (i == 1 && r == ENOENT)
				break;
			log_error("the old server's %s: %s", remote.data,
				  strerror(r));
			rc = MM_EUSAGE;
			break;
		}
	}
	if (rc == MM_OK) {
		buf_reset(&local);
		buf_printf(&local, "%s/db.sqlite", tmpdir);
		log_verbose("read the old server's %s into %s", u->path,
			    local.data);
		free(u->path);
		u->path = buf_detach(&local);
	}
	buf_release(&local);
	buf_release(&remote);
	return rc;
}

static void remove_tmpdir(const char *dir)
{
	struct buf p = BUF_INIT;

	buf_printf(&p, "%s/db.sqlite", dir);
	unlink(p.data);
	buf_addstr(&p, "-wal");
	unlink(p.data);
	buf_reset(&p);
	buf_printf(&p, "%s/db.sqlite-shm", dir);
	unlink(p.data);
	buf_reset(&p);
	buf_printf(&p, "%s/db.sqlite-journal", dir);
	unlink(p.data);
	rmdir(dir);
	buf_release(&p);
}

/* Where a discovered destination mailserver DB is written: root over the
 * local socket (Debian's unix_socket authentication), because the
 * account Postfix uses may only read. */
static void dest_as_root(struct db_found *f)
{
	if (f->url.engine != DB_MARIADB)
		return;
	if (f->url.host && strcmp(f->url.host, "127.0.0.1") &&
	    strcmp(f->url.host, "::1") && strcmp(f->url.host, "localhost"))
		return;
	free(f->url.user);
	f->url.user = xstrdup("root");
	free(f->url.host);
	f->url.host = NULL;
	f->url.port = 0;
	if (!f->url.socket)
		f->url.socket = xstrdup("/run/mysqld/mysqld.sock");
	buf_reset(&f->password);
	f->has_password = 0;
}

/* Everything one `mailmove db` holds, released by run_release(). */
struct db_run {
	struct mm_ctx *ctx;
	struct db_opts o;
	const char *set;	/* "mailserver" or "roundcube" */
	struct endpoint *ep;
	struct fwd *fwd;
	struct db_found src, dst;
	char tmpdir[64];	/* the old server's SQLite copy */
	char *src_remote_path;	/* its path there */
	char *missing_file;	/* a dry run's destination not made yet */
	struct buf mail_host, src_desc, dst_desc;
	struct db_copy copy;
};

/* Reads a password file into `f` when `path` is given (secret.c). */
static int take_password(const char *path, struct db_found *f)
{
	if (!path)
		return MM_OK;
	if (secret_read_file(path, &f->password))
		return MM_EUSAGE;
	f->has_password = 1;
	return MM_OK;
}

/* Fills r->dst from --dest (+ --password-file) or this server's config. */
static int resolve_dest(struct db_run *r)
{
	const char *root = mm_dest_root(r->ctx);
	struct db_found *dst = &r->dst;
	struct cfg_reader cr;
	struct buf d = BUF_INIT;
	int rc;

	if (r->o.dest) {
		if (db_url_parse(&dst->url, r->o.dest) < 0)
			return MM_EUSAGE;
		return take_password(r->o.password_file, dst);
	}
	cfg_reader_local(&cr, root);
	rc = r->o.roundcube ? db_discover_roundcube(&cr, dst)
		: db_discover_mailserver(&cr, dst);
	if (rc) {
		log_error("no %s database found in this server's configuration"
			  " under %s (%s): give --dest URL", r->set, root,
			  r->o.roundcube ? "/etc/roundcube/debian-db.php, "
			  "config.inc.php" : "postconf, /etc/postfix/*.cf, "
			  "Dovecot's SQL config");
		return MM_EUSAGE;
	}
	if (!r->o.roundcube)
		dest_as_root(dst);
	if (dst->url.engine == DB_SQLITE && strcmp(root, "/")) {
		char *p = dst->url.path;
		struct buf full = BUF_INIT;
		buf_printf(&full, "%s%s", root, p);
		dst->url.path = buf_detach(&full);
		free(p);
	}
	rc = take_password(r->o.password_file, dst);
	if (rc)
		return rc;
	db_url_format(&dst->url, &d);
	log_info("new %s database: %s (from %s%s)", r->set, d.data,
		 strcmp(root, "/") ? root : "", dst->file ? dst->file : "");
	buf_release(&d);
	return MM_OK;
}

/* Fills r->src from --src or the old server's config (read through
 * r->ep, which is NULL without --from). */
static int resolve_src(struct db_run *r)
{
	struct db_found disc, *src = &r->src;
	struct cfg_reader cr;
	int rc = 1;

	db_found_init(&disc);
	if (r->ep) {
		cfg_reader_remote(&cr, r->ep);
		rc = r->o.roundcube ? db_discover_roundcube(&cr, &disc)
			: db_discover_mailserver(&cr, &disc);
		if (rc < 0) {
			db_found_release(&disc);
			return ep_exit_code(r->ep);
		}
	}
	if (r->o.src) {
		if (db_url_parse(&src->url, r->o.src) < 0) {
			db_found_release(&disc);
			return MM_EUSAGE;
		}
		/* The same account as the old server's config: its password. */
		if (rc == 0 && src->url.engine == DB_MARIADB &&
		    disc.url.engine == DB_MARIADB && disc.has_password &&
		    !strcmp(src->url.user, disc.url.user)) {
			buf_addstr(&src->password, buf_cstr(&disc.password));
			src->has_password = 1;
		}
	} else if (rc == 0) {
		struct db_found tmp = *src;
		struct buf d = BUF_INIT;
		*src = disc;
		disc = tmp;
		db_url_format(&src->url, &d);
		log_info("old %s database: %s (from %s)", r->set, d.data,
			 src->file);
		buf_release(&d);
	} else {
		log_error("no %s database found in the old server's "
			  "configuration: give --src URL", r->set);
		db_found_release(&disc);
		return MM_EUSAGE;
	}
	db_found_release(&disc);
	return take_password(r->o.src_password_file, src);
}

/* users.mail_host for --roundcube: --mail-host, else this server's
 * Roundcube config, else left as it is. */
static void find_mail_host(struct db_run *r)
{
	struct cfg_reader cr;

	if (r->o.mail_host) {
		buf_addstr(&r->mail_host, r->o.mail_host);
		return;
	}
	cfg_reader_local(&cr, mm_dest_root(r->ctx));
	cr.postconf = NULL;
	if (db_discover_mail_host(&cr, &r->mail_host) == 0)
		log_info("users.mail_host will be %s (imap_host in this "
			 "server's Roundcube config)", r->mail_host.data);
	else
		log_warn("users.mail_host stays as it is: no --mail-host and "
			 "no single imap_host in this server's "
			 "/etc/roundcube/config.inc.php");
}

/* Makes the old server's database reachable from here: its SQLite file
 * copied into a private directory, or its MariaDB forwarded through the
 * agent to a local socket.  Messages then name the old server. */
static int reach_source(struct db_run *r)
{
	struct db_url *u = &r->src.url;
	struct buf target = BUF_INIT;
	const char *t = getenv("TMPDIR");
	int rc;

	if (u->engine == DB_SQLITE) {
		snprintf(r->tmpdir, sizeof r->tmpdir, "%s/mailmove-db.XXXXXX",
			 t && strlen(t) < 40 ? t : "/tmp");
		if (!mkdtemp(r->tmpdir)) {
			log_error("cannot make a temporary directory: %s",
				  strerror(errno));
			r->tmpdir[0] = '\0';
			return MM_EDEST;
		}
		r->src_remote_path = xstrdup(u->path);
		rc = fetch_sqlite(r->ep, u, r->tmpdir);
		buf_printf(&r->src_desc, "%s:sqlite:%s", r->ep->desc,
			   r->src_remote_path);
		return rc;
	}
	if (u->socket)
		buf_printf(&target, "unix:%s", u->socket);
	else
		buf_printf(&target, "tcp:%s:%u", u->host,
			   u->port ? u->port : 3306);
	rc = fwd_start(r->ep, target.data, &r->fwd);
	buf_release(&target);
	if (rc)
		return rc;
	free(u->host);
	free(u->socket);
	u->host = NULL;
	u->port = 0;
	u->socket = xstrdup(fwd_socket_path(r->fwd));
	buf_printf(&r->src_desc, "%s:mysql/%s", r->ep->desc, u->dbname);
	return MM_OK;
}

/* Opens both databases into r->copy. */
static int open_both(struct db_run *r)
{
	struct db_found *src = &r->src, *dst = &r->dst;

	if (db_open(&r->copy.src, &src->url,
		    src->has_password ? src->password.data : NULL, 0,
		    r->ep ? r->src_desc.data : NULL) < 0)
		return r->ep ? MM_EREMOTE : MM_EUSAGE;
	if (r->ctx->dry_run && dst->url.engine == DB_SQLITE &&
	    access(dst->url.path, F_OK) < 0 && errno == ENOENT) {
		/* Nothing to read yet: an empty database stands in for it. */
		log_out("would create %s\n", dst->url.path);
		r->missing_file = dst->url.path;
		dst->url.path = xstrdup(":memory:");
		buf_printf(&r->dst_desc, "sqlite:%s", r->missing_file);
	}
	if (db_open(&r->copy.dst, &dst->url,
		    dst->has_password ? dst->password.data : NULL,
		    !r->ctx->dry_run, r->missing_file ? r->dst_desc.data : NULL) < 0)
		return MM_EDEST;
	return MM_OK;
}

/* Finds, reaches and opens both ends, then copies. */
static int db_run(struct db_run *r)
{
	struct db_copy_opts co;
	const char *stall = getenv("MAILMOVE_TEST_STALL_ROWS");
	int rc;

	memset(&co, 0, sizeof co);
	rc = resolve_dest(r);
	if (rc)
		return rc;
	if (r->o.roundcube)
		find_mail_host(r);
	if (r->ctx->from) {
		rc = ep_open_ctx(r->ctx, &r->ep);
		if (rc)
			return rc;
	}
	rc = resolve_src(r);
	if (!rc && r->ep)
		rc = reach_source(r);
	if (rc)
		return rc;
	co.set = r->o.roundcube ? DB_SET_ROUNDCUBE : DB_SET_MAILSERVER;
	co.replace = r->o.replace;
	co.dry_run = r->ctx->dry_run;
	co.dest_root = mm_dest_root(r->ctx);
	co.mail_host = r->mail_host.len ? r->mail_host.data : NULL;
	co.src_remote = r->ep != NULL;
	if (stall && mm_parse_u64(stall, &co.stall_after) < 0)
		co.stall_after = 0;
	db_copy_init(&r->copy, &co);
	rc = open_both(r);
	return rc ? rc : db_copy_run(&r->copy);
}

/* Closes everything and prints the JSON result.  Returns the exit code. */
static int run_release(struct db_run *r, int rc)
{
	json_t *res;

	res = json_pack("{s:s, s:s, s:I, s:i}", "database", r->set, "status",
			db_copy_status_name(r->copy.status), "rows",
			(json_int_t)r->copy.copied, "exit", rc);
	if (r->copy.backup)
		json_object_set_new(res, "backup", json_string(r->copy.backup));
	if (r->mail_host.len)
		json_object_set_new(res, "mail_host",
				    json_string(r->mail_host.data));
	db_copy_release(&r->copy);
	if (r->fwd && fwd_stop(r->fwd) < 0 && !rc)
		rc = MM_EREMOTE;
	if (r->ep)
		ep_close(r->ep);
	if (r->tmpdir[0])
		remove_tmpdir(r->tmpdir);
	json_object_set_new(res, "exit", json_integer(rc));
	out_result(res);
	free(r->missing_file);
	free(r->src_remote_path);
	buf_release(&r->mail_host);
	buf_release(&r->src_desc);
	buf_release(&r->dst_desc);
	db_found_release(&r->src);
	db_found_release(&r->dst);
	return rc;
}

int cmd_db(struct mm_ctx *ctx, int argc, char **argv)
{
	struct db_run r;
	int first, rc;

	memset(&r, 0, sizeof r);
	rc = mm_parse_options(ctx, argc, argv, db_options, NULL, on_db_opt,
			      &r.o, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (!ctx->dry_run && (rc = mm_lock_command(ctx)))
		return rc;
	if (first < argc && !ctx->from)
		ctx->from = argv[first++];
	if (first < argc) {
		log_error("db: unexpected argument %s", argv[first]);
		return MM_EUSAGE;
	}
	if (!ctx->from && !r.o.src) {
		log_error("db: give --from HOST (the old server) or --src URL");
		return MM_EUSAGE;
	}
	if (r.o.mail_host && !r.o.roundcube) {
		log_error("db: --mail-host is for --roundcube");
		return MM_EUSAGE;
	}
	r.ctx = ctx;
	r.set = r.o.roundcube ? "roundcube" : "mailserver";
	db_found_init(&r.src);
	db_found_init(&r.dst);
	rc = db_run(&r);
	return run_release(&r, rc);
}
