/*
 * cmd_dns.c: `mailmove dns`, knowing when it is safe to switch.
 *
 * For each mail domain: its MX records with TTLs, the addresses of each MX
 * host and whether they are the old or the new server's, advice about the
 * TTL from what was seen before (switch_state.c), and whether the DKIM TXT
 * records publish the keys the destination signs with.  `--wait-switched`
 * polls until every domain's MX points at the new server.
 *
 * The domains are the DOMAIN arguments, else the lines of --domains-from,
 * else every virtual domain in the destination's mailserver database
 * (SQLite or MariaDB, found through Postfix's virtual_mailbox_domains).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim.h"
#include "dns.h"
#include "dns_check.h"
#include "endpoint.h"
#include "log.h"
#include "mail_domains.h"
#include "mailmove.h"
#include "remote.h"
#include "switch_state.h"
#include "banned.h"


struct dns_opts {
	const char *server;
	const char *state_path;
	const char *domains_from;
	struct namelist old_ips, new_ips;
	int wait;
	uint64_t timeout, interval;
	int bad;
};

enum {
	OPT_SERVER = 2000, OPT_OLD_IP, OPT_NEW_IP, OPT_WAIT, OPT_TIMEOUT,
	OPT_INTERVAL, OPT_STATE, OPT_DOMAINS_FROM,
};

static const struct option dns_options[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "old-ip", required_argument, NULL, OPT_OLD_IP },
	{ "new-ip", required_argument, NULL, OPT_NEW_IP },
	{ "wait-switched", no_argument, NULL, OPT_WAIT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "domains-from", required_argument, NULL, OPT_DOMAINS_FROM },
	{ NULL, 0, NULL, 0 },
};

static int add_ip(struct namelist *l, const char *opt, const char *val)
{
	char canon[64];

	if (dns_canonical_addr(val, canon, sizeof canon) < 0) {
		log_error("dns: %s %s: not an IP address", opt, val);
		return -1;
	}
	if (!namelist_has(l, canon))
		namelist_add(l, canon);
	return 0;
}

static int dns_on_opt(void *arg, int key, const char *val)
{
	struct dns_opts *o = arg;

	switch (key) {
	case OPT_SERVER:
		o->server = val;
		return 0;
	case OPT_OLD_IP:
		return add_ip(&o->old_ips, "--old-ip", val);
	case OPT_NEW_IP:
		return add_ip(&o->new_ips, "--new-ip", val);
	case OPT_WAIT:
		o->wait = 1;
		return 0;
	case OPT_TIMEOUT:
	case OPT_INTERVAL:
		if (mm_parse_u64(val, key == OPT_TIMEOUT ? &o->timeout
				 : &o->interval) < 0 ||
		    (key == OPT_INTERVAL && o->interval == 0)) {
			log_error("dns: %s %s: give a number of seconds",
				  key == OPT_TIMEOUT ? "--timeout"
				  : "--interval", val);
			return -1;
		}
		return 0;
	case OPT_STATE:
		o->state_path = val;
		return 0;
	case OPT_DOMAINS_FROM:
		o->domains_from = val;
		return 0;
	}
	return -1;
}

/* ---- reporting ---- */

static const char *advice_name(enum ttl_advice a)
{
	switch (a) {
	case TTL_ADVICE_LOWER:
		return "lower";
	case TTL_ADVICE_WAIT:
		return "wait";
	case TTL_ADVICE_SAFE:
		return "safe";
	case TTL_ADVICE_LOW_AT_FIRST:
		return "low-at-first-check";
	}
	return "";
}

/* Says what to do about the TTL, updates the state.  Returns the advice
 * as text into msg, and JSON fields into j. */
static void ttl_advice(struct dns_run *run, struct switch_state *st,
		       struct domain_check *d, struct buf *msg, json_t *j)
{
	struct ttl_memory m;
	enum ttl_advice adv;
	int64_t now = (int64_t)time(NULL), safe_at;
	char t1[64], t2[64], span[32];

	if (!d->authoritative) {
		buf_printf(msg, "TTL %u s seen through a cache (it counts "
			   "down): give --server with the zone's primary "
			   "server for advice", (unsigned)d->ttl);
		json_object_set_new(j, "advice", json_string("unknown"));
		return;
	}
	switch_state_get_ttl(st, d->name, &m);
	adv = ttl_memory_update(&m, d->ttl, now, &safe_at);
	if (!run->ctx->dry_run)
		switch_state_put_ttl(st, d->name, &m);
	mm_format_time(m.first_seen, t1, sizeof t1);
	switch (adv) {
	case TTL_ADVICE_LOWER:
		buf_printf(msg, "TTL %u s is high: lower it to %d or less, "
			   "then run mailmove dns again (first seen: %lld s "
			   "at %s)", (unsigned)d->ttl, TTL_LOW,
			   (long long)m.first_ttl, t1);
		break;
	case TTL_ADVICE_WAIT:
		mm_format_time(m.lowered_at, t1, sizeof t1);
		mm_format_time(safe_at, t2, sizeof t2);
		mm_format_span(safe_at - now, 1, span, sizeof span);
		buf_printf(msg, "TTL lowered to %u s (seen at %s): the switch "
			   "is safe from %s (in %s), when caches holding the "
			   "old TTL of %lld s have expired", (unsigned)d->ttl,
			   t1, t2, span, (long long)m.high_ttl);
		break;
	case TTL_ADVICE_SAFE:
		mm_format_time(m.lowered_at, t1, sizeof t1);
		mm_format_time(safe_at, t2, sizeof t2);
		buf_printf(msg, "TTL lowered to %u s (seen at %s): the switch "
			   "is safe since %s", (unsigned)d->ttl, t1, t2);
		break;
	case TTL_ADVICE_LOW_AT_FIRST:
		buf_printf(msg, "TTL %u s, already low at the first check "
			   "(%s): the switch is safe unless it was lowered "
			   "less than its old TTL ago", (unsigned)d->ttl, t1);
		break;
	}
	json_object_set_new(j, "advice", json_string(advice_name(adv)));
	json_object_set_new(j, "first_ttl", json_integer(m.first_ttl));
	json_object_set_new(j, "first_seen", json_integer(m.first_seen));
	json_object_set_new(j, "high_ttl", json_integer(m.high_ttl));
	if (m.lowered_at)
		json_object_set_new(j, "lowered_at",
				    json_integer(m.lowered_at));
	if (safe_at)
		json_object_set_new(j, "safe_at", json_integer(safe_at));
}

static const char *where_text(enum mx_where w)
{
	if (w == MX_NEW)
		return "the new server";
	if (w == MX_OLD)
		return "the old server";
	return "neither server";
}

/* Prints one domain and emits its JSON event; returns 1 if it has a
 * problem worth exit 1 (lookup failed, DKIM not matching). */
static int report_domain(struct dns_run *run, struct switch_state *st,
			 struct domain_check *d, json_t *all)
{
	json_t *j = json_object(), *jmx = json_array(), *jd = json_array();
	struct buf msg = BUF_INIT;
	size_t i, k;
	int problem = 0;

	log_out("%s\n", d->name);
	json_object_set_new(j, "domain", json_string(d->name));
	if (d->error) {
		log_out("  MX lookup failed: %s\n", d->error);
		json_object_set_new(j, "error", json_string(d->error));
		problem = 1;
	}
	if (d->no_mx)
		log_out("  no MX record: mail goes to the domain's own "
			"address\n");
	for (i = 0; i < d->nmx; i++) {
		struct mx_host *h = &d->mx[i];
		json_t *jh = json_object(), *ja = json_array();

		if (!d->no_mx)
			log_out("  MX %u %s (TTL %u)\n", h->pref, h->host,
				(unsigned)h->ttl);
		for (k = 0; k < h->naddrs; k++) {
			log_out("    %s (TTL %u): %s\n", h->addrs[k].addr,
				(unsigned)h->addrs[k].ttl,
				where_text(h->addrs[k].where));
			json_array_append_new(ja, json_pack("{s:s,s:i,s:s}",
				"address", h->addrs[k].addr,
				"ttl", (json_int_t)h->addrs[k].ttl,
				"server", mx_where_name(h->addrs[k].where)));
		}
		if (h->error)
			log_out("    %s\n", h->error);
		json_object_set_new(jh, "host", json_string(h->host));
		json_object_set_new(jh, "preference", json_integer(h->pref));
		json_object_set_new(jh, "ttl", json_integer(h->ttl));
		json_object_set_new(jh, "addresses", ja);
		if (h->error)
			json_object_set_new(jh, "error",
					    json_string(h->error));
		json_array_append_new(jmx, jh);
	}
	json_object_set_new(j, "mx", jmx);
	if (!d->error) {
		json_object_set_new(j, "ttl", json_integer(d->ttl));
		json_object_set_new(j, "authoritative",
				    json_boolean(d->authoritative));
		json_object_set_new(j, "switched", json_boolean(d->switched));
		json_object_set_new(j, "on_old_server",
				    json_boolean(d->has_old));
		if (d->switched) {
			log_out("  switched: mail goes to the new server\n");
		} else if (d->has_old) {
			log_out("  not switched: the MX still points at the "
				"old server\n");
		} else if (!d->all_primary_new) {
			log_out("  not switched: the MX points at neither "
				"server%s\n", run->old_addrs.n ? ""
				: " (the old server's addresses are unknown: "
				  "--from or --old-ip)");
		}
		ttl_advice(run, st, d, &msg, j);
		log_out("  %s\n", buf_cstr(&msg));
	}
	for (i = 0; i < d->ndkim; i++) {
		struct dkim_check *c = &d->dkim[i];
		log_out("  DKIM %s: %s: %s\n", c->selector,
			dkim_status_name(c->status), c->detail);
		if (c->status != DKIM_MATCH) {
			log_warn("%s: DKIM selector %s: %s", d->name,
				 c->selector, c->detail);
			problem = 1;
		}
		json_array_append_new(jd, json_pack("{s:s,s:s,s:s}",
			"selector", c->selector,
			"status", dkim_status_name(c->status),
			"detail", c->detail));
	}
	json_object_set_new(j, "dkim", jd);
	json_array_append(all, j);
	out_event("domain", j);
	buf_release(&msg);
	return problem;
}

/* The resolver for one domain: --server, else the zone's authoritative
 * servers, else the system's resolver.  *own says whether to release. */
static struct dns_resolver *resolver_for(struct dns_run *run,
					 const char *domain,
					 struct dns_resolver *tmp, int *own)
{
	*own = 0;
	if (!run->o->server && dns_authoritative_resolver(run, domain, tmp) == 0) {
		log_verbose("dns: %s: asking %s", domain, tmp->desc);
		*own = 1;
		return tmp;
	}
	return &run->system;
}

static void sleep_interruptible(uint64_t secs)
{
	double until = mm_now() + (double)secs;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	while (!mm_interrupted && mm_now() < until)
		nanosleep(&ts, NULL);
}

/* Polls until every domain is switched; returns MM_OK, MM_EDIFF on
 * timeout (naming the domains), or MM_EINTR. */
static int wait_switched(struct dns_run *run, struct namelist *domains,
			 int *switched)
{
	struct progress p;
	double start = mm_now();
	size_t i, done = 0;
	int rc = MM_OK;
	struct buf names = BUF_INIT;

	for (i = 0; i < domains->n; i++)
		done += switched[i] != 0;
	progress_start(&p, "domains switched", domains->n, 0);
	progress_add(&p, done, 0);
	while (done < domains->n) {
		if (mm_interrupted) {
			rc = MM_EINTR;
			break;
		}
		if (run->o->timeout && mm_now() - start >= (double)run->o->timeout) {
			rc = MM_EDIFF;
			break;
		}
		sleep_interruptible(run->o->interval);
		if (mm_interrupted)
			continue;
		for (i = 0; i < domains->n; i++) {
			struct domain_check d;
			struct dns_resolver tmp, *res;
			int own;

			if (switched[i])
				continue;
			memset(&d, 0, sizeof d);
			d.name = xstrdup(domains->v[i]);
			res = resolver_for(run, d.name, &tmp, &own);
			dns_check_mx(run, res, &d);
			if (own)
				dns_resolver_release(&tmp);
			if (d.switched) {
				switched[i] = 1;
				done++;
				progress_add(&p, 1, 0);
				log_info("%s: the MX now points at the new "
					 "server (%zu of %zu switched)",
					 d.name, done, domains->n);
				out_event("switched", json_pack("{s:s}",
					"domain", d.name));
			}
			domain_check_release(&d);
		}
	}
	progress_end(&p);
	if (rc == MM_EDIFF) {
		for (i = 0; i < domains->n; i++)
			if (!switched[i])
				buf_printf(&names, "%s%s", names.len ? ", " : "",
					   domains->v[i]);
		log_error("dns: timed out after %llu s; not yet on the new "
			  "server: %s", (unsigned long long)run->o->timeout,
			  buf_cstr(&names));
	}
	buf_release(&names);
	return rc;
}

/* The domains: the arguments, --domains-from, else the destination's
 * mailserver database, else the old server's.  MM_OK or an exit code. */
static int take_domains(const struct mm_ctx *ctx, const struct dns_opts *o,
			int argc, char **argv, int first,
			struct namelist *domains)
{
	int i, rc;

	for (i = first; i < argc; i++)
		if (mail_domain_add(domains, argv[i], "argument") < 0)
			return MM_EUSAGE;
	if (o->domains_from && mail_domains_from_file(o->domains_from, domains))
		return MM_EUSAGE;
	if (!domains->n && !o->domains_from) {
		rc = mail_domains_from_destination(ctx, domains);
		if (rc < 0)
			return MM_EUSAGE;
		if (rc > 0) {
			rc = mail_domains_from_old(ctx, domains);
			if (rc)
				return rc;
		}
	}
	if (!domains->n) {
		log_error("dns: no domains to check");
		return MM_EUSAGE;
	}
	return MM_OK;
}

/* Whose addresses are whose: --new-ip/--old-ip, else this machine's and
 * the old server's own.  MM_OK or an exit code. */
static int whose_addresses(struct dns_run *run)
{
	const struct dns_opts *o = run->o;
	size_t k;
	int rc;

	for (k = 0; k < o->new_ips.n; k++)
		namelist_add(&run->new_addrs, o->new_ips.v[k]);
	if (!run->new_addrs.n)
		dns_addrs_of_this_machine(&run->new_addrs);
	for (k = 0; k < o->old_ips.n; k++)
		namelist_add(&run->old_addrs, o->old_ips.v[k]);
	if (!run->old_addrs.n && run->ctx->from) {
		struct endpoint *ep;

		rc = ep_open_ctx(run->ctx, &ep);
		if (rc)
			return rc;
		if (dns_addrs_of_old_server(ep, &run->old_addrs) < 0)
			rc = ep_exit_code(ep);
		ep_close(ep);
		if (rc)
			return rc;
	}
	for (k = 0; k < run->old_addrs.n; k++)
		if (namelist_has(&run->new_addrs, run->old_addrs.v[k]))
			log_warn("dns: %s is both the old and the new server's "
				 "address; it counts as the new one",
				 run->old_addrs.v[k]);
	return MM_OK;
}

int cmd_dns(struct mm_ctx *ctx, int argc, char **argv)
{
	struct dns_opts o;
	struct dns_run run;
	struct namelist domains = { NULL, 0, 0 };
	struct switch_state st;
	struct buf map = BUF_INIT, path = BUF_INIT;
	char *template = NULL;
	int first, rc, problems = 0, *switched = NULL, have_map;
	size_t k;
	json_t *all, *res;

	memset(&o, 0, sizeof o);
	memset(&run, 0, sizeof run);
	memset(&st, 0, sizeof st);
	o.interval = 10;
	rc = mm_parse_options(ctx, argc, argv, dns_options, "", dns_on_opt, &o,
			      &first);
	if (rc) {
		rc = rc < 0 ? MM_OK : rc;
		goto out;
	}
	if (o.timeout && !o.wait) {
		log_error("dns: --timeout goes with --wait-switched");
		rc = MM_EUSAGE;
		goto out;
	}
	run.ctx = ctx;
	run.o = &o;
	rc = take_domains(ctx, &o, argc, argv, first, &domains);
	if (rc)
		goto out;
	rc = whose_addresses(&run);
	if (rc)
		goto out;
	if (dns_resolver_init(&run.system, o.server) < 0) {
		rc = o.server ? MM_EUSAGE : MM_EDEST;
		goto out;
	}
	run.system_ok = 1;
	log_verbose("dns: asking %s", run.system.desc);

	if (switch_state_open(&st, ctx, o.state_path, !ctx->dry_run) < 0) {
		rc = MM_EDEST;
		goto out;
	}

	dest_file_path(ctx, "/etc/rspamd/dkim_selectors.map", &path);
	have_map = dest_read_small(buf_cstr(&path), &map, 4u << 20) == 0;
	if (!have_map)
		log_verbose("dns: no DKIM selector map at %s",
			    buf_cstr(&path));
	template = dkim_path_template(ctx);

	all = json_array();
	switched = xcalloc(domains.n, sizeof *switched);
	for (k = 0; k < domains.n && !mm_interrupted; k++) {
		struct domain_check d;
		struct dns_resolver tmp, *r;
		int own;

		memset(&d, 0, sizeof d);
		d.name = xstrdup(domains.v[k]);
		r = resolver_for(&run, d.name, &tmp, &own);
		dns_check_mx(&run, r, &d);
		if (have_map)
			dns_check_dkim(&run, r, &d, buf_cstr(&map), template);
		if (own)
			dns_resolver_release(&tmp);
		problems += report_domain(&run, &st, &d, all);
		switched[k] = d.switched;
		domain_check_release(&d);
	}
	rc = mm_interrupted ? MM_EINTR : problems ? MM_EDIFF : MM_OK;
	if (o.wait && rc != MM_EINTR) {
		int wrc = wait_switched(&run, &domains, switched);
		if (wrc)
			rc = wrc;
	}
	res = json_object();
	json_object_set_new(res, "domains", all);
	json_object_set_new(res, "problems", json_integer(problems));
	if (o.wait) {
		json_t *pending = json_array();
		size_t n = 0;

		for (k = 0; k < domains.n; k++) {
			n += switched[k] != 0;
			if (!switched[k])
				json_array_append_new(pending,
					json_string(domains.v[k]));
		}
		json_object_set_new(res, "switched", json_integer((json_int_t)n));
		json_object_set_new(res, "not_switched", pending);
	}
	out_result(res);
out:
	free(switched);
	free(template);
	buf_release(&map);
	buf_release(&path);
	switch_state_release(&st);
	if (run.system_ok)
		dns_resolver_release(&run.system);
	namelist_release(&run.old_addrs);
	namelist_release(&run.new_addrs);
	namelist_release(&o.old_ips);
	namelist_release(&o.new_ips);
	namelist_release(&domains);
	return rc;
}
