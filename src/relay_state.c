/* relay_state.c: the old Postfix's virtual_transport before the relay
 * (see relay_state.h). */
#include "relay_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"
#include "log.h"
#include "banned.h"

static int state_dir(const struct mm_ctx *ctx, int *fd)
{
	return fs_open_base(mm_dest_root(ctx), "var/lib/mailmove", 1, fd);
}

int relay_state_save(const struct mm_ctx *ctx, const char *value)
{
	struct fs_meta m;
	struct buf line = BUF_INIT;
	int fd, e;

	e = state_dir(ctx, &fd);
	if (e)
		return e;
	if (faccessat(fd, "relay-saved", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(fd);
		return 0;
	}
	memset(&m, 0, sizeof m);
	m.mode = 0600;
	buf_printf(&line, "%s\n", value);
	e = fs_replace_file(fd, "relay-saved", line.data, line.len, &m);
	close(fd);
	buf_release(&line);
	return e;
}

int relay_state_load(const struct mm_ctx *ctx, struct buf *out)
{
	char data[1024];
	ssize_t n;
	int dfd, fd, e;

	e = state_dir(ctx, &dfd);
	if (e)
		return e;
	fd = openat(dfd, "relay-saved", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	e = fd < 0 ? errno : 0;
	close(dfd);
	if (e)
		return e;
	n = read(fd, data, sizeof data - 1);
	close(fd);
	if (n <= 0)
		return EINVAL;
	data[n] = '\0';
	data[strcspn(data, "\r\n")] = '\0';
	if (!data[0] || strpbrk(data, "'\"\\`$;|&<>"))
		return EINVAL;
	buf_reset(out);
	buf_addstr(out, data);
	return 0;
}

static int mark(const struct mm_ctx *ctx, const char *name)
{
	struct fs_meta m;
	int fd, e = state_dir(ctx, &fd);

	if (e)
		return e;
	memset(&m, 0, sizeof m);
	m.mode = 0600;
	e = fs_replace_file(fd, name, "", 0, &m);
	close(fd);
	return e;
}

static int marked(const struct mm_ctx *ctx, const char *name)
{
	int fd, r;

	if (fs_open_base(mm_dest_root(ctx), "var/lib/mailmove", 0, &fd))
		return 0;
	r = faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	return r;
}

int downtime_mark(const struct mm_ctx *ctx)
{
	return mark(ctx, "cutover-downtime");
}

/* The source a mark is for: --from as given, "" when none, without a
 * trailing slash. */
static void mark_source(const struct mm_ctx *ctx, struct buf *out)
{
	buf_reset(out);
	buf_addstr(out, ctx->from ? ctx->from : "");
	while (out->len > 1 && out->data[out->len - 1] == '/')
		out->data[--out->len] = '\0';
}

int served_mark(const struct mm_ctx *ctx)
{
	struct fs_meta m;
	struct buf b = BUF_INIT, src = BUF_INIT;
	int fd, e = state_dir(ctx, &fd);

	if (e)
		return e;
	mark_source(ctx, &src);
	buf_printf(&b, "from %s\nsince %lld\n", src.data,
		   (long long)time(NULL));
	memset(&m, 0, sizeof m);
	m.mode = 0600;
	e = fs_replace_file(fd, "cutover-served", b.data, b.len, &m);
	close(fd);
	buf_release(&b);
	buf_release(&src);
	return e;
}

int served_marked(const struct mm_ctx *ctx, struct served_info *si)
{
	struct buf data = BUF_INIT, src = BUF_INIT;
	char *p, *nl;
	int dfd, fd, r = 1;

	memset(si, 0, sizeof *si);
	if (fs_open_base(mm_dest_root(ctx), "var/lib/mailmove", 0, &dfd))
		return 0;
	if (faccessat(dfd, "cutover-served", F_OK, AT_SYMLINK_NOFOLLOW)) {
		close(dfd);
		return 0;
	}
	/* Whatever cannot be read binds (it cannot be told whose it is). */
	fd = openat(dfd, "cutover-served", O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK);
	close(dfd);
	if (fd < 0 || fs_read_fd(fd, &data, 4096) ||
	    strncmp(buf_cstr(&data), "from ", 5))
		goto out;
	p = data.data + 5;
	nl = strchr(p, '\n');
	if (nl)
		*nl++ = '\0';
	if (strlen(p) >= sizeof si->from)
		goto out;
	memcpy(si->from, p, strlen(p) + 1);
	if (nl && !strncmp(nl, "since ", 6))
		si->since = strtoll(nl + 6, NULL, 10);
	mark_source(ctx, &src);
	r = !strcmp(src.data, si->from);
	si->other = !r;
out:
	buf_release(&data);
	buf_release(&src);
	return r;
}

void served_describe(const struct served_info *si, struct buf *out)
{
	char when[64];

	buf_reset(out);
	if (si->since) {
		mm_format_time(si->since, when, sizeof when);
		buf_printf(out, "since %s ", when);
	}
	buf_printf(out, "by a cutover from %s", si->from[0] ? si->from :
		   "this host");
}

int downtime_clear(const struct mm_ctx *ctx)
{
	int fd, e = state_dir(ctx, &fd);

	if (e)
		return e;
	if (unlinkat(fd, "cutover-downtime", 0) < 0 && errno != ENOENT)
		e = errno;
	close(fd);
	return e;
}

int downtime_marked(const struct mm_ctx *ctx)
{
	return marked(ctx, "cutover-downtime");
}
