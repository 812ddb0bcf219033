/* log.c: messages, JSON events and the progress line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

static int verbosity;
static int json_mode;
static int progress_shown;	/* a progress line is on the terminal */
static int stderr_tty = -1;
static int result_done;		/* a result event was written */
static char last_error[4096];	/* the last error message, for it */

void log_setup(int verbose, int json)
{
	verbosity = verbose;
	json_mode = json;
	stderr_tty = isatty(2);
}

int log_verbosity(void)
{
	return verbosity;
}

int log_json(void)
{
	return json_mode;
}

static void clear_progress(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = 0;
	}
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	clear_progress();
	fputs("mailmove: ", stderr);
	if (prefix)
		fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vlog("error: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 0)
		return;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 0)
		return;
	va_start(ap, fmt);
	vlog(NULL, fmt, ap);
	va_end(ap);
}

void log_verbose(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 1)
		return;
	va_start(ap, fmt);
	vlog(NULL, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 2)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

void log_out(const char *fmt, ...)
{
	va_list ap;
	FILE *f = json_mode ? stderr : stdout;

	if (verbosity < 0 && json_mode)
		return;
	clear_progress();
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fflush(f);
}

json_t *json_str_any(const char *s)
{
	struct buf b = BUF_INIT;
	json_t *j = json_string(s);
	const unsigned char *p;

	if (j)
		return j;
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80 || *p == '\\')
			buf_printf(&b, "\\%03o", *p);
		else
			buf_putc(&b, *p);
	}
	j = json_string(buf_cstr(&b));
	buf_release(&b);
	return j;
}

void out_event(const char *name, json_t *fields)
{
	json_t *o;
	char *s;

	if (!json_mode) {
		json_decref(fields);
		return;
	}
	o = json_object();
	json_object_set_new(o, "event", json_string(name));
	if (fields)
		json_object_update(o, fields);
	json_decref(fields);
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s) {
		puts(s);
		fflush(stdout);
		free(s);
	}
	json_decref(o);
}

void out_result(json_t *obj)
{
	json_t *o;
	char *s;

	if (!json_mode) {
		json_decref(obj);
		return;
	}
	result_done = 1;
	o = json_object();
	json_object_set_new(o, "event", json_string("result"));
	json_object_update(o, obj);
	json_decref(obj);
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s) {
		puts(s);
		fflush(stdout);
		free(s);
	}
	json_decref(o);
}

void out_result_failed(int rc)
{
	json_t *o;

	if (!json_mode || result_done || rc == 0)
		return;
	o = json_object();
	json_object_set_new(o, "exit", json_integer(rc));
	if (last_error[0])	/* any bytes, a cut character too */
		json_object_set_new(o, "error", json_str_any(last_error));
	out_result(o);
}

double mm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mm_format_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) ||
	    !strftime(out, len, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(out, len, "@%lld", (long long)t);
}

void mm_format_span(int64_t secs, int round_up, char *out, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(out, len, "%lld s", (long long)secs);
	else if (secs < 7200)
		snprintf(out, len, "%lld min",
			 (long long)(secs + (round_up ? 59 : 0)) / 60);
	else if (secs < 172800)
		snprintf(out, len, "%.1f h", (double)secs / 3600.0);
	else
		snprintf(out, len, "%.1f days", (double)secs / 86400.0);
}

const char *mm_human_bytes(uint64_t n, char *buf, size_t len)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[i]);
	return buf;
}

void progress_start(struct progress *p, const char *what,
		    uint64_t items_total, uint64_t bytes_total)
{
	memset(p, 0, sizeof p[0]);
	p->what = what;
	p->items_total = items_total;
	p->bytes_total = bytes_total;
	p->start = mm_now();
	if (stderr_tty < 0)
		stderr_tty = isatty(2);
	p->enabled = stderr_tty && verbosity >= 0 &&
		     !getenv("MAILMOVE_NO_PROGRESS");
}

void progress_set_totals(struct progress *p, uint64_t items_total,
			 uint64_t bytes_total)
{
	p->items_total = items_total;
	p->bytes_total = bytes_total;
}

static void progress_draw(struct progress *p, double now)
{
	char b1[32], b2[32];
	double el = now - p->start, rate = el > 0 ? (double)p->bytes / el : 0;

	fprintf(stderr, "\r\033[K%s: %llu", p->what,
		(unsigned long long)p->items);
	if (p->items_total)
		fprintf(stderr, "/%llu", (unsigned long long)p->items_total);
	fprintf(stderr, " items, %s", mm_human_bytes(p->bytes, b1, sizeof b1));
	if (el > 0.5)
		fprintf(stderr, ", %s/s",
			mm_human_bytes((uint64_t)rate, b2, sizeof b2));
	if (el > 1 && p->items_total && p->items && p->items < p->items_total) {
		double eta = el * (double)(p->items_total - p->items) /
			     (double)p->items;
		fprintf(stderr, ", ETA %d:%02d", (int)eta / 60, (int)eta % 60);
	}
	fflush(stderr);
	progress_shown = 1;
	p->last_draw = now;
}

void progress_add(struct progress *p, uint64_t items, uint64_t bytes)
{
	double now;

	p->items += items;
	p->bytes += bytes;
	if (!p->enabled)
		return;
	now = mm_now();
	if (now - p->last_draw >= 0.1)
		progress_draw(p, now);
}

void progress_end(struct progress *p)
{
	if (p->enabled)
		clear_progress();
	p->enabled = 0;
}

void mm_quote(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\')
			buf_printf(out, "\\%03o", c);
		else
			buf_putc(out, c);
	}
}
