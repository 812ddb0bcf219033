/*
 * queue.h: Postfix's queue as mailmove reads it: `postqueue -j` parsed
 * into messages and recipients, and the grouping that `mailmove queue`
 * shows: counts per queue, delay reasons (the recipient's own address
 * taken out, so one refusal for many recipients is one group), recipient
 * domains, and the refusals smtpd logged.  cmd_queue.c runs the programs
 * and prints.
 */
#ifndef MM_QUEUE_H
#define MM_QUEUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_NNAMES 5
/* active, deferred, hold, incoming, maildrop */
extern const char *const queue_names[QUEUE_NNAMES];

struct qrcpt {
	char *address;
	char *reason;		/* "" when none */
};

struct qmsg {
	char *id, *queue, *sender;
	int64_t arrival, size;
	struct qrcpt *rcpt;
	size_t nrcpt;
};

struct qlist {
	struct qmsg *m;
	size_t n;
};

void qlist_release(struct qlist *q);
/* Parses postqueue -j output into q.  Returns the number of lines that
 * were not a queue entry (reported by the caller). */
size_t qlist_parse(const char *text, struct qlist *q);

/* The reason with the recipient's own address replaced by "RECIPIENT";
 * "(no reason given yet)" for "".  A new string. */
char *queue_reason_key(const char *reason, const char *address);
/* Adds n to the counter `key` of the jansson object used as a map. */
void queue_count_add(json_t *map, const char *key, json_int_t n);

/* What the queue holds, grouped. */
struct queue_summary {
	size_t counts[QUEUE_NNAMES];	/* messages per queue_names[] */
	size_t other;		/* messages in another queue */
	size_t nrcpt;
	int64_t oldest;		/* arrival of the oldest message, or 0 */
	const char *oldest_id;	/* points into the qlist */
	json_t *reasons;	/* delay reason key -> recipients */
	json_t *domains;	/* recipient domain -> recipients */
};
void queue_summarize(const struct qlist *q, struct queue_summary *s);
void queue_summary_release(struct queue_summary *s);

/*
 * The refusals in `log_text` (smtpd "reject:" lines with a 4xx code) in
 * [from, until) (0: open), grouped: reasons (key -> count), who (key ->
 * set of recipients), list (one object per refusal).  `now` resolves
 * syslog's year.  Returns the number of refusals.
 */
size_t queue_group_rejections(const char *log_text, int64_t now, int64_t from,
			      int64_t until, json_t *reasons, json_t *who,
			      json_t *list);

#endif
