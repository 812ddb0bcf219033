/* base.c: the few things every layer shares (see base.h). */
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "banned.h"

volatile sig_atomic_t mm_interrupted;

const char *mm_strerror(int err)
{
	if (err == MM_ENOTREG)
		return "not a regular file";
	return strerror(err);
}

int mm_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Splits --rsh into words (spaces separate; single or double quotes group). */
int mm_split_words(const char *s, char ***out, int *argc)
{
	struct buf w = BUF_INIT;
	char **v = NULL;
	int n = 0, inword = 0;
	char q = 0;

	for (;; s++) {
		if (!*s || (!q && (*s == ' ' || *s == '\t'))) {
			if (inword) {
				v = xrealloc(v, (size_t)(n + 2) * sizeof *v);
				v[n++] = buf_detach(&w);
				inword = 0;
			}
			if (!*s)
				break;
			continue;
		}
		inword = 1;
		if (q && *s == q)
			q = 0;
		else if (!q && (*s == '\'' || *s == '"'))
			q = *s;
		else
			buf_putc(&w, *s);
	}
	buf_release(&w);
	if (q || !n) {
		while (n)
			free(v[--n]);
		free(v);
		return -1;
	}
	v[n] = NULL;
	*out = v;
	*argc = n;
	return 0;
}


void mm_free_words(char **argv, int argc)
{
	int i;

	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
