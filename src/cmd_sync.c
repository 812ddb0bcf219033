/* cmd_sync.c: `mailmove sync`, the Maildir-aware hot and cold sync. */
#include <stdlib.h>
#include <string.h>

#include "location.h"
#include "log.h"
#include "mailmove.h"
#include "sync.h"
#include "banned.h"

/* Keys above the common options' (options.c uses 1000 up). */
enum { OPT_DELETE = 2000, OPT_STATE, OPT_INDEXES, OPT_CHOWN, OPT_FORCE_DELETE,
	OPT_MAX_DELETE, OPT_AFTER_CUTOVER };

static int sync_opt(void *arg, int key, const char *val)
{
	struct sync_opts *o = arg;

	switch (key) {
	case OPT_DELETE:
		o->delete = 1;
		return 0;
	case OPT_STATE:
		o->state_path = val;
		return 0;
	case OPT_INDEXES:
		o->with_indexes = 1;
		return 0;
	case OPT_CHOWN:
		o->chown = val;
		return 0;
	case OPT_FORCE_DELETE:
		o->force_delete = 1;
		return 0;
	case OPT_AFTER_CUTOVER:
		o->after_cutover = 1;
		return 0;
	case OPT_MAX_DELETE: {
		uint64_t v;

		if (mm_parse_u64(val, &v) < 0 || v > (uint64_t)1 << 40) {
			log_error("--max-delete: \"%s\" is not a number of "
				  "messages", val);
			return -1;
		}
		o->max_delete = (long long)v;
		return 0;
	}
	}
	return -1;
}

int cmd_sync(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delete", no_argument, NULL, OPT_DELETE },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "with-indexes", no_argument, NULL, OPT_INDEXES },
		{ "chown", required_argument, NULL, OPT_CHOWN },
		{ "force-delete", no_argument, NULL, OPT_FORCE_DELETE },
		{ "max-delete", required_argument, NULL, OPT_MAX_DELETE },
		{ "after-cutover", no_argument, NULL, OPT_AFTER_CUTOVER },
		{ NULL, 0, NULL, 0 },
	};
	struct sync_opts o;
	char *keep = NULL, *src = NULL;
	int first, rc, n;

	memset(&o, 0, sizeof o);
	o.src = "/var/vmail";
	o.dest = "/var/vmail";
	o.max_delete = -1;
	rc = mm_parse_options(ctx, argc, argv, opts, "", sync_opt, &o, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	n = argc - first;
	if (n == 1 && !ctx->from && strchr(argv[first], '@') &&
	    !strchr(argv[first], '/')) {
		ctx->from = argv[first];	/* mailmove sync root@old */
	} else if (n == 2) {
		/* SRC as for verify and cutover (location.h): HOST:/PATH,
		 * DIR:/PATH, or a path here (then the same as --from /). */
		rc = mm_resolve_src(ctx, "sync", argv[first], &src, &keep);
		if (!rc)
			rc = mm_check_dest("sync", argv[first + 1]);
		if (rc) {
			free(src);
			free(keep);
			return rc;
		}
		o.src = src;
		o.dest = argv[first + 1];
	} else if (n != 0) {
		log_error("sync: give SRC and DEST (or neither: /var/vmail/ on "
			  "both sides)");
		return MM_EUSAGE;
	}
	if (*o.src != '/') {
		log_error("sync: %s: the source must be an absolute path on the "
			  "old server", o.src);
		free(src);
		free(keep);
		return MM_EUSAGE;
	}
	if ((o.force_delete || o.max_delete >= 0) && !o.delete) {
		log_error("sync: --force-delete and --max-delete go with "
			  "--delete");
		free(src);
		free(keep);
		return MM_EUSAGE;
	}
	if (o.with_indexes && !o.delete)
		log_verbose("--with-indexes copies the index files as one set; "
			    "meant for the cold sync between equal Dovecot "
			    "versions");
	{
		/* "/var/vmail/", "/var//vmail" and "/var/./vmail" are
		 * the same directory as "/var/vmail". */
		char *d = xstrdup(o.dest);
		size_t r, w = 0, l = strlen(d);

		for (r = 0; r < l; r++) {
			if (d[r] == '/' && w && d[w - 1] == '/')
				continue;
			if (d[r] == '.' && (!w || d[w - 1] == '/') &&
			    (d[r + 1] == '/' || !d[r + 1])) {
				r += d[r + 1] == '/';
				continue;
			}
			d[w++] = d[r];
		}
		d[w] = '\0';
		while (w > 1 && d[w - 1] == '/')
			d[--w] = '\0';
		o.dest = d;
		rc = sync_run(ctx, &o);
		free(d);
	}
	free(src);
	free(keep);
	return rc;
}
