/*
 * bench/sync/floor.c: the destination-side file work of a resync alone,
 * without reading the old server, without any state and without comparing
 * anything: what no sync tool can avoid when it makes durable the changes
 * of case (b) in bench/sync/run.
 *
 *   floor DIR NEW RENAMES UNLINKS [SIZE]
 *
 * DIR is a copy of a synced vmail tree (cp -al is enough: only directory
 * entries change).  Spread evenly over the folders found below DIR: NEW
 * files of SIZE bytes (default 12000) written to tmp/ and renamed into
 * cur/, RENAMES renames inside cur/ (a flag change), UNLINKS unlinks;
 * every folder's dovecot-uidlist rewritten (temporary file and rename);
 * one syncfs at the end.  Prints the seconds taken.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static char **folders;
static size_t nfolders, capfolders;

/* Every directory below `path` that has a cur/. */
static void find_folders(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    de->d_type != DT_DIR)
			continue;
		if (!strcmp(de->d_name, "cur")) {
			if (nfolders == capfolders) {
				capfolders = capfolders ? capfolders * 2 : 256;
				folders = realloc(folders, capfolders * sizeof *folders);
			}
			folders[nfolders++] = strdup(path);
			continue;
		}
		if (!strcmp(de->d_name, "new") || !strcmp(de->d_name, "tmp"))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		find_folders(sub);
	}
	closedir(d);
}

/* `n` spread over the folders: how many fall to folder `i`. */
static long share(long n, size_t i)
{
	return n * (long)(i + 1) / (long)nfolders - n * (long)i / (long)nfolders;
}

int main(int argc, char **argv)
{
	long nnew, nren, nunl, size = 12000, done_new = 0, done_ren = 0,
		done_unl = 0;
	char *data, p[4200];
	double t0, t1, t2;
	size_t i;
	int root;

	if (argc < 5) {
		fprintf(stderr, "usage: floor DIR NEW RENAMES UNLINKS [SIZE]\n");
		return 2;
	}
	nnew = atol(argv[2]);
	nren = atol(argv[3]);
	nunl = atol(argv[4]);
	if (argc > 5)
		size = atol(argv[5]);
	find_folders(argv[1]);
	if (!nfolders) {
		fprintf(stderr, "floor: no folder below %s\n", argv[1]);
		return 1;
	}
	data = malloc((size_t)size);
	memset(data, 'x', (size_t)size);
	root = open(argv[1], O_RDONLY | O_DIRECTORY);
	t0 = now();
	for (i = 0; i < nfolders; i++) {
		long want_ren = share(nren, i), want_unl = share(nunl, i);
		long want_new = share(nnew, i), k;
		int cur, tmp, dir, fd;
		DIR *d;
		struct dirent *de;

		snprintf(p, sizeof p, "%s/cur", folders[i]);
		cur = open(p, O_RDONLY | O_DIRECTORY);
		snprintf(p, sizeof p, "%s/tmp", folders[i]);
		tmp = open(p, O_RDONLY | O_DIRECTORY);
		dir = open(folders[i], O_RDONLY | O_DIRECTORY);
		if (cur < 0 || tmp < 0 || dir < 0) {
			perror(folders[i]);
			return 1;
		}
		/* the names to rename and unlink: the first ones read (all
		 * read before any change, as a sync tool knows them) */
		{
			char **names = NULL;
			long nn = 0, want = want_ren + want_unl;

			d = fdopendir(dup(cur));
			while (d && nn < want && (de = readdir(d))) {
				if (de->d_name[0] == '.')
					continue;
				names = realloc(names, (size_t)(nn + 1) * sizeof *names);
				names[nn++] = strdup(de->d_name);
			}
			if (d)
				closedir(d);
			for (k = 0; k < nn; k++) {
				char to[600];

				if (k < want_ren) {
					snprintf(to, sizeof to, "%sF", names[k]);
					if (renameat(cur, names[k], cur, to) == 0)
						done_ren++;
				} else if (unlinkat(cur, names[k], 0) == 0) {
					done_unl++;
				}
				free(names[k]);
			}
			free(names);
		}
		for (k = 0; k < want_new; k++) {
			char nm[100];

			snprintf(nm, sizeof nm, "floor.%zu.%ld", i, k);
			fd = openat(tmp, nm, O_WRONLY | O_CREAT | O_EXCL, 0600);
			if (fd < 0 || write(fd, data, (size_t)size) != size ||
			    close(fd) < 0 || renameat(tmp, nm, cur, nm) < 0) {
				perror(nm);
				return 1;
			}
			done_new++;
		}
		fd = openat(dir, "dovecot-uidlist.floor", O_WRONLY | O_CREAT | O_TRUNC,
			    0600);
		if (fd < 0 || write(fd, data, 4000) != 4000 || close(fd) < 0 ||
		    renameat(dir, "dovecot-uidlist.floor", dir, "dovecot-uidlist") < 0) {
			perror("dovecot-uidlist");
			return 1;
		}
		close(cur);
		close(tmp);
		close(dir);
	}
	t1 = now();
	syncfs(root);
	t2 = now();
	printf("%zu folders: %ld new, %ld renamed, %ld unlinked, %zu uidlists: "
	       "%.3f s (file work %.3f s, syncfs %.3f s)\n", nfolders, done_new,
	       done_ren, done_unl, nfolders, t2 - t0, t1 - t0, t2 - t1);
	return 0;
}
