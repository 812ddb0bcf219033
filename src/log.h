/*
 * log.h: messages for the admin on stderr, JSON events on stdout.
 *
 * Human messages always go to stderr so that stdout stays clean for --json
 * and for plumbing output.  A progress line, when shown, is cleared before a
 * message is printed and redrawn by the next update.
 */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <jansson.h>
#include <stdint.h>

#include "buf.h"

void log_setup(int verbose, int json);
int log_verbosity(void);
int log_json(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Plain text for the human summary: stdout, or stderr under --json. */
void log_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* With --json: prints {"event": name, ...fields} on one stdout line.
 * Takes ownership of `fields` (may be NULL).  Without --json: nothing. */
/* A JSON string of `s`, bytes that are not UTF-8 (and backslashes)
 * written as \NNN octal escapes. */
json_t *json_str_any(const char *s);
void out_event(const char *name, json_t *fields);
/* With --json: prints the final {"result": ...} object.  Takes ownership. */
void out_result(json_t *obj);
/* With --json, when the command wrote no result and `rc` is not 0: a
 * result with "exit" and the last error message as "error", so that a
 * script gets one for every run (a lock refused, an option rejected). */
void out_result_failed(int rc);

/* Progress on a terminal: items, bytes, rate and ETA on one stderr line. */
struct progress {
	const char *what;
	uint64_t items, items_total;
	uint64_t bytes, bytes_total;
	double start, last_draw;
	int enabled;
};
void progress_start(struct progress *p, const char *what,
		    uint64_t items_total, uint64_t bytes_total);
void progress_add(struct progress *p, uint64_t items, uint64_t bytes);
void progress_set_totals(struct progress *p, uint64_t items_total,
			 uint64_t bytes_total);
void progress_end(struct progress *p);
double mm_now(void);
/* A moment (seconds since the epoch) in local time, "2026-12-02 16:55:00
 * UTC"; "@SECONDS" if it cannot be shown. */
void mm_format_time(int64_t t, char *out, size_t len);
/* A span of seconds for a human: "45 s", "12 min", "3.5 h", "2.1 days"
 * (negative counts as 0).  With `round_up` minutes are rounded up: a wait
 * announced is never shorter than the real one; ages round down. */
void mm_format_span(int64_t secs, int round_up, char *out, size_t len);
/* Formats a byte count as "12.3 MiB" into buf. */
const char *mm_human_bytes(uint64_t n, char *buf, size_t len);

/* Appends `s` with control bytes and backslashes escaped (\ooo), so any
 * file name prints on one line. */
void mm_quote(struct buf *out, const char *s);

#endif
