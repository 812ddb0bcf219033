/*
 * certcheck.h: checks of certificates and DKIM keys on the destination,
 * with OpenSSL's libcrypto, after `mailmove files` copied them.
 *
 * Let's Encrypt: every live/<name>/ certificate parses, its names and
 * expiry are shown, its private key matches it, fullchain.pem starts with
 * it; renewal/<name>.conf is checked for what its authenticator needs on
 * this server (a webroot directory, nginx or apache, a credentials file).
 * DKIM: every key file parses; every selector map line names a key file
 * that exists and parses (the path pattern comes from dkim_signing.conf).
 *
 * Everything is read beneath the destination root with symlinks resolved
 * inside it.  Results are printed (log_out) and sent as --json events; key
 * material never appears in any message.
 */
#ifndef MM_CERTCHECK_H
#define MM_CERTCHECK_H

struct certcheck {
	int rootfd;		/* the destination root */
	unsigned checked;	/* items checked */
	unsigned failed;	/* items with a problem */
	unsigned warnings;	/* worth knowing, not a failure */
};

void certcheck_init(struct certcheck *c, int rootfd);

/* Checks live/ and renewal/ below le_dir (say "etc/letsencrypt"). */
void certcheck_letsencrypt(struct certcheck *c, const char *le_dir);

/* Checks the keys in dkim_dir, and the selector map named by the signing
 * config (or `selector_map` when the config names none).  Any argument may
 * be NULL when that part was not copied. */
void certcheck_dkim(struct certcheck *c, const char *dkim_dir,
		    const char *signing_conf, const char *selector_map);

#endif
