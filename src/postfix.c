/*
 * postfix.c: Postfix's programs run here or on the old server, and the
 * log lines mailmove reads (see postfix.h).
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "endpoint.h"
#include "fsops.h"
#include "log.h"
#include "postfix.h"
#include "remote.h"
#include "banned.h"

extern char **environ;

/* Runs argv here, feeding `in` and collecting both outputs.  0 or errno. */
static int run_local(char *const *argv, const struct buf *in, struct buf *out,
		     struct buf *err, size_t max, int *status)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	struct pollfd pfd[3];
	size_t in_off = 0;
	pid_t pid;
	int rc, st;
	char chunk[65536];

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 ||
	    pipe2(perr, O_CLOEXEC) < 0) {
		rc = errno;
		goto close_all;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		goto close_all;
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	if (!in || !in->len) {
		close(pin[1]);
		pin[1] = -1;
	}
	rc = 0;
	for (;;) {
		struct buf *dst;
		ssize_t n;
		int i;

		pfd[0].fd = pout[0];
		pfd[1].fd = perr[0];
		pfd[2].fd = pin[1];
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[2].events = POLLOUT;
		if (pout[0] < 0 && perr[0] < 0)
			break;
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			break;
		}
		if (pin[1] >= 0 && (pfd[2].revents & (POLLOUT | POLLERR))) {
			n = write(pin[1], in->data + in_off, in->len - in_off);
			if (n > 0)
				in_off += (size_t)n;
			if (n < 0 || in_off == in->len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		for (i = 0; i < 2; i++) {
			int *fd = i ? &perr[0] : &pout[0];

			if (*fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP |
							   POLLERR)))
				continue;
			dst = i ? err : out;
			n = read(*fd, chunk, sizeof chunk);
			if (n > 0 && dst->len + (size_t)n <= max) {
				buf_add(dst, chunk, (size_t)n);
			} else if (n > 0) {
				rc = EFBIG;
			} else if (n == 0 || errno != EINTR) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(st) ? WEXITSTATUS(st)
		  : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
close_all:
	if (pin[0] >= 0)
		close(pin[0]);
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	if (pout[1] >= 0)
		close(pout[1]);
	if (perr[0] >= 0)
		close(perr[0]);
	if (perr[1] >= 0)
		close(perr[1]);
	buf_cstr(out);
	buf_cstr(err);
	return rc;
}

int pf_run_argv(struct endpoint *ep, char *const *argv, const struct buf *in,
		struct buf *out, struct buf *err, size_t max, int *status)
{
	int rc;

	buf_reset(out);
	buf_reset(err);
	*status = -1;
	if (ep)
		rc = remote_run(ep, argv, in, out, err, max, status);
	else
		rc = run_local(argv, in, out, err, max, status);
	buf_cstr(out);
	/* Messages quote err: no trailing newline. */
	while (err->len && (err->data[err->len - 1] == '\n' ||
			    err->data[err->len - 1] == '\r'))
		err->len--;
	buf_cstr(err);
	return rc;
}

int pf_run(struct pf_runner *r, const char *prog, const char *const *args,
	   const struct buf *in, struct buf *out, struct buf *err, size_t max,
	   int *status)
{
	struct buf path = BUF_INIT;
	char **argv;
	size_t n = 0, i = 0;
	int rc;

	while (args && args[n])
		n++;
	argv = xcalloc(n + 4, sizeof *argv);
	buf_printf(&path, "/usr/sbin/%s", prog);
	argv[i++] = (char *)buf_cstr(&path);
	if (r->config_dir) {
		argv[i++] = "-c";
		argv[i++] = (char *)r->config_dir;
	}
	for (n = 0; args && args[n]; n++)
		argv[i++] = (char *)args[n];
	argv[i] = NULL;
	rc = pf_run_argv(r->ep, argv, in, out, err, max, status);
	free(argv);
	buf_release(&path);
	return rc;
}

int pf_queue_summary(struct pf_runner *r, struct pf_queue_summary *q)
{
	const char *args[] = { "-j", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	const char *p;
	int rc, st;

	memset(q, 0, sizeof *q);
	rc = pf_run(r, "postqueue", args, NULL, &out, &err, 64u << 20, &st);
	if (!rc && st)
		rc = EPROTO;
	for (p = out.len ? out.data : ""; !rc && *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		json_t *m = json_loadb(p, len, 0, NULL), *rcpt, *one;
		size_t i;

		if (m) {
			q->messages++;
			rcpt = json_object_get(m, "recipients");
			json_array_foreach(rcpt, i, one) {
				const char *why = json_string_value(
					json_object_get(one, "delay_reason"));
				if (why && !q->reason[0])
					snprintf(q->reason, sizeof q->reason,
						 "%s", why);
			}
			json_decref(m);
		}
		p += len + (nl != NULL);
	}
	buf_release(&out);
	buf_release(&err);
	return rc;
}

int pf_queue_id_ok(const char *id)
{
	size_t i;

	/* postsuper -d ALL empties the queue: never an ID. */
	if (!strcasecmp(id, "ALL"))
		return 0;
	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= 'a' && id[i] <= 'z')))
			return 0;
	return i > 0 && i <= 32;
}

static int month_of(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int m;

	for (m = 0; m < 12; m++)
		if (!strncmp(s, months + 3 * m, 3))
			return m;
	return -1;
}

/* "2026-11-28T19:37:07.123456+00:00", "...+0000", "...Z" or syslog's
 * "Nov 28 19:37:07" (local time, year guessed: not in the future). */
int64_t pf_log_time(const char *line, int64_t now)
{
	struct tm tm;
	const char *p;
	time_t t;
	int off_h = 0, off_m = 0, sign = 0;

	memset(&tm, 0, sizeof tm);
	if (line[0] >= '0' && line[0] <= '9') {
		p = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!p)
			return 0;
		if (*p == '.' || *p == ',')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
		if (*p == '+' || *p == '-') {
			sign = *p == '-' ? -1 : 1;
			p++;
			if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' &&
			      p[1] <= '9'))
				return 0;
			off_h = (p[0] - '0') * 10 + (p[1] - '0');
			p += 2;
			if (*p == ':')
				p++;
			if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' &&
			    p[1] <= '9')
				off_m = (p[0] - '0') * 10 + (p[1] - '0');
		} else if (*p != 'Z') {
			/* No zone: local time. */
			tm.tm_isdst = -1;
			t = mktime(&tm);
			return t < 0 ? 0 : (int64_t)t;
		}
		t = timegm(&tm);
		if (t < 0)
			return 0;
		return (int64_t)t - sign * (off_h * 3600 + off_m * 60);
	}
	if (month_of(line) < 0)
		return 0;
	{
		time_t tn = (time_t)now;
		struct tm nowtm;

		if (!localtime_r(&tn, &nowtm))
			return 0;
		p = strptime(line, "%b %d %H:%M:%S", &tm);
		if (!p)
			return 0;
		tm.tm_year = nowtm.tm_year;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if ((int64_t)t > now + 86400) {	/* December's line in January */
			tm.tm_year--;
			tm.tm_isdst = -1;
			t = mktime(&tm);
		}
		return t < 0 ? 0 : (int64_t)t;
	}
}

/* The text between `key<` and the next '>' after it, or NULL. */
static char *angle_value(const char *s, const char *key)
{
	const char *p = strstr(s, key), *e;

	if (!p)
		return NULL;
	p += strlen(key);
	e = strchr(p, '>');
	if (!e)
		return NULL;
	return xstrndup(p, (size_t)(e - p));
}

int pf_parse_reject(const char *line, int64_t now, struct pf_reject *rej)
{
	const char *p, *from, *colon, *code, *reason, *end;

	memset(rej, 0, sizeof *rej);
	if (!strstr(line, "/smtpd[") && !strstr(line, "/postscreen["))
		return 0;
	p = strstr(line, ": reject: ");
	if (!p)
		return 0;
	p += 10;
	/* "RCPT from client[addr]: 450 4.1.1 <rcpt>: text; from=<s> to=<r> ..." */
	from = strstr(p, " from ");
	if (!from)
		return 0;
	from += 6;
	colon = strstr(from, ": ");
	if (!colon)
		return 0;
	code = colon + 2;
	if (code[0] != '4' || !(code[1] >= '0' && code[1] <= '9') ||
	    !(code[2] >= '0' && code[2] <= '9') || code[3] != ' ')
		return 0;
	reason = code + 4;
	/* An enhanced status code "4.x.y" belongs to the code. */
	if (reason[0] == '4' && reason[1] == '.') {
		const char *sp = strchr(reason, ' ');
		if (sp)
			reason = sp + 1;
	}
	end = strstr(reason, "; from=<");
	if (!end)
		end = reason + strlen(reason);
	rej->when = pf_log_time(line, now);
	rej->client = xstrndup(from, (size_t)(colon - from));
	rej->code = xstrndup(code, (size_t)(reason - code - 1));
	rej->reason = xstrndup(reason, (size_t)(end - reason));
	rej->sender = angle_value(end, "from=<");
	rej->recipient = angle_value(end, " to=<");
	if (!rej->sender)
		rej->sender = xstrdup("");
	if (!rej->recipient)
		rej->recipient = xstrdup("");
	return 1;
}

void pf_reject_release(struct pf_reject *rej)
{
	free(rej->client);
	free(rej->code);
	free(rej->reason);
	free(rej->sender);
	free(rej->recipient);
	memset(rej, 0, sizeof *rej);
}

int pf_read_log(struct pf_runner *pr, const char *file, int64_t since,
		struct buf *out, struct buf *source)
{
	struct buf err = BUF_INIT;
	int rc = 0, status = 0;

	buf_reset(out);
	buf_reset(source);
	if (!file) {
		if (pr->ep) {
			struct buf probe = BUF_INIT, perr = BUF_INIT;
			static char *test_argv[] = { "test", "-f",
						     "/var/log/mail.log", NULL };
			rc = pf_run_argv(pr->ep, test_argv, NULL, &probe,
					 &perr, 4096, &status);
			buf_release(&probe);
			buf_release(&perr);
			if (rc < 0)
				goto out;
			if (rc == 0 && status == 0)
				file = "/var/log/mail.log";
		} else if (access("/var/log/mail.log", R_OK) == 0) {
			file = "/var/log/mail.log";
		}
	}
	if (file && !pr->ep) {
		struct stat st;
		char chunk[65536];
		ssize_t n;
		int fd, e;

		buf_addstr(source, file);
		e = fs_open_file(file, 0, &fd);
		if (!e && fstat(fd, &st) < 0) {
			e = errno;
			close(fd);
		}
		if (e) {
			log_warn("queue: cannot read %s: %s", file,
				 mm_strerror(e));
			goto out;
		}
		if (st.st_size > (off_t)PF_LOG_TAIL)
			lseek(fd, st.st_size - (off_t)PF_LOG_TAIL, SEEK_SET);
		while ((n = read(fd, chunk, sizeof chunk)) > 0)
			buf_add(out, chunk, (size_t)n);
		close(fd);
	} else if (file) {
		char size[32];
		char *argv[] = { "tail", "-c", size, (char *)file, NULL };

		snprintf(size, sizeof size, "%u", PF_LOG_TAIL);
		buf_addstr(source, file);
		rc = pf_run_argv(pr->ep, argv, NULL, out, &err, PF_LOG_TAIL + 4096,
				 &status);
		if (rc < 0)
			goto out;
		if (rc > 0 || status != 0)
			log_warn("queue: cannot read %s on the old server: %s",
				 file, rc ? strerror(rc) : buf_cstr(&err));
	} else {
		char since_arg[48];
		char *argv[] = { "journalctl", "-q", "--no-pager", "-o",
				 "short-iso", "-u", "postfix", "-u",
				 "postfix@-", "--since", since_arg, NULL };

		snprintf(since_arg, sizeof since_arg, "@%lld",
			 (long long)(since ? since : (int64_t)time(NULL) -
				     86400));
		buf_addstr(source, "the journal (journalctl -u postfix)");
		rc = pf_run_argv(pr->ep, argv, NULL, out, &err, PF_LOG_TAIL,
				 &status);
		if (rc < 0)
			goto out;
		if (rc > 0 || status != 0) {
			log_warn("queue: no /var/log/mail.log and journalctl "
				 "failed: %s", rc ? strerror(rc)
				 : buf_cstr(&err));
			buf_reset(out);
		}
	}
	rc = 0;
out:
	buf_cstr(out);
	buf_release(&err);
	return rc;
}
