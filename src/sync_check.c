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
 *    (every message of the tree, or every message of one user or all but a
 *    tenth of at least ten: an unmounted disk, a wrong path, a Maildir
 *    replaced by an empty one that got a delivery since) is a signal that something
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

		if (j->state == JOB_FAILED || j->st.nlink < 2 || j->state_twin)
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
		enum dnode_kind pk = f->parent->kind;

		if ((pk == DN_CUR || pk == DN_NEW) && f->kind == 'l') {
			sync_item_skipped(s, f->path, "a symlink where a "
					  "message should be: not copied");
			f->parent->odd = 1;
		} else if (pk == DN_FOLDER && f->kind == 'l' &&
			   md_classify(f->name) == MD_META) {
			sync_item_skipped(s, f->path, "a symlink where "
					  "Dovecot's file should be: not "
					  "copied");
			f->parent->odd = 1;
		} else if (f->kind == 'l' && md_symlink_hides_mail(f->path)) {
			sync_item_skipped(s, f->path, "a symlink where mail may "
					  "be (a domain, a user, a Maildir or a "
					  "folder): not followed, and not "
					  "copied; copy what it points to as a "
					  "tree of its own, or make it a "
					  "directory");
			f->kind = 'X';	/* not for the file-tree sync either */
			f->parent->odd = 1;
		} else if ((pk == DN_CUR || pk == DN_NEW) && f->kind == 'f') {
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
		if (c->vanished || (c->kind != DN_CUR && c->kind != DN_NEW))
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

/* The mailbox a folder belongs to: its top-most ancestor folder (the
 * Maildir's root, whatever the layout: domain/user/Maildir, user/ ...). */
static const struct dnode *mailbox_of(const struct dnode *d)
{
	while (d->parent && d->parent->kind == DN_FOLDER)
		d = d->parent;
	return d;
}

void sync_mailbox_name(const struct dnode *d, struct buf *out)
{
	const struct dnode *m = mailbox_of(d);

	md_user_of(m->path, out);
	if (!out->len)
		buf_addstr(out, *m->path ? m->path : "(top)");
}

/* Messages per mailbox: those the state knows came from the source, and
 * those the planned deletions and the vanished folders would remove. */
struct mbox_count {
	char *name;
	int64_t known, gone;
};

static struct mbox_count *mbox_of(struct strmap *m, const struct dnode *d)
{
	struct buf name = BUF_INIT;
	struct mbox_count *c;

	sync_mailbox_name(d, &name);
	c = strmap_get(m, name.data);
	if (!c) {
		c = xcalloc(1, sizeof *c);
		c->name = buf_detach(&name);
		strmap_put(m, c->name, c);
	}
	buf_release(&name);
	return c;
}

int sync_guard_mailboxes(struct sync *s)
{
	struct strmap m;
	struct buf list = BUF_INIT;
	const struct strmap_entry *en;
	size_t i, pos, nlost = 0;
	int64_t lost_msgs = 0;

	if (!s->o->delete || s->o->force_delete)
		return MM_OK;
	memset(&m, 0, sizeof m);
	for (i = 0; i < s->ndels; i++)
		mbox_of(&m, s->dels[i].fo->dir)->gone++;
	for (i = 0; i < s->ndv; i++) {
		struct dnode *d = s->dv[i];

		if (d->kind == DN_FOLDER && d->vanished && d->in_state)
			mbox_of(&m, d)->gone += state_msgs_count(&s->state,
								 d->path);
	}
	/* What each of those mailboxes holds (its folders the state knows,
	 * gone or not). */
	for (i = 0; i < s->ndv && m.n; i++) {
		struct dnode *d = s->dv[i];
		struct buf name = BUF_INIT;
		struct mbox_count *c;

		if (d->kind != DN_FOLDER || !d->in_state)
			continue;
		sync_mailbox_name(d, &name);
		c = strmap_get(&m, name.data);
		if (c && c->gone)
			c->known += state_msgs_count(&s->state, d->path);
		buf_release(&name);
	}
	for (pos = 0; (en = strmap_next(&m, &pos)); ) {
		struct mbox_count *c = en->val;

		/* All of it, or all but a tenth of at least ten: the old
		 * server lost this mailbox (new deliveries do not hide it). */
		if (c->gone > 0 && (c->gone >= c->known ||
		    (c->known >= 10 && c->gone * 10 >= c->known * 9))) {
			if (nlost < 20)
				buf_printf(&list, "  %s: %lld of its %lld "
					   "messages here would go\n", c->name,
					   (long long)c->gone,
					   (long long)c->known);
			nlost++;
			lost_msgs += c->gone;
		}
		free(c->name);
		free(c);
	}
	strmap_release(&m);
	if (nlost)
		log_error("--delete refused: the old server lost all or nearly "
			  "all (90 %% or more) of the mail of %zu mailbox%s "
			  "that came from it (%lld messages here would "
			  "go):\n%s%sNothing was deleted.  Check the old server "
			  "(a moved or emptied Maildir?); to delete them all "
			  "the same, add --force-delete", nlost,
			  nlost > 1 ? "es" : "", (long long)lost_msgs,
			  list.data ? list.data : "", nlost > 20 ? "  ...\n" :
			  "");
	buf_release(&list);
	return nlost ? MM_EDIFF : MM_OK;
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

		if (d->kind != DN_FOLDER)
			continue;
		md_user_of(mailbox_of(d)->path, &user);
		if (count_folder(s, d, uguard_of(&users, user.len ? user.data :
				 mailbox_of(d)->path)) < 0)
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
		/* Every message gone, or all but a few (a Maildir replaced
		 * by an empty one that got a delivery since). */
		if (rc == MM_OK && !u->unsure && u->known > 0 &&
		    (u->src == 0 || (u->known >= 10 && u->src * 10 < u->known))) {
			if (nlost < 20)
				buf_printf(&lost, "  %s: %lld messages here "
					   "came from it, the old server has "
					   "%lld messages now\n",
					   *u->user ? u->user : "(top)",
					   (long long)u->known,
					   (long long)u->src);
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
		log_error("--delete refused: %zu user%s lost all or nearly all "
			  "(over 90 %%) of their mail on the old server (%lld "
			  "messages here would go):\n%s"
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
