/*
 * mailmove.h: what every command shares: the run context with the common
 * options, and the command table.  The exit codes and the interrupt flag
 * are in base.h, which the layers below the commands include instead.
 */
#ifndef MM_MAILMOVE_H
#define MM_MAILMOVE_H

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>

#include "base.h"

/* What a command accepts; the dispatcher and option parser follow these. */
#define CMD_FROM	(1u << 0)	/* --from, --rsh, --agent */
#define CMD_TO		(1u << 1)	/* --to */
#define CMD_DRYRUN	(1u << 2)	/* --dry-run */
#define CMD_JSON	(1u << 3)	/* --json */
#define CMD_PLUMBING	(1u << 4)	/* listed apart in --help */
#define CMD_ARGV	(1u << 5)	/* options end at the first operand */
#define CMD_LOCK	(1u << 6)	/* writes: takes its lock (lock.h) once
					   it knows it will write */

struct mm_ctx;

struct cmd {
	const char *name;
	int (*fn)(struct mm_ctx *ctx, int argc, char **argv);
	unsigned flags;
	const char *summary;	/* one line for `mailmove --help` */
	const char *usage;	/* synopsis after "mailmove " */
	const char *help;	/* the command's own options, one per line */
};

struct mm_ctx {
	const struct cmd *cmd;
	const char *from;	/* [user@]host[:port] or a directory */
	const char *to;		/* destination root; NULL means "/" */
	const char *rsh;	/* replaces "ssh" */
	const char *agent;	/* agent path on the old server */
	const char *ssh_persist; /* --ssh-persist as given, or NULL */
	int json;
	int verbose;		/* -1 quiet, 0 normal, 1.. more */
	int dry_run;
};

/*
 * Parses the options of ctx->cmd: the common ones its flags allow, plus
 * `extra` (may be NULL) whose keys go to on_opt().  On return *first_arg is
 * the index of the first operand.  Returns MM_OK, or MM_EUSAGE after saying
 * why; `--help` prints the command's help and returns -1 (exit 0).
 */
int mm_parse_options(struct mm_ctx *ctx, int argc, char **argv,
		     const struct option *extra, const char *extra_short,
		     int (*on_opt)(void *arg, int key, const char *val),
		     void *arg, int *first_arg);

/* The destination root for ctx: ctx->to or "/". */
const char *mm_dest_root(const struct mm_ctx *ctx);

/* Seconds an ssh connection to the old server stays open for the next
 * command (--ssh-persist, else $MAILMOVE_SSH_PERSIST, else 60); 0: none. */
#define MM_SSH_PERSIST_DEFAULT 60
#define MM_SSH_PERSIST_MAX 86400
int mm_ssh_persist(const struct mm_ctx *ctx);

/* Help texts shared by `mailmove --help` and each command's --help. */
extern const char common_help[], to_help[], dry_help[], json_help[],
	verbose_help[];
void mm_command_help(FILE *f, const struct cmd *c);

/* Commands, one file each (cmd_NAME.c). */
int cmd_help(struct mm_ctx *ctx, int argc, char **argv);
int cmd_version(struct mm_ctx *ctx, int argc, char **argv);
int cmd_check(struct mm_ctx *ctx, int argc, char **argv);
int cmd_db(struct mm_ctx *ctx, int argc, char **argv);
int cmd_redis(struct mm_ctx *ctx, int argc, char **argv);
int cmd_files(struct mm_ctx *ctx, int argc, char **argv);
int cmd_sync(struct mm_ctx *ctx, int argc, char **argv);
int cmd_verify(struct mm_ctx *ctx, int argc, char **argv);
int cmd_dns(struct mm_ctx *ctx, int argc, char **argv);
int cmd_queue(struct mm_ctx *ctx, int argc, char **argv);
int cmd_softbounce(struct mm_ctx *ctx, int argc, char **argv);
int cmd_cutover(struct mm_ctx *ctx, int argc, char **argv);
int cmd_run(struct mm_ctx *ctx, int argc, char **argv);
int cmd_finish(struct mm_ctx *ctx, int argc, char **argv);
int cmd_ls(struct mm_ctx *ctx, int argc, char **argv);
int cmd_cat(struct mm_ctx *ctx, int argc, char **argv);
int cmd_exec(struct mm_ctx *ctx, int argc, char **argv);
int cmd_tunnel(struct mm_ctx *ctx, int argc, char **argv);

extern const struct cmd mm_commands[];
const struct cmd *mm_find_command(const char *name);

#endif
