/*
 * dkim.c: DKIM keys and records (see dkim.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkim.h"
#include "fsops.h"
#include "mail_domains.h"
#include "banned.h"

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;	/* never prompt: an encrypted key cannot be checked */
}

/* The public half of the private key in `path`, as DKIM publishes it in
 * p=: SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for Ed25519.
 * Returns 0, or an errno / EINVAL (not a key). */
int dkim_key_public_half(const char *path, struct buf *out, int *ed25519)
{
	EVP_PKEY *pkey;
	unsigned char *der = NULL;
	FILE *f;
	int fd, n, rc = 0;

	buf_reset(out);
	rc = fs_open_file(path, O_NOFOLLOW, &fd);
	if (rc)
		return rc;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return errno;
	}
	pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!pkey)
		return EINVAL;
	*ed25519 = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
	if (*ed25519) {
		unsigned char raw[64];
		size_t len = sizeof raw;
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) == 1)
			buf_add(out, raw, len);
		else
			rc = EINVAL;
	} else {
		n = i2d_PUBKEY(pkey, &der);
		if (n > 0)
			buf_add(out, der, (size_t)n);
		else
			rc = EINVAL;
		OPENSSL_free(der);
	}
	EVP_PKEY_free(pkey);
	return rc;
}

/* The value of tag `tag` in a DKIM record ("v=DKIM1; k=rsa; p=..."),
 * whitespace removed; NULL when absent. */
char *dkim_record_tag(const char *rec, const char *tag)
{
	struct buf val = BUF_INIT;
	const char *p = rec;
	size_t tlen = strlen(tag);

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (!strncmp(p, tag, tlen)) {
			const char *q = p + tlen;
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=') {
				for (q++; *q && *q != ';'; q++)
					if (*q != ' ' && *q != '\t' &&
					    *q != '\r' && *q != '\n')
						buf_putc(&val, *q);
				buf_cstr(&val);
				return buf_detach(&val);
			}
		}
		p = strchr(p, ';');
		if (!p)
			break;
	}
	buf_release(&val);
	return NULL;
}

/* Base64 to bytes; -1 when it is not base64. */
static int base64_decode(const char *in, struct buf *out)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *bin;
	int len;

	buf_reset(out);
	if (!n)
		return 0;
	if (n % 4)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	bin = xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(bin, (const unsigned char *)in, (int)n);
	if (len < 0 || (size_t)len < pad) {
		free(bin);
		return -1;
	}
	buf_add(out, bin, (size_t)len - pad);
	free(bin);
	return 0;
}

/* The key file of (domain, selector) from rspamd's dkim_signing.conf
 * `path` setting ($domain, $selector), or rspamd's default layout. */
void dkim_key_path(const struct mm_ctx *ctx, const char *template,
			  const char *domain, const char *selector,
			  struct buf *out)
{
	struct buf rel = BUF_INIT;
	const char *p;

	for (p = template; *p; p++) {
		if (!strncmp(p, "$domain", 7)) {
			buf_addstr(&rel, domain);
			p += 6;
		} else if (!strncmp(p, "$selector", 9)) {
			buf_addstr(&rel, selector);
			p += 8;
		} else {
			buf_putc(&rel, *p);
		}
	}
	dest_file_path(ctx, buf_cstr(&rel), out);
	buf_release(&rel);
}

char *dkim_path_template(const struct mm_ctx *ctx)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	char *v = NULL, *res;
	size_t n;

	dest_file_path(ctx, "/etc/rspamd/local.d/dkim_signing.conf", &path);
	if (dest_read_small(buf_cstr(&path), &text, 1u << 20) == 0)
		v = conf_file_value(buf_cstr(&text), "path");
	buf_release(&path);
	buf_release(&text);
	if (!v)
		return xstrdup("/var/lib/rspamd/dkim/$domain.$selector.key");
	res = v;
	n = strlen(res);
	if (n && res[n - 1] == ';')
		res[--n] = '\0';
	if (n >= 2 && res[0] == '"' && res[n - 1] == '"') {
		res = xstrndup(v + 1, n - 2);
		free(v);
	}
	return res;
}

int dkim_record_matches(const char *rec, const struct buf *pub, int ed25519)
{
	struct buf published = BUF_INIT;
	char *p = dkim_record_tag(rec, "p"), *k = dkim_record_tag(rec, "k");
	int rc = -1;

	if (p) {
		rc = base64_decode(p, &published) == 0 &&
		     published.len == pub->len &&
		     !memcmp(published.data, pub->data, pub->len) &&
		     (!k || !strcmp(k, ed25519 ? "ed25519" : "rsa"));
	}
	free(p);
	free(k);
	buf_release(&published);
	return rc;
}
