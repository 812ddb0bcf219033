/*
 * endpoint.c: starting the agent (over ssh or as a local child), the
 * handshake, and reading and writing frames.
 *
 * Over ssh, the remote command is a small POSIX sh script: it runs the
 * cached agent ~/.cache/mailmove/agent-<hash> when present, and otherwise
 * asks for it ("MAILMOVE-SEND <size>"), stores it with mode 0700 and runs
 * it.  Upload and session share one ssh connection, so the admin
 * authenticates once.  ssh's stderr goes to an anonymous file and is shown
 * when something fails.
 */
#include "endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "base.h"
#include "banned.h"

#ifndef MAILMOVE_LIBEXECDIR
#define MAILMOVE_LIBEXECDIR "/usr/local/lib/mailmove"
#endif

#define BOOT_LINE_MAX 4096
#define BOOT_JUNK_MAX 200

int ep_parse_from(const char *from, char **user, char **host, int *port)
{
	const char *at, *h, *colon;
	struct stat st;
	char *end;
	long p;

	*user = *host = NULL;
	*port = 0;
	if (!from || !*from)
		return -1;
	if (from[0] == '/' || from[0] == '.' ||
	    (stat(from, &st) == 0 && S_ISDIR(st.st_mode)))
		return 1;
	at = strrchr(from, '@');
	h = at ? at + 1 : from;
	if (at && at == from)
		return -1;
	if (*h == '[') {		/* [v6addr]:port */
		const char *close = strchr(h, ']');
		if (!close || close == h + 1)
			return -1;
		*host = xstrndup(h + 1, (size_t)(close - h - 1));
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			goto bad;
	} else {
		colon = strchr(h, ':');
		*host = colon ? xstrndup(h, (size_t)(colon - h)) : xstrdup(h);
	}
	if (!**host || strchr(*host, '/') || (*host)[0] == '-')
		goto bad;
	if (colon) {
		errno = 0;
		p = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
			goto bad;
		*port = (int)p;
	}
	if (at)
		*user = xstrndup(from, (size_t)(at - from));
	if (*user && (*user)[0] == '-')
		goto bad;
	return 0;
bad:
	free(*host);
	free(*user);
	*host = *user = NULL;
	return -1;
}

int ep_agent_binary(struct buf *path)
{
	const char *env = getenv("MAILMOVE_AGENT_BINARY");
	char self[4096], *slash;
	ssize_t n;

	buf_reset(path);
	if (env && *env) {
		buf_addstr(path, env);
		return access(env, R_OK) == 0 ? 0 : -1;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			buf_printf(path, "%s/mailmove-agent", self);
			if (access(path->data, R_OK) == 0)
				return 0;
			buf_reset(path);
			buf_printf(path, "%s/../mailmove-agent", self);
			if (access(path->data, R_OK) == 0)
				return 0;
		}
	}
	buf_reset(path);
	buf_addstr(path, MAILMOVE_LIBEXECDIR "/mailmove-agent");
	return access(path->data, R_OK) == 0 ? 0 : -1;
}

/* Reads the whole agent binary and names it by its hash. */
static int load_agent(struct buf *bin, char hash[33])
{
	struct buf path = BUF_INIT;
	char chunk[65536];
	XXH128_hash_t h;
	ssize_t n;
	int fd;

	if (ep_agent_binary(&path) < 0) {
		log_error("cannot find mailmove-agent (looked for %s); "
			  "set MAILMOVE_AGENT_BINARY", buf_cstr(&path));
		buf_release(&path);
		return -1;
	}
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("%s: %s", path.data, strerror(errno));
		buf_release(&path);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_add(bin, chunk, (size_t)n);
	close(fd);
	buf_release(&path);
	if (n < 0 || bin->len == 0) {
		log_error("cannot read the agent binary");
		return -1;
	}
	h = XXH3_128bits(bin->data, bin->len);
	snprintf(hash, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
	return 0;
}

/* Everything the child wrote on stderr so far, without trailing newlines. */
static void child_stderr(struct endpoint *ep, struct buf *out)
{
	char chunk[4096];
	off_t off = 0;
	ssize_t n;

	if (ep->errfd < 0)
		return;
	while (out->len < 16384 &&
	       (n = pread(ep->errfd, chunk, sizeof chunk, off)) > 0) {
		buf_add(out, chunk, (size_t)n);
		off += n;
	}
	while (out->len && (out->data[out->len - 1] == '\n' ||
			    out->data[out->len - 1] == '\r'))
		out->data[--out->len] = '\0';
}

int ep_exit_code(const struct endpoint *ep)
{
	return ep->exit_code ? ep->exit_code : MM_EREMOTE;
}

int ep_fail(struct endpoint *ep, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;

	if (ep->dead)
		return -1;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	log_error("%s: %s", ep->desc, buf_cstr(&msg));
	buf_release(&msg);
	ep->dead = 1;
	if (!ep->exit_code)
		ep->exit_code = MM_EREMOTE;
	return -1;
}

/* The connection ended: say why, with what ssh or the agent printed. */
static int ep_lost(struct endpoint *ep, const char *what)
{
	struct buf err = BUF_INIT;

	if (ep->dead)
		return -1;
	if (mm_interrupted) {
		ep->exit_code = MM_EINTR;
		ep->dead = 1;
		return -1;
	}
	child_stderr(ep, &err);
	if (err.len)
		ep_fail(ep, "%s:\n%s", what, err.data);
	else
		ep_fail(ep, "%s", what);
	buf_release(&err);
	return -1;
}

static void trace_frame(struct endpoint *ep, char dir, uint8_t type,
			uint32_t id, size_t len)
{
	if (ep->trace)
		fprintf(stderr, "mailmove: trace: %c %s id=%u len=%zu\n", dir,
			mm_type_name(type), id, len);
}

static int write_all(struct endpoint *ep, const void *p, size_t n)
{
	const char *c = p;

	if (ep->fd_out < 0)
		return 0;	/* ep_from_memory(): requests go nowhere */
	while (n) {
		ssize_t w = write(ep->fd_out, c, n);
		if (w < 0) {
			if (errno == EINTR && !mm_interrupted)
				continue;
			if (errno == EAGAIN) {	/* the forwarder made it non-blocking */
				struct pollfd pfd = { ep->fd_out, POLLOUT, 0 };
				poll(&pfd, 1, -1);
				continue;
			}
			return ep_lost(ep, "the agent stopped reading");
		}
		c += w;
		n -= (size_t)w;
		ep->bytes_out += (uint64_t)w;
	}
	return 0;
}

int ep_send_id(struct endpoint *ep, uint8_t type, uint32_t id, const void *p,
	       size_t n)
{
	unsigned char hdr[MM_FRAME_HDR];

	if (ep->dead)
		return -1;
	if (n > MM_FRAME_MAX)
		return ep_fail(ep, "request too large (%zu bytes)", n);
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	hdr[4] = type;
	hdr[5] = (unsigned char)(id >> 24);
	hdr[6] = (unsigned char)(id >> 16);
	hdr[7] = (unsigned char)(id >> 8);
	hdr[8] = (unsigned char)id;
	trace_frame(ep, '>', type, id, n);
	if (write_all(ep, hdr, sizeof hdr) < 0 ||
	    (n && write_all(ep, p, n) < 0))
		return -1;
	return 0;
}

uint32_t ep_send(struct endpoint *ep, uint8_t type, const void *p, size_t n)
{
	uint32_t id = ++ep->next_id;

	if (id == 0)
		id = ++ep->next_id;
	return ep_send_id(ep, type, id, p, n) < 0 ? 0 : id;
}

/* Takes one complete frame from the input buffer: 1 if there was one,
 * 0 if more bytes are needed, -1 on a bad header. */
int ep_take(struct endpoint *ep, struct frame *f)
{
	const char *why;
	size_t avail;

	if (ep->dead)
		return -1;
	avail = ep->in.len - ep->in_off;
	if (avail < MM_FRAME_HDR)
		return 0;
	if (frame_header((unsigned char *)ep->in.data + ep->in_off, f, &why) < 0)
		return ep_fail(ep, "protocol error from the agent: %s "
			       "(type %u, length %u)", why, f->type, f->len);
	if (avail - MM_FRAME_HDR < f->len)
		return 0;
	f->p = (unsigned char *)ep->in.data + ep->in_off + MM_FRAME_HDR;
	ep->in_off += MM_FRAME_HDR + f->len;
	trace_frame(ep, '<', f->type, f->id, f->len);
	return 1;
}

/* Reads more bytes into the input buffer.  Returns 0, or -1 when the
 * connection ended or failed. */
int ep_fill(struct endpoint *ep)
{
	ssize_t n;

	if (ep->dead)
		return -1;
	if (ep->in_off && ep->in_off == ep->in.len) {
		ep->in.len = 0;
		ep->in_off = 0;
	} else if (ep->in_off > (1u << 20)) {
		buf_consume(&ep->in, ep->in_off);
		ep->in_off = 0;
	}
	if (ep->fd_in < 0)
		return ep_lost(ep, "the agent's output ended");
	if (buf_grow(&ep->in, 256 << 10) < 0)
		return ep_fail(ep, "input buffer overflow");
	n = read(ep->fd_in, ep->in.data + ep->in.len, 256 << 10);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		if (errno == EINTR && !mm_interrupted)
			return 0;
		return ep_lost(ep, "reading from the agent failed");
	}
	if (n == 0)
		return ep_lost(ep, "the agent died (connection closed)");
	ep->in.len += (size_t)n;
	ep->bytes_in += (uint64_t)n;
	return 0;
}

/* Shows an agent's log or warning line; returns 1 if `f` was one. */
int ep_log_frame(struct endpoint *ep, const struct frame *f)
{
	struct rd r;
	const char *s;
	size_t n;

	if (f->type != MT_LOG && f->type != MT_WARN)
		return 0;
	rd_init(&r, f->p, f->len);
	if (rd_str(&r, &s, &n, 8192) < 0) {
		ep_fail(ep, "malformed log frame from the agent");
		return 1;
	}
	if (f->type == MT_WARN)
		log_warn("%s: %.*s", ep->desc, (int)n, s);
	else
		log_verbose("%s: %.*s", ep->desc, (int)n, s);
	return 1;
}

int ep_recv(struct endpoint *ep, struct frame *f)
{
	for (;;) {
		int r = ep_take(ep, f);

		if (r < 0)
			return -1;
		if (r > 0) {
			if (ep_log_frame(ep, f)) {
				if (ep->dead)
					return -1;
				continue;
			}
			return 0;
		}
		if (ep_fill(ep) < 0)
			return -1;
	}
}

static void free_info(struct ep_info *in)
{
	free(in->agent_version);
	free(in->hostname);
	free(in->root);
	free(in->os);
	memset(in, 0, sizeof *in);
}

/* MT_HELLO and its answer. */
static int ep_handshake(struct endpoint *ep)
{
	struct buf p = BUF_INIT;
	struct frame f;
	struct rd r;
	uint32_t id;
	int rc = -1;

	pk_u32(&p, MM_PROTO_VERSION);
	pk_cstr(&p, MAILMOVE_VERSION);
	id = ep_send(ep, MT_HELLO, p.data, p.len);
	buf_release(&p);
	if (!id || ep_recv(ep, &f) < 0)
		return -1;
	rd_init(&r, f.p, f.len);
	if (f.type == MT_ERROR) {
		const char *s;
		size_t n;

		rd_u32(&r);
		rd_str(&r, &s, &n, 8192);
		return ep_fail(ep, "agent refused the handshake: %.*s",
			       r.err ? 0 : (int)n, r.err ? "" : s);
	}
	if (f.type != MT_HELLO_OK || f.id != id)
		return ep_fail(ep, "expected the agent's handshake, got %s",
			       mm_type_name(f.type));
	ep->info.version = rd_u32(&r);
	ep->info.caps = rd_u32(&r);
	ep->info.agent_version = rd_strdup(&r, 256);
	ep->info.hostname = rd_strdup(&r, 256);
	ep->info.root = rd_strdup(&r, MM_PATH_MAX);
	ep->info.uid = rd_u32(&r);
	ep->info.local = rd_u8(&r);
	ep->info.os = rd_strdup(&r, 256);
	ep->info.pid = rd_u32(&r);
	if (r.err || r.left)
		return ep_fail(ep, "malformed handshake from the agent");
	if (ep->info.version != MM_PROTO_VERSION)
		return ep_fail(ep, "agent speaks protocol %u, this mailmove "
			       "speaks %d", ep->info.version, MM_PROTO_VERSION);
	if ((ep->info.caps & MM_CAP_ALL) != MM_CAP_ALL)
		return ep_fail(ep, "agent lacks capabilities (has 0x%x, "
			       "needs 0x%x)", ep->info.caps, MM_CAP_ALL);
	if (ep->info.local != ep->local)
		return ep_fail(ep, "agent claims to be %s, but was started %s",
			       ep->info.local ? "local" : "remote",
			       ep->local ? "locally" : "over ssh");
	rc = 0;
	log_verbose("%s: agent %s (protocol %u) on %s, %s", ep->desc,
		    ep->info.agent_version, ep->info.version,
		    ep->info.hostname, *ep->info.os ? ep->info.os : "unknown OS");
	return rc;
}

static struct endpoint *ep_new(const char *desc, int local)
{
	struct endpoint *ep = xcalloc(1, sizeof *ep);
	const char *t = getenv("MAILMOVE_TRACE");

	ep->desc = xstrdup(desc);
	ep->local = local;
	ep->fd_in = ep->fd_out = -1;
	ep->errfd = -1;
	ep->pid = -1;
	ep->trace = t && *t && strcmp(t, "0");
	buf_init(&ep->in, 0);
	return ep;
}

static int stderr_file(void)
{
	int fd = memfd_create("mailmove-stderr", MFD_CLOEXEC);

	if (fd < 0) {
		char tmpl[] = "/tmp/mailmove-stderr-XXXXXX";
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	return fd;
}

/* The remote command: a POSIX sh script, passed through the login shell. */
static void boot_script(struct buf *s, const char *agent_path,
			const char *hash, size_t size)
{
	buf_addstr(s, "exec /bin/sh -c '");
	if (agent_path) {
		buf_printf(s, "a=\"%s\"; ", agent_path);
	} else {
		buf_printf(s,
		    "d=\"${XDG_CACHE_HOME:-$HOME/.cache}/mailmove\"; "
		    "a=\"$d/agent-%s\"; "
		    "if [ ! -x \"$a\" ]; then "
		    "mkdir -p \"$d\" 2>/dev/null && chmod 700 \"$d\" || "
		    "{ echo \"MAILMOVE-ERR cannot create the agent cache $d\"; exit 0; }; "
		    "t=\"$a.tmp.$$\"; echo \"MAILMOVE-SEND %zu\"; "
		    "if head -c %zu >\"$t\" && chmod 700 \"$t\" && "
		    "[ \"$(wc -c <\"$t\")\" -eq %zu ] && mv -f \"$t\" \"$a\"; "
		    "then :; else rm -f \"$t\"; "
		    "echo \"MAILMOVE-ERR cannot write the agent to $d\"; exit 0; fi; "
		    "fi; ", hash, size, size, size);
	}
	buf_addstr(s, "echo MAILMOVE-EXEC; exec \"$a\" --serve'");
}

/* Reads one bootstrap line byte by byte, so no frame byte is consumed. */
static int read_line(struct endpoint *ep, struct buf *line)
{
	buf_reset(line);
	for (;;) {
		char c;
		ssize_t n = read(ep->fd_in, &c, 1);

		if (n < 0 && errno == EINTR && !mm_interrupted)
			continue;
		if (n <= 0)
			return -1;
		if (c == '\n')
			return 0;
		if (line->len < BOOT_LINE_MAX)
			buf_putc(line, c);
	}
}

static int ep_bootstrap(struct endpoint *ep, const struct buf *bin)
{
	struct buf line = BUF_INIT;
	int junk = 0, rc = -1;

	for (;;) {
		if (read_line(ep, &line) < 0) {
			ep_lost(ep, "cannot start the agent over ssh");
			break;
		}
		if (!strcmp(buf_cstr(&line), "MAILMOVE-EXEC")) {
			rc = 0;
			break;
		}
		if (!strncmp(buf_cstr(&line), "MAILMOVE-SEND ", 14)) {
			if (!bin->len || strtoull(line.data + 14, NULL, 10) !=
						 bin->len) {
				ep_fail(ep, "unexpected upload request");
				break;
			}
			log_info("%s: uploading the agent (%zu bytes)",
				 ep->desc, bin->len);
			if (write_all(ep, bin->data, bin->len) < 0)
				break;
			continue;
		}
		if (!strncmp(buf_cstr(&line), "MAILMOVE-ERR ", 13)) {
			ep_fail(ep, "%s", line.data + 13);
			break;
		}
		/* A login script that prints: shown, then skipped. */
		if (++junk > BOOT_JUNK_MAX) {
			ep_fail(ep, "the remote shell prints too much before "
				"the agent starts");
			break;
		}
		log_warn("%s: remote shell said: %s", ep->desc,
			 buf_cstr(&line));
	}
	buf_release(&line);
	return rc;
}

/* Where ssh's control sockets live: /run/mailmove for root, else
 * $XDG_RUNTIME_DIR/mailmove.  Made mode 0700 and used only while it is a
 * directory of this user's alone: whoever can reach a socket there runs
 * commands on the old server as us.  0 with the path in *out, or -1. */
static int control_dir(struct buf *out)
{
	const char *base = geteuid() == 0 ? "/run" : getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (!base || *base != '/')
		return -1;
	buf_reset(out);
	buf_printf(out, "%s/mailmove", base);
	if (mkdir(out->data, 0700) < 0 && errno != EEXIST) {
		log_verbose("%s: %s; the ssh connection is not kept for reuse",
			    out->data, strerror(errno));
		return -1;
	}
	if (lstat(out->data, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077)) {
		log_warn("%s is not a directory of this user's alone (mode "
			 "0700): the ssh connection is not kept for reuse",
			 out->data);
		return -1;
	}
	return 0;
}

/* Whether ssh's own configuration (~/.ssh/config, /etc/ssh/ssh_config)
 * already multiplexes the connection that `argv` (the `n` words of ssh and
 * its options) makes to `host`: `ssh -G` prints the options in effect
 * without connecting.  1 yes, 0 no or unknown. */
static int ssh_config_multiplexes(char **argv, int n, const char *port,
				  const char *user, const char *host)
{
	char **v = xcalloc((size_t)n + 8, sizeof *v), out[65536];
	int fds[2], i, k = 0, status, yes = 0;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	for (i = 0; i < n; i++)
		v[k++] = argv[i];
	if (port) {
		v[k++] = "-p";
		v[k++] = (char *)port;
	}
	if (user) {
		v[k++] = "-l";
		v[k++] = (char *)user;
	}
	v[k++] = "-G";
	v[k++] = "--";
	v[k++] = (char *)host;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(v);
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(null, 2);
		execvp(v[0], v);
		_exit(127);
	}
	close(fds[1]);
	while (pid > 0 && got < sizeof out - 1 &&
	       ((r = read(fds[0], out + got, sizeof out - 1 - got)) > 0 ||
		(r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	close(fds[0]);
	out[got] = '\0';
	if (pid > 0) {
		pid_t w;

		while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			yes = (strstr(out, "\ncontrolpath ") &&
			       !strstr(out, "\ncontrolpath none\n")) ||
				(strstr(out, "\ncontrolmaster ") &&
				 !strstr(out, "\ncontrolmaster false\n"));
	}
	free(v);
	return yes;
}

/* With ssh (not another --rsh program) and --ssh-persist above 0: the
 * first connection becomes a master that stays `secs` seconds after its
 * last use, and the next commands run over it without a new handshake
 * (ssh's ControlMaster=auto).  The admin's own multiplexing, in ssh's
 * configuration or in --rsh, is left alone.  `argv` holds the `n` words
 * so far.  Returns the number of argv words added (at most 3). */
static int control_opts(const struct ep_opts *o, char **argv, int n,
			const char *port, const char *user, const char *host,
			struct buf *path, struct buf *persist)
{
	const char *prog = argv[0];
	const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
	int secs = o->persist, i;
	struct buf dir = BUF_INIT;

	if (secs <= 0 || strcmp(base, "ssh"))
		return 0;
	for (i = 1; i < n; i++)
		if (strcasestr(argv[i], "ControlMaster") ||
		    strcasestr(argv[i], "ControlPath") ||
		    !strcmp(argv[i], "-S") || !strcmp(argv[i], "-M"))
			return 0;
	if (ssh_config_multiplexes(argv, n, port, user, host)) {
		log_verbose("%s: ssh's configuration multiplexes this "
			    "connection; --ssh-persist leaves it to it", host);
		return 0;
	}
	if (control_dir(&dir) < 0) {
		buf_release(&dir);
		return 0;
	}
	argv += n;
	buf_printf(path, "-oControlPath=%s/ssh-%%C", dir.data);
	buf_printf(persist, "-oControlPersist=%d", secs);
	buf_release(&dir);
	argv[0] = "-oControlMaster=auto";
	argv[1] = path->data;
	argv[2] = persist->data;
	return 3;
}

static int ep_spawn_ssh(const struct ep_opts *o, struct endpoint *ep,
			const char *user, const char *host, int port)
{
	struct buf cpath = BUF_INIT, cpersist = BUF_INIT;
	struct buf bin = BUF_INIT, script = BUF_INIT;
	char hash[33] = "", portbuf[16], **rsh = NULL, **argv;
	int in[2], out[2], rc = -1, nrsh = 0, n = 0, i;

	if (o->rsh) {
		if (mm_split_words(o->rsh, &rsh, &nrsh) < 0) {
			log_error("--rsh: cannot parse \"%s\"", o->rsh);
			ep->exit_code = MM_EUSAGE;
			return -1;
		}
	}
	if (!o->agent && load_agent(&bin, hash) < 0) {
		ep->exit_code = MM_EUSAGE;
		goto out;
	}
	boot_script(&script, o->agent, hash, bin.len);
	argv = xcalloc((size_t)nrsh + 20, sizeof *argv);
	if (rsh) {
		for (i = 0; i < nrsh; i++)
			argv[n++] = rsh[i];
	} else {
		argv[n++] = "ssh";
		argv[n++] = "-oServerAliveInterval=15";
		argv[n++] = "-oServerAliveCountMax=4";
	}
	if (port)
		snprintf(portbuf, sizeof portbuf, "%d", port);
	n += control_opts(o, argv, n, port ? portbuf : NULL, user, host,
			  &cpath, &cpersist);
	if (port) {
		argv[n++] = "-p";
		argv[n++] = portbuf;
	}
	if (user) {
		argv[n++] = "-l";
		argv[n++] = (char *)user;
	}
	argv[n++] = "--";
	argv[n++] = (char *)host;
	argv[n++] = script.data;
	argv[n] = NULL;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		free(argv);
		goto out;
	}
	ep->errfd = stderr_file();
	ep->pid = fork();
	if (ep->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (ep->errfd >= 0)
			dup2(ep->errfd, 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(255);
	}
	close(in[0]);
	close(out[1]);
	free(argv);
	if (ep->pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(in[1]);
		close(out[0]);
		goto out;
	}
	ep->fd_out = in[1];
	ep->fd_in = out[0];
	rc = ep_bootstrap(ep, &bin);
out:
	for (i = 0; i < nrsh; i++)
		free(rsh[i]);
	free(rsh);
	buf_release(&bin);
	buf_release(&script);
	buf_release(&cpath);
	buf_release(&cpersist);
	return rc;
}

static int ep_spawn_local(struct endpoint *ep, const char *dir)
{
	struct buf agent = BUF_INIT;
	int sv[2];

	if (ep_agent_binary(&agent) < 0) {
		log_error("cannot find mailmove-agent (looked for %s); "
			  "set MAILMOVE_AGENT_BINARY", buf_cstr(&agent));
		ep->exit_code = MM_EUSAGE;
		buf_release(&agent);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("socketpair: %s", strerror(errno));
		buf_release(&agent);
		return -1;
	}
	ep->errfd = stderr_file();
	ep->pid = fork();
	if (ep->pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(sv[1], 3);
		dup2(devnull, 0);
		dup2(devnull, 1);
		if (ep->errfd >= 0)
			dup2(ep->errfd, 2);
		signal(SIGPIPE, SIG_DFL);
		execl(agent.data, "mailmove-agent", "--serve", "--root", dir,
		      "--fd", "3", (char *)NULL);
		dprintf(2, "%s: %s\n", agent.data, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	buf_release(&agent);
	if (ep->pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	ep->fd_in = ep->fd_out = sv[0];
	return 0;
}

int ep_open_with(const struct ep_opts *o, const char *from,
		 struct endpoint **out)
{
	char *user = NULL, *host = NULL;
	struct endpoint *ep;
	int port = 0, kind, rc;

	*out = NULL;
	kind = ep_parse_from(from, &user, &host, &port);
	if (kind < 0) {
		log_error("--from \"%s\": expected [user@]host[:port] or a "
			  "directory holding the old server's root", from ? from : "");
		return MM_EUSAGE;
	}
	if (kind == 1) {
		struct stat st;
		char *real = realpath(from, NULL);

		if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			log_error("--from %s: not a directory", from);
			free(real);
			return MM_EUSAGE;
		}
		ep = ep_new(real, 1);
		rc = ep_spawn_local(ep, real);
		free(real);
	} else {
		struct buf desc = BUF_INIT;

		if (user)
			buf_printf(&desc, "%s@", user);
		buf_addstr(&desc, host);
		if (port)
			buf_printf(&desc, ":%d", port);
		ep = ep_new(buf_cstr(&desc), 0);
		buf_release(&desc);
		rc = ep_spawn_ssh(o, ep, user, host, port);
	}
	free(user);
	free(host);
	if (rc == 0)
		rc = ep_handshake(ep);
	if (rc < 0) {
		rc = ep->exit_code ? ep->exit_code : MM_EREMOTE;
		ep_close(ep);
		return rc;
	}
	*out = ep;
	return MM_OK;
}

/* Waits up to `ms` for the child; then asks it to stop, then insists. */
static void reap(pid_t pid, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		usleep(10000);
	}
	kill(pid, SIGTERM);
	for (i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void ep_close(struct endpoint *ep)
{
	if (!ep)
		return;
	if (!ep->dead && ep->fd_out >= 0)
		ep_send(ep, MT_BYE, NULL, 0);
	if (ep->fd_out >= 0 && ep->fd_out != ep->fd_in)
		close(ep->fd_out);
	if (ep->fd_in >= 0)
		close(ep->fd_in);
	if (ep->pid > 0)
		reap(ep->pid, 3000);
	if (ep->errfd >= 0)
		close(ep->errfd);
	free_info(&ep->info);
	buf_release(&ep->in);
	free(ep->desc);
	free(ep);
}

struct endpoint *ep_from_memory(const void *data, size_t n)
{
	struct endpoint *ep = ep_new("memory", 1);

	buf_add(&ep->in, data, n);
	ep->info.caps = MM_CAP_ALL;
	return ep;
}
