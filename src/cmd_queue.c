/*
 * cmd_queue.c: `mailmove queue`, what is stuck after the switch.
 *
 * Reads `postqueue -j` (one JSON object per message) on this machine, or
 * on the old server with --from, and shows the counts per queue, the
 * delay reasons grouped, the oldest message, the recipient domains, and
 * the recipients smtpd refused (temporarily, because soft_bounce is on)
 * since soft_bounce was turned on, from the mail log or the journal.
 * `--delete ID...` removes exactly the named messages with postsuper.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "ask.h"
#include "fsops.h"
#include "log.h"
#include "mailmove.h"
#include "postfix.h"
#include "queue.h"
#include "remote.h"
#include "switch_state.h"
#include "banned.h"

/* The most of postqueue's output and of the log that is read. */
#define QUEUE_MAX	(256u << 20)

struct queue_opts {
	const char *config_dir;
	const char *log_file;
	const char *state_path;
	int watch, del, yes;
	uint64_t interval;
};

enum {
	OPT_PF_CONFIG = 3000, OPT_LOG, OPT_WATCH, OPT_DELETE, OPT_YES,
	OPT_QINTERVAL, OPT_QSTATE,
};

static const struct option queue_options[] = {
	{ "postfix-config", required_argument, NULL, OPT_PF_CONFIG },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "watch", no_argument, NULL, OPT_WATCH },
	{ "delete", no_argument, NULL, OPT_DELETE },
	{ "yes", no_argument, NULL, OPT_YES },
	{ "interval", required_argument, NULL, OPT_QINTERVAL },
	{ "state", required_argument, NULL, OPT_QSTATE },
	{ NULL, 0, NULL, 0 },
};

static int queue_on_opt(void *arg, int key, const char *val)
{
	struct queue_opts *o = arg;

	switch (key) {
	case OPT_PF_CONFIG:
		o->config_dir = val;
		return 0;
	case OPT_LOG:
		o->log_file = val;
		return 0;
	case OPT_WATCH:
		o->watch = 1;
		return 0;
	case OPT_DELETE:
		o->del = 1;
		return 0;
	case OPT_YES:
	case 'y':
		o->yes = 1;
		return 0;
	case OPT_QINTERVAL:
		if (mm_parse_u64(val, &o->interval) < 0 || !o->interval) {
			log_error("queue: --interval %s: give a number of "
				  "seconds", val);
			return -1;
		}
		return 0;
	case OPT_QSTATE:
		o->state_path = val;
		return 0;
	}
	return -1;
}

/* Runs postqueue -j and parses it.  Returns MM_OK or an exit code. */
static int queue_read(struct pf_runner *pr, struct qlist *q)
{
	static const char *const args[] = { "-j", NULL };
	struct buf out = BUF_INIT, err = BUF_INIT;
	int rc, status;
	size_t bad;

	rc = pf_run(pr, "postqueue", args, NULL, &out, &err, QUEUE_MAX,
		    &status);
	if (rc < 0) {
		rc = ep_exit_code(pr->ep);
		goto out;
	}
	if (rc > 0 || status != 0) {
		log_error("queue: postqueue -j %s: %s", rc ? "failed"
			  : "exited with an error",
			  rc ? strerror(rc) : buf_cstr(&err));
		rc = pr->ep ? MM_EREMOTE : MM_EDEST;
		goto out;
	}
	bad = qlist_parse(buf_cstr(&out), q);
	if (bad)
		log_warn("queue: %zu lines of postqueue -j were not queue "
			 "entries", bad);
	rc = MM_OK;
out:
	buf_release(&out);
	buf_release(&err);
	return rc;
}

static void print_quoted(const char *prefix, const char *s, const char *suffix)
{
	struct buf q = BUF_INIT;

	mm_quote(&q, s);
	log_out("%s%s%s", prefix, buf_cstr(&q), suffix);
	buf_release(&q);
}

struct counted {
	const char *key;
	json_int_t n;
};

static int counted_cmp(const void *a, const void *b)
{
	const struct counted *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* The map's entries, most frequent first, as an array of
 * {key_name: key, "count": n}; printed when `title` is set. */
static json_t *counted_report(json_t *map, const char *key_name,
			      const char *title, const char *unit)
{
	struct counted *c;
	const char *key;
	json_t *v, *arr = json_array();
	size_t n = 0, i;

	c = xcalloc(json_object_size(map) + 1, sizeof *c);
	json_object_foreach(map, key, v) {
		c[n].key = key;
		c[n].n = json_integer_value(v);
		n++;
	}
	qsort(c, n, sizeof *c, counted_cmp);
	if (title && n)
		log_out("%s:\n", title);
	for (i = 0; i < n; i++) {
		char num[48];

		json_array_append_new(arr, json_pack("{s:s,s:I}", key_name,
						     c[i].key, "count",
						     (json_int_t)c[i].n));
		if (title) {
			snprintf(num, sizeof num, "  %6lld %s  ",
				 (long long)c[i].n, unit);
			print_quoted(num, c[i].key, "\n");
		}
	}
	free(c);
	return arr;
}

/* Counts, reasons, age and domains of the queue; fields go into res. */
static void report_queue(const struct qlist *q, json_t *res)
{
	json_t *queues = json_object();
	struct queue_summary qs;
	int64_t now = (int64_t)time(NULL);
	size_t k, *counts = qs.counts, nrcpt, other;
	char age[32];

	queue_summarize(q, &qs);
	nrcpt = qs.nrcpt;
	other = qs.other;
	for (k = 0; k < QUEUE_NNAMES; k++)
		json_object_set_new(queues, queue_names[k],
				    json_integer((json_int_t)counts[k]));
	log_out("Queue: %zu message%s, %zu recipient%s (active %zu, "
		"deferred %zu, hold %zu, incoming %zu, maildrop %zu)\n",
		q->n, q->n == 1 ? "" : "s", nrcpt, nrcpt == 1 ? "" : "s",
		counts[0], counts[1], counts[2], counts[3], counts[4]);
	if (other)
		log_out("  %zu in other queues\n", other);
	if (qs.oldest) {
		mm_format_span(now - qs.oldest, 0, age, sizeof age);
		log_out("Oldest message: %s old (%s)\n", age, qs.oldest_id);
		json_object_set_new(res, "oldest_id", json_string(qs.oldest_id));
		json_object_set_new(res, "oldest_arrival",
				    json_integer(qs.oldest));
		json_object_set_new(res, "oldest_age",
				    json_integer(now - qs.oldest));
	}
	json_object_set_new(res, "messages", json_integer((json_int_t)q->n));
	json_object_set_new(res, "recipients", json_integer((json_int_t)nrcpt));
	json_object_set_new(res, "queues", queues);
	json_object_set_new(res, "delay_reasons",
			    counted_report(qs.reasons, "reason",
					   "Recipients by delay reason",
					   "rcpt"));
	json_object_set_new(res, "recipient_domains",
			    counted_report(qs.domains, "domain",
					   "Recipients by domain", "rcpt"));
	queue_summary_release(&qs);
}

/* The soft_bounce period: from the state, else Postfix's setting. */
static void softbounce_period(struct pf_runner *pr, const struct queue_opts *o,
			      const struct mm_ctx *ctx, int64_t *from,
			      int64_t *until, int *on)
{
	static const char *const args[] = { "-h", "soft_bounce", NULL };
	struct switch_state st;
	struct buf out = BUF_INIT, err = BUF_INIT;
	int64_t on_since = 0, off_since = 0;
	int status;

	*from = *until = 0;
	*on = 0;
	if (pf_run(pr, "postconf", args, NULL, &out, &err, 4096, &status) == 0
	    && status == 0)
		*on = !strncmp(buf_cstr(&out), "yes", 3);
	if (!pr->ep && switch_state_open(&st, ctx, o->state_path, 0) == 0) {
		switch_state_get_softbounce(&st, &on_since, &off_since);
		switch_state_release(&st);
	}
	if (on_since) {
		*from = on_since;
		if (off_since > on_since)
			*until = off_since;
	}
	buf_release(&out);
	buf_release(&err);
}

/* The refusals in the log within [from, until), grouped by reason. */
static void report_rejections(const char *log_text, const char *source,
			      int64_t from, int64_t until, json_t *res)
{
	json_t *reasons = json_object(), *list = json_array(),
	       *who = json_object(), *arr, *g;
	size_t n, k;
	char when[64];

	n = queue_group_rejections(log_text, (int64_t)time(NULL), from, until,
				   reasons, who, list);
	if (from) {
		mm_format_time(from, when, sizeof when);
		log_out("Refused recipients since soft_bounce was turned on "
			"(%s), from %s: %zu\n", when, source, n);
	} else {
		log_out("Refused recipients in %s (when soft_bounce was "
			"turned on is not recorded): %zu\n", source, n);
	}
	json_object_set_new(res, "rejections_source", json_string(source));
	json_object_set_new(res, "rejections", list);
	arr = counted_report(reasons, "reason", NULL, "rcpt");
	if (n)
		log_out("Refused, by reason (fix these, then the senders' "
			"retries get through):\n");
	json_array_foreach(arr, k, g) {
		const char *reason = json_string_value(json_object_get(g,
								"reason"));
		json_t *set = json_object_get(who, reason), *rcpts, *v;
		struct buf line_out = BUF_INIT;
		const char *addr;
		size_t i;
		char num[32];

		rcpts = json_array();
		json_object_foreach(set, addr, v)
			json_array_append_new(rcpts, json_string(addr));

		snprintf(num, sizeof num, "  %6lld rcpt  ",
			 (long long)json_integer_value(json_object_get(g,
								"count")));
		print_quoted(num, reason, "\n");
		json_array_foreach(rcpts, i, v) {
			if (i == 5) {
				buf_printf(&line_out, ", and %zu more",
					   json_array_size(rcpts) - 5);
				break;
			}
			if (i)
				buf_addstr(&line_out, ", ");
			mm_quote(&line_out, json_string_value(v));
		}
		log_out("               %s\n", buf_cstr(&line_out));
		buf_release(&line_out);
		json_object_set_new(g, "recipients", rcpts);
	}
	json_object_set_new(res, "rejection_reasons", arr);
	json_decref(reasons);
	json_decref(who);
}

/* One full report.  Returns MM_OK or an exit code. */
static int queue_report(struct pf_runner *pr, const struct queue_opts *o,
			const struct mm_ctx *ctx)
{
	struct qlist q;
	struct buf logtext = BUF_INIT, source = BUF_INIT;
	int64_t from, until;
	int rc, on;
	json_t *res;

	rc = queue_read(pr, &q);
	if (rc)
		return rc;
	res = json_object();
	report_queue(&q, res);
	softbounce_period(pr, o, ctx, &from, &until, &on);
	json_object_set_new(res, "soft_bounce", json_boolean(on));
	if (from)
		json_object_set_new(res, "soft_bounce_since", json_integer(from));
	if (on || from) {
		if (pf_read_log(pr, o->log_file, from, &logtext, &source) < 0) {
			rc = ep_exit_code(pr->ep);
			json_decref(res);
			goto out;
		}
		report_rejections(buf_cstr(&logtext), buf_cstr(&source), from,
				  until, res);
	} else {
		log_out("soft_bounce is off: refusals are final, not "
			"listed here (mailmove softbounce on)\n");
	}
	out_result(res);
out:
	qlist_release(&q);
	buf_release(&logtext);
	buf_release(&source);
	return rc;
}

static int queue_watch(struct pf_runner *pr, const struct queue_opts *o,
		       const struct mm_ctx *ctx)
{
	int tty = isatty(STDOUT_FILENO), rc = MM_OK;
	char when[64];

	while (!mm_interrupted) {
		double until;
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (tty)
			log_out("\033[H\033[2J");
		mm_format_time((int64_t)time(NULL), when, sizeof when);
		log_out("mailmove queue at %s (every %llu s; Ctrl-C ends)\n\n",
			when, (unsigned long long)o->interval);
		rc = queue_report(pr, o, ctx);
		if (rc)
			break;
		if (!tty)
			log_out("\n");
		until = mm_now() + (double)o->interval;
		while (!mm_interrupted && mm_now() < until)
			nanosleep(&ts, NULL);
	}
	return rc;	/* MM_OK when interrupted: that is how it ends */
}

/* --delete: exactly the named messages, after showing them. */
static int queue_delete(struct pf_runner *pr, const struct queue_opts *o,
			const struct mm_ctx *ctx, char **ids, int nids)
{
	struct qlist q;
	struct buf unknown = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
	struct qmsg **sel;
	json_t *deleted = json_array(), *res;
	int i, rc, failed = 0, status;
	size_t k, r;
	int64_t now = (int64_t)time(NULL);
	char age[32];

	for (i = 0; i < nids; i++)
		if (!pf_queue_id_ok(ids[i])) {
			struct buf qid = BUF_INIT;
			mm_quote(&qid, ids[i]);
			log_error("queue: %s is not a queue ID", buf_cstr(&qid));
			buf_release(&qid);
			json_decref(deleted);
			return MM_EUSAGE;
		}
	rc = queue_read(pr, &q);
	if (rc) {
		json_decref(deleted);
		return rc;
	}
	sel = xcalloc((size_t)nids, sizeof *sel);
	for (i = 0; i < nids; i++) {
		for (k = 0; k < q.n && !sel[i]; k++)
			if (!strcmp(q.m[k].id, ids[i]))
				sel[i] = &q.m[k];
		if (!sel[i])
			buf_printf(&unknown, "%s%s", unknown.len ? ", " : "",
				   ids[i]);
	}
	if (unknown.len) {
		log_error("queue: not in the queue: %s; nothing deleted",
			  buf_cstr(&unknown));
		rc = MM_EDIFF;
		goto out;
	}
	for (i = 0; i < nids; i++) {
		struct qmsg *m = sel[i];

		mm_format_span(now - m->arrival, 0, age, sizeof age);
		log_out("%s (%s, %lld bytes, %s old)\n", m->id, m->queue,
			(long long)m->size, age);
		print_quoted("  from ", m->sender[0] ? m->sender : "<>", "\n");
		for (r = 0; r < m->nrcpt; r++) {
			print_quoted("  to ", m->rcpt[r].address, "");
			print_quoted(": ", m->rcpt[r].reason[0] ?
				     m->rcpt[r].reason : "(no reason yet)",
				     "\n");
		}
	}
	if (ctx->dry_run) {
		log_out("--dry-run: would delete %d message%s\n", nids,
			nids == 1 ? "" : "s");
		rc = MM_OK;
		goto out;
	}
	if (!o->yes) {
		int yes = mm_ask(nids == 1 ? "Delete this message?"
				  : "Delete these messages?");
		if (yes < 0) {
			log_error("queue: --delete asks on a terminal; there "
				  "is none: give --yes");
			rc = MM_EUSAGE;
			goto out;
		}
		if (!yes) {
			log_out("nothing deleted\n");
			rc = MM_OK;
			goto out;
		}
	}
	for (i = 0; i < nids; i++) {
		const char *args[] = { "-d", ids[i], NULL };
		int prc = pf_run(pr, "postsuper", args, NULL, &out, &err,
				 1u << 20, &status);

		if (prc < 0) {
			rc = ep_exit_code(pr->ep);
			goto out;
		}
		/* postsuper says "Deleted: 1 message" on stderr. */
		if (prc == 0 && status == 0 &&
		    (strstr(buf_cstr(&err), "Deleted: 1 message") ||
		     strstr(buf_cstr(&out), "Deleted: 1 message"))) {
			log_info("deleted %s", ids[i]);
			json_array_append_new(deleted, json_string(ids[i]));
			out_event("deleted", json_pack("{s:s}", "id", ids[i]));
		} else {
			log_error("queue: postsuper -d %s did not delete it "
				  "(delivered meanwhile?): %s", ids[i],
				  prc ? strerror(prc) : buf_cstr(&err));
			failed++;
		}
	}
	rc = failed ? MM_EDIFF : MM_OK;
out:
	res = json_object();
	json_object_set_new(res, "deleted", deleted);
	deleted = NULL;
	if (unknown.len)
		json_object_set_new(res, "unknown",
				    json_string(buf_cstr(&unknown)));
	out_result(res);
	free(sel);
	qlist_release(&q);
	buf_release(&unknown);
	buf_release(&out);
	buf_release(&err);
	return rc;
}

int cmd_queue(struct mm_ctx *ctx, int argc, char **argv)
{
	struct queue_opts o;
	struct pf_runner pr;
	int first, rc;

	memset(&o, 0, sizeof o);
	memset(&pr, 0, sizeof pr);
	o.interval = 5;
	rc = mm_parse_options(ctx, argc, argv, queue_options, "y",
			      queue_on_opt, &o, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (o.del && first >= argc) {
		log_error("queue: --delete needs the queue IDs to delete");
		return MM_EUSAGE;
	}
	if (!o.del && first < argc) {
		log_error("queue: unexpected argument %s (queue IDs go with "
			  "--delete)", argv[first]);
		return MM_EUSAGE;
	}
	if (o.del && o.watch) {
		log_error("queue: --delete and --watch do not go together");
		return MM_EUSAGE;
	}
	pr.config_dir = o.config_dir;
	if (ctx->from) {
		rc = ep_open_ctx(ctx, &pr.ep);
		if (rc)
			return rc;
	}
	if (o.del)
		rc = queue_delete(&pr, &o, ctx, argv + first, argc - first);
	else if (o.watch)
		rc = queue_watch(&pr, &o, ctx);
	else
		rc = queue_report(&pr, &o, ctx);
	if (pr.ep)
		ep_close(pr.ep);
	return rc;
}
