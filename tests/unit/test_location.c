/* test_location.c: the one reading of SRC (sync, verify, cutover). */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/location.h"
#include "unit.h"

static enum mm_loc_kind kind;
static char *from, *path;

static void split(const char *arg)
{
	const char *err;

	free(from);
	free(path);
	kind = mm_split_location(arg, &from, &path, &err);
	if (kind == MM_LOC_BAD)
		CHECK(err != NULL);
}

#define SPLIT(arg, k, f, p) do { \
	split(arg); \
	CHECK(kind == (k)); \
	if ((f) == NULL) CHECK(from == NULL); else CHECK_STR(from, (f)); \
	if ((p) == NULL) CHECK(path == NULL); else CHECK_STR(path, (p)); \
} while (0)

int main(void)
{
	char tmpl[] = "/tmp/mm-unit-loc.XXXXXX";
	char *d = mkdtemp(tmpl);
	char buf[512];

	CHECK(d != NULL);
	if (!d || chdir(d) < 0)
		return 1;
	mkdir("old-root", 0755);
	mkdir("x:y", 0755);		/* a colon in a local name */
	mkdir("a:", 0755);
	mkdir("a:/b", 0755);

	/* Hosts: rsync's [user@]host[:port]:/path, IPv6 in brackets. */
	SPLIT("old.example.org:/var/vmail/", MM_LOC_HOST, "old.example.org",
	      "/var/vmail/");
	SPLIT("root@old:/var/vmail/", MM_LOC_HOST, "root@old", "/var/vmail/");
	SPLIT("root@old:2222:/var/vmail", MM_LOC_HOST, "root@old:2222",
	      "/var/vmail");
	SPLIT("[::1]:/var/vmail/", MM_LOC_HOST, "[::1]", "/var/vmail/");
	SPLIT("root@[2001:db8::5]:22:/v", MM_LOC_HOST, "root@[2001:db8::5]:22",
	      "/v");
	SPLIT("host:/a:/b", MM_LOC_HOST, "host", "/a:/b");
	/* Not a host: bad port, empty user, option-like, relative path. */
	SPLIT("root@old:99999:/x", MM_LOC_BAD, NULL, NULL);
	SPLIT("@old:/x", MM_LOC_BAD, NULL, NULL);
	SPLIT("-oProxyCommand=x:/y", MM_LOC_BAD, NULL, NULL);
	SPLIT(":/var/vmail", MM_LOC_BAD, NULL, NULL);
	SPLIT("old:var/vmail", MM_LOC_BAD, NULL, NULL);
	SPLIT("old:", MM_LOC_BAD, NULL, NULL);
	SPLIT("[::1:/x", MM_LOC_BAD, NULL, NULL);
	SPLIT("", MM_LOC_BAD, NULL, NULL);

	/* Directories holding an old root, absolute or relative. */
	snprintf(buf, sizeof buf, "%s/old-root:/var/vmail/", d);
	snprintf(buf + 256, 256, "%s/old-root", d);
	SPLIT(buf, MM_LOC_DIR, buf + 256, "/var/vmail/");
	SPLIT("old-root:/var/vmail/", MM_LOC_DIR, "old-root", "/var/vmail/");
	SPLIT("./old-root:/var/vmail", MM_LOC_DIR, "./old-root", "/var/vmail");

	/* Local paths, colons and all. */
	SPLIT("/var/vmail/", MM_LOC_LOCAL, NULL, "/var/vmail/");
	SPLIT("/srv/no-such:/var/vmail/", MM_LOC_LOCAL, NULL,
	      "/srv/no-such:/var/vmail/");
	SPLIT("./x:y", MM_LOC_LOCAL, NULL, "./x:y");
	SPLIT("x:y", MM_LOC_LOCAL, NULL, "x:y");	/* exists here */
	SPLIT("./x:y/new", MM_LOC_LOCAL, NULL, "./x:y/new");
	SPLIT("a:/b", MM_LOC_LOCAL, NULL, "a:/b");	/* exists as a whole */
	SPLIT("vmail/", MM_LOC_LOCAL, NULL, "vmail/");
	SPLIT("../vmail", MM_LOC_LOCAL, NULL, "../vmail");

	/* SRC with and without --from; the refusals' words go to a file. */
	{
		struct mm_ctx ctx;
		char *p = NULL, *keep = NULL, said[1024];
		int saved = dup(2), fd = open("said", O_RDWR | O_CREAT, 0600);
		ssize_t n;

		dup2(fd, 2);

		memset(&ctx, 0, sizeof ctx);
		CHECK(mm_resolve_src(&ctx, "t", "vmail/", &p, &keep) == MM_OK);
		CHECK_STR(ctx.from, "/");
		snprintf(buf, sizeof buf, "%s/vmail/", d);
		CHECK_STR(p, buf);
		CHECK(keep == NULL);
		free(p);

		memset(&ctx, 0, sizeof ctx);
		CHECK(mm_resolve_src(&ctx, "t", "old:/v/", &p, &keep) == MM_OK);
		CHECK_STR(ctx.from, "old");
		CHECK_STR(p, "/v/");
		free(p);
		free(keep);

		memset(&ctx, 0, sizeof ctx);
		ctx.from = "other";
		CHECK(mm_resolve_src(&ctx, "t", "old:/v/", &p, &keep) ==
		      MM_EUSAGE);
		ctx.from = "old";
		CHECK(mm_resolve_src(&ctx, "t", "old:/v/", &p, &keep) == MM_OK);
		free(p);
		free(keep);
		ctx.from = "old";
		CHECK(mm_resolve_src(&ctx, "t", "/v/", &p, &keep) == MM_OK);
		CHECK_STR(ctx.from, "old");
		CHECK_STR(p, "/v/");
		free(p);
		CHECK(mm_resolve_src(&ctx, "t", "v/", &p, &keep) == MM_EUSAGE);
		/* The same directory, spelled two ways, is the same server. */
		ctx.from = "./old-root/";
		CHECK(mm_resolve_src(&ctx, "t", "old-root:/v/", &p, &keep) ==
		      MM_OK);
		CHECK_STR(p, "/v/");
		free(p);
		free(keep);

		CHECK(mm_check_dest("t", "/var/vmail/") == MM_OK);
		CHECK(mm_check_dest("t", "./x:y") == MM_OK);
		CHECK(mm_check_dest("t", "new:/var/vmail/") == MM_EUSAGE);
		CHECK(mm_check_dest("t", "") == MM_EUSAGE);
		fflush(stderr);
		dup2(saved, 2);
		n = pread(fd, said, sizeof said - 1, 0);
		said[n > 0 ? n : 0] = '\0';
		close(fd);
		close(saved);
		unlink("said");
		CHECK(strstr(said, "SRC old:/v/ names another old server than "
			      "--from other") != NULL);
		CHECK(strstr(said, "SRC v/: the source must be an absolute "
			      "path") != NULL);
		CHECK(strstr(said, "DEST new:/var/vmail/: the destination is "
			      "this machine") != NULL);
	}
	free(from);
	free(path);
	rmdir("a:/b");
	rmdir("a:");
	rmdir("x:y");
	rmdir("old-root");
	if (chdir("/") == 0)
		rmdir(d);
	return unit_done("location");
}
