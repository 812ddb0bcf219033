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
	{ "db", cmd_db, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "copy the mailserver (or Roundcube) database, MariaDB or SQLite",
	  "db [--from HOST|DIR] [--to DIR] [--src URL] [--dest URL] "
	  "[--roundcube] [--mail-host HOST] [--replace] [--dry-run] [--json]",
	  "  --src URL          the old database (default: found in the old\n"
	  "                     server's Postfix, Dovecot or Roundcube config);\n"
	  "                     sqlite:PATH, mysql://USER@HOST[:PORT]/DB or\n"
	  "                     mysql://USER@/DB?socket=PATH\n"
	  "  --dest URL         the new database (default: found in this\n"
	  "                     server's config under --to)\n"
	  "  --roundcube        Roundcube's user data instead of the mailserver\n"
	  "                     tables\n"
	  "  --mail-host HOST   users.mail_host on the new server (default: the\n"
	  "                     imap_host of its Roundcube config)\n"
	  "  --replace          replace different rows on the new server, after\n"
	  "                     a 0600 backup of them\n"
	  "  --password-file FILE      the --dest password (first line)\n"
	  "  --src-password-file FILE  the --src password (first line)\n" },

	{ "redis", cmd_redis, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
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

	{ "files", cmd_files, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "copy certificates, DKIM keys and the rspamd signing setup, "
	  "then check them",
	  "files [--from HOST|DIR] [--to DIR] [--dry-run] [--json] [PATH...]",
	  "  PATH               absolute paths to copy (default: those of\n"
	  "                     /etc/letsencrypt, /var/lib/rspamd/dkim,\n"
	  "                     /etc/rspamd/dkim_selectors.map,\n"
	  "                     /etc/rspamd/local.d/dkim_signing.conf and\n"
	  "                     /etc/rspamd/local.d/arc.conf on the old server)\n" },

	{ "sync", cmd_sync, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "copy the Maildirs (hot, repeatable; --delete for the cold sync)",
	  "sync [--from HOST|DIR] [--to DIR] [--delete [--max-delete N] "
	  "[--force-delete]] [--dry-run] "
	  "[--state FILE] [--with-indexes] [--chown USER:GROUP] "
	  "[--after-cutover] [--json] [SRC DEST]",
	  "  SRC DEST           paths on the old server and here (default\n"
	  "                     /var/vmail/ on both); SRC may be HOST:/path or\n"
	  "                     DIR:/path; without --from a SRC here is\n"
	  "                     --from / with that path\n"
	  "  --delete           remove destination messages that came from the\n"
	  "                     source and are gone there (never others);\n"
	  "                     refused when the source lost the whole tree\n"
	  "                     or a whole user, or over --max-delete\n"
	  "  --max-delete N     at most N deletions (default: a tenth of the\n"
	  "                     messages the state knows, at least 100)\n"
	  "  --force-delete     delete even what the guard refused\n"
	  "  --state FILE       the sync state (default under\n"
	  "                     /var/lib/mailmove/ on the destination)\n"
	  "  --with-indexes     copy Dovecot's index files as one set (cold\n"
	  "                     sync between equal Dovecot versions)\n"
	  "  --chown USER:GROUP give every copied file this owner\n"
	  "  --after-cutover    sync though the new Dovecot has served users\n"
	  "                     since a cutover (refused without it: the old\n"
	  "                     server's flags and folders would undo theirs)\n" },

	{ "verify", cmd_verify, CMD_FROM | CMD_TO | CMD_JSON,
	  "prove every message arrived, with its flags, date and UID",
	  "verify [--from HOST|DIR] [--to DIR] [--content] [--dovecot] "
	  "[--json] [SRC [DEST]]",
	  "  SRC                the old server's tree (default /var/vmail): a\n"
	  "                     vmail root, one home or one Maildir; the rsync\n"
	  "                     form [user@]host:/var/vmail/ (or DIR:/path)\n"
	  "                     sets --from; without --from a SRC here is\n"
	  "                     --from / with that path\n"
	  "  DEST               the tree here, under --to (default /var/vmail)\n"
	  "  --content          also compare every message's XXH3-128, hashed\n"
	  "                     on both servers at once\n"
	  "  --dovecot          also ask doveadm on both servers (mailboxes,\n"
	  "                     UIDs, GUIDs, flags, dates, sizes)\n"
	  "  --user USER        with --dovecot: check USER (repeatable; default\n"
	  "                     every user `doveadm user '*'` lists)\n"
	  "  --src-doveadm-config FILE   doveadm -c FILE on the old server\n"
	  "  --dest-doveadm-config FILE  doveadm -c FILE here\n"
	  "  --src-doveadm PATH          doveadm program on the old server\n"
	  "  --dest-doveadm PATH         doveadm program here\n" },

	{ "dns", cmd_dns, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON,
	  "MX, addresses, TTL advice and DKIM records: when to switch, and "
	  "whether it happened",
	  "dns [--from HOST|DIR] [--server IP[:PORT]] [--old-ip IP]... "
	  "[--new-ip IP]... [--wait-switched [--timeout S]] [--json] "
	  "[DOMAIN...]",
	  "  DOMAIN...          the domains (default: every virtual domain in\n"
	  "                     the destination's mailserver database)\n"
	  "  --domains-from FILE  the domains, one a line (- for stdin)\n"
	  "  --server IP[:PORT] ask this DNS server (default: each zone's\n"
	  "                     authoritative servers, found through the\n"
	  "                     system's resolver)\n"
	  "  --old-ip IP        an address of the old server (repeatable;\n"
	  "                     default: asked with --from)\n"
	  "  --new-ip IP        an address of the new server (repeatable;\n"
	  "                     default: this machine's addresses)\n"
	  "  --wait-switched    poll until every domain's MX points at the\n"
	  "                     new server\n"
	  "  --timeout S        give up waiting after S seconds (exit 1)\n"
	  "  --interval S       seconds between polls (default 10)\n"
	  "  --state FILE       the TTL memory (default\n"
	  "                     /var/lib/mailmove/switch.sqlite under --to)\n" },

	{ "queue", cmd_queue, CMD_FROM | CMD_DRYRUN | CMD_JSON,
	  "what is stuck in Postfix's queue and what was refused since "
	  "soft_bounce went on; delete named messages",
	  "queue [--from HOST|DIR] [--postfix-config DIR] [--log FILE] "
	  "[--watch] [--delete ID... [--yes]] [--json]",
	  "  --postfix-config DIR  Postfix's configuration directory (passed\n"
	  "                     as -c DIR to postqueue, postsuper, postconf)\n"
	  "  --log FILE         the mail log (default /var/log/mail.log, else\n"
	  "                     the journal: journalctl -u postfix)\n"
	  "  --watch            refresh until interrupted\n"
	  "  --interval S       seconds between refreshes (default 5)\n"
	  "  --delete ID...     show the named messages, ask, then delete\n"
	  "                     exactly those (postsuper -d)\n"
	  "  -y, --yes          delete without asking\n"
	  "  --state FILE       where softbounce recorded its time (default\n"
	  "                     /var/lib/mailmove/switch.sqlite)\n" },

	{ "softbounce", cmd_softbounce, CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "turn Postfix's soft_bounce on or off, or show it and since when",
	  "softbounce [--postfix-config DIR] [--state FILE] on|off|status",
	  "  --postfix-config DIR  Postfix's configuration directory (passed\n"
	  "                     as -c DIR to postconf and postfix)\n"
	  "  --state FILE       where the time it went on is kept (default\n"
	  "                     /var/lib/mailmove/switch.sqlite)\n" },

	{ "cutover", cmd_cutover, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "the downtime: preflight, stop Dovecot on both servers, cold sync, "
	  "start the new Dovecot; then soft_bounce, Postfix, relay, verify, "
	  "index rebuild",
	  "cutover [--from HOST|DIR] [--to DIR] [--yes] [options] [SRC DEST]",
	  "  --yes                  do not ask before stopping Dovecot (without\n"
	  "                         a terminal the cutover refuses to ask)\n"
	  "  --imap HOST:PORT       where the new Dovecot answers IMAP (default\n"
	  "                         127.0.0.1:143); the downtime ends when it does\n"
	  "  --login USER           log in as USER to prove it (IMAP LOGIN)\n"
	  "  --password-file FILE   USER's password (first line of FILE)\n"
	  "  --ready-timeout S      wait at most S seconds for it (default 60)\n"
	  "  --indexes auto|yes|no  copy Dovecot's index files in the cold sync,\n"
	  "                         which keeps the save dates (auto: when the\n"
	  "                         old Dovecot is not newer than this one)\n"
	  "  --old-doveadm-config FILE  doveadm -c FILE on the old server\n"
	  "  --relay-to HOST[:PORT] then make the old Postfix relay the mail that\n"
	  "                         still reaches it to HOST, and flush its queue;\n"
	  "                         checked first: HOST must answer SMTP there\n"
	  "  --old-postfix-config DIR  the old Postfix's configuration directory\n"
	  "  --flush-wait S         watch the old queue drain for S s (default 15)\n"
	  "  --old-stop CMD         stops Dovecot on the old server (default:\n"
	  "                         systemctl stop dovecot, or service)\n"
	  "  --new-stop CMD         stops Dovecot here (same default)\n"
	  "  --new-start CMD        starts Dovecot here\n"
	  "  --postfix-start CMD    starts Postfix here\n"
	  "  --resync CMD           rebuilds the new Dovecot's indexes (default:\n"
	  "                         doveadm force-resync -A '*', quota recalc)\n"
	  "  --state FILE           the sync state (as for sync)\n"
	  "  --postfix-config DIR   Postfix configuration for soft_bounce\n"
	  "  --switch-state FILE    where softbounce records when it went on\n"
	  "  --no-verify            skip the verify step\n" },

	{ "run", cmd_run, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "the whole plan: check, db, redis, files, hot sync, then the "
	  "cutover (which asks first); resumable",
	  "run [--from HOST|DIR] [--to DIR] [--yes] [--skip STEP]... [options]"
	  " | run --status",
	  "  --yes              do not ask before the downtime\n"
	  "  --skip STEP        leave out a step (check, db, redis, files,\n"
	  "                     sync, cutover); repeatable\n"
	  "  --roundcube        the db step copies Roundcube's database too\n"
	  "  --journal FILE     where finished steps are recorded (default\n"
	  "                     /var/lib/mailmove/run-<hash>.journal)\n"
	  "  --restart          ignore the journal and run every step\n"
	  "  --status           show each step's outcome, time and duration\n"
	  "                     from the journal, and where a rerun resumes\n"
	  "  --relay-to, --imap, --login, --password-file,\n"
	  "  --old-postfix-config, --old-doveadm-config, --postfix-config\n"
	  "                     handed to the cutover step (see cutover)\n" },

	{ "finish", cmd_finish, CMD_FROM | CMD_TO | CMD_DRYRUN | CMD_JSON | CMD_LOCK,
	  "the last step: a final backup of the old server's data as one "
	  "archive here, read back; keep or remove the relay",
	  "finish [--from HOST|DIR] [--to DIR] [--archive FILE] "
	  "[--also PATH]... [--relay keep|remove]",
	  "  --archive FILE     the archive to write (.tar.gz, mode 0600;\n"
	  "                     default /var/backups/mailmove/\n"
	  "                     old-server-DATE.tar.gz under --to)\n"
	  "  --also PATH        archive this old-server path too (repeatable)\n"
	  "  --only PATH        archive only the paths given so (repeatable)\n"
	  "  --no-databases     leave out the mysqldump of all databases\n"
	  "  --db-socket PATH   MariaDB's socket on the old server (mysqldump\n"
	  "                     --socket; default: its own default)\n"
	  "  --relay keep|remove  keep the old Postfix relaying to this server\n"
	  "                     (default) or restore its virtual_transport\n"
	  "  --old-postfix-config DIR  the old Postfix's configuration\n" },

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
	out_result_failed(rc);
	return rc;
}
