#!/bin/bash
# Attack on the cutover's stop step: the old Dovecot's logged-in imap
# process is SIGSTOPped (a debugger, a `kill -STOP` left behind), so the
# SIGTERM the watch sends it stays pending.  The stop step must not hang
# and must not let the cold sync run: it fails within its bound, names the
# process, and leaves the new Dovecot stopped.  Once the process is
# continued (it then ends on the pending SIGTERM), the rerun completes and
# every APPEND the old Dovecot OK'd is on the new server exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 10

sa_setup
sa_client "$T/ok1" a
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
ip=$(sa_imap_pids)
kill -STOP "$ip"
t0=$SECONDS
sa_cut "doveadm -c $T/src/dovecot.conf stop"
took=$((SECONDS - t0))
ok "$([ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] && echo 0 || echo 1)" "a SIGSTOPped imap process fails the cutover (exit $rc), no hang"
ok "$([ "$took" -lt 40 ] && echo 0 || echo 1)" "within its bound ($took s)"
like "$err" "imap \\(pid $ip\\) of the old Dovecot did not end" "it names the stopped imap process (pid $ip)"
ok "$(sa_cold_sync_ran && echo 1 || echo 0)" "the cold sync did not run"
ok "$( (exec 3<>"/dev/tcp/127.0.0.1/$NIMAP") 2>/dev/null && echo 1 || echo 0)" "the new Dovecot stays stopped"
is "$(ps -o stat= -p "$ip" | cut -c1)" T "the imap process is still there, stopped (mailmove did not SIGKILL it)"

kill -CONT "$ip"
wait_for -t 10 bash -c "[ \"\$(ps -o stat= -p $ip | cut -c1)\" != S ] && [ \"\$(ps -o stat= -p $ip | cut -c1)\" != T ] && [ \"\$(ps -o stat= -p $ip | cut -c1)\" != R ]"
ok $? "continued, the imap process ends on the pending SIGTERM"
sa_stop_client
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"
is "$rc" 0 "the rerun completes"
[ "$rc" = 0 ] || diag "$err"
sa_check_none_lost "$T/ok1"
