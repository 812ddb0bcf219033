/*
 * dns.h: DNS questions mailmove asks (MX, A, AAAA, TXT, NS), answered by a
 * real resolver library (ldns, see dns.c for why), with TTLs and whether
 * the answer was authoritative.
 */
#ifndef MM_DNS_H
#define MM_DNS_H

#include <stddef.h>
#include <stdint.h>

enum dns_type { DNS_A, DNS_AAAA, DNS_MX, DNS_TXT, DNS_NS };

/* Where questions go: the system's resolvers, an explicit server, or the
 * authoritative servers of a zone (recursion not asked for). */
struct dns_resolver {
	void *ldns;		/* ldns_resolver * */
	char *desc;		/* for messages: "127.0.0.1 port 5353" */
};

/* One record of an answer.  `data` is the MX exchange or NS host without
 * the final dot, the address in canonical text form, or the TXT strings
 * joined. */
struct dns_rr {
	uint32_t ttl;
	uint16_t pref;		/* MX only */
	char *data;
};

struct dns_answer {
	int rcode;		/* 0 NOERROR, 3 NXDOMAIN, ... */
	int authoritative;	/* the AA flag */
	size_t n;
	struct dns_rr *rr;
};

/* server: NULL for /etc/resolv.conf, or IP, IP:PORT, [IPv6]:PORT.
 * Returns 0, or -1 after saying why. */
int dns_resolver_init(struct dns_resolver *r, const char *server);
/* Asks the given addresses (port 53) without recursion.  0 or -1. */
int dns_resolver_init_addrs(struct dns_resolver *r, char *const *addrs,
			    size_t n);
void dns_resolver_release(struct dns_resolver *r);

/* Asks `name` of `type`.  Returns 0 when a response came (see a->rcode;
 * a->n may be 0), or -1 when no server answered (*why says so, static). */
int dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
	      struct dns_answer *a, const char **why);
void dns_answer_release(struct dns_answer *a);
const char *dns_rcode_name(int rcode);

/* Canonical text of an IPv4 or IPv6 address into out (>= 46 bytes).
 * Returns 0, or -1 if `s` is not an address. */
int dns_canonical_addr(const char *s, char *out, size_t len);

#endif
