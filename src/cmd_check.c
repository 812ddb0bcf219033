/*
 * cmd_check.c: `mailmove check`, the preflight.  Reaches the old server,
 * says what both systems are, which mail components each has, how much mail
 * there is and whether the destination has room for it.  Changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "endpoint.h"
#include "fsops.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "banned.h"

/* A component is there when its program or its configuration is: the
 * configuration alone is what a copied or mounted root often has, and what
 * the later steps read (rspamd's redis.conf names the Redis to copy). */
#define NALT 4
static const char *const components[][1 + NALT] = {
	{ "postfix", "usr/sbin/postfix", "etc/postfix/main.cf" },
	{ "dovecot", "usr/sbin/dovecot", "etc/dovecot/dovecot.conf" },
	{ "mariadb", "usr/sbin/mariadbd" },
	{ "redis", "usr/bin/redis-server", "etc/redis/redis.conf",
	  "etc/rspamd/local.d/redis.conf", "etc/rspamd/override.d/redis.conf" },
	{ "rspamd", "usr/bin/rspamd" },
	{ "roundcube", "usr/share/roundcube" },
	{ "certbot", "etc/letsencrypt" },
	{ "vmail", "var/vmail" },
};
#define NCOMP (sizeof components / sizeof components[0])

struct tally {
	uint64_t files, bytes, dirs;
	struct progress prog;
};

static int tally_entry(void *arg, const struct rentry *e)
{
	struct tally *t = arg;

	if (e->kind == 'f') {
		t->files++;
		t->bytes += e->st.size;
		progress_add(&t->prog, 1, e->st.size);
	} else if (e->kind == 'd') {
		t->dirs++;
	}
	return 0;
}

struct present {
	int have[NCOMP];
	size_t comp[NCOMP * NALT];	/* asked path -> component */
};

static int present_cb(void *arg, uint32_t index, int err,
		      const struct mm_stat *st)
{
	struct present *p = arg;

	(void)st;
	if (err == 0 && index < NCOMP * NALT)
		p->have[p->comp[index]] = 1;
	return 0;
}

/* The old server's name: its host name over ssh; for a directory, the
 * root's /etc/hostname (read through the agent) and the directory. */
static void old_name(struct endpoint *ep, struct buf *out)
{
	struct buf h = BUF_INIT;
	size_t n;

	if (!ep->local) {
		buf_addstr(out, ep->info.hostname);
		return;
	}
	if (remote_read_file(ep, "/etc/hostname", &h, 256, NULL) == 0 &&
	    h.len) {
		n = strcspn(buf_cstr(&h), " \t\r\n");
		if (n)
			buf_printf(out, "%.*s in ", (int)n, h.data);
	}
	buf_addstr(out, ep->desc);
	buf_release(&h);
}

/* PRETTY_NAME of the destination root's os-release. */
static void local_os(const char *root, struct buf *out)
{
	struct buf text = BUF_INIT;
	char *p, *end;

	if (fs_read_under(root, "/etc/os-release", &text, 65536) ||
	    !(p = strstr(buf_cstr(&text), "PRETTY_NAME="))) {
		buf_release(&text);
		return;
	}
	p += 12;
	if (*p == '"')
		p++;
	end = strpbrk(p, "\"\n");
	buf_add(out, p, end ? (size_t)(end - p) : strlen(p));
	buf_release(&text);
}

/* Free bytes at the nearest existing directory of root/rel. */
static int local_free(const char *root, const char *rel, uint64_t *avail)
{
	struct buf path = BUF_INIT;
	struct statvfs sv;
	int rc;

	buf_printf(&path, "%s/%s", root, rel);
	while ((rc = statvfs(path.data, &sv)) < 0 && errno == ENOENT) {
		char *slash = strrchr(path.data, '/');
		if (!slash || slash == path.data)
			break;
		*slash = '\0';
		path.len = (size_t)(slash - path.data);
	}
	buf_release(&path);
	if (rc < 0)
		return -1;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

int cmd_check(struct mm_ctx *ctx, int argc, char **argv)
{
	char *paths[NCOMP * NALT];
	struct present old, dst;
	struct buf name = BUF_INIT;
	size_t npaths = 0, j;
	struct tally t;
	struct buf os = BUF_INIT, p = BUF_INIT;
	struct endpoint *ep;
	const char *root;
	char b1[32], b2[32];
	uint64_t avail = 0;
	int first, rc, lrc, problems = 0;
	size_t i;
	json_t *res, *jc;

	rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (first < argc && !ctx->from)
		ctx->from = argv[first++];
	if (first < argc) {
		log_error("check: unexpected argument %s", argv[first]);
		return MM_EUSAGE;
	}
	root = mm_dest_root(ctx);
	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	memset(&old, 0, sizeof old);
	memset(&dst, 0, sizeof dst);
	for (i = 0; i < NCOMP; i++)
		for (j = 1; j <= NALT && components[i][j]; j++) {
			old.comp[npaths] = i;
			paths[npaths++] = (char *)components[i][j];
		}
	if (remote_stat(ep, paths, npaths, present_cb, &old) < 0)
		goto lost;
	for (i = 0; i < NCOMP; i++)
		for (j = 1; j <= NALT && components[i][j]; j++) {
			struct stat st;
			buf_reset(&p);
			buf_printf(&p, "%s/%s", root, components[i][j]);
			if (lstat(p.data, &st) == 0)
				dst.have[i] = 1;
		}
	memset(&t, 0, sizeof t);
	progress_start(&t.prog, "counting the old server's mail", 0, 0);
	lrc = remote_list(ep, "var/vmail", LIST_STAT | LIST_RECURSE, 0,
			  tally_entry, &t);
	progress_end(&t.prog);
	if (lrc < 0)
		goto lost;
	local_os(root, &os);
	old_name(ep, &name);

	log_out("old server  %s (%s), agent %s\n", buf_cstr(&name),
		*ep->info.os ? ep->info.os : "unknown system",
		ep->info.agent_version);
	log_out("this server %s\n", os.len ? os.data : "unknown system");
	log_out("\n%-10s %-4s %-4s\n", "component", "old", "new");
	jc = json_object();
	for (i = 0; i < NCOMP; i++) {
		log_out("%-10s %-4s %-4s\n", components[i][0],
			old.have[i] ? "yes" : "-", dst.have[i] ? "yes" : "-");
		json_object_set_new(jc, components[i][0],
				    json_pack("{s:b, s:b}", "old", old.have[i],
					      "new", dst.have[i]));
	}
	if (lrc > 0) {
		log_out("\n/var/vmail on the old server: %s\n", strerror(lrc));
		problems++;
	} else {
		log_out("\nmail on the old server: %llu files in %llu "
			"directories, %s\n", (unsigned long long)t.files,
			(unsigned long long)t.dirs,
			mm_human_bytes(t.bytes, b1, sizeof b1));
	}
	if (local_free(root, "var/vmail", &avail) == 0) {
		log_out("free on this server for /var/vmail: %s\n",
			mm_human_bytes(avail, b2, sizeof b2));
		/* Room for the mail plus a tenth for indexes and new mail. */
		if (t.bytes + t.bytes / 10 > avail) {
			log_error("not enough space on the destination: need "
				  "%s, have %s", b1, b2);
			problems++;
			rc = MM_EDEST;
		}
	}
	res = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:i}",
			"old_host", buf_cstr(&name), "old_os", ep->info.os,
			"new_os", buf_cstr(&os), "components", jc,
			"vmail_files", (json_int_t)t.files,
			"vmail_bytes", (json_int_t)t.bytes,
			"dest_free_bytes", (json_int_t)avail,
			"problems", problems);
	if (!rc)
		rc = problems ? MM_EDIFF : MM_OK;
	json_object_set_new(res, "exit", json_integer(rc));
	out_result(res);
	ep_close(ep);
	buf_release(&name);
	buf_release(&os);
	buf_release(&p);
	return rc;
lost:
	rc = ep_exit_code(ep);
	ep_close(ep);
	buf_release(&name);
	buf_release(&os);
	buf_release(&p);
	return rc;
}
