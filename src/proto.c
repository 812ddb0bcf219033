/* proto.c: frame encoding and decoding, and the name checks both sides use. */
#include "proto.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "banned.h"

int pk_u8(struct buf *b, uint8_t v)
{
	return buf_add(b, &v, 1);
}

int pk_u32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };
	return buf_add(b, x, 4);
}

int pk_u64(struct buf *b, uint64_t v)
{
	return pk_u32(b, (uint32_t)(v >> 32)) | pk_u32(b, (uint32_t)v);
}

int pk_str(struct buf *b, const void *s, size_t n)
{
	if (n > UINT32_MAX)
		return -1;
	return pk_u32(b, (uint32_t)n) | buf_add(b, s, n);
}

int pk_cstr(struct buf *b, const char *s)
{
	return pk_str(b, s, strlen(s));
}

int pk_stat(struct buf *b, const struct mm_stat *st)
{
	return pk_u32(b, st->mode) | pk_u32(b, st->uid) | pk_u32(b, st->gid) |
	       pk_u32(b, st->nlink) | pk_u64(b, st->size) |
	       pk_u64(b, st->ino) | pk_u64(b, st->dev) |
	       pk_u64(b, (uint64_t)st->mtime_s) | pk_u32(b, st->mtime_ns);
}

void mm_stat_from(struct mm_stat *d, const struct stat *s)
{
	d->mode = s->st_mode;
	d->uid = s->st_uid;
	d->gid = s->st_gid;
	d->nlink = (uint32_t)s->st_nlink;
	d->size = (uint64_t)s->st_size;
	d->ino = (uint64_t)s->st_ino;
	d->dev = (uint64_t)s->st_dev;
	d->mtime_s = (int64_t)s->st_mtim.tv_sec;
	d->mtime_ns = (uint32_t)s->st_mtim.tv_nsec;
}

size_t frame_start(struct buf *out, uint8_t type, uint32_t id)
{
	size_t off = out->len;
	pk_u32(out, 0);
	pk_u8(out, type);
	pk_u32(out, id);
	return off;
}

int frame_finish(struct buf *out, size_t off)
{
	size_t n = out->len - off - MM_FRAME_HDR;
	unsigned char *p = (unsigned char *)out->data + off;

	if (n > MM_FRAME_MAX)
		return -1;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	return 0;
}

int frame_put(struct buf *out, uint8_t type, uint32_t id, const void *payload,
	      size_t n)
{
	size_t off = frame_start(out, type, id);
	if (buf_add(out, payload, n) < 0)
		return -1;
	return frame_finish(out, off);
}

void rd_init(struct rd *r, const void *p, size_t n)
{
	r->p = p;
	r->left = n;
	r->err = 0;
}

const void *rd_bytes(struct rd *r, size_t n)
{
	const void *p;

	if (r->err || r->left < n) {
		r->err = 1;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint8_t rd_u8(struct rd *r)
{
	const unsigned char *p = rd_bytes(r, 1);
	return p ? p[0] : 0;
}

uint32_t rd_u32(struct rd *r)
{
	const unsigned char *p = rd_bytes(r, 4);
	if (!p)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

uint64_t rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);
	return hi << 32 | rd_u32(r);
}

int rd_str(struct rd *r, const char **s, size_t *n, size_t max)
{
	uint32_t len = rd_u32(r);

	*s = NULL;
	*n = 0;
	if (r->err || len > max) {
		r->err = 1;
		return -1;
	}
	*s = rd_bytes(r, len);
	if (!*s)
		return -1;
	*n = len;
	return 0;
}

char *rd_strdup(struct rd *r, size_t max)
{
	const char *s;
	size_t n;

	if (rd_str(r, &s, &n, max) < 0)
		return NULL;
	if (memchr(s, '\0', n)) {
		r->err = 1;
		return NULL;
	}
	return xstrndup(s, n);
}

void rd_stat(struct rd *r, struct mm_stat *st)
{
	st->mode = rd_u32(r);
	st->uid = rd_u32(r);
	st->gid = rd_u32(r);
	st->nlink = rd_u32(r);
	st->size = rd_u64(r);
	st->ino = rd_u64(r);
	st->dev = rd_u64(r);
	st->mtime_s = (int64_t)rd_u64(r);
	st->mtime_ns = rd_u32(r);
	if (st->mtime_ns >= 1000000000u)
		r->err = 1;
}

static const struct {
	uint8_t type;
	const char *name;
} type_names[] = {
	{ MT_HELLO, "HELLO" }, { MT_LIST, "LIST" }, { MT_READ, "READ" },
	{ MT_HASH, "HASH" }, { MT_RUN, "RUN" }, { MT_RUN_STDIN, "RUN_STDIN" },
	{ MT_FWD_OPEN, "FWD_OPEN" }, { MT_FWD_DATA, "FWD_DATA" },
	{ MT_FWD_CLOSE, "FWD_CLOSE" }, { MT_STAT, "STAT" },
	{ MT_STATFS, "STATFS" }, { MT_BYE, "BYE" },
	{ MT_HELLO_OK, "HELLO_OK" }, { MT_LOG, "LOG" }, { MT_WARN, "WARN" },
	{ MT_ERROR, "ERROR" }, { MT_DONE, "DONE" }, { MT_ENTRIES, "ENTRIES" },
	{ MT_FILE, "FILE" }, { MT_DATA, "DATA" }, { MT_FILE_END, "FILE_END" },
	{ MT_HASHES, "HASHES" }, { MT_OUT, "OUT" }, { MT_ERR_OUT, "ERR_OUT" },
	{ MT_EXIT, "EXIT" }, { MT_FWD_OK, "FWD_OK" }, { MT_STATS, "STATS" },
	{ MT_STATFS_OK, "STATFS_OK" },
	{ MT_QUIET, "QUIET" },
};

const char *mm_type_name(uint8_t type)
{
	size_t i;

	for (i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return "?";
}

int mm_type_known(uint8_t type)
{
	return mm_type_name(type)[0] != '?';
}

int frame_header(const unsigned char *h, struct frame *f, const char **why)
{
	f->len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		 (uint32_t)h[2] << 8 | h[3];
	f->type = h[4];
	f->id = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 |
		(uint32_t)h[7] << 8 | h[8];
	f->p = NULL;
	if (f->len > MM_FRAME_MAX) {
		*why = "frame longer than the protocol allows";
		return -1;
	}
	if (!mm_type_known(f->type)) {
		*why = "unknown frame type";
		return -1;
	}
	return 0;
}

int mm_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > MM_NAME_MAX)
		return 0;
	if (n == 1 && s[0] == '.')
		return 0;
	if (n == 2 && s[0] == '.' && s[1] == '.')
		return 0;
	return memchr(s, '/', n) == NULL && memchr(s, '\0', n) == NULL;
}

int mm_relpath_valid(const char *s, size_t n)
{
	size_t i, start;

	if (n >= MM_PATH_MAX || memchr(s, '\0', n))
		return 0;
	if (n && s[0] == '/') {
		s++;
		n--;
	}
	if (n == 0)
		return 1;
	for (start = 0, i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (!mm_name_valid(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}
