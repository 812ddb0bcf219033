/*
 * agent_dovecot.c: when has the old Dovecot stopped touching mail?
 *
 * The cutover's cold sync may start only once no process of the old
 * Dovecot can change a mailbox, and waiting for its stop command to return
 * is both too early and too late:
 *
 *   - too early: a Dovecot 2.3 master leaves logged-in imap (and pop3)
 *     processes running when it exits on SIGTERM; they go on serving their
 *     clients (APPEND, STORE, EXPUNGE) until something ends them.  systemd
 *     does, after `doveadm stop` returns; `service dovecot stop`, a stop
 *     command of the admin's or a host without systemd do not.
 *   - too late: the same master sleeps a second for its log process after
 *     its last child is gone, and `systemctl stop` returns after that.
 *
 * So the agent watches the processes itself, from /proc, every few
 * milliseconds while the stop command runs.  The Dovecot is known by its
 * master (the pid in base_dir/master.pid, whose name is "dovecot"); its
 * processes are those of the master's session when the master leads one
 * (a daemon, or systemd's service), else the master's children, and any of
 * them seen once is followed until it ends, even when the master is gone.
 *
 * The master no longer serves when it is gone, a zombie, or has begun its
 * exit: it stopped its anvil process (which it keeps while it serves) and
 * sleeps (the exit's waits; while it serves it waits in epoll instead).
 * From then on it starts no process.  Its processes other than "log" and
 * "stats", which touch no mail, then get SIGTERM (what systemd sends them
 * a second later), and the Dovecot is quiet once none is left.
 *
 * A master that died before (a stop that failed half-way, a crash) leaves
 * its mail processes to init, where neither rule finds them.  They are
 * known by their title, which Dovecot makes of its instance_name (from
 * doveconf: "dovecot/imap", "dovecot-NAME/imap"), and by a parent that is
 * no Dovecot master: the watch takes those it finds at its start as its
 * own (and, with no master running, those it finds once the command has
 * ended), and with no master it treats the Dovecot as past its loop.
 * Without a master only the command's end says the Dovecot has stopped.
 *
 * After quiet the watch goes on until the stop command and the master have
 * ended.  A process of the Dovecot that appears after quiet is an error:
 * the controller has started its cold sync by then.  A stop command that
 * fails while the master still serves ends the watch without quiet; one
 * that fails after the master left its loop still has the leftovers ended,
 * so that no process of the Dovecot is left changing mail either way.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../banned.h"

#define TERM_GRACE_MS	10000	/* for the processes that got SIGTERM */
#define EXIT_GRACE_MS	10000	/* for the master after the command ended */
#define FAIL_GRACE_MS	2000	/* for the master after the command failed */
#define SETTLE_MS	1000	/* watched after the command ended, for a
				 * master it may have started */

struct member {
	pid_t pid;
	unsigned long long start;
	char comm[17];
	int alive;		/* seen in the last scan */
	int signalled;
	int late;		/* first seen after quiet */
};

struct dwatch {
	char *pidfile;
	char *prefix;		/* "dovecot[-NAME]/": its processes' titles */
	int by_title;		/* the master's members bear the title */
	pid_t master;		/* 0: no running Dovecot was found */
	unsigned long long mstart;
	pid_t sid;
	int session;		/* the master leads its session */
	int anvil_seen;
	char mstate;		/* from the last scan; 0 when gone */
	struct member *m;
	size_t n, cap;
	double t0, quiet_at, exit_at, term_at, timeout;
	int quiet, done;
	int rescanned;		/* no master: orphans looked for at the end */
	int master_gone;	/* seen gone: its pid and session id may be
				 * reused, they name no new member */
	double gone_at;
	unsigned nended;
	struct buf ended;	/* "imap (pid 1234), ..." */
	unsigned long long t0_ticks;	/* the watch's start, since boot */
	pid_t newmaster;	/* a master of this Dovecot started since */
	unsigned nscan;		/* scans so far */
	int several;		/* no master.pid, several masters by title */
	struct buf note;	/* for the controller's log */
};

struct pstat {
	pid_t pid, ppid, sid;
	char state;
	char comm[17];
	unsigned long long start;
};

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ssize_t read_small(const char *path, char *b, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, b, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	b[r] = '\0';
	return r;
}

/* /proc/PID/stat: "pid (comm) state ppid pgrp session ... starttime". */
static int read_pstat(pid_t pid, struct pstat *ps)
{
	char path[64], b[1024], *l, *r, *f[20];
	size_t len;
	int i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_small(path, b, sizeof b) <= 0)
		return -1;
	l = strchr(b, '(');
	r = strrchr(b, ')');
	if (!l || !r || r < l || r[1] != ' ')
		return -1;
	len = (size_t)(r - l - 1);
	if (len >= sizeof ps->comm)
		len = sizeof ps->comm - 1;
	memcpy(ps->comm, l + 1, len);
	ps->comm[len] = '\0';
	r += 2;
	for (i = 0; i < 20; i++) {	/* fields 3 .. 22 */
		f[i] = r;
		r = strchr(r, ' ');
		if (!r && i < 19)
			return -1;
		if (r)
			*r++ = '\0';
	}
	ps->pid = pid;
	ps->state = f[0][0];
	ps->ppid = (pid_t)atoi(f[1]);
	ps->sid = (pid_t)atoi(f[3]);
	ps->start = strtoull(f[19], NULL, 10);
	return 0;
}

/* Is the master blocked in a sleep (its exit's waits)? */
static int master_sleeps(pid_t pid)
{
	char path[64], b[256];
	long nr;

	snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
	if (read_small(path, b, sizeof b) <= 0)
		return 0;
	if (b[0] < '0' || b[0] > '9')
		return 0;	/* "running" or -1: not in a system call */
	nr = strtol(b, NULL, 10);
#ifdef SYS_clock_nanosleep
	if (nr == SYS_clock_nanosleep)
		return 1;
#endif
#ifdef SYS_nanosleep
	if (nr == SYS_nanosleep)
		return 1;
#endif
	return 0;
}

static int harmless(const char *comm)
{
	return !strcmp(comm, "log") || !strcmp(comm, "stats");
}

static struct member *find_member(struct dwatch *w, pid_t pid,
				  unsigned long long start)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->m[i].pid == pid && w->m[i].start == start)
			return &w->m[i];
	return NULL;
}

/* Does the process's title (argv[0] as Dovecot rewrote it) begin with
 * `prefix`? */
static int title_is(pid_t pid, const char *prefix)
{
	char path[64], b[256];
	size_t n = strlen(prefix);

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	if (read_small(path, b, sizeof b) < (ssize_t)n)
		return 0;
	return !strncmp(b, prefix, n);
}

/* A process of this Dovecot whose master is gone: its title names the
 * instance and its parent is no running Dovecot master. */
static int orphan(const struct dwatch *w, const struct pstat *ps)
{
	struct pstat pp;

	if (!w->prefix || !strcmp(ps->comm, "dovecot") ||
	    !title_is(ps->pid, w->prefix))
		return 0;
	if (ps->ppid > 0 && read_pstat(ps->ppid, &pp) == 0 &&
	    !strcmp(pp.comm, "dovecot") && pp.state != 'Z')
		return 0;
	return 1;
}

/* A child of a running Dovecot master other than the watched one: one
 * the stop command started again in the old master's session, its
 * children already there in the scan that finds the old master gone. */
static int other_masters_child(const struct dwatch *w, const struct pstat *ps)
{
	struct pstat pp;

	return ps->ppid > 1 && ps->ppid != w->master &&
	       read_pstat(ps->ppid, &pp) == 0 &&
	       !strcmp(pp.comm, "dovecot") && pp.state != 'Z';
}

/* Clock ticks since boot now: what /proc/PID/stat's start times count. */
static unsigned long long ticks_now(void)
{
	char b[64];
	long hz = sysconf(_SC_CLK_TCK);

	if (read_small("/proc/uptime", b, sizeof b) <= 0 || hz <= 0)
		return 0;
	return (unsigned long long)(strtod(b, NULL) * (double)hz);
}

/*
 * A running Dovecot master known by its processes: a process named
 * "dovecot", started after `since` (ticks), other than the watched master,
 * with a child whose title is this Dovecot's.  Returns its pid, 0 when
 * there is none; `nmasters` (may be NULL) gets how many there are.
 */
static pid_t title_master(const struct dwatch *w, unsigned long long since,
			  int *nmasters)
{
	DIR *d;
	struct dirent *e;
	pid_t found = 0;
	int n = 0;

	if (!w->prefix || !(d = opendir("/proc")))
		return 0;
	while ((e = readdir(d))) {
		struct pstat ps, pp;
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (*end || v <= 0 || read_pstat((pid_t)v, &ps) < 0 ||
		    ps.ppid <= 1 || ps.ppid == found ||
		    (ps.ppid == w->master && !w->master_gone) ||
		    !title_is(ps.pid, w->prefix) ||
		    read_pstat(ps.ppid, &pp) < 0 ||
		    strcmp(pp.comm, "dovecot") || pp.state == 'Z' ||
		    pp.start <= since)
			continue;
		if (!found)
			found = pp.pid;
		n++;
	}
	closedir(d);
	if (nmasters)
		*nmasters = n;
	return found;
}

/* How many children the master has, and how many of them bear the
 * title this Dovecot's processes are expected to have. */
static void master_children(const struct dwatch *w, int *n, int *titled)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	*n = *titled = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct pstat ps;
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (*end || v <= 0 || read_pstat((pid_t)v, &ps) < 0 ||
		    ps.ppid != w->master)
			continue;
		(*n)++;
		if (w->prefix && title_is(ps.pid, w->prefix))
			(*titled)++;
	}
	closedir(d);
}

/* One look at every process: the master's state, its members; `orphans`
 * also takes the Dovecot's processes whose master is gone. */
static void scan(struct dwatch *w, int orphans)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t i;
	int newm = 0;

	for (i = 0; i < w->n; i++)
		w->m[i].alive = 0;
	w->mstate = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct pstat ps;
		struct member *mb;
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (*end || v <= 0 || read_pstat((pid_t)v, &ps) < 0)
			continue;
		if (ps.pid == w->master) {
			if (ps.start == w->mstart)
				w->mstate = ps.state;
			continue;
		}
		if (!strcmp(ps.comm, "dovecot") && ps.start > w->t0_ticks &&
		    ps.state != 'Z' && !w->newmaster)
			newm = 1;	/* looked at below */
		mb = find_member(w, ps.pid, ps.start);
		if (!mb && !(w->master && !w->master_gone &&
			     (ps.ppid == w->master ||
			      (w->session && ps.sid == w->sid &&
			       !other_masters_child(w, &ps))) &&
			     (!w->by_title || title_is(ps.pid, w->prefix))) &&
		    !(orphans && orphan(w, &ps)))
			continue;
		if (!mb) {
			if (w->n == w->cap) {
				w->cap = w->cap ? w->cap * 2 : 32;
				w->m = xrealloc(w->m, w->cap * sizeof *w->m);
			}
			mb = &w->m[w->n++];
			memset(mb, 0, sizeof *mb);
			mb->pid = ps.pid;
			mb->start = ps.start;
			mb->late = w->quiet;
		}
		memcpy(mb->comm, ps.comm, sizeof mb->comm);
		mb->alive = ps.state != 'Z' && ps.state != 'X';
	}
	closedir(d);
	/* A new "dovecot" (this host's new Dovecot, in a local test) costs
	 * a look at every title: every tenth scan is soon enough. */
	if (newm && w->nscan++ % 10 == 0)
		w->newmaster = title_master(w, w->t0_ticks, NULL);
}

/* Is the process's program a file named "dovecot" (not a script of that
 * name, whose program is its interpreter)?  Yes when it cannot be told. */
static int dovecot_exe(pid_t pid)
{
	char path[64], b[4096];
	ssize_t n;
	const char *base;

	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	n = readlink(path, b, sizeof b - 1);
	if (n <= 0)
		return 1;
	b[n] = '\0';
	if (n > 10 && !strcmp(b + n - 10, " (deleted)"))
		b[n - 10] = '\0';	/* upgraded since it started */
	base = strrchr(b, '/');
	return !strcmp(base ? base + 1 : b, "dovecot");
}

/* The running Dovecot master the pid file names, if any. */
static int read_master(const char *pidfile, struct pstat *ps)
{
	char b[64], *end;
	long v;
	int fd;

	fd = open(pidfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	v = read(fd, b, sizeof b - 1);
	close(fd);
	if (v <= 0)
		return -1;
	b[v] = '\0';
	v = strtol(b, &end, 10);
	if (v <= 1 || v > 0x7fffffffL || (*end && *end != '\n') ||
	    read_pstat((pid_t)v, ps) < 0 || strcmp(ps->comm, "dovecot") ||
	    ps->state == 'Z' || ps->state == 'X' || !dovecot_exe(ps->pid))
		return -1;
	return 0;
}

struct dwatch *dwatch_new(const char *pidfile, const char *instance,
			  double timeout)
{
	struct dwatch *w = xcalloc(1, sizeof *w);
	struct pstat ps;

	w->t0 = mono_now();
	w->timeout = timeout;
	w->pidfile = xstrdup(pidfile);
	if (instance && *instance) {
		/* Dovecot's titles: "dovecot/imap" for the default name,
		 * "dovecot-NAME/imap" for others not beginning so. */
		int own = !strncmp(instance, "dovecot", 7);
		size_t n = strlen(instance) + 10;

		w->prefix = xmalloc(n);
		snprintf(w->prefix, n, "%s%s/", own ? "" : "dovecot-",
			 instance);
		w->by_title = 1;
	}
	buf_init(&w->ended, 0);
	buf_init(&w->note, 0);
	w->t0_ticks = ticks_now();
	if (read_master(pidfile, &ps) == 0) {
		w->master = ps.pid;
	} else {
		/* master.pid names none (moved, removed, garbage): a master
		 * whose children bear this Dovecot's title is the one. */
		int n = 0;
		pid_t m = title_master(w, 0, &n);

		if (n > 1)
			w->several = 1;
		else if (m && read_pstat(m, &ps) == 0) {
			w->master = m;
			buf_printf(&w->note, "%s names no running Dovecot "
				   "master, but its processes' titles (%s) "
				   "name one: pid %d", pidfile, w->prefix,
				   (int)m);
		}
	}
	if (w->master) {
		int n, titled;

		w->mstart = ps.start;
		w->sid = ps.sid;
		w->session = ps.sid == ps.pid;
		/* A Dovecot whose titles are not as expected (another
		 * version, another instance_name): its session and children
		 * alone say what is its. */
		master_children(w, &n, &titled);
		if (w->prefix && n && !titled) {
			buf_reset(&w->note);
			buf_printf(&w->note, "no process of the Dovecot master "
				   "(pid %d) has a title beginning \"%s\": "
				   "its session and children are taken as its "
				   "processes (those a dead master left are "
				   "looked for by that title once it has "
				   "exited)", (int)w->master, w->prefix);
			w->by_title = 0;
		}
	}
	scan(w, 1);
	for (size_t i = 0; i < w->n; i++)
		if (w->m[i].alive && !strcmp(w->m[i].comm, "anvil"))
			w->anvil_seen = 1;
	return w;
}

void dwatch_free(struct dwatch *w)
{
	if (!w)
		return;
	free(w->m);
	free(w->pidfile);
	free(w->prefix);
	buf_release(&w->ended);
	buf_release(&w->note);
	free(w);
}

int dwatch_active(const struct dwatch *w)
{
	return w && !w->done;
}

static int fail(struct dwatch *w, struct buf *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct dwatch *w, struct buf *msg, const char *fmt, ...)
{
	va_list ap;
	char b[512];

	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	buf_reset(msg);
	buf_add(msg, b, strlen(b));
	w->done = 1;
	return DW_FAIL;
}

/* Has a Dovecot master other than the one watched started?  Fills `msg`. */
int dwatch_restarted(struct dwatch *w, struct buf *msg)
{
	struct pstat ps;

	if (read_master(w->pidfile, &ps) < 0 ||
	    (ps.pid == w->master && ps.start == w->mstart))
		return 0;
	if (w->master)
		fail(w, msg, "the old Dovecot was started again (master pid "
		     "%d) after its master pid %d had exited", (int)ps.pid,
		     (int)w->master);
	else
		fail(w, msg, "a Dovecot was started there (master pid %d) "
		     "while it was being stopped", (int)ps.pid);
	return 1;
}

/* SIGTERM to the members that can touch mail and have not had it. */
static void end_members(struct dwatch *w, double now)
{
	for (size_t i = 0; i < w->n; i++) {
		struct member *mb = &w->m[i];
		char b[64];

		if (!mb->alive || harmless(mb->comm) || mb->signalled)
			continue;
		if (kill(mb->pid, SIGTERM) < 0 && errno != ESRCH)
			continue;
		mb->signalled = 1;
		snprintf(b, sizeof b, "%s%s (pid %d)", w->nended ? ", " : "",
			 mb->comm, (int)mb->pid);
		if (w->ended.len < 400)
			buf_add(&w->ended, b, strlen(b));
		w->nended++;
		if (w->term_at == 0)
			w->term_at = now;
	}
}

/*
 * One step of the watch, called every few milliseconds; `exited` says
 * whether the stop command has ended and `status` how.  Returns DW_WAIT,
 * DW_QUIET (once; `msg` holds the MT_QUIET payload), DW_DONE or DW_FAIL
 * (`msg` says why).
 */
int dwatch_step(struct dwatch *w, int exited, int status, struct buf *msg)
{
	double now = mono_now();
	int gone, left_loop, anvil = 0, others = 0;
	size_t i;

	if (w->done)
		return DW_DONE;
	if (w->several)
		return fail(w, msg, "%s names no running Dovecot master, and "
			    "the titles of its processes (%s) name several: "
			    "cannot tell which is the old one", w->pidfile,
			    w->prefix);
	if (exited && w->exit_at == 0)
		w->exit_at = now;
	/* With no master to watch, what the command stopped can only be
	 * looked for once it has ended: processes it left without one. */
	scan(w, !w->master && exited && !w->rescanned);
	if (!w->master && exited)
		w->rescanned = 1;
	gone = w->mstate == 0 || w->mstate == 'Z';
	if (gone && !w->master_gone) {
		w->master_gone = 1;
		w->gone_at = now;
		/* Processes of this Dovecot with no master left: those the
		 * watched master forked unseen, and those an earlier master
		 * left when it died (its master.pid, stale, may have named
		 * the master just watched: another Dovecot's, pid reused). */
		if (w->master)
			scan(w, 1);
	}
	for (i = 0; i < w->n; i++) {
		struct member *mb = &w->m[i];

		if (!mb->alive)
			continue;
		if (!strcmp(mb->comm, "anvil"))
			anvil = 1;
		if (mb->late)
			return fail(w, msg, "the old Dovecot started %s (pid "
				    "%d) after it had stopped serving mail",
				    mb->comm, (int)mb->pid);
		if (!harmless(mb->comm))
			others++;
	}
	left_loop = gone || (w->anvil_seen && !anvil &&
			     master_sleeps(w->master));
	if (gone && dwatch_restarted(w, msg))
		return DW_FAIL;
	if (w->newmaster)
		return fail(w, msg, "a Dovecot master (pid %d) with the old "
			    "one's processes was started there while the old "
			    "one was being stopped", (int)w->newmaster);
	/* A failed command and a master that still serves: the controller
	 * reports the status; the Dovecot was not stopped. */
	if (exited && status != 0 && !left_loop &&
	    now - w->exit_at > FAIL_GRACE_MS / 1000.0) {
		w->done = 1;
		return DW_DONE;
	}
	if (w->quiet) {
		/* A master the command started again shows within the
		 * settle time (its children bear the title). */
		if (exited && gone && now - w->exit_at >= SETTLE_MS / 1000.0) {
			w->done = 1;
			return DW_DONE;
		}
		/* Stopped, master gone, and the command hangs on: it is
		 * ended (the caller does it, seeing it has not exited). */
		if (!exited && gone && w->gone_at &&
		    now - w->gone_at > EXIT_GRACE_MS / 1000.0) {
			w->done = 1;
			return DW_DONE;
		}
	} else if (left_loop && !others) {
		/* No master: only the command's end says the Dovecot has
		 * stopped.  A failed command gets no quiet, whatever it
		 * stopped: the controller stops before its cold sync. */
		if (!w->master && !exited)
			return DW_WAIT;
		if (exited && status != 0) {
			w->done = 1;
			return DW_DONE;
		}
		w->quiet = 1;
		w->quiet_at = now;
		buf_reset(msg);
		pk_u32(msg, (uint32_t)((now - w->t0) * 1000));
		pk_u32(msg, w->nended);
		pk_str(msg, w->ended.data, w->ended.len);
		pk_cstr(msg, !w->master ? "not running" : gone ? "exited" :
			"exiting");
		pk_str(msg, w->note.data, w->note.len);
		return DW_QUIET;
	} else if (left_loop) {
		end_members(w, now);
		if (w->term_at && now - w->term_at > TERM_GRACE_MS / 1000.0)
			for (i = 0; i < w->n; i++)
				if (w->m[i].alive && w->m[i].signalled)
					return fail(w, msg, "%s (pid %d) of the "
						    "old Dovecot did not end "
						    "within %d s of SIGTERM; "
						    "it may still change mail",
						    w->m[i].comm,
						    (int)w->m[i].pid,
						    TERM_GRACE_MS / 1000);
	}
	if (exited && now - w->exit_at > EXIT_GRACE_MS / 1000.0) {
		for (i = 0; left_loop && i < w->n; i++)
			if (w->m[i].alive && !harmless(w->m[i].comm))
				return fail(w, msg, "%s (pid %d) of the old "
					    "Dovecot still runs %d s after the "
					    "stop command ended, and cannot be "
					    "ended from here; it may still "
					    "change mail", w->m[i].comm,
					    (int)w->m[i].pid,
					    EXIT_GRACE_MS / 1000);
		return fail(w, msg, "the old Dovecot (master pid %d) still "
			    "runs %d s after the stop command ended",
			    (int)w->master, EXIT_GRACE_MS / 1000);
	}
	if (now - w->t0 > w->timeout) {
		if (!w->master || w->master_gone)
			return fail(w, msg, "the stop command did not end "
				    "within %.0f s", w->timeout);
		return fail(w, msg, "the old Dovecot (master pid %d) did not "
			    "stop within %.0f s", (int)w->master, w->timeout);
	}
	return DW_WAIT;
}
