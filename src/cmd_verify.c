/*
 * cmd_verify.c: `mailmove verify`, the command line around verify.c.
 *
 *     mailmove verify [--from HOST|DIR] [--to DIR] [--content] [--dovecot]
 *                     [--json] [SRC [DEST]]
 *
 * SRC and DEST default to /var/vmail on both servers; the rsync form
 * `root@old:/var/vmail/ /var/vmail/` gives the host as --from would.  SRC
 * may be a vmail root, one home, or one Maildir.  DEST is a path under the
 * destination root (--to).  Reads and changes nothing on the old server
 * beyond what --dovecot's doveadm does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "endpoint.h"
#include "location.h"
#include "log.h"
#include "mailmove.h"
#include "verify.h"
#include "banned.h"

enum {
	OPT_CONTENT = 2000, OPT_DOVECOT, OPT_SRC_CONF, OPT_DST_CONF,
	OPT_USER, OPT_SRC_DOVEADM, OPT_DST_DOVEADM,
};

struct verify_args {
	int content, dovecot;
	struct verify_dove_opts dove;
};

static int on_opt(void *arg, int key, const char *val)
{
	struct verify_args *a = arg;

	switch (key) {
	case OPT_CONTENT:
		a->content = 1;
		return 0;
	case OPT_DOVECOT:
		a->dovecot = 1;
		return 0;
	case OPT_SRC_CONF:
		a->dove.src_config = val;
		a->dovecot = 1;
		return 0;
	case OPT_DST_CONF:
		a->dove.dst_config = val;
		a->dovecot = 1;
		return 0;
	case OPT_SRC_DOVEADM:
		a->dove.src_doveadm = val;
		return 0;
	case OPT_DST_DOVEADM:
		a->dove.dst_doveadm = val;
		return 0;
	case OPT_USER:
		a->dove.users = xrealloc(a->dove.users, (a->dove.nusers + 1) *
					 sizeof *a->dove.users);
		a->dove.users[a->dove.nusers++] = (char *)val;
		a->dovecot = 1;
		return 0;
	}
	return -1;
}

/*
 * Cleans a path for the agent: single slashes, no trailing slash, no "."
 * or ".." components.  Returns a new string, or NULL (after saying why).
 */
static char *clean_path(const char *what, const char *in)
{
	struct buf out = BUF_INIT;
	const char *p = in;

	if (*p == '/')
		buf_putc(&out, '/');
	while (*p) {
		const char *slash;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if ((n == 1 && p[0] == '.') || (n == 2 && !memcmp(p, "..", 2))) {
			log_error("verify: %s %s: \".\" and \"..\" are not "
				  "allowed; give the path itself", what, in);
			buf_release(&out);
			return NULL;
		}
		if (out.len && out.data[out.len - 1] != '/')
			buf_putc(&out, '/');
		buf_add(&out, p, n);
		p += n;
	}
	if (!out.len)
		buf_putc(&out, '/');
	return buf_detach(&out);
}

/* The user name when SRC is one home or one Maildir: the path without
 * /var/vmail/ and /Maildir ("example.org/alice"). */
static char *root_label(const char *src)
{
	const char *p = src;
	size_t n;

	while (*p == '/')
		p++;
	if (!strncmp(p, "var/vmail/", 10))
		p += 10;
	n = strlen(p);
	if (n >= 7 && !strcmp(p + n - 7, "Maildir"))
		n -= 7;
	while (n && p[n - 1] == '/')
		n--;
	return n ? xstrndup(p, n) : xstrdup(src);
}

/*
 * A source that holds nothing, or far less than the destination, proves
 * nothing: an unmounted disk or a wrong path on the old server looks like
 * a tree with no message missing here.  Says so; an empty source fails
 * the verify (*failed).  Returns 1 when the source is far smaller.
 */
static int source_lost(const struct verify *v, int *failed)
{
	const struct vcounts *t = &v->files.total;
	uint64_t here = t->n[VC_DEST_ONLY], folders = t->n[VC_FOLDER_DEST_ONLY];

	if (t->checked == 0 && (here || folders)) {
		log_error("the old server's tree %s holds no messages, but "
			  "this server has %llu messages and %llu folders it "
			  "lacks: nothing was verified (an unmounted disk, a "
			  "failed mount or a wrong path?)", v->src_path,
			  (unsigned long long)here,
			  (unsigned long long)folders);
		*failed = 1;
		return 1;
	}
	if (here > t->checked) {
		log_warn("the old server's tree %s holds %llu messages, fewer "
			 "than the %llu found only on this server: is it the "
			 "right tree?", v->src_path,
			 (unsigned long long)t->checked,
			 (unsigned long long)here);
		return 1;
	}
	return 0;
}

int cmd_verify(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "content", no_argument, NULL, OPT_CONTENT },
		{ "dovecot", no_argument, NULL, OPT_DOVECOT },
		{ "src-doveadm-config", required_argument, NULL, OPT_SRC_CONF },
		{ "dest-doveadm-config", required_argument, NULL, OPT_DST_CONF },
		{ "src-doveadm", required_argument, NULL, OPT_SRC_DOVEADM },
		{ "dest-doveadm", required_argument, NULL, OPT_DST_DOVEADM },
		{ "user", required_argument, NULL, OPT_USER },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_args a;
	struct verify v;
	char *host = NULL, *src_path = NULL, *dst_path = NULL, *label = NULL;
	const char *src_arg = "/var/vmail", *dst_arg = "/var/vmail";
	char *rpath = NULL;
	int first, rc, failed, src_small, given = 0;
	json_t *res;
	struct stat st;

	memset(&a, 0, sizeof a);
	memset(&v, 0, sizeof v);
	a.dove.src_doveadm = "doveadm";
	a.dove.dst_doveadm = "doveadm";
	rc = mm_parse_options(ctx, argc, argv, opts, NULL, on_opt, &a, &first);
	if (rc) {
		free(a.dove.users);
		return rc < 0 ? MM_OK : rc;
	}
	if (first < argc) {
		src_arg = argv[first++];
		given = 1;
	}
	if (first < argc)
		dst_arg = argv[first++];
	if (first < argc) {
		log_error("verify: unexpected argument %s (give SRC and DEST)",
			  argv[first]);
		rc = MM_EUSAGE;
		goto out;
	}
	/* SRC as for sync and cutover (location.h): HOST:/PATH, DIR:/PATH,
	 * or a path here (then the same as --from /). */
	rc = given || ctx->from ?
		mm_resolve_src(ctx, "verify", src_arg, &rpath, &host) : MM_OK;
	if (!rc)
		rc = mm_check_dest("verify", dst_arg);
	if (rc)
		goto out;
	if (rpath)
		src_arg = rpath;
	src_path = clean_path("SRC", src_arg);
	dst_path = clean_path("DEST", dst_arg);
	if (!src_path || !dst_path) {
		rc = MM_EUSAGE;
		goto out;
	}
	label = root_label(src_path);
	if (stat(mm_dest_root(ctx), &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("verify: --to %s: not a directory", mm_dest_root(ctx));
		rc = MM_EUSAGE;
		goto out;
	}
	rc = ep_open_ctx(ctx, &v.src);
	if (rc)
		goto out;
	rc = ep_open(ctx, mm_dest_root(ctx), &v.dst);
	if (rc) {
		log_error("verify: cannot read the destination %s",
			  mm_dest_root(ctx));
		rc = rc == MM_EUSAGE ? MM_EUSAGE : MM_EDEST;
		goto out;
	}
	v.src_path = src_path;
	v.dst_path = dst_path;
	v.src_label = label;
	v.content = a.content;
	vreport_init(&v.files, "files");
	vreport_init(&v.dove, "dovecot");
	log_info("verifying %s:%s against %s%s%s", v.src->desc, src_path,
		 ctx->to ? ctx->to : "", ctx->to ? ":" : "", dst_path);
	rc = verify_files(&v);
	if (rc == MM_OK && a.dovecot)
		rc = verify_dovecot(&v, &a.dove);
	if (rc == MM_OK || rc == MM_EDIFF) {
		vreport_print(&v.files);
		if (a.dovecot)
			vreport_print(&v.dove);
		if (v.content && v.hashed_files) {
			char b[32];
			double s = v.hash_seconds > 0 ? v.hash_seconds : 1e-9;

			log_out("\nhashed %llu messages (%s) on each side in "
				"%.1f s: %.0f MB/s per side\n",
				(unsigned long long)v.hashed_files,
				mm_human_bytes(v.hashed_bytes, b, sizeof b),
				v.hash_seconds, v.hashed_bytes / s / 1e6);
		}
		failed = vreport_failed(&v.files) || vreport_failed(&v.dove);
		src_small = source_lost(&v, &failed);
		log_out("\n%s (mtimes compared in whole seconds%s)\n",
			failed ? "DIFFERENCES FOUND" :
			"verified: nothing missing or different",
			v.content ? ", contents by XXH3-128" : "");
		rc = failed ? MM_EDIFF : MM_OK;
		res = json_pack("{s:o, s:b, s:I, s:I, s:f, s:b, s:b}",
				"files", vreport_json(&v.files),
				"content", v.content,
				"hashed_files", (json_int_t)v.hashed_files,
				"hashed_bytes", (json_int_t)v.hashed_bytes,
				"hash_seconds", v.hash_seconds,
				"clean", !failed,
				"source_far_smaller", src_small);
		if (a.dovecot)
			json_object_set_new(res, "dovecot",
					    vreport_json(&v.dove));
		json_object_set_new(res, "exit", json_integer(rc));
		out_result(res);
	}
out:
	if (v.src)
		ep_close(v.src);
	if (v.dst)
		ep_close(v.dst);
	vreport_release(&v.files);
	vreport_release(&v.dove);
	free(a.dove.users);
	free(host);
	free(rpath);
	free(src_path);
	free(dst_path);
	free(label);
	return rc;
}
