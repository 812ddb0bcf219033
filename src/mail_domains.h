/*
 * mail_domains.h: which mail domains to look at (arguments, a file, or the
 * virtual domains of the destination's or the old server's mailserver
 * database), and small helpers for reading the destination's
 * configuration files under --to.
 */
#ifndef MM_MAIL_DOMAINS_H
#define MM_MAIL_DOMAINS_H

#include <stddef.h>

#include "buf.h"

struct mm_ctx;

/* A list of distinct strings (domains, addresses). */
struct namelist {
	char **v;
	size_t n, cap;
};

void namelist_add(struct namelist *l, const char *s);
int namelist_has(const struct namelist *l, const char *s);
void namelist_release(struct namelist *l);

/* A domain or DKIM selector safe to print, to ask the DNS about and to
 * build a file name from: letters, digits, '-', '_', '.'; no leading dot,
 * no "..", at most 253 bytes. */
int dns_name_ok(const char *s);

/* Adds `raw` (final dot dropped, lower-cased) unless it is there; a name
 * that is not a domain is reported with `where` and gives -1. */
int mail_domain_add(struct namelist *domains, const char *raw,
		    const char *where);
/* One domain a line ('#' comments, "-" for stdin).  0 or -1. */
int mail_domains_from_file(const char *file, struct namelist *domains);
/* The destination's virtual domains: 0, 1 when it has no database and
 * --from names an old server to ask instead, -1 after saying why. */
int mail_domains_from_destination(const struct mm_ctx *ctx,
				  struct namelist *domains);
/* The old server's virtual domains (SQLite only): MM_OK or an exit code. */
int mail_domains_from_old(const struct mm_ctx *ctx, struct namelist *domains);

/* `rel` (absolute on the destination) under the destination root. */
void dest_file_path(const struct mm_ctx *ctx, const char *rel,
		    struct buf *out);
/* A small file (at most `max` bytes) into out, no symlink followed at the
 * last component: 0, or an errno. */
int dest_read_small(const char *path, struct buf *out, size_t max);
/* Strips blanks at both ends, in place. */
char *conf_trim(char *s);
/* The value of `key = value` in a Postfix-style file (main.cf, a lookup
 * table's .cf, rspamd's simple settings), the last one; NULL if none.
 * Caller frees. */
char *conf_file_value(const char *text, const char *key);

#endif
