/*
 * maildir.h: the Maildir grammar as Dovecot writes it, shared by sync and
 * verify: file names (base and info), flags and keywords, which files of a
 * mailbox are messages, metadata, caches or never copied, and the
 * dovecot-uidlist and dovecot-keywords files.  Pure functions, no I/O.
 */
#ifndef MM_MAILDIR_H
#define MM_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Length of the base name: everything before the first ':' (the message's
 * identity, including ",S=" and ",W="). */
size_t md_base_len(const char *name);

/*
 * Splits the flags of a name: `std` gets the standard flags present
 * (subset of "DFPRST", in that order), `kw` the keyword letters a-z in
 * name order.  Returns 0, or -1 when the name has no "2," info (then both
 * are empty).  Unknown characters are ignored here and kept in the name.
 */
int md_flags(const char *name, struct buf *std, struct buf *kw);

/* What a name inside a mailbox directory (next to cur/ new/ tmp/) is. */
enum md_kind {
	MD_SUBDIR_MSG,	/* cur, new */
	MD_SUBDIR_TMP,	/* tmp: its contents are never copied */
	MD_META,	/* dovecot-uidlist, dovecot-keywords, subscriptions,
			   dovecot-acl, dovecot-shared, maildirfolder */
	MD_INDEX,	/* dovecot.index*, dovecot.list.index*,
			   dovecot.mailbox.log: caches rebuilt after a move */
	MD_QUOTA,	/* maildirsize */
	MD_NEVER,	/* *.lock, *.tmp, temp.*, ..DOVECOT-TRASHED,
			   dovecot-uidvalidity* */
	MD_OTHER,	/* anything else (sieve files, subfolders) */
};
enum md_kind md_classify(const char *name);

/* A message file name Dovecot would read: not starting with '.', no CR or
 * LF. */
int md_is_message_name(const char *name);

/* Whether a symlink at `path` (relative to a vmail root) may stand where
 * mail is: named Maildir, cur, new or tmp; in a cur/ or new/; a folder
 * (a dot-name in a Maildir, other than .dovecot.sieve); or a domain or a
 * user (the first two levels, not a dot-name).  Such a link is never
 * followed (the old server's tree is read beneath its root, without
 * symlinks), so its mail would be left behind without a word. */
int md_symlink_hides_mail(const char *path);

/* The n-th base name (from 1) mailmove gives the old server's message
 * `base` when this server has another message under that base name:
 * named as Dovecot names a delivery (seconds, microseconds, pid, a
 * counter, the writer: "mailmove"), from a hash of `base` rather than the
 * clock or this host's name, so that a run that lost its state, and
 * verify, find the copy placed earlier even after the host is renamed;
 * with the source's ",S=..." fields (the same content) while the name
 * stays short. */
void md_conflict_base(const char *base, unsigned n, struct buf *out);

/* dovecot-uidlist, version 3. */
struct uid_rec {
	uint32_t uid;
	char *base;		/* the file's base name */
	char *extra;		/* the record's other fields, verbatim */
};

struct uidlist {
	uint32_t version;
	uint32_t uidvalidity;
	uint32_t nextuid;
	char *guid;		/* mailbox GUID (G field), or NULL */
	struct uid_rec *recs;
	size_t n;
};

/* Parses a uidlist.  Returns 0, or -1 with the reason in `why` (a broken
 * file: UIDs not ascending, V or N zero, a line without ':'). */
int uidlist_parse(const char *data, size_t len, struct uidlist *ul,
		  struct buf *why);
void uidlist_release(struct uidlist *ul);

/* dovecot-keywords: "<0-25> <name>" lines. */
struct keywords {
	char *name[26];
};
int keywords_parse(const char *data, size_t len, struct keywords *kw);
void keywords_release(struct keywords *kw);

/* Keyword letters resolved to names, sorted and joined by ' ', so two
 * sides with different letter assignments compare equal. */
void md_keyword_names(const char *letters, size_t n,
		      const struct keywords *kw, struct buf *out);

/* Decodes a modified UTF-7 folder name (RFC 3501) into UTF-8 for display;
 * on a malformed name, copies it unchanged and returns -1. */
int md_mutf7_decode(const char *in, struct buf *out);

/* The user a path inside a vmail tree belongs to: the part before
 * "/Maildir" when present, else the first two components
 * ("domain/user"), else "". */
void md_user_of(const char *relpath, struct buf *out);

#endif
