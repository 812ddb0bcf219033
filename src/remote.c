/*
 * remote.c: requests to the agent and the checks on its answers.
 *
 * The agent is untrusted: a compromised old server must not be able to
 * make the controller write outside the destination.  So every name is a
 * single valid component, every parent reference points at a directory
 * already seen, and every answer matches the request it claims to answer.
 */
#include "remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "banned.h"

/* Reads the errno and message of an MT_ERROR frame; logs nothing. */
static int error_frame(struct endpoint *ep, const struct frame *f,
		       struct buf *msg)
{
	struct rd r;
	const char *s;
	size_t n;
	uint32_t e;

	rd_init(&r, f->p, f->len);
	e = rd_u32(&r);
	rd_str(&r, &s, &n, 8192);
	if (r.err)
		return ep_fail(ep, "malformed error frame from the agent");
	if (msg)
		buf_add(msg, s, n);
	return e ? (int)(e > 4095 ? EIO : e) : EIO;
}

/* The next frame of request `id`; anything else is a protocol violation. */
static int recv_for(struct endpoint *ep, uint32_t id, struct frame *f)
{
	if (ep_recv(ep, f) < 0)
		return -1;
	if (f->id != id)
		return ep_fail(ep, "answer for request %u while waiting for "
			       "request %u", f->id, id);
	return 0;
}

struct dirrec {
	uint32_t index;
	char *path;
};

struct dirtab {
	struct dirrec *v;
	size_t n, cap;
};

static const char *dirtab_find(const struct dirtab *t, uint32_t index)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->v[mid].index == index)
			return t->v[mid].path;
		if (t->v[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void dirtab_add(struct dirtab *t, uint32_t index, const char *path)
{
	XGROW(t->v, t->n, t->cap, 64);
	t->v[t->n].index = index;
	t->v[t->n].path = xstrdup(path);
	t->n++;
}

static void dirtab_release(struct dirtab *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
}

/* Decodes one MT_ENTRIES frame and calls cb for each record. */
static int list_frame(struct endpoint *ep, const struct frame *f,
		      struct dirtab *dirs, uint32_t *next, rlist_cb cb,
		      void *arg, int *stop)
{
	struct buf path = BUF_INIT;
	struct rd r;
	int rc = 0;

	rd_init(&r, f->p, f->len);
	while (r.left && !rc) {
		struct rentry e;
		const char *name, *ppath, *target = NULL;
		size_t nlen, tlen = 0;
		char *namez, *targetz = NULL;

		memset(&e, 0, sizeof e);
		e.index = (*next)++;
		e.parent = rd_u32(&r);
		e.kind = (char)rd_u8(&r);
		e.has_stat = rd_u8(&r);
		rd_str(&r, &name, &nlen, MM_NAME_MAX);
		if (e.has_stat)
			rd_stat(&r, &e.st);
		if (e.kind == 'l' && e.has_stat)
			rd_str(&r, &target, &tlen, MM_PATH_MAX);
		if (e.kind == 'e')
			e.err = (int)rd_u32(&r);
		if (r.err) {
			rc = ep_fail(ep, "malformed listing from the agent");
			break;
		}
		if (e.has_stat > 1 || !strchr("fdloe", e.kind) || !e.kind) {
			rc = ep_fail(ep, "listing record of unknown kind");
			break;
		}
		if (e.index == 0) {
			if (e.parent != UINT32_MAX || e.kind != 'd' ||
			    nlen != 1 || name[0] != '.' || !e.has_stat) {
				rc = ep_fail(ep, "listing does not start with "
					     "its directory");
				break;
			}
			e.path = "";
			e.name = ".";
			dirtab_add(dirs, 0, "");
			if (!*stop)
				*stop = cb(arg, &e);
			continue;
		}
		ppath = e.parent < e.index ? dirtab_find(dirs, e.parent) : NULL;
		if (!ppath) {
			rc = ep_fail(ep, "listing record %u names parent %u, "
				     "which is not a directory it sent",
				     e.index, e.parent);
			break;
		}
		if (e.kind == 'e') {
			if (nlen != 1 || name[0] != '.') {
				rc = ep_fail(ep, "malformed error record");
				break;
			}
			e.path = ppath;
			e.name = ".";
			if (!*stop)
				*stop = cb(arg, &e);
			continue;
		}
		if (!mm_name_valid(name, nlen)) {
			rc = ep_fail(ep, "the agent sent an invalid file name "
				     "(empty, \".\", \"..\", or containing '/' "
				     "or NUL)");
			break;
		}
		if (e.kind == 'd' && !e.has_stat) {
			rc = ep_fail(ep, "directory record without stat");
			break;
		}
		if (target && memchr(target, '\0', tlen)) {
			rc = ep_fail(ep, "symlink target contains NUL");
			break;
		}
		namez = xstrndup(name, nlen);
		if (target)
			targetz = xstrndup(target, tlen);
		buf_reset(&path);
		if (*ppath)
			buf_printf(&path, "%s/", ppath);
		buf_add(&path, name, nlen);
		if (path.len >= MM_PATH_MAX) {
			free(namez);
			free(targetz);
			rc = ep_fail(ep, "path too long in listing");
			break;
		}
		e.path = path.data;
		e.name = namez;
		e.target = targetz;
		if (e.kind == 'd')
			dirtab_add(dirs, e.index, path.data);
		if (!*stop)
			*stop = cb(arg, &e);
		free(namez);
		free(targetz);
	}
	buf_release(&path);
	return rc;
}

/* A listing in two halves, so that many can be in flight (mailmove sync
 * lists changed directories that way); remote_list does both. */
uint32_t remote_list_send(struct endpoint *ep, const char *path,
			  unsigned flags, unsigned maxdepth)
{
	struct buf p = BUF_INIT;
	uint32_t id;

	pk_u32(&p, flags);
	pk_u32(&p, maxdepth);
	pk_cstr(&p, path);
	id = ep_send(ep, MT_LIST, p.data, p.len);
	buf_release(&p);
	return id;
}

int remote_list_recv(struct endpoint *ep, uint32_t id, const char *path,
		     rlist_cb cb, void *arg)
{
	struct dirtab dirs = { NULL, 0, 0 };
	struct frame f;
	uint32_t next = 0;
	int rc = 0, stop = 0;

	for (;;) {
		if (recv_for(ep, id, &f) < 0) {
			rc = -1;
			break;
		}
		if (f.type == MT_DONE) {
			if (next == 0)
				rc = ep_fail(ep, "empty listing");
			break;
		}
		if (f.type == MT_ERROR) {
			struct buf msg = BUF_INIT;
			rc = error_frame(ep, &f, &msg);
			if (rc > 0)
				log_debug("list %s: %s", path, buf_cstr(&msg));
			buf_release(&msg);
			break;
		}
		if (f.type != MT_ENTRIES) {
			rc = ep_fail(ep, "unexpected %s in a listing",
				     mm_type_name(f.type));
			break;
		}
		if (list_frame(ep, &f, &dirs, &next, cb, arg, &stop) < 0) {
			rc = -1;
			break;
		}
	}
	dirtab_release(&dirs);
	if (rc == 0 && stop)
		rc = stop;
	return rc;
}

int remote_list(struct endpoint *ep, const char *path, unsigned flags,
		unsigned maxdepth, rlist_cb cb, void *arg)
{
	uint32_t id = remote_list_send(ep, path, flags, maxdepth);

	return id ? remote_list_recv(ep, id, path, cb, arg) : -1;
}

static int pk_paths(struct buf *p, char *const *paths, size_t n)
{
	size_t i;

	if (n > UINT32_MAX)
		return -1;
	pk_u32(p, (uint32_t)n);
	for (i = 0; i < n; i++) {
		if (!mm_relpath_valid(paths[i], strlen(paths[i])))
			return -1;
		pk_cstr(p, paths[i]);
	}
	return 0;
}

static uint32_t send_paths(struct endpoint *ep, uint8_t type, uint32_t word,
			   char *const *paths, size_t n)
{
	struct buf p = BUF_INIT;
	uint32_t id = 0;

	if (type != MT_STAT)
		pk_u32(&p, word);
	if (pk_paths(&p, paths, n) < 0) {
		log_error("internal: invalid path in a request");
	} else if (p.len > MM_FRAME_MAX) {
		log_error("internal: request of %zu paths too large", n);
	} else {
		id = ep_send(ep, type, p.data, p.len);
	}
	buf_release(&p);
	return id;
}

uint32_t remote_read_send(struct endpoint *ep, char *const *paths, size_t n)
{
	return send_paths(ep, MT_READ, 0, paths, n);
}

int remote_read_recv(struct endpoint *ep, uint32_t id, size_t n,
		     const struct rread_ops *ops, void *arg)
{
	uint32_t next = 0, cur = UINT32_MAX;
	uint64_t got = 0;
	struct frame f;
	struct rd r;
	int stop = 0;

	for (;;) {
		if (recv_for(ep, id, &f) < 0)
			return -1;
		rd_init(&r, f.p, f.len);
		switch (f.type) {
		case MT_FILE: {
			uint32_t index = rd_u32(&r), err = rd_u32(&r);
			struct mm_stat st;

			if (!err)
				rd_stat(&r, &st);
			if (r.err || r.left || cur != UINT32_MAX ||
			    index != next || index >= n)
				return ep_fail(ep, "file header out of order");
			next++;
			if (!err) {
				cur = index;
				got = 0;
			}
			if (!stop)
				stop = ops->begin(arg, index, (int)err,
						  err ? NULL : &st);
			break;
		}
		case MT_DATA:
			if (cur == UINT32_MAX)
				return ep_fail(ep, "file data outside a file");
			got += f.len;
			if (!stop && f.len)
				stop = ops->data(arg, cur, f.p, f.len);
			break;
		case MT_FILE_END: {
			uint32_t index = rd_u32(&r), err = rd_u32(&r);
			uint64_t total = rd_u64(&r);

			if (r.err || r.left || index != cur || total != got)
				return ep_fail(ep, "file end does not match "
					       "the data sent");
			cur = UINT32_MAX;
			if (!stop)
				stop = ops->end(arg, index, (int)err, total);
			break;
		}
		case MT_DONE:
			if (cur != UINT32_MAX || next != n)
				return ep_fail(ep, "read answered %u of %zu "
					       "files", next, n);
			return stop;
		case MT_ERROR:
			return error_frame(ep, &f, NULL);
		default:
			return ep_fail(ep, "unexpected %s while reading files",
				       mm_type_name(f.type));
		}
	}
}

int remote_read(struct endpoint *ep, char *const *paths, size_t n,
		const struct rread_ops *ops, void *arg)
{
	uint32_t id = remote_read_send(ep, paths, n);

	return id ? remote_read_recv(ep, id, n, ops, arg) : -1;
}

struct onefile {
	struct buf *out;
	size_t max;
	struct mm_stat *st;
	int err;
};

static int one_begin(void *arg, uint32_t index, int err,
		     const struct mm_stat *st)
{
	struct onefile *o = arg;

	(void)index;
	o->err = err;
	if (st && o->st)
		*o->st = *st;
	return 0;
}

static int one_data(void *arg, uint32_t index, const void *p, size_t n)
{
	struct onefile *o = arg;

	(void)index;
	if (o->out->len + n > o->max) {
		o->err = EFBIG;
		return 0;
	}
	buf_add(o->out, p, n);
	return 0;
}

static int one_end(void *arg, uint32_t index, int err, uint64_t total)
{
	struct onefile *o = arg;

	(void)index;
	(void)total;
	if (err && !o->err)
		o->err = err;
	return 0;
}

int remote_read_file(struct endpoint *ep, const char *path, struct buf *out,
		     size_t max, struct mm_stat *st)
{
	static const struct rread_ops ops = { one_begin, one_data, one_end };
	struct onefile o = { out, max, st, 0 };
	char *paths[1] = { (char *)path };
	int rc;

	buf_reset(out);
	rc = remote_read(ep, paths, 1, &ops, &o);
	if (rc)
		return rc;
	return o.err;
}

uint32_t remote_hash_send(struct endpoint *ep, char *const *paths, size_t n)
{
	return send_paths(ep, MT_HASH, HASH_XXH3_128, paths, n);
}

int remote_hash_recv(struct endpoint *ep, uint32_t id, size_t n,
		     int (*cb)(void *arg, const struct rhash *h), void *arg)
{
	uint32_t next = 0;
	struct frame f;
	int stop = 0;

	for (;;) {
		struct rd r;

		if (recv_for(ep, id, &f) < 0)
			return -1;
		if (f.type == MT_DONE) {
			if (next != n)
				return ep_fail(ep, "hash answered %u of %zu "
					       "files", next, n);
			return stop;
		}
		if (f.type == MT_ERROR)
			return error_frame(ep, &f, NULL);
		if (f.type != MT_HASHES)
			return ep_fail(ep, "unexpected %s while hashing",
				       mm_type_name(f.type));
		rd_init(&r, f.p, f.len);
		while (r.left) {
			struct rhash h;

			h.index = rd_u32(&r);
			h.err = (int)rd_u32(&r);
			h.size = rd_u64(&r);
			h.hi = rd_u64(&r);
			h.lo = rd_u64(&r);
			if (r.err || h.index != next || h.index >= n)
				return ep_fail(ep, "hash record out of order");
			next++;
			if (!stop)
				stop = cb(arg, &h);
		}
	}
}

int remote_hash(struct endpoint *ep, char *const *paths, size_t n,
		int (*cb)(void *arg, const struct rhash *h), void *arg)
{
	uint32_t id = remote_hash_send(ep, paths, n);

	return id ? remote_hash_recv(ep, id, n, cb, arg) : -1;
}

int remote_stat(struct endpoint *ep, char *const *paths, size_t n,
		int (*cb)(void *arg, uint32_t index, int err,
			  const struct mm_stat *st), void *arg)
{
	uint32_t id = send_paths(ep, MT_STAT, 0, paths, n);
	uint32_t next = 0;
	struct frame f;
	int stop = 0;

	if (!id)
		return -1;
	for (;;) {
		struct rd r;

		if (recv_for(ep, id, &f) < 0)
			return -1;
		if (f.type == MT_DONE) {
			if (next != n)
				return ep_fail(ep, "stat answered %u of %zu "
					       "paths", next, n);
			return stop;
		}
		if (f.type == MT_ERROR)
			return error_frame(ep, &f, NULL);
		if (f.type != MT_STATS)
			return ep_fail(ep, "unexpected %s in stat answer",
				       mm_type_name(f.type));
		rd_init(&r, f.p, f.len);
		while (r.left) {
			struct mm_stat st;
			uint32_t index = rd_u32(&r), err = rd_u32(&r);

			if (!err)
				rd_stat(&r, &st);
			if (r.err || index != next || index >= n)
				return ep_fail(ep, "stat record out of order");
			next++;
			if (!stop)
				stop = cb(arg, index, (int)err,
					  err ? NULL : &st);
		}
	}
}

int remote_statfs(struct endpoint *ep, const char *path, uint64_t *total,
		  uint64_t *avail)
{
	struct buf p = BUF_INIT;
	struct frame f;
	struct rd r;
	uint32_t id;
	int rc;

	pk_cstr(&p, path);
	id = ep_send(ep, MT_STATFS, p.data, p.len);
	buf_release(&p);
	if (!id || recv_for(ep, id, &f) < 0)
		return -1;
	if (f.type == MT_ERROR)
		return error_frame(ep, &f, NULL);
	if (f.type != MT_STATFS_OK)
		return ep_fail(ep, "unexpected %s in statfs answer",
			       mm_type_name(f.type));
	rd_init(&r, f.p, f.len);
	*total = rd_u64(&r);
	*avail = rd_u64(&r);
	rd_u64(&r);
	rd_u64(&r);
	if (r.err)
		return ep_fail(ep, "malformed statfs answer");
	if (recv_for(ep, id, &f) < 0)
		return -1;
	rc = f.type == MT_DONE ? 0 : ep_fail(ep, "statfs not finished");
	return rc;
}

/* Collects a stream into a buffer up to a cap (remote_run's sinks). */
struct run_sink {
	struct buf *out, *err;
	size_t max;
	int toobig;
};

static int sink_add(struct run_sink *k, struct buf *b, const void *p,
		    size_t n)
{
	if (!b)
		return 0;
	if (b->len + n > k->max)
		k->toobig = 1;
	else
		buf_add(b, p, n);
	return 0;
}

static int sink_out(void *arg, const void *p, size_t n)
{
	struct run_sink *k = arg;
	return sink_add(k, k->out, p, n);
}

static int sink_err(void *arg, const void *p, size_t n)
{
	struct run_sink *k = arg;
	return sink_add(k, k->err, p, n);
}

int remote_run(struct endpoint *ep, char *const *argv, const struct buf *in,
	       struct buf *out, struct buf *err, size_t max, int *status)
{
	struct run_sink k = { out, err, max, 0 };
	struct buf msg = BUF_INIT;
	int rc = remote_run_stream(ep, argv, in, sink_out, sink_err, &k, status,
				   &msg);

	if (rc > 0 && err)
		buf_add(err, buf_cstr(&msg), msg.len);
	buf_release(&msg);
	if (rc == 0 && k.toobig)
		return EFBIG;
	return rc;
}

/* Sends MT_RUN; `watch` (may be NULL) makes it a RUN_WATCH request. */
static uint32_t send_run(struct endpoint *ep, char *const *argv,
			 const struct buf *in, const struct remote_watch *watch)
{
	struct buf p = BUF_INIT;
	uint32_t id, argc = 0;

	while (argv[argc])
		argc++;
	pk_u32(&p, (in ? RUN_STDIN : 0) | (watch ? RUN_WATCH : 0));
	pk_u32(&p, argc);
	for (uint32_t i = 0; i < argc; i++)
		pk_cstr(&p, argv[i]);
	pk_u32(&p, 0);
	if (watch) {
		pk_cstr(&p, watch->pidfile);
		pk_u32(&p, watch->timeout_ms);
		pk_cstr(&p, watch->instance ? watch->instance : "");
	}
	id = ep_send(ep, MT_RUN, p.data, p.len);
	buf_release(&p);
	if (!id)
		return 0;
	if (in) {
		size_t off = 0;

		while (off < in->len) {
			size_t n = in->len - off;
			if (n > MM_DATA_CHUNK)
				n = MM_DATA_CHUNK;
			if (ep_send_id(ep, MT_RUN_STDIN, id, in->data + off, n) < 0)
				return 0;
			off += n;
		}
		if (ep_send_id(ep, MT_RUN_STDIN, id, NULL, 0) < 0)
			return 0;
	}
	return id;
}

/* The frames of a running program until MT_DONE, or until MT_QUIET when
 * `w` is given and not yet quiet.  Returns as remote_run_stream. */
static int run_frames(struct endpoint *ep, uint32_t id,
		      int (*on_out)(void *arg, const void *p, size_t n),
		      int (*on_err)(void *arg, const void *p, size_t n),
		      void *arg, int *status, int *got_exit, struct buf *why,
		      struct remote_watch *w)
{
	struct frame f;

	for (;;) {
		struct rd r;

		if (recv_for(ep, id, &f) < 0)
			return -1;
		switch (f.type) {
		case MT_OUT:
			on_out(arg, f.p, f.len);
			break;
		case MT_ERR_OUT:
			on_err(arg, f.p, f.len);
			break;
		case MT_EXIT:
			rd_init(&r, f.p, f.len);
			*status = (int)rd_u32(&r);
			if (r.err || *got_exit)
				return ep_fail(ep, "malformed exit status");
			*got_exit = 1;
			break;
		case MT_QUIET: {
			const char *s, *how, *note;
			size_t n, hn, nn;

			if (!w || w->quiet)
				return ep_fail(ep, "unexpected QUIET");
			rd_init(&r, f.p, f.len);
			w->quiet_ms = rd_u32(&r);
			w->nended = rd_u32(&r);
			rd_str(&r, &s, &n, 4096);
			rd_str(&r, &how, &hn, 64);
			rd_str(&r, &note, &nn, 1024);
			if (r.err)
				return ep_fail(ep, "malformed QUIET");
			buf_reset(&w->note);
			buf_add(&w->note, note, nn);
			buf_reset(&w->ended);
			buf_add(&w->ended, s, n);
			buf_reset(&w->how);
			buf_add(&w->how, how, hn);
			w->quiet = 1;
			return 0;
		}
		case MT_DONE:
			if (!*got_exit)
				return ep_fail(ep, "program ended without status");
			if (w)
				w->done = 1;
			return 0;
		case MT_ERROR:
			if (w)
				w->done = 1;
			return error_frame(ep, &f, why);
		default:
			return ep_fail(ep, "unexpected %s from a program",
				       mm_type_name(f.type));
		}
	}
}

int remote_run_stream(struct endpoint *ep, char *const *argv,
		      const struct buf *in,
		      int (*on_out)(void *arg, const void *p, size_t n),
		      int (*on_err)(void *arg, const void *p, size_t n),
		      void *arg, int *status, struct buf *why)
{
	uint32_t id;
	int got_exit = 0;

	*status = -1;
	id = send_run(ep, argv, in, NULL);
	if (!id)
		return -1;
	return run_frames(ep, id, on_out, on_err, arg, status, &got_exit, why,
			  NULL);
}

static int watch_sink(void *arg, const void *p, size_t n)
{
	struct buf *b = arg;

	if (b->len < (64u << 10))
		buf_add(b, p, n);
	return 0;
}

int remote_watch_begin(struct endpoint *ep, char *const *argv,
		       struct remote_watch *w, struct buf *why)
{
	w->status = -1;
	w->got_exit = w->quiet = w->done = 0;
	w->id = send_run(ep, argv, NULL, w);
	if (!w->id)
		return -1;
	return run_frames(ep, w->id, watch_sink, watch_sink, &w->output,
			  &w->status, &w->got_exit, why, w);
}

int remote_watch_end(struct endpoint *ep, struct remote_watch *w,
		     struct buf *why)
{
	if (w->done)
		return 0;
	return run_frames(ep, w->id, watch_sink, watch_sink, &w->output,
			  &w->status, &w->got_exit, why, w);
}
