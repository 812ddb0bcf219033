/* maildir.c: the Maildir grammar (see maildir.h). */
#include "maildir.h"

#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#include "banned.h"

size_t md_base_len(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon ? (size_t)(colon - name) : strlen(name);
}

int md_flags(const char *name, struct buf *std, struct buf *kw)
{
	const char *info = strchr(name, ':'), *p;
	static const char order[] = "DFPRST";
	const char *o;

	buf_reset(std);
	buf_reset(kw);
	if (!info || info[1] != '2' || info[2] != ',')
		return -1;
	info += 3;
	for (o = order; *o; o++)
		for (p = info; *p && *p != ','; p++)
			if (*p == *o) {
				buf_putc(std, *o);
				break;
			}
	for (p = info; *p && *p != ','; p++)
		if (*p >= 'a' && *p <= 'z' && !memchr(kw->data ? kw->data : "", *p, kw->len))
			buf_putc(kw, *p);
	return 0;
}

static int has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static int has_suffix(const char *s, const char *x)
{
	size_t n = strlen(s), m = strlen(x);

	return n >= m && !strcmp(s + n - m, x);
}

enum md_kind md_classify(const char *name)
{
	if (!strcmp(name, "cur") || !strcmp(name, "new"))
		return MD_SUBDIR_MSG;
	if (!strcmp(name, "tmp"))
		return MD_SUBDIR_TMP;
	if (has_suffix(name, ".lock") || has_suffix(name, ".tmp") ||
	    has_prefix(name, "temp.") || !strcmp(name, "..DOVECOT-TRASHED") ||
	    has_prefix(name, "dovecot-uidvalidity"))
		return MD_NEVER;
	if (!strcmp(name, "dovecot-uidlist") ||
	    !strcmp(name, "dovecot-keywords") ||
	    !strcmp(name, "subscriptions") || !strcmp(name, "dovecot-acl") ||
	    !strcmp(name, "dovecot-shared") || !strcmp(name, "maildirfolder"))
		return MD_META;
	if (has_prefix(name, "dovecot.index") ||
	    has_prefix(name, "dovecot.list.index") ||
	    has_prefix(name, "dovecot.mailbox.log"))
		return MD_INDEX;
	if (!strcmp(name, "maildirsize"))
		return MD_QUOTA;
	return MD_OTHER;
}

int md_is_message_name(const char *name)
{
	return name[0] && name[0] != '.' && !strpbrk(name, "\r\n");
}

static uint32_t parse_u32(const char *s, const char **end)
{
	unsigned long long v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && v <= UINT32_MAX)
		v = v * 10 + (unsigned)(*p++ - '0');
	*end = p;
	if (p == s || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

void uidlist_release(struct uidlist *ul)
{
	size_t i;

	for (i = 0; i < ul->n; i++) {
		free(ul->recs[i].base);
		free(ul->recs[i].extra);
	}
	free(ul->recs);
	free(ul->guid);
	memset(ul, 0, sizeof *ul);
}

/* Parses the header line "3 V<uidvalidity> N<nextuid> [G<guid>] ...". */
static int uidlist_header(const char *line, size_t len, struct uidlist *ul,
			  struct buf *why)
{
	char *copy = xstrndup(line, len), *tok, *save;
	const char *end;
	int rc = 0;

	tok = strtok_r(copy, " ", &save);
	ul->version = tok ? parse_u32(tok, &end) : 0;
	if (ul->version != 3) {
		buf_printf(why, "uidlist version %s is not 3", tok ? tok : "?");
		rc = -1;
		goto out;
	}
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (tok[0] == 'V')
			ul->uidvalidity = parse_u32(tok + 1, &end);
		else if (tok[0] == 'N')
			ul->nextuid = parse_u32(tok + 1, &end);
		else if (tok[0] == 'G' && !ul->guid)
			ul->guid = xstrdup(tok + 1);
	}
	if (!ul->uidvalidity || !ul->nextuid) {
		buf_addstr(why, "uidlist header lacks V or N");
		rc = -1;
	}
out:
	free(copy);
	return rc;
}

int uidlist_parse(const char *data, size_t len, struct uidlist *ul,
		  struct buf *why)
{
	const char *p = data, *end = data + len;
	size_t cap = 0;
	uint32_t last = 0;

	memset(ul, 0, sizeof *ul);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *colon, *q;
		uint32_t uid;

		if (p == data) {
			if (uidlist_header(p, (size_t)(le - p), ul, why) < 0)
				goto bad;
		} else if (le > p) {
			uid = parse_u32(p, &q);
			colon = memchr(p, ':', (size_t)(le - p));
			if (!uid || !colon || (q < le && *q != ' ' && *q != ':')) {
				buf_printf(why, "uidlist line %zu is malformed",
					   ul->n + 2);
				goto bad;
			}
			if (uid <= last) {
				buf_printf(why, "uidlist UIDs not ascending at "
					   "%u", uid);
				goto bad;
			}
			last = uid;
			XGROW(ul->recs, ul->n, cap, 64);
			ul->recs[ul->n].uid = uid;
			ul->recs[ul->n].base = xstrndup(colon + 1,
						(size_t)(le - colon - 1));
			while (q < colon && *q == ' ')
				q++;
			ul->recs[ul->n].extra = xstrndup(q, (size_t)(colon - q));
			ul->n++;
		}
		p = nl ? nl + 1 : end;
	}
	if (!ul->version) {
		buf_addstr(why, "uidlist is empty");
		goto bad;
	}
	return 0;
bad:
	uidlist_release(ul);
	return -1;
}

int keywords_parse(const char *data, size_t len, struct keywords *kw)
{
	const char *p = data, *end = data + len;

	memset(kw, 0, sizeof *kw);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *q;
		uint32_t idx = parse_u32(p, &q);

		if (q > p && q < le && *q == ' ' && idx < 26 &&
		    !(idx == 0 && *p != '0')) {
			free(kw->name[idx]);
			kw->name[idx] = xstrndup(q + 1, (size_t)(le - q - 1));
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

void keywords_release(struct keywords *kw)
{
	int i;

	for (i = 0; i < 26; i++)
		free(kw->name[i]);
	memset(kw, 0, sizeof *kw);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void md_keyword_names(const char *letters, size_t n,
		      const struct keywords *kw, struct buf *out)
{
	char *names[26], unknown[26][4];
	size_t i, k = 0;

	buf_reset(out);
	for (i = 0; i < n && k < 26; i++) {
		int idx = letters[i] - 'a';
		if (idx < 0 || idx >= 26)
			continue;
		if (kw && kw->name[idx]) {
			names[k++] = kw->name[idx];
		} else {
			/* A letter without a name: keep it visible. */
			unknown[k][0] = '?';
			unknown[k][1] = letters[i];
			unknown[k][2] = '\0';
			names[k] = unknown[k];
			k++;
		}
	}
	qsort(names, k, sizeof names[0], cmp_str);
	for (i = 0; i < k; i++) {
		if (i)
			buf_putc(out, ' ');
		buf_addstr(out, names[i]);
	}
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static void put_utf8(struct buf *out, uint32_t cp)
{
	if (cp < 0x80) {
		buf_putc(out, (int)cp);
	} else if (cp < 0x800) {
		buf_putc(out, (int)(0xc0 | cp >> 6));
		buf_putc(out, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_putc(out, (int)(0xe0 | cp >> 12));
		buf_putc(out, (int)(0x80 | ((cp >> 6) & 0x3f)));
		buf_putc(out, (int)(0x80 | (cp & 0x3f)));
	} else {
		buf_putc(out, (int)(0xf0 | cp >> 18));
		buf_putc(out, (int)(0x80 | ((cp >> 12) & 0x3f)));
		buf_putc(out, (int)(0x80 | ((cp >> 6) & 0x3f)));
		buf_putc(out, (int)(0x80 | (cp & 0x3f)));
	}
}

int md_mutf7_decode(const char *in, struct buf *out)
{
	size_t start = out->len;
	const char *p = in;

	while (*p) {
		uint32_t bits = 0, hi = 0;
		int nbits = 0;

		if (*p != '&') {
			buf_putc(out, *p++);
			continue;
		}
		p++;
		if (*p == '-') {
			buf_putc(out, '&');
			p++;
			continue;
		}
		while (*p && *p != '-') {
			int v = b64_value(*p++);
			if (v < 0)
				goto bad;
			bits = bits << 6 | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t u = (bits >> (nbits - 16)) & 0xffff;
				nbits -= 16;
				if (u >= 0xd800 && u < 0xdc00) {
					hi = u;
				} else if (u >= 0xdc00 && u < 0xe000 && hi) {
					put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) +
						 (u - 0xdc00));
					hi = 0;
				} else {
					put_utf8(out, u);
				}
			}
		}
		if (*p != '-')
			goto bad;
		p++;
	}
	return 0;
bad:
	out->len = start;
	buf_addstr(out, in);
	return -1;
}

void md_user_of(const char *relpath, struct buf *out)
{
	const char *m = strstr(relpath, "/Maildir"), *s1, *s2;

	buf_reset(out);
	if (m && (m[8] == '\0' || m[8] == '/')) {
		buf_add(out, relpath, (size_t)(m - relpath));
		return;
	}
	s1 = strchr(relpath, '/');
	if (!s1)
		return;
	s2 = strchr(s1 + 1, '/');
	buf_add(out, relpath, s2 ? (size_t)(s2 - relpath) : strlen(relpath));
}

int md_symlink_hides_mail(const char *path)
{
	const char *name = strrchr(path, '/'), *parent, *p;
	size_t plen, depth = 1;

	name = name ? name + 1 : path;
	if (!strcmp(name, "Maildir") || !strcmp(name, "cur") ||
	    !strcmp(name, "new") || !strcmp(name, "tmp"))
		return 1;
	for (p = path; *p; p++)
		depth += *p == '/';
	plen = name > path ? (size_t)(name - path - 1) : 0;
	parent = path + plen;
	while (parent > path && parent[-1] != '/')
		parent--;
	plen = (size_t)(path + plen - parent);	/* the parent's last name */
	if ((plen == 3 && (!memcmp(parent, "cur", 3) ||
			   !memcmp(parent, "new", 3))) ||
	    (plen == 7 && !memcmp(parent, "Maildir", 7) && name[0] == '.' &&
	     strcmp(name, ".dovecot.sieve")))
		return 1;
	return depth <= 2 && name[0] != '.';
}

void md_conflict_base(const char *base, unsigned n, struct buf *out)
{
	uint64_t h = XXH3_64bits(base, strlen(base));
	const char *ext = strchr(base, ',');
	long long secs = strtoll(base, NULL, 10);

	if (secs <= 0)
		secs = 1000000000 + (long long)(h % 1000000000);
	buf_printf(out, "%lld.M%06lluP%lluQ%u.mailmove", secs,
		   (unsigned long long)(h % 1000000),
		   (unsigned long long)((h >> 24) % 90000 + 10000), n);
	/* The ",S=..." fields while the name stays well within NAME_MAX,
	 * flags included. */
	if (ext && out->len + md_base_len(ext) <= 200)
		buf_add(out, ext, md_base_len(ext));
}
