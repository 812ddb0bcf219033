/* cmd_ls.c: `mailmove ls`, a listing of the old server through the agent. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "endpoint.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "banned.h"

struct ls_opts {
	int lng, recursive;
	unsigned long entries, errors;
};

static int ls_opt(void *arg, int key, const char *val)
{
	struct ls_opts *o = arg;

	(void)val;
	if (key == 'l')
		o->lng = 1;
	else if (key == 'R')
		o->recursive = 1;
	else
		return -1;
	return 0;
}

static int ls_entry(void *arg, const struct rentry *e)
{
	struct ls_opts *o = arg;
	struct buf q = BUF_INIT;
	json_t *j;

	if (e->index == 0)
		return 0;
	if (e->kind == 'e') {
		log_warn("%s: cannot read: %s", e->path, strerror(e->err));
		o->errors++;
		return 0;
	}
	o->entries++;
	if (log_json()) {
		j = json_pack("{s:s, s:s%}", "path", e->path, "kind",
			      &e->kind, (size_t)1);
		if (j && e->has_stat) {
			json_object_set_new(j, "mode", json_integer(e->st.mode & 07777));
			json_object_set_new(j, "uid", json_integer(e->st.uid));
			json_object_set_new(j, "gid", json_integer(e->st.gid));
			json_object_set_new(j, "size", json_integer((json_int_t)e->st.size));
			json_object_set_new(j, "mtime", json_integer(e->st.mtime_s));
			json_object_set_new(j, "mtime_ns", json_integer(e->st.mtime_ns));
			json_object_set_new(j, "nlink", json_integer(e->st.nlink));
			if (e->target)
				json_object_set_new(j, "target", json_string(e->target));
		}
		out_event("entry", j);
		return 0;
	}
	mm_quote(&q, e->path);
	if (o->lng && e->has_stat) {
		char when[32];
		time_t t = (time_t)e->st.mtime_s;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		printf("%c %04o %5u %5u %10llu %s.%09u %s", e->kind,
		       e->st.mode & 07777, e->st.uid, e->st.gid,
		       (unsigned long long)e->st.size, when, e->st.mtime_ns,
		       q.data);
		if (e->target) {
			buf_reset(&q);
			mm_quote(&q, e->target);
			printf(" -> %s", q.data);
		}
		putchar('\n');
	} else {
		printf("%s%s\n", q.data, e->kind == 'd' ? "/" : "");
	}
	buf_release(&q);
	return 0;
}

int cmd_ls(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "recursive", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct ls_opts o = { 0, 0, 0, 0 };
	struct endpoint *ep;
	int first, rc;

	rc = mm_parse_options(ctx, argc, argv, opts, "lR", ls_opt, &o, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (argc - first != 1) {
		log_error("ls: give one PATH on the old server");
		return MM_EUSAGE;
	}
	if (!mm_relpath_valid(argv[first], strlen(argv[first]))) {
		log_error("ls: %s: not a plain path (no \"..\", \".\" or "
			  "empty components)", argv[first]);
		return MM_EUSAGE;
	}
	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	rc = remote_list(ep, argv[first], (o.lng ? LIST_STAT : 0) |
			 (o.recursive ? LIST_RECURSE : 0),
			 o.recursive ? 0 : 1,
			 ls_entry, &o);
	if (rc < 0) {
		rc = ep_exit_code(ep);
	} else if (rc > 0) {
		log_error("ls: %s: %s", argv[first], strerror(rc));
		rc = MM_EDIFF;
	} else {
		rc = o.errors ? MM_EDIFF : MM_OK;
	}
	out_result(json_pack("{s:i, s:i, s:i}", "entries", (int)o.entries,
			     "errors", (int)o.errors, "exit", rc));
	ep_close(ep);
	return rc;
}
