/* test_files.c: the readers of files named by a config or the copied tree
 * (only regular files, never blocking on a FIFO), password files, and the
 * one formatting of times and spans. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "buf.h"
#include "fsops.h"
#include "log.h"
#include "secret.h"

static char dir[64];

static const char *path_of(const char *name)
{
	static char p[128];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void put(const char *name, const char *data, size_t n, int mode)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, data, n) != (ssize_t)n)
		abort();
	fchmod(fd, (mode_t)mode);
	close(fd);
}

/* secret_read_file() with its report (on stderr) left out: a passing
 * run prints only its summary, a failing one its CHECK lines. */
static int quiet_secret(const char *path, struct buf *out)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY), r;

	fflush(stderr);
	dup2(null, 2);
	r = secret_read_file(path, out);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(null);
	return r;
}

/* The result of secret_read_file on a file holding `data`. */
static int secret_of(const char *data, size_t n, struct buf *out)
{
	put("pw", data, n, 0600);
	return quiet_secret(path_of("pw"), out);
}

static void test_secret(void)
{
	struct buf b = BUF_INIT;
	char big[SECRET_FILE_MAX + 2];

	CHECK(secret_of("s3cret\n", 7, &b) == 0);
	CHECK_STR(buf_cstr(&b), "s3cret");
	CHECK(secret_of("s3cret", 6, &b) == 0 && b.len == 6);
	CHECK(secret_of("with space\r\nsecond line\n", 24, &b) == 0);
	CHECK_STR(buf_cstr(&b), "with space");
	CHECK(secret_of("\nlater\n", 7, &b) == EINVAL && !b.data);
	CHECK(secret_of("", 0, &b) == EINVAL);
	CHECK(secret_of("\r\n", 2, &b) == EINVAL);
	CHECK(secret_of("a\0b\n", 4, &b) == EINVAL);
	/* A NUL after the first line does not matter. */
	CHECK(secret_of("ab\n\0", 4, &b) == 0 && b.len == 2);
	memset(big, 'x', sizeof big);
	CHECK(secret_of(big, sizeof big, &b) == EFBIG && !b.data);
	CHECK(quiet_secret(path_of("missing"), &b) == ENOENT);
	CHECK(quiet_secret(dir, &b) == EISDIR);
	CHECK(mkfifo(path_of("fifo"), 0600) == 0);
	/* Returns at once: a FIFO without a writer reads as empty. */
	CHECK(quiet_secret(path_of("fifo"), &b) == EINVAL);
	CHECK(quiet_secret("/dev/null", &b) == MM_ENOTREG);
	{
		/* A pipe, as a shell's <(command) gives it. */
		int p[2];
		char fdpath[64];

		CHECK(pipe(p) == 0);
		CHECK(write(p[1], "piped\n", 6) == 6);
		close(p[1]);
		snprintf(fdpath, sizeof fdpath, "/dev/fd/%d", p[0]);
		CHECK(quiet_secret(fdpath, &b) == 0);
		CHECK_STR(buf_cstr(&b), "piped");
		close(p[0]);
	}
	secret_release(&b);
}

static void test_regular_only(void)
{
	struct buf b = BUF_INIT;
	int rootfd = open(dir, O_RDONLY | O_DIRECTORY), fd;

	CHECK(rootfd >= 0);
	put("f", "data", 4, 0644);
	CHECK(symlink("/fifo", path_of("link")) == 0);
	CHECK(fs_read_file(path_of("f"), 0, &b, 100) == 0);
	CHECK_STR(buf_cstr(&b), "data");
	CHECK(fs_read_file(path_of("f"), 0, &b, 3) == EFBIG);
	CHECK(fs_read_file(path_of("fifo"), 0, &b, 100) == MM_ENOTREG);
	CHECK(fs_read_file("/dev/null", 0, &b, 100) == MM_ENOTREG);
	CHECK(fs_read_under(dir, "/f", &b, 100) == 0 && b.len == 4);
	/* An absolute link resolves inside the root: to its FIFO. */
	CHECK(fs_read_in_root(rootfd, "link", &b, 100) == MM_ENOTREG);
	CHECK(fs_open_file_in_root(rootfd, "fifo", &fd) == MM_ENOTREG &&
	      fd == -1);
	CHECK(fs_open_file_in_root(rootfd, "f", &fd) == 0 && fd >= 0);
	CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
	close(fd);
	CHECK_STR(mm_strerror(MM_ENOTREG), "not a regular file");
	CHECK_STR(mm_strerror(ENOENT), strerror(ENOENT));
	close(rootfd);
	buf_release(&b);
}

static void test_format(void)
{
	char s[64];

	setenv("TZ", "UTC", 1);
	tzset();
	mm_format_time(1764694500, s, sizeof s);
	CHECK_STR(s, "2025-12-02 16:55:00 UTC");
	mm_format_time(0, s, 8);	/* too small for the date */
	CHECK_STR(s, "@0");
	mm_format_span(-5, 0, s, sizeof s);
	CHECK_STR(s, "0 s");
	mm_format_span(119, 0, s, sizeof s);
	CHECK_STR(s, "119 s");
	mm_format_span(121, 0, s, sizeof s);
	CHECK_STR(s, "2 min");
	mm_format_span(121, 1, s, sizeof s);
	CHECK_STR(s, "3 min");
	mm_format_span(7200, 1, s, sizeof s);
	CHECK_STR(s, "2.0 h");
	mm_format_span(172800, 0, s, sizeof s);
	CHECK_STR(s, "2.0 days");
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/mm-unit.XXXXXX",
		 t && strlen(t) < 40 ? t : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	test_secret();
	test_regular_only();
	test_format();
	unlink(path_of("pw"));
	unlink(path_of("f"));
	unlink(path_of("fifo"));
	unlink(path_of("link"));
	rmdir(dir);
	return unit_done("test_files");
}
