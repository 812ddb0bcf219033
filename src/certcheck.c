/* certcheck.c: certificate, key and DKIM checks on the destination (see
 * certcheck.h). */
#include "certcheck.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base.h"
#include "buf.h"
#include "fsops.h"
#include "log.h"
#include "secret.h"
#include "banned.h"

#define CC_FILE_MAX (1u << 20)	/* certificates, keys and configs are small */
#define CC_EXPIRY_WARN_DAYS 14

void certcheck_init(struct certcheck *c, int rootfd)
{
	memset(c, 0, sizeof *c);
	c->rootfd = rootfd;
}

/* Never ask for a passphrase on the terminal: an encrypted key fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static void join_path(struct buf *p, const char *dir, const char *name)
{
	buf_reset(p);
	buf_addstr(p, dir);
	if (p->len && p->data[p->len - 1] != '/')
		buf_putc(p, '/');
	buf_addstr(p, name);
}

/* Adds one problem to a "; "-separated list and to a JSON array. */
static void problem(struct buf *list, json_t *arr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct buf *list, json_t *arr, const char *fmt, ...)
{
	struct buf one = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&one, fmt, ap);
	va_end(ap);
	if (list->len)
		buf_addstr(list, "; ");
	buf_addstr(list, buf_cstr(&one));
	json_array_append_new(arr, json_string(buf_cstr(&one)));
	buf_release(&one);
}

/* Reads `rel` beneath the root; returns 0 or an errno. */
static int read_rel(const struct certcheck *c, const char *rel,
		    struct buf *out)
{
	return fs_read_in_root(c->rootfd, rel, out, CC_FILE_MAX);
}

/* The first certificate of a PEM file, or NULL (*err set: errno or 0 for
 * "does not parse"). */
static X509 *load_cert(const struct certcheck *c, const char *rel, int *err)
{
	struct buf data = BUF_INIT;
	X509 *x = NULL;
	BIO *bio;

	*err = read_rel(c, rel, &data);
	if (!*err) {
		bio = BIO_new_mem_buf(buf_cstr(&data), (int)data.len);
		x = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)
			: NULL;
		BIO_free(bio);
		ERR_clear_error();
	}
	buf_release(&data);
	return x;
}

static EVP_PKEY *load_key(const struct certcheck *c, const char *rel,
			  int *err)
{
	struct buf data = BUF_INIT;
	EVP_PKEY *k = NULL;
	BIO *bio;

	*err = read_rel(c, rel, &data);
	if (!*err) {
		bio = BIO_new_mem_buf(buf_cstr(&data), (int)data.len);
		k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
						  NULL)
			: NULL;
		BIO_free(bio);
		ERR_clear_error();
	}
	secret_release(&data);	/* key material */
	return k;
}

/* The DNS names of the subjectAltName, else the subject's CN. */
static void cert_names(X509 *x, struct buf *text, json_t *arr)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
					       NULL);
	int i, n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		struct buf one = BUF_INIT;

		if (g->type != GEN_DNS)
			continue;
		buf_add(&one, ASN1_STRING_get0_data(g->d.dNSName),
			(size_t)ASN1_STRING_length(g->d.dNSName));
		mm_quote(text, buf_cstr(&one));
		buf_putc(text, ' ');
		json_array_append_new(arr, json_string(buf_cstr(&one)));
		buf_release(&one);
	}
	GENERAL_NAMES_free(gens);
	if (!json_array_size(arr)) {
		X509_NAME *subj = X509_get_subject_name(x);
		int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		X509_NAME_ENTRY *ne = idx >= 0 ? X509_NAME_get_entry(subj, idx)
					       : NULL;
		ASN1_STRING *cn = ne ? X509_NAME_ENTRY_get_data(ne) : NULL;

		if (cn) {
			struct buf one = BUF_INIT;
			buf_add(&one, ASN1_STRING_get0_data(cn),
				(size_t)ASN1_STRING_length(cn));
			mm_quote(text, buf_cstr(&one));
			buf_putc(text, ' ');
			json_array_append_new(arr, json_string(buf_cstr(&one)));
			buf_release(&one);
		}
	}
	if (text->len && text->data[text->len - 1] == ' ')
		text->data[--text->len] = '\0';
}

/* Prints one check's result line and its JSON event; counts it. */
static void report(struct certcheck *c, const char *what, const char *name,
		   const char *details, const struct buf *problems,
		   json_t *ev)
{
	struct buf q = BUF_INIT;

	mm_quote(&q, name);
	c->checked++;
	if (problems->len) {
		c->failed++;
		log_out("check %s %s: FAILED: %s\n", what, q.data,
			problems->data);
	} else {
		log_out("check %s %s: ok%s%s\n", what, q.data,
			*details ? ", " : "", details);
	}
	json_object_set_new(ev, "ok", json_boolean(!problems->len));
	out_event(what, ev);
	buf_release(&q);
}

/* live/<name>: cert.pem parses, names and expiry, privkey.pem matches,
 * fullchain.pem begins with the same certificate. */
static void check_live(struct certcheck *c, const char *le_dir,
		       const char *name)
{
	struct buf dir = BUF_INIT, p = BUF_INIT, probs = BUF_INIT,
		   details = BUF_INIT, names = BUF_INIT;
	json_t *ev = json_object(), *jp = json_array(), *jn = json_array();
	X509 *cert, *full;
	EVP_PKEY *key;
	int err;

	join_path(&dir, le_dir, "live/");
	buf_addstr(&dir, name);
	json_object_set_new(ev, "name", json_string(name));
	join_path(&p, buf_cstr(&dir), "cert.pem");
	cert = load_cert(c, buf_cstr(&p), &err);
	if (!cert) {
		problem(&probs, jp, "cert.pem %s", err ? mm_strerror(err)
			: "does not parse as a PEM certificate");
		goto done;
	}
	{
		const ASN1_TIME *na = X509_get0_notAfter(cert);
		struct tm tm;
		char when[32] = "?";
		int days = 0, secs = 0;

		cert_names(cert, &names, jn);
		json_object_set(ev, "names", jn);
		buf_printf(&details, "names %s", buf_cstr(&names));
		if (ASN1_TIME_to_tm(na, &tm))
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		ASN1_TIME_diff(&days, &secs, NULL, na);
		json_object_set_new(ev, "not_after", json_string(when));
		json_object_set_new(ev, "days_left", json_integer(days));
		if (days < 0 || (days == 0 && secs <= 0)) {
			problem(&probs, jp, "expired on %.10s", when);
		} else {
			buf_printf(&details, ", expires %.10s (%d days left)",
				   when, days);
			if (days < CC_EXPIRY_WARN_DAYS) {
				c->warnings++;
				log_warn("certificate %s expires in %d days",
					 name, days);
			}
		}
	}
	join_path(&p, buf_cstr(&dir), "privkey.pem");
	key = load_key(c, buf_cstr(&p), &err);
	if (!key) {
		json_object_set_new(ev, "key", json_string("unreadable"));
		problem(&probs, jp, "privkey.pem %s", err ? mm_strerror(err)
			: "does not parse as a private key");
	} else if (X509_check_private_key(cert, key) != 1) {
		json_object_set_new(ev, "key", json_string("mismatch"));
		problem(&probs, jp, "privkey.pem does not match the "
			"certificate");
	} else {
		json_object_set_new(ev, "key", json_string("matches"));
		buf_addstr(&details, ", key matches");
	}
	ERR_clear_error();
	EVP_PKEY_free(key);
	join_path(&p, buf_cstr(&dir), "fullchain.pem");
	full = load_cert(c, buf_cstr(&p), &err);
	if (!full)
		problem(&probs, jp, "fullchain.pem %s", err ? mm_strerror(err)
			: "does not parse as a PEM certificate");
	else if (X509_cmp(cert, full) != 0)
		problem(&probs, jp, "fullchain.pem does not begin with "
			"cert.pem");
	X509_free(full);
	X509_free(cert);
done:
	json_object_set_new(ev, "problems", jp);
	report(c, "certificate", name, buf_cstr(&details), &probs, ev);
	json_decref(jn);
	buf_release(&dir);
	buf_release(&p);
	buf_release(&probs);
	buf_release(&details);
	buf_release(&names);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Whether `path` (absolute, from a config) is a directory (want_dir) or
 * a file beneath the root. */
static int exists_in_root(const struct certcheck *c, const char *path,
			  int want_dir)
{
	int fd;

	if (want_dir ? fs_open_in_root(c->rootfd, path, O_DIRECTORY, &fd)
	    : fs_open_file_in_root(c->rootfd, path, &fd))
		return 0;
	close(fd);
	return 1;
}

/* One webroot path of a renewal config (comma-separated lists allowed). */
static void check_webroots(const struct certcheck *c, char *list,
			   struct buf *probs, json_t *jp, int *count)
{
	char *save = NULL, *w;

	for (w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		w = trim(w);
		if (!*w)
			continue;
		(*count)++;
		if (!exists_in_root(c, w, 1)) {
			struct buf one = BUF_INIT;

			/* One webroot often serves several names: once. */
			buf_printf(&one, "webroot %s is missing on this server",
				   w);
			if (!strstr(buf_cstr(probs), one.data))
				problem(probs, jp, "%s", one.data);
			buf_release(&one);
		}
	}
}

/* renewal/<file>: what its authenticator and installer need here. */
static void check_renewal(struct certcheck *c, const char *le_dir,
			  const char *file)
{
	struct buf p = BUF_INIT, data = BUF_INIT, probs = BUF_INIT,
		   details = BUF_INIT;
	json_t *ev = json_object(), *jp = json_array();
	char *name = xstrndup(file, strlen(file) - 5), *line, *save = NULL;
	char auth[64] = "", inst[64] = "", section[64] = "";
	int err, webroots = 0;

	join_path(&p, le_dir, "renewal/");
	buf_addstr(&p, file);
	json_object_set_new(ev, "name", json_string(name));
	err = read_rel(c, buf_cstr(&p), &data);
	if (err) {
		problem(&probs, jp, "%s: %s", file, mm_strerror(err));
		goto done;
	}
	buf_grow(&data, 0);	/* an empty file still has a string */
	data.data[data.len] = '\0';
	for (line = strtok_r(data.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *key, *val, *eq;

		line = trim(line);
		if (!*line || *line == '#')
			continue;
		if (*line == '[') {
			size_t n;
			while (*line == '[')
				line++;
			n = strcspn(line, "]");
			if (n >= sizeof section)
				n = sizeof section - 1;
			memcpy(section, line, n);
			section[n] = '\0';
			continue;
		}
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		if (!strcmp(section, "webroot_map")) {
			check_webroots(c, val, &probs, jp, &webroots);
		} else if (!strcmp(key, "authenticator")) {
			snprintf(auth, sizeof auth, "%s", val);
		} else if (!strcmp(key, "installer")) {
			snprintf(inst, sizeof inst, "%s", val);
		} else if (!strcmp(key, "webroot_path")) {
			check_webroots(c, val, &probs, jp, &webroots);
		} else if (strlen(key) > 12 &&
			   !strcmp(key + strlen(key) - 12, "_credentials") &&
			   !exists_in_root(c, val, 0)) {
			problem(&probs, jp, "%s %s is missing on this server",
				key, val);
		}
	}
	json_object_set_new(ev, "authenticator", json_string(auth));
	buf_printf(&details, "authenticator %s", *auth ? auth : "unknown");
	if (!*auth)
		problem(&probs, jp, "no authenticator is set: certbot cannot "
			"renew this certificate");
	if (!strcmp(auth, "webroot") && !webroots)
		problem(&probs, jp, "webroot authenticator without a webroot "
			"path");
	if ((!strcmp(auth, "nginx") || !strcmp(inst, "nginx")) &&
	    !exists_in_root(c, "/etc/nginx", 1))
		problem(&probs, jp, "needs nginx, and /etc/nginx is missing "
			"on this server");
	if ((!strcmp(auth, "apache") || !strcmp(inst, "apache")) &&
	    !exists_in_root(c, "/etc/apache2", 1))
		problem(&probs, jp, "needs apache, and /etc/apache2 is "
			"missing on this server");
	if (!strcmp(auth, "standalone"))
		buf_addstr(&details, " (port 80 must be free at renewal)");
done:
	json_object_set_new(ev, "problems", jp);
	report(c, "renewal", name, buf_cstr(&details), &probs, ev);
	free(name);
	buf_release(&p);
	buf_release(&data);
	buf_release(&probs);
	buf_release(&details);
}

/* Names in a directory beneath the root, sorted so output is stable. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_dir(const struct certcheck *c, const char *rel,
		       int want_dir, const char *suffix, char ***out)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dh;
	int fd;

	*out = NULL;
	if (fs_open_in_root(c->rootfd, rel, O_DIRECTORY, &fd))
		return 0;
	dh = fdopendir(fd);
	if (!dh) {
		close(fd);
		return 0;
	}
	while ((d = readdir(dh)) != NULL) {
		struct stat st;
		size_t len = strlen(d->d_name), sl = suffix ? strlen(suffix) : 0;

		if (d->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(dh), d->d_name, &st, 0) < 0 ||
		    (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
			continue;
		if (suffix && (len <= sl || strcmp(d->d_name + len - sl, suffix)))
			continue;
		XGROW(v, n, cap, 16);
		v[n++] = xstrdup(d->d_name);
	}
	closedir(dh);
	if (n)
		qsort(v, n, sizeof *v, cmp_str);
	*out = v;
	return n;
}

static void free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void certcheck_letsencrypt(struct certcheck *c, const char *le_dir)
{
	struct buf p = BUF_INIT;
	char **v;
	size_t n, i;

	join_path(&p, le_dir, "live");
	n = list_dir(c, buf_cstr(&p), 1, NULL, &v);
	for (i = 0; i < n; i++)
		check_live(c, le_dir, v[i]);
	free_names(v, n);
	join_path(&p, le_dir, "renewal");
	n = list_dir(c, buf_cstr(&p), 0, ".conf", &v);
	for (i = 0; i < n; i++)
		check_renewal(c, le_dir, v[i]);
	if (n && !exists_in_root(c, "/usr/bin/certbot", 0) &&
	    !exists_in_root(c, "/snap/bin/certbot", 0)) {
		c->warnings++;
		log_warn("certbot is not installed on this server: the "
			 "certificates will not be renewed until it is");
	}
	free_names(v, n);
	buf_release(&p);
}

static const char *key_type(const EVP_PKEY *k)
{
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_RSA:
		return "RSA";
	case EVP_PKEY_ED25519:
		return "Ed25519";
	case EVP_PKEY_EC:
		return "EC";
	default:
		return OBJ_nid2sn(EVP_PKEY_base_id(k));
	}
}

/* One DKIM key file: parses, type and size; counted as a check. */
static int check_key_file(struct certcheck *c, const char *path,
			  const char *label, json_t *ev, struct buf *probs,
			  json_t *jp, struct buf *details)
{
	EVP_PKEY *k;
	struct stat st;
	int err, fd;

	k = load_key(c, path, &err);
	if (!k) {
		problem(probs, jp, "%s: %s", path, err ? mm_strerror(err)
			: "does not parse as a private key");
		return -1;
	}
	json_object_set_new(ev, "type", json_string(key_type(k)));
	json_object_set_new(ev, "bits", json_integer(EVP_PKEY_bits(k)));
	buf_printf(details, "%s%s %d bits", label, key_type(k),
		   EVP_PKEY_bits(k));
	EVP_PKEY_free(k);
	if (!fs_open_file_in_root(c->rootfd, path, &fd)) {
		if (fstat(fd, &st) == 0 && (st.st_mode & 0004)) {
			c->warnings++;
			log_warn("%s is readable by every user", path);
		}
		close(fd);
	}
	return 0;
}

/* The `path` and `selector_map` settings at the top level of rspamd's
 * dkim_signing.conf (per-domain blocks are nested and skipped). */
static void parse_signing_conf(const char *text, struct buf *path,
			       struct buf *map)
{
	const char *p = text;
	int depth = 0;

	while (*p) {
		const char *ls = p, *le = strchr(p, '\n');
		size_t n;

		if (!le)
			le = p + strlen(p);
		p = *le ? le + 1 : le;
		while (ls < le && (*ls == ' ' || *ls == '\t'))
			ls++;
		if (ls == le || *ls == '#')
			continue;
		if (depth == 0) {
			struct buf *dst = NULL;
			const char *v;

			if (!strncmp(ls, "path", 4) && strchr(" \t=", ls[4]))
				dst = path, v = ls + 4;
			else if (!strncmp(ls, "selector_map", 12) &&
				 strchr(" \t=", ls[12]))
				dst = map, v = ls + 12;
			else
				v = NULL;
			if (dst) {
				while (v < le && strchr(" \t=", *v))
					v++;
				if (v < le && (*v == '"' || *v == '\'')) {
					const char *q = memchr(v + 1, *v,
							       (size_t)(le - v - 1));
					n = q ? (size_t)(q - v - 1) : 0;
					v++;
				} else {
					n = strcspn(v, ";\n");
					while (n && (v[n - 1] == ' ' ||
						     v[n - 1] == '\r'))
						n--;
				}
				buf_reset(dst);
				buf_add(dst, v, n);
			}
		}
		for (; ls < le; ls++) {
			if (*ls == '{')
				depth++;
			else if (*ls == '}' && depth > 0)
				depth--;
		}
	}
}

/* The key path for a selector map line: the pattern with $domain and
 * $selector (or ${domain}, ${selector}) substituted. */
static void key_path(const char *pattern, const char *domain,
		     const char *selector, struct buf *out)
{
	const char *p = pattern;

	buf_reset(out);
	while (*p) {
		if (!strncmp(p, "$domain", 7)) {
			buf_addstr(out, domain);
			p += 7;
		} else if (!strncmp(p, "${domain}", 9)) {
			buf_addstr(out, domain);
			p += 9;
		} else if (!strncmp(p, "$selector", 9)) {
			buf_addstr(out, selector);
			p += 9;
		} else if (!strncmp(p, "${selector}", 11)) {
			buf_addstr(out, selector);
			p += 11;
		} else {
			buf_putc(out, *p++);
		}
	}
}

static void check_selector_map(struct certcheck *c, const char *map,
			       const char *pattern, int named)
{
	struct buf data = BUF_INIT, kp = BUF_INIT;
	char *line, *save = NULL;
	unsigned lineno = 0, entries = 0;
	int err;

	err = read_rel(c, map, &data);
	if (err) {
		struct buf probs = BUF_INIT;
		json_t *ev = json_object(), *jp = json_array();

		if (err == ENOENT && !named) {
			json_decref(ev);
			json_decref(jp);
			return;
		}
		problem(&probs, jp, "%s: %s", map, mm_strerror(err));
		json_object_set_new(ev, "map", json_string(map));
		json_object_set_new(ev, "problems", jp);
		report(c, "selector", map, "", &probs, ev);
		buf_release(&probs);
		return;
	}
	buf_grow(&data, 0);	/* an empty file still has a string */
	data.data[data.len] = '\0';
	for (line = strtok_r(data.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#'), *domain, *selector, *extra,
		     *s2 = NULL;
		struct buf probs = BUF_INIT, details = BUF_INIT,
			   label = BUF_INIT;
		json_t *ev, *jp;

		lineno++;
		if (hash)
			*hash = '\0';
		domain = strtok_r(line, " \t\r", &s2);
		if (!domain)
			continue;
		selector = strtok_r(NULL, " \t\r", &s2);
		extra = strtok_r(NULL, " \t\r", &s2);
		ev = json_object();
		jp = json_array();
		json_object_set_new(ev, "domain", json_string(domain));
		if (!selector || extra || strchr(domain, '/') ||
		    strchr(selector, '/')) {
			buf_printf(&label, "%s line %u", map, lineno);
			problem(&probs, jp, "expected \"domain selector\"");
		} else {
			buf_printf(&label, "%s %s", domain, selector);
			json_object_set_new(ev, "selector",
					    json_string(selector));
			key_path(pattern, domain, selector, &kp);
			json_object_set_new(ev, "key", json_string(kp.data));
			buf_printf(&details, "%s, ", kp.data);
			check_key_file(c, kp.data, "", ev, &probs, jp,
				       &details);
		}
		json_object_set_new(ev, "problems", jp);
		report(c, "selector", buf_cstr(&label), buf_cstr(&details),
		       &probs, ev);
		buf_release(&probs);
		buf_release(&details);
		buf_release(&label);
		entries++;
	}
	if (!entries) {
		c->warnings++;
		log_warn("%s has no \"domain selector\" line: rspamd signs "
			 "nothing by it", map);
	}
	buf_release(&data);
	buf_release(&kp);
}

void certcheck_dkim(struct certcheck *c, const char *dkim_dir,
		    const char *signing_conf, const char *selector_map)
{
	struct buf pattern = BUF_INIT, map = BUF_INIT, data = BUF_INIT,
		   p = BUF_INIT;
	int named = 0;
	char **v;
	size_t n = 0, i;

	if (dkim_dir)
		n = list_dir(c, dkim_dir, 0, ".key", &v);
	for (i = 0; i < n; i++) {
		struct buf probs = BUF_INIT, details = BUF_INIT;
		json_t *ev = json_object(), *jp = json_array();

		join_path(&p, dkim_dir, v[i]);
		if (p.data[0] != '/') {
			buf_reset(&data);
			buf_putc(&data, '/');
			buf_addstr(&data, p.data);
			buf_reset(&p);
			buf_addstr(&p, data.data);
		}
		json_object_set_new(ev, "path", json_string(p.data));
		check_key_file(c, p.data, "", ev, &probs, jp, &details);
		json_object_set_new(ev, "problems", jp);
		report(c, "dkim_key", p.data, buf_cstr(&details), &probs, ev);
		buf_release(&probs);
		buf_release(&details);
	}
	if (dkim_dir)
		free_names(v, n);
	buf_addstr(&pattern, "/var/lib/rspamd/dkim/$domain.$selector.key");
	if (selector_map)
		buf_addstr(&map, selector_map);
	if (signing_conf && read_rel(c, signing_conf, &data) == 0) {
		struct buf cp = BUF_INIT, cm = BUF_INIT;

		parse_signing_conf(buf_cstr(&data), &cp, &cm);
		if (cp.len) {
			buf_reset(&pattern);
			buf_addstr(&pattern, cp.data);
		}
		if (cm.len) {
			buf_reset(&map);
			buf_addstr(&map, cm.data);
			named = 1;
		}
		buf_release(&cp);
		buf_release(&cm);
	}
	if (map.len)
		check_selector_map(c, map.data, pattern.data,
				   named || selector_map);
	buf_release(&pattern);
	buf_release(&map);
	buf_release(&data);
	buf_release(&p);
}
