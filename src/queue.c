/*
 * queue.c: parsing and grouping Postfix's queue and refusals (see
 * queue.h).
 */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "postfix.h"
#include "banned.h"

const char *const queue_names[QUEUE_NNAMES] = {
	"active", "deferred", "hold", "incoming", "maildrop",
};

void qlist_release(struct qlist *q)
{
	size_t i, k;

	for (i = 0; i < q->n; i++) {
		for (k = 0; k < q->m[i].nrcpt; k++) {
			free(q->m[i].rcpt[k].address);
			free(q->m[i].rcpt[k].reason);
		}
		free(q->m[i].rcpt);
		free(q->m[i].id);
		free(q->m[i].queue);
		free(q->m[i].sender);
	}
	free(q->m);
	memset(q, 0, sizeof *q);
}

static char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return xstrdup(s ? s : "");
}

size_t qlist_parse(const char *text, struct qlist *q)
{
	const char *line = text, *nl;
	size_t bad = 0, cap = 0, k;

	memset(q, 0, sizeof *q);
	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		json_error_t jerr;
		json_t *o, *rcpts, *r;
		struct qmsg *m;

		nl = strchr(line, '\n');
		if (line[0] == '\n' || !line[0])
			continue;
		o = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line),
			       0, &jerr);
		if (!o || !json_is_object(o) ||
		    !json_is_string(json_object_get(o, "queue_id")) ||
		    !pf_queue_id_ok(json_string_value(
			    json_object_get(o, "queue_id")))) {
			bad++;
			json_decref(o);
			continue;
		}
		if (q->n == cap) {
			cap = cap ? 2 * cap : 64;
			q->m = xrealloc(q->m, cap * sizeof *q->m);
		}
		m = &q->m[q->n++];
		memset(m, 0, sizeof *m);
		m->id = jstr(o, "queue_id");
		m->queue = jstr(o, "queue_name");
		m->sender = jstr(o, "sender");
		m->arrival = json_integer_value(json_object_get(o,
							"arrival_time"));
		m->size = json_integer_value(json_object_get(o,
							"message_size"));
		rcpts = json_object_get(o, "recipients");
		if (json_is_array(rcpts) && json_array_size(rcpts)) {
			m->rcpt = xcalloc(json_array_size(rcpts),
					  sizeof *m->rcpt);
			json_array_foreach(rcpts, k, r) {
				m->rcpt[m->nrcpt].address = jstr(r, "address");
				m->rcpt[m->nrcpt].reason = jstr(r,
								"delay_reason");
				m->nrcpt++;
			}
		}
		json_decref(o);
	}
	return bad;
}

void queue_count_add(json_t *map, const char *key, json_int_t n)
{
	json_t *v = json_object_get(map, key);

	if (v)
		json_integer_set(v, json_integer_value(v) + n);
	else
		json_object_set_new(map, key, json_integer(n));
}

char *queue_reason_key(const char *reason, const char *address)
{
	struct buf b = BUF_INIT;
	const char *p = reason, *hit;
	size_t alen = strlen(address);

	if (!*reason)
		return xstrdup("(no reason given yet)");
	while (alen && (hit = strstr(p, address))) {
		buf_add(&b, p, (size_t)(hit - p));
		buf_addstr(&b, "RECIPIENT");
		p = hit + alen;
	}
	buf_addstr(&b, p);
	return buf_detach(&b);
}

/* Adds `rcpt` to the set (an object's keys) of recipients of `key`. */
static void rcpt_add(json_t *map, const char *key, const char *rcpt)
{
	json_t *set = json_object_get(map, key);

	if (!set) {
		set = json_object();
		json_object_set_new(map, key, set);
	}
	json_object_set_new(set, rcpt, json_true());
}

void queue_summarize(const struct qlist *q, struct queue_summary *s)
{
	size_t i, k;

	memset(s, 0, sizeof *s);
	s->reasons = json_object();
	s->domains = json_object();
	for (i = 0; i < q->n; i++) {
		const struct qmsg *m = &q->m[i];
		int found = 0;

		for (k = 0; k < QUEUE_NNAMES; k++)
			if (!strcmp(m->queue, queue_names[k])) {
				s->counts[k]++;
				found = 1;
			}
		s->other += !found;
		if (m->arrival && (!s->oldest || m->arrival < s->oldest)) {
			s->oldest = m->arrival;
			s->oldest_id = m->id;
		}
		for (k = 0; k < m->nrcpt; k++) {
			const char *at = strrchr(m->rcpt[k].address, '@');
			char *key = queue_reason_key(m->rcpt[k].reason,
						     m->rcpt[k].address);

			s->nrcpt++;
			queue_count_add(s->reasons, key, 1);
			queue_count_add(s->domains, at ? at + 1 : "(no domain)",
					1);
			free(key);
		}
	}
}

void queue_summary_release(struct queue_summary *s)
{
	json_decref(s->reasons);
	json_decref(s->domains);
	memset(s, 0, sizeof *s);
}

size_t queue_group_rejections(const char *log_text, int64_t now, int64_t from,
			      int64_t until, json_t *reasons, json_t *who,
			      json_t *list)
{
	const char *line = log_text, *nl;
	struct buf l = BUF_INIT;
	size_t n = 0;

	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		struct pf_reject r;
		char *key;

		nl = strchr(line, '\n');
		buf_reset(&l);
		buf_add(&l, line, nl ? (size_t)(nl - line) : strlen(line));
		if (!pf_parse_reject(buf_cstr(&l), now, &r))
			continue;
		if ((from && r.when < from) || (until && r.when >= until)) {
			pf_reject_release(&r);
			continue;
		}
		key = queue_reason_key(r.reason, r.recipient);
		queue_count_add(reasons, key, 1);
		rcpt_add(who, key, r.recipient);
		free(key);
		json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:s,s:s,"
			"s:s}", "time", (json_int_t)r.when, "recipient",
			r.recipient, "sender", r.sender, "client", r.client,
			"code", r.code, "reason", r.reason));
		n++;
		pf_reject_release(&r);
	}
	buf_release(&l);
	return n;
}
