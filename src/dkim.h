/*
 * dkim.h: the public half of a DKIM private key as DKIM publishes it, and
 * comparing it with a TXT record (libcrypto).
 */
#ifndef MM_DKIM_H
#define MM_DKIM_H

#include "buf.h"

struct mm_ctx;

/* The public half of the PEM private key in `path` (never prompting for a
 * passphrase): SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for
 * Ed25519 (*ed25519 set).  Returns 0, an errno, or EINVAL (not a key). */
int dkim_key_public_half(const char *path, struct buf *out, int *ed25519);

/* The value of `tag` in a DKIM record ("v=DKIM1; k=rsa; p=..."), blanks
 * removed; NULL when absent.  Caller frees. */
char *dkim_record_tag(const char *rec, const char *tag);

/* Whether TXT record `rec` publishes `pub`: 1 yes, 0 a different key, -1
 * not a DKIM key record (no p=). */
int dkim_record_matches(const char *rec, const struct buf *pub, int ed25519);

/* rspamd's key path template (dkim_signing.conf `path`, else its default
 * /var/lib/rspamd/dkim/$domain.$selector.key).  Caller frees. */
char *dkim_path_template(const struct mm_ctx *ctx);
/* The template filled in, under the destination root. */
void dkim_key_path(const struct mm_ctx *ctx, const char *template,
		   const char *domain, const char *selector, struct buf *out);

#endif
