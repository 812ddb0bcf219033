/* secret.c: password files (see secret.h). */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "fsops.h"
#include "log.h"
#include "banned.h"

void secret_release(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_release(b);
}

/* Says why `path` holds no usable password; wipes `out`. */
static int refuse(const char *path, struct buf *out, int e, const char *why)
{
	log_error("password file %s: %s", path, why ? why : mm_strerror(e));
	secret_release(out);
	return e;
}

/* Opens a regular file or a pipe (`--password-file <(pass show db)`):
 * O_NONBLOCK, so that a FIFO nobody writes to does not block the open; its
 * read then finds nothing.  Anything else is MM_ENOTREG or EISDIR. */
static int open_secret(const char *path, int *fd)
{
	struct stat st;
	int fl, e = 0;

	*fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0)
		return errno;
	if (fstat(*fd, &st) < 0)
		e = errno;
	else if (S_ISDIR(st.st_mode))
		e = EISDIR;
	else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
		e = MM_ENOTREG;
	else if ((fl = fcntl(*fd, F_GETFL)) < 0 ||
		 fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		e = errno;
	else if (S_ISREG(st.st_mode) && (st.st_mode & 0004))
		log_warn("password file %s is readable by every user", path);
	if (e) {
		close(*fd);
		*fd = -1;
	}
	return e;
}

int secret_read_file(const char *path, struct buf *out)
{
	const char *nl;
	size_t line;
	int fd, e;

	buf_reset(out);
	e = open_secret(path, &fd);
	if (e)
		return refuse(path, out, e, NULL);
	e = fs_read_fd(fd, out, SECRET_FILE_MAX);
	if (e)
		return refuse(path, out, e, e == EFBIG
			      ? "too long for a password file" : NULL);
	nl = out->len ? memchr(out->data, '\n', out->len) : NULL;
	line = nl ? (size_t)(nl - out->data) : out->len;
	if (line && memchr(out->data, '\0', line))
		return refuse(path, out, EINVAL, "a NUL byte in its first line");
	if (line && out->data[line - 1] == '\r')
		line--;
	if (!line)
		return refuse(path, out, EINVAL, "no password on its first line");
	explicit_bzero(out->data + line, out->len - line);
	out->len = line;
	return 0;
}
