/*
 * dns.c: DNS questions through ldns.
 *
 * Why ldns and not glibc's libresolv: mailmove must ask an explicit server
 * on any port (an authoritative server found through NS records, or the
 * admin's --server, which may be IPv6), turn recursion off for
 * authoritative answers, and read typed records with their TTLs.  ldns
 * does all of that through its API (nameserver list, port, RD flag, typed
 * record accessors); with libresolv the port and IPv6 servers mean poking
 * into struct __res_state's private fields and the records mean walking
 * ns_parse's wire format by hand.  Debian ships ldns as libldns3.
 */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dns.h"
#include "log.h"
#include "base.h"
#include "banned.h"

int dns_canonical_addr(const char *s, char *out, size_t len)
{
	unsigned char bin[16];

	if (inet_pton(AF_INET, s, bin) == 1)
		return inet_ntop(AF_INET, bin, out, (socklen_t)len) ? 0 : -1;
	if (inet_pton(AF_INET6, s, bin) == 1)
		return inet_ntop(AF_INET6, bin, out, (socklen_t)len) ? 0 : -1;
	return -1;
}

/* Common settings: short timeouts, no search list, no fallbacks. */
static void dns_resolver_defaults(ldns_resolver *res)
{
	struct timeval tv = { 3, 0 };

	ldns_resolver_set_timeout(res, tv);
	ldns_resolver_set_retry(res, 2);
	ldns_resolver_set_dnsrch(res, false);
	ldns_resolver_set_defnames(res, false);
	ldns_resolver_set_fallback(res, true);	/* TCP when truncated */
}

static int push_addr(ldns_resolver *res, const char *addr)
{
	ldns_rdf *rdf;
	ldns_status st;

	rdf = ldns_rdf_new_frm_str(strchr(addr, ':') ? LDNS_RDF_TYPE_AAAA
				   : LDNS_RDF_TYPE_A, addr);
	if (!rdf)
		return -1;
	st = ldns_resolver_push_nameserver(res, rdf);
	ldns_rdf_deep_free(rdf);
	return st == LDNS_STATUS_OK ? 0 : -1;
}

int dns_resolver_init(struct dns_resolver *r, const char *server)
{
	ldns_resolver *res = NULL;
	struct buf host = BUF_INIT, desc = BUF_INIT;
	char canon[64];
	const char *port = NULL, *end;
	uint64_t portnum = 53;

	memset(r, 0, sizeof *r);
	if (!server) {
		if (ldns_resolver_new_frm_file(&res, NULL) != LDNS_STATUS_OK) {
			log_error("dns: cannot read the system's resolver "
				  "configuration (/etc/resolv.conf); give "
				  "--server IP");
			return -1;
		}
		dns_resolver_defaults(res);
		r->ldns = res;
		r->desc = xstrdup("the system's resolver");
		return 0;
	}
	/* IP, IPv4:PORT, [IPv6]:PORT, or a bare IPv6 address. */
	if (server[0] == '[') {
		end = strchr(server, ']');
		if (!end || (end[1] && end[1] != ':'))
			goto bad;
		buf_add(&host, server + 1, (size_t)(end - server - 1));
		if (end[1] == ':')
			port = end + 2;
	} else if (strchr(server, ':') && strchr(server, ':') ==
		   strrchr(server, ':')) {
		end = strchr(server, ':');
		buf_add(&host, server, (size_t)(end - server));
		port = end + 1;
	} else {
		buf_addstr(&host, server);
	}
	if (dns_canonical_addr(buf_cstr(&host), canon, sizeof canon) < 0)
		goto bad;
	if (port && (mm_parse_u64(port, &portnum) < 0 || portnum == 0 ||
		     portnum > 65535))
		goto bad;
	res = ldns_resolver_new();
	if (!res || push_addr(res, canon) < 0) {
		log_error("dns: cannot set up a resolver for %s", server);
		if (res)
			ldns_resolver_deep_free(res);
		buf_release(&host);
		return -1;
	}
	dns_resolver_defaults(res);
	ldns_resolver_set_port(res, (uint16_t)portnum);
	ldns_resolver_set_recursive(res, true);
	buf_printf(&desc, "%s port %u", canon, (unsigned)portnum);
	r->ldns = res;
	r->desc = buf_detach(&desc);
	buf_release(&host);
	return 0;
bad:
	log_error("dns: --server %s: give an IP address, IP:PORT or "
		  "[IPv6]:PORT", server);
	buf_release(&host);
	return -1;
}

int dns_resolver_init_addrs(struct dns_resolver *r, char *const *addrs,
			    size_t n)
{
	ldns_resolver *res;
	struct buf desc = BUF_INIT;
	size_t i, pushed = 0;

	memset(r, 0, sizeof *r);
	res = ldns_resolver_new();
	if (!res)
		return -1;
	for (i = 0; i < n; i++) {
		if (push_addr(res, addrs[i]) == 0) {
			buf_printf(&desc, "%s%s", pushed ? ", " : "", addrs[i]);
			pushed++;
		}
	}
	if (!pushed) {
		ldns_resolver_deep_free(res);
		buf_release(&desc);
		return -1;
	}
	dns_resolver_defaults(res);
	ldns_resolver_set_recursive(res, false);
	r->ldns = res;
	r->desc = buf_detach(&desc);
	return 0;
}

void dns_resolver_release(struct dns_resolver *r)
{
	if (r->ldns)
		ldns_resolver_deep_free(r->ldns);
	free(r->desc);
	memset(r, 0, sizeof *r);
}

static ldns_rr_type ldns_type_of(enum dns_type t)
{
	switch (t) {
	case DNS_A:
		return LDNS_RR_TYPE_A;
	case DNS_AAAA:
		return LDNS_RR_TYPE_AAAA;
	case DNS_MX:
		return LDNS_RR_TYPE_MX;
	case DNS_TXT:
		return LDNS_RR_TYPE_TXT;
	case DNS_NS:
		return LDNS_RR_TYPE_NS;
	}
	return LDNS_RR_TYPE_A;
}

/* A domain name as text without the final dot, lower case. */
static char *dname_text(const ldns_rdf *rdf)
{
	char *s = ldns_rdf2str(rdf), *copy;
	size_t n, i;

	if (!s)
		return xstrdup("");
	n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		n--;
	copy = xstrndup(s, n);
	free(s);
	for (i = 0; copy[i]; i++)
		if (copy[i] >= 'A' && copy[i] <= 'Z')
			copy[i] = (char)(copy[i] - 'A' + 'a');
	return copy;
}

/* The character-strings of a TXT record, joined (DKIM keys are split into
 * 255-byte strings). */
static char *txt_text(const ldns_rr *rr)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(rdf);
		size_t size = ldns_rdf_size(rdf);

		if (size < 1 || (size_t)d[0] + 1 > size)
			continue;
		buf_add(&b, d + 1, d[0]);
	}
	return buf_detach(&b);
}

static char *addr_text(const ldns_rr *rr)
{
	const ldns_rdf *rdf = ldns_rr_rdf(rr, 0);
	char out[64];

	if (!rdf)
		return xstrdup("");
	if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_A &&
	    ldns_rdf_size(rdf) == 4 &&
	    inet_ntop(AF_INET, ldns_rdf_data(rdf), out, sizeof out))
		return xstrdup(out);
	if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_AAAA &&
	    ldns_rdf_size(rdf) == 16 &&
	    inet_ntop(AF_INET6, ldns_rdf_data(rdf), out, sizeof out))
		return xstrdup(out);
	return xstrdup("");
}

int dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
	      struct dns_answer *a, const char **why)
{
	ldns_rdf *qname;
	ldns_pkt *pkt = NULL;
	ldns_rr_list *list;
	ldns_status st;
	struct buf fq = BUF_INIT;
	size_t i;

	memset(a, 0, sizeof *a);
	*why = NULL;
	/* ldns marks a server that failed once as unreachable for good;
	 * a poll must try it again. */
	for (i = 0; i < ldns_resolver_nameserver_count(r->ldns); i++)
		ldns_resolver_set_nameserver_rtt(r->ldns, i,
						 LDNS_RESOLV_RTT_MIN);
	buf_addstr(&fq, name);
	if (!fq.len || fq.data[fq.len - 1] != '.')
		buf_putc(&fq, '.');
	qname = ldns_dname_new_frm_str(buf_cstr(&fq));
	buf_release(&fq);
	if (!qname) {
		*why = "not a valid domain name";
		return -1;
	}
	st = ldns_resolver_query_status(&pkt, r->ldns, qname,
					ldns_type_of(type), LDNS_RR_CLASS_IN,
					ldns_resolver_recursive(r->ldns) ?
					LDNS_RD : 0);
	ldns_rdf_deep_free(qname);
	if (st != LDNS_STATUS_OK || !pkt) {
		*why = st != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(st)
					    : "no answer";
		if (!*why)
			*why = "no answer";
		if (pkt)
			ldns_pkt_free(pkt);
		return -1;
	}
	a->rcode = ldns_pkt_get_rcode(pkt);
	a->authoritative = ldns_pkt_aa(pkt);
	list = ldns_pkt_rr_list_by_type(pkt, ldns_type_of(type),
					LDNS_SECTION_ANSWER);
	if (list) {
		a->rr = xcalloc(ldns_rr_list_rr_count(list) + 1,
				sizeof *a->rr);
		for (i = 0; i < ldns_rr_list_rr_count(list); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(list, i);
			struct dns_rr *o = &a->rr[a->n];

			o->ttl = ldns_rr_ttl(rr);
			switch (type) {
			case DNS_MX:
				if (!ldns_rr_mx_exchange(rr))
					continue;
				o->pref = ldns_rdf2native_int16(
					ldns_rr_mx_preference(rr));
				o->data = dname_text(ldns_rr_mx_exchange(rr));
				break;
			case DNS_NS:
				if (!ldns_rr_ns_nsdname(rr))
					continue;
				o->data = dname_text(ldns_rr_ns_nsdname(rr));
				break;
			case DNS_TXT:
				o->data = txt_text(rr);
				break;
			case DNS_A:
			case DNS_AAAA:
				o->data = addr_text(rr);
				break;
			}
			a->n++;
		}
		ldns_rr_list_deep_free(list);
	}
	ldns_pkt_free(pkt);
	return 0;
}

void dns_answer_release(struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->rr[i].data);
	free(a->rr);
	memset(a, 0, sizeof *a);
}

const char *dns_rcode_name(int rcode)
{
	switch (rcode) {
	case 0:
		return "NOERROR";
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 3:
		return "NXDOMAIN";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	}
	return "error";
}
