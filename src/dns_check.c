/*
 * dns_check.c: the DNS questions of `mailmove dns` (see dns_check.h).
 */
#include "dns_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base.h"
#include "buf.h"
#include "dkim.h"
#include "log.h"
#include "mail_domains.h"
#include "remote.h"
#include "banned.h"

void domain_check_release(struct domain_check *d)
{
	size_t i, j;

	for (i = 0; i < d->nmx; i++) {
		for (j = 0; j < d->mx[i].naddrs; j++)
			free(d->mx[i].addrs[j].addr);
		free(d->mx[i].addrs);
		free(d->mx[i].host);
		free(d->mx[i].error);
	}
	free(d->mx);
	for (i = 0; i < d->ndkim; i++) {
		free(d->dkim[i].selector);
		free(d->dkim[i].detail);
	}
	free(d->dkim);
	free(d->error);
	free(d->name);
	memset(d, 0, sizeof *d);
}

int dns_authoritative_resolver(struct dns_run *run, const char *domain,
				  struct dns_resolver *out)
{
	struct dns_answer ns, ad;
	struct namelist addrs = { NULL, 0, 0 };
	const char *zone = domain, *why;
	size_t i, k;
	int t, rc = -1;

	for (;;) {
		if (dns_query(&run->system, zone, DNS_NS, &ns, &why) < 0)
			return -1;
		if (ns.rcode == 0 && ns.n)
			break;
		dns_answer_release(&ns);
		zone = strchr(zone, '.');
		if (!zone || !strchr(zone + 1, '.'))
			return -1;
		zone++;
	}
	for (i = 0; i < ns.n; i++) {
		for (t = 0; t < 2; t++) {
			if (dns_query(&run->system, ns.rr[i].data,
				      t ? DNS_AAAA : DNS_A, &ad, &why) < 0)
				continue;
			for (k = 0; k < ad.n; k++)
				if (!namelist_has(&addrs, ad.rr[k].data))
					namelist_add(&addrs, ad.rr[k].data);
			dns_answer_release(&ad);
		}
	}
	dns_answer_release(&ns);
	if (addrs.n)
		rc = dns_resolver_init_addrs(out, addrs.v, addrs.n);
	namelist_release(&addrs);
	return rc;
}

const char *mx_where_name(enum mx_where w)
{
	return w == MX_NEW ? "new" : w == MX_OLD ? "old" : "other";
}

const char *dkim_status_name(enum dkim_status s)
{
	static const char *const names[] = {
		[DKIM_MATCH] = "match",
		[DKIM_MISMATCH] = "mismatch",
		[DKIM_MISSING] = "missing",
		[DKIM_NO_KEY] = "no-key",
		[DKIM_ERROR] = "error",
	};

	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "error";
}

static enum mx_where where_is(const struct dns_run *run, const char *addr)
{
	if (namelist_has(&run->new_addrs, addr))
		return MX_NEW;
	if (namelist_has(&run->old_addrs, addr))
		return MX_OLD;
	return MX_OTHER;
}

/* A/AAAA of one MX host: asked of `res`, then of the system resolver when
 * `res` does not know the name (an MX host outside the zone). */
static void resolve_mx_host(struct dns_run *run, struct dns_resolver *res,
			    struct domain_check *d, struct mx_host *h)
{
	struct dns_answer a;
	const char *why;
	int t, asked_any = 0;
	size_t k;

	for (t = 0; t < 2; t++) {
		enum dns_type type = t ? DNS_AAAA : DNS_A;
		int r = dns_query(res, h->host, type, &a, &why);

		if ((r < 0 || a.rcode == 5 ||
		     (!a.authoritative && !a.n)) && res != &run->system &&
		    run->system_ok) {
			if (r == 0)
				dns_answer_release(&a);
			r = dns_query(&run->system, h->host, type, &a, &why);
		}
		if (r < 0) {
			if (!h->error)
				h->error = xstrdup(why);
			continue;
		}
		asked_any = 1;
		for (k = 0; k < a.n; k++) {
			struct mx_addr *m;

			h->addrs = xrealloc(h->addrs, (h->naddrs + 1) *
					    sizeof *h->addrs);
			m = &h->addrs[h->naddrs++];
			m->addr = xstrdup(a.rr[k].data);
			m->ttl = a.rr[k].ttl;
			m->where = where_is(run, m->addr);
			/* A cache's countdown (an MX host outside the zone,
			 * asked of the system's resolver) is no TTL to
			 * advise on. */
			if (a.authoritative && m->ttl > d->ttl)
				d->ttl = m->ttl;
		}
		dns_answer_release(&a);
	}
	if (asked_any && !h->naddrs && !h->error)
		h->error = xstrdup("no A or AAAA record");
}

static int mx_cmp(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->host, y->host);
}

void dns_check_mx(struct dns_run *run, struct dns_resolver *res,
		     struct domain_check *d)
{
	struct dns_answer a;
	const char *why;
	size_t i, j;
	uint16_t best = 0xffff;

	d->authoritative = 1;
	if (dns_query(res, d->name, DNS_MX, &a, &why) < 0) {
		d->error = xstrdup(why);
		return;
	}
	if (a.rcode != 0) {
		d->error = xstrdup(dns_rcode_name(a.rcode));
		dns_answer_release(&a);
		return;
	}
	d->authoritative = a.authoritative;
	if (!a.n) {
		/* No MX: mail goes to the domain's own address. */
		d->no_mx = 1;
		d->mx = xcalloc(1, sizeof *d->mx);
		d->nmx = 1;
		d->mx[0].host = xstrdup(d->name);
	} else {
		d->mx = xcalloc(a.n, sizeof *d->mx);
		for (i = 0; i < a.n; i++) {
			d->mx[i].host = xstrdup(a.rr[i].data);
			d->mx[i].pref = a.rr[i].pref;
			d->mx[i].ttl = a.rr[i].ttl;
			if (a.rr[i].ttl > d->ttl)
				d->ttl = a.rr[i].ttl;
		}
		d->nmx = a.n;
		qsort(d->mx, d->nmx, sizeof *d->mx, mx_cmp);
	}
	dns_answer_release(&a);
	for (i = 0; i < d->nmx; i++) {
		resolve_mx_host(run, res, d, &d->mx[i]);
		if (d->mx[i].naddrs && d->mx[i].pref < best)
			best = d->mx[i].pref;
	}
	d->all_primary_new = best != 0xffff;
	for (i = 0; i < d->nmx; i++) {
		for (j = 0; j < d->mx[i].naddrs; j++) {
			enum mx_where w = d->mx[i].addrs[j].where;
			if (w == MX_OLD)
				d->has_old = 1;
			if (d->mx[i].pref == best && w != MX_NEW)
				d->all_primary_new = 0;
		}
	}
	d->switched = d->all_primary_new && !d->has_old;
}

/* ---- DKIM ---- */

static void dkim_add(struct domain_check *d, const char *selector,
		     enum dkim_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void dkim_add(struct domain_check *d, const char *selector,
		     enum dkim_status status, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	struct dkim_check *c;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	d->dkim = xrealloc(d->dkim, (d->ndkim + 1) * sizeof *d->dkim);
	c = &d->dkim[d->ndkim++];
	c->selector = xstrdup(selector);
	c->status = status;
	c->detail = buf_detach(&b);
}

/* Compares the TXT record of one selector with its key file. */
static void check_dkim_selector(struct dns_run *run, struct dns_resolver *res,
				struct domain_check *d, const char *selector,
				const char *template)
{
	struct buf name = BUF_INIT, keyfile = BUF_INIT, pub = BUF_INIT;
	struct dns_answer a;
	const char *why;
	size_t i;
	int ed25519 = 0, err, found = 0, matched = 0;

	buf_printf(&name, "%s._domainkey.%s", selector, d->name);
	dkim_key_path(run->ctx, template, d->name, selector, &keyfile);
	err = dkim_key_public_half(buf_cstr(&keyfile), &pub, &ed25519);
	if (err) {
		dkim_add(d, selector, DKIM_NO_KEY, "%s: %s", buf_cstr(&keyfile),
			 err == EINVAL ? "not a private key mailmove can read"
			 : mm_strerror(err));
		goto out;
	}
	if (dns_query(res, buf_cstr(&name), DNS_TXT, &a, &why) < 0) {
		dkim_add(d, selector, DKIM_ERROR, "%s: %s", buf_cstr(&name),
			 why);
		goto out;
	}
	for (i = 0; i < a.n && !matched; i++) {
		int m = dkim_record_matches(a.rr[i].data, &pub, ed25519);

		if (m >= 0)
			found = 1;
		if (m > 0)
			matched = 1;
	}
	if (matched)
		dkim_add(d, selector, DKIM_MATCH, "%s publishes the key of %s",
			 buf_cstr(&name), buf_cstr(&keyfile));
	else if (found)
		dkim_add(d, selector, DKIM_MISMATCH, "%s does not publish the "
			 "public half of %s", buf_cstr(&name),
			 buf_cstr(&keyfile));
	else
		dkim_add(d, selector, DKIM_MISSING,
			 "no DKIM TXT record at %s (%s)",
			 buf_cstr(&name), dns_rcode_name(a.rcode));
	dns_answer_release(&a);
out:
	buf_release(&name);
	buf_release(&keyfile);
	buf_release(&pub);
}

void dns_check_dkim(struct dns_run *run, struct dns_resolver *res,
		       struct domain_check *d, const char *map_text,
		       const char *template)
{
	char *copy = xstrdup(map_text), *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = conf_trim(line), *dom, *sel, *s2 = NULL;

		if (!*p || *p == '#')
			continue;
		dom = strtok_r(p, " \t", &s2);
		sel = strtok_r(NULL, " \t", &s2);
		if (!dom || !sel || strcasecmp(dom, d->name))
			continue;
		if (!dns_name_ok(sel)) {
			struct buf q = BUF_INIT;
			mm_quote(&q, sel);
			dkim_add(d, buf_cstr(&q), DKIM_ERROR,
				 "selector is not a valid name");
			buf_release(&q);
			continue;
		}
		check_dkim_selector(run, res, d, sel, template);
	}
	free(copy);
}

/* ---- whose addresses ---- */

/* Addresses that are not the machine's identity: loopback, link-local. */
static int addr_is_local_only(const char *a)
{
	return !strncmp(a, "127.", 4) || !strcmp(a, "::1") ||
	       !strncmp(a, "fe80:", 5);
}

void dns_addrs_of_this_machine(struct namelist *out)
{
	struct ifaddrs *ifa, *i;
	char text[64];

	if (getifaddrs(&ifa) < 0) {
		log_warn("dns: cannot list this machine's addresses: %s",
			 strerror(errno));
		return;
	}
	for (i = ifa; i; i = i->ifa_next) {
		const void *bin;

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			bin = &((struct sockaddr_in *)(void *)i->ifa_addr)
				       ->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6)
			bin = &((struct sockaddr_in6 *)(void *)i->ifa_addr)
				       ->sin6_addr;
		else
			continue;
		if (!inet_ntop(i->ifa_addr->sa_family, bin, text, sizeof text))
			continue;
		if (!addr_is_local_only(text) && !namelist_has(out, text))
			namelist_add(out, text);
	}
	freeifaddrs(ifa);
}

/* Adds every address-looking word of `text` ("a/24" counts as "a"). */
static void addrs_from_text(const char *text, struct namelist *out)
{
	char *copy = xstrdup(text), *w, *save = NULL, canon[64];

	for (w = strtok_r(copy, " \t\n", &save); w;
	     w = strtok_r(NULL, " \t\n", &save)) {
		char *slash = strchr(w, '/');
		if (slash)
			*slash = '\0';
		if (dns_canonical_addr(w, canon, sizeof canon) == 0 &&
		    !addr_is_local_only(canon) && !namelist_has(out, canon))
			namelist_add(out, canon);
	}
	free(copy);
}

int dns_addrs_of_old_server(struct endpoint *ep, struct namelist *out)
{
	static char *hostname_argv[] = { "hostname", "-I", NULL };
	static char *ip_argv[] = { "ip", "-o", "addr", "show", NULL };
	struct buf o = BUF_INIT, e = BUF_INIT;
	int rc, status = 0;

	rc = remote_run(ep, hostname_argv, NULL, &o, &e, 1u << 20, &status);
	if (rc == 0 && status == 0) {
		addrs_from_text(buf_cstr(&o), out);
	} else if (rc >= 0) {
		buf_reset(&o);
		buf_reset(&e);
		rc = remote_run(ep, ip_argv, NULL, &o, &e, 1u << 20, &status);
		if (rc == 0 && status == 0)
			addrs_from_text(buf_cstr(&o), out);
	}
	if (rc >= 0) {
		if (!out->n)
			log_warn("dns: could not learn the old server's "
				 "addresses (hostname -I, ip addr); give "
				 "--old-ip");
		rc = 0;
	}
	buf_release(&o);
	buf_release(&e);
	return rc < 0 ? MM_LOST : 0;
}
