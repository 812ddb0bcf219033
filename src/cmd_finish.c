/*
 * cmd_finish.c: `mailmove finish`, the seed procedure's last step: "If
 * possible do a final backup of the old server", then retire it.
 *
 * The old server's data (/var/vmail, the databases, /etc/postfix,
 * /etc/dovecot, /etc/rspamd, /etc/letsencrypt, /var/lib/rspamd) goes into
 * one gzip'ed tar archive written here, through the agent's listing and
 * reading (no shell and no tar needed there) and libarchive here.  The
 * databases are one `mysqldump --all-databases` run there, kept in a
 * private temporary file here until it is in the archive.  The archive is
 * written under a temporary name (mode 0600: it holds password hashes and
 * private keys), read back whole with libarchive and compared entry by
 * entry with what was written, and only then given its name.
 *
 * The relay that `cutover --relay-to` set up on the old Postfix stays
 * unless `--relay remove`, which restores the virtual_transport the
 * cutover recorded.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "fsops.h"
#include "lock.h"
#include "log.h"
#include "mailmove.h"
#include "postfix.h"
#include "proto.h"
#include "relay_state.h"
#include "remote.h"
#include "banned.h"

enum {
	OPT_ARCHIVE = 4000, OPT_ALSO, OPT_NO_DATABASES, OPT_RELAY,
	OPT_OLD_PF_CONFIG, OPT_ONLY, OPT_DB_SOCKET,
};

static const char *const default_paths[] = {
	"/var/vmail", "/etc/postfix", "/etc/dovecot", "/etc/rspamd",
	"/etc/letsencrypt", "/var/lib/rspamd",
};
#define NDEFAULT (sizeof default_paths / sizeof default_paths[0])
#define MAXPATHS 64

/* One entry written: what the read-back must find. */
struct wrote {
	char *name;
	uint64_t size;
	char kind;
};

struct finish {
	const char *archive, *old_postfix_config, *db_socket;
	const char *paths[MAXPATHS];
	size_t npaths;
	int no_databases, only, relay_remove;

	struct endpoint *ep;
	struct archive *a;
	struct wrote *w;
	size_t nw, capw;
	uint64_t bytes, files, missing, changed, unreadable;
	int write_error;

	/* the listing of one tree, then its reading */
	struct fentry { char *path; char kind; struct mm_stat st;
			char *target; } *e;
	size_t ne, cape;
	const char *base;
	/* the file being read */
	struct archive_entry *cur;
	uint64_t cur_size, cur_done;
	size_t cur_w;
};

static int finish_opt(void *arg, int key, const char *val)
{
	struct finish *f = arg;

	switch (key) {
	case OPT_ARCHIVE: f->archive = val; break;
	case OPT_NO_DATABASES: f->no_databases = 1; break;
	case OPT_OLD_PF_CONFIG: f->old_postfix_config = val; break;
	case OPT_DB_SOCKET:
		if (val[0] != '/') {
			log_error("finish: --db-socket %s: give an absolute "
				  "path", val);
			return -1;
		}
		f->db_socket = val;
		break;
	case OPT_ONLY:
	case OPT_ALSO:
		if (key == OPT_ONLY && !f->only) {
			f->only = 1;	/* the first --only drops the defaults */
			f->npaths = 0;
		}
		if (val[0] != '/' || strstr(val, "/../") ||
		    !strcmp(val, "/") || f->npaths >= MAXPATHS) {
			log_error("finish: %s: give an absolute path (not /), "
				  "at most %d", val, MAXPATHS);
			return -1;
		}
		f->paths[f->npaths++] = val;
		break;
	case OPT_RELAY:
		if (!strcmp(val, "keep"))
			f->relay_remove = 0;
		else if (!strcmp(val, "remove"))
			f->relay_remove = 1;
		else {
			log_error("finish: --relay %s: give keep or remove", val);
			return -1;
		}
		break;
	default:
		return -1;
	}
	return 0;
}

static void note_written(struct finish *f, const char *name, uint64_t size,
			 char kind)
{
	XGROW(f->w, f->nw, f->capw, 256);
	f->w[f->nw].name = xstrdup(name);
	f->w[f->nw].size = size;
	f->w[f->nw].kind = kind;
	f->nw++;
}

static int arch_fail(struct finish *f, const char *what)
{
	log_error("finish: writing the archive (%s): %s", what,
		  archive_error_string(f->a) ? archive_error_string(f->a) :
		  "unknown error");
	f->write_error = 1;
	return -1;
}

/* The name in the archive: old-server/ plus the path without its '/'. */
static void entry_name(struct buf *out, const char *base, const char *rel)
{
	buf_reset(out);
	buf_printf(out, "old-server%s%s%s", base, rel[0] ? "/" : "", rel);
}

static struct archive_entry *new_entry(const char *name,
				       const struct mm_stat *st,
				       unsigned type, uint64_t size)
{
	struct archive_entry *ae = archive_entry_new();

	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, st->mode & 07777);
	archive_entry_set_uid(ae, st->uid);
	archive_entry_set_gid(ae, st->gid);
	archive_entry_set_mtime(ae, (time_t)st->mtime_s, st->mtime_ns);
	archive_entry_set_size(ae, (la_int64_t)size);
	return ae;
}

static int list_cb(void *arg, const struct rentry *e)
{
	struct finish *f = arg;
	struct fentry *fe;

	if (e->kind == 'e') {
		log_warn("finish: %s/%s: cannot read this directory there: %s",
			 f->base, e->path, strerror(e->err));
		f->unreadable++;
		return 0;
	}
	if (!e->has_stat || (e->kind != 'f' && e->kind != 'd' &&
			     e->kind != 'l'))
		return 0;	/* sockets, fifos: nothing to keep */
	XGROW(f->e, f->ne, f->cape, 1024);
	fe = &f->e[f->ne++];
	fe->path = xstrdup(e->path);
	fe->kind = e->kind;
	fe->st = e->st;
	fe->target = e->target ? xstrdup(e->target) : NULL;
	return 0;
}

static int read_begin(void *arg, uint32_t index, int err,
		      const struct mm_stat *st)
{
	struct finish *f = arg;
	struct buf name = BUF_INIT;
	struct fentry *fe = &f->e[index];

	f->cur = NULL;
	if (err) {
		if (err != ENOENT) {
			log_warn("finish: %s/%s: %s", f->base, fe->path,
				 strerror(err));
			f->unreadable++;
		}
		return 0;
	}
	entry_name(&name, f->base, fe->path);
	/* The size at open time: what is read must fill exactly that. */
	f->cur_size = st->size;
	f->cur_done = 0;
	f->cur = new_entry(name.data, st, AE_IFREG, st->size);
	if (archive_write_header(f->a, f->cur) != ARCHIVE_OK) {
		buf_release(&name);
		return arch_fail(f, fe->path);
	}
	f->cur_w = f->nw;
	note_written(f, name.data, st->size, 'f');
	buf_release(&name);
	return 0;
}

static int read_data(void *arg, uint32_t index, const void *p, size_t n)
{
	(void)index;
	struct finish *f = arg;

	if (!f->cur)
		return 0;
	if (f->cur_done + n > f->cur_size)
		n = (size_t)(f->cur_size - f->cur_done);	/* it grew */
	if (n && archive_write_data(f->a, p, n) != (la_ssize_t)n)
		return arch_fail(f, "data");
	f->cur_done += n;
	f->bytes += n;
	return 0;
}

static int read_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct finish *f = arg;

	if (!f->cur)
		return 0;
	if (err || total != f->cur_size) {
		/* libarchive pads a short entry with zeros. */
		log_warn("finish: %s/%s changed while it was read (%s); the "
			 "archive holds %llu bytes of it", f->base,
			 f->e[index].path, err ? strerror(err) : "size",
			 (unsigned long long)f->cur_done);
		f->changed++;
	}
	f->files++;
	if (archive_write_finish_entry(f->a) != ARCHIVE_OK)
		return arch_fail(f, "entry");
	archive_entry_free(f->cur);
	f->cur = NULL;
	return 0;
}

static void entries_release(struct finish *f)
{
	size_t i;

	for (i = 0; i < f->ne; i++) {
		free(f->e[i].path);
		free(f->e[i].target);
	}
	f->ne = 0;
}

/* Lists one tree on the old server and writes it into the archive. */
static int archive_tree(struct finish *f, const char *base)
{
	static const struct rread_ops ops = { read_begin, read_data, read_end };
	struct buf name = BUF_INIT, full = BUF_INIT;
	char **paths = NULL;
	size_t i, j, np;
	int rc;

	f->base = base;
	rc = remote_list(f->ep, base, LIST_STAT | LIST_RECURSE, 0, list_cb, f);
	if (rc < 0)
		return ep_exit_code(f->ep);
	if (rc == ENOENT || rc == ENOTDIR) {
		log_info("finish: %s: not on the old server", base);
		f->missing++;
		return MM_OK;
	}
	if (rc) {
		log_warn("finish: %s: cannot list it there: %s", base,
			 strerror(rc));
		f->unreadable++;
		return MM_OK;
	}
	/* Directories and symbolic links from the listing. */
	for (i = 0; i < f->ne && !f->write_error; i++) {
		struct fentry *fe = &f->e[i];
		struct archive_entry *ae;

		if (fe->kind == 'f')
			continue;
		entry_name(&name, base, fe->path);
		ae = new_entry(name.data, &fe->st, fe->kind == 'd' ? AE_IFDIR
			       : AE_IFLNK, 0);
		if (fe->kind == 'l')
			archive_entry_set_symlink(ae, fe->target ? fe->target
						  : "");
		if (archive_write_header(f->a, ae) != ARCHIVE_OK)
			arch_fail(f, name.data);
		else
			note_written(f, name.data, 0, fe->kind);
		archive_entry_free(ae);
	}
	/* Files, 256 per request; indexes into f->e through a map. */
	paths = xcalloc(256, sizeof *paths);
	for (i = 0; i < f->ne && !f->write_error && !mm_interrupted; ) {
		size_t map[256];

		for (np = 0; i < f->ne && np < 256; i++) {
			if (f->e[i].kind != 'f')
				continue;
			buf_reset(&full);
			buf_printf(&full, "%s/%s", base, f->e[i].path);
			paths[np] = xstrdup(full.data);
			map[np++] = i;
		}
		if (!np)
			break;
		{
			/* The callbacks see the request's index: remap. */
			struct fentry *saved = f->e;
			struct fentry *sub = xcalloc(np, sizeof *sub);

			for (j = 0; j < np; j++)
				sub[j] = saved[map[j]];
			f->e = sub;
			rc = remote_read(f->ep, paths, np, &ops, f);
			f->e = saved;
			free(sub);
		}
		for (j = 0; j < np; j++)
			free(paths[j]);
		if (rc < 0) {
			free(paths);
			buf_release(&name);
			buf_release(&full);
			return ep_exit_code(f->ep);
		}
	}
	free(paths);
	buf_release(&name);
	buf_release(&full);
	entries_release(f);
	if (mm_interrupted)
		return MM_EINTR;
	return f->write_error ? MM_EDEST : MM_OK;
}

/* Where mysqldump's output goes: stdout to the file, stderr kept. */
struct dump {
	int fd;
	struct buf err;
};

static int dump_out(void *arg, const void *p, size_t n)
{
	int fd = ((struct dump *)arg)->fd;
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int dump_err(void *arg, const void *p, size_t n)
{
	struct buf *b = &((struct dump *)arg)->err;

	if (b->len < 4096)
		buf_add(b, p, n);
	return 0;
}

/*
 * The old server's MariaDB, all databases, in one consistent dump
 * (mysqldump as root there: Debian's root logs in through the socket).
 * Kept in an unlinked temporary file here, then added to the archive.
 */
static int archive_databases(struct finish *f, const char *tmpdir)
{
	char *argv[] = { "mysqldump", "--all-databases", "--single-transaction",
			 "--routines", "--events", "--quick", NULL, NULL };
	struct buf why = BUF_INIT, path = BUF_INIT, sockopt = BUF_INIT;
	struct dump d;
	struct archive_entry *ae;
	struct mm_stat st;
	struct stat sb;
	char chunk[65536];
	ssize_t n;
	int fd, rc, status = -1;

	buf_printf(&path, "%s/databases.sql", tmpdir);
	fd = open(path.data, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		  O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("finish: %s: %s", path.data, strerror(errno));
		buf_release(&path);
		return MM_EDEST;
	}
	unlink(path.data);
	buf_release(&path);
	d.fd = fd;
	d.err = (struct buf)BUF_INIT;
	if (f->db_socket) {
		buf_printf(&sockopt, "--socket=%s", f->db_socket);
		argv[6] = sockopt.data;
	}
	rc = remote_run_stream(f->ep, argv, NULL, dump_out, dump_err, &d,
			       &status, &why);
	buf_release(&sockopt);
	if (rc < 0) {
		close(fd);
		buf_release(&d.err);
		buf_release(&why);
		return ep_exit_code(f->ep);
	}
	if (rc || status != 0) {
		log_warn("finish: no database dump: mysqldump on %s %s: %s",
			 f->ep->desc, rc ? "could not run" : "failed",
			 rc ? (why.len ? buf_cstr(&why) : strerror(rc)) :
			 d.err.len ? buf_cstr(&d.err) : "no message");
		close(fd);
		buf_release(&why);
		buf_release(&d.err);
		f->unreadable++;
		return MM_OK;
	}
	buf_release(&why);
	buf_release(&d.err);
	if (fstat(fd, &sb) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return MM_EDEST;
	}
	memset(&st, 0, sizeof st);
	st.mode = 0600;
	st.mtime_s = (int64_t)time(NULL);
	ae = new_entry("databases/all-databases.sql", &st, AE_IFREG,
		       (uint64_t)sb.st_size);
	if (archive_write_header(f->a, ae) != ARCHIVE_OK) {
		archive_entry_free(ae);
		close(fd);
		arch_fail(f, "databases");
		return MM_EDEST;
	}
	archive_entry_free(ae);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (archive_write_data(f->a, chunk, (size_t)n) != n) {
			close(fd);
			arch_fail(f, "databases");
			return MM_EDEST;
		}
	close(fd);
	if (archive_write_finish_entry(f->a) != ARCHIVE_OK) {
		arch_fail(f, "databases");
		return MM_EDEST;
	}
	note_written(f, "databases/all-databases.sql", (uint64_t)sb.st_size,
		     'f');
	f->bytes += (uint64_t)sb.st_size;
	log_info("finish: the databases: %lld bytes of mysqldump",
		 (long long)sb.st_size);
	return MM_OK;
}

/*
 * Reads the archive back whole (every byte decompressed) and compares it
 * entry by entry, in order, with what was written.  0, or -1 after saying
 * what differs.
 */
static int verify_archive(struct finish *f, int fd, uint64_t *entries)
{
	struct archive *r = archive_read_new();
	struct archive_entry *ae;
	size_t i = 0;
	int rc = 0, st;
	char chunk[65536];

	archive_read_support_filter_gzip(r);
	archive_read_support_format_all(r);
	if (lseek(fd, 0, SEEK_SET) < 0 ||
	    archive_read_open_fd(r, fd, 65536) != ARCHIVE_OK) {
		log_error("finish: cannot read the archive back: %s",
			  archive_error_string(r));
		archive_read_free(r);
		return -1;
	}
	while ((st = archive_read_next_header(r, &ae)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ae);
		uint64_t got = 0;
		size_t len = name ? strlen(name) : 0;
		la_ssize_t n;

		while ((n = archive_read_data(r, chunk, sizeof chunk)) > 0)
			got += (uint64_t)n;
		/* A directory reads back with a trailing '/'. */
		if (len && name[len - 1] == '/')
			len--;
		if (n < 0 || i >= f->nw || strlen(f->w[i].name) != len ||
		    strncmp(name, f->w[i].name, len) ||
		    (f->w[i].kind == 'f' && got != f->w[i].size)) {
			log_error("finish: the archive read back differs at "
				  "entry %zu (%s): %s", i + 1, name,
				  n < 0 ? archive_error_string(r) :
				  "name or size");
			rc = -1;
			break;
		}
		i++;
	}
	if (!rc && st != ARCHIVE_EOF) {
		log_error("finish: the archive read back ends early: %s",
			  archive_error_string(r));
		rc = -1;
	}
	if (!rc && i != f->nw) {
		log_error("finish: the archive read back holds %zu entries, "
			  "%zu were written", i, f->nw);
		rc = -1;
	}
	archive_read_free(r);
	*entries = i;
	return rc;
}

/* Restores the old Postfix's virtual_transport that cutover recorded. */
static int relay_remove(struct mm_ctx *ctx, struct finish *f)
{
	struct pf_runner pr = { f->ep, f->old_postfix_config };
	struct buf saved = BUF_INIT, set = BUF_INIT, out = BUF_INIT,
		   err = BUF_INIT;
	const char *args[] = { "-e", NULL, NULL };
	const char *reload[] = { "reload", NULL };
	const char *status[] = { "status", NULL };
	int rc, st, running;

	if (relay_state_load(ctx, &saved) != 0) {
		log_error("finish: --relay remove: no virtual_transport "
			  "recorded by cutover --relay-to (%s/var/lib/mailmove/"
			  "relay-saved); restore it by hand with postconf -e",
			  mm_dest_root(ctx));
		return MM_EUSAGE;
	}
	if (ctx->dry_run) {
		log_out("--dry-run: would set virtual_transport=%s on %s\n",
			saved.data, f->ep->desc);
		buf_release(&saved);
		return MM_OK;
	}
	buf_printf(&set, "virtual_transport=%s", saved.data);
	args[1] = set.data;
	rc = pf_run(&pr, "postfix", status, NULL, &out, &err, 1u << 16, &st);
	running = rc == 0 && st == 0;
	if (rc >= 0)
		rc = pf_run(&pr, "postconf", args, NULL, &out, &err, 1u << 16,
			    &st);
	if (!rc && !st && running)
		rc = pf_run(&pr, "postfix", reload, NULL, &out, &err, 1u << 16,
			    &st);
	if (rc < 0)
		rc = ep_exit_code(f->ep);
	else if (rc || st) {
		log_error("finish: restoring virtual_transport on %s failed: "
			  "%s", f->ep->desc, rc ? strerror(rc) : buf_cstr(&err));
		rc = MM_EDIFF;
	} else {
		log_info("finish: the old Postfix delivers locally again "
			 "(virtual_transport=%s)%s", saved.data, running ? "" :
			 "; it is not running: this takes effect when it "
			 "starts");
		rc = MM_OK;
	}
	buf_release(&saved);
	buf_release(&set);
	buf_release(&out);
	buf_release(&err);
	return rc;
}

/* Where the archive goes: --archive, or a dated name in
 * /var/backups/mailmove/ under the destination root. */
static void archive_path(const struct mm_ctx *ctx, const struct finish *f,
			 struct buf *out)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (f->archive) {
		buf_addstr(out, f->archive);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	buf_addstr(out, mm_dest_root(ctx));
	while (out->len && out->data[out->len - 1] == '/')
		out->data[--out->len] = '\0';
	buf_printf(out, "/var/backups/mailmove/old-server-%s.tar.gz", stamp);
}

/* The archive written into `afd`: every tree of the old server, then
 * its databases (dumped through `tmpdir`).  MM_OK or an exit code. */
static int write_archive(struct finish *f, int afd, const char *tmpdir)
{
	size_t i;
	int rc = MM_OK;

	f->a = archive_write_new();
	archive_write_add_filter_gzip(f->a);
	archive_write_set_format_pax_restricted(f->a);
	if (archive_write_open_fd(f->a, afd) != ARCHIVE_OK) {
		arch_fail(f, "open");
		return MM_EDEST;
	}
	for (i = 0; i < f->npaths && !rc; i++) {
		log_info("finish: archiving %s:%s", f->ep->desc, f->paths[i]);
		rc = archive_tree(f, f->paths[i]);
	}
	if (!rc && !f->no_databases)
		rc = archive_databases(f, tmpdir);
	if (!rc && archive_write_close(f->a) != ARCHIVE_OK) {
		arch_fail(f, "close");
		rc = MM_EDEST;
	}
	return rc;
}

/* What the archive holds, and what could not go in it. */
static void say_archived(const struct finish *f, int afd, const char *path,
			 uint64_t entries)
{
	struct stat sb;
	char hb[32], hb2[32];

	if (fstat(afd, &sb) < 0)
		sb.st_size = 0;
	log_out("archive %s: %llu entries (%llu files, %s of data, %s "
		"compressed), read back and identical\n", path,
		(unsigned long long)entries, (unsigned long long)f->files,
		mm_human_bytes(f->bytes, hb, sizeof hb),
		mm_human_bytes((uint64_t)sb.st_size, hb2, sizeof hb2));
	if (f->changed || f->unreadable)
		log_warn("finish: %llu files changed while read, %llu could "
			 "not be read (see above)",
			 (unsigned long long)f->changed,
			 (unsigned long long)f->unreadable);
}

int cmd_finish(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "archive", required_argument, NULL, OPT_ARCHIVE },
		{ "also", required_argument, NULL, OPT_ALSO },
		{ "only", required_argument, NULL, OPT_ONLY },
		{ "no-databases", no_argument, NULL, OPT_NO_DATABASES },
		{ "db-socket", required_argument, NULL, OPT_DB_SOCKET },
		{ "relay", required_argument, NULL, OPT_RELAY },
		{ "old-postfix-config", required_argument, NULL,
		  OPT_OLD_PF_CONFIG },
		{ NULL, 0, NULL, 0 },
	};
	struct finish f;
	struct buf apath = BUF_INIT, dir = BUF_INIT, tmpname = BUF_INIT,
		   tmpdir = BUF_INIT;
	const char *slash, *name;
	uint64_t entries = 0;
	int first, rc, dfd = -1, afd = -1;
	size_t i;
	double t0 = mm_now();

	memset(&f, 0, sizeof f);
	for (i = 0; i < NDEFAULT; i++)
		f.paths[f.npaths++] = default_paths[i];
	rc = mm_parse_options(ctx, argc, argv, opts, NULL, finish_opt, &f,
			      &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (first < argc) {
		log_error("finish: unexpected argument %s", argv[first]);
		return MM_EUSAGE;
	}
	if (!ctx->dry_run && (rc = mm_lock_command(ctx)))
		return rc;
	archive_path(ctx, &f, &apath);
	if (apath.data[0] != '/' || apath.data[apath.len - 1] == '/') {
		log_error("finish: --archive %s: give an absolute file name",
			  apath.data);
		rc = MM_EUSAGE;
		goto out;
	}
	slash = strrchr(apath.data, '/');
	name = slash + 1;
	buf_add(&dir, apath.data, (size_t)(slash - apath.data));
	if (!dir.len)
		buf_addstr(&dir, "/");
	rc = ep_open_ctx(ctx, &f.ep);
	if (rc)
		goto out;
	if (ctx->dry_run) {
		log_out("--dry-run: would archive from %s:", f.ep->desc);
		for (i = 0; i < f.npaths; i++)
			log_out(" %s", f.paths[i]);
		log_out("%s\ninto %s (0600), read it back, and %s the relay\n",
			f.no_databases ? "" : " and all databases (mysqldump)",
			apath.data, f.relay_remove ? "remove" : "keep");
		rc = f.relay_remove ? relay_remove(ctx, &f) : MM_OK;
		goto out;
	}
	rc = fs_open_base("/", dir.data, 1, &dfd);
	if (rc) {
		log_error("finish: %s: %s", dir.data, strerror(rc));
		rc = MM_EDEST;
		goto out;
	}
	if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		log_error("finish: %s exists already; give another --archive",
			  apath.data);
		rc = MM_EDEST;
		goto out;
	}
	buf_printf(&tmpname, ".%s.%ld.tmp", name, (long)getpid());
	afd = openat(dfd, tmpname.data, O_RDWR | O_CREAT | O_EXCL |
		     O_NOFOLLOW | O_CLOEXEC, 0600);
	if (afd < 0) {
		log_error("finish: %s/%s: %s", dir.data, tmpname.data,
			  strerror(errno));
		rc = MM_EDEST;
		goto out;
	}
	buf_printf(&tmpdir, "%s/.mailmove-finish-XXXXXX", dir.data);
	if (!mkdtemp(tmpdir.data)) {
		log_error("finish: a private directory in %s: %s", dir.data,
			  strerror(errno));
		buf_reset(&tmpdir);
		rc = MM_EDEST;
		goto out;
	}
	rc = write_archive(&f, afd, tmpdir.data);
	if (rc)
		goto out;
	if (fsync(afd) < 0) {
		log_error("finish: %s: %s", apath.data, strerror(errno));
		rc = MM_EDEST;
		goto out;
	}
	if (verify_archive(&f, afd, &entries) < 0) {
		rc = MM_EDEST;
		goto out;
	}
	if (renameat(dfd, tmpname.data, dfd, name) < 0 || fsync(dfd) < 0) {
		log_error("finish: %s: %s", apath.data, strerror(errno));
		rc = MM_EDEST;
		goto out;
	}
	buf_reset(&tmpname);
	say_archived(&f, afd, apath.data, entries);
	if (f.relay_remove)
		rc = relay_remove(ctx, &f);
	else
		log_info("finish: the old Postfix keeps relaying to this "
			 "server (finish --relay remove undoes it)");
	if (!rc)
		log_info("finish: done in %.0f s.  The old server can be shut "
			 "down once users stop complaining.", mm_now() - t0);
out:
	if (f.a)
		archive_write_free(f.a);
	if (tmpname.len && dfd >= 0)
		unlinkat(dfd, tmpname.data, 0);
	if (tmpdir.len)
		rmdir(tmpdir.data);
	if (afd >= 0)
		close(afd);
	if (dfd >= 0)
		close(dfd);
	out_result(json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:b}",
			     "exit", rc, "archive", apath.data ? apath.data : "",
			     "entries", (json_int_t)entries,
			     "files", (json_int_t)f.files,
			     "bytes", (json_int_t)f.bytes,
			     "changed", (json_int_t)f.changed,
			     "unreadable", (json_int_t)f.unreadable,
			     "relay_removed", f.relay_remove && !rc));
	for (i = 0; i < f.nw; i++)
		free(f.w[i].name);
	free(f.w);
	entries_release(&f);
	free(f.e);
	ep_close(f.ep);
	buf_release(&apath);
	buf_release(&dir);
	buf_release(&tmpname);
	buf_release(&tmpdir);
	return rc;
}
