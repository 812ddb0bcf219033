/* cmd_cat.c: `mailmove cat`, files of the old server on stdout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "mailmove.h"
#include "remote.h"
#include "banned.h"

struct cat_state {
	char **paths;
	int failed;
	int write_error;
};

static int cat_begin(void *arg, uint32_t index, int err,
		     const struct mm_stat *st)
{
	struct cat_state *s = arg;

	(void)st;
	if (err) {
		log_error("cat: %s: %s", s->paths[index], strerror(err));
		s->failed++;
	}
	return 0;
}

static int cat_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct cat_state *s = arg;

	(void)index;
	if (!s->write_error && fwrite(p, 1, n, stdout) != n)
		s->write_error = errno ? errno : EIO;
	return 0;
}

static int cat_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct cat_state *s = arg;

	(void)total;
	if (err) {
		log_error("cat: %s: read error: %s", s->paths[index],
			  strerror(err));
		s->failed++;
	}
	return 0;
}

int cmd_cat(struct mm_ctx *ctx, int argc, char **argv)
{
	static const struct rread_ops ops = { cat_begin, cat_data, cat_end };
	struct cat_state s = { NULL, 0, 0 };
	struct endpoint *ep;
	int first, rc, i;

	rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (first >= argc) {
		log_error("cat: give at least one PATH on the old server");
		return MM_EUSAGE;
	}
	for (i = first; i < argc; i++)
		if (!mm_relpath_valid(argv[i], strlen(argv[i]))) {
			log_error("cat: %s: not a plain path", argv[i]);
			return MM_EUSAGE;
		}
	rc = ep_open_ctx(ctx, &ep);
	if (rc)
		return rc;
	s.paths = argv + first;
	rc = remote_read(ep, argv + first, (size_t)(argc - first), &ops, &s);
	if (fflush(stdout) != 0 && !s.write_error)
		s.write_error = errno;
	if (rc < 0)
		rc = ep_exit_code(ep);
	else if (s.write_error) {
		log_error("cat: writing to stdout: %s", strerror(s.write_error));
		rc = MM_EDEST;
	} else
		rc = (rc || s.failed) ? MM_EDIFF : MM_OK;
	ep_close(ep);
	return rc;
}
