/*
 * sync.h: the Maildir engine behind `mailmove sync`.
 *
 * Copies a vmail tree (or one home, or one Maildir) from the old server to
 * the destination the Maildir way: identity by base name, flag changes and
 * new/ -> cur/ moves as renames, new messages through tmp/ with batched
 * durability, hard links kept, Dovecot's metadata after the messages under
 * its dotlock, an SQLite state so that later runs list only directories
 * whose mtime changed.  See DESIGN.md, "The Maildir engine".
 */
#ifndef MM_SYNC_H
#define MM_SYNC_H

#include "mailmove.h"

struct sync_opts {
	const char *src;	/* the tree on the old server */
	const char *dest;	/* the destination below mm_dest_root() */
	const char *state_path;	/* NULL: the default under the destination */
	const char *chown;	/* "USER:GROUP" or NULL */
	int delete;
	int force_delete;	/* --delete despite what the guard says */
	long long max_delete;	/* -1: the default (see sync_check.c) */
	int with_indexes;
	int after_cutover;	/* sync though the new Dovecot serves */
};

/* Runs one sync.  Returns an enum mm_exit (reported). */
int sync_run(struct mm_ctx *ctx, const struct sync_opts *o);

/* The hidden test switch: MAILMOVE_TEST_EXIT_AT=N ends the process with
 * _exit(99) at the Nth step boundary (a write made durable, a rename, a
 * state commit).  Unreached, the count of steps is printed on stderr at the
 * end as "mailmove: test: N steps". */
void sync_step(void);

#endif
