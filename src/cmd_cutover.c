/*
 * cmd_cutover.c: `mailmove cutover`, the downtime in one command.
 *
 * The seed procedure's "Downtime" and "Migrate the emails cold" steps, as
 * one table of steps (cutover_steps[] below) in the order they run.  Each
 * row says whether it is inside the IMAP downtime, what it does and what
 * proves that it worked.  Only what must run with both Dovecots stopped is
 * inside the window: stopping them, the cold sync, and starting the new
 * Dovecot until it answers an IMAP login.  What can run while users read
 * their mail on the new server (soft_bounce, Postfix, the relay and its
 * queue flush, the verify, the index rebuild, the quota recount) runs
 * after it, so the downtime does not grow with the number of messages.
 *
 * Everything that can be checked without stopping anything is checked
 * first (the preflight row): a cutover that fails there fails while mail
 * still flows as before.  A hot sync right before the stop (catch-up)
 * leaves the cold sync only the last seconds' changes.  Every step is idempotent, so after a failure or
 * an interruption the same command picks up where it stopped.  The sync,
 * verify and softbounce steps run this same mailmove binary as a child, so
 * they behave exactly as when run by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ask.h"
#include "child.h"
#include "endpoint.h"
#include "fwd.h"
#include "lock.h"
#include "location.h"
#include "log.h"
#include "mailmove.h"
#include "postfix.h"
#include "relay_state.h"
#include "remote.h"
#include "banned.h"

enum {
	OPT_YES = 2000, OPT_OLD_STOP, OPT_NEW_STOP, OPT_NEW_START,
	OPT_RESYNC, OPT_RELAY, OPT_STATE, OPT_POSTFIX_CONFIG, OPT_NO_VERIFY,
	OPT_SWITCH_STATE, OPT_POSTFIX_START, OPT_IMAP, OPT_LOGIN,
	OPT_PASSWORD_FILE, OPT_READY_TIMEOUT, OPT_INDEXES, OPT_OLD_PF_CONFIG,
	OPT_FLUSH_WAIT, OPT_OLD_DOVEADM_CONFIG,
};

/* Free space below which a side is refused: the cold sync writes on this
 * server, and the old Postfix queues mail while Dovecot is stopped. */
#define MIN_FREE_BYTES (64ull << 20)

/* How long the old Dovecot may take to stop (systemd gives 90 s). */
#define OLD_STOP_TIMEOUT 120

struct cutover {
	/* options */
	int yes, no_verify, indexes;	/* indexes: -1 auto, 0 no, 1 yes */
	const char *old_stop, *new_stop, *new_start, *postfix_start, *resync;
	const char *relay_to, *state, *postfix_config, *switch_state;
	const char *imap, *login, *password_file, *old_postfix_config;
	const char *old_doveadm_config;
	double ready_timeout, flush_wait;
	char **src_dest;		/* SRC DEST, or NULL */

	/* worked out by the preflight */
	char relay_host[256];
	unsigned relay_port;
	char imap_host[256];
	unsigned imap_port;
	char *password;
	char old_version[64], new_version[64];
	int with_indexes;
	char *old_pidfile;
	char *old_instance;		/* its instance_name */		/* the old Dovecot's master.pid */

	/* the run */
	struct endpoint *ep;
	char self[4096];
	double down_start, down_end;
	struct remote_watch watch;	/* the old Dovecot stopping */
	int watching;			/* quiet, the stop not yet ended */
	int served;			/* a rerun after the downtime */
	double old_quiet;		/* stop to quiet, seconds; 0 unknown */
	json_t *sync_result;		/* the cold sync's --json result */
	json_t *catch_up;		/* the catch-up sync's */
	json_t *relay;			/* what the relay step saw */
	json_t *steps;			/* [{name, seconds, downtime}] */
};

static int cutover_opt(void *arg, int key, const char *val)
{
	struct cutover *c = arg;
	uint64_t n;

	switch (key) {
	case OPT_YES: c->yes = 1; break;
	case OPT_NO_VERIFY: c->no_verify = 1; break;
	case OPT_OLD_STOP: c->old_stop = val; break;
	case OPT_NEW_STOP: c->new_stop = val; break;
	case OPT_NEW_START: c->new_start = val; break;
	case OPT_POSTFIX_START: c->postfix_start = val; break;
	case OPT_RESYNC: c->resync = val; break;
	case OPT_RELAY: c->relay_to = val; break;
	case OPT_STATE: c->state = val; break;
	case OPT_POSTFIX_CONFIG: c->postfix_config = val; break;
	case OPT_OLD_PF_CONFIG: c->old_postfix_config = val; break;
	case OPT_OLD_DOVEADM_CONFIG: c->old_doveadm_config = val; break;
	case OPT_SWITCH_STATE: c->switch_state = val; break;
	case OPT_IMAP: c->imap = val; break;
	case OPT_LOGIN: c->login = val; break;
	case OPT_PASSWORD_FILE: c->password_file = val; break;
	case OPT_INDEXES:
		if (!strcmp(val, "auto"))
			c->indexes = -1;
		else if (!strcmp(val, "yes"))
			c->indexes = 1;
		else if (!strcmp(val, "no"))
			c->indexes = 0;
		else {
			log_error("cutover: --indexes %s: give auto, yes or no",
				  val);
			return -1;
		}
		break;
	case OPT_READY_TIMEOUT:
	case OPT_FLUSH_WAIT:
		if (mm_parse_u64(val, &n) < 0 || n > 3600) {
			log_error("cutover: --%s %s: give whole seconds, at "
				  "most 3600", key == OPT_FLUSH_WAIT ?
				  "flush-wait" : "ready-timeout", val);
			return -1;
		}
		if (key == OPT_FLUSH_WAIT)
			c->flush_wait = (double)n;
		else
			c->ready_timeout = n ? (double)n : 1;
		break;
	default: return -1;
	}
	return 0;
}

/* Stops or starts services the way the host runs them. */
static const char stop_dovecot_sh[] =
	"if [ -d /run/systemd/system ]; then systemctl stop dovecot; "
	"else service dovecot stop; fi";
static const char start_dovecot_sh[] =
	"if [ -d /run/systemd/system ]; then systemctl start dovecot; "
	"else service dovecot start; fi";
static const char start_postfix_sh[] =
	"if [ -d /run/systemd/system ]; then systemctl start postfix; "
	"else service postfix start; fi";

/* Runs argv and waits; with --json its stdout goes to our stderr, so that
 * ours holds JSON alone. */
static int run_wait(char *const *argv)
{
	return mm_run_wait_out(argv, log_json() ? 2 : -1);
}

/* Runs a command given as one string (`cmd`), or `sh -c default_sh`. */
static int run_local_cmd(const char *cmd, const char *default_sh)
{
	char *shv[] = { "sh", "-c", (char *)default_sh, NULL };
	char **argv;
	int argc, rc;

	if (!cmd)
		return run_wait(shv);
	if (mm_split_words(cmd, &argv, &argc) < 0) {
		log_error("cannot parse command \"%s\"", cmd);
		return 127;
	}
	rc = run_wait(argv);
	mm_free_words(argv, argc);
	return rc;
}

static int run_remote_cmd(struct endpoint *ep, const char *cmd,
			  const char *default_sh, int *status)
{
	char *shv[] = { "sh", "-c", (char *)default_sh, NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	char **argv = shv;
	int argc = 0, rc;

	if (cmd && mm_split_words(cmd, &argv, &argc) < 0) {
		log_error("cannot parse command \"%s\"", cmd);
		return MM_EUSAGE;
	}
	rc = remote_run(ep, argv, NULL, &out, &err, 1u << 20, status);
	if (out.len)
		log_info("%s: %s", ep->desc, buf_cstr(&out));
	if (err.len)
		log_warn("%s: %s", ep->desc, buf_cstr(&err));
	if (argv != shv)
		mm_free_words(argv, argc);
	buf_release(&out);
	buf_release(&err);
	if (rc < 0)
		return ep_exit_code(ep);
	if (rc > 0) {
		log_error("%s: cannot run: %s", ep->desc, strerror(rc));
		return MM_EDIFF;
	}
	return MM_OK;
}

/*
 * Runs argv with its stdout in `out` (capped at 4 MiB; stderr passes
 * through to ours).  Returns its exit status, 128 + signal, or 127.
 */
static int run_capture(char *const *argv, struct buf *out)
{
	int p[2], st;
	pid_t pid, parent = getpid();
	char chunk[8192];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 127;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return 127;
	}
	if (pid == 0) {
		/* A step ends with the cutover: a kill -9 of it leaves no
		 * sync running on, holding the lock a rerun needs. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(128 + SIGTERM);
		dup2(p[1], 1);
		execvp(argv[0], argv);
		fprintf(stderr, "mailmove: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (out->len + (size_t)n <= (4u << 20))
			buf_add(out, chunk, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 127;
	buf_cstr(out);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* The {"event":"result",...} line of a child's --json output, or NULL. */
static json_t *json_result_of(const struct buf *out)
{
	const char *p = out->len ? out->data : "";

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		json_t *j = json_loadb(p, len, 0, NULL);

		if (j && json_is_object(j) &&
		    !strcmp(json_string_value(json_object_get(j, "event")) ?
			    json_string_value(json_object_get(j, "event")) : "",
			    "result")) {
			json_object_del(j, "event");
			return j;
		}
		json_decref(j);
		p += len + (nl != NULL);
	}
	return NULL;
}

/*
 * HOST[:PORT] or [HOST]:PORT into host and port (default `defport`).
 * The host is a name or an address: letters, digits, '.', '-', ':' (IPv6
 * in brackets).  Returns 0, or -1 when it is neither.
 */
static int parse_host_port(const char *s, unsigned defport, char *host,
			   size_t hostlen, unsigned *port)
{
	const char *h = s, *end, *colon;
	uint64_t n;
	size_t len, i;

	if (*s == '[') {
		h = s + 1;
		end = strchr(h, ']');
		if (!end)
			return -1;
		colon = end[1] == ':' ? end + 1 : end[1] ? NULL : end + 1;
		if (!colon)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -1;	/* bare IPv6: needs brackets */
		end = colon ? colon : s + strlen(s);
	}
	len = (size_t)(end - h);
	if (!len || len >= hostlen)
		return -1;
	for (i = 0; i < len; i++) {
		char ch = h[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		      (ch == ':' && h != s)))
			return -1;
	}
	if (h[0] == '-' || h[0] == '.')
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	*port = defport;
	if (colon && *colon == ':') {
		if (mm_parse_u64(colon + 1, &n) < 0 || n == 0 || n > 65535)
			return -1;
		*port = (unsigned)n;
	}
	return 0;
}

/* A line from `fd` (CRLF stripped) within `timeout` seconds: 0, or -1. */
static int read_line_fd(int fd, struct buf *line, double timeout)
{
	double end = mm_now() + timeout;

	buf_reset(line);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		double left = end - mm_now();
		char ch;
		ssize_t n;

		if (left <= 0 || line->len > 8192)
			return -1;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (ch == '\n')
			break;
		buf_add(line, &ch, 1);
	}
	while (line->len && line->data[line->len - 1] == '\r')
		line->len--;
	buf_cstr(line);
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* An IMAP quoted string: "..." with \ and " escaped.  -1 for CR, LF, NUL
 * (which LOGIN cannot carry as a quoted string). */
static int imap_quote(struct buf *out, const char *s)
{
	buf_addstr(out, "\"");
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n')
			return -1;
		if (*s == '"' || *s == '\\')
			buf_addstr(out, "\\");
		buf_add(out, s, 1);
	}
	buf_addstr(out, "\"");
	return 0;
}

static int tcp_connect(const char *host, unsigned port)
{
	struct addrinfo hints, *ai = NULL, *a;
	char ps[16];
	int fd = -1;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof ps, "%u", port);
	if (getaddrinfo(host, ps, &hints, &ai))
		return -1;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/*
 * One IMAP session with the new Dovecot: the greeting, then LOGIN when a
 * user is given (a user's mail is readable only once this answers OK),
 * then LOGOUT.  Returns 0 when it answered, else -1 with the last reply
 * (or what failed) in `why`.
 */
static int imap_probe(const struct cutover *c, struct buf *why)
{
	struct buf line = BUF_INIT, cmd = BUF_INIT;
	int fd = tcp_connect(c->imap_host, c->imap_port), rc = -1, n;

	buf_reset(why);
	if (fd < 0) {
		buf_printf(why, "connect to %s:%u: %s", c->imap_host,
			   c->imap_port, strerror(errno));
		return -1;
	}
	if (read_line_fd(fd, &line, 5) < 0 || strncmp(line.data, "* OK", 4)) {
		buf_printf(why, "no IMAP greeting: %s",
			   line.len ? line.data : "(nothing)");
		goto out;
	}
	if (c->login) {
		buf_addstr(&cmd, "m1 LOGIN ");
		imap_quote(&cmd, c->login);
		buf_addstr(&cmd, " ");
		imap_quote(&cmd, c->password ? c->password : "");
		buf_addstr(&cmd, "\r\n");
		if (write_all(fd, cmd.data, cmd.len) < 0)
			goto out;
		n = 0;
		do {
			if (++n > 100 || read_line_fd(fd, &line, 10) < 0) {
				buf_addstr(why, "no answer to LOGIN");
				goto out;
			}
		} while (strncmp(line.data, "m1 ", 3));
		if (strncmp(line.data, "m1 OK", 5)) {
			buf_printf(why, "LOGIN as %s: %s", c->login,
				   line.data);
			goto out;
		}
	}
	write_all(fd, "m2 LOGOUT\r\n", 11);
	rc = 0;
out:
	close(fd);
	buf_release(&line);
	buf_release(&cmd);
	return rc;
}

/*
 * Asks the relay target for its SMTP greeting from the old server (the
 * old Postfix is the one that will connect), through the agent.
 */
static int smtp_probe(struct cutover *c, struct buf *why)
{
	struct buf target = BUF_INIT, line = BUF_INIT;
	struct sockaddr_un sa;
	struct fwd *f = NULL;
	int fd = -1, rc;

	buf_reset(why);
	buf_printf(&target, "tcp:%s:%u", c->relay_host, c->relay_port);
	rc = fwd_start(c->ep, target.data, &f);
	buf_release(&target);
	if (rc)
		return rc;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", fwd_socket_path(f));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = MM_EDIFF;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		buf_printf(why, "%s", strerror(errno));
	} else if (read_line_fd(fd, &line, 10) < 0) {
		buf_addstr(why, "no SMTP greeting within 10 s (connection "
			   "refused or nothing listening)");
	} else if (strncmp(line.data, "220", 3)) {
		buf_printf(why, "it answers \"%.200s\", not 220", line.data);
	} else {
		write_all(fd, "QUIT\r\n", 6);
		rc = MM_OK;
	}
	if (fd >= 0)
		close(fd);
	buf_release(&line);
	if (fwd_stop(f) < 0)
		return ep_exit_code(c->ep);
	return rc;
}

/* "2.3.13 (89f716dc2e)" -> 2003013; 0 when not a version. */
static long dovecot_version_num(const char *v)
{
	unsigned a = 0, b = 0, p = 0;

	if (sscanf(v, "%u.%u.%u", &a, &b, &p) < 2)
		return 0;
	return (long)a * 1000000L + (long)b * 1000L + (long)p;
}

static void first_line(char *dst, size_t len, const struct buf *b)
{
	size_t n = b->len ? strcspn(b->data, "\r\n") : 0;

	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(dst, b->data, n);
	dst[n] = '\0';
}

/*
 * Where the old Dovecot's master writes its pid: base_dir/master.pid, with
 * base_dir from doveconf there, and its instance_name, which begins its
 * processes' titles.  Without them the stop step can only wait for the
 * stop command (and says so).
 */
static int old_pidfile(struct cutover *c)
{
	char *argv[7];
	struct buf out = BUF_INIT, err = BUF_INIT;
	char dir[1024], *nl;
	int st = -1, rc, n = 0;

	argv[n++] = "doveconf";
	if (c->old_doveadm_config) {
		argv[n++] = "-c";
		argv[n++] = (char *)c->old_doveadm_config;
	}
	argv[n++] = "-h";
	argv[n++] = "base_dir";
	argv[n++] = "instance_name";
	argv[n] = NULL;
	rc = pf_run_argv(c->ep, argv, NULL, &out, &err, 4096, &st);
	if (rc < 0) {
		rc = ep_exit_code(c->ep);
		goto out;
	}
	first_line(dir, sizeof dir, &out);
	rc = MM_OK;
	nl = out.len ? memchr(out.data, '\n', out.len) : NULL;
	if (nl && st == 0) {	/* the second line: instance_name */
		char name[256];
		struct buf rest = BUF_INIT;

		buf_add(&rest, nl + 1, out.len - (size_t)(nl + 1 - out.data));
		first_line(name, sizeof name, &rest);
		buf_release(&rest);
		free(c->old_instance);
		c->old_instance = name[0] && !strchr(name, '/') ?
				  xstrdup(name) : NULL;
	}
	if (st != 0 || dir[0] != '/' || strstr(dir, "/../")) {
		log_warn("cutover: cannot tell where the old Dovecot keeps "
			 "master.pid (doveconf -h base_dir on %s: %s): the "
			 "cold sync waits for the stop command alone, and "
			 "cannot check that no imap process is left",
			 c->ep->desc, st ? "failed" : "not a path");
		goto out;
	}
	{
		struct buf p = BUF_INIT;

		buf_printf(&p, "%s%smaster.pid", dir,
			   dir[strlen(dir) - 1] == '/' ? "" : "/");
		free(c->old_pidfile);
		c->old_pidfile = xstrdup(buf_cstr(&p));
		buf_release(&p);
	}
out:
	buf_release(&out);
	buf_release(&err);
	return rc;
}

/* `dovecot --version` here (ep NULL) or on the old server. */
static int dovecot_version(struct endpoint *ep, char *dst, size_t len)
{
	char *argv[] = { "/usr/sbin/dovecot", "--version", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int st = -1, rc = pf_run_argv(ep, argv, NULL, &out, &err, 4096, &st);

	dst[0] = '\0';
	if (rc == 0 && st == 0)
		first_line(dst, len, &out);
	buf_release(&out);
	buf_release(&err);
	if (rc < 0)
		return -1;
	return dst[0] ? 0 : 1;
}

static int read_password(struct cutover *c)
{
	struct buf pw = BUF_INIT;
	char chunk[512];
	ssize_t n;
	int fd = open(c->password_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		log_error("cutover: --password-file %s: %s", c->password_file,
			  strerror(errno));
		return -1;
	}
	{
		struct stat st;
		if (fstat(fd, &st) == 0 && (st.st_mode & 077))
			log_warn("cutover: --password-file %s can be read by "
				 "others (mode %04o): chmod 600 it",
				 c->password_file, (unsigned)(st.st_mode & 07777));
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0 && pw.len < 4096)
		buf_add(&pw, chunk, (size_t)n);
	close(fd);
	buf_cstr(&pw);
	pw.data[strcspn(pw.data, "\r\n")] = '\0';
	c->password = xstrdup(pw.data);
	explicit_bzero(pw.data, pw.len);
	buf_release(&pw);
	return 0;
}

/* Free bytes at the nearest existing directory of `path`. */
static int local_free(const char *path, uint64_t *avail)
{
	struct buf p = BUF_INIT;
	struct statvfs sv;
	int rc;

	buf_addstr(&p, path);
	while ((rc = statvfs(p.data, &sv)) < 0 && errno == ENOENT) {
		char *slash = strrchr(p.data, '/');
		if (!slash || slash == p.data)
			break;
		*slash = '\0';
		p.len = (size_t)(slash - p.data);
	}
	buf_release(&p);
	if (rc < 0)
		return -1;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

/* ---- the steps; each returns MM_OK or an exit code (reported) ---- */

/*
 * Everything that can fail without stopping anything: options, the old
 * server (ssh and agent, its Dovecot, with --relay-to its Postfix and the
 * relay target answering SMTP from there), this server (Dovecot and
 * Postfix installed, room on the disk), and on the old server room for the
 * mail that waits in its queue during the downtime.
 */
static int step_preflight(struct mm_ctx *ctx, struct cutover *c)
{
	struct buf why = BUF_INIT, out = BUF_INIT, err = BUF_INIT, p = BUF_INIT;
	uint64_t avail = 0, total = 0;
	long ov, nv;
	int rc, st;

	/* This server. */
	rc = dovecot_version(NULL, c->new_version, sizeof c->new_version);
	if (rc) {
		log_error("cutover: no Dovecot on this server (/usr/sbin/"
			  "dovecot --version failed): install it first");
		return MM_EDEST;
	}
	{
		struct pf_runner pr = { NULL, c->postfix_config };
		const char *args[] = { "-h", "mail_version", NULL };

		if (pf_run(&pr, "postconf", args, NULL, &out, &err, 1u << 16,
			   &st) || st) {
			if (err.len)
				err.data[strcspn(err.data, "\r\n")] = '\0';
			log_error("cutover: Postfix here does not answer "
				  "(postconf%s%s: %s)", c->postfix_config ?
				  " -c " : "", c->postfix_config ?
				  c->postfix_config : "", err.len ? err.data :
				  "cannot run");
			rc = MM_EDEST;
			goto out;
		}
	}
	buf_printf(&p, "%s/%s", mm_dest_root(ctx), c->src_dest ?
		   c->src_dest[1] : "var/vmail");
	if (local_free(p.data, &avail) == 0 && avail < MIN_FREE_BYTES) {
		char hb[32];
		log_error("cutover: only %s free at %s on this server: the "
			  "cold sync needs room; free some first",
			  mm_human_bytes(avail, hb, sizeof hb), p.data);
		rc = MM_EDEST;
		goto out;
	}

	/* The new Dovecot answers now as it must after the downtime: a wrong
	 * --imap or password is found before anything stops. */
	if (imap_probe(c, &why) < 0 && downtime_marked(ctx)) {
		log_warn("cutover: the new Dovecot does not answer on %s:%u "
			 "(%s): an earlier cutover stopped it and did not "
			 "finish; this one goes on from there", c->imap_host,
			 c->imap_port, why.data);
	} else if (why.len) {
		log_error("cutover: the new Dovecot does not answer %s on %s:%u "
			  "now (%s); the downtime would end only when it does. "
			  "Start it, or give the right --imap, --login and "
			  "--password-file", c->login ? "a login" : "IMAP",
			  c->imap_host, c->imap_port, why.data);
		rc = MM_EDEST;
		goto out;
	}

	/* The old server: reached (the agent answered), its Dovecot. */
	rc = dovecot_version(c->ep, c->old_version, sizeof c->old_version);
	if (rc < 0) {
		rc = ep_exit_code(c->ep);
		goto out;
	}
	if (rc)
		log_warn("cutover: cannot tell the old server's Dovecot "
			 "version (dovecot --version failed there)");
	rc = old_pidfile(c);
	if (rc)
		goto out;
	if (remote_statfs(c->ep, "/var/spool/postfix", &total, &avail) == 0 ||
	    remote_statfs(c->ep, "/var", &total, &avail) == 0) {
		if (avail < MIN_FREE_BYTES) {
			char hb[32];
			log_error("cutover: only %s free in /var/spool/postfix "
				  "on %s: mail that arrives during the downtime "
				  "waits there; free some first",
				  mm_human_bytes(avail, hb, sizeof hb),
				  c->ep->desc);
			rc = MM_EDIFF;
			goto out;
		}
	}

	/* The save date survives only with Dovecot's own index files, and
	 * only a Dovecot at least as new as the old one reads them. */
	ov = dovecot_version_num(c->old_version);
	nv = dovecot_version_num(c->new_version);
	if (c->indexes >= 0)
		c->with_indexes = c->indexes;
	else
		c->with_indexes = ov && nv && ov <= nv;
	if (!c->with_indexes)
		log_warn("cutover: the cold sync does not copy Dovecot's index "
			 "files (%s): every message's save date (date.saved) "
			 "becomes the time of the migration",
			 c->indexes == 0 ? "--indexes no" :
			 !ov || !nv ? "a Dovecot version is unknown" :
			 "the old Dovecot is newer than this one");

	if (c->relay_to) {
		struct pf_runner pr = { c->ep, c->old_postfix_config };
		const char *args[] = { "status", NULL };

		if ((rc = pf_run(&pr, "postfix", args, NULL, &out, &err,
				 1u << 16, &st)) < 0) {
			rc = ep_exit_code(c->ep);
			goto out;
		}
		if (rc || st) {
			log_error("cutover: --relay-to: Postfix on %s is not "
				  "running (postfix status: %s)", c->ep->desc,
				  err.len ? err.data : rc ? strerror(rc) :
				  "not running");
			rc = MM_EDIFF;
			goto out;
		}
		rc = smtp_probe(c, &why);
		if (rc == MM_EDIFF)
			log_error("cutover: --relay-to %s: from %s, port %u "
				  "does not answer SMTP: %s.  Start Postfix "
				  "here (or fix the address) first",
				  c->relay_to, c->ep->desc, c->relay_port,
				  why.data);
		if (rc)
			goto out;
	}
	log_info("cutover: preflight passed: Dovecot %s there, %s here%s",
		 c->old_version[0] ? c->old_version : "(unknown)",
		 c->new_version, c->relay_to ? ", the relay target answers "
		 "SMTP from the old server" : "");
out:
	buf_release(&why);
	buf_release(&out);
	buf_release(&err);
	buf_release(&p);
	return rc;
}

/* A sink for output nobody reads. */
static int discard(void *arg, const void *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

/*
 * Dovecot keeps a message's save date in its index cache, once something
 * asked for it; otherwise it answers with the file's ctime, which no copy
 * can keep.  Asking the old Dovecot for every save date while it still
 * runs puts them all in its index, which the cold sync then copies.  Costs
 * a stat per message not yet cached, outside the downtime.
 */
static int step_save_dates(struct mm_ctx *ctx, struct cutover *c)
{
	struct argvb av = { NULL, 0, 0 };
	struct buf why = BUF_INIT;
	int rc, st = -1;

	(void)ctx;

	if (!c->with_indexes)
		return MM_OK;
	argvb_add(&av, "doveadm");
	if (c->old_doveadm_config) {
		argvb_add(&av, "-c");
		argvb_add(&av, c->old_doveadm_config);
	}
	/* A mailbox whose lock a hung client holds is given up after 5 s
	 * (doveadm's default waits minutes, while mail flows): a failure
	 * here costs only uncached save dates, with a warning. */
	argvb_add(&av, "-o");
	argvb_add(&av, "mail_max_lock_timeout=5s");
	argvb_add(&av, "fetch");
	argvb_add(&av, "-A");
	argvb_add(&av, "date.saved");
	argvb_add(&av, "ALL");
	rc = remote_run_stream(c->ep, av.v, NULL, discard, discard, NULL, &st,
			       &why);
	argvb_release(&av);
	if (rc < 0) {
		buf_release(&why);
		return ep_exit_code(c->ep);
	}
	if (rc || st)
		log_warn("cutover: doveadm fetch -A date.saved on %s failed "
			 "(%s): save dates the old Dovecot has not cached "
			 "become the time of the copy", c->ep->desc,
			 rc ? (why.len ? buf_cstr(&why) : strerror(rc)) :
			 "exit status not 0");
	buf_release(&why);
	return MM_OK;
}

/*
 * Stops the new Dovecot before the downtime: it serves nobody yet (users
 * and the MX still point at the old server), so while it stops, the old
 * one still serves.  Mail the new Postfix gets meanwhile waits in its
 * queue.
 */
static int step_stop_new(struct mm_ctx *ctx, struct cutover *c)
{
	int st;

	(void)ctx;
	st = run_local_cmd(c->new_stop, stop_dovecot_sh);
	if (st) {
		log_error("stopping Dovecot here failed (status %d); the old "
			  "Dovecot still serves: fix it and rerun cutover", st);
		return MM_EDEST;
	}
	return MM_OK;
}

static void log_stop_output(struct cutover *c, const struct buf *b)
{
	if (b->len)
		log_info("%s: %.*s", c->ep->desc, (int)b->len, b->data);
}

/*
 * Stops the old Dovecot: the downtime starts.  The agent runs the stop
 * command and watches the Dovecot's processes (agent_dovecot.c): the step
 * ends as soon as none is left that can touch mail, which is before the
 * command returns (a Dovecot 2.3 master sleeps a second for its log after
 * its last child ended) and after any imap process the master left
 * running has ended.  The command's end is checked after the downtime
 * (step_old_stopped).
 */
static int step_stop_old(struct mm_ctx *ctx, struct cutover *c)
{
	struct buf why = BUF_INIT;
	char *shv[] = { "sh", "-c", (char *)stop_dovecot_sh, NULL };
	char **argv = shv;
	int argc = 0, rc, st = 0;

	rc = downtime_mark(ctx);
	if (rc) {
		log_error("cutover: cannot write %s/var/lib/mailmove/cutover-"
			  "downtime: %s", mm_dest_root(ctx), strerror(rc));
		return MM_EDEST;
	}
	if (!c->old_pidfile) {
		rc = run_remote_cmd(c->ep, c->old_stop, stop_dovecot_sh, &st);
		if (rc)
			return rc;
		goto status;
	}
	if (c->old_stop && mm_split_words(c->old_stop, &argv, &argc) < 0) {
		log_error("cannot parse command \"%s\"", c->old_stop);
		return MM_EUSAGE;
	}
	c->watch.pidfile = c->old_pidfile;
	c->watch.instance = c->old_instance;
	c->watch.timeout_ms = OLD_STOP_TIMEOUT * 1000;
	rc = remote_watch_begin(c->ep, argv, &c->watch, &why);
	if (argv != shv)
		mm_free_words(argv, argc);
	if (rc < 0) {
		buf_release(&why);
		return ep_exit_code(c->ep);
	}
	if (rc > 0) {
		log_stop_output(c, &c->watch.output);
		log_error("stopping Dovecot on %s: %s; the cold sync did not "
			  "run.  Dovecot here is stopped: fix the old server "
			  "and rerun cutover", c->ep->desc,
			  why.len ? buf_cstr(&why) : strerror(rc));
		buf_release(&why);
		return MM_EDIFF;
	}
	buf_release(&why);
	if (c->watch.quiet) {
		c->watching = !c->watch.done;
		c->old_quiet = c->watch.quiet_ms / 1000.0;
		if (c->watch.note.len)
			log_warn("cutover: %s", buf_cstr(&c->watch.note));
		if (!strcmp(buf_cstr(&c->watch.how), "not running"))
			log_warn("cutover: no Dovecot master was running on %s "
				 "(%s names none)%s", c->ep->desc,
				 c->old_pidfile, c->watch.nended ? "; what "
				 "a master that died had left running was "
				 "ended" : "");
		else
			log_info("cutover: the old Dovecot stopped serving "
				 "mail %.2f s after its stop began (its master "
				 "%s)", c->old_quiet, buf_cstr(&c->watch.how));
		if (c->watch.nended)
			log_info("cutover: ended %u process%s the old Dovecot "
				 "left running: %s", c->watch.nended,
				 c->watch.nended == 1 ? "" : "es",
				 buf_cstr(&c->watch.ended));
		return MM_OK;
	}
	/* Ended without quiet: no running Dovecot there, or the command
	 * failed. */
	log_stop_output(c, &c->watch.output);
	st = c->watch.status;
status:
	if (st != 0) {
		log_error("stopping Dovecot on %s failed (status %d); the cold "
			  "sync did not run.  Dovecot here is stopped: it "
			  "served nobody yet; the rerun starts it", c->ep->desc,
			  st);
		return MM_EDIFF;
	}
	return MM_OK;
}

/*
 * After the downtime: the old Dovecot's stop command has ended and its
 * master is gone, and it started nothing after it had gone quiet.
 */
static int step_old_stopped(struct mm_ctx *ctx, struct cutover *c)
{
	struct buf why = BUF_INIT;
	int rc;

	(void)ctx;
	if (c->served && c->old_pidfile && !c->watching) {
		/* A rerun after the downtime stopped nothing: the old
		 * Dovecot must not serve again (a restart, a reboot), or
		 * what users change there never reaches this server.  The
		 * watch of a command that does nothing says so. */
		char *tv[] = { "true", NULL };

		c->watch.pidfile = c->old_pidfile;
		c->watch.instance = c->old_instance;
		c->watch.timeout_ms = 30 * 1000;
		rc = remote_watch_begin(c->ep, tv, &c->watch, &why);
		if (rc < 0) {
			buf_release(&why);
			return ep_exit_code(c->ep);
		}
		if (rc == 0 && c->watch.quiet) {
			c->watching = !c->watch.done;
		} else {
			log_error("the old Dovecot on %s serves again (%s): "
				  "what users change there does not reach this "
				  "server, which serves since the downtime; stop "
				  "it", c->ep->desc, why.len ? buf_cstr(&why) :
				  "its watch ended without it stopped");
			buf_release(&why);
			return MM_EDIFF;
		}
	}
	if (!c->watching)
		return MM_OK;
	c->watching = 0;
	rc = remote_watch_end(c->ep, &c->watch, &why);
	log_stop_output(c, &c->watch.output);
	if (rc < 0) {
		buf_release(&why);
		return ep_exit_code(c->ep);
	}
	if (rc > 0) {
		log_error("stopping Dovecot on %s: %s", c->ep->desc,
			  why.len ? buf_cstr(&why) : strerror(rc));
		log_error("the new Dovecot serves already; check the old "
			  "server and stop its Dovecot.  What it changed "
			  "since the cold sync is not here: `mailmove verify` "
			  "names it; a sync from the old server now would "
			  "also undo the flags and expunges users make here");
		buf_release(&why);
		return MM_EDIFF;
	}
	/* The watch saw the Dovecot stop and nothing of it come back: the
	 * command's own status is the admin's to look at. */
	if (c->watch.status < 0)
		log_warn("cutover: the stop command on %s did not end within "
			 "10 s after the old Dovecot had stopped, and was ended "
			 "(signal %d): check it before the next use",
			 c->ep->desc, -c->watch.status);
	else if (c->watch.status != 0)
		log_warn("cutover: the stop command on %s ended with status "
			 "%d, although %s: check it before the next use",
			 c->ep->desc, c->watch.status,
			 !strcmp(buf_cstr(&c->watch.how), "not running") ?
			 "no Dovecot ran there" : "the old Dovecot stopped and "
			 "none of its processes is left");
	buf_release(&why);
	return MM_OK;
}

/* Runs `mailmove sync|verify` as a child with our connection options. */
static int run_step_child(struct mm_ctx *ctx, struct cutover *c,
			  const char *cmd, struct buf *capture)
{
	struct argvb cv = { NULL, 0, 0 };
	int sync = !strcmp(cmd, "sync"), st;

	argvb_add(&cv, c->self);
	argvb_add(&cv, cmd);
	if (sync) {
		argvb_add(&cv, "--delete");
		if (c->with_indexes)
			argvb_add(&cv, "--with-indexes");
		if (c->state) {
			argvb_add(&cv, "--state");
			argvb_add(&cv, c->state);
		}
	}
	argvb_common(&cv, ctx, CHILD_REMOTE | CHILD_TO |
			       (sync ? CHILD_DRYRUN : 0));
	if (capture)
		argvb_add(&cv, "--json");
	if (c->src_dest) {
		argvb_add(&cv, c->src_dest[0]);
		argvb_add(&cv, c->src_dest[1]);
	}
	st = capture ? run_capture(cv.v, capture) : run_wait(cv.v);
	argvb_release(&cv);
	return st;
}

/*
 * A hot sync right before the stop, while both Dovecots serve: whatever
 * changed since the admin's last hot sync (minutes or days ago) moves now,
 * so the cold sync inside the downtime finds only the last seconds'
 * changes.  Index files come along too: the cold sync copies again only
 * those that changed since (size, mtime or inode), which makes the set
 * the old Dovecot left when it stopped.
 */
static int step_catch_up(struct mm_ctx *ctx, struct cutover *c)
{
	struct buf out = BUF_INIT;
	json_t *r;
	int st = run_step_child(ctx, c, "sync", &out);

	r = json_result_of(&out);
	buf_release(&out);
	json_decref(c->catch_up);
	c->catch_up = r;
	/* Files the old Dovecot changed while they were read are what the
	 * cold sync is for; any other failure would fail it as well. */
	if (st == MM_EDIFF && r) {
		json_int_t errs = json_integer_value(json_object_get(r, "errors"));
		json_int_t chg = json_integer_value(json_object_get(r,
					"changed_while_read"));

		if (errs > 0 && errs == chg) {
			log_warn("cutover: %lld file%s changed on the old "
				 "server while the catch-up sync read %s (its "
				 "Dovecot serves): the cold sync copies %s",
				 (long long)chg, chg == 1 ? "" : "s",
				 chg == 1 ? "it" : "them",
				 chg == 1 ? "it" : "them");
			return MM_OK;
		}
	}
	if (st) {
		log_error("the catch-up sync failed (exit %d); nothing was "
			  "stopped: fix it and rerun cutover", st);
		return st == MM_EINTR ? MM_EINTR : st <= 5 ? st : MM_EDIFF;
	}
	return MM_OK;
}

static int step_cold_sync(struct mm_ctx *ctx, struct cutover *c)
{
	struct buf out = BUF_INIT;
	int st = run_step_child(ctx, c, "sync", &out);

	c->sync_result = json_result_of(&out);
	buf_release(&out);
	if (st) {
		log_error("the cold sync failed (exit %d); Dovecot stays "
			  "stopped on both servers: fix and rerun cutover", st);
		return st == MM_EINTR ? MM_EINTR : st <= 5 ? st : MM_EDIFF;
	}
	return MM_OK;
}

/* Starts the new Dovecot, then waits until it answers (the downtime's
 * end: a user can read mail again). */
static int step_start_new(struct mm_ctx *ctx, struct cutover *c)
{
	struct buf why = BUF_INIT;
	double until;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int st;

	if (ctx->dry_run)
		return MM_OK;
	st = run_local_cmd(c->new_start, start_dovecot_sh);
	if (st) {
		log_error("starting Dovecot failed (status %d)", st);
		return MM_EDEST;
	}
	until = mm_now() + c->ready_timeout;
	while (imap_probe(c, &why) < 0) {
		if (mm_interrupted)
			return MM_EINTR;
		if (mm_now() >= until) {
			log_error("the new Dovecot did not answer %s within "
				  "%.0f s: %s", c->login ? "an IMAP login" :
				  "IMAP", c->ready_timeout, why.data);
			buf_release(&why);
			return MM_EDEST;
		}
		nanosleep(&ts, NULL);
	}
	buf_release(&why);
	c->down_end = mm_now();
	if (served_mark(ctx))
		log_warn("cutover: cannot write %s/var/lib/mailmove/cutover-"
			 "served: a rerun would sync from the old server over "
			 "what users change here", mm_dest_root(ctx));
	if (downtime_clear(ctx))
		log_warn("cutover: cannot remove %s/var/lib/mailmove/cutover-"
			 "downtime", mm_dest_root(ctx));
	log_info("the new Dovecot answers %s on %s:%u", c->login ?
		 "a login" : "IMAP", c->imap_host, c->imap_port);
	return MM_OK;
}

static int step_softbounce(struct mm_ctx *ctx, struct cutover *c)
{
	struct argvb cv = { NULL, 0, 0 };
	int st;

	argvb_add(&cv, c->self);
	argvb_add(&cv, "softbounce");
	argvb_add(&cv, "on");
	argvb_common(&cv, ctx, 0);
	if (c->postfix_config) {
		argvb_add(&cv, "--postfix-config");
		argvb_add(&cv, c->postfix_config);
	}
	if (c->switch_state) {
		argvb_add(&cv, "--state");
		argvb_add(&cv, c->switch_state);
	}
	st = run_wait(cv.v);
	argvb_release(&cv);
	if (st) {
		log_error("turning soft_bounce on failed (exit %d)", st);
		return MM_EDEST;
	}
	return MM_OK;
}

/*
 * Starts Postfix here, then flushes its queue: mail it took while this
 * Dovecot was stopped (deferred with "lost connection with ...
 * dovecot-lmtp") goes in now, not at its next queue run minutes later.
 * Nothing queued, or no Postfix running (a stopped one flushes when it
 * starts): nothing to do, so a failing flush is only a warning.
 */
static int step_start_postfix(struct mm_ctx *ctx, struct cutover *c)
{
	struct pf_runner pr = { NULL, c->postfix_config };
	const char *flush[] = { "-f", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int st = run_local_cmd(c->postfix_start, start_postfix_sh);

	(void)ctx;
	if (st) {
		log_error("starting Postfix failed (status %d)", st);
		return MM_EDEST;
	}
	if (pf_run(&pr, "postqueue", flush, NULL, &out, &err, 1u << 16,
		   &st) || st)
		log_warn("cutover: postqueue -f here failed (%.*s): mail "
			 "Postfix queued while Dovecot was stopped waits for "
			 "its next queue run", (int)strcspn(err.len ?
			 err.data : "", "\r\n"), err.len ? err.data : "");
	buf_release(&out);
	buf_release(&err);
	return MM_OK;
}

/*
 * Points the old Postfix at the new server, then flushes its queue: the
 * mail that waited there during the downtime (deferred with "lost
 * connection with ... dovecot-lmtp") leaves now, not at Postfix's next
 * queue run minutes later.  Then shows what is still queued there.
 */
static int step_relay(struct mm_ctx *ctx, struct cutover *c)
{
	struct pf_runner pr = { c->ep, c->old_postfix_config };
	struct buf out = BUF_INIT, err = BUF_INIT, want = BUF_INIT,
		   setting = BUF_INIT;
	struct pf_queue_summary before, now;
	const char *get[] = { "-h", "virtual_transport", NULL };
	const char *set[] = { "-e", NULL, NULL };
	const char *reload[] = { "reload", NULL };
	const char *flush[] = { "-f", NULL };
	double until;
	int rc, st;

	buf_printf(&want, "smtp:[%s]:%u", c->relay_host, c->relay_port);
	rc = pf_run(&pr, "postconf", get, NULL, &out, &err, 1u << 16, &st);
	if (rc < 0)
		goto remote_gone;
	if (rc || st) {
		log_error("%s: postconf -h virtual_transport failed: %s",
			  c->ep->desc, err.data);
		rc = MM_EDIFF;
		goto out;
	}
	out.data[strcspn(out.data, "\r\n")] = '\0';
	c->relay = json_pack("{s:s, s:s}", "virtual_transport_before",
			     out.data, "virtual_transport", want.data);
	if (strcmp(out.data, want.data)) {
		log_info("%s: virtual_transport was %s; now %s (undo: "
			 "postconf -e 'virtual_transport=%s' && postfix "
			 "reload)", c->ep->desc, out.data, want.data,
			 out.data);
		rc = relay_state_save(ctx, out.data);
		if (rc) {
			log_error("cannot record the old virtual_transport "
				  "under %s/var/lib/mailmove: %s",
				  mm_dest_root(ctx), strerror(rc));
			rc = MM_EDEST;
			goto out;
		}
		buf_printf(&setting, "virtual_transport=%s", want.data);
		set[1] = setting.data;
		rc = pf_run(&pr, "postconf", set, NULL, &out, &err, 1u << 16,
			    &st);
		if (rc < 0)
			goto remote_gone;
		if (!rc && !st)
			rc = pf_run(&pr, "postfix", reload, NULL, &out, &err,
				    1u << 16, &st);
		if (rc < 0)
			goto remote_gone;
		if (rc || st) {
			log_error("relaying could not be set up on %s: %s",
				  c->ep->desc, err.data);
			rc = MM_EDIFF;
			goto out;
		}
	}

	rc = pf_queue_summary(&pr, &before);
	if (rc < 0)
		goto remote_gone;
	rc = pf_run(&pr, "postqueue", flush, NULL, &out, &err, 1u << 16, &st);
	if (rc < 0)
		goto remote_gone;
	if (rc || st)
		log_warn("%s: postqueue -f failed: %s", c->ep->desc, err.data);
	log_info("%s: queue flushed (%zu message%s were queued)", c->ep->desc,
		 before.messages, before.messages == 1 ? "" : "s");
	/* Watch it drain for a while (--flush-wait). */
	until = mm_now() + c->flush_wait;
	now = before;
	while (now.messages && mm_now() < until && !mm_interrupted) {
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		rc = pf_queue_summary(&pr, &now);
		if (rc < 0)
			goto remote_gone;
	}
	if (now.messages)
		log_out("still queued on %s: %zu message%s (first reason: "
			"%s); watch it drain with mailmove queue --from %s\n",
			c->ep->desc, now.messages, now.messages == 1 ? "" : "s",
			now.reason[0] ? now.reason : "none yet", c->ep->desc);
	else
		log_out("the old server's queue is empty\n");
	json_object_set_new(c->relay, "queued_before_flush",
			    json_integer((json_int_t)before.messages));
	json_object_set_new(c->relay, "still_queued",
			    json_integer((json_int_t)now.messages));
	rc = MM_OK;
	goto out;
remote_gone:
	rc = ep_exit_code(c->ep);
out:
	buf_release(&out);
	buf_release(&err);
	buf_release(&want);
	buf_release(&setting);
	return rc;
}

static int step_verify(struct mm_ctx *ctx, struct cutover *c)
{
	int st = run_step_child(ctx, c, "verify", NULL);

	if (st) {
		log_error("verify found differences (exit %d).  The new "
			  "Dovecot serves already: users may be changing "
			  "their mail here, and a sync from the old server "
			  "now would undo their flags and expunges.  Look at "
			  "the report and bring over only what is missing; a "
			  "rerun of cutover runs the steps after this one",
			  st);
		return st <= 5 ? st : MM_EDIFF;
	}
	return MM_OK;
}

static int step_resync(struct mm_ctx *ctx, struct cutover *c)
{
	(void)ctx;
	char *fr[] = { "doveadm", "force-resync", "-A", "*", NULL };
	int st = c->resync ? run_local_cmd(c->resync, NULL) : run_wait(fr);

	if (st) {
		log_error("force-resync failed (status %d)", st);
		return MM_EDEST;
	}
	return MM_OK;
}

static int step_quota(struct mm_ctx *ctx, struct cutover *c)
{
	(void)ctx;
	char *qr[] = { "doveadm", "quota", "recalc", "-A", NULL };

	if (c->resync)
		return MM_OK;	/* --resync replaces both */
	if (run_wait(qr) != 0)
		log_warn("doveadm quota recalc failed: no quota plugin? "
			 "(harmless without quotas)");
	return MM_OK;
}

/*
 * The cutover, in order.  `downtime` marks the rows inside the window
 * (IMAP unavailable); `dry` the rows that also run under --dry-run (they
 * change nothing, or are told --dry-run themselves).  The man page's
 * CUTOVER section explains the place of each row.
 */
struct cutover_step {
	const char *name;
	const char *what;
	int downtime;
	int dry;
	int (*action)(struct mm_ctx *ctx, struct cutover *c);
	const char *check;
};

static const struct cutover_step cutover_steps[] = {
	{ "preflight", "check both servers before anything stops", 0, 1,
	  step_preflight, "options valid, old server reached, Dovecot on "
	  "both, room on both disks, the relay target answers SMTP" },
	{ "save-dates", "the old Dovecot caches every save date in its "
	  "index", 0, 0, step_save_dates, "a failure is a warning" },
	{ "catch-up", "hot sync of what changed since the last one", 0, 0,
	  step_catch_up, "mailmove sync exits 0, or 1 for files only that "
	  "changed while read" },
	{ "stop-new", "stop Dovecot on this server (it serves nobody yet)",
	  0, 0, step_stop_new, "the stop command exits 0" },
	{ "stop", "stop Dovecot on the old server", 1, 0, step_stop_old,
	  "none of its processes that can touch mail is left, and its "
	  "master no longer serves" },
	{ "cold-sync", "cold sync with --delete", 1, 1,
	  step_cold_sync, "mailmove sync exits 0 (every folder copied)" },
	{ "start-new", "start Dovecot on this server", 1, 0,
	  step_start_new, "it answers an IMAP login (--login) or greeting" },
	{ "old-stopped", "the old Dovecot's stop command has ended", 0, 0,
	  step_old_stopped, "it exits 0, the master is gone, and no process "
	  "of that Dovecot started after the stop step" },
	{ "softbounce", "soft_bounce on: nothing is rejected for good", 0, 0,
	  step_softbounce, "mailmove softbounce on exits 0" },
	{ "start-postfix", "start Postfix on this server, flush its queue",
	  0, 0, step_start_postfix, "the start command exits 0" },
	{ "relay", "old Postfix relays to this server; its queue flushed",
	  0, 0, step_relay, "postconf and postfix reload exit 0; what is "
	  "still queued is shown" },
	{ "verify", "verify every message, flag and UID", 0, 0,
	  step_verify, "mailmove verify exits 0" },
	{ "resync", "rebuild Dovecot's indexes (force-resync)", 0, 0,
	  step_resync, "doveadm force-resync exits 0" },
	{ "quota", "recount quotas", 0, 0, step_quota,
	  "a failure is a warning (no quota plugin)" },
};
#define NSTEPS (sizeof cutover_steps / sizeof cutover_steps[0])

static int step_wanted(const struct cutover *c, const struct cutover_step *s)
{
	if (!strcmp(s->name, "relay"))
		return c->relay_to != NULL;
	if (!strcmp(s->name, "verify"))
		return !c->no_verify;
	return 1;
}

/* The summary: downtime, each step's time, what the cold sync moved. */
static void print_summary(struct cutover *c, int dry)
{
	size_t i;
	json_t *s;

	if (dry) {
		log_out("the cutover's steps, in order:\n");
		for (i = 0; i < NSTEPS; i++)
			log_out("  %-14s %-9s %s; checked: %s\n",
				cutover_steps[i].name,
				cutover_steps[i].downtime ? "downtime" : "",
				cutover_steps[i].what, cutover_steps[i].check);
		return;
	}
	json_array_foreach(c->steps, i, s)
		log_out("  %-14s %-9s %7.2f s\n",
			json_string_value(json_object_get(s, "step")),
			json_is_true(json_object_get(s, "downtime")) ?
			"downtime" : "", json_real_value(json_object_get(
			s, "seconds")));
	for (i = 0; i < 2; i++) {
		json_t *r = i ? c->sync_result : c->catch_up;

		if (!r)
			continue;
		log_out("%s: %lld copied, %lld hard links, %lld renamed "
			"(flags), %lld deleted, %lld kept only here\n",
			i ? "cold sync (in the downtime)" :
			"catch-up sync (before it)",
			(long long)json_integer_value(json_object_get(r, "copied")),
			(long long)json_integer_value(json_object_get(r, "linked")),
			(long long)json_integer_value(json_object_get(r, "renamed")),
			(long long)json_integer_value(json_object_get(r, "deleted")),
			(long long)json_integer_value(json_object_get(r,
				"kept_only_on_destination")));
	}
	if (!dry && c->down_end > 0)
		log_out("IMAP downtime: %.2f s (old Dovecot stopping to the "
			"new Dovecot answering %s)\n",
			c->down_end - c->down_start,
			c->login ? "a login" : "IMAP");
}

static int cutover_prepare(struct mm_ctx *ctx, struct cutover *c)
{
	(void)ctx;
	if (c->relay_to && parse_host_port(c->relay_to, 25, c->relay_host,
					   sizeof c->relay_host,
					   &c->relay_port) < 0) {
		log_error("cutover: --relay-to %s: not a host name or address "
			  "(HOST, HOST:PORT or [IPv6]:PORT)", c->relay_to);
		return MM_EUSAGE;
	}
	if (parse_host_port(c->imap ? c->imap : "127.0.0.1:143", 143,
			    c->imap_host, sizeof c->imap_host,
			    &c->imap_port) < 0) {
		log_error("cutover: --imap %s: give HOST:PORT", c->imap);
		return MM_EUSAGE;
	}
	if (c->password_file && !c->login) {
		log_error("cutover: --password-file needs --login USER");
		return MM_EUSAGE;
	}
	if (c->login && strpbrk(c->login, "\r\n")) {
		log_error("cutover: --login: not a user name");
		return MM_EUSAGE;
	}
	if (c->password_file && read_password(c) < 0)
		return MM_EUSAGE;
	if (c->password && strpbrk(c->password, "\r\n")) {
		log_error("cutover: the password cannot be sent in a LOGIN");
		return MM_EUSAGE;
	}
	if (c->old_postfix_config && !c->relay_to) {
		log_error("cutover: --old-postfix-config is for --relay-to");
		return MM_EUSAGE;
	}
	{
		const char *cmds[] = { c->old_stop, c->new_stop, c->new_start,
				       c->postfix_start, c->resync };
		size_t i;
		for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
			char **w;
			int n;
			if (!cmds[i])
				continue;
			if (mm_split_words(cmds[i], &w, &n) < 0) {
				log_error("cutover: cannot parse command "
					  "\"%s\"", cmds[i]);
				return MM_EUSAGE;
			}
			mm_free_words(w, n);
		}
	}
	return MM_OK;
}

/* SRC DEST as sync reads them (location.h): HOST:/PATH and DIR:/PATH
 * set --from; the steps get --from and the path (sd[0], malloc'd).
 * MM_OK or MM_EUSAGE (said why). */
static int take_src_dest(struct mm_ctx *ctx, char **args, char **sd,
			 char **keep)
{
	int rc = mm_resolve_src(ctx, "cutover", args[0], &sd[0], keep);

	if (!rc)
		rc = mm_check_dest("cutover", args[1]);
	sd[1] = args[1];
	return rc;
}

/* The cutover's own options (the common ones are options.c's). */
static const struct option cutover_options[] = {
	{ "yes", no_argument, NULL, OPT_YES },
	{ "old-stop", required_argument, NULL, OPT_OLD_STOP },
	{ "new-stop", required_argument, NULL, OPT_NEW_STOP },
	{ "new-start", required_argument, NULL, OPT_NEW_START },
	{ "postfix-start", required_argument, NULL, OPT_POSTFIX_START },
	{ "resync", required_argument, NULL, OPT_RESYNC },
	{ "relay-to", required_argument, NULL, OPT_RELAY },
	{ "old-postfix-config", required_argument, NULL,
	  OPT_OLD_PF_CONFIG },
	{ "flush-wait", required_argument, NULL, OPT_FLUSH_WAIT },
	{ "old-doveadm-config", required_argument, NULL,
	  OPT_OLD_DOVEADM_CONFIG },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "postfix-config", required_argument, NULL, OPT_POSTFIX_CONFIG },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "switch-state", required_argument, NULL, OPT_SWITCH_STATE },
	{ "imap", required_argument, NULL, OPT_IMAP },
	{ "login", required_argument, NULL, OPT_LOGIN },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "ready-timeout", required_argument, NULL, OPT_READY_TIMEOUT },
	{ "indexes", required_argument, NULL, OPT_INDEXES },
	{ NULL, 0, NULL, 0 },
};

int cmd_cutover(struct mm_ctx *ctx, int argc, char **argv)
{
	char *src_keep = NULL, *src_dest[2] = { NULL, NULL };
	struct cutover c;
	double t0 = mm_now();
	size_t i, served_from = 0;
	int first, rc, st, nstep = 0;
	json_t *res;

	memset(&c, 0, sizeof c);
	c.indexes = -1;
	c.ready_timeout = 60;
	c.flush_wait = 15;
	c.steps = json_array();
	rc = mm_parse_options(ctx, argc, argv, cutover_options, NULL,
			      cutover_opt, &c, &first);
	if (rc) {
		json_decref(c.steps);
		return rc < 0 ? MM_OK : rc;
	}
	if (!ctx->dry_run && (rc = mm_lock_command(ctx))) {
		json_decref(c.steps);
		return rc;
	}
	if (argc - first != 0 && argc - first != 2) {
		log_error("cutover: give SRC and DEST as for sync, or neither");
		rc = MM_EUSAGE;
		goto out;
	}
	if (argc - first == 2 &&
	    (rc = take_src_dest(ctx, argv + first, src_dest, &src_keep)))
		goto out;
	if (argc - first == 2)
		c.src_dest = src_dest;
	rc = cutover_prepare(ctx, &c);
	if (rc)
		goto out;
	if (mm_self_path(c.self, sizeof c.self) < 0) {
		rc = MM_EUSAGE;
		goto out;
	}
	rc = ep_open_ctx(ctx, &c.ep);
	if (rc)
		goto out;

	for (i = 0; i < NSTEPS; i++)	/* the downtime's last step */
		if (!strcmp(cutover_steps[i].name, "start-new"))
			served_from = i;
	{
		struct served_info si;
		struct buf d = BUF_INIT;

		c.served = served_marked(ctx, &si);
		served_describe(&si, &d);
		if (c.served)
			log_warn("cutover: an earlier cutover ended its "
				 "downtime (%s) and the new Dovecot has served "
				 "users since: this one runs only the steps "
				 "after the downtime, which undo nothing they "
				 "did here (to run a whole cutover again, remove "
				 "%s/var/lib/mailmove/cutover-served)", d.data,
				 mm_dest_root(ctx));
		else if (si.other)
			log_warn("cutover: %s/var/lib/mailmove/cutover-served "
				 "was made %s, not from this old server: it is "
				 "not this migration's, and is replaced when this "
				 "cutover's new Dovecot answers",
				 mm_dest_root(ctx), d.data);
		buf_release(&d);
	}
	for (i = 0; i < NSTEPS; i++) {
		const struct cutover_step *s = &cutover_steps[i];
		double t;

		if (!step_wanted(&c, s))
			continue;
		if (c.served && (!strcmp(s->name, "verify") ||
				 (i > 0 && i <= served_from))) {
			if (!strcmp(s->name, "verify"))
				log_warn("step %zu: %s: skipped: users have "
					 "changed their mail here since the "
					 "downtime, so the old server is no "
					 "longer what this one must match "
					 "(mailmove verify shows the "
					 "differences)", i + 1, s->what);
			else
				log_info("step %zu: %s: done by an earlier "
					 "cutover", i + 1, s->what);
			json_array_append_new(c.steps, json_pack(
				"{s:s, s:f, s:b, s:i, s:b}", "step", s->name,
				"seconds", 0.0, "downtime", s->downtime,
				"exit", 0, "skipped", 1));
			continue;
		}
		/* Ask once, after the preflight, before anything else. */
		if (i > 0 && !c.served && !nstep++ && !ctx->dry_run && !c.yes) {
			int ok = mm_ask("This stops Dovecot on the old server "
					"and on this one: mail is not readable "
					"until the new Dovecot answers.\nGo "
					"ahead?");
			if (ok < 0) {
				log_error("cutover: no terminal to ask on; "
					  "give --yes to run the downtime "
					  "without asking");
				rc = MM_EUSAGE;
				goto out;
			}
			if (!ok) {
				log_info("cutover: nothing stopped");
				rc = MM_OK;
				goto out;
			}
		}
		log_info("step %zu: %s%s", i + 1, s->what, ctx->dry_run ?
			 " (dry run)" : "");
		out_event("step", json_pack("{s:i, s:s, s:s, s:b, s:b}",
					    "step", (int)(i + 1), "name",
					    s->name, "what", s->what,
					    "downtime", s->downtime,
					    "dry_run", ctx->dry_run));
		t = mm_now();
		if (s->downtime && c.down_start == 0)
			c.down_start = t;
		rc = ctx->dry_run && !s->dry ? MM_OK : s->action(ctx, &c);
		t = mm_now() - t;
		json_array_append_new(c.steps, json_pack(
			"{s:s, s:f, s:b, s:i}", "step", s->name, "seconds", t,
			"downtime", s->downtime, "exit", rc));
		if (rc) {
			if (c.served)
				log_error("cutover: ended at %s; the new "
					  "Dovecot serves as before: fix this "
					  "and rerun cutover", s->name);
			else if (!c.down_start && downtime_marked(ctx))
				log_error("cutover: ended at %s; an earlier "
					  "cutover stopped Dovecot here (and "
					  "maybe on the old server) and did not "
					  "finish: the downtime goes on; fix "
					  "this and rerun cutover", s->name);
			else if (!c.down_start)
				log_error("cutover: ended at %s; the old "
					  "Dovecot was not stopped, mail flows "
					  "as before", s->name);
			goto out;
		}
		if (mm_interrupted) {
			rc = MM_EINTR;
			goto out;
		}
	}
	print_summary(&c, ctx->dry_run);
	if (!ctx->dry_run)
		log_info("cutover done in %.0f s. Next: switch the MX records "
			 "(mailmove dns --wait-switched), watch the queue "
			 "(mailmove queue --watch), then mailmove softbounce "
			 "off.", mm_now() - t0);
	rc = MM_OK;
out:
	st = rc;
	res = json_pack("{s:i, s:O, s:f}", "exit", st, "steps", c.steps,
			"seconds", mm_now() - t0);
	if (c.down_end > 0)
		json_object_set_new(res, "downtime_seconds",
				    json_real(c.down_end - c.down_start));
	json_object_set_new(res, "with_indexes", json_boolean(c.with_indexes));
	if (c.old_quiet > 0)
		json_object_set_new(res, "old_quiet_seconds",
				    json_real(c.old_quiet));
	if (c.sync_result)
		json_object_set(res, "cold_sync", c.sync_result);
	if (c.catch_up)
		json_object_set(res, "catch_up", c.catch_up);
	if (c.relay)
		json_object_set(res, "relay", c.relay);
	out_result(res);
	json_decref(c.steps);
	json_decref(c.sync_result);
	json_decref(c.catch_up);
	json_decref(c.relay);
	if (c.watching) {	/* a later step failed: let the stop end */
		struct buf why = BUF_INIT;

		if (remote_watch_end(c.ep, &c.watch, &why) > 0)
			log_warn("stopping Dovecot on %s: %s", c.ep->desc,
				 buf_cstr(&why));
		buf_release(&why);
	}
	buf_release(&c.watch.ended);
	buf_release(&c.watch.how);
	buf_release(&c.watch.output);
	buf_release(&c.watch.note);
	free(c.old_pidfile);
	free(c.old_instance);
	if (c.password) {
		explicit_bzero(c.password, strlen(c.password));
		free(c.password);
	}
	ep_close(c.ep);
	free(src_dest[0]);
	free(src_keep);
	return rc;
}
