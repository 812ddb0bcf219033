/*
 * buf.h: a growable byte buffer with a maximum size.
 *
 * Shared by the controller and the agent (libc only).  Growing past `max`
 * is an error the caller sees, never a crash; running out of memory aborts.
 * buf_cstr() never returns NULL, so an empty buffer is a valid "" string.
 */
#ifndef MM_BUF_H
#define MM_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;	/* 0 means no limit beyond SIZE_MAX */
};

#define BUF_INIT { NULL, 0, 0, 0 }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_putc(struct buf *b, int c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_consume(struct buf *b, size_t n);
const char *buf_cstr(struct buf *b);
char *buf_detach(struct buf *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Growing arrays: makes room in `v` (elements of `size` bytes, *cap of
 * them) for `want` elements, doubling from `first`.  Returns the array.
 * XGROW(v, n, cap, first) makes room for one more after the n in use. */
void *xgrow(void *v, size_t size, size_t want, size_t *cap, size_t first);
#define XGROW(v, n, cap, first) \
	((v) = xgrow((v), sizeof *(v), (n) + 1, &(cap), (first)))

#endif
