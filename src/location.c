/* location.c: SRC and DEST arguments; the rules are in location.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "endpoint.h"
#include "location.h"
#include "log.h"
#include "banned.h"

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The ":" of "PREFIX:/path" when PREFIX holds no "/" outside brackets;
 * NULL when a "/" comes first or there is no ":/". */
static const char *host_sep(const char *arg)
{
	const char *p;
	int in = 0;

	for (p = arg; *p; p++) {
		if (*p == '[')
			in = 1;
		else if (*p == ']')
			in = 0;
		else if (in)
			continue;
		else if (*p == '/')
			return NULL;
		else if (*p == ':' && p[1] == '/')
			return p;
	}
	return NULL;
}

enum mm_loc_kind mm_split_location(const char *arg, char **from, char **path,
				   const char **err)
{
	const char *sep, *colon, *slash;
	struct stat st;
	char *prefix;
	int kind, port;
	char *u, *h;

	*from = *path = NULL;
	*err = NULL;
	if (!arg || !*arg) {
		*err = "an empty path";
		return MM_LOC_BAD;
	}
	if (lstat(arg, &st) == 0)
		goto local;
	sep = host_sep(arg);
	if (sep) {
		if (sep == arg) {
			*err = "no host or directory before \":\"";
			return MM_LOC_BAD;
		}
		prefix = xstrndup(arg, (size_t)(sep - arg));
		kind = ep_parse_from(prefix, &u, &h, &port);
		free(u);
		free(h);
		if (kind < 0) {
			free(prefix);
			*err = "not [user@]host[:port]:/PATH or DIR:/PATH";
			return MM_LOC_BAD;
		}
		*from = prefix;
		*path = xstrdup(sep + 1);
		return kind == 1 ? MM_LOC_DIR : MM_LOC_HOST;
	}
	colon = strchr(arg, ':');
	slash = strchr(arg, '/');
	if (colon && (!slash || colon < slash) && arg[0] != '.') {
		*err = "the path on the old server must be absolute "
		       "(HOST:/var/vmail/)";
		return MM_LOC_BAD;
	}
	/* "/srv/old-root:/var/vmail/": the first ":/" after a directory. */
	for (sep = strstr(arg, ":/"); sep; sep = strstr(sep + 1, ":/")) {
		if (sep == arg)
			continue;
		prefix = xstrndup(arg, (size_t)(sep - arg));
		if (is_dir(prefix)) {
			*from = prefix;
			*path = xstrdup(sep + 1);
			return MM_LOC_DIR;
		}
		free(prefix);
	}
local:
	*path = xstrdup(arg);
	return MM_LOC_LOCAL;
}

/* --from and the host or directory of SRC name the same old server. */
static int same_from(const char *a, const char *b)
{
	char *ra, *rb;
	int same;

	if (!strcmp(a, b))
		return 1;
	if (!is_dir(a) || !is_dir(b))
		return 0;
	ra = realpath(a, NULL);
	rb = realpath(b, NULL);
	same = ra && rb && !strcmp(ra, rb);
	free(ra);
	free(rb);
	return same;
}

static char *absolute(const char *p)
{
	struct buf b = BUF_INIT;
	char cwd[4096];

	if (*p == '/' || !getcwd(cwd, sizeof cwd))
		return xstrdup(p);
	buf_printf(&b, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", p);
	return buf_detach(&b);
}

int mm_resolve_src(struct mm_ctx *ctx, const char *cmd, const char *arg,
		   char **path, char **keep)
{
	char *from, *p;
	const char *err;
	enum mm_loc_kind k;

	*path = NULL;
	*keep = NULL;
	k = mm_split_location(arg, &from, &p, &err);
	if (k == MM_LOC_BAD) {
		log_error("%s: SRC %s: %s", cmd, arg, err);
		return MM_EUSAGE;
	}
	if (k != MM_LOC_LOCAL) {
		if (ctx->from && !same_from(ctx->from, from)) {
			log_error("%s: SRC %s names another old server than "
				  "--from %s", cmd, arg, ctx->from);
			free(from);
			free(p);
			return MM_EUSAGE;
		}
		ctx->from = *keep = from;
		*path = p;
		return MM_OK;
	}
	if (ctx->from) {
		if (*p != '/') {
			log_error("%s: SRC %s: the source must be an absolute "
				  "path on the old server (--from %s)", cmd, p,
				  ctx->from);
			free(p);
			return MM_EUSAGE;
		}
		*path = p;
		return MM_OK;
	}
	/* A local source: the same as --from / with its absolute path. */
	ctx->from = "/";
	*path = absolute(p);
	free(p);
	return MM_OK;
}

int mm_check_dest(const char *cmd, const char *arg)
{
	if (!*arg) {
		log_error("%s: DEST is empty", cmd);
		return MM_EUSAGE;
	}
	if (*arg != '/' && *arg != '.' && host_sep(arg)) {
		log_error("%s: DEST %s: the destination is this machine; give a "
			  "path (under --to)", cmd, arg);
		return MM_EUSAGE;
	}
	return MM_OK;
}
