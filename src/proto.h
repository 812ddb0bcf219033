/*
 * proto.h: the wire between the controller and the agent.
 *
 * Shared by both sides (libc only).  A frame is a 9-byte header, then the
 * payload:
 *
 *	u32 length of the payload (big-endian, at most MM_FRAME_MAX)
 *	u8  type (enum mm_type)
 *	u32 request id (0 for messages that belong to no request)
 *
 * Payload fields are big-endian integers and strings as u32 length + bytes.
 * Every request ends with exactly one MT_DONE or MT_ERROR frame carrying its
 * id; MT_LOG and MT_WARN may arrive between any two frames.
 */
#ifndef MM_PROTO_H
#define MM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"

#define MM_PROTO_VERSION 1
#define MM_FRAME_HDR 9
#define MM_FRAME_MAX (1u << 20)		/* largest payload accepted */
#define MM_DATA_CHUNK (256u << 10)	/* file and pipe data per frame */
#define MM_NAME_MAX 255			/* one path component */
#define MM_PATH_MAX 4096		/* a whole relative path */
#define MM_ARGS_MAX 256			/* argv entries in MT_RUN */

/* Capabilities the agent announces in MT_HELLO_OK. */
#define MM_CAP_LIST	(1u << 0)
#define MM_CAP_READ	(1u << 1)
#define MM_CAP_HASH	(1u << 2)
#define MM_CAP_RUN	(1u << 3)
#define MM_CAP_FWD	(1u << 4)
#define MM_CAP_STAT	(1u << 5)
#define MM_CAP_STATFS	(1u << 6)
#define MM_CAP_WATCH	(1u << 7)	/* MT_RUN with RUN_WATCH */
#define MM_CAP_ALL	0xffu

enum mm_type {
	/* controller -> agent */
	MT_HELLO = 1,		/* u32 version, str controller version */
	MT_LIST = 2,		/* u32 flags, u32 maxdepth, str path */
	MT_READ = 3,		/* u32 flags, u32 n, n * str path */
	MT_HASH = 4,		/* u32 algo, u32 n, n * str path */
	MT_RUN = 5,		/* u32 flags, u32 argc, argv, u32 nenv, env */
	MT_RUN_STDIN = 6,	/* bytes for the child's stdin; empty = EOF */
	MT_FWD_OPEN = 7,	/* str target: "tcp:HOST:PORT" or "unix:PATH" */
	MT_FWD_DATA = 8,	/* both ways: bytes of the forwarded stream */
	MT_FWD_CLOSE = 9,	/* both ways: the stream is finished */
	MT_STAT = 10,		/* u32 n, n * str path (lstat) */
	MT_STATFS = 11,		/* str path */
	MT_BYE = 12,		/* the controller is done */

	/* agent -> controller */
	MT_HELLO_OK = 64,	/* see struct mm_hello */
	MT_LOG = 65,		/* str message */
	MT_WARN = 66,		/* str message */
	MT_ERROR = 67,		/* u32 errno, str message; ends the request */
	MT_DONE = 68,		/* ends the request */
	MT_ENTRIES = 69,	/* list records, see below */
	MT_FILE = 70,		/* u32 index, u32 errno, [stat] */
	MT_DATA = 71,		/* bytes of the current file */
	MT_FILE_END = 72,	/* u32 index, u32 errno (ESTALE: changed while read), u64 bytes sent */
	MT_HASHES = 73,		/* records: u32 index, u32 errno, u64 size, 16 bytes */
	MT_OUT = 74,		/* child's stdout bytes */
	MT_ERR_OUT = 75,	/* child's stderr bytes */
	MT_EXIT = 76,		/* i32 exit status (>= 0) or -signal */
	MT_FWD_OK = 77,		/* the forwarded connection is open */
	MT_STATS = 78,		/* records: u32 index, u32 errno, [stat] */
	MT_STATFS_OK = 79,	/* u64 total, u64 free, u64 files, u64 ffree */
	MT_QUIET = 80,		/* RUN_WATCH: u32 ms, u32 n ended, str ended,
				 * str how, str note */
};

/* MT_LIST flags */
#define LIST_STAT	(1u << 0)	/* full stat for files too */
#define LIST_RECURSE	(1u << 1)	/* descend into directories */

/* MT_READ flags: none defined yet. */

/* MT_HASH algorithms */
#define HASH_XXH3_128	1u

/* MT_RUN flags */
#define RUN_STDIN	(1u << 0)	/* MT_RUN_STDIN frames follow */
/*
 * RUN_WATCH: the program stops a Dovecot.  After the environment come
 * str pid file (its master.pid), u32 timeout in ms and str instance_name
 * (it names the titles of its processes; empty: unknown).  The agent
 * watches that Dovecot's processes while the program runs and sends
 * MT_QUIET once none is left that can touch mail and its master no longer
 * serves (see agent_dovecot.c), then MT_EXIT and MT_DONE once the program
 * and the master have ended, or MT_ERROR when the Dovecot does not stop.
 */
#define RUN_WATCH	(1u << 1)

/*
 * MT_ENTRIES records, in order of the walk, numbered from 0 in the request:
 *	u32 parent index (UINT32_MAX for record 0, the listed directory)
 *	u8  kind: 'f' file, 'd' directory, 'l' symlink, 'o' other, 'e' error
 *	u8  has_stat
 *	str name (record 0: ".")
 *	[stat]			if has_stat
 *	[str link target]	if kind 'l' and has_stat
 *	[u32 errno]		if kind 'e' (a subdirectory that could not be read)
 * Directories always carry stat (their mtime with nanoseconds).
 */

struct mm_stat {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t ino;
	uint64_t dev;
	int64_t mtime_s;
	uint32_t mtime_ns;
};
#define MM_STAT_WIRE 52

struct frame {
	uint8_t type;
	uint32_t id;
	uint32_t len;
	const unsigned char *p;	/* payload, valid until the next read */
};

/* Encoding into a buffer. */
int pk_u8(struct buf *b, uint8_t v);
int pk_u32(struct buf *b, uint32_t v);
int pk_u64(struct buf *b, uint64_t v);
int pk_str(struct buf *b, const void *s, size_t n);
int pk_cstr(struct buf *b, const char *s);
int pk_stat(struct buf *b, const struct mm_stat *st);
void mm_stat_from(struct mm_stat *dst, const struct stat *src);

/* Starts a frame in `out`; returns its offset for frame_finish(). */
size_t frame_start(struct buf *out, uint8_t type, uint32_t id);
/* Patches the length; returns -1 if the payload passed MM_FRAME_MAX. */
int frame_finish(struct buf *out, size_t off);
/* Appends a whole frame. */
int frame_put(struct buf *out, uint8_t type, uint32_t id,
	      const void *payload, size_t n);

/* Decoding: errors are sticky, so check rd.err once after a run of reads. */
struct rd {
	const unsigned char *p;
	size_t left;
	int err;
};
void rd_init(struct rd *r, const void *p, size_t n);
uint8_t rd_u8(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* A string that points into the payload (not NUL-terminated); `max` caps it. */
int rd_str(struct rd *r, const char **s, size_t *n, size_t max);
/* Copies a string into a new NUL-terminated allocation; rejects NUL bytes. */
char *rd_strdup(struct rd *r, size_t max);
void rd_stat(struct rd *r, struct mm_stat *st);
const void *rd_bytes(struct rd *r, size_t n);

/* Header parsing: returns 0, or -1 with a reason when the header is bad. */
int frame_header(const unsigned char *hdr, struct frame *f, const char **why);
const char *mm_type_name(uint8_t type);
int mm_type_known(uint8_t type);

/*
 * mm_name_valid: a single path component from the other side.  Refuses "",
 * ".", "..", '/', NUL and names longer than MM_NAME_MAX.  Every other byte is
 * legal in a Maildir file name and is kept.
 */
int mm_name_valid(const char *s, size_t n);
/* mm_relpath_valid: components joined by single '/', each mm_name_valid,
 * an optional leading '/', total under MM_PATH_MAX.  "" and "/" are the root. */
int mm_relpath_valid(const char *s, size_t n);

#endif
