/*
 * gen.c: a realistic vmail tree for the sync benchmark, and the changes
 * between two syncs.
 *
 *   gen create DIR USERS MSGS SEED
 *	DIR/dNN.example/uNNN/Maildir with INBOX and 5 folders (Maildir++),
 *	MSGS messages in all, lognormal sizes around 8 KB with a tail of
 *	multi-MB messages, Dovecot's file names, flags and keywords, about
 *	1% of INBOX hard-linked into .Archive (Dovecot's COPY), a
 *	dovecot-uidlist, dovecot-keywords, subscriptions and index caches
 *	per folder, a sieve script and its .dovecot.sieve symlink per user.
 *   gen mutate DIR NEW_PCT FLAG_PCT EXPUNGE_PCT SEED
 *	new messages (new/), flag changes (renames, new/ -> cur/), expunges,
 *	and each touched folder's uidlist rewritten the way Dovecot does
 *	(lock file, temp file, rename).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 2685821657736338717ull;
}

static double unif(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static size_t msg_size(void)
{
	double u1 = unif() + 1e-12, u2 = unif();
	double z = sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2);

	if (unif() < 0.0005)	/* the tail: attachments of 1-8 MB */
		return (size_t)(1000000 + unif() * 7000000);
	return (size_t)exp(log(8000.0) + 0.8 * z) + 300;
}

static char *body;
static size_t body_len = 9u << 20;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gen: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void mkdirs(const char *p)
{
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		die("mkdir", p);
}

static const char *folders[] = { "", ".Sent", ".Drafts", ".Trash", ".Archive",
	".Junk" };
static unsigned long counter;

/* Writes one message; returns its base name in `base`. */
static void write_msg(const char *dir, const char *sub, time_t when,
		      const char *flags, char *base, size_t blen, char *name,
		      size_t nlen)
{
	char path[4096], hdr[512];
	size_t size = msg_size(), off;
	int fd, hl;
	struct timespec ts[2];

	hl = snprintf(hdr, sizeof hdr, "Return-Path: <a@example.com>\n"
		      "From: Sender <a@example.com>\nTo: u@example.org\n"
		      "Subject: message %lu\nMessage-ID: <%lu.%llx@example.com>\n"
		      "Date: %ld\n\n", counter, counter,
		      (unsigned long long)rnd(), (long)when);
	if ((size_t)hl > size)
		size = (size_t)hl + 10;
	snprintf(base, blen, "%ld.M%luP%lu.oldmail,S=%zu,W=%zu", (long)when,
		 counter % 1000000, 1000 + counter % 30000, size,
		 size + size / 60);
	counter++;
	if (*flags)
		snprintf(name, nlen, "%s:2,%s", base, flags);
	else
		snprintf(name, nlen, "%s", base);
	snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open", path);
	if (write(fd, hdr, (size_t)hl) != hl)
		die("write", path);
	off = rnd() % (body_len - size);
	if (write(fd, body + off, size - (size_t)hl) != (ssize_t)(size - (size_t)hl))
		die("write", path);
	ts[0].tv_sec = when;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	futimens(fd, ts);
	close(fd);
}

static const char *pick_flags(void)
{
	static const char *f[] = { "S", "S", "S", "S", "RS", "FS", "Sa", "S",
		"RSb", "S", "DS", "" };
	return f[rnd() % (sizeof f / sizeof f[0])];
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("fopen", path);
	fputs(data, f);
	fclose(f);
}

static int create(const char *root, int users, long msgs)
{
	long per_user = msgs / users, u;
	char path[4096], base[512], name[600];

	mkdirs(root);
	for (u = 0; u < users; u++) {
		char home[8192], md[8200];
		long m, k;
		time_t t = 1600000000 + (time_t)(rnd() % 100000000);

		snprintf(path, sizeof path, "%s/d%02ld.example", root, u / 10);
		mkdirs(path);
		snprintf(home, sizeof home, "%s/u%03ld", path, u);
		mkdirs(home);
		snprintf(md, sizeof md, "%s/Maildir", home);
		mkdirs(md);
		for (k = 0; k < 6; k++) {
			char fd[4096], uid[1 << 16];
			FILE *ul;
			long n = k == 0 ? per_user * 45 / 100 : per_user * 11 / 100;
			long linked = 0;

			snprintf(fd, sizeof fd, "%s/%s", md, folders[k]);
			mkdirs(fd);
			snprintf(path, sizeof path, "%s/cur", fd); mkdirs(path);
			snprintf(path, sizeof path, "%s/new", fd); mkdirs(path);
			snprintf(path, sizeof path, "%s/tmp", fd); mkdirs(path);
			snprintf(path, sizeof path, "%s/dovecot-uidlist", fd);
			ul = fopen(path, "w");
			if (!ul)
				die("fopen", path);
			fprintf(ul, "3 V%ld N%ld G%016llx%016llx\n", (long)t + k,
				n + 1, (unsigned long long)rnd(),
				(unsigned long long)rnd());
			for (m = 0; m < n; m++) {
				int in_new = m >= n - 3 && unif() < 0.5;
				const char *fl = in_new ? "" : pick_flags();

				t += 1 + (time_t)(rnd() % 20000);
				write_msg(fd, in_new ? "new" : "cur", t, fl, base,
					  sizeof base, name, sizeof name);
				fprintf(ul, "%ld :%s\n", m + 1, base);
				/* Dovecot's COPY into Archive: a hard link. */
				if (k == 0 && unif() < 0.01 && !in_new) {
					char from[4096], to[4096];
					snprintf(from, sizeof from, "%s/cur/%s", fd, name);
					snprintf(to, sizeof to, "%s/.Archive/cur/%s", md, name);
					snprintf(path, sizeof path, "%s/.Archive", md); mkdirs(path);
					snprintf(path, sizeof path, "%s/.Archive/cur", md); mkdirs(path);
					if (link(from, to) < 0)
						die("link", to);
					linked++;
				}
			}
			fclose(ul);
			(void)uid;
			(void)linked;
			snprintf(path, sizeof path, "%s/dovecot-keywords", fd);
			write_file(path, "0 $Label1\n1 projectx\n");
			snprintf(path, sizeof path, "%s/dovecot.index.cache", fd);
			write_file(path, "cache");
			snprintf(path, sizeof path, "%s/dovecot.index.log", fd);
			write_file(path, "log");
			if (k) {
				snprintf(path, sizeof path, "%s/maildirfolder", fd);
				write_file(path, "");
			}
		}
		snprintf(path, sizeof path, "%s/subscriptions", md);
		write_file(path, "V\t2\n\nSent\nDrafts\nTrash\nArchive\n");
		snprintf(path, sizeof path, "%s/maildirsize", md);
		write_file(path, "0S\n12345 10\n");
		snprintf(path, sizeof path, "%s/sieve", home);
		mkdirs(path);
		snprintf(path, sizeof path, "%s/sieve/main.sieve", home);
		write_file(path, "require \"fileinto\";\nkeep;\n");
		snprintf(path, sizeof path, "%s/.dovecot.sieve", home);
		if (symlink("sieve/main.sieve", path) < 0 && errno != EEXIST)
			die("symlink", path);
	}
	return 0;
}

/* ---- mutate ---- */

struct folder {
	char *path;
	int touched;
};

static struct folder *fv;
static size_t nf, capf;

static void find_folders(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096];
	struct stat st;

	if (!d)
		return;
	snprintf(p, sizeof p, "%s/cur", dir);
	if (stat(p, &st) == 0) {
		if (nf == capf) {
			capf = capf ? capf * 2 : 1024;
			fv = realloc(fv, capf * sizeof *fv);
		}
		fv[nf].path = strdup(dir);
		fv[nf].touched = 0;
		nf++;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "cur") || !strcmp(de->d_name, "new") ||
		    !strcmp(de->d_name, "tmp") || de->d_type != DT_DIR ||
		    depth > 4)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		find_folders(p, depth + 1);
	}
	closedir(d);
}

/* Rewrites the uidlist like Dovecot: lock, temp file, rename, unlock. */
static void touch_uidlist(const char *folder, const char *append)
{
	char lock[4096], tmp[4096], ul[4096], buf[1 << 16];
	int in, out, fd;
	ssize_t n;

	snprintf(lock, sizeof lock, "%s/dovecot-uidlist.lock", folder);
	snprintf(tmp, sizeof tmp, "%s/dovecot-uidlist.tmp", folder);
	snprintf(ul, sizeof ul, "%s/dovecot-uidlist", folder);
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		close(fd);
	in = open(ul, O_RDONLY);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	while (in >= 0 && (n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("write", tmp);
	if (append && write(out, append, strlen(append)) < 0)
		die("write", tmp);
	if (in >= 0)
		close(in);
	close(out);
	rename(tmp, ul);
	unlink(lock);
}

static int mutate(const char *root, double pnew, double pflag, double pexp)
{
	size_t i;
	long total = 0, nnew = 0, nflag = 0, nexp = 0;
	char path[4096], to[4096], base[512], name[600];

	find_folders(root, 0);
	for (i = 0; i < nf; i++) {
		const char *subs[] = { "cur", "new" };
		int s;

		for (s = 0; s < 2; s++) {
			DIR *d;
			struct dirent *de;
			char **names = NULL;
			size_t nn = 0, cn = 0, k;

			snprintf(path, sizeof path, "%s/%s", fv[i].path, subs[s]);
			d = opendir(path);
			while (d && (de = readdir(d))) {
				if (de->d_name[0] == '.')
					continue;
				if (nn == cn) {
					cn = cn ? cn * 2 : 256;
					names = realloc(names, cn * sizeof *names);
				}
				names[nn++] = strdup(de->d_name);
			}
			if (d)
				closedir(d);
			for (k = 0; k < nn; k++) {
				double r = unif();
				char *colon;

				total++;
				snprintf(path, sizeof path, "%s/%s/%s", fv[i].path,
					 subs[s], names[k]);
				if (r < pexp) {
					unlink(path);
					nexp++;
					fv[i].touched = 1;
				} else if (r < pexp + pflag) {
					colon = strchr(names[k], ':');
					if (colon)
						*colon = '\0';
					snprintf(to, sizeof to, "%s/cur/%s:2,%s",
						 fv[i].path, names[k],
						 s == 1 ? "S" : (rnd() & 1) ? "RS" : "FS");
					if (strcmp(path, to)) {
						rename(path, to);
						nflag++;
					}
				}
				free(names[k]);
			}
			free(names);
		}
	}
	for (i = 0; nf && i < (size_t)(total * pnew); i++) {
		struct folder *f = &fv[rnd() % nf];
		char rec[700];

		write_msg(f->path, "new", time(NULL) - 100, "", base, sizeof base,
			  name, sizeof name);
		snprintf(rec, sizeof rec, "%lu :%s\n", 100000 + counter, base);
		touch_uidlist(f->path, rec);
		f->touched = 0;
		nnew++;
	}
	for (i = 0; i < nf; i++)
		if (fv[i].touched)
			touch_uidlist(fv[i].path, NULL);
	printf("messages %ld: %ld new, %ld flag changes, %ld expunged\n", total,
	       nnew, nflag, nexp);
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc >= 6 && !strcmp(argv[1], "create")) {
		rng_state = strtoull(argv[5], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
	} else if (argc >= 7 && !strcmp(argv[1], "mutate")) {
		rng_state = strtoull(argv[6], NULL, 10) * 0x9E3779B97F4A7C15ull + 7;
	} else {
		fprintf(stderr, "usage: gen create DIR USERS MSGS SEED\n"
			"       gen mutate DIR NEW_PCT FLAG_PCT EXPUNGE_PCT SEED\n");
		return 2;
	}
	body = malloc(body_len);
	for (i = 0; i < body_len; i++) {
		static const char abc[] = "abcdefghijklmnopqrstuvwxyz "
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n";
		body[i] = abc[rnd() % (sizeof abc - 1)];
	}
	counter = (unsigned long)(rnd() % 1000);
	if (!strcmp(argv[1], "create"))
		return create(argv[2], atoi(argv[3]), atol(argv[4]));
	return mutate(argv[2], atof(argv[3]) / 100, atof(argv[4]) / 100,
		      atof(argv[5]) / 100);
}
