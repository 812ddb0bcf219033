/*
 * sync_check.c: what the old server's tree says, read before anything
 * changes here.
 *  - Every file of the source is copied or reported: an entry of a folder
 *    that is neither a message nor one of Dovecot's files (a symlink in
 *    cur/, a symlinked dovecot-uidlist) is named and counted as a failure,
 *    and its directory is listed again next run, so the exit code stays 1
 *    until it is dealt with.
 *  - A message hard-linked to a file outside the tree is named: its copy
 *    here is a message of its own.
 *  - The --delete guard.  A source that lost what no cold sync explains
 *    (every message of the tree, or of one user: an unmounted disk, a wrong
 *    path, a Maildir replaced by an empty one) is a signal that something
 *    went wrong there, not a command to delete the same here.  The run
 *    stops before it changes anything, unless --force-delete.  The limit
 *    on the number of deletions (--max-delete) is checked once the plan
 *    knows them exactly (sync_plan.c).
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>

#include "maildir.h"
#include "banned.h"

/* A source inode with several links among this run's copies. */
struct linkseen {
	const struct job *job;	/* the first copy */
	uint32_t seen;
	char key[48];
};

void sync_check_links(struct sync *s)
{
	struct strmap links;
	size_t i;

	memset(&links, 0, sizeof links);
	for (i = 0; i < s->njobs; i++) {
		struct job *j = s->jobs[i];
		struct linkseen *l;
		char key[48];

		if (j->state < 0 || j->st.nlink < 2 || j->state_twin)
			continue;
		snprintf(key, sizeof key, "%llx:%llx",
			 (unsigned long long)j->st.dev,
			 (unsigned long long)j->st.ino);
		l = strmap_get(&links, key);
		if (!l) {
			l = xcalloc(1, sizeof *l);
			memcpy(l->key, key, sizeof key);
			l->job = j;
			strmap_put(&links, l->key, l);
		}
		l->seen++;
	}
	for (i = 0; i < links.cap; i++) {
		struct buf folder = BUF_INIT, name = BUF_INIT;
		struct linkseen *l;
		const struct job *j;

		if (!links.v || !links.v[i].key)
			continue;
		l = links.v[i].val;
		j = l->job;
		/* Twins copied by an earlier run are in the state. */
		if (l->seen < j->st.nlink &&
		    !(s->incremental && state_msg_by_inode(&s->state,
				j->st.dev, j->st.ino, j->st.size, &folder,
				&name) == 1)) {
			char *rel = sync_msg_rel(j->fo, j->sub, j->src);

			log_warn("%s: a hard link to a file outside the old "
				 "server's tree (%u of its %u links are in "
				 "it); copied as a message of its own", rel,
				 l->seen, (unsigned)j->st.nlink);
			free(rel);
		}
		buf_release(&folder);
		buf_release(&name);
		free(l);
	}
	strmap_release(&links);
}

int sync_check_source(struct sync *s)
{
	size_t i;

	for (i = 0; i < s->nfv; i++) {
		struct fentry *f = &s->fv[i];
		char pk = f->parent->kind;

		if ((pk == 'c' || pk == 'n') && f->kind == 'l') {
			sync_item_skipped(s, f->path, "a symlink where a "
					  "message should be: not copied");
			f->parent->odd = 1;
		} else if (pk == 'F' && f->kind == 'l' &&
			   md_classify(f->name) == MD_META) {
			sync_item_skipped(s, f->path, "a symlink where "
					  "Dovecot's file should be: not "
					  "copied");
			f->parent->odd = 1;
		} else if ((pk == 'c' || pk == 'n') && f->kind == 'f') {
			f->parent->nmsgs++;
		}
	}
	return MM_OK;
}

/* One user's messages: what the state knows came from the source, and
 * what the source has now (a lower bound where it was not listed). */
struct uguard {
	char *user;
	int64_t known, src;
	int unsure;		/* a listing failed: the source may have more */
};

static struct uguard *uguard_of(struct strmap *m, const char *user)
{
	struct uguard *u = strmap_get(m, user);

	if (!u) {
		u = xcalloc(1, sizeof *u);
		u->user = xstrdup(user);
		strmap_put(m, u->user, u);
	}
	return u;
}

/* Adds folder `d` to its user's counts.  -1 on a state error. */
static int count_folder(struct sync *s, struct dnode *d, struct uguard *u)
{
	int64_t known = d->in_state ? state_msgs_count(&s->state, d->path) : 0;
	struct dnode *c;
	int unlisted = 0;

	if (known < 0)
		return -1;
	u->known += known;
	if (d->vanished)
		return 0;
	for (c = d->child; c; c = c->sibling) {
		if (c->vanished || (c->kind != 'c' && c->kind != 'n'))
			continue;
		if (c->failed)
			u->unsure = 1;
		else if (c->listed || c->is_new)
			u->src += (int64_t)c->nmsgs;
		else
			unlisted = 1;
	}
	/* Not listed again: the source has what the state knows there. */
	if (unlisted)
		u->src += known;
	return 0;
}

int sync_guard_source(struct sync *s)
{
	struct strmap users;
	struct buf user = BUF_INIT, lost = BUF_INIT;
	int64_t known = 0, src = 0, lost_msgs = 0;
	size_t i, nlost = 0;
	int rc = MM_OK, unsure = 0;

	if (!s->o->delete || s->o->force_delete || !s->incremental)
		return MM_OK;
	memset(&users, 0, sizeof users);
	for (i = 0; i < s->ndv && rc == MM_OK; i++) {
		struct dnode *d = s->dv[i];

		if (d->kind != 'F')
			continue;
		md_user_of(d->path, &user);
		if (count_folder(s, d, uguard_of(&users,
				 user.data ? user.data : "")) < 0)
			rc = MM_EDEST;
	}
	for (i = 0; i < users.cap; i++) {
		struct uguard *u;

		if (!users.v || !users.v[i].key)
			continue;
		u = users.v[i].val;
		known += u->known;
		src += u->src;
		unsure |= u->unsure;
		if (rc == MM_OK && u->known > 0 && u->src == 0 && !u->unsure) {
			if (nlost < 20)
				buf_printf(&lost, "  %s: %lld messages here "
					   "came from it, the old server has "
					   "none of them now\n",
					   *u->user ? u->user : "(top)",
					   (long long)u->known);
			nlost++;
			lost_msgs += u->known;
		}
		free(u->user);
		free(u);
	}
	strmap_release(&users);
	log_debug("delete guard: %lld messages known, %lld on the source now, "
		  "%zu users lost", (long long)known, (long long)src, nlost);
	if (rc == MM_OK && known > 0 && src == 0 && !unsure) {
		struct buf where = BUF_INIT;

		/* HOST: or the root directory the source is below */
		buf_addstr(&where, s->ctx->from ? s->ctx->from : "");
		if (!s->ep->local)
			buf_putc(&where, ':');
		else
			while (where.len && where.data[where.len - 1] == '/')
				where.data[--where.len] = '\0';
		log_error("--delete refused: the old server's tree %s%s holds "
			  "no messages, and %lld messages here came from it "
			  "(an unmounted disk, a failed mount or a wrong "
			  "path?).  Nothing was changed.  Check the old "
			  "server; to delete them all the same, add "
			  "--force-delete", where.data, s->src,
			  (long long)known);
		buf_release(&where);
		rc = MM_EDIFF;
	} else if (rc == MM_OK && nlost) {
		log_error("--delete refused: %zu user%s lost every message on "
			  "the old server (%lld messages here would go):\n%s"
			  "%sNothing was changed.  Check the old server (a "
			  "moved or emptied Maildir?); to delete them all the "
			  "same, add --force-delete", nlost, nlost > 1 ? "s" :
			  "", (long long)lost_msgs, lost.data,
			  nlost > 20 ? "  ...\n" : "");
		rc = MM_EDIFF;
	}
	buf_release(&user);
	buf_release(&lost);
	return rc;
}
