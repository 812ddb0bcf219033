/* ask.c: the yes/no question before an irreversible step (see ask.h). */
#include "ask.h"

#include <stdio.h>
#include <string.h>

#include "banned.h"

int mm_ask(const char *question)
{
	char answer[64];
	FILE *tty = fopen("/dev/tty", "r+e");
	int yes = 0;

	if (!tty)
		return -1;
	fputs(question, tty);
	fputs(" [y/N] ", tty);
	fflush(tty);
	if (fgets(answer, sizeof answer, tty))
		yes = (answer[0] == 'y' || answer[0] == 'Y') &&
		      strspn(answer + 1, "esES") == strcspn(answer + 1, "\r\n");
	else
		fputc('\n', tty);
	fclose(tty);
	return yes;
}
