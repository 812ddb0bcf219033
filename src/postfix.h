/*
 * postfix.h: running Postfix's own programs (postqueue, postsuper,
 * postconf, postfix) on this machine or, through the agent, on the old
 * server, with an optional configuration directory (-c DIR); reading its
 * log; and the parts of postqueue -j and of log lines mailmove uses.
 */
#ifndef MM_POSTFIX_H
#define MM_POSTFIX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct endpoint;

struct pf_runner {
	struct endpoint *ep;		/* NULL: this machine */
	const char *config_dir;		/* -c DIR, or NULL */
};

/*
 * Runs /usr/sbin/<prog> [-c DIR] args... (args NULL-terminated), stdin
 * from `in` (may be NULL), output into out/err (capped at `max` each).
 * Returns 0 with *status (exit code, or -signal), a positive errno when
 * the program could not run, or -1 when the old server is unreachable
 * (reported already).
 */
int pf_run(struct pf_runner *r, const char *prog, const char *const *args,
	   const struct buf *in, struct buf *out, struct buf *err, size_t max,
	   int *status);

/* pf_run() for any argv (argv[0] a full path), here when ep is NULL. */
int pf_run_argv(struct endpoint *ep, char *const *argv, const struct buf *in,
		struct buf *out, struct buf *err, size_t max, int *status);

/* What a queue holds, from postqueue -j: the number of messages and the
 * first delay reason seen. */
struct pf_queue_summary {
	size_t messages;
	char reason[256];
};

/* Fills *q from postqueue -j.  Returns 0, a positive errno (or EPROTO
 * when postqueue failed), or -1 when the old server is unreachable. */
int pf_queue_summary(struct pf_runner *r, struct pf_queue_summary *q);

/* A Postfix queue ID: letters and digits only, 1..32 of them, and not
 * postsuper's "ALL". */
int pf_queue_id_ok(const char *id);

/* One rejection found in the log. */
struct pf_reject {
	int64_t when;
	char *client;		/* "host[1.2.3.4]" */
	char *code;		/* "450 4.1.1" */
	char *reason;		/* text after the code, before "; from=" */
	char *sender, *recipient;
};

/*
 * Parses one log line.  Returns 1 and fills *rej (free with
 * pf_reject_release) for an smtpd "reject:" line with a 4xx code, 0 for
 * any other line.  `now` resolves the year of syslog's "Mon DD HH:MM:SS".
 */
int pf_parse_reject(const char *line, int64_t now, struct pf_reject *rej);
void pf_reject_release(struct pf_reject *rej);

/* The most of the mail log that is read. */
#define PF_LOG_TAIL (64u << 20)

/*
 * The mail log's last PF_LOG_TAIL bytes, from `file` (--log), else
 * /var/log/mail.log, else the journal since `since` (0: a day back), on
 * this machine or the old server.  A local file is read only when it is
 * a regular one.  Returns 0 (text in out, possibly empty after a warning;
 * the source named in `source`), or -1 when the old server is unreachable.
 */
int pf_read_log(struct pf_runner *pr, const char *file, int64_t since,
		struct buf *out, struct buf *source);

/* The time at the start of a log line (syslog or ISO 8601), 0 if none. */
int64_t pf_log_time(const char *line, int64_t now);

#endif
