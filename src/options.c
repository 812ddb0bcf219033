/*
 * options.c: the options every command shares, their help text, and small
 * parsing helpers.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "endpoint.h"
#include "log.h"
#include "mailmove.h"
#include "banned.h"

const char *mm_dest_root(const struct mm_ctx *ctx)
{
	return ctx->to ? ctx->to : "/";
}

int mm_ssh_persist(const struct mm_ctx *ctx)
{
	const char *v = ctx->ssh_persist ? ctx->ssh_persist :
		getenv("MAILMOVE_SSH_PERSIST");
	uint64_t n;

	if (!v || !*v)
		return MM_SSH_PERSIST_DEFAULT;
	if (mm_parse_u64(v, &n) < 0 || n > MM_SSH_PERSIST_MAX) {
		log_warn("MAILMOVE_SSH_PERSIST=%s is not a number of seconds "
			 "from 0 to %d; using %d", v, MM_SSH_PERSIST_MAX,
			 MM_SSH_PERSIST_DEFAULT);
		return MM_SSH_PERSIST_DEFAULT;
	}
	return (int)n;
}

const char common_help[] =
	"  --from HOST|DIR    the old server: [user@]host[:port] over ssh, or a\n"
	"                     directory holding its root filesystem\n"
	"  --rsh CMD          run CMD instead of ssh (like rsync -e)\n"
	"  --agent PATH       run the agent at PATH on the old server instead\n"
	"                     of uploading it\n"
	"  --ssh-persist SEC  keep the ssh connection open SEC seconds after\n"
	"                     the run for the next command to reuse (default\n"
	"                     60, or $MAILMOVE_SSH_PERSIST; 0: never)\n";
const char to_help[] =
	"  --to DIR           destination root (default /, this machine)\n";
const char dry_help[] =
	"  -n, --dry-run      show what would change; change nothing\n";
const char json_help[] =
	"  --json             one JSON object per event on stdout, then a\n"
	"                     final result object\n";
const char verbose_help[] =
	"  -v, --verbose      say more (twice for debugging)\n"
	"  -q, --quiet        only errors\n"
	"  -h, --help         this help\n";

void mm_command_help(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: mailmove %s\n\n%s.\n\nOptions:\n", c->usage,
		c->summary);
	fputs(c->help, f);
	if (c->flags & CMD_FROM)
		fputs(common_help, f);
	if (c->flags & CMD_TO)
		fputs(to_help, f);
	if (c->flags & CMD_DRYRUN)
		fputs(dry_help, f);
	if (c->flags & CMD_JSON)
		fputs(json_help, f);
	fputs(verbose_help, f);
}

enum {
	OPT_FROM = 1000, OPT_TO, OPT_RSH, OPT_AGENT, OPT_JSON, OPT_DRYRUN,
	OPT_SSH_PERSIST,
};

int mm_parse_options(struct mm_ctx *ctx, int argc, char **argv,
		     const struct option *extra, const char *extra_short,
		     int (*on_opt)(void *arg, int key, const char *val),
		     void *arg, int *first_arg)
{
	const struct cmd *c = ctx->cmd;
	struct option opts[64];
	struct buf shorts = BUF_INIT;
	int n = 0, key, rc = MM_OK;

	memset(opts, 0, sizeof opts);
#define ADD(name_, has_, val_) do { \
		opts[n].name = name_; opts[n].has_arg = has_; \
		opts[n].flag = NULL; opts[n].val = val_; n++; } while (0)
	ADD("help", no_argument, 'h');
	ADD("verbose", no_argument, 'v');
	ADD("quiet", no_argument, 'q');
	if (c->flags & CMD_FROM) {
		ADD("from", required_argument, OPT_FROM);
		ADD("rsh", required_argument, OPT_RSH);
		ADD("agent", required_argument, OPT_AGENT);
		ADD("ssh-persist", required_argument, OPT_SSH_PERSIST);
	}
	if (c->flags & CMD_TO)
		ADD("to", required_argument, OPT_TO);
	if (c->flags & CMD_JSON)
		ADD("json", no_argument, OPT_JSON);
	if (c->flags & CMD_DRYRUN)
		ADD("dry-run", no_argument, OPT_DRYRUN);
	for (; extra && extra->name && n < 63; extra++)
		opts[n++] = *extra;
#undef ADD
	buf_addstr(&shorts, c->flags & CMD_ARGV ? "+hvq" : "hvq");
	if (c->flags & CMD_DRYRUN)
		buf_addstr(&shorts, "n");
	if (extra_short)
		buf_addstr(&shorts, extra_short);
	/* Options may follow operands, as with rsync, unless the operands
	 * are a command line of their own (CMD_ARGV). */
	optind = 1;
	opterr = 0;
	while ((key = getopt_long(argc, argv, shorts.data, opts, NULL)) != -1) {
		switch (key) {
		case 'h':
			mm_command_help(stdout, c);
			rc = -1;
			goto out;
		case 'v':
			ctx->verbose = ctx->verbose < 0 ? 1 : ctx->verbose + 1;
			break;
		case 'q':
			ctx->verbose = -1;
			break;
		case OPT_FROM:
			ctx->from = optarg;
			break;
		case OPT_TO:
			ctx->to = optarg;
			break;
		case OPT_RSH:
			ctx->rsh = optarg;
			break;
		case OPT_AGENT:
			ctx->agent = optarg;
			break;
		case OPT_SSH_PERSIST: {
			uint64_t v;

			if (mm_parse_u64(optarg, &v) < 0 ||
			    v > MM_SSH_PERSIST_MAX) {
				log_error("--ssh-persist: \"%s\" is not a number "
					  "of seconds from 0 to %d", optarg,
					  MM_SSH_PERSIST_MAX);
				rc = MM_EUSAGE;
				goto out;
			}
			ctx->ssh_persist = optarg;
			break;
		}
		case OPT_JSON:
			ctx->json = 1;
			break;
		case OPT_DRYRUN:
		case 'n':
			if (!(c->flags & CMD_DRYRUN))
				goto unknown;
			ctx->dry_run = 1;
			break;
		case '?':
		case ':':
			goto unknown;
		default:
			if (!on_opt || on_opt(arg, key, optarg) != 0) {
				rc = MM_EUSAGE;
				goto out;
			}
			break;
		}
	}
	*first_arg = optind;
	log_setup(ctx->verbose, ctx->json);
	goto out;
unknown:
	if (optopt && optopt < 256 && optopt != '?')
		log_error("%s: unknown option or missing argument: -%c "
			  "(see mailmove %s --help)", c->name, optopt, c->name);
	else
		log_error("%s: unknown option or missing argument: %s "
			  "(see mailmove %s --help)", c->name,
			  argv[optind - 1], c->name);
	rc = MM_EUSAGE;
out:
	if (rc > 0 && (c->flags & CMD_JSON)) {
		/* Rejected before --json took effect: its result is still
		 * wanted (the operands of a CMD_ARGV command are not ours). */
		int i, end = c->flags & CMD_ARGV ? optind : argc;

		for (i = 1; i < end && strcmp(argv[i], "--"); i++)
			if (!strcmp(argv[i], "--json"))
				log_setup(ctx->verbose, 1);
	}
	buf_release(&shorts);
	return rc;
}

int ep_open(const struct mm_ctx *ctx, const char *from, struct endpoint **out)
{
	struct ep_opts o = { ctx->rsh, ctx->agent, mm_ssh_persist(ctx) };

	return ep_open_with(&o, from, out);
}

int ep_open_ctx(const struct mm_ctx *ctx, struct endpoint **out)
{
	*out = NULL;
	if (!ctx->from) {
		log_error("%s: which old server?  Give --from [user@]host[:port] "
			  "or --from DIR", ctx->cmd ? ctx->cmd->name : "mailmove");
		return MM_EUSAGE;
	}
	return ep_open(ctx, ctx->from, out);
}
