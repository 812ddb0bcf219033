/*
 * verify.c: the files check of `mailmove verify` and the report both
 * checks share (see verify.h).
 *
 * Each side is listed whole (one streamed listing per side, both sides in
 * parallel), its mailboxes found (directories with cur/ or new/), its
 * messages sorted by mailbox and base name, and its dovecot-uidlist and
 * dovecot-keywords files read in one streamed request.  Then the two sorted
 * lists are merged.  With --content every message present on both sides
 * with the same size is hashed by both agents at the same time.
 */
#include "verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "maildir.h"
#include "base.h"
#include "remote.h"
#include "banned.h"

#define META_MAX (64u << 20)		/* largest uidlist we read */
#define BATCH_PATHS 4096		/* paths per hash or read request */
#define BATCH_BYTES (768u << 10)	/* and their bytes, under a frame */

/* ---- the report ---- */

static const char *const vcat_names[VC_NCAT] = {
	"missing", "flags", "content", "uid", "date", "folder_missing",
	"error", "dest_only", "folder_dest_only",
};

const char *vcat_name(enum vcat c)
{
	return c < VC_NCAT ? vcat_names[c] : "?";
}

void vreport_init(struct vreport *r, const char *check)
{
	memset(r, 0, sizeof *r);
	r->check = check;
}

void vreport_release(struct vreport *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->users[i].name);
	free(r->users);
	memset(r, 0, sizeof *r);
}

struct vcounts *vreport_user(struct vreport *r, const char *user)
{
	size_t i;

	if (r->n && !strcmp(r->users[r->last].name, user))
		return &r->users[r->last].c;
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->users[i].name, user)) {
			r->last = i;
			return &r->users[i].c;
		}
	XGROW(r->users, r->n, r->cap, 16);
	memset(&r->users[r->n], 0, sizeof r->users[0]);
	r->users[r->n].name = xstrdup(user);
	r->last = r->n;
	return &r->users[r->n++].c;
}

int vreport_failed(const struct vreport *r)
{
	int c;

	for (c = 0; c < VC_DEST_ONLY; c++)
		if (r->total.n[c])
			return 1;
	return 0;
}

static int cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct vuser *)a)->name,
		      ((const struct vuser *)b)->name);
}

static void print_row(const char *name, const struct vcounts *c)
{
	struct buf q = BUF_INIT;

	mm_quote(&q, name);
	log_out("%-28s %8llu %7llu %9llu %5llu %7llu %4llu %4llu %7llu %6llu\n",
		buf_cstr(&q), (unsigned long long)c->checked,
		(unsigned long long)c->n[VC_MISSING],
		(unsigned long long)c->n[VC_DEST_ONLY],
		(unsigned long long)c->n[VC_FLAGS],
		(unsigned long long)c->n[VC_CONTENT],
		(unsigned long long)c->n[VC_UID],
		(unsigned long long)c->n[VC_DATE],
		(unsigned long long)c->n[VC_FOLDER_MISSING],
		(unsigned long long)c->n[VC_ERROR]);
	buf_release(&q);
}

void vreport_print(const struct vreport *r)
{
	size_t i;

	if (r->n)
		qsort(r->users, r->n, sizeof *r->users, cmp_user);
	log_out("\n%s check:\n%-28s %8s %7s %9s %5s %7s %4s %4s %7s %6s\n",
		r->check, "user", "checked", "missing", "dest-only", "flags",
		"content", "uid", "date", "folders", "errors");
	for (i = 0; i < r->n; i++)
		print_row(r->users[i].name, &r->users[i].c);
	print_row("total", &r->total);
}

static json_t *counts_json(const struct vcounts *c)
{
	json_t *o = json_object();
	int k;

	json_object_set_new(o, "checked", json_integer((json_int_t)c->checked));
	for (k = 0; k < VC_NCAT; k++)
		json_object_set_new(o, vcat_names[k],
				    json_integer((json_int_t)c->n[k]));
	return o;
}

json_t *vreport_json(const struct vreport *r)
{
	json_t *o = json_object(), *users = json_array();
	size_t i;

	for (i = 0; i < r->n; i++) {
		json_t *u = counts_json(&r->users[i].c);
		json_object_set_new(u, "user", json_str_any(r->users[i].name));
		json_array_append_new(users, u);
	}
	json_object_set_new(o, "users", users);
	json_object_set_new(o, "total", counts_json(&r->total));
	json_object_set_new(o, "clean", json_boolean(!vreport_failed(r)));
	return o;
}

void verify_note(struct vreport *r, enum vcat cat, const char *user,
		 const char *folder, const char *name, json_t *fields,
		 const char *fmt, ...)
{
	struct vcounts *c = vreport_user(r, user);
	struct buf detail = BUF_INIT, line = BUF_INIT;
	va_list ap;

	c->n[cat]++;
	r->total.n[cat]++;
	va_start(ap, fmt);
	buf_vprintf(&detail, fmt, ap);
	va_end(ap);
	if (!log_json()) {
		buf_printf(&line, "%-16s ", vcat_name(cat));
		mm_quote(&line, user);
		buf_addstr(&line, "  ");
		mm_quote(&line, folder);
		if (name) {
			buf_addstr(&line, "  ");
			mm_quote(&line, name);
		}
		if (detail.len) {
			buf_addstr(&line, "  ");
			mm_quote(&line, detail.data);
		}
		log_out("%s\n", line.data);
	}
	if (!fields)
		fields = json_object();
	json_object_set_new(fields, "check", json_string(r->check));
	json_object_set_new(fields, "user", json_str_any(user));
	json_object_set_new(fields, "folder", json_str_any(folder));
	if (name)
		json_object_set_new(fields, "name", json_str_any(name));
	if (detail.len)
		json_object_set_new(fields, "detail",
				    json_str_any(detail.data));
	out_event(vcat_name(cat), fields);
	buf_release(&detail);
	buf_release(&line);
}

/* ---- one side's tree ---- */

struct vmsg {
	const char *box;	/* interned mailbox path */
	char *name;		/* full file name */
	uint32_t blen;		/* length of the base name */
	char sub;		/* 'c' cur, 'n' new */
	uint64_t size;
	int64_t mtime;
};

struct vsub {
	char *path;		/* the directory holding cur/ or new/ */
	unsigned bits;		/* 1 cur, 2 new */
};

struct ubase {
	const char *base;
	size_t blen;
	uint32_t uid;
};

struct vbox {
	const char *rel;
	unsigned bits;		/* 1 cur/, 2 new/: 3 unless broken */
	size_t first, n;	/* its messages in the sorted array */
	int has_ul, has_kw;	/* the files exist */
	int ul_state;		/* 0 absent, 1 parsed, -1 broken or unreadable */
	char *ul_why;
	int kw_err;		/* errno reading dovecot-keywords, or 0 */
	struct uidlist ul;
	struct keywords kw;
	struct ubase *ub;	/* uidlist records sorted by base */
};

/* The listing's progress line, drawn by whichever side's thread has
 * listed another batch of entries. */
struct vprog {
	pthread_mutex_t mu;
	struct progress p;
};

struct vside {
	const char *what;	/* "source" or "destination" */
	struct vprog *prog;
	uint64_t listed;
	struct endpoint *ep;
	const char *root;
	struct vmsg *m;
	size_t nm, capm;
	struct vsub *sub;
	size_t nsub, capsub;
	char **strs;		/* interned strings */
	size_t nstrs, capstrs;
	const char *last_box;
	char **metas;		/* "box\0kind" of dovecot-uidlist/keywords */
	size_t nmeta, capmeta;
	struct vbox *box;
	size_t nbox;
	char **errors;		/* unreadable directories */
	size_t nerr;
	char **odd;		/* entries where mail may be that are not
				   read: symlinks, FIFOs */
	size_t nodd;
	int list_rc;		/* remote_list's return */
	int rc;			/* MM_OK or an exit code */
};

static const char *intern(struct vside *s, const char *p, size_t n)
{
	if (s->last_box && strlen(s->last_box) == n &&
	    !memcmp(s->last_box, p, n))
		return s->last_box;
	if (s->nstrs == s->capstrs) {
		s->capstrs = s->capstrs ? s->capstrs * 2 : 64;
		s->strs = xrealloc(s->strs, s->capstrs * sizeof *s->strs);
	}
	s->strs[s->nstrs] = xstrndup(p, n);
	s->last_box = s->strs[s->nstrs++];
	return s->last_box;
}

static void side_release(struct vside *s)
{
	size_t i;

	for (i = 0; i < s->nm; i++)
		free(s->m[i].name);
	free(s->m);
	for (i = 0; i < s->nsub; i++)
		free(s->sub[i].path);
	free(s->sub);
	for (i = 0; i < s->nstrs; i++)
		free(s->strs[i]);
	free(s->strs);
	for (i = 0; i < s->nmeta; i++)
		free(s->metas[i]);
	free(s->metas);
	for (i = 0; i < s->nbox; i++) {
		uidlist_release(&s->box[i].ul);
		keywords_release(&s->box[i].kw);
		free(s->box[i].ul_why);
		free(s->box[i].ub);
	}
	free(s->box);
	for (i = 0; i < s->nerr; i++)
		free(s->errors[i]);
	free(s->errors);
	for (i = 0; i < s->nodd; i++)
		free(s->odd[i]);
	free(s->odd);
}

/* The length of the parent part of `path` ("a/b/c" -> 3), 0 for "c". */
static size_t parent_len(const char *path, const char *name)
{
	size_t n = strlen(path) - strlen(name);

	return n ? n - 1 : 0;
}

static int list_cb(void *arg, const struct rentry *e)
{
	struct vside *s = arg;
	size_t plen;

	if (mm_interrupted)
		return EINTR;
	if (++s->listed % 4096 == 0 && s->prog) {
		pthread_mutex_lock(&s->prog->mu);
		progress_add(&s->prog->p, 4096, 0);
		pthread_mutex_unlock(&s->prog->mu);
	}
	if (e->kind == 'e') {
		s->errors = xrealloc(s->errors, (s->nerr + 1) * sizeof *s->errors);
		s->errors[s->nerr++] = xstrdup(e->path);
		return 0;
	}
	if (!*e->path)
		return 0;
	plen = parent_len(e->path, e->name);
	if ((e->kind == 'l' && md_symlink_hides_mail(e->path)) ||
	    (e->kind == 'o' && plen >= 3 &&
	     (!memcmp(e->path + plen - 3, "cur", 3) ||
	      !memcmp(e->path + plen - 3, "new", 3)))) {
		s->odd = xrealloc(s->odd, (s->nodd + 1) * sizeof *s->odd);
		s->odd[s->nodd++] = xstrdup(e->path);
		return 0;
	}
	if (e->kind == 'd' && (!strcmp(e->name, "cur") ||
			       !strcmp(e->name, "new"))) {
		if (s->nsub == s->capsub) {
			s->capsub = s->capsub ? s->capsub * 2 : 64;
			s->sub = xrealloc(s->sub, s->capsub * sizeof *s->sub);
		}
		s->sub[s->nsub].path = xstrndup(e->path, plen);
		s->sub[s->nsub].bits = e->name[0] == 'c' ? 1 : 2;
		s->nsub++;
		return 0;
	}
	if (e->kind != 'f')
		return 0;
	if (!strcmp(e->name, "dovecot-uidlist") ||
	    !strcmp(e->name, "dovecot-keywords")) {
		struct buf b = BUF_INIT;

		buf_add(&b, e->path, plen);
		buf_putc(&b, '\0');
		buf_putc(&b, e->name[8] == 'u' ? 'u' : 'k');
		if (s->nmeta == s->capmeta) {
			s->capmeta = s->capmeta ? s->capmeta * 2 : 64;
			s->metas = xrealloc(s->metas,
					    s->capmeta * sizeof *s->metas);
		}
		s->metas[s->nmeta++] = buf_detach(&b);
		return 0;
	}
	/* A message: the parent directory is cur or new. */
	{
		const char *dir = e->path, *slash;
		size_t dlen;

		if (!md_is_message_name(e->name))
			return 0;
		dlen = plen;
		slash = dlen ? memrchr(dir, '/', dlen) : NULL;
		{
			const char *dname = slash ? slash + 1 : dir;
			size_t nlen = (size_t)(dir + dlen - dname);
			char sub;

			if (nlen == 3 && !memcmp(dname, "cur", 3))
				sub = 'c';
			else if (nlen == 3 && !memcmp(dname, "new", 3))
				sub = 'n';
			else
				return 0;
			if (s->nm == s->capm) {
				s->capm = s->capm ? s->capm * 2 : 1024;
				s->m = xrealloc(s->m, s->capm * sizeof *s->m);
			}
			s->m[s->nm].box = intern(s, dir,
					slash ? (size_t)(slash - dir) : 0);
			s->m[s->nm].name = xstrdup(e->name);
			s->m[s->nm].blen = (uint32_t)md_base_len(e->name);
			s->m[s->nm].sub = sub;
			s->m[s->nm].size = e->st.size;
			s->m[s->nm].mtime = e->st.mtime_s;
			s->nm++;
		}
	}
	return 0;
}

static int cmp_base(const char *a, size_t an, const char *b, size_t bn)
{
	int r = memcmp(a, b, an < bn ? an : bn);

	if (r)
		return r;
	return an < bn ? -1 : an > bn;
}

static int cmp_msg(const void *pa, const void *pb)
{
	const struct vmsg *a = pa, *b = pb;
	int r = a->box == b->box ? 0 : strcmp(a->box, b->box);

	if (r)
		return r;
	r = cmp_base(a->name, a->blen, b->name, b->blen);
	if (r)
		return r;
	return (a->sub == 'n') - (b->sub == 'n');	/* cur first */
}

static int cmp_sub(const void *a, const void *b)
{
	return strcmp(((const struct vsub *)a)->path,
		      ((const struct vsub *)b)->path);
}

static struct vbox *find_box(const struct vside *s, const char *rel)
{
	size_t lo = 0, hi = s->nbox;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(s->box[mid].rel, rel);
		if (!r)
			return &s->box[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Mailboxes from the cur/new directories (either is enough to be looked
 * at), messages assigned to them. */
static void side_boxes(struct vside *s)
{
	size_t i, j, nb = 0, mi;

	if (s->nsub)
		qsort(s->sub, s->nsub, sizeof *s->sub, cmp_sub);
	s->box = xcalloc(s->nsub + 1, sizeof *s->box);
	for (i = 0; i < s->nsub; i = j) {
		unsigned bits = 0;

		for (j = i; j < s->nsub && !strcmp(s->sub[j].path,
						   s->sub[i].path); j++)
			bits |= s->sub[j].bits;
		/* Dovecot needs both; a folder with only one of them is
		 * still compared (and reported, see note_incomplete). */
		s->box[nb].bits = bits;
		s->box[nb++].rel = s->sub[i].path;
	}
	s->nbox = nb;
	if (s->nm)
		qsort(s->m, s->nm, sizeof *s->m, cmp_msg);
	/* Messages sorted by box: give each box its run; drop the rest. */
	for (mi = 0; mi < s->nm;) {
		const char *b = s->m[mi].box;
		struct vbox *box = find_box(s, b);
		size_t end = mi;

		while (end < s->nm && (s->m[end].box == b ||
				       !strcmp(s->m[end].box, b)))
			end++;
		if (box) {
			box->first = mi;
			box->n = end - mi;
		}
		mi = end;
	}
	for (i = 0; i < s->nmeta; i++) {
		const char *m = s->metas[i];
		struct vbox *box = find_box(s, m);

		if (!box)
			continue;
		if (m[strlen(m) + 1] == 'u')
			box->has_ul = 1;
		else
			box->has_kw = 1;
	}
}

struct meta_read {
	struct vside *s;
	struct vbox **box;
	char *kind;
	struct buf *data;
	int *err;
};

static int meta_begin(void *arg, uint32_t index, int err,
		      const struct mm_stat *st)
{
	struct meta_read *r = arg;

	if (err)
		r->err[index] = err;
	else if (st->size > META_MAX)
		r->err[index] = EFBIG;
	return 0;
}

static int meta_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct meta_read *r = arg;

	if (!r->err[index] && buf_add(&r->data[index], p, n) < 0)
		r->err[index] = EFBIG;
	return 0;
}

static int meta_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct meta_read *r = arg;

	(void)total;
	if (err && !r->err[index])
		r->err[index] = err;
	return 0;
}

static int cmp_ubase(const void *pa, const void *pb)
{
	const struct ubase *a = pa, *b = pb;

	return cmp_base(a->base, a->blen, b->base, b->blen);
}

static void box_take_meta(struct vbox *box, char kind, struct buf *data,
			  int err)
{
	struct buf why = BUF_INIT;
	size_t i;

	if (kind == 'k') {
		if (err)
			box->kw_err = err;
		else
			keywords_parse(data->data ? data->data : "", data->len,
				       &box->kw);
		return;
	}
	if (err) {
		box->ul_state = -1;
		buf_printf(&why, "dovecot-uidlist unreadable: %s",
			   strerror(err));
	} else if (uidlist_parse(data->data ? data->data : "", data->len,
				 &box->ul, &why) < 0) {
		box->ul_state = -1;
	} else {
		box->ul_state = 1;
		box->ub = xcalloc(box->ul.n + 1, sizeof *box->ub);
		for (i = 0; i < box->ul.n; i++) {
			box->ub[i].base = box->ul.recs[i].base;
			box->ub[i].blen = strlen(box->ul.recs[i].base);
			box->ub[i].uid = box->ul.recs[i].uid;
		}
		if (box->ul.n)
			qsort(box->ub, box->ul.n, sizeof *box->ub, cmp_ubase);
	}
	if (why.len)
		box->ul_why = buf_detach(&why);
	buf_release(&why);
}

/* Reads every dovecot-uidlist and dovecot-keywords of the side, in batches
 * of one streamed request each. */
static int side_read_meta(struct vside *s)
{
	size_t i = 0;
	int rc = 0;

	while (i < s->nmeta && !rc) {
		size_t n = 0, bytes = 0, k;
		char **paths = xcalloc(BATCH_PATHS, sizeof *paths);
		struct meta_read r;

		r.s = s;
		r.box = xcalloc(BATCH_PATHS, sizeof *r.box);
		r.kind = xcalloc(BATCH_PATHS, 1);
		r.data = xcalloc(BATCH_PATHS, sizeof *r.data);
		r.err = xcalloc(BATCH_PATHS, sizeof *r.err);
		for (; i < s->nmeta && n < BATCH_PATHS && bytes < BATCH_BYTES;
		     i++) {
			const char *m = s->metas[i];
			char kind = m[strlen(m) + 1];
			struct vbox *box = find_box(s, m);
			struct buf p = BUF_INIT;

			if (!box)
				continue;
			buf_addstr(&p, s->root);
			if (*m)
				buf_printf(&p, "/%s", m);
			buf_addstr(&p, kind == 'u' ? "/dovecot-uidlist"
					       : "/dovecot-keywords");
			bytes += p.len + 4;
			r.box[n] = box;
			r.kind[n] = kind;
			buf_init(&r.data[n], META_MAX);
			paths[n++] = buf_detach(&p);
		}
		if (n) {
			static const struct rread_ops ops = {
				meta_begin, meta_data, meta_end };

			rc = remote_read(s->ep, paths, n, &ops, &r);
			if (rc > 0) {
				log_error("%s: reading Dovecot's files: %s",
					  s->what, strerror(rc));
				rc = -1;
			}
		}
		for (k = 0; k < n; k++) {
			if (!rc)
				box_take_meta(r.box[k], r.kind[k], &r.data[k],
					      r.err[k]);
			buf_release(&r.data[k]);
			free(paths[k]);
		}
		free(paths);
		free(r.box);
		free(r.kind);
		free(r.data);
		free(r.err);
	}
	return rc;
}

/* Lists the side and reads its metadata: runs in a thread of its own. */
static void *side_load(void *arg)
{
	struct vside *s = arg;

	s->list_rc = remote_list(s->ep, s->root, LIST_STAT | LIST_RECURSE, 0,
				 list_cb, s);
	if (s->list_rc < 0 || s->list_rc == EINTR) {
		s->rc = s->list_rc < 0 ? ep_exit_code(s->ep) : MM_EINTR;
		return NULL;
	}
	if (s->list_rc > 0)
		return NULL;	/* the root is missing: an empty side */
	side_boxes(s);
	if (side_read_meta(s) < 0)
		s->rc = ep_exit_code(s->ep);
	return NULL;
}

/* ---- naming: which user and folder a mailbox is ---- */

/*
 * Splits a mailbox path into the user (the home below the listed root, or
 * the label of the listed root itself) and the folder as Dovecot names
 * it ("INBOX", "Sent", "Archive.2025", "Entwürfe", "a/b" with LAYOUT=fs).
 * The user is the part before a "Maildir" component, or else the topmost
 * mailbox above (the INBOX the folder belongs to).
 */
static void box_names(const struct verify *v, const struct vside *s,
		      const char *rel, struct buf *user, struct buf *folder)
{
	const char *p = rel, *fold = NULL;
	size_t ulen = 0;
	struct buf raw = BUF_INIT;

	buf_reset(user);
	buf_reset(folder);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 7 && !memcmp(p, "Maildir", 7)) {
			ulen = p > rel ? (size_t)(p - rel - 1) : 0;
			fold = slash ? slash + 1 : "";
			break;
		}
		if (!slash)
			break;
		p = slash + 1;
	}
	if (!fold) {
		/* The topmost mailbox that holds this one. */
		ulen = strlen(rel);
		for (p = rel; ; ) {
			const char *slash = strchr(p, '/');
			char *pre;

			if (!slash)
				break;
			pre = xstrndup(rel, (size_t)(slash - rel));
			if (find_box(s, pre)) {
				ulen = (size_t)(slash - rel);
				free(pre);
				break;
			}
			free(pre);
			p = slash + 1;
		}
		if (*rel && find_box(s, "") != NULL)
			ulen = 0;	/* the listed root is the INBOX */
		fold = ulen ? rel + ulen + (rel[ulen] == '/') : rel;
	}
	if (ulen)
		buf_add(user, rel, ulen);
	else
		buf_addstr(user, v->src_label);
	if (!*fold) {
		buf_addstr(folder, "INBOX");
	} else {
		buf_addstr(&raw, fold[0] == '.' ? fold + 1 : fold);
		md_mutf7_decode(buf_cstr(&raw), folder);
	}
	buf_release(&raw);
}

/* ---- comparing ---- */

struct vpair {
	const struct vbox *sb, *db;
	size_t si, di;		/* message indexes on each side */
	uint64_t shi, slo, dhi, dlo;
	uint64_t ssize, dsize;	/* bytes each agent hashed */
	int serr, derr;
	int sgot, dgot;		/* each agent's answer arrived */
};

struct vcmp {
	struct verify *v;
	struct vside *src, *dst;
	struct vpair *pairs;
	size_t npairs, cappairs;
	uint64_t pair_bytes;
	struct buf user, folder;
};

static json_t *msg_json(const struct vmsg *m, const char *side)
{
	struct buf k = BUF_INIT;
	json_t *o = json_object();

	buf_printf(&k, "%s_file", side);
	json_object_set_new(o, k.data, json_str_any(m->name));
	buf_release(&k);
	return o;
}

static uint32_t uid_of(const struct vbox *b, const struct vmsg *m, int *found)
{
	size_t lo = 0, hi;

	*found = 0;
	if (!b || b->ul_state != 1)
		return 0;
	hi = b->ul.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = cmp_base(b->ub[mid].base, b->ub[mid].blen, m->name,
				 m->blen);
		if (!r) {
			*found = 1;
			return b->ub[mid].uid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static char *base_of(const struct vmsg *m)
{
	return xstrndup(m->name, m->blen);
}

/* Flags and keyword names of a message as one comparable string; only the
 * standard flags when a side's dovecot-keywords could not be read (`kw_ok`
 * 0: that is reported as an error of the folder, and the keywords are
 * unknown rather than different). */
static void flag_string(const struct vmsg *m, const struct vbox *b,
			int kw_ok, struct buf *out)
{
	struct buf std = BUF_INIT, kw = BUF_INIT, names = BUF_INIT;

	buf_reset(out);
	md_flags(m->name, &std, &kw);
	if (kw_ok)
		md_keyword_names(kw.data ? kw.data : "", kw.len, &b->kw,
				 &names);
	buf_printf(out, "%s%s%s", buf_cstr(&std), names.len ? " " : "",
		   buf_cstr(&names));
	buf_release(&std);
	buf_release(&kw);
	buf_release(&names);
}

/* Seconds since the epoch as "2026-11-28 19:40:11 UTC". */
static void utc_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%d %H:%M:%S UTC",
					       &tm))
		snprintf(out, n, "%lld", (long long)t);
}

/* The same info after the ':' (or none, or an empty "2,") and no keyword
 * letters: equal flags without resolving anything.  Most messages. */
static int same_flags_fast(const struct vmsg *s, const struct vmsg *d)
{
	const char *a = s->name + s->blen, *b = d->name + d->blen, *p;

	if (!strcmp(a, "") || !strcmp(a, ":2,"))
		a = "";
	if (!strcmp(b, "") || !strcmp(b, ":2,"))
		b = "";
	if (strcmp(a, b))
		return 0;
	for (p = a; *p && *p != ','; p++)
		;
	for (p = *p ? p + 1 : p; *p && *p != ','; p++)
		if (*p >= 'a' && *p <= 'z')
			return 0;
	return 1;
}

static void compare_msg(struct vcmp *c, const struct vbox *sb, size_t si,
			const struct vbox *db, size_t di, int conflict)
{
	const struct vmsg *s = &c->src->m[si], *d = &c->dst->m[di];
	const char *user = buf_cstr(&c->user), *folder = buf_cstr(&c->folder);
	struct buf sf = BUF_INIT, df = BUF_INIT;
	char *base = NULL;
	int sfound, dfound, kw_ok = !sb->kw_err && !db->kw_err;
	uint32_t suid, duid;
	json_t *o;

	if (!same_flags_fast(s, d) && (flag_string(s, sb, kw_ok, &sf),
	    flag_string(d, db, kw_ok, &df), strcmp(buf_cstr(&sf),
						   buf_cstr(&df)))) {
		o = msg_json(s, "src");
		json_object_set_new(o, "dest_file", json_str_any(d->name));
		json_object_set_new(o, "src_flags", json_str_any(buf_cstr(&sf)));
		json_object_set_new(o, "dest_flags", json_str_any(buf_cstr(&df)));
		verify_note(&c->v->files, VC_FLAGS, user, folder,
			    base ? base : (base = base_of(s)), o,
			    "flags \"%s\" on the source, \"%s\" here", buf_cstr(&sf),
			    buf_cstr(&df));
	}
	if (s->size != d->size) {
		o = json_pack("{s:s, s:I, s:I}", "reason", "size",
			      "src_size", (json_int_t)s->size,
			      "dest_size", (json_int_t)d->size);
		verify_note(&c->v->files, VC_CONTENT, user, folder,
			    base ? base : (base = base_of(s)), o,
			    "size %llu on the source, %llu here", (unsigned long long)s->size,
			    (unsigned long long)d->size);
	} else if (c->v->content) {
		if (c->npairs == c->cappairs) {
			c->cappairs = c->cappairs ? c->cappairs * 2 : 1024;
			c->pairs = xrealloc(c->pairs,
					    c->cappairs * sizeof *c->pairs);
		}
		memset(&c->pairs[c->npairs], 0, sizeof c->pairs[0]);
		c->pairs[c->npairs].sb = sb;
		c->pairs[c->npairs].db = db;
		c->pairs[c->npairs].si = si;
		c->pairs[c->npairs].di = di;
		c->npairs++;
		c->pair_bytes += s->size;
	}
	if (s->mtime != d->mtime) {
		char st[32], dt[32];

		utc_time(s->mtime, st, sizeof st);
		utc_time(d->mtime, dt, sizeof dt);
		o = json_pack("{s:I, s:I}", "src_mtime", (json_int_t)s->mtime,
			      "dest_mtime", (json_int_t)d->mtime);
		verify_note(&c->v->files, VC_DATE, user, folder,
			    base ? base : (base = base_of(s)), o,
			    "mtime %s on the source, %s here", st, dt);
	}
	/* A conflict copy is under another base name: a new UID. */
	suid = uid_of(sb, s, &sfound);
	if (sfound && db->ul_state == 1 && !conflict) {
		duid = uid_of(db, d, &dfound);
		if (!dfound || duid != suid) {
			o = json_pack("{s:I}", "src_uid", (json_int_t)suid);
			json_object_set_new(o, "dest_uid", dfound ?
				json_integer((json_int_t)duid) : json_null());
			if (!base)
				base = base_of(s);
			if (dfound)
				verify_note(&c->v->files, VC_UID, user, folder,
					    base, o, "UID %u on the source, %u here", suid,
					    duid);
			else
				verify_note(&c->v->files, VC_UID, user, folder,
					    base, o, "UID %u here none (Dovecot "
					    "would give a new one)", suid);
		}
	}
	buf_release(&sf);
	buf_release(&df);
	free(base);
}

/* Folder-level UID facts: the uidlist itself, UIDVALIDITY, next UID. */
static void compare_uidlists(struct vcmp *c, const struct vbox *sb,
			     const struct vbox *db)
{
	const char *user = buf_cstr(&c->user), *folder = buf_cstr(&c->folder);
	json_t *o;

	if (sb->ul_state != 1)
		return;		/* nothing to compare; see note_meta_errors */
	if (db->ul_state != 1) {
		o = json_pack("{s:s}", "reason", db->ul_state ?
			      "uidlist broken" : "uidlist missing");
		verify_note(&c->v->files, VC_UID, user, folder, NULL, o,
			    "%s on the destination: every message would get "
			    "a new UID", db->ul_state ? (db->ul_why ?
			    db->ul_why : "dovecot-uidlist broken") :
			    "dovecot-uidlist missing");
		return;
	}
	if (sb->ul.uidvalidity != db->ul.uidvalidity) {
		o = json_pack("{s:s, s:I, s:I}", "reason", "uidvalidity",
			      "src_uidvalidity", (json_int_t)sb->ul.uidvalidity,
			      "dest_uidvalidity", (json_int_t)db->ul.uidvalidity);
		verify_note(&c->v->files, VC_UID, user, folder, NULL, o,
			    "UIDVALIDITY %u on the source, %u here", sb->ul.uidvalidity,
			    db->ul.uidvalidity);
	}
	if (db->ul.nextuid < sb->ul.nextuid) {
		o = json_pack("{s:s, s:I, s:I}", "reason", "nextuid",
			      "src_nextuid", (json_int_t)sb->ul.nextuid,
			      "dest_nextuid", (json_int_t)db->ul.nextuid);
		verify_note(&c->v->files, VC_UID, user, folder, NULL, o,
			    "next UID %u on the source, %u here: UIDs clients have seen "
			    "would be reused", sb->ul.nextuid, db->ul.nextuid);
	}
}

/*
 * A dovecot-uidlist that could not be read or parsed, or a dovecot-keywords
 * that could not be read, on one side: the UIDs (or the keyword names) of
 * the folder cannot be checked, so it is an error, never a silent pass.
 * `ul_checked` 1: a broken uidlist is already a UID difference (the source's
 * parsed, compare_uidlists says every message would get a new UID).
 */
static void note_meta_errors(struct vcmp *c, const struct vbox *b,
			     const char *side, int ul_checked)
{
	const char *user = buf_cstr(&c->user), *folder = buf_cstr(&c->folder);
	json_t *o;

	if (b->ul_state == -1 && !ul_checked) {
		o = json_pack("{s:s, s:s}", "reason", "uidlist broken",
			      "side", side);
		verify_note(&c->v->files, VC_ERROR, user, folder, NULL, o,
			    "%s on the %s: its UIDs cannot be checked",
			    b->ul_why ? b->ul_why : "dovecot-uidlist broken",
			    side);
	}
	if (b->kw_err) {
		o = json_pack("{s:s, s:s}", "reason", "keywords unreadable",
			      "side", side);
		verify_note(&c->v->files, VC_ERROR, user, folder, NULL, o,
			    "dovecot-keywords unreadable on the %s: %s: its "
			    "keywords cannot be checked", side,
			    strerror(b->kw_err));
	}
}

/*
 * A folder with cur/ but no new/ (or the reverse) on one side: Dovecot
 * does not open it as a mailbox, so its messages are compared all the same
 * and the folder is an error.
 */
static void note_incomplete(struct vcmp *c, const struct vbox *b,
			    const char *side)
{
	json_t *o;

	if (b->bits == 3)
		return;
	o = json_pack("{s:s, s:s}", "reason", "incomplete folder",
		      "side", side);
	json_object_set_new(o, "path", json_str_any(b->rel));
	verify_note(&c->v->files, VC_ERROR, buf_cstr(&c->user),
		    buf_cstr(&c->folder), NULL, o, "the folder has %s/ but "
		    "no %s/ on the %s: Dovecot would not open it",
		    b->bits & 1 ? "cur" : "new", b->bits & 1 ? "new" : "cur",
		    side);
}

/* Skips a message whose base repeats the previous one in the same box. */
static int dup_base(const struct vside *s, size_t i, size_t first)
{
	return i > first && !cmp_base(s->m[i].name, s->m[i].blen,
				       s->m[i - 1].name, s->m[i - 1].blen);
}

/*
 * Reports message i of side s, whose base repeats the previous one's in the
 * same mailbox: two files of one message (in cur/ and new/, or twice in one
 * of them with other flags).  Dovecot would rename one of them and give it
 * a new UID, so which one the comparison used says nothing: on the
 * destination it is a content difference, on the source a broken folder
 * that could not be checked (an error).
 */
static void note_duplicate(struct vcmp *c, enum vcat cat,
			   const struct vside *s, size_t i, const char *side)
{
	const struct vmsg *m = &s->m[i], *prev = &s->m[i - 1];
	char *base = base_of(m);
	json_t *o = json_pack("{s:s, s:s}", "reason", "duplicate",
			      "side", side);

	json_object_set_new(o, "file", json_str_any(m->name));
	json_object_set_new(o, "other_file", json_str_any(prev->name));
	verify_note(&c->v->files, cat, buf_cstr(&c->user), buf_cstr(&c->folder),
		    base, o, "two files of one message on the %s: %s/%s and "
		    "%s/%s", side, prev->sub == 'c' ? "cur" : "new", prev->name,
		    m->sub == 'c' ? "cur" : "new", m->name);
	free(base);
}

/* The destination message of base `base` in box `db`, or SIZE_MAX. */
static size_t find_base(const struct vside *D, const struct vbox *db,
			const char *base)
{
	size_t lo = db->first, hi = db->first + db->n, bl = strlen(base);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp_base(D->m[mid].name, D->m[mid].blen, base, bl);

		if (!r)
			return mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/*
 * The conflict copies of a folder: where this server had another message
 * under an old-server message's base name, the sync placed the old one
 * under a conflict name (md_conflict_base) with the
 * same size and mtime.  *alt (per source message: the destination index
 * of its copy, or SIZE_MAX) and *taken (per destination message) stay
 * NULL when there is none.
 */
static void conflict_copies(struct vcmp *c, const struct vbox *sb,
			    const struct vbox *db, size_t **alt, char **taken)
{
	const struct vside *S = c->src, *D = c->dst;
	struct buf b = BUF_INIT, cb = BUF_INIT;
	size_t i;

	if (!sb->n || !db->n)
		return;
	for (i = 0; i < sb->n; i++) {
		const struct vmsg *m = &S->m[sb->first + i];
		unsigned n;

		buf_reset(&b);
		buf_add(&b, m->name, m->blen);
		for (n = 1; n <= 4; n++) {
			size_t y;

			buf_reset(&cb);
			md_conflict_base(buf_cstr(&b), n, &cb);
			y = find_base(D, db, buf_cstr(&cb));
			if (y == SIZE_MAX || D->m[y].size != m->size ||
			    D->m[y].mtime != m->mtime ||
			    (*taken && (*taken)[y - db->first]))
				continue;
			if (!*alt) {
				size_t k;

				*alt = xcalloc(sb->n, sizeof **alt);
				for (k = 0; k < sb->n; k++)
					(*alt)[k] = SIZE_MAX;
				*taken = xcalloc(db->n, 1);
			}
			(*alt)[i] = y;
			(*taken)[y - db->first] = 1;
			break;
		}
	}
	buf_release(&b);
	buf_release(&cb);
}

static void compare_box(struct vcmp *c, const struct vbox *sb,
			const struct vbox *db)
{
	const struct vside *S = c->src, *D = c->dst;
	size_t i = sb ? sb->first : 0, iend = sb ? sb->first + sb->n : 0;
	size_t j = db ? db->first : 0, jend = db ? db->first + db->n : 0;
	const char *user, *folder;
	struct vcounts *uc;
	size_t *alt = NULL;
	char *taken = NULL;

	box_names(c->v, sb ? S : D, sb ? sb->rel : db->rel, &c->user,
		  &c->folder);
	user = buf_cstr(&c->user);
	folder = buf_cstr(&c->folder);
	uc = vreport_user(&c->v->files, user);
	if (sb) {
		uc->checked += sb->n;
		c->v->files.total.checked += sb->n;
	}
	if (sb) {
		note_incomplete(c, sb, "source");
		note_meta_errors(c, sb, "source", 0);
	}
	if (sb && db) {
		note_incomplete(c, db, "destination");
		note_meta_errors(c, db, "destination",
				 sb->ul_state == 1);
	}
	if (sb && !db) {
		json_t *o = json_pack("{s:I}", "messages", (json_int_t)sb->n);

		json_object_set_new(o, "path", json_str_any(sb->rel));
		verify_note(&c->v->files, VC_FOLDER_MISSING, user, folder,
			    NULL, o, "folder with %zu messages missing on the "
			    "destination", sb->n);
		uc = vreport_user(&c->v->files, user);
		uc->n[VC_MISSING] += sb->n;
		c->v->files.total.n[VC_MISSING] += sb->n;
		return;
	}
	if (!sb) {
		json_t *o = json_pack("{s:I}", "messages", (json_int_t)db->n);

		json_object_set_new(o, "path", json_str_any(db->rel));
		verify_note(&c->v->files, VC_FOLDER_DEST_ONLY, user, folder,
			    NULL, o, "folder only on the destination "
			    "(%zu messages)", db->n);
		return;
	}
	compare_uidlists(c, sb, db);
	conflict_copies(c, sb, db, &alt, &taken);
	while (i < iend || j < jend) {
		int r;
		char *base;

		if (j < jend && taken && taken[j - db->first]) {
			j++;	/* a conflict copy, compared with its source */
			continue;
		}
		if (i < iend && dup_base(S, i, sb->first)) {
			note_duplicate(c, VC_ERROR, S, i, "source");
			i++;
			continue;
		}
		if (j < jend && dup_base(D, j, db->first)) {
			note_duplicate(c, VC_CONTENT, D, j, "destination");
			j++;
			continue;
		}
		if (i == iend)
			r = 1;
		else if (j == jend)
			r = -1;
		else
			r = cmp_base(S->m[i].name, S->m[i].blen, D->m[j].name,
				     D->m[j].blen);
		if (r < 0 && alt && alt[i - sb->first] != SIZE_MAX) {
			compare_msg(c, sb, i, db, alt[i - sb->first], 1);
			i++;
		} else if (r < 0) {
			base = base_of(&S->m[i]);
			verify_note(&c->v->files, VC_MISSING, user, folder,
				    base, msg_json(&S->m[i], "src"),
				    "%s/%s", S->m[i].sub == 'c' ? "cur" : "new",
				    S->m[i].name);
			free(base);
			i++;
		} else if (r > 0) {
			base = base_of(&D->m[j]);
			verify_note(&c->v->files, VC_DEST_ONLY, user, folder,
				    base, msg_json(&D->m[j], "dest"),
				    "%s/%s (new delivery?)",
				    D->m[j].sub == 'c' ? "cur" : "new",
				    D->m[j].name);
			free(base);
			j++;
		} else if (alt && alt[i - sb->first] != SIZE_MAX) {
			/* The old server's message is here as a conflict
			 * copy; the file under its name is another one. */
			base = base_of(&D->m[j]);
			verify_note(&c->v->files, VC_DEST_ONLY, user, folder,
				    base, msg_json(&D->m[j], "dest"),
				    "%s/%s: another message of the old server's "
				    "base name (its message is here as %s)",
				    D->m[j].sub == 'c' ? "cur" : "new",
				    D->m[j].name,
				    D->m[alt[i - sb->first]].name);
			free(base);
			compare_msg(c, sb, i, db, alt[i - sb->first], 1);
			i++;
			j++;
		} else {
			compare_msg(c, sb, i, db, j, 0);
			i++;
			j++;
		}
	}
	free(alt);
	free(taken);
}

/* ---- hashing on both sides at once ---- */

struct hash_job {
	struct vside *s;
	struct vpair *pairs;
	size_t n;
	int is_src;
	struct progress *prog;	/* only the destination's thread draws */
	int rc;
	size_t base;		/* first pair of the current batch */
};

static int hash_cb(void *arg, const struct rhash *h)
{
	struct hash_job *j = arg;
	struct vpair *p = &j->pairs[j->base + h->index];

	if (j->is_src) {
		p->sgot = 1;
		p->serr = h->err ? h->err : 0;
		p->ssize = h->size;
		p->shi = h->hi;
		p->slo = h->lo;
	} else {
		p->dgot = 1;
		p->derr = h->err ? h->err : 0;
		p->dsize = h->size;
		p->dhi = h->hi;
		p->dlo = h->lo;
		if (j->prog)
			progress_add(j->prog, 1, h->size);
	}
	return mm_interrupted ? EINTR : 0;
}

static void pair_path(const struct hash_job *j, const struct vpair *p,
		      struct buf *out)
{
	const struct vbox *b = j->is_src ? p->sb : p->db;
	const struct vmsg *m = &j->s->m[j->is_src ? p->si : p->di];

	buf_reset(out);
	buf_addstr(out, j->s->root);
	if (*b->rel)
		buf_printf(out, "/%s", b->rel);
	buf_printf(out, "/%s/%s", m->sub == 'c' ? "cur" : "new", m->name);
}

/* One hash request in flight: its id, first pair and size. */
struct hash_req {
	uint32_t id;
	size_t base, n;
};

/* Sends the next batch of paths (from pair *next on); returns its id. */
static uint32_t hash_send_batch(struct hash_job *j, size_t *next,
				struct hash_req *req)
{
	char **paths = xcalloc(BATCH_PATHS, sizeof *paths);
	struct buf p = BUF_INIT;
	size_t n = 0, bytes = 0, k;

	req->base = *next;
	while (*next < j->n && n < BATCH_PATHS && bytes < BATCH_BYTES) {
		pair_path(j, &j->pairs[(*next)++], &p);
		bytes += p.len + 4;
		paths[n++] = xstrdup(p.data);
	}
	req->n = n;
	req->id = remote_hash_send(j->s->ep, paths, n);
	for (k = 0; k < n; k++)
		free(paths[k]);
	free(paths);
	buf_release(&p);
	return req->id;
}

/*
 * Hashes this side's half of every pair, keeping HASH_DEPTH requests in
 * flight so that the agent always has the next batch queued while the
 * answers of the last one are taken in.
 */
#define HASH_DEPTH 3
static void *hash_side(void *arg)
{
	struct hash_job *j = arg;
	struct hash_req q[HASH_DEPTH];
	size_t next = 0, head = 0, inflight = 0;

	while (!j->rc && (next < j->n || inflight)) {
		while (next < j->n && inflight < HASH_DEPTH) {
			if (!hash_send_batch(j, &next,
					     &q[(head + inflight) % HASH_DEPTH])) {
				j->rc = -1;
				return NULL;
			}
			inflight++;
		}
		j->base = q[head].base;
		j->rc = remote_hash_recv(j->s->ep, q[head].id, q[head].n,
					 hash_cb, j);
		head = (head + 1) % HASH_DEPTH;
		inflight--;
	}
	return NULL;
}

/* Hash order: by folder, then by the source's and destination's cur/ or
 * new/, so that each agent keeps one directory open for a run of files. */
static const struct vside *sort_src, *sort_dst;

static int cmp_pair(const void *pa, const void *pb)
{
	const struct vpair *a = pa, *b = pb;
	int r;

	if (a->sb != b->sb)
		return a->sb < b->sb ? -1 : 1;
	r = sort_src->m[a->si].sub - sort_src->m[b->si].sub;
	if (r)
		return r;
	r = sort_dst->m[a->di].sub - sort_dst->m[b->di].sub;
	if (r)
		return r;
	return a->si < b->si ? -1 : a->si > b->si;
}

static int hash_pairs(struct vcmp *c)
{
	struct hash_job js = { c->src, c->pairs, c->npairs, 1, NULL, 0, 0 };
	struct hash_job jd = { c->dst, c->pairs, c->npairs, 0, NULL, 0, 0 };
	struct progress prog;
	pthread_t t;
	double start = mm_now();
	size_t i;
	int threaded;

	sort_src = c->src;
	sort_dst = c->dst;
	if (c->npairs)
		qsort(c->pairs, c->npairs, sizeof *c->pairs, cmp_pair);
	progress_start(&prog, "hashing", c->npairs, c->pair_bytes);
	jd.prog = &prog;
	threaded = pthread_create(&t, NULL, hash_side, &js) == 0;
	hash_side(&jd);
	if (threaded)
		pthread_join(t, NULL);
	else
		hash_side(&js);
	progress_end(&prog);
	c->v->hash_seconds = mm_now() - start;
	c->v->hashed_files = c->npairs;
	c->v->hashed_bytes = c->pair_bytes;
	if (js.rc == EINTR || jd.rc == EINTR || mm_interrupted)
		return MM_EINTR;
	if (js.rc)
		return js.rc < 0 ? ep_exit_code(c->src->ep) : MM_EREMOTE;
	if (jd.rc)
		return MM_EDEST;
	for (i = 0; i < c->npairs; i++) {
		struct vpair *p = &c->pairs[i];
		const struct vmsg *s = &c->src->m[p->si], *d = &c->dst->m[p->di];
		char *base;
		json_t *o;

		/* No answer for this file: its hash (all zeroes) proves
		 * nothing, not even for an empty message. */
		if (!p->sgot && !p->serr)
			p->serr = ENODATA;
		if (!p->dgot && !p->derr)
			p->derr = ENODATA;
		/* Bytes hashed other than the size listed: the file changed
		 * or stopped being a regular file since the listing. */
		if (!p->serr && p->ssize != s->size)
			p->serr = ESTALE;
		if (!p->derr && p->dsize != d->size)
			p->derr = ESTALE;
		if (!p->serr && !p->derr && p->shi == p->dhi &&
		    p->slo == p->dlo)
			continue;
		base = base_of(s);
		box_names(c->v, c->src, p->sb->rel, &c->user, &c->folder);
		if (p->serr || p->derr) {
			int e = p->serr ? p->serr : p->derr;

			o = json_pack("{s:s}", "reason", p->serr ?
				      "source unreadable" :
				      "destination unreadable");
			verify_note(&c->v->files, VC_ERROR, buf_cstr(&c->user),
				    buf_cstr(&c->folder), base, o,
				    "cannot hash on the %s: %s",
				    p->serr ? "source" : "destination",
				    e == ESTALE ? "changed since the listing" :
				    e == ENODATA && !(p->serr ? p->sgot : p->dgot) ?
				    "no answer from its agent" : strerror(e));
		} else if (p->shi != p->dhi || p->slo != p->dlo) {
			char sh[33], dh[33];

			snprintf(sh, sizeof sh, "%016llx%016llx",
				 (unsigned long long)p->shi,
				 (unsigned long long)p->slo);
			snprintf(dh, sizeof dh, "%016llx%016llx",
				 (unsigned long long)p->dhi,
				 (unsigned long long)p->dlo);
			o = json_pack("{s:s, s:s, s:s}", "reason", "hash",
				      "src_xxh128", sh, "dest_xxh128", dh);
			json_object_set_new(o, "src_file",
					    json_str_any(s->name));
			json_object_set_new(o, "dest_file",
					    json_str_any(d->name));
			verify_note(&c->v->files, VC_CONTENT,
				    buf_cstr(&c->user), buf_cstr(&c->folder),
				    base, o, "same size, different content "
				    "(XXH3-128 %s on the source, %s here)", sh, dh);
		}
		free(base);
	}
	return MM_OK;
}

/* ---- the files check ---- */

static void side_errors(struct verify *v, const struct vside *s)
{
	size_t i;

	for (i = 0; i < s->nerr; i++) {
		json_t *o = json_pack("{s:s}", "side", s->what);

		json_object_set_new(o, "path", json_str_any(s->errors[i]));
		verify_note(&v->files, VC_ERROR, v->src_label, s->errors[i],
			    NULL, o, "directory unreadable on the %s", s->what);
	}
	for (i = 0; i < s->nodd; i++) {
		json_t *o = json_pack("{s:s}", "side", s->what);

		json_object_set_new(o, "path", json_str_any(s->odd[i]));
		verify_note(&v->files, VC_ERROR, v->src_label, s->odd[i],
			    NULL, o, "a symlink or special file where mail may "
			    "be on the %s: not followed, its mail not checked",
			    s->what);
	}
}

int verify_files(struct verify *v)
{
	struct vside src, dst;
	struct vprog prog;
	struct vcmp c;
	pthread_t t;
	size_t i, j;
	int threaded, rc = MM_OK;

	memset(&src, 0, sizeof src);
	memset(&dst, 0, sizeof dst);
	memset(&c, 0, sizeof c);
	src.what = "source";
	src.ep = v->src;
	/* Paths are built as root + "/" + the rest: the whole tree is "". */
	src.root = strcmp(v->src_path, "/") ? v->src_path : "";
	dst.what = "destination";
	dst.ep = v->dst;
	dst.root = strcmp(v->dst_path, "/") ? v->dst_path : "";
	log_verbose("listing %s on both sides", v->src_path);
	pthread_mutex_init(&prog.mu, NULL);
	progress_start(&prog.p, "listing", 0, 0);
	src.prog = dst.prog = &prog;
	threaded = pthread_create(&t, NULL, side_load, &src) == 0;
	side_load(&dst);
	if (threaded)
		pthread_join(t, NULL);
	else
		side_load(&src);
	progress_end(&prog.p);
	pthread_mutex_destroy(&prog.mu);
	if (mm_interrupted) {
		rc = MM_EINTR;
		goto out;
	}
	if (src.rc) {
		rc = src.rc;
		goto out;
	}
	if (dst.rc) {
		rc = dst.rc == MM_EINTR ? MM_EINTR : MM_EDEST;
		goto out;
	}
	if (src.list_rc > 0) {
		log_error("source %s: %s", v->src_path, strerror(src.list_rc));
		verify_note(&v->files, VC_ERROR, v->src_label, v->src_path,
			    NULL, NULL, "source unreadable: %s",
			    strerror(src.list_rc));
		goto out;
	}
	if (dst.list_rc > 0)
		log_warn("destination %s: %s: everything counts as missing",
			 v->dst_path, strerror(dst.list_rc));
	side_errors(v, &src);
	side_errors(v, &dst);

	c.v = v;
	c.src = &src;
	c.dst = &dst;
	/* Merge the two sorted lists of mailboxes. */
	for (i = j = 0; i < src.nbox || j < dst.nbox;) {
		int r;

		if (mm_interrupted) {
			rc = MM_EINTR;
			goto out;
		}
		if (i == src.nbox)
			r = 1;
		else if (j == dst.nbox)
			r = -1;
		else
			r = strcmp(src.box[i].rel, dst.box[j].rel);
		if (r < 0)
			compare_box(&c, &src.box[i++], NULL);
		else if (r > 0)
			compare_box(&c, NULL, &dst.box[j++]);
		else
			compare_box(&c, &src.box[i++], &dst.box[j++]);
	}
	if (v->content && c.npairs)
		rc = hash_pairs(&c);
out:
	free(c.pairs);
	buf_release(&c.user);
	buf_release(&c.folder);
	side_release(&src);
	side_release(&dst);
	return rc;
}
