/*
 * sync_dest.c: a folder's cur/, new/ and tmp/ on the destination: their
 * directory fds (opened without following symlinks), the tracking of their
 * mtimes around each change mailmove makes there (so that a change by
 * someone else is never recorded as mailmove's), and reading cur/ or new/
 * into the folder's table of base names.
 */
#include "sync_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "banned.h"

int sync_sub_fd(struct sync *s, struct folder *fo, char sub)
{
	int *fdp = sub == 'c' ? &fo->cur_fd : sub == 'n' ? &fo->new_fd :
		&fo->tmp_fd;
	const char *nm = sub == 'c' ? "cur" : sub == 'n' ? "new" : "tmp";
	char *rel;
	int e;

	if (*fdp >= 0 || s->dst_fd < 0)
		return *fdp;
	rel = sync_join(fo->path, nm);
	e = fs_walk(s->dst_fd, rel, 0, NULL, fdp);
	free(rel);
	if (e) {
		*fdp = -1;
		errno = e;
	}
	return *fdp;
}

/* Before a change mailmove makes in the destination's cur/ or new/: a
 * directory that no longer has the mtime it had when read or right after
 * mailmove's last change there was changed by someone else meanwhile (a
 * delivery on this server), and the change about to be made would hide
 * that from the commit: the rows will not list it exactly. */
void sync_dest_changing(struct sync *s, struct folder *fo, char sub)
{
	int fd = sync_sub_fd(s, fo, sub), i = sub == 'n';
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 ||
	    st.st_mtim.tv_sec != fo->seen[i].tv_sec ||
	    st.st_mtim.tv_nsec != fo->seen[i].tv_nsec)
		fo->inexact[i] = 1;
}

/* After a change mailmove made in the destination's cur/ or new/: the
 * mtime it left, which the folder's commit expects to find (see
 * put_dest_dir_mtime). */
void sync_dest_changed(struct sync *s, struct folder *fo, char sub)
{
	int fd = sync_sub_fd(s, fo, sub);
	struct stat st;

	if (fd >= 0 && fstat(fd, &st) == 0)
		fo->seen[sub == 'n'] = st.st_mtim;
	else
		memset(&fo->seen[sub == 'n'], 0, sizeof fo->seen[0]);
}

void sync_folder_close_fds(struct folder *fo)
{
	if (fo->cur_fd >= 0)
		close(fo->cur_fd);
	if (fo->new_fd >= 0)
		close(fo->new_fd);
	if (fo->tmp_fd >= 0)
		close(fo->tmp_fd);
	fo->cur_fd = fo->new_fd = fo->tmp_fd = -1;
}

/* The destination's cur/ or new/ into the table. */
int sync_read_dest_sub(struct sync *s, struct folder *fo, char sub,
			 struct msgtab *t)
{
	int fd, dfd, err;
	DIR *dir;
	struct dirent *de;

	errno = 0;
	fd = sync_sub_fd(s, fo, sub);
	if (fd < 0)	/* not made yet: empty */
		return errno == ENOENT || !errno || s->dst_fd < 0 ? 0 : errno;
	dfd = dup(fd);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		err = errno;
		if (dfd >= 0)
			close(dfd);
		return err ? err : EIO;
	}
	for (;;) {
		struct msgent *e;

		errno = 0;
		if (!(de = readdir(dir)))
			break;

		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		e = sync_msgtab_at(t, de->d_name, md_base_len(de->d_name));
		if (e->d_sub) {
			char *rel = sync_msg_rel(fo, sub, de->d_name);
			log_warn("%s: a second file with the same base name on "
				 "the destination; left alone", rel);
			free(rel);
			fo->inexact[sub == 'n'] = 1;
			continue;
		}
		e->d_sub = sub;
		e->d_name = sync_arena_strndup(&t->ar, de->d_name,
					  strlen(de->d_name));
	}
	err = errno;
	closedir(dir);
	return err;
}
