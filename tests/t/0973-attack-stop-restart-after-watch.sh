#!/bin/bash
# Attack on the cutover's stop step: the stop command stops the old Dovecot
# and leaves a job behind that starts it again later, after the watch has
# ended (the man page's limit: a restart "is looked for until a second
# after the command ended").  Here the job starts it once the cutover's
# start-postfix step runs (a marker file), with its output not kept; a
# client that logs in again for every APPEND then appends to the old
# Dovecot again.
#
# Expected: the cutover does not exit 0 (verify sees the messages only the
# old server has), and what it says is true: the old Dovecot runs again, so
# it must not say "the old one stays stopped", nor send the admin to `sync
# --delete` (which belongs to a stopped Dovecot) while it serves.
#
# On main (e23b066): exit 1 from verify, whose error says "The new Dovecot
# serves already and the old one stays stopped: look at the report, fix it
# with mailmove sync --delete, then rerun cutover" while the old Dovecot's
# master runs and takes APPENDs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 5

sa_setup
sa_client "$T/ok" a reconnect
sa_wait_appends "$T/ok" 5 || give_up "the client appends nothing"
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop; (n=0; while [ ! -e $T/go ] && [ \$n -lt 400 ]; do sleep 0.1; n=\$((n+1)); done; [ -e $T/go ] && dovecot -c $T/src/dovecot.conf) </dev/null >/dev/null 2>&1 &'" \
	--postfix-start "sh -c 'touch $T/go; sleep 3'"
m=$(sa_old_master)
sa_adopt_old
ok "$([ -n "$m" ] && kill -0 "$m" 2>/dev/null && echo 0 || echo 1)" "the old Dovecot was started again after the watch (master ${m:-none})"
n0=$(grep -c '^<' "$T/ok")
sa_wait_appends "$T/ok" $((n0 + 3))
ok $? "and takes APPENDs again"
sa_stop_client
ok "$([ "$rc" != 0 ] && [ "$rc" != 124 ] && echo 0 || echo 1)" "the cutover does not exit 0 (exit $rc)"
unlike "$err" 'old one stays stopped' "it does not say the old Dovecot stays stopped while its master runs"
unlike "$err" 'fix it with mailmove sync --delete' "nor send the admin to sync --delete while the old Dovecot serves"
exit 0
