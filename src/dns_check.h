/*
 * dns_check.h: the DNS questions of `mailmove dns`: a zone's authoritative
 * servers, a domain's MX records and their hosts' addresses (old server,
 * new server or neither, with TTLs), and whether the DKIM TXT records
 * publish the keys this server signs with.  cmd_dns.c decides what to ask
 * and reports.
 */
#ifndef MM_DNS_CHECK_H
#define MM_DNS_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "mail_domains.h"

struct dns_opts;
struct endpoint;
struct mm_ctx;

/* Whose address an MX host's address is. */
enum mx_where { MX_OTHER, MX_OLD, MX_NEW };
/* "other", "old", "new": the JSON values. */
const char *mx_where_name(enum mx_where w);

struct mx_addr {
	char *addr;
	uint32_t ttl;
	enum mx_where where;
};

struct mx_host {
	char *host;
	uint16_t pref;
	uint32_t ttl;
	struct mx_addr *addrs;
	size_t naddrs;
	char *error;
};

/* What one DKIM selector's TXT record says about its key file. */
enum dkim_status {
	DKIM_MATCH,		/* publishes the key's public half */
	DKIM_MISMATCH,		/* publishes another key */
	DKIM_MISSING,		/* no DKIM record there */
	DKIM_NO_KEY,		/* the key file is missing or unreadable */
	DKIM_ERROR,		/* the lookup failed, or a bad selector */
};
/* "match", "mismatch", "missing", "no-key", "error". */
const char *dkim_status_name(enum dkim_status s);

struct dkim_check {
	char *selector;
	enum dkim_status status;
	char *detail;
};

struct domain_check {
	char *name;
	struct mx_host *mx;
	size_t nmx;
	char *error;		/* the MX lookup failed */
	int no_mx;		/* NOERROR without MX: mail goes to A/AAAA */
	uint32_t ttl;		/* highest authoritative TTL among the MX
				 * records and their hosts' addresses */
	int authoritative;	/* the MX answer was */
	int has_old, all_primary_new;
	int switched;
	struct dkim_check *dkim;
	size_t ndkim;
};

/* What every domain's questions share. */
struct dns_run {
	const struct mm_ctx *ctx;
	struct dns_opts *o;	/* the command's options (cmd_dns.c) */
	struct dns_resolver system;	/* or --server */
	int system_ok;
	struct namelist old_addrs, new_addrs;
};

void domain_check_release(struct domain_check *d);

/*
 * The authoritative servers of `domain`'s zone (NS records through the
 * system's resolver, walking up to the zone apex), as a resolver that asks
 * them without recursion: TTLs from there are the zone's own, not a
 * cache's countdown.  Returns 0, or -1 when they cannot be found.
 */
int dns_authoritative_resolver(struct dns_run *run, const char *domain,
			       struct dns_resolver *out);

/*
 * Looks up the MX records of d->name (asking `res`) and the addresses of
 * their hosts, and decides whether the domain has switched: every address
 * of the most preferred MX hosts is the new server's and no MX host has an
 * old address (a backup MX elsewhere does not block the switch).
 */
void dns_check_mx(struct dns_run *run, struct dns_resolver *res,
		  struct domain_check *d);

/* Compares the TXT record of every selector of d->name in the
 * destination's selector map (`map_text`) with its key file (`template`,
 * rspamd's path setting). */
void dns_check_dkim(struct dns_run *run, struct dns_resolver *res,
		    struct domain_check *d, const char *map_text,
		    const char *template);

/* This machine's own addresses (the new server's), loopback and
 * link-local left out. */
void dns_addrs_of_this_machine(struct namelist *out);
/* The old server's, asked through its agent: `hostname -I`, else `ip -o
 * addr show` (warns when neither says).  Returns 0, or MM_LOST. */
int dns_addrs_of_old_server(struct endpoint *ep, struct namelist *out);

#endif
