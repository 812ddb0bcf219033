/*
 * main.c: the command table, the common options, signals and exit codes.
 * Only main() exits; every command returns an enum mm_exit.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mailmove.h"
#include "banned.h"

/* The commands, in the order of a migration. */
const struct cmd mm_commands[] = {
	{ "check", cmd_check, CMD_FROM | CMD_TO | CMD_JSON,
	  "preflight: reach the old server, compare systems and disk space",
	  "check [--from HOST|DIR] [--to DIR] [--json]",
	  "" },
	/* slot: db */

	/* slot: redis */
	{ "redis", cmd_redis, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON,
	  "copy rspamd's Redis data (Bayes, reputation, history) and compare",
	  "redis [--from HOST|DIR] [--to DIR] [--src ADDR] [--dest ADDR] "
	  "[--db N]... [--match PATTERN] [--replace] "
	  "[--rename-history OLD:NEW] [--dry-run] [--json]",
	  "  --src ADDR         the old Redis as seen from the old server:\n"
	  "                     redis://HOST:PORT[/DB] or unix:PATH (default:\n"
	  "                     rspamd's redis.conf there, else 127.0.0.1:6379);\n"
	  "                     without --from, reached directly\n"
	  "  --dest ADDR        the new Redis (default: rspamd's redis.conf\n"
	  "                     under --to, else 127.0.0.1:6379); /DB puts the\n"
	  "                     one copied database there\n"
	  "  --db N             copy only database N (repeatable; default every\n"
	  "                     database in use)\n"
	  "  --match PATTERN    copy only keys matching the glob PATTERN\n"
	  "  --replace          overwrite keys that differ on the new server\n"
	  "                     (default: keep them and report them)\n"
	  "  --rename-history OLD:NEW\n"
	  "                     rename rspamd's history (rs_history<OLD>) to\n"
	  "                     the new host name\n"
	  "  --password-file FILE\n"
	  "                     the old Redis's password (first line of FILE;\n"
	  "                     default: rspamd's configuration)\n"
	  "  --dest-password-file FILE\n"
	  "                     the same for the new Redis\n"
	  "  --no-check         skip the comparison after the copy\n"
	  "  --batch N          keys per pipelined batch (default 1000)\n" },

	/* slot: files */

	/* slot: sync */

	/* slot: verify */

	/* slot: dns */

	/* slot: queue */

	/* slot: softbounce */

	/* slot: cutover */

	{ "ls", cmd_ls, CMD_FROM | CMD_JSON | CMD_PLUMBING,
	  "list a tree on the old server through the agent",
	  "ls [--from HOST|DIR] [-l] [-R] PATH",
	  "  -l, --long         show mode, owner, size and mtime\n"
	  "  -R, --recursive    descend into directories\n" },
	{ "cat", cmd_cat, CMD_FROM | CMD_PLUMBING,
	  "print files of the old server through the agent",
	  "cat [--from HOST|DIR] PATH...",
	  "" },
	{ "exec", cmd_exec, CMD_FROM | CMD_PLUMBING | CMD_ARGV,
	  "run a program on the old server (no shell) and show its output",
	  "exec [--from HOST|DIR] [--] PROGRAM [ARG...]",
	  "" },
	{ "tunnel", cmd_tunnel, CMD_FROM | CMD_PLUMBING | CMD_ARGV,
	  "run a local command while a local socket reaches a port or "
	  "socket on the old server",
	  "tunnel [--from HOST|DIR] TARGET [--] COMMAND [ARG...]",
	  "  TARGET is tcp:HOST:PORT or unix:PATH as seen from the old server;\n"
	  "  an argument {} is replaced by the local socket's path, which is\n"
	  "  also in $MAILMOVE_SOCKET\n" },
	{ "help", cmd_help, 0, "show help for mailmove or one command",
	  "help [COMMAND]", "" },
	{ "version", cmd_version, 0, "show the version", "version", "" },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};

static void on_signal(int sig)
{
	(void)sig;
	mm_interrupted = 1;
}

const struct cmd *mm_find_command(const char *name)
{
	const struct cmd *c;

	for (c = mm_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void main_help(FILE *f)
{
	const struct cmd *c;

	fputs("usage: mailmove COMMAND [options] [args]\n"
	      "\n"
	      "Moves a running Postfix + Dovecot mail server from an old Debian\n"
	      "machine to this one without losing a message.\n"
	      "\n"
	      "Commands:\n", f);
	for (c = mm_commands; c->name; c++)
		if (!(c->flags & CMD_PLUMBING))
			fprintf(f, "  %-11s %s\n", c->name, c->summary);
	fputs("\nPlumbing:\n", f);
	for (c = mm_commands; c->name; c++)
		if (c->flags & CMD_PLUMBING)
			fprintf(f, "  %-11s %s\n", c->name, c->summary);
	fputs("\n"
	      "Run 'mailmove help COMMAND' or 'mailmove COMMAND --help' for its\n"
	      "options.  Common options:\n", f);
	fputs(common_help, f);
	fputs(to_help, f);
	fputs(json_help, f);
	fputs(verbose_help, f);
	fputs("  --version          show the version\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  finished, with differences or per-item failures (listed)\n"
	      "  2  usage or configuration error\n"
	      "  3  cannot reach the other host or its agent\n"
	      "  4  destination problem (disk full, permission)\n"
	      "  5  interrupted\n"
	      "\n"
	      "Environment:\n"
	      "  MAILMOVE_TRACE=1          print every protocol frame on stderr\n"
	      "  MAILMOVE_AGENT_BINARY     the agent binary to upload or run\n"
	      "  MAILMOVE_NO_PROGRESS=1    no progress line even on a terminal\n"
	      "\n"
	      "See mailmove(1).\n", f);
}

int cmd_help(struct mm_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c;
	int first, rc;

	rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (rc)
		return rc < 0 ? MM_OK : rc;
	if (first >= argc) {
		main_help(stdout);
		return MM_OK;
	}
	c = mm_find_command(argv[first]);
	if (!c) {
		log_error("no such command: %s (see mailmove --help)",
			  argv[first]);
		return MM_EUSAGE;
	}
	mm_command_help(stdout, c);
	return MM_OK;
}

int cmd_version(struct mm_ctx *ctx, int argc, char **argv)
{
	int first, rc;

	if (ctx->cmd) {
		rc = mm_parse_options(ctx, argc, argv, NULL, NULL, NULL, NULL,
				      &first);
		if (rc)
			return rc < 0 ? MM_OK : rc;
	}
	printf("mailmove %s\n", MAILMOVE_VERSION);
	return MM_OK;
}

int main(int argc, char **argv)
{
	struct mm_ctx ctx;
	struct sigaction sa;
	const struct cmd *c;
	int rc;

	memset(&ctx, 0, sizeof ctx);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;	/* no SA_RESTART: blocking reads return */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_setup(0, 0);

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		main_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? MM_EUSAGE : MM_OK;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(&ctx, argc, argv);
	c = mm_find_command(argv[1]);
	if (!c) {
		log_error("no such command: %s (see mailmove --help)", argv[1]);
		return MM_EUSAGE;
	}
	ctx.cmd = c;
	rc = c->fn(&ctx, argc - 1, argv + 1);
	if (mm_interrupted && rc != MM_OK)
		rc = MM_EINTR;
	return rc;
}
