/*
 * redis.c: the Redis copy engine behind `mailmove redis`.
 *
 * The fast path moves each key as its DUMP payload: SCAN a batch of keys
 * on the old server, pipeline DUMP and PTTL for all of them, pipeline
 * RESTORE (never REPLACE first) on the new one.  While the new server
 * restores one batch, the old one already scans and dumps the next.
 *
 * RESTORE answers BUSYKEY for a key the destination already has: then the
 * two are compared (payload bytes, else content) and an identical key is
 * skipped, a different one kept and reported unless --replace.
 *
 * A destination that refuses the payload (another RDB version, another
 * server family, RESTORE disabled) gets the type-aware copy instead: the
 * value is read with GET/HGETALL/SMEMBERS/ZRANGE/LRANGE/XRANGE, written
 * under a temporary name that expires within the hour, given its TTL, and
 * renamed into place with RENAMENX, so a half-written key is never seen
 * under its real name and a kill leaves nothing that lasts.
 *
 * The comparison after the copy scans the source again and compares every
 * key: payload bytes when they match, else a content digest (XXH3-128,
 * independent of element order for hashes, sets and sorted sets), and the
 * remaining TTL.
 */
#include "redis.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "base.h"
#include "banned.h"

#define HISTORY_PREFIX "rs_history"
#define TMP_TTL_MS "3600000"	/* a temporary key outlives no crash long */
#define CHUNK_ELEMENTS 256	/* elements per write command (fallback) */
#define TTL_SLACK_MS 1500	/* TTLs compared across two reads */

/* ---- addresses ---------------------------------------------------------- */

void redis_addr_init(struct redis_addr *a)
{
	memset(a, 0, sizeof *a);
	a->db = -1;
}

void redis_addr_release(struct redis_addr *a)
{
	free(a->path);
	free(a->host);
	redis_addr_init(a);
}

/* Parses "HOST[:PORT]" or "[V6][:PORT]" into a. */
static int parse_host_port(struct redis_addr *a, const char *s, size_t n,
			   const char **why)
{
	const char *colon = NULL, *host = s;
	size_t hlen = n;
	uint64_t port = 6379;

	if (n && s[0] == '[') {
		const char *end = memchr(s, ']', n);
		if (!end) {
			*why = "unclosed [ in the host";
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(end - s - 1);
		if (end + 1 < s + n) {
			if (end[1] != ':') {
				*why = "junk after ]";
				return -1;
			}
			colon = end + 1;
		}
	} else {
		colon = memchr(s, ':', n);
		if (colon) {
			hlen = (size_t)(colon - s);
			if (memchr(colon + 1, ':', n - hlen - 1)) {
				*why = "an IPv6 address needs [brackets]";
				return -1;
			}
		}
	}
	if (hlen == 0) {
		*why = "no host";
		return -1;
	}
	if (colon) {
		char *p = xstrndup(colon + 1, (size_t)(s + n - colon - 1));
		int bad = mm_parse_u64(p, &port) || port == 0 || port > 65535;
		free(p);
		if (bad) {
			*why = "the port is not a number from 1 to 65535";
			return -1;
		}
	}
	a->host = xstrndup(host, hlen);
	a->port = (int)port;
	return 0;
}

int redis_addr_parse(struct redis_addr *a, const char *s, int loose,
		     const char **why)
{
	const char *rest, *slash;
	uint64_t db;

	redis_addr_release(a);
	*why = "";
	if (!strncmp(s, "unix:", 5) || (loose && s[0] == '/')) {
		const char *p = s[0] == '/' ? s : s + 5;
		if (p[0] != '/') {
			*why = "a unix socket needs an absolute path";
			return -1;
		}
		if (strlen(p) >= 100) {
			*why = "the socket path is too long";
			return -1;
		}
		a->path = xstrdup(p);
		return 0;
	}
	if (!strncmp(s, "redis://", 8))
		rest = s + 8;
	else if (loose)
		rest = s;
	else {
		*why = "give redis://HOST:PORT[/DB] or unix:PATH";
		return -1;
	}
	if (strchr(rest, '@')) {
		*why = "no user or password in the address (use "
		       "--password-file)";
		return -1;
	}
	slash = strchr(rest, '/');
	if (parse_host_port(a, rest, slash ? (size_t)(slash - rest)
					   : strlen(rest), why))
		goto bad;
	if (slash && slash[1]) {
		if (mm_parse_u64(slash + 1, &db) || db > 1000000) {
			*why = "the database is not a number";
			goto bad;
		}
		a->db = (int)db;
	}
	return 0;
bad:
	redis_addr_release(a);
	return -1;
}

void redis_addr_target(const struct redis_addr *a, struct buf *out)
{
	buf_reset(out);
	if (a->path)
		buf_printf(out, "unix:%s", a->path);
	else if (strchr(a->host, ':'))
		buf_printf(out, "tcp:[%s]:%d", a->host, a->port);
	else
		buf_printf(out, "tcp:%s:%d", a->host, a->port);
}

/* ---- rspamd's configuration --------------------------------------------- */

void redis_conf_init(struct redis_conf *c)
{
	memset(c, 0, sizeof *c);
	redis_addr_init(&c->addr);
	c->db = -1;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void redis_conf_release(struct redis_conf *c)
{
	redis_addr_release(&c->addr);
	free_secret(c->password);
	free(c->username);
	redis_conf_init(c);
}

/* Skips blanks and comments (#, //, and C comments). */
static const char *ucl_skip(const char *p, const char *end)
{
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			p += 2;
			while (p + 1 < end && !(p[0] == '*' && p[1] == '/'))
				p++;
			p = p + 1 < end ? p + 2 : end;
		} else
			break;
	}
	return p;
}

/* Reads a UCL value (quoted or bare; the first element of a [list]) into
 * out.  Returns the position after it. */
static const char *ucl_value(const char *p, const char *end, struct buf *out)
{
	buf_reset(out);
	p = ucl_skip(p, end);
	if (p < end && *p == '[')
		p = ucl_skip(p + 1, end);
	if (p < end && (*p == '"' || *p == '\'')) {
		char q = *p++;
		while (p < end && *p != q) {
			if (*p == '\\' && p + 1 < end)
				p++;
			buf_putc(out, *p++);
		}
		return p < end ? p + 1 : end;
	}
	while (p < end && !strchr(";,}]\n\r \t#", *p))
		buf_putc(out, *p++);
	return p;
}

int redis_conf_parse(struct redis_conf *c, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	struct buf key = BUF_INIT, val = BUF_INIT;
	char *servers[3] = { NULL, NULL, NULL };	/* write, plain, read */
	const char *why;
	int rc = 0, i;

	while ((p = ucl_skip(p, end)) < end) {
		const char *k = p;
		while (p < end && (isalnum((unsigned char)*p) || *p == '_' ||
				   *p == '-'))
			p++;
		if (p == k) {
			p++;	/* braces, semicolons, anything else */
			continue;
		}
		buf_reset(&key);
		buf_add(&key, k, (size_t)(p - k));
		p = ucl_skip(p, end);
		if (p < end && (*p == '=' || *p == ':'))
			p++;
		else if (p < end && *p == '{')
			continue;	/* a section: look inside */
		p = ucl_value(p, end, &val);
		if (!strcmp(key.data, "servers") || !strcmp(key.data, "server")) {
			if (!servers[1]) servers[1] = xstrdup(buf_cstr(&val));
		} else if (!strcmp(key.data, "write_servers")) {
			if (!servers[0]) servers[0] = xstrdup(buf_cstr(&val));
		} else if (!strcmp(key.data, "read_servers")) {
			if (!servers[2]) servers[2] = xstrdup(buf_cstr(&val));
		} else if (!strcmp(key.data, "password") && val.len) {
			if (!c->password) c->password = xstrdup(buf_cstr(&val));
		} else if (!strcmp(key.data, "username") && val.len) {
			if (!c->username) c->username = xstrdup(buf_cstr(&val));
		} else if (!strcmp(key.data, "db") ||
			   !strcmp(key.data, "database")) {
			uint64_t db;
			if (c->db < 0 && !mm_parse_u64(buf_cstr(&val), &db) &&
			    db < 100000)
				c->db = (int)db;
		}
		if (val.data)
			explicit_bzero(val.data, val.cap);
	}
	for (i = 0; i < 3 && !c->has_addr; i++) {
		char *s = servers[i], *comma;
		if (!s || !*s)
			continue;
		comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		while (*s == ' ')
			s++;
		if (redis_addr_parse(&c->addr, s, 1, &why) < 0) {
			rc = -1;
			break;
		}
		c->has_addr = 1;
		rc = 1;
	}
	for (i = 0; i < 3; i++)
		free(servers[i]);
	buf_release(&key);
	buf_release(&val);
	return rc;
}

/* ---- history keys, quoting ---------------------------------------------- */

/* Returns 1 if name is OLD or OLD_zst after `skip` bytes, and writes the
 * same with NEW into out. */
static int history_map(const char *old, const char *new_host, const char *pfx,
		       const char *name, size_t len, struct buf *out)
{
	size_t pl = strlen(pfx), ol = strlen(old);

	if (!old || !new_host || len < pl + ol || memcmp(name, pfx, pl) ||
	    memcmp(name + pl, old, ol))
		return 0;
	if (len != pl + ol && !(len == pl + ol + 4 &&
				!memcmp(name + pl + ol, "_zst", 4)))
		return 0;
	buf_reset(out);
	buf_addstr(out, pfx);
	buf_addstr(out, new_host);
	buf_add(out, name + pl + ol, len - pl - ol);
	return 1;
}

int redis_history_rename_key(const char *old, const char *new_host,
			     const char *name, size_t len, struct buf *out)
{
	if (!old || !new_host)
		return 0;
	return history_map(old, new_host, HISTORY_PREFIX, name, len, out);
}

int redis_history_rename_member(const char *old, const char *new_host,
				const char *name, size_t len, struct buf *out)
{
	if (!old || !new_host)
		return 0;
	return history_map(old, new_host, "", name, len, out);
}

void redis_quote(struct buf *out, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf_putc(out, ch);
		else if (ch == '\\')
			buf_addstr(out, "\\\\");
		else
			buf_printf(out, "\\x%02x", ch);
	}
}

/* A quoted key as a C string, in a static ring so a few can be printed in
 * one message. */
static const char *qkey(const char *p, size_t n)
{
	static struct buf ring[4];
	static int next;
	struct buf *b = &ring[next++ % 4];

	buf_reset(b);
	if (n > 200) {
		redis_quote(b, p, 200);
		buf_addstr(b, "...");
	} else
		redis_quote(b, p, n);
	return buf_cstr(b);
}

/* ---- connecting --------------------------------------------------------- */

static int reply_is(const redisReply *r, int type)
{
	return r && r->type == type;
}

static int reply_error_starts(const redisReply *r, const char *pfx)
{
	return reply_is(r, REDIS_REPLY_ERROR) &&
	       !strncmp(r->str, pfx, strlen(pfx));
}

redisContext *redis_connect(const char *what, const struct redis_addr *a,
			    const char *connect_path, const char *username,
			    const char *password)
{
	struct timeval tv = { 30, 0 };
	redisContext *c;
	redisReply *r = NULL;

	if (connect_path)
		c = redisConnectUnixWithTimeout(connect_path, tv);
	else if (a->path)
		c = redisConnectUnixWithTimeout(a->path, tv);
	else
		c = redisConnectWithTimeout(a->host, a->port, tv);
	if (!c || c->err) {
		log_error("redis: cannot connect to %s: %s", what,
			  c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	tv.tv_sec = 300;	/* a huge key may take a while */
	redisSetTimeout(c, tv);
	if (password) {
		if (username)
			r = redisCommand(c, "AUTH %s %s", username, password);
		else
			r = redisCommand(c, "AUTH %s", password);
		if (r && r->type == REDIS_REPLY_ERROR &&
		    strstr(r->str, "without any password configured")) {
			/* A password from rspamd's files for a server that
			 * has none (--src named another): not needed. */
			log_verbose("redis: %s needs no password", what);
		} else if (!r || r->type == REDIS_REPLY_ERROR) {
			/* Redis's own message never contains the password. */
			log_error("redis: %s refused the password: %s", what,
				  r ? r->str : c->errstr);
			goto fail;
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "PING");
	if (reply_error_starts(r, "NOAUTH")) {
		log_error("redis: %s needs a password: none was found in "
			  "rspamd's configuration; give --password-file", what);
		goto fail;
	}
	if (!r || r->type == REDIS_REPLY_ERROR) {
		log_error("redis: %s: %s", what, r ? r->str : c->errstr);
		goto fail;
	}
	freeReplyObject(r);
	return c;
fail:
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return NULL;
}

/* ---- the engine's state ------------------------------------------------- */

struct engine {
	redisContext *src, *dst;
	const struct redis_copy_opts *o;
	struct redis_copy_result *res;
	struct redis_db_stats *st;
	struct progress prog;
	int failed;		/* MM_EREMOTE or MM_EDEST once a link broke */
	int fallback;
	uint64_t tmp_counter;
	struct buf name;	/* scratch: a mapped key name */
	char cursor[32];	/* the copy's SCAN cursor */
	struct batch *inflight;	/* asked of the source, not yet read */
};

static void link_failed(struct engine *e, redisContext *c)
{
	int src = c == e->src;

	if (!e->failed)
		log_error("redis: lost the connection to the %s Redis: %s",
			  src ? "old server's" : "new server's",
			  c->errstr[0] ? c->errstr : "closed");
	if (!e->failed)
		e->failed = src ? MM_EREMOTE : MM_EDEST;
}

static redisReply *get_reply(struct engine *e, redisContext *c)
{
	void *r = NULL;

	if (e->failed)
		return NULL;
	if (redisGetReply(c, &r) != REDIS_OK || !r) {
		link_failed(e, c);
		return NULL;
	}
	return r;
}

/* Sends what is buffered for c without waiting for the answers. */
static int flush_out(struct engine *e, redisContext *c)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			link_failed(e, c);
			return -1;
		}
	return 0;
}

/* Appends a decimal number and CR LF to b (no printf: this is per key). */
static void add_num_crlf(struct buf *b, size_t n)
{
	char tmp[24];
	int i = (int)sizeof tmp;

	tmp[--i] = '\n';
	tmp[--i] = '\r';
	do
		tmp[--i] = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	buf_add(b, tmp + i, sizeof tmp - (size_t)i);
}

/*
 * Appends one command to c's output buffer.  The RESP encoding is built
 * here rather than by hiredis, whose formatter costs a fifth of mailmove's
 * CPU time on small keys.
 */
static void append(redisContext *c, int argc, const char **argv,
		   const size_t *lens)
{
	static struct buf cmd;	/* reused; the main thread only */
	int i;

	buf_reset(&cmd);
	buf_putc(&cmd, '*');
	add_num_crlf(&cmd, (size_t)argc);
	for (i = 0; i < argc; i++) {
		buf_putc(&cmd, '$');
		add_num_crlf(&cmd, lens[i]);
		buf_add(&cmd, argv[i], lens[i]);
		buf_add(&cmd, "\r\n", 2);
	}
	redisAppendFormattedCommand(c, cmd.data, cmd.len);
}

/* One command of two arguments: NAME KEY. */
static void append2(redisContext *c, const char *cmd, const char *k, size_t n)
{
	const char *argv[2] = { cmd, k };
	size_t lens[2] = { strlen(cmd), n };

	append(c, 2, argv, lens);
}

/* Runs one command and returns its reply (NULL: the link failed). */
static redisReply *run(struct engine *e, redisContext *c, int argc,
		       const char **argv, const size_t *lens)
{
	append(c, argc, argv, lens);
	return get_reply(e, c);
}

static int select_db(struct engine *e, redisContext *c, int db)
{
	char num[16];
	const char *argv[2] = { "SELECT", num };
	size_t lens[2];
	redisReply *r;
	int rc = 0;

	snprintf(num, sizeof num, "%d", db);
	lens[0] = 6;
	lens[1] = strlen(num);
	r = run(e, c, 2, argv, lens);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("redis: cannot select database %d on the %s Redis: %s",
			  db, c == e->src ? "old" : "new", r->str);
		rc = -1;
		if (!e->failed)
			e->failed = c == e->src ? MM_EREMOTE : MM_EDEST;
	}
	freeReplyObject(r);
	return rc;
}

/* The destination key name for a source key (history renamed). */
static void dest_name(struct engine *e, const char *k, size_t n,
		      const char **out, size_t *outlen)
{
	if (redis_history_rename_key(e->o->hist_old, e->o->hist_new, k, n,
				     &e->name)) {
		*out = e->name.data;
		*outlen = e->name.len;
	} else {
		*out = k;
		*outlen = n;
	}
}

/* The history index set: its members are host names to rename. */
static int is_history_index(const struct engine *e, const char *k, size_t n)
{
	return e->o->hist_old && n == strlen(HISTORY_PREFIX) &&
	       !memcmp(k, HISTORY_PREFIX, n);
}

/* ---- values: read, digest, write (the type-aware path) ------------------ */

enum vtype { VT_NONE, VT_STRING, VT_HASH, VT_SET, VT_ZSET, VT_LIST,
	     VT_STREAM, VT_OTHER };

struct rvalue {
	enum vtype type;
	long long pttl;		/* -1 none */
	double read_at;		/* when PTTL was read */
	redisReply *type_r;	/* TYPE (kept for its name) */
	redisReply *data;
	redisReply *sinfo;	/* stream: XINFO STREAM */
	redisReply *groups;	/* stream: XINFO GROUPS */
};

static void rvalue_release(struct rvalue *v)
{
	if (v->type_r) freeReplyObject(v->type_r);
	if (v->data) freeReplyObject(v->data);
	if (v->sinfo) freeReplyObject(v->sinfo);
	if (v->groups) freeReplyObject(v->groups);
	memset(v, 0, sizeof *v);
}

static enum vtype type_of(const char *s)
{
	static const char *names[] = { "none", "string", "hash", "set", "zset",
				       "list", "stream" };
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i]))
			return (enum vtype)i;
	return VT_OTHER;
}

/* Appends the commands reading a value of type t; returns how many
 * replies they give (1, or 3 for a stream: XRANGE, XINFO STREAM/GROUPS). */
static int append_reader(redisContext *c, enum vtype t, const char *k,
			 size_t n)
{
	static const char *readers[] = { NULL, "GET", "HGETALL", "SMEMBERS",
					 "ZRANGE", "LRANGE", "XRANGE" };
	const char *argv[5];
	size_t lens[5];
	int argc = 2, i;

	argv[0] = readers[t];
	argv[1] = k;
	lens[1] = n;
	if (t == VT_ZSET || t == VT_LIST) {
		argv[2] = "0";
		argv[3] = "-1";
		argc = 4;
		if (t == VT_ZSET)
			argv[argc++] = "WITHSCORES";
	} else if (t == VT_STREAM) {
		argv[2] = "-";
		argv[3] = "+";
		argc = 4;
	}
	for (i = 0; i < argc; i++)
		if (i != 1)
			lens[i] = strlen(argv[i]);
	append(c, argc, argv, lens);
	if (t != VT_STREAM)
		return 1;
	argv[0] = "XINFO";
	argv[1] = "STREAM";
	argv[2] = k;
	lens[0] = 5;
	lens[1] = 6;
	lens[2] = n;
	append(c, 3, argv, lens);
	argv[1] = "GROUPS";
	append(c, 3, argv, lens);
	return 3;
}

/*
 * Reads n whole values from c in two pipelined rounds (TYPE and PTTL of
 * all, then the readers of all).  err[i]: 0 read (vals[i].type VT_NONE if
 * the key does not exist), 1 an item error (reported), 2 the key changed
 * type in between (read it again).  Returns 0, or -1 if the link failed.
 */
static int rvalue_read_round(struct engine *e, redisContext *c,
			     char *const *keys, const size_t *lens, size_t n,
			     struct rvalue *vals, int *err)
{
	size_t i;
	double now;

	for (i = 0; i < n; i++) {
		memset(&vals[i], 0, sizeof vals[i]);
		err[i] = 0;
		append2(c, "TYPE", keys[i], lens[i]);
		append2(c, "PTTL", keys[i], lens[i]);
	}
	for (i = 0; i < n; i++) {
		struct rvalue *v = &vals[i];
		redisReply *pt;

		v->type_r = get_reply(e, c);
		pt = v->type_r ? get_reply(e, c) : NULL;
		if (!pt)
			return -1;
		v->pttl = reply_is(pt, REDIS_REPLY_INTEGER) ? pt->integer : -1;
		freeReplyObject(pt);
		if (!reply_is(v->type_r, REDIS_REPLY_STATUS)) {
			log_error("redis: TYPE %s: %s", qkey(keys[i], lens[i]),
				  v->type_r->str ? v->type_r->str : "?");
			err[i] = 1;
			continue;
		}
		v->type = type_of(v->type_r->str);
		if (v->type == VT_OTHER) {
			log_error("redis: %s: type %s cannot be copied without "
				  "DUMP/RESTORE", qkey(keys[i], lens[i]),
				  v->type_r->str);
			err[i] = 1;
		}
	}
	now = mm_now();
	for (i = 0; i < n; i++)
		if (!err[i] && vals[i].type != VT_NONE)
			append_reader(c, vals[i].type, keys[i], lens[i]);
	for (i = 0; i < n; i++) {
		struct rvalue *v = &vals[i];

		v->read_at = now;
		if (err[i] || v->type == VT_NONE)
			continue;
		v->data = get_reply(e, c);
		if (v->data && v->type == VT_STREAM) {
			v->sinfo = get_reply(e, c);
			v->groups = v->sinfo ? get_reply(e, c) : NULL;
			if (!v->groups)
				return -1;
		}
		if (!v->data)
			return -1;
		if (reply_error_starts(v->data, "WRONGTYPE") ||
		    reply_error_starts(v->sinfo, "ERR no such key") ||
		    reply_is(v->data, REDIS_REPLY_NIL)) {
			err[i] = 2;	/* changed under us */
		} else if (reply_is(v->data, REDIS_REPLY_ERROR) ||
			   reply_is(v->sinfo, REDIS_REPLY_ERROR) ||
			   reply_is(v->groups, REDIS_REPLY_ERROR)) {
			log_error("redis: reading %s: %s", qkey(keys[i], lens[i]),
				  reply_is(v->data, REDIS_REPLY_ERROR) ?
				  v->data->str : "XINFO failed");
			err[i] = 1;
		}
	}
	return 0;
}

/*
 * rvalue_read_round() for many keys, reading again (alone) those that
 * changed type meanwhile.  err[i] is 0 or 1 afterwards; a value with
 * err[i] set is released.  Returns 0, or -1 if the link failed.
 */
static int rvalue_read_many(struct engine *e, redisContext *c,
			    char *const *keys, const size_t *lens, size_t n,
			    struct rvalue *vals, int *err)
{
	size_t i;
	int attempt;

	if (rvalue_read_round(e, c, keys, lens, n, vals, err))
		return -1;
	for (i = 0; i < n; i++) {
		for (attempt = 0; err[i] == 2 && attempt < 3; attempt++) {
			rvalue_release(&vals[i]);
			if (rvalue_read_round(e, c, &keys[i], &lens[i], 1,
					      &vals[i], &err[i]))
				return -1;
		}
		if (err[i] == 2) {
			log_error("redis: %s keeps changing type; skipped",
				  qkey(keys[i], lens[i]));
			err[i] = 1;
		}
		if (err[i])
			rvalue_release(&vals[i]);
	}
	return 0;
}

/* One value: returns 0 (v->type VT_NONE if missing), 1 item error, -1. */
static int rvalue_read(struct engine *e, redisContext *c, const char *k,
		       size_t n, struct rvalue *v)
{
	char *key = (char *)k;
	int err = 0;

	if (rvalue_read_many(e, c, &key, &n, 1, v, &err) < 0) {
		rvalue_release(v);
		return -1;
	}
	return err;
}

/* Adds h to an order-independent 128-bit sum. */
static void sum_add(XXH128_hash_t *sum, XXH128_hash_t h)
{
	uint64_t lo = sum->low64 + h.low64;

	sum->high64 += h.high64 + (lo < sum->low64);
	sum->low64 = lo;
}

static void hash_field(XXH3_state_t *st, const char *p, size_t n)
{
	uint64_t len = n;

	XXH3_128bits_update(st, &len, sizeof len);
	XXH3_128bits_update(st, p, n);
}

/* The value of a field in an XINFO reply (name, value, name, value...). */
static const redisReply *info_field(const redisReply *r, const char *name)
{
	size_t i;

	if (!reply_is(r, REDIS_REPLY_ARRAY))
		return NULL;
	for (i = 0; i + 1 < r->elements; i += 2)
		if (reply_is(r->element[i], REDIS_REPLY_STRING) ||
		    reply_is(r->element[i], REDIS_REPLY_STATUS))
			if (!strcmp(r->element[i]->str, name))
				return r->element[i + 1];
	return NULL;
}

/* A reply element as bytes ("" for what is not a string). */
static const char *el(const redisReply *r, size_t *n)
{
	if (r && (r->type == REDIS_REPLY_STRING ||
		  r->type == REDIS_REPLY_STATUS)) {
		*n = r->len;
		return r->str;
	}
	if (r && r->type == REDIS_REPLY_INTEGER) {
		static char num[32];
		snprintf(num, sizeof num, "%lld", r->integer);
		*n = strlen(num);
		return num;
	}
	*n = 0;
	return "";
}

/*
 * The content digest of a value: the type, then the elements (in order for
 * strings, lists and streams; as an order-independent sum for hashes, sets
 * and sorted sets, so the servers' internal orders do not matter).  Scores
 * are compared as numbers.  With `map`, set members are renamed first
 * (rspamd's history index).  TTLs are compared apart.
 */
static XXH128_hash_t rvalue_digest(const struct rvalue *v,
				   const struct engine *map)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_hash_t sum = { 0, 0 }, out;
	struct buf mapped = BUF_INIT;
	const redisReply *d = v->data;
	uint32_t t = v->type;
	size_t i, j, n, m;
	const char *p, *q;

	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, &t, sizeof t);
	switch (v->type) {
	case VT_STRING:
		p = el(d, &n);
		hash_field(st, p, n);
		break;
	case VT_HASH:
		for (i = 0; i + 1 < d->elements; i += 2) {
			XXH3_state_t *one = XXH3_createState();
			XXH3_128bits_reset(one);
			p = el(d->element[i], &n);
			hash_field(one, p, n);
			p = el(d->element[i + 1], &n);
			hash_field(one, p, n);
			sum_add(&sum, XXH3_128bits_digest(one));
			XXH3_freeState(one);
		}
		break;
	case VT_SET:
		for (i = 0; i < d->elements; i++) {
			p = el(d->element[i], &n);
			if (map && redis_history_rename_member(map->o->hist_old,
					map->o->hist_new, p, n, &mapped)) {
				p = mapped.data;
				n = mapped.len;
			}
			sum_add(&sum, XXH3_128bits(p, n));
		}
		break;
	case VT_ZSET:
		for (i = 0; i + 1 < d->elements; i += 2) {
			XXH3_state_t *one = XXH3_createState();
			double score;
			char *sc;
			XXH3_128bits_reset(one);
			p = el(d->element[i], &n);
			hash_field(one, p, n);
			q = el(d->element[i + 1], &m);
			sc = xstrndup(q, m);
			score = strtod(sc, NULL);
			free(sc);
			if (score == 0)
				score = 0;	/* -0 and 0 are one score */
			XXH3_128bits_update(one, &score, sizeof score);
			sum_add(&sum, XXH3_128bits_digest(one));
			XXH3_freeState(one);
		}
		break;
	case VT_LIST:
		for (i = 0; i < d->elements; i++) {
			p = el(d->element[i], &n);
			hash_field(st, p, n);
		}
		break;
	case VT_STREAM:
		for (i = 0; i < d->elements; i++) {
			const redisReply *en = d->element[i];
			if (!reply_is(en, REDIS_REPLY_ARRAY) || en->elements < 2)
				continue;
			p = el(en->element[0], &n);
			hash_field(st, p, n);
			for (j = 0; reply_is(en->element[1], REDIS_REPLY_ARRAY) &&
				    j < en->element[1]->elements; j++) {
				p = el(en->element[1]->element[j], &n);
				hash_field(st, p, n);
			}
		}
		p = el(info_field(v->sinfo, "last-generated-id"), &n);
		hash_field(st, p, n);
		for (i = 0; reply_is(v->groups, REDIS_REPLY_ARRAY) &&
			    i < v->groups->elements; i++) {
			const redisReply *g = v->groups->element[i];
			p = el(info_field(g, "name"), &n);
			hash_field(st, p, n);
			p = el(info_field(g, "last-delivered-id"), &n);
			hash_field(st, p, n);
		}
		break;
	default:
		break;
	}
	XXH3_128bits_update(st, &sum, sizeof sum);
	out = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	buf_release(&mapped);
	return out;
}

/* A command being built from pieces that live until it is appended. */
struct cmdv {
	const char **argv;
	size_t *lens;
	int n, cap;
};

static void cmdv_add(struct cmdv *c, const char *p, size_t n)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->argv = xrealloc(c->argv, (size_t)c->cap * sizeof *c->argv);
		c->lens = xrealloc(c->lens, (size_t)c->cap * sizeof *c->lens);
	}
	c->argv[c->n] = p;
	c->lens[c->n++] = n;
}

static void cmdv_addr(struct cmdv *c, const redisReply *r)
{
	size_t n;
	const char *p = el(r, &n);

	/* Only string elements reach here (RESP2 sends scores and stream
	 * ids as strings), so p points into the reply, which outlives the
	 * command; el()'s buffer for integers is never kept. */
	cmdv_add(c, p, n);
}

/* Appends the command to c and starts a new one; returns 1 (one reply). */
static int cmdv_send(struct cmdv *c, redisContext *ctx)
{
	append(ctx, c->n, c->argv, c->lens);
	c->n = 0;
	return 1;
}

static void cmdv_release(struct cmdv *c)
{
	free(c->argv);
	free(c->lens);
	memset(c, 0, sizeof *c);
}

/* The temporary key's own expiry, sent right after the command that
 * creates it, so that a kill at any later point leaves nothing lasting.
 * Returns 1 (one reply). */
static int append_tmp_expire(redisContext *c, const char *tmp, size_t tn)
{
	const char *a[3] = { "PEXPIRE", tmp, TMP_TTL_MS };
	size_t l[3] = { 7, tn, strlen(TMP_TTL_MS) };

	append(c, 3, a, l);
	return 1;
}

/* Writes the elements of an aggregate with `cmd` in chunks; `step` reply
 * elements per written element (2 for hashes and zsets). */
static int write_chunks(struct engine *e, redisContext *c, const char *cmd,
			const char *tmp, size_t tn, const redisReply *d,
			size_t step, int swap, int map_members)
{
	struct cmdv cv = { NULL, NULL, 0, 0 };
	struct buf *mapped = NULL;
	size_t i, inchunk = 0, nmapped = 0;
	int sent = 0;

	if (map_members)
		mapped = xcalloc(d->elements + 1, sizeof *mapped);
	for (i = 0; i + step <= d->elements; i += step) {
		if (!inchunk) {
			cmdv_add(&cv, cmd, strlen(cmd));
			cmdv_add(&cv, tmp, tn);
		}
		if (swap) {	/* ZADD takes score, member */
			cmdv_addr(&cv, d->element[i + 1]);
			cmdv_addr(&cv, d->element[i]);
		} else if (mapped && redis_history_rename_member(e->o->hist_old,
				e->o->hist_new, d->element[i]->str,
				d->element[i]->len, &mapped[nmapped])) {
			cmdv_add(&cv, mapped[nmapped].data, mapped[nmapped].len);
			nmapped++;
		} else {
			for (size_t j = 0; j < step; j++)
				cmdv_addr(&cv, d->element[i + j]);
		}
		if (++inchunk == CHUNK_ELEMENTS) {
			sent += cmdv_send(&cv, c);
			if (sent == 1)
				sent += append_tmp_expire(c, tmp, tn);
			inchunk = 0;
		}
	}
	if (inchunk) {
		sent += cmdv_send(&cv, c);
		if (sent == 1)
			sent += append_tmp_expire(c, tmp, tn);
	}
	cmdv_release(&cv);
	for (i = 0; mapped && i < nmapped; i++)
		buf_release(&mapped[i]);
	free(mapped);
	return sent;
}

/* A type-aware write sent but not yet answered. */
struct pending_write {
	char tmp[96];		/* the temporary key */
	int sent;		/* commands whose answers are due */
};

/* Sends the commands of rvalue_write() without reading the answers. */
static void rvalue_write_send(struct engine *e, redisContext *c,
			      const char *name, size_t nlen,
			      const struct rvalue *v, int replace,
			      int map_members, struct pending_write *pw)
{
	char *tmp = pw->tmp, ttl[32];
	size_t tn;
	int sent = 0;
	const redisReply *d = v->data;
	struct cmdv cv = { NULL, NULL, 0, 0 };
	long long left = v->pttl;

	snprintf(tmp, sizeof pw->tmp, "mailmove:tmp:%ld:%" PRIu64,
		 (long)getpid(), ++e->tmp_counter);
	tn = strlen(tmp);
	append2(c, "DEL", tmp, tn);
	sent++;
	switch (v->type) {
	case VT_STRING: {
		const char *argv[5] = { "SET", tmp, d->str, "PX", TMP_TTL_MS };
		size_t lens[5] = { 3, tn, d->len, 2, strlen(TMP_TTL_MS) };
		append(c, 5, argv, lens);
		sent++;
		break;
	}
	case VT_HASH:
		sent += write_chunks(e, c, "HSET", tmp, tn, d, 2, 0, 0);
		break;
	case VT_SET:
		sent += write_chunks(e, c, "SADD", tmp, tn, d, 1, 0,
				     map_members);
		break;
	case VT_ZSET:
		sent += write_chunks(e, c, "ZADD", tmp, tn, d, 2, 1, 0);
		break;
	case VT_LIST:
		sent += write_chunks(e, c, "RPUSH", tmp, tn, d, 1, 0, 0);
		break;
	case VT_STREAM: {
		size_t k, j, ln;
		int expiring = 0;
		const char *last = el(info_field(v->sinfo, "last-generated-id"),
				      &ln);
		char *last_id = xstrndup(last, ln);
		for (k = 0; k < d->elements; k++) {
			const redisReply *en = d->element[k];
			if (!reply_is(en, REDIS_REPLY_ARRAY) || en->elements < 2 ||
			    !reply_is(en->element[1], REDIS_REPLY_ARRAY))
				continue;
			cmdv_add(&cv, "XADD", 4);
			cmdv_add(&cv, tmp, tn);
			cmdv_addr(&cv, en->element[0]);
			for (j = 0; j < en->element[1]->elements; j++)
				cmdv_addr(&cv, en->element[1]->element[j]);
			sent += cmdv_send(&cv, c);
			if (!expiring)
				sent += append_tmp_expire(c, tmp, tn);
			expiring = 1;
		}
		if (d->elements == 0) {
			/* An empty stream exists: make one. */
			const char *a[6] = { "XGROUP", "CREATE", tmp,
					     "mailmove-tmp", "0", "MKSTREAM" };
			size_t l[6] = { 6, 6, tn, 12, 1, 8 };
			append(c, 6, a, l);
			sent += 1 + append_tmp_expire(c, tmp, tn);
			a[1] = "DESTROY";
			l[1] = 7;
			append(c, 4, a, l);
			sent++;
		}
		if (*last_id) {
			const char *a[3] = { "XSETID", tmp, last_id };
			size_t l[3] = { 6, tn, strlen(last_id) };
			append(c, 3, a, l);
			sent++;
		}
		for (k = 0; reply_is(v->groups, REDIS_REPLY_ARRAY) &&
			    k < v->groups->elements; k++) {
			const redisReply *g = v->groups->element[k];
			cmdv_add(&cv, "XGROUP", 6);
			cmdv_add(&cv, "CREATE", 6);
			cmdv_add(&cv, tmp, tn);
			cmdv_addr(&cv, info_field(g, "name"));
			cmdv_addr(&cv, info_field(g, "last-delivered-id"));
			sent += cmdv_send(&cv, c);
		}
		free(last_id);
		break;
	}
	default:
		break;
	}
	/* The TTL that is left now, not when it was read. */
	if (left >= 0) {
		left -= (long long)((mm_now() - v->read_at) * 1000);
		if (left < 1)
			left = 1;
		snprintf(ttl, sizeof ttl, "%lld", left);
		const char *a[3] = { "PEXPIRE", tmp, ttl };
		size_t l[3] = { 7, tn, strlen(ttl) };
		append(c, 3, a, l);
	} else
		append2(c, "PERSIST", tmp, tn);
	sent++;
	{
		const char *a[3] = { replace ? "RENAME" : "RENAMENX", tmp, name };
		size_t l[3] = { strlen(a[0]), tn, nlen };
		append(c, 3, a, l);
		sent++;
	}
	cmdv_release(&cv);
	pw->sent = sent;
}

/*
 * Reads the answers to rvalue_write_send().  Returns 0 written, 2 `name`
 * exists already, 1 item error (reported), -1 the link failed.  For 1 and
 * 2 the temporary key is still there: the caller deletes it.
 */
static int rvalue_write_recv(struct engine *e, redisContext *c,
			     const char *name, size_t nlen,
			     const struct pending_write *pw)
{
	int i, rc = 0, renamed = -1;

	for (i = 0; i < pw->sent; i++) {
		redisReply *r = get_reply(e, c);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_ERROR && !rc) {
			log_error("redis: writing %s on the new server: %s",
				  qkey(name, nlen), r->str);
			rc = 1;
		}
		if (i == pw->sent - 1)
			renamed = r->type == REDIS_REPLY_INTEGER ?
				  (int)r->integer : r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
	}
	return rc ? 1 : renamed == 0 ? 2 : 0;
}

/*
 * Writes v under `name` on c through a temporary key: the value, its TTL,
 * then RENAMENX (RENAME with `replace`).  Returns 0 written, 2 `name`
 * exists already (nothing changed), 1 item error (reported, the temporary
 * key removed), -1 the link failed.
 */
static int rvalue_write(struct engine *e, redisContext *c, const char *name,
			size_t nlen, const struct rvalue *v, int replace,
			int map_members)
{
	struct pending_write pw;
	redisReply *r;
	int rc;

	rvalue_write_send(e, c, name, nlen, v, replace, map_members, &pw);
	rc = rvalue_write_recv(e, c, name, nlen, &pw);
	if (rc == 1 || rc == 2) {
		append2(c, "DEL", pw.tmp, strlen(pw.tmp));
		r = get_reply(e, c);
		if (!r)
			return -1;
		freeReplyObject(r);
	}
	return rc;
}

/* Whether two PTTL answers are the same TTL (or both none), allowing for
 * the time between the two reads. */
static int ttl_same(long long a, long long b)
{
	if (a < 0 || b < 0)
		return (a < 0) == (b < 0);
	return llabs(a - b) <= TTL_SLACK_MS;
}

/*
 * Compares n source keys with their destination names by content (and,
 * with `with_ttl`, by TTL), two pipelined rounds per side.  same[i]: 1
 * same, 0 different, 2 the source key is gone, 3 the destination key is
 * gone, 4 item error.  Returns 0, or -1 if a link failed.
 */
static int same_content_many(struct engine *e, char *const *sk,
			     const size_t *sl, char *const *dk,
			     const size_t *dl, size_t n, int with_ttl,
			     int *same)
{
	struct rvalue *a = xcalloc(n + 1, sizeof *a);
	struct rvalue *b = xcalloc(n + 1, sizeof *b);
	int *ea = xcalloc(n + 1, sizeof *ea), *eb = xcalloc(n + 1, sizeof *eb);
	size_t i;
	int rc = -1;

	if (rvalue_read_many(e, e->src, sk, sl, n, a, ea) ||
	    rvalue_read_many(e, e->dst, dk, dl, n, b, eb))
		goto out;
	for (i = 0; i < n; i++) {
		if (ea[i] || eb[i])
			same[i] = 4;
		else if (a[i].type == VT_NONE)
			same[i] = 2;
		else if (b[i].type == VT_NONE)
			same[i] = 3;
		else
			same[i] = XXH128_isEqual(
				rvalue_digest(&a[i], is_history_index(e, sk[i],
						sl[i]) ? e : NULL),
				rvalue_digest(&b[i], NULL)) &&
				(!with_ttl || ttl_same(a[i].pttl, b[i].pttl));
	}
	rc = 0;
out:
	for (i = 0; i < n; i++) {
		rvalue_release(&a[i]);
		rvalue_release(&b[i]);
	}
	free(a);
	free(b);
	free(ea);
	free(eb);
	return rc;
}

/* same_content_many() for one key, TTL included. */
static int same_content(struct engine *e, const char *k, size_t n,
			const char *name, size_t nlen)
{
	char *sk = (char *)k, *dk = (char *)name;
	int same = 4;

	if (same_content_many(e, &sk, &n, &dk, &nlen, 1, 1, &same))
		return -1;
	return same;
}

/* ---- the copy ----------------------------------------------------------- */

static void report_conflict(struct engine *e, const char *name, size_t nlen)
{
	e->st->conflicts++;
	log_warn("redis: db%d: %s differs on the new server; kept%s",
		 e->st->dest_db, qkey(name, nlen),
		 e->o->dry_run ? "" : " (--replace overwrites it)");
	out_event("conflict", json_pack("{s:i, s:s}", "db", e->st->dest_db,
					"key", qkey(name, nlen)));
}

static int typed_copy(struct engine *e, const char *k, size_t n, int replace);

/*
 * A key the destination already has.  Identical: skipped.  Different:
 * reported and kept, or replaced with --replace.  `payload` is the source
 * DUMP (NULL on the type-aware path).  Returns 0, or -1 if a link failed.
 */
static int resolve_existing(struct engine *e, const char *k, size_t n,
			    const redisReply *payload, long long pttl,
			    double read_at, int known)
{
	const char *name;
	size_t nlen;
	redisReply *r;
	int same = known;

	dest_name(e, k, n, &name, &nlen);
	if (same != 1) {
		/* e->name may be reused below: keep a copy of the name. */
		char *nm = xstrndup(name, nlen);
		if (same == -2)
			same = same_content(e, k, n, nm, nlen);
		if (same == 3 && !e->o->dry_run) {	/* gone meanwhile */
			free(nm);
			return typed_copy(e, k, n, 0);
		}
		if (same == 0 || same == 3) {
			if (e->o->replace) {
				e->st->replaced++;
				log_verbose("redis: db%d: replacing %s",
					    e->st->dest_db, qkey(nm, nlen));
				out_event("replace", json_pack("{s:i, s:s}",
					  "db", e->st->dest_db, "key",
					  qkey(nm, nlen)));
				free(nm);
				if (e->o->dry_run)
					return 0;
				if (payload && !e->fallback &&
				    !is_history_index(e, k, n)) {
					char ttl[32];
					long long left = pttl;
					const char *argv[5];
					size_t lens[5];
					if (left >= 0) {
						left -= (long long)((mm_now() -
							read_at) * 1000);
						if (left < 1)
							left = 1;
					} else
						left = 0;
					snprintf(ttl, sizeof ttl, "%lld", left);
					dest_name(e, k, n, &name, &nlen);
					argv[0] = "RESTORE"; lens[0] = 7;
					argv[1] = name; lens[1] = nlen;
					argv[2] = ttl; lens[2] = strlen(ttl);
					argv[3] = payload->str;
					lens[3] = payload->len;
					argv[4] = "REPLACE"; lens[4] = 7;
					r = run(e, e->dst, 5, argv, lens);
					if (!r)
						return -1;
					if (r->type != REDIS_REPLY_ERROR) {
						freeReplyObject(r);
						return 0;
					}
					freeReplyObject(r);
				}
				e->st->replaced--;	/* counted again below */
				return typed_copy(e, k, n, 1);
			}
			report_conflict(e, nm, nlen);
		} else if (same == 1)
			e->st->identical++;
		else if (same == 2)
			e->st->gone++;
		else if (same == 4)
			e->st->failed++;
		free(nm);
		return same < 0 ? -1 : 0;
	}
	e->st->identical++;
	return 0;
}

/*
 * The type-aware copy of one key (`replace`: overwrite what is there).
 * Returns 0 (counted in the stats), or -1 if a link failed.
 */
static int typed_copy(struct engine *e, const char *k, size_t n, int replace)
{
	struct rvalue v;
	const char *name;
	char *nm;
	size_t nlen;
	int rc;

	rc = rvalue_read(e, e->src, k, n, &v);
	if (rc) {
		if (rc > 0)
			e->st->failed++;
		return rc < 0 ? -1 : 0;
	}
	if (v.type == VT_NONE) {
		e->st->gone++;
		rvalue_release(&v);
		return 0;
	}
	dest_name(e, k, n, &name, &nlen);
	nm = xstrndup(name, nlen);
	if (!replace && !e->o->dry_run) {
		/* A rerun finds most keys there: compare, do not rewrite. */
		redisReply *r;
		append2(e->dst, "EXISTS", nm, nlen);
		r = get_reply(e, e->dst);
		if (!r) {
			rc = -1;
			goto out;
		}
		rc = reply_is(r, REDIS_REPLY_INTEGER) && r->integer;
		freeReplyObject(r);
		if (rc) {
			rc = resolve_existing(e, k, n, NULL, 0, 0, -2);
			goto out;
		}
	}
	if (e->o->dry_run) {
		redisReply *r;
		append2(e->dst, "EXISTS", nm, nlen);
		r = get_reply(e, e->dst);
		rc = r ? 0 : -1;
		if (r && r->type == REDIS_REPLY_INTEGER && r->integer)
			rc = resolve_existing(e, k, n, NULL, 0, 0, -2);
		else if (r)
			e->st->fallback++;
		if (r)
			freeReplyObject(r);
	} else {
		rc = rvalue_write(e, e->dst, nm, nlen, &v, replace,
				  is_history_index(e, k, n));
		if (rc == 0) {
			if (replace)
				e->st->replaced++;
			else
				e->st->fallback++;
		} else if (rc == 1)
			e->st->failed++;
		if (rc == 2)
			rc = resolve_existing(e, k, n, NULL, 0, 0, -2);
		else if (rc > 0)
			rc = 0;
	}
out:
	free(nm);
	rvalue_release(&v);
	return rc;
}

/* Whether a RESTORE error means "this server cannot take the payload"
 * (so every key needs the type-aware copy), not a problem of one key. */
static int payload_refused(const redisReply *r)
{
	static const char *signs[] = {
		"DUMP payload version or checksum",	/* another RDB version */
		"Bad data format",
		"unknown command",			/* RESTORE disabled */
		"ERR unknown command",
		"NOPERM",				/* ACL forbids it */
	};
	size_t i;

	if (!reply_is(r, REDIS_REPLY_ERROR))
		return 0;
	for (i = 0; i < sizeof signs / sizeof signs[0]; i++)
		if (strstr(r->str, signs[i]))
			return 1;
	return 0;
}

/* What happens to each key of a batch. */
enum key_state {
	KS_NEW = 0,		/* not looked at yet */
	KS_GONE = 'g',		/* vanished from the source */
	KS_RESTORING = 'R',	/* RESTORE sent to the destination */
	KS_PROBING = 'P',	/* dry run: DUMP sent to the destination */
	KS_EXISTS = 'B',	/* the destination has the key: compare */
	KS_IDENTICAL = 'I',	/* ... and it is the same */
	KS_BY_TYPE = 'T',	/* for the type-aware copy */
};

/* One SCAN batch on its way through the pipeline. */
struct batch {
	redisReply *scan;	/* [cursor, [keys]] */
	redisReply **dump, **pttl;
	char *state;		/* per key: see batch_send */
	int *same;		/* per key: see batch_compare_existing */
	double read_at;
	size_t n;
	uint64_t bytes;		/* DUMP payloads, for the progress line */
	int scan_sent, received;
	struct batch *following;	/* the next keys, from the SCAN sent
					 * along with this batch */
	int check;		/* the comparison's batch: the destination's
				 * DUMP and PTTL answers are due too */
	redisReply **ddump, **dpttl;
};

static int batch_receive(struct engine *e, struct batch *b);

static void batch_release(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (b->dump && b->dump[i]) freeReplyObject(b->dump[i]);
		if (b->pttl && b->pttl[i]) freeReplyObject(b->pttl[i]);
	}
	for (i = 0; b->ddump && i < b->n; i++) {
		if (b->ddump[i]) freeReplyObject(b->ddump[i]);
		if (b->dpttl[i]) freeReplyObject(b->dpttl[i]);
	}
	free(b->ddump);
	free(b->dpttl);
	if (b->scan) freeReplyObject(b->scan);
	free(b->dump);
	free(b->pttl);
	free(b->state);
	free(b->same);
	memset(b, 0, sizeof *b);
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	batch_free(b->following);
	batch_release(b);
	free(b);
}

#define KEY(b, i) ((b)->scan->element[1]->element[i])

/* Reads the DUMP and PTTL answers of a batch already sent to the source. */
static int batch_read_source(struct engine *e, struct batch *b)
{
	size_t i;

	b->dump = xcalloc(b->n + 1, sizeof *b->dump);
	b->pttl = xcalloc(b->n + 1, sizeof *b->pttl);
	b->state = xcalloc(b->n + 1, 1);
	for (i = 0; i < b->n; i++) {
		b->dump[i] = get_reply(e, e->src);
		b->pttl[i] = get_reply(e, e->src);
		if (!b->dump[i] || !b->pttl[i])
			return -1;
		if (reply_is(b->dump[i], REDIS_REPLY_STRING))
			b->bytes += b->dump[i]->len;
	}
	b->read_at = mm_now();
	return 0;
}

/*
 * Sends the batch's writes to the destination without waiting: RESTORE
 * (KS_RESTORING), or DUMP to compare in a dry run (KS_PROBING).  Keys gone
 * from the source are KS_GONE, keys for the type-aware copy KS_BY_TYPE.
 */
static int batch_send(struct engine *e, struct batch *b)
{
	char ttl[32];
	size_t i, nlen;
	const char *name;
	int sent = 0;

	for (i = 0; i < b->n; i++) {
		redisReply *d = b->dump[i], *p = b->pttl[i];
		const redisReply *k = KEY(b, i);
		long long left;

		if (!reply_is(d, REDIS_REPLY_STRING) ||
		    (reply_is(p, REDIS_REPLY_INTEGER) && p->integer == -2)) {
			if (reply_is(d, REDIS_REPLY_ERROR)) {
				/* DUMP refused (disabled, ACL): copy by type */
				b->state[i] = KS_BY_TYPE;
				continue;
			}
			b->state[i] = KS_GONE;
			continue;
		}
		if (is_history_index(e, k->str, k->len) || e->fallback) {
			b->state[i] = KS_BY_TYPE;
			continue;
		}
		dest_name(e, k->str, k->len, &name, &nlen);
		if (e->o->dry_run) {
			append2(e->dst, "DUMP", name, nlen);
			b->state[i] = KS_PROBING;
			sent++;
			continue;
		}
		left = reply_is(p, REDIS_REPLY_INTEGER) ? p->integer : -1;
		if (left >= 0) {
			if (left < 1)
				left = 1;	/* 0 would mean "no expiry" */
		} else
			left = 0;
		snprintf(ttl, sizeof ttl, "%lld", left);
		{
			const char *argv[4] = { "RESTORE", name, ttl, d->str };
			size_t lens[4] = { 7, nlen, strlen(ttl), d->len };
			append(e->dst, 4, argv, lens);
		}
		b->state[i] = KS_RESTORING;
		sent++;
	}
	if (sent && flush_out(e, e->dst) < 0)
		return -1;
	return 0;
}

/*
 * The keys of a batch that the destination already has (KS_EXISTS): their
 * DUMPs compared in one pipelined round, those that differ in bytes by
 * content in two more.  Identical keys become KS_IDENTICAL; for the rest
 * b->same holds same_content()'s answer.  Returns 0, or -1 if a link failed.
 */
static int batch_compare_existing(struct engine *e, struct batch *b)
{
	char **dk, **sk2, **dk2;
	size_t *dl, *idx, *sl2, *dl2, *cidx, nb = 0, nc = 0, i;
	int *same, rc = -1;

	b->same = xcalloc(b->n + 1, sizeof *b->same);
	idx = xcalloc(b->n + 1, sizeof *idx);
	cidx = xcalloc(b->n + 1, sizeof *cidx);
	dk = xcalloc(b->n + 1, sizeof *dk);
	dl = xcalloc(b->n + 1, sizeof *dl);
	sk2 = xcalloc(b->n + 1, sizeof *sk2);
	dk2 = xcalloc(b->n + 1, sizeof *dk2);
	sl2 = xcalloc(b->n + 1, sizeof *sl2);
	dl2 = xcalloc(b->n + 1, sizeof *dl2);
	same = xcalloc(b->n + 1, sizeof *same);
	for (i = 0; i < b->n; i++) {
		const char *name;
		const redisReply *k = KEY(b, i);

		b->same[i] = -2;
		if (b->state[i] != KS_EXISTS)
			continue;
		dest_name(e, k->str, k->len, &name, &dl[nb]);
		dk[nb] = xstrndup(name, dl[nb]);
		idx[nb++] = i;
		if (!is_history_index(e, k->str, k->len)) {
			append2(e->dst, "DUMP", dk[nb - 1], dl[nb - 1]);
			append2(e->dst, "PTTL", dk[nb - 1], dl[nb - 1]);
		}
	}
	for (i = 0; i < nb; i++) {
		const redisReply *k = KEY(b, idx[i]), *p = b->dump[idx[i]];
		const redisReply *sp = b->pttl[idx[i]];
		redisReply *r = NULL, *t = NULL;
		int bytes_same;

		if (!is_history_index(e, k->str, k->len) &&
		    (!(r = get_reply(e, e->dst)) || !(t = get_reply(e, e->dst)))) {
			if (r)
				freeReplyObject(r);
			goto out;
		}
		bytes_same = r && reply_is(r, REDIS_REPLY_STRING) &&
			     r->len == p->len && !memcmp(r->str, p->str, r->len);
		if (bytes_same && reply_is(t, REDIS_REPLY_INTEGER) &&
		    ttl_same(reply_is(sp, REDIS_REPLY_INTEGER) ? sp->integer
							       : -1,
			     t->integer))
			b->state[idx[i]] = KS_IDENTICAL;
		else if (bytes_same)
			b->same[idx[i]] = 0;	/* the same value, another TTL */
		else
			cidx[nc++] = i;
		if (r)
			freeReplyObject(r);
		if (t)
			freeReplyObject(t);
	}
	for (i = 0; i < nc; i++) {
		const redisReply *k = KEY(b, idx[cidx[i]]);
		sk2[i] = k->str;
		sl2[i] = k->len;
		dk2[i] = dk[cidx[i]];
		dl2[i] = dl[cidx[i]];
	}
	if (nc && same_content_many(e, sk2, sl2, dk2, dl2, nc, 1, same))
		goto out;
	for (i = 0; i < nc; i++) {
		if (same[i] == 1)
			b->state[idx[cidx[i]]] = KS_IDENTICAL;
		else
			b->same[idx[cidx[i]]] = same[i];
	}
	rc = 0;
out:
	for (i = 0; i < nb; i++)
		free(dk[i]);
	free(dk);
	free(dl);
	free(idx);
	free(cidx);
	free(sk2);
	free(dk2);
	free(sl2);
	free(dl2);
	free(same);
	return rc;
}

/*
 * The type-aware copy of every KS_BY_TYPE key of a batch, pipelined: one
 * round of EXISTS on the destination, two rounds of reads on the source,
 * one round of writes.  Keys the destination has are compared (in rounds
 * too) and resolved one by one.  Returns 0, or -1 if a link failed.
 */
static int batch_typed(struct engine *e, struct batch *b)
{
	size_t n = 0, nx = 0, nw = 0, i, j;
	size_t *idx = xcalloc(b->n + 1, sizeof *idx);
	char **sk = xcalloc(b->n + 1, sizeof *sk);
	char **dk = xcalloc(b->n + 1, sizeof *dk);
	size_t *sl = xcalloc(b->n + 1, sizeof *sl);
	size_t *dl = xcalloc(b->n + 1, sizeof *dl);
	int *exists = xcalloc(b->n + 1, sizeof *exists);
	int *res = xcalloc(b->n + 1, sizeof *res);
	int *err = xcalloc(b->n + 1, sizeof *err);
	char **xs = xcalloc(b->n + 1, sizeof *xs), **xd = xcalloc(b->n + 1,
								   sizeof *xd);
	size_t *xsl = xcalloc(b->n + 1, sizeof *xsl);
	size_t *xdl = xcalloc(b->n + 1, sizeof *xdl), *xi = NULL;
	struct rvalue *v = NULL;
	struct pending_write *pw = NULL;
	int rc = -1;

	for (i = 0; i < b->n; i++) {
		const char *name;
		if (b->state[i] != KS_BY_TYPE)
			continue;
		sk[n] = KEY(b, i)->str;
		sl[n] = KEY(b, i)->len;
		dest_name(e, sk[n], sl[n], &name, &dl[n]);
		dk[n] = xstrndup(name, dl[n]);
		idx[n++] = i;
	}
	if (!n)
		goto done;
	for (i = 0; i < n; i++)
		append2(e->dst, "EXISTS", dk[i], dl[i]);
	for (i = 0; i < n; i++) {
		redisReply *r = get_reply(e, e->dst);
		if (!r)
			goto out;
		exists[i] = reply_is(r, REDIS_REPLY_INTEGER) && r->integer;
		freeReplyObject(r);
	}
	/* Keys the destination has: compare, all at once. */
	xi = xcalloc(n + 1, sizeof *xi);
	for (i = 0; i < n; i++)
		if (exists[i]) {
			xs[nx] = sk[i];
			xsl[nx] = sl[i];
			xd[nx] = dk[i];
			xdl[nx] = dl[i];
			xi[nx++] = i;
		}
	if (nx && same_content_many(e, xs, xsl, xd, xdl, nx, 1, res))
		goto out;
	for (j = 0; j < nx; j++) {
		if (res[j] == 1)
			e->st->identical++;
		else if (resolve_existing(e, sk[xi[j]], sl[xi[j]], NULL, 0, 0,
					  res[j]) < 0)
			goto out;
	}
	/* The others: read them all, write them all. */
	nw = 0;
	for (i = 0; i < n; i++)
		if (!exists[i]) {
			sk[nw] = sk[i];
			sl[nw] = sl[i];
			idx[nw] = idx[i];
			if (nw != i) {
				free(dk[nw]);
				dk[nw] = dk[i];
				dk[i] = NULL;
			}
			dl[nw++] = dl[i];
		}
	for (i = nw; i < n; i++) {
		free(dk[i]);
		dk[i] = NULL;
	}
	n = nw;
	v = xcalloc(n + 1, sizeof *v);
	pw = xcalloc(n + 1, sizeof *pw);
	if (n && rvalue_read_many(e, e->src, sk, sl, n, v, err))
		goto out;
	for (i = 0; i < n; i++)
		if (!err[i] && v[i].type != VT_NONE)
			rvalue_write_send(e, e->dst, dk[i], dl[i], &v[i], 0,
					  is_history_index(e, sk[i], sl[i]),
					  &pw[i]);
	for (i = 0; i < n; i++) {
		if (err[i]) {
			e->st->failed++;
			continue;
		}
		if (v[i].type == VT_NONE) {
			e->st->gone++;
			continue;
		}
		res[i] = rvalue_write_recv(e, e->dst, dk[i], dl[i], &pw[i]);
		if (res[i] < 0)
			goto out;
		if (res[i] == 0)
			e->st->fallback++;
		else if (res[i] == 1)
			e->st->failed++;
	}
	/* Leftover temporary keys, then the keys that appeared meanwhile. */
	for (i = 0; i < n; i++)
		if (!err[i] && v[i].type != VT_NONE && res[i] > 0) {
			redisReply *r;
			append2(e->dst, "DEL", pw[i].tmp, strlen(pw[i].tmp));
			if (!(r = get_reply(e, e->dst)))
				goto out;
			freeReplyObject(r);
			if (res[i] == 2 && resolve_existing(e, sk[i], sl[i], NULL,
							    0, 0, -2) < 0)
				goto out;
		}
done:
	rc = 0;
out:
	for (i = 0; v && i < n; i++)
		rvalue_release(&v[i]);
	for (i = 0; i <= b->n; i++)
		free(dk[i]);
	free(idx); free(sk); free(dk); free(sl); free(dl); free(exists);
	free(res); free(err); free(xs); free(xd); free(xsl); free(xdl);
	free(xi); free(v); free(pw);
	return rc;
}

/* Reads the destination's answers to a batch and finishes every key:
 * conflicts, the type-aware copies.  Returns 0, or -1 if a link failed. */
static int batch_finish(struct engine *e, struct batch *b)
{
	size_t i;
	int refused_now = 0;

	for (i = 0; i < b->n; i++) {
		redisReply *r;

		if (b->state[i] != KS_RESTORING && b->state[i] != KS_PROBING)
			continue;
		r = get_reply(e, e->dst);
		if (!r)
			return -1;
		if (b->state[i] == KS_PROBING) {
			if (reply_is(r, REDIS_REPLY_NIL))
				e->st->copied++;	/* would be */
			else
				b->state[i] = KS_EXISTS;	/* compare */
		} else if (r->type != REDIS_REPLY_ERROR) {
			e->st->copied++;
		} else if (reply_error_starts(r, "BUSYKEY")) {
			b->state[i] = KS_EXISTS;
		} else if (payload_refused(r)) {
			if (!e->fallback && !refused_now) {
				/* Redis echoes the arguments (the payload):
				 * keep its words only. */
				struct buf why = BUF_INIT;
				const char *cut = strstr(r->str, ", with args");
				redis_quote(&why, r->str, cut ? (size_t)(cut -
					    r->str) : strlen(r->str));
				log_warn("redis: the new server refuses the "
					 "old one's DUMP payloads (%s); copying "
					 "by type instead", buf_cstr(&why));
				free(e->res->fallback_reason);
				e->res->fallback_reason = buf_detach(&why);
			}
			e->fallback = refused_now = 1;
			e->res->fallback_used = 1;
			b->state[i] = KS_BY_TYPE;
		} else {
			log_error("redis: db%d: RESTORE %s: %s", e->st->dest_db,
				  qkey(KEY(b, i)->str, KEY(b, i)->len), r->str);
			e->st->failed++;
		}
		freeReplyObject(r);
	}
	/* The slow paths below talk to the source: read what is in flight
	 * there first so that answers are not mixed up. */
	for (i = 0; i < b->n; i++)
		if (b->state[i] == KS_EXISTS || b->state[i] == KS_BY_TYPE)
			break;
	if (i < b->n && e->inflight && batch_receive(e, e->inflight))
		return -1;
	if (batch_compare_existing(e, b))
		return -1;
	if (!e->o->dry_run && batch_typed(e, b))
		return -1;
	for (i = 0; i < b->n; i++) {
		const redisReply *k = KEY(b, i);
		int rc = 0;

		if (b->state[i] == KS_GONE)
			e->st->gone++;
		else if (b->state[i] == KS_IDENTICAL)
			e->st->identical++;
		else if (b->state[i] == KS_EXISTS)
			rc = resolve_existing(e, k->str, k->len, b->dump[i],
					      reply_is(b->pttl[i],
						       REDIS_REPLY_INTEGER) ?
					      b->pttl[i]->integer : -1,
					      b->read_at, b->same[i]);
		else if (b->state[i] == KS_BY_TYPE && e->o->dry_run)
			rc = typed_copy(e, k->str, k->len, 0);
		if (rc < 0)
			return -1;
		if (b->state[i] != KS_GONE &&
		    redis_history_rename_key(e->o->hist_old, e->o->hist_new,
					     k->str, k->len, &e->name))
			e->st->renamed++;
		else if (!e->o->hist_old && k->len > strlen(HISTORY_PREFIX) &&
			 !memcmp(k->str, HISTORY_PREFIX,
				 strlen(HISTORY_PREFIX)))
			e->res->history_kept++;
	}
	progress_add(&e->prog, b->n, b->bytes);
	return 0;
}

/* Sends SCAN and reads the answer into b.  Returns 0, or -1. */
static void scan_send(struct engine *e, const char *cursor)
{
	char count[16];
	const char *argv[6] = { "SCAN", cursor, "MATCH", e->o->match,
				"COUNT", count };
	size_t lens[6];
	int argc = 0, i;

	snprintf(count, sizeof count, "%u", e->o->batch);
	if (e->o->match) {
		argc = 6;
	} else {
		argv[2] = "COUNT";
		argv[3] = count;
		argc = 4;
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	append(e->src, argc, argv, lens);
}

/* Reads a SCAN answer into b and the next cursor.  Returns 0, or -1. */
static int scan_recv(struct engine *e, char *cursor, size_t cursor_size,
		     struct batch *b)
{
	redisReply *r;

	memset(b, 0, sizeof *b);
	r = get_reply(e, e->src);
	if (!r)
		return -1;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_STRING) ||
	    !reply_is(r->element[1], REDIS_REPLY_ARRAY)) {
		log_error("redis: SCAN on the old server: %s",
			  r->type == REDIS_REPLY_ERROR ? r->str
						       : "unexpected answer");
		freeReplyObject(r);
		e->failed = MM_EREMOTE;
		return -1;
	}
	snprintf(cursor, cursor_size, "%s", r->element[0]->str);
	b->scan = r;
	b->n = r->element[1]->elements;
	for (size_t j = 0; j < b->n; j++)
		if (!reply_is(r->element[1]->element[j], REDIS_REPLY_STRING)) {
			log_error("redis: SCAN returned a key that is not a "
				  "string");
			e->failed = MM_EREMOTE;
			return -1;
		}
	return 0;
}

/* Sends SCAN and reads the answer into b.  Returns 0, or -1. */
static int scan_next(struct engine *e, char *cursor, size_t cursor_size,
		     struct batch *b)
{
	scan_send(e, cursor);
	return scan_recv(e, cursor, cursor_size, b);
}

/*
 * Removes temporary keys of the type-aware copy that a killed run left on
 * the destination (they would expire within the hour anyway).  Only runs
 * when this run used the type-aware copy.  Returns 0, or -1.
 */
static int drop_leftover_tmp_keys(struct engine *e)
{
	char cursor[32] = "0";
	const char *argv[6] = { "SCAN", cursor, "MATCH", "mailmove:tmp:*",
				"COUNT", "1000" };
	size_t lens[6], i;
	redisReply *r;

	do {
		for (i = 0; i < 6; i++)
			lens[i] = strlen(argv[i]);
		r = run(e, e->dst, 6, argv, lens);
		if (!r)
			return -1;
		if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
		    !reply_is(r->element[0], REDIS_REPLY_STRING)) {
			freeReplyObject(r);
			return 0;	/* SCAN refused: leave them to expire */
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];
			redisReply *d;
			append2(e->dst, "DEL", k->str, k->len);
			d = get_reply(e, e->dst);
			if (!d) {
				freeReplyObject(r);
				return -1;
			}
			freeReplyObject(d);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	return 0;
}

/*
 * Asks the source for a batch's DUMP and PTTL answers and, while there is
 * more to scan, for the next SCAN, without waiting.  Returns 0, or -1.
 */
static int batch_request(struct engine *e, struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		append2(e->src, "DUMP", KEY(b, i)->str, KEY(b, i)->len);
		append2(e->src, "PTTL", KEY(b, i)->str, KEY(b, i)->len);
	}
	b->scan_sent = strcmp(e->cursor, "0") != 0;
	if (b->scan_sent)
		scan_send(e, e->cursor);
	return flush_out(e, e->src);
}

/* Reads what batch_request() asked for (once): the answers into b, the
 * next keys into b->following.  Returns 0, or -1. */
static int batch_receive(struct engine *e, struct batch *b)
{
	if (b->received)
		return 0;
	b->received = 1;
	if (batch_read_source(e, b))
		return -1;
	if (b->scan_sent) {
		b->following = xcalloc(1, sizeof *b->following);
		if (scan_recv(e, e->cursor, sizeof e->cursor, b->following))
			return -1;
	}
	if (b->check) {
		size_t i;
		b->ddump = xcalloc(b->n + 1, sizeof *b->ddump);
		b->dpttl = xcalloc(b->n + 1, sizeof *b->dpttl);
		for (i = 0; i < b->n; i++) {
			b->ddump[i] = get_reply(e, e->dst);
			b->dpttl[i] = get_reply(e, e->dst);
			if (!b->ddump[i] || !b->dpttl[i])
				return -1;
		}
	}
	return 0;
}

/*
 * Copies the current database.  Three batches are under way at once: the
 * source dumps batch N+1 (its request sent together with the SCAN for
 * N+2) while the destination restores batch N and mailmove finishes N-1.
 */
static int copy_db(struct engine *e)
{
	struct batch *cur = xcalloc(1, sizeof *cur), *pending = NULL, *next;
	int rc = -1;

	snprintf(e->cursor, sizeof e->cursor, "0");
	if (select_db(e, e->src, e->st->db) || select_db(e, e->dst,
							 e->st->dest_db))
		goto out;
	e->fallback = e->o->force_fallback || e->res->fallback_used;
	if (scan_next(e, e->cursor, sizeof e->cursor, cur) ||
	    batch_request(e, cur))
		goto out;
	for (;;) {
		if (batch_receive(e, cur))
			goto out;
		e->st->keys += cur->n;
		next = cur->following;
		cur->following = NULL;
		if (next && batch_request(e, next)) {
			batch_free(next);
			goto out;
		}
		e->inflight = next;
		if (pending) {
			int f = batch_finish(e, pending);
			batch_free(pending);
			pending = NULL;
			if (f) {
				batch_free(next);
				goto out;
			}
		}
		if (batch_send(e, cur)) {
			batch_free(next);
			goto out;
		}
		pending = cur;
		cur = next;
		if (!cur)
			break;
		if (mm_interrupted)
			goto out;
	}
	e->inflight = NULL;
	if (batch_finish(e, pending))
		goto out;
	if (e->fallback && !e->o->dry_run && drop_leftover_tmp_keys(e))
		goto out;
	rc = 0;
out:
	e->inflight = NULL;
	batch_free(cur);
	batch_free(pending);
	return rc;
}

/* ---- the comparison after the copy -------------------------------------- */

static void report_difference(struct engine *e, const char *what,
			      const char *name, size_t nlen)
{
	log_error("redis: db%d: %s %s", e->st->dest_db, qkey(name, nlen), what);
	out_event("difference", json_pack("{s:i, s:s, s:s}", "db",
					   e->st->dest_db, "key",
					   qkey(name, nlen), "what", what));
}

/*
 * Compares one batch: b holds the source's DUMP and PTTL answers, dd and
 * dp the destination's.  Keys whose payloads differ in bytes (another
 * RDB version, another encoding) are compared by content, all of them in
 * one pipelined round per side.  Returns 0, or -1 if a link failed.
 */
static int verify_batch(struct engine *e, struct batch *b)
{
	redisReply **dd = b->ddump, **dp = b->dpttl;
	char **sk = xcalloc(b->n + 1, sizeof *sk);
	char **dk = xcalloc(b->n + 1, sizeof *dk);
	size_t *sl = xcalloc(b->n + 1, sizeof *sl);
	size_t *dl = xcalloc(b->n + 1, sizeof *dl);
	size_t *cidx = xcalloc(b->n + 1, sizeof *cidx), nc = 0, i, j;
	int *same = xcalloc(b->n + 1, sizeof *same);
	char *st = xcalloc(b->n + 1, 1);
	int rc = -1;

	for (i = 0; i < b->n; i++) {
		const redisReply *k = KEY(b, i);
		long long sp = reply_is(b->pttl[i], REDIS_REPLY_INTEGER)
			       ? b->pttl[i]->integer : -1;
		long long dpt = reply_is(dp[i], REDIS_REPLY_INTEGER)
				? dp[i]->integer : -1;
		const char *name;
		size_t nlen;

		if ((!reply_is(b->dump[i], REDIS_REPLY_STRING) &&
		     !reply_is(b->dump[i], REDIS_REPLY_ERROR)) || sp == -2)
			continue;	/* gone from the source */
		dest_name(e, k->str, k->len, &name, &nlen);
		e->st->v_keys++;
		if (reply_is(dd[i], REDIS_REPLY_NIL) || dpt == -2) {
			if (sp < 0 || sp > TTL_SLACK_MS) {
				e->st->v_missing++;
				report_difference(e, "is missing on the new "
						  "server", name, nlen);
			}
			continue;
		}
		e->st->v_present++;
		if (!ttl_same(sp, dpt)) {
			char what[96];
			snprintf(what, sizeof what, "has TTL %lld ms on the new "
				 "server, %lld ms on the old", dpt, sp);
			e->st->v_ttl++;
			report_difference(e, what, name, nlen);
		}
		if (reply_is(b->dump[i], REDIS_REPLY_STRING) &&
		    reply_is(dd[i], REDIS_REPLY_STRING) &&
		    dd[i]->len == b->dump[i]->len &&
		    !memcmp(dd[i]->str, b->dump[i]->str, dd[i]->len) &&
		    !is_history_index(e, k->str, k->len)) {
			e->st->v_equal++;
			continue;
		}
		sk[nc] = k->str;
		sl[nc] = k->len;
		dk[nc] = xstrndup(name, nlen);
		dl[nc] = nlen;
		cidx[nc++] = i;
	}
	/* Both links must be idle for the content comparison. */
	if (nc && e->inflight && batch_receive(e, e->inflight))
		goto out;
	if (nc && same_content_many(e, sk, sl, dk, dl, nc, 0, same))
		goto out;
	for (j = 0; j < nc; j++) {
		/* Gone on either side meanwhile: not a difference of the
		 * copy (it was counted present a moment ago). */
		if (same[j] == 1 || same[j] == 2 || same[j] == 3)
			e->st->v_equal++;
		else {
			e->st->v_differ++;
			report_difference(e, same[j] == 4 ? "could not be "
					  "compared" : "has different content "
					  "on the new server", dk[j], dl[j]);
		}
	}
	rc = 0;
out:
	for (j = 0; j < nc; j++)
		free(dk[j]);
	free(sk);
	free(dk);
	free(sl);
	free(dl);
	free(cidx);
	free(same);
	free(st);
	return rc;
}

/* Asks both servers for a batch's DUMP and PTTL answers (and the source
 * for the next SCAN) without waiting.  Returns 0, or -1. */
static int check_request(struct engine *e, struct batch *b)
{
	size_t i;

	b->check = 1;
	for (i = 0; i < b->n; i++) {
		const char *name;
		size_t nlen;
		dest_name(e, KEY(b, i)->str, KEY(b, i)->len, &name, &nlen);
		append2(e->dst, "DUMP", name, nlen);
		append2(e->dst, "PTTL", name, nlen);
	}
	if (b->n && flush_out(e, e->dst))
		return -1;
	return batch_request(e, b);
}

/*
 * Compares the current database, pipelined like the copy: both servers
 * answer batch N+1 while mailmove compares batch N.
 */
static int verify_db(struct engine *e)
{
	struct batch *cur = xcalloc(1, sizeof *cur), *next = NULL;
	redisReply *r;
	int rc = -1;

	snprintf(e->cursor, sizeof e->cursor, "0");
	if (select_db(e, e->src, e->st->db) || select_db(e, e->dst,
							 e->st->dest_db))
		goto out;
	if (scan_next(e, e->cursor, sizeof e->cursor, cur) ||
	    check_request(e, cur))
		goto out;
	for (;;) {
		if (batch_receive(e, cur))
			goto out;
		next = cur->following;
		cur->following = NULL;
		if (next && check_request(e, next))
			goto out;
		e->inflight = next;
		if (verify_batch(e, cur))
			goto out;
		progress_add(&e->prog, cur->n, cur->bytes);
		batch_free(cur);
		cur = next;
		next = NULL;
		if (!cur)
			break;
		if (mm_interrupted)
			goto out;
	}
	e->inflight = NULL;
	r = run(e, e->src, 1, (const char *[]){ "DBSIZE" }, (size_t[]){ 6 });
	if (!r)
		goto out;
	e->st->dbsize_src = reply_is(r, REDIS_REPLY_INTEGER) ? r->integer : -1;
	freeReplyObject(r);
	r = run(e, e->dst, 1, (const char *[]){ "DBSIZE" }, (size_t[]){ 6 });
	if (!r)
		goto out;
	e->st->dbsize_dest = reply_is(r, REDIS_REPLY_INTEGER) ? r->integer : -1;
	freeReplyObject(r);
	rc = 0;
out:
	e->inflight = NULL;
	batch_free(cur);
	batch_free(next);
	return rc;
}

/* ---- databases in use --------------------------------------------------- */

/* Fills the databases to copy from INFO keyspace ("db3:keys=12,...") and
 * opts->dbs.  Returns 0, or -1. */
static int list_databases(struct engine *e, uint64_t *total)
{
	redisReply *r;
	const char *p;
	size_t i;

	r = run(e, e->src, 2, (const char *[]){ "INFO", "keyspace" },
		(size_t[]){ 4, 8 });
	if (!r)
		return -1;
	if (!reply_is(r, REDIS_REPLY_STRING)) {
		log_error("redis: INFO keyspace on the old server: %s",
			  r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
		freeReplyObject(r);
		e->failed = MM_EREMOTE;
		return -1;
	}
	*total = 0;
	for (p = r->str; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1
						       : NULL) {
		int db;
		unsigned long long keys;
		int wanted = !e->o->dbs;

		if (sscanf(p, "db%d:keys=%llu", &db, &keys) != 2)
			continue;
		for (i = 0; e->o->dbs && i < e->o->ndbs; i++)
			if (e->o->dbs[i] == db)
				wanted = 1;
		if (!wanted)
			continue;
		e->res->db = xrealloc(e->res->db, (e->res->ndb + 1) *
				      sizeof *e->res->db);
		memset(&e->res->db[e->res->ndb], 0, sizeof *e->res->db);
		e->res->db[e->res->ndb].db = db;
		e->res->db[e->res->ndb].dest_db = e->o->dest_db >= 0 ?
						  e->o->dest_db : db;
		e->res->ndb++;
		*total += keys;
	}
	freeReplyObject(r);
	return 0;
}

/* ---- the whole run ------------------------------------------------------ */

void redis_copy_result_init(struct redis_copy_result *r)
{
	memset(r, 0, sizeof *r);
}

void redis_copy_result_release(struct redis_copy_result *r)
{
	free(r->db);
	free(r->fallback_reason);
	memset(r, 0, sizeof *r);
}

int redis_copy(redisContext *src, redisContext *dst,
	       const struct redis_copy_opts *opts,
	       struct redis_copy_result *res)
{
	struct engine e;
	uint64_t total = 0;
	size_t i;
	int rc = MM_OK;
	double t0;

	memset(&e, 0, sizeof e);
	e.src = src;
	e.dst = dst;
	e.o = opts;
	e.res = res;
	if (list_databases(&e, &total))
		goto out;
	if (opts->dest_db >= 0 && res->ndb > 1) {
		log_error("redis: the destination names one database but the "
			  "old server has %zu in use; choose one with --db",
			  res->ndb);
		rc = MM_EUSAGE;
		goto out;
	}
	t0 = mm_now();
	progress_start(&e.prog, opts->dry_run ? "redis keys checked"
					      : "redis keys copied", total, 0);
	for (i = 0; i < res->ndb && !e.failed; i++) {
		e.st = &res->db[i];
		if (copy_db(&e))
			break;
	}
	progress_end(&e.prog);
	res->seconds_copy = mm_now() - t0;
	if (e.failed || mm_interrupted)
		goto out;
	if (opts->verify && !opts->dry_run) {
		t0 = mm_now();
		progress_start(&e.prog, "redis keys compared", total, 0);
		for (i = 0; i < res->ndb && !e.failed; i++) {
			e.st = &res->db[i];
			if (verify_db(&e))
				break;
		}
		progress_end(&e.prog);
		res->seconds_verify = mm_now() - t0;
	}
out:
	buf_release(&e.name);
	if (rc != MM_OK)
		return rc;
	if (e.failed)
		return e.failed;
	if (mm_interrupted) {
		log_error("redis: interrupted; a rerun finishes the copy (keys "
			  "already there are compared and skipped)");
		return MM_EINTR;
	}
	for (i = 0; i < res->ndb; i++) {
		const struct redis_db_stats *s = &res->db[i];
		if (s->failed || s->conflicts ||
		    s->v_missing || s->v_differ || s->v_ttl)
			rc = MM_EDIFF;
	}
	return rc;
}
