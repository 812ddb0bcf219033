/*
 * verify_dove.c: the Dovecot check of `mailmove verify --dovecot`.
 *
 * Asks Dovecot itself, on both sides, what each user's mailboxes hold:
 * `doveadm -f tab fetch -u USER "mailbox uid guid flags date.received
 * size.physical date.saved" ALL` and `doveadm -f tab mailbox status -u USER
 * "messages uidvalidity" "*"`.  On the old server doveadm runs through the
 * agent, here as a child (no shell), both at the same time.  This sees what
 * the files alone cannot: a uidlist Dovecot rejects (it renumbers), a folder
 * it does not list, keywords it does not know.  Dates are printed in UTC
 * (TZ=UTC) so that two servers in different time zones compare.  The save
 * date (date.saved: autoexpunge and SEARCH SAVEDBEFORE use it) lives only
 * in Dovecot's index files, so it matches only when they were copied (the
 * cutover's cold sync does that where it can); a difference is reported as
 * a date difference.
 *
 * The tab output is parsed by its header line, so the column order does not
 * matter; \Recent is dropped (it belongs to a session, not a message).
 */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "base.h"
#include "remote.h"
#include "banned.h"

#define DOVE_OUT_MAX (512u << 20)

static const char fetch_fields[] =
	"mailbox uid guid flags date.received size.physical date.saved";

struct drec {
	char *mailbox, *guid, *flags, *date, *saved;
	uint32_t uid;
	uint64_t size;
};

struct dbox {
	char *mailbox;
	uint64_t messages;
	uint32_t uidvalidity;
};

struct dside {
	struct drec *r;
	size_t n;
	struct dbox *b;
	size_t nb;
};

static void dside_release(struct dside *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->r[i].mailbox);
		free(d->r[i].guid);
		free(d->r[i].flags);
		free(d->r[i].date);
		free(d->r[i].saved);
	}
	free(d->r);
	for (i = 0; i < d->nb; i++)
		free(d->b[i].mailbox);
	free(d->b);
	memset(d, 0, sizeof *d);
}

/* The argv of one doveadm call: env TZ=UTC doveadm [-c CONF] -f tab ... */
static char **dove_argv(const char *doveadm, const char *conf,
			const char *const *rest)
{
	char **argv = xcalloc(16, sizeof *argv);
	int n = 0;

	argv[n++] = "env";
	argv[n++] = "TZ=UTC";
	argv[n++] = (char *)doveadm;
	if (conf) {
		argv[n++] = "-c";
		argv[n++] = (char *)conf;
	}
	argv[n++] = "-f";
	argv[n++] = "tab";
	while (*rest && n < 15)
		argv[n++] = (char *)*rest++;
	argv[n] = NULL;
	return argv;
}

/* A local child whose output goes to memory files, so that it can run
 * while the old server's doveadm answers through the agent. */
struct local_run {
	pid_t pid;
	int out, err;
};

static int local_start(char *const *argv, struct local_run *lr)
{
	lr->out = memfd_create("doveadm-out", MFD_CLOEXEC);
	lr->err = memfd_create("doveadm-err", MFD_CLOEXEC);
	if (lr->out < 0 || lr->err < 0) {
		log_error("memfd_create: %s", strerror(errno));
		return -1;
	}
	lr->pid = fork();
	if (lr->pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (lr->pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(lr->out, 1);
		dup2(lr->err, 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return 0;
}

static void read_memfd(int fd, struct buf *out)
{
	char chunk[65536];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, chunk, sizeof chunk, off)) > 0) {
		if (buf_add(out, chunk, (size_t)n) < 0)
			break;
		off += n;
	}
}

/* Waits for the child; returns its exit status (or -signal). */
static int local_finish(struct local_run *lr, struct buf *out, struct buf *err)
{
	int st = 0;

	while (waitpid(lr->pid, &st, 0) < 0 && errno == EINTR)
		;
	read_memfd(lr->out, out);
	read_memfd(lr->err, err);
	close(lr->out);
	close(lr->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* Runs the same doveadm call on both sides at once.  Returns MM_OK with
 * each side's status in *sst / *dst_st, or an exit code when the old
 * server's agent is gone. */
static int run_both(struct verify *v, const struct verify_dove_opts *o,
		    const char *const *rest, struct buf *sout, struct buf *serr,
		    int *sst, struct buf *dout, struct buf *derr, int *dst_st)
{
	char **sargv = dove_argv(o->src_doveadm, o->src_config, rest);
	char **dargv = dove_argv(o->dst_doveadm, o->dst_config, rest);
	struct local_run lr = { -1, -1, -1 };
	int rc, started;

	started = local_start(dargv, &lr) == 0;
	rc = remote_run(v->src, sargv, NULL, sout, serr, DOVE_OUT_MAX, sst);
	if (started) {
		*dst_st = local_finish(&lr, dout, derr);
	} else {
		if (lr.out >= 0)
			close(lr.out);
		if (lr.err >= 0)
			close(lr.err);
		*dst_st = 127;
		buf_addstr(derr, "cannot start doveadm");
	}
	free(sargv);
	free(dargv);
	if (rc < 0)
		return ep_exit_code(v->src);
	if (rc > 0) {
		*sst = 127;
		buf_printf(serr, "%s: %s", o->src_doveadm, strerror(rc));
	}
	return MM_OK;
}

/* The first line of a program's error output, for a message. */
static void first_line(const struct buf *b, struct buf *out)
{
	const char *s = b->data ? b->data : "";
	const char *nl = memchr(s, '\n', b->len);

	buf_reset(out);
	buf_add(out, s, nl ? (size_t)(nl - s) : b->len);
	if (!out->len)
		buf_addstr(out, "no message");
}

/* Splits tab output into lines of fields: calls cb per data line with the
 * fields mapped to the wanted columns (NULL when absent). */
static int parse_tab(struct buf *text, const char *const *want, size_t nwant,
		     void (*cb)(void *arg, char **f), void *arg)
{
	char *p = text->data, *end = p ? p + text->len : NULL, *line;
	int col[8];
	size_t k;
	int header = 1;

	if (!p)
		return -1;
	for (k = 0; k < nwant; k++)
		col[k] = -1;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *fields[64];
		int nf = 0;
		char *f[8];

		line = p;
		if (nl)
			*nl = '\0';
		else
			*end = '\0';	/* buf keeps a spare byte */
		p = nl ? nl + 1 : end;
		if (!*line)
			continue;
		for (char *q = line; nf < 64;) {
			char *tab = strchr(q, '\t');
			fields[nf++] = q;
			if (!tab)
				break;
			*tab = '\0';
			q = tab + 1;
		}
		if (nf && fields[nf - 1][0] &&
		    fields[nf - 1][strlen(fields[nf - 1]) - 1] == '\r')
			fields[nf - 1][strlen(fields[nf - 1]) - 1] = '\0';
		if (header) {
			header = 0;
			for (k = 0; k < nwant; k++)
				for (int i = 0; i < nf; i++)
					if (!strcmp(fields[i], want[k]))
						col[k] = i;
			for (k = 0; k < nwant; k++)
				if (col[k] < 0)
					return -1;
			continue;
		}
		for (k = 0; k < nwant; k++)
			f[k] = col[k] < nf ? fields[col[k]] : NULL;
		cb(arg, f);
	}
	return header ? -1 : 0;
}

/* Flags without \Recent, sorted, so that both sides compare. */
static char *norm_flags(const char *s)
{
	char *copy = xstrdup(s ? s : ""), *tok, *save, *words[128];
	struct buf out = BUF_INIT;
	size_t n = 0, i, j;

	for (tok = strtok_r(copy, " ", &save); tok && n < 128;
	     tok = strtok_r(NULL, " ", &save))
		if (strcmp(tok, "\\Recent"))
			words[n++] = tok;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(words[j - 1], words[j]) > 0; j--) {
			char *t = words[j];
			words[j] = words[j - 1];
			words[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		buf_printf(&out, "%s%s", i ? " " : "", words[i]);
	free(copy);
	if (!out.len)
		buf_addstr(&out, "");
	return buf_detach(&out);
}

/* A doveadm output being parsed into one side: the array's capacity. */
struct side_parse {
	struct dside *d;
	size_t cap;
};

static void fetch_line(void *arg, char **f)
{
	struct side_parse *p = arg;
	struct drec *r;
	uint64_t v;

	if (!f[0] || !f[1] || !f[2])
		return;
	XGROW(p->d->r, p->d->n, p->cap, 256);
	r = &p->d->r[p->d->n++];
	r->mailbox = xstrdup(f[0]);
	r->uid = mm_parse_u64(f[1], &v) == 0 && v <= UINT32_MAX ?
		 (uint32_t)v : 0;
	r->guid = xstrdup(f[2]);
	r->flags = norm_flags(f[3]);
	r->date = xstrdup(f[4] ? f[4] : "");
	r->size = f[5] && mm_parse_u64(f[5], &v) == 0 ? v : UINT64_MAX;
	r->saved = xstrdup(f[6] ? f[6] : "");
}

static void status_line(void *arg, char **f)
{
	struct side_parse *p = arg;
	struct dbox *b;
	uint64_t v;

	if (!f[0])
		return;
	XGROW(p->d->b, p->d->nb, p->cap, 16);
	b = &p->d->b[p->d->nb++];
	b->mailbox = xstrdup(f[0]);
	b->messages = f[1] && mm_parse_u64(f[1], &v) == 0 ? v : 0;
	b->uidvalidity = f[2] && mm_parse_u64(f[2], &v) == 0 &&
			 v <= UINT32_MAX ? (uint32_t)v : 0;
}

static int cmp_drec(const void *pa, const void *pb)
{
	const struct drec *a = pa, *b = pb;
	int r = strcmp(a->mailbox, b->mailbox);

	return r ? r : strcmp(a->guid, b->guid);
}

static int cmp_dbox(const void *pa, const void *pb)
{
	return strcmp(((const struct dbox *)pa)->mailbox,
		      ((const struct dbox *)pb)->mailbox);
}

static void compare_boxes(struct verify *v, const char *user,
			  struct dside *s, struct dside *d)
{
	size_t i = 0, j = 0;

	qsort(s->b, s->nb, sizeof *s->b, cmp_dbox);
	qsort(d->b, d->nb, sizeof *d->b, cmp_dbox);
	while (i < s->nb || j < d->nb) {
		int r = i == s->nb ? 1 : j == d->nb ? -1 :
			strcmp(s->b[i].mailbox, d->b[j].mailbox);
		json_t *o;

		if (r < 0) {
			o = json_pack("{s:s, s:I}", "via", "doveadm",
				      "messages", (json_int_t)s->b[i].messages);
			verify_note(&v->dove, VC_FOLDER_MISSING, user,
				    s->b[i].mailbox, NULL, o, "Dovecot does not "
				    "list this folder on the destination");
			i++;
		} else if (r > 0) {
			o = json_pack("{s:s, s:I}", "via", "doveadm",
				      "messages", (json_int_t)d->b[j].messages);
			verify_note(&v->dove, VC_FOLDER_DEST_ONLY, user,
				    d->b[j].mailbox, NULL, o, "folder only on "
				    "the destination");
			j++;
		} else {
			if (s->b[i].uidvalidity != d->b[j].uidvalidity) {
				o = json_pack("{s:s, s:s, s:I, s:I}", "via",
					"doveadm", "reason", "uidvalidity",
					"src_uidvalidity",
					(json_int_t)s->b[i].uidvalidity,
					"dest_uidvalidity",
					(json_int_t)d->b[j].uidvalidity);
				verify_note(&v->dove, VC_UID, user,
					    s->b[i].mailbox, NULL, o,
					    "UIDVALIDITY %u on the source, %u here",
					    s->b[i].uidvalidity,
					    d->b[j].uidvalidity);
			}
			i++;
			j++;
		}
	}
}

/* Is `mailbox` one Dovecot lists on the destination? */
static int dest_has_box(const struct dside *d, const char *mailbox)
{
	struct dbox key;

	key.mailbox = (char *)mailbox;
	return bsearch(&key, d->b, d->nb, sizeof *d->b, cmp_dbox) != NULL;
}

static void compare_msgs(struct verify *v, const char *user,
			 struct dside *s, struct dside *d)
{
	struct vcounts *uc = vreport_user(&v->dove, user);
	size_t i = 0, j = 0;

	qsort(s->r, s->n, sizeof *s->r, cmp_drec);
	qsort(d->r, d->n, sizeof *d->r, cmp_drec);
	uc->checked += s->n;
	v->dove.total.checked += s->n;
	while (i < s->n || j < d->n) {
		int r = i == s->n ? 1 : j == d->n ? -1 :
			cmp_drec(&s->r[i], &d->r[j]);
		const struct drec *a = i < s->n ? &s->r[i] : NULL;
		const struct drec *b = j < d->n ? &d->r[j] : NULL;
		json_t *o;

		if (r < 0) {
			/* A whole folder missing is reported once, above. */
			if (dest_has_box(d, a->mailbox)) {
				o = json_pack("{s:s, s:I}", "via", "doveadm",
					      "src_uid", (json_int_t)a->uid);
				verify_note(&v->dove, VC_MISSING, user,
					    a->mailbox, a->guid, o, "UID %u",
					    a->uid);
			} else {
				uc = vreport_user(&v->dove, user);
				uc->n[VC_MISSING]++;
				v->dove.total.n[VC_MISSING]++;
			}
			i++;
			continue;
		}
		if (r > 0) {
			o = json_pack("{s:s, s:I}", "via", "doveadm",
				      "dest_uid", (json_int_t)b->uid);
			verify_note(&v->dove, VC_DEST_ONLY, user, b->mailbox,
				    b->guid, o, "UID %u (new delivery?)",
				    b->uid);
			j++;
			continue;
		}
		if (strcmp(a->flags, b->flags)) {
			o = json_pack("{s:s, s:s, s:s}", "via", "doveadm",
				      "src_flags", a->flags, "dest_flags",
				      b->flags);
			verify_note(&v->dove, VC_FLAGS, user, a->mailbox,
				    a->guid, o, "flags \"%s\" on the source, \"%s\" here",
				    a->flags, b->flags);
		}
		if (a->size != b->size) {
			o = json_pack("{s:s, s:s, s:I, s:I}", "via", "doveadm",
				      "reason", "size", "src_size",
				      (json_int_t)a->size, "dest_size",
				      (json_int_t)b->size);
			verify_note(&v->dove, VC_CONTENT, user, a->mailbox,
				    a->guid, o, "size %llu on the source, %llu here",
				    (unsigned long long)a->size,
				    (unsigned long long)b->size);
		}
		if (a->uid != b->uid) {
			o = json_pack("{s:s, s:I, s:I}", "via", "doveadm",
				      "src_uid", (json_int_t)a->uid,
				      "dest_uid", (json_int_t)b->uid);
			verify_note(&v->dove, VC_UID, user, a->mailbox, a->guid,
				    o, "UID %u on the source, %u here", a->uid, b->uid);
		}
		if (strcmp(a->date, b->date)) {
			o = json_pack("{s:s, s:s, s:s}", "via", "doveadm",
				      "src_date", a->date, "dest_date",
				      b->date);
			verify_note(&v->dove, VC_DATE, user, a->mailbox,
				    a->guid, o, "received %s on the source, %s here (UTC)",
				    a->date, b->date);
		}
		if (strcmp(a->saved, b->saved)) {
			o = json_pack("{s:s, s:s, s:s, s:s}", "via", "doveadm",
				      "reason", "saved", "src_saved", a->saved,
				      "dest_saved", b->saved);
			verify_note(&v->dove, VC_DATE, user, a->mailbox,
				    a->guid, o, "saved %s on the source, %s here "
				    "(UTC; Dovecot's index files not copied?)",
				    a->saved, b->saved);
		}
		i++;
		j++;
	}
}

static void dove_error(struct verify *v, const char *user, const char *side,
		       const struct buf *err, int status)
{
	struct buf line = BUF_INIT;
	json_t *o;

	first_line(err, &line);
	o = json_pack("{s:s, s:s, s:i}", "via", "doveadm", "side", side,
		      "status", status);
	verify_note(&v->dove, VC_ERROR, user, "", NULL, o,
		    "doveadm on the %s failed (status %d): %s", side, status,
		    line.data);
	buf_release(&line);
}

/*
 * Runs one doveadm query for `user` on both sides at once and parses both
 * outputs (columns `cols`, one call of cb per line, into ps and pd).
 * Returns an exit code when the old server is lost; a failing doveadm or
 * output that does not parse is noted as an error of the user and leaves
 * *ok at 0.
 */
static int dove_query(struct verify *v, const struct verify_dove_opts *o,
		      const char *user, const char *const *cmd,
		      const char *const *cols, size_t ncols,
		      void (*cb)(void *arg, char **f), void *ps, void *pd,
		      int *ok)
{
	struct buf so = BUF_INIT, se = BUF_INIT, dout = BUF_INIT, de = BUF_INIT;
	int sst, dst, rc;

	*ok = 0;
	rc = run_both(v, o, cmd, &so, &se, &sst, &dout, &de, &dst);
	if (rc)
		goto out;
	if (sst || dst) {
		if (sst)
			dove_error(v, user, "source", &se, sst);
		if (dst)
			dove_error(v, user, "destination", &de, dst);
		goto out;
	}
	if (parse_tab(&so, cols, ncols, cb, ps) < 0 ||
	    parse_tab(&dout, cols, ncols, cb, pd) < 0) {
		log_error("doveadm %s for %s: unexpected output", cmd[0], user);
		verify_note(&v->dove, VC_ERROR, user, "", NULL, NULL,
			    "unexpected doveadm output");
		goto out;
	}
	*ok = 1;
out:
	buf_release(&so);
	buf_release(&se);
	buf_release(&dout);
	buf_release(&de);
	return rc;
}

/* Checks one user: folders first, then messages. */
static int dove_user(struct verify *v, const struct verify_dove_opts *o,
		     const char *user)
{
	const char *status_cmd[] = { "mailbox", "status", "-u", user,
				     "messages uidvalidity", "*", NULL };
	const char *fetch_cmd[] = { "fetch", "-u", user, fetch_fields, "ALL",
				    NULL };
	static const char *const box_cols[] = { "mailbox", "messages",
						"uidvalidity" };
	static const char *const msg_cols[] = { "mailbox", "uid", "guid",
		"flags", "date.received", "size.physical", "date.saved" };
	struct dside s, d;
	int rc, ok;

	memset(&s, 0, sizeof s);
	memset(&d, 0, sizeof d);
	vreport_user(&v->dove, user);
	{
		struct side_parse ps = { &s, 0 }, pd = { &d, 0 };
		rc = dove_query(v, o, user, status_cmd, box_cols, 3,
				status_line, &ps, &pd, &ok);
	}
	if (rc || !ok)
		goto out;
	compare_boxes(v, user, &s, &d);
	{
		struct side_parse ps = { &s, 0 }, pd = { &d, 0 };
		rc = dove_query(v, o, user, fetch_cmd, msg_cols, 7,
				fetch_line, &ps, &pd, &ok);
	}
	if (rc || !ok)
		goto out;
	compare_msgs(v, user, &s, &d);
out:
	dside_release(&s);
	dside_release(&d);
	return rc;
}

/* The users Dovecot knows on the old server: `doveadm user '*'`. */
static int list_users(struct verify *v, const struct verify_dove_opts *o,
		      char ***users, size_t *n)
{
	const char *rest[] = { "user", "*", NULL };
	char **argv = dove_argv(o->src_doveadm, o->src_config, rest);
	struct buf out = BUF_INIT, err = BUF_INIT, line = BUF_INIT;
	int st, rc;
	char *p, *save, *tok;

	/* `user` prints plain names, one a line; -f tab is harmless. */
	rc = remote_run(v->src, argv, NULL, &out, &err, DOVE_OUT_MAX, &st);
	free(argv);
	if (rc < 0) {
		rc = ep_exit_code(v->src);
		goto out;
	}
	if (rc > 0 || st) {
		first_line(&err, &line);
		log_error("doveadm user '*' on the old server failed: %s",
			  rc > 0 ? strerror(rc) : line.data);
		verify_note(&v->dove, VC_ERROR, v->src_label, "", NULL, NULL,
			    "doveadm user '*' on the old server failed: %s",
			    rc > 0 ? strerror(rc) : line.data);
		rc = MM_OK;
		goto out;
	}
	buf_putc(&out, '\0');
	for (tok = strtok_r(out.data, "\r\n", &save); tok;
	     tok = strtok_r(NULL, "\r\n", &save)) {
		p = tok;
		if (!*p || !strcmp(p, "username") || !strcmp(p, "user"))
			continue;
		*users = xrealloc(*users, (*n + 1) * sizeof **users);
		(*users)[(*n)++] = xstrdup(p);
	}
out:
	buf_release(&out);
	buf_release(&err);
	buf_release(&line);
	return rc;
}

int verify_dovecot(struct verify *v, const struct verify_dove_opts *o)
{
	char **users = NULL;
	size_t n = 0, i;
	struct progress prog;
	int rc = MM_OK;

	if (o->nusers) {
		for (i = 0; i < o->nusers; i++) {
			users = xrealloc(users, (n + 1) * sizeof *users);
			users[n++] = xstrdup(o->users[i]);
		}
	} else {
		rc = list_users(v, o, &users, &n);
	}
	progress_start(&prog, "doveadm", n, 0);
	for (i = 0; i < n && rc == MM_OK; i++) {
		if (mm_interrupted) {
			rc = MM_EINTR;
			break;
		}
		log_verbose("asking Dovecot about %s", users[i]);
		rc = dove_user(v, o, users[i]);
		progress_add(&prog, 1, 0);
	}
	progress_end(&prog);
	for (i = 0; i < n; i++)
		free(users[i]);
	free(users);
	return rc;
}
