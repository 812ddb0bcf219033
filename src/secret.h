/*
 * secret.h: password files (`db --password-file`, `redis
 * --password-file`, ...): read once, never shown, wiped after use.
 */
#ifndef MM_SECRET_H
#define MM_SECRET_H

#include "buf.h"

#define SECRET_FILE_MAX 65536

/*
 * Reads the password in `path`: its first line, without "\n" or "\r\n".
 * A regular file or a pipe (a shell's `<(command)`) is read; anything else
 * is refused, and a FIFO nobody writes to reads as empty instead of
 * blocking the run.  A file that others may read is warned about; an
 * empty first line, a NUL byte or more than SECRET_FILE_MAX bytes are
 * refused.  Returns 0, or an errno
 * (EINVAL: no password on the first line) after saying why.  No message
 * ever holds the content.  Release `out` with secret_release().
 */
int secret_read_file(const char *path, struct buf *out);

/* Wipes and frees a buffer that held a secret. */
void secret_release(struct buf *b);

#endif
