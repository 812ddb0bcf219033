/*
 * verify.h: `mailmove verify`, the proof that a migration lost nothing.
 *
 * Both trees are read afresh through an agent each (the old server's, and a
 * second local agent rooted at the destination), so both are listed and
 * hashed by the same code and neither depends on what `mailmove sync`
 * remembers.  The files check compares every mailbox (a directory holding
 * cur/ or new/; one lacking either is also an error) message by message: base name, flags and keywords by
 * name, size, mtime, UID and UIDVALIDITY, and with --content an XXH3-128
 * hash computed by both agents at once.  The Dovecot check (verify_dove.c)
 * asks doveadm on both sides for the same facts as Dovecot sees them.
 */
#ifndef MM_VERIFY_H
#define MM_VERIFY_H

#include <jansson.h>
#include <stdint.h>

#include "endpoint.h"
#include "log.h"

/* What a difference is about; the order is the report's column order. */
enum vcat {
	VC_MISSING,		/* on the source, not on the destination */
	VC_FLAGS,		/* flags or keywords differ */
	VC_CONTENT,		/* size or hash differ */
	VC_UID,			/* UID, UIDVALIDITY or next UID differ */
	VC_DATE,		/* mtime (INTERNALDATE) differs */
	VC_FOLDER_MISSING,	/* a source folder absent on the destination */
	VC_ERROR,		/* could not be checked (unreadable, vanished) */
	VC_DEST_ONLY,		/* only on the destination: listed, not an error */
	VC_FOLDER_DEST_ONLY,	/* a folder only on the destination: listed */
	VC_NCAT
};

/* The category's name in --json events and the table. */
const char *vcat_name(enum vcat c);

struct vcounts {
	uint64_t checked;	/* source messages looked at */
	uint64_t n[VC_NCAT];
};

struct vuser {
	char *name;
	struct vcounts c;
};

/* One check's result: per user and in total. */
struct vreport {
	const char *check;	/* "files" or "dovecot" */
	struct vuser *users;
	size_t n, cap;
	size_t last;		/* index of the user found last */
	struct vcounts total;
};

void vreport_init(struct vreport *r, const char *check);
void vreport_release(struct vreport *r);
/* The user's counters, added when first seen. */
struct vcounts *vreport_user(struct vreport *r, const char *user);
/* 1 when the report holds a difference that makes verify fail. */
int vreport_failed(const struct vreport *r);
/* The table on stdout (stderr under --json) and its JSON form. */
void vreport_print(const struct vreport *r);
json_t *vreport_json(const struct vreport *r);

struct verify {
	struct endpoint *src, *dst;
	const char *src_path;	/* normalised, on the old server */
	const char *dst_path;	/* normalised, under the destination root */
	const char *src_label;	/* the user name when SRC is one home */
	int content;		/* --content */
	struct vreport files, dove;
	uint64_t hashed_files, hashed_bytes;
	double hash_seconds;
};

/*
 * Records one difference: counts it for `user`, prints a line for the
 * admin (unless --json) and emits a --json event.  `fields` (may be NULL)
 * is taken; `fmt` is the human detail.
 */
void verify_note(struct vreport *r, enum vcat cat, const char *user,
		 const char *folder, const char *name, json_t *fields,
		 const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* A JSON string for any byte string (bytes that are not UTF-8 escaped). */

/*
 * The files check.  Returns MM_OK when the comparison ran (differences
 * are in v->files), or MM_EREMOTE / MM_EDEST / MM_EINTR when an agent was
 * lost or the run was interrupted.
 */
int verify_files(struct verify *v);

struct verify_dove_opts {
	const char *src_config;		/* doveadm -c on the old server */
	const char *dst_config;		/* doveadm -c here */
	const char *src_doveadm;	/* program name or path */
	const char *dst_doveadm;
	char **users;			/* NULL: every user Dovecot lists */
	size_t nusers;
};

/* The Dovecot check (verify_dove.c).  Same return values. */
int verify_dovecot(struct verify *v, const struct verify_dove_opts *o);

#endif
