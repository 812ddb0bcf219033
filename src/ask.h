/*
 * ask.h: one yes/no question to the admin before something that cannot be
 * taken back (the cutover's downtime, deleting queued mail).
 *
 * The question goes to the controlling terminal, never to stdin or stdout:
 * a command whose input or output is a pipe or a file still asks the person
 * at the terminal, and a run without a terminal (cron, CI, ssh without -t)
 * is refused instead of reading a stray "y" from somewhere.
 */
#ifndef MM_ASK_H
#define MM_ASK_H

/* Shows `question` followed by " [y/N] " on /dev/tty and reads one line.
 * Returns 1 for an answer starting with y or Y, 0 for anything else (an
 * empty line, end of input, Ctrl-C), and -1 when there is no terminal. */
int mm_ask(const char *question);

#endif
