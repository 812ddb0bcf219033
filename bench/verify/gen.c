/*
 * bench/verify/gen.c: writes a large Maildir tree for the verify benchmark.
 *
 *     gen DIR MESSAGES [USERS]
 *
 * DIR/<domain>/<user>/Maildir with INBOX and four folders, messages named
 * as Dovecot names them, sizes lognormal around 8 KB (median ~6.5 KB, mean
 * ~8 KB, capped at 4 MiB), flags spread over the usual letters, mtimes in
 * the past, a dovecot-uidlist and dovecot-keywords per folder.  Content is
 * pseudo-random text so that nothing compresses or deduplicates.  Fast: one
 * write per file, no fsync.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double uniform(void)
{
	return ((next() >> 11) + 0.5) / 9007199254740992.0;
}

/* Lognormal with mean ~8 KB: sigma 0.7, mu = ln(8192) - sigma^2 / 2. */
static size_t msg_size(void)
{
	double z = sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
	double s = exp(log(8192.0) - 0.245 + 0.7 * z);

	if (s < 300)
		s = 300;
	if (s > 4 << 20)
		s = 4 << 20;
	return (size_t)s;
}

static void mkdirs(const char *path)
{
	char tmp[4096], *p;

	snprintf(tmp, sizeof tmp, "%s", path);
	for (p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
		perror(tmp);
		exit(1);
	}
}

static char *body;

int main(int argc, char **argv)
{
	static const char *const folders[] = { "", ".Sent", ".Archive",
					       ".Drafts", ".Junk" };
	static const int share[] = { 60, 20, 15, 2, 3 };
	static const char *const flags[] = { "2,S", "2,RS", "2,FS", "2,Sa",
					     "", "2,", "2,ST", "2,Sb" };
	const char *dir;
	long total, users, u, done = 0;
	size_t i, bodycap = (4 << 20) + 4096;
	time_t now = time(NULL);

	if (argc < 3) {
		fprintf(stderr, "usage: gen DIR MESSAGES [USERS]\n");
		return 2;
	}
	dir = argv[1];
	total = atol(argv[2]);
	users = argc > 3 ? atol(argv[3]) : total / 2000 + 1;
	body = malloc(bodycap);
	for (i = 0; i < bodycap; i++) {
		uint64_t r = next();
		body[i] = (i % 76 == 75) ? '\n' : (char)(' ' + r % 94);
	}
	for (u = 0; u < users; u++) {
		long mine = total / users + (u < total % users);
		long given = 0;

		for (int f = 4; f >= 0; f--) {
			char md[2048], path[4096], uidlist[4096];
			long n = mine * share[f] / 100, k;
			FILE *ul;

			if (f == 0)
				n = mine - given;	/* INBOX: the rest */
			given += n;
			snprintf(md, sizeof md, "%s/d%ld.example/u%ld/Maildir%s%s",
				 dir, u % 50, u, *folders[f] ? "/" : "",
				 folders[f]);
			snprintf(path, sizeof path, "%s/cur", md);
			mkdirs(path);
			snprintf(path, sizeof path, "%s/new", md);
			mkdirs(path);
			snprintf(path, sizeof path, "%s/tmp", md);
			mkdirs(path);
			snprintf(uidlist, sizeof uidlist, "%s/dovecot-uidlist", md);
			ul = fopen(uidlist, "w");
			if (!ul) {
				perror(uidlist);
				return 1;
			}
			fprintf(ul, "3 V%ld N%ld G%016llx%016llx\n",
				(long)now - 86400 * 400 + u, n + 1,
				(unsigned long long)next(),
				(unsigned long long)next());
			for (k = 0; k < n; k++) {
				size_t size = msg_size();
				long t = (long)now - 86400 * 365 + k * 37 % (86400 * 360);
				const char *fl = flags[next() % 8];
				char base[256], name[4096];
				struct timeval tv[2];
				int fd, hlen;

				snprintf(base, sizeof base,
					 "%ld.M%ldP%ld.oldmail,S=%zu,W=%zu", t,
					 done % 1000000, 1000 + k, size,
					 size + size / 76);
				snprintf(name, sizeof name, "%s/%s/%s%s%s", md,
					 *fl ? "cur" : "new", base,
					 *fl ? ":" : "", fl);
				fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
				if (fd < 0) {
					perror(name);
					return 1;
				}
				hlen = snprintf(body + (done * 131) % 4096, 80,
						"Subject: message %ld\n", done);
				(void)hlen;
				if (write(fd, body + (done * 131) % 4096, size) !=
				    (ssize_t)size) {
					perror(name);
					return 1;
				}
				tv[0].tv_sec = tv[1].tv_sec = t;
				tv[0].tv_usec = tv[1].tv_usec = 0;
				futimes(fd, tv);
				close(fd);
				fprintf(ul, "%ld :%s\n", k + 1, base);
				done++;
			}
			fclose(ul);
			snprintf(path, sizeof path, "%s/dovecot-keywords", md);
			ul = fopen(path, "w");
			fputs("0 $Junk\n1 work\n", ul);
			fclose(ul);
		}
	}
	fprintf(stderr, "gen: %ld messages for %ld users in %s\n", done, users,
		dir);
	return 0;
}
