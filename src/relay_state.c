/* relay_state.c: the old Postfix's virtual_transport before the relay
 * (see relay_state.h). */
#include "relay_state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fsops.h"
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

int served_mark(const struct mm_ctx *ctx)
{
	return mark(ctx, "cutover-served");
}

int served_marked(const struct mm_ctx *ctx)
{
	return marked(ctx, "cutover-served");
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
