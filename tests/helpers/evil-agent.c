/*
 * evil-agent.c: an agent that lies, for tests/t/0004-malicious-agent.sh.
 *
 * It answers the handshake (or lies in it) and then answers requests with
 * what EVIL_MODE asks for: file names with '/' or "..", NUL bytes, frames
 * longer than the protocol allows, truncated frames, unknown types,
 * parents that do not exist.  The controller must stop with a clear error.
 * EVIL_MODE=maildir lists a sound Maildir and answers nothing else (for
 * tests/t/0403-verify-more-faults.sh: a hash answer that never comes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "proto.h"

static int out_fd = 1, in_fd = 0;
static const char *mode;

static void send_raw(const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(out_fd, c, n);
		if (w <= 0)
			exit(0);
		c += w;
		n -= (size_t)w;
	}
}

static void send_frame(uint8_t type, uint32_t id, struct buf *p)
{
	struct buf f = BUF_INIT;
	frame_put(&f, type, id, p ? p->data : NULL, p ? p->len : 0);
	send_raw(f.data, f.len);
	buf_release(&f);
}

static int read_full(void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(in_fd, c, n);
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static void stat_rec(struct buf *p, uint32_t mode_bits)
{
	struct mm_stat st;
	memset(&st, 0, sizeof st);
	st.mode = mode_bits;
	st.nlink = 1;
	st.size = 3;
	st.mtime_s = 1700000000;
	pk_stat(p, &st);
}

static void entry(struct buf *p, uint32_t parent, char kind, const char *name,
		  size_t nlen)
{
	pk_u32(p, parent);
	pk_u8(p, (uint8_t)kind);
	pk_u8(p, 1);
	pk_str(p, name, nlen);
	stat_rec(p, kind == 'd' ? 040755 : 0100644);
	if (kind == 'l')
		pk_cstr(p, "target");
}

static void answer_list(uint32_t id)
{
	struct buf p = BUF_INIT;

	entry(&p, UINT32_MAX, 'd', ".", 1);
	if (!strcmp(mode, "slash"))
		entry(&p, 0, 'f', "../../etc/evil", 14);
	else if (!strcmp(mode, "dotdot"))
		entry(&p, 0, 'd', "..", 2);
	else if (!strcmp(mode, "nul"))
		entry(&p, 0, 'f', "a\0b", 3);
	else if (!strcmp(mode, "empty"))
		entry(&p, 0, 'f', "", 0);
	else if (!strcmp(mode, "parent"))
		entry(&p, 7, 'f', "orphan", 6);
	else if (!strcmp(mode, "fileparent")) {
		entry(&p, 0, 'f', "file", 4);
		entry(&p, 1, 'f', "child", 5);
	} else if (!strcmp(mode, "longname")) {
		char name[300];
		memset(name, 'x', sizeof name);
		entry(&p, 0, 'f', name, sizeof name);
	} else if (!strcmp(mode, "maildir")) {
		/* A sound Maildir with one message; every request other than
		 * a listing is answered with no records at all (a hash answer
		 * that never comes for the message). */
		static const char msg[] = "1700000000.M1P1.evil,S=3:2,S";
		entry(&p, 0, 'd', "cur", 3);
		entry(&p, 0, 'd', "new", 3);
		entry(&p, 1, 'f', msg, sizeof msg - 1);
	} else if (!strcmp(mode, "kind"))
		entry(&p, 0, 'Z', "weird", 5);
	else if (!strcmp(mode, "otherid")) {
		send_frame(MT_ENTRIES, id + 100, &p);
		buf_release(&p);
		return;
	}
	if (!strcmp(mode, "oversize")) {
		unsigned char hdr[9] = { 0x7f, 0xff, 0xff, 0xff, MT_ENTRIES };
		hdr[5] = (unsigned char)(id >> 24);
		hdr[8] = (unsigned char)id;
		send_raw(hdr, sizeof hdr);
		buf_release(&p);
		return;
	}
	if (!strcmp(mode, "unknown")) {
		send_frame(200, id, &p);
		buf_release(&p);
		return;
	}
	if (!strcmp(mode, "truncated")) {
		struct buf f = BUF_INIT;
		frame_put(&f, MT_ENTRIES, id, p.data, p.len);
		send_raw(f.data, f.len / 2);
		buf_release(&f);
		buf_release(&p);
		exit(0);
	}
	if (!strcmp(mode, "shortrec")) {
		p.len -= 5;	/* a record cut in the middle */
	}
	send_frame(MT_ENTRIES, id, &p);
	send_frame(MT_DONE, id, NULL);
	buf_release(&p);
}

static void answer_read(uint32_t id, struct rd *r)
{
	struct buf p = BUF_INIT;
	uint32_t n;

	rd_u32(r);
	n = rd_u32(r);
	pk_u32(&p, 0);
	pk_u32(&p, 0);
	stat_rec(&p, 0100644);
	send_frame(MT_FILE, id, &p);
	buf_reset(&p);
	buf_addstr(&p, "abc");
	send_frame(MT_DATA, id, &p);
	buf_reset(&p);
	pk_u32(&p, 0);
	pk_u32(&p, 0);
	/* "lengthlie": claims more bytes than it sent */
	pk_u64(&p, !strcmp(mode, "lengthlie") ? 1000 : 3);
	send_frame(MT_FILE_END, id, &p);
	if (!strcmp(mode, "extrafile") || n > 1) {
		buf_reset(&p);
		pk_u32(&p, 5);
		pk_u32(&p, 2);
		send_frame(MT_FILE, id, &p);
	}
	send_frame(MT_DONE, id, NULL);
	buf_release(&p);
}

int main(int argc, char **argv)
{
	int i;

	mode = getenv("EVIL_MODE");
	if (!mode)
		mode = "slash";
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--fd") && i + 1 < argc)
			in_fd = out_fd = atoi(argv[++i]);
	for (;;) {
		unsigned char hdr[9];
		struct frame f;
		const char *why;
		char *payload;
		struct rd r;

		if (read_full(hdr, 9) < 0 || frame_header(hdr, &f, &why) < 0)
			return 0;
		payload = malloc(f.len + 1);
		if (read_full(payload, f.len) < 0)
			return 0;
		rd_init(&r, payload, f.len);
		if (f.type == MT_HELLO) {
			struct buf p = BUF_INIT;
			if (!strcmp(mode, "die"))
				return 0;
			if (!strcmp(mode, "garbage")) {
				send_raw("HTTP/1.0 200 OK\r\n\r\n", 19);
				return 0;
			}
			pk_u32(&p, !strcmp(mode, "version") ? 99 : MM_PROTO_VERSION);
			pk_u32(&p, !strcmp(mode, "caps") ? 1 : MM_CAP_ALL);
			pk_cstr(&p, "evil");
			pk_cstr(&p, "evilhost");
			pk_cstr(&p, "/");
			pk_u32(&p, 0);
			pk_u8(&p, !strcmp(mode, "remote") ? 0 : 1);
			pk_cstr(&p, "Evil OS");
			pk_u32(&p, 1);
			send_frame(MT_HELLO_OK, f.id, &p);
			buf_release(&p);
		} else if (f.type == MT_LIST) {
			answer_list(f.id);
		} else if (f.type == MT_READ) {
			answer_read(f.id, &r);
		} else if (f.type == MT_BYE) {
			return 0;
		} else {
			send_frame(MT_DONE, f.id, NULL);
		}
		free(payload);
	}
}
