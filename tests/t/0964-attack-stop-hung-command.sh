#!/bin/bash
# Attack on the cutover's stop step: a stop command that stops the old
# Dovecot (doveadm stop) and then never ends (a hung ExecStopPost, a
# script waiting on something).  The stop step ends at quiet and the cold
# sync runs; old-stopped then waits for the command.
#
# Expected: bounded (no hang); nothing lost; the command is ended (10 s
# after the old Dovecot's master is gone); and the message tells the
# truth: the old Dovecot's master exited within a second, it is the stop
# command that did not end.  Seen before: old-stopped waited the step's
# 120 s bound, said "the old Dovecot (master pid N) did not stop within
# 120 s" and told the admin to stop its Dovecot, which had long stopped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 7

sa_setup
sa_client "$T/ok1" a
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
printf 'doveadm -c %s stop\necho $$ >%s\nexec sleep 1000\n' "$T/src/dovecot.conf" "$T/hang.pid" >"$T/hang.sh"
old=$(sa_old_master)
t0=$SECONDS
SA_TIMEOUT=170 sa_cut "sh $T/hang.sh"
took=$((SECONDS - t0))
ok "$([ "$rc" != 124 ] && [ "$rc" != 137 ] && [ "$took" -lt 160 ] && echo 0 || echo 1)" "bounded: the cutover ended by itself (exit $rc, $took s)"
ok "$(kill -0 "$old" 2>/dev/null && echo 1 || echo 0)" "the old Dovecot's master (pid $old) had stopped"
hp=$(cat "$T/hang.pid" 2>/dev/null)
ok "$([ -n "$hp" ] && ! kill -0 "$hp" 2>/dev/null && echo 0 || echo 1)" "the hung stop command (pid ${hp:-?}) was ended"
unlike "$err" "master pid $old\\) did not stop" "it does not say the old Dovecot's master did not stop (it exited at once)"
like "$err" 'stop command .*(did not end|still runs|has not ended)|(did not end|still runs|has not ended).*stop command' "it says the stop command did not end"
sa_stop_client
sa_check_none_lost "$T/ok1"
[ -n "$hp" ] && kill "$hp" 2>/dev/null
true
