#!/bin/bash
# Attack on the cutover's stop step: kill -9 of the mailmove controller
#
#   1. during the stop step (the stop command is still running), then a
#      rerun;
#   2. during the cold sync right after it (the stop command dropped many
#      messages in alice's new/ first, so the cold sync has work): the
#      sync child ends with it, then a rerun.
#
# Expected: the reruns complete; every APPEND the old Dovecot OK'd and
# every dropped message is on the new server exactly once; a rerun that
# fails says what is true (the old Dovecot *was* stopped by the killed run:
# not "the old Dovecot was not stopped, mail flows as before").
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 12

sa_setup

# A rerun; once more if it failed on a Dovecot index file that changed
# while the hot catch-up sync read it (a fault of its own, 0969; main
# leaves such files to the cold sync since 6419380).
rerun() {
	sa_cut "$SA_GOOD"
	if [ "$rc" != 0 ] && printf '%s' "$err" | grep -q 'dovecot.index[^:]*: cannot write: Stale file handle'; then
		diag "the rerun failed on an index file changing under the catch-up sync (0969); once more"
		sa_cut "$SA_GOOD"
	fi
}

# 1. Killed during the stop step.
sa_client "$T/ok1" a
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
sa_bg_cut "sh -c 'sleep 3; doveadm -c $T/src/dovecot.conf stop'"
wait_for -t 30 grep -q 'step 5:' "$T/bg.err" || give_up "the cutover did not reach its stop step"
sleep 1
sa_kill_controller
ok $? "the controller was killed during the stop step (pid $c)"
sleep 4
m=$(sa_old_master)
ok "$([ -n "$m" ] && kill -0 "$m" 2>/dev/null && echo 0 || echo 1)" "the stop command died with it: the old Dovecot still runs (master ${m:-none})"
rerun
is "$rc" 0 "the rerun completes"
[ "$rc" = 0 ] || diag "$err"
sa_stop_client
sa_check_none_lost "$T/ok1"
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done

# 2. Killed during the cold sync.
sa_start_old || give_up "the old Dovecot did not start again"
sa_start_new || give_up "the new Dovecot did not start again"
sa_client "$T/ok2" b
sa_wait_appends "$T/ok2" 5 || give_up "the client appends nothing"
M="$T/src/home/example.org/alice/Maildir"
cat >"$T/bulkstop.sh" <<SH
python3 - <<'PY'
import os
d = "$M/new"
for i in range(40000):
    p = os.path.join(d, "1700000000.M%dP1.bulk" % i)
    with open(p, "w") as f:
        f.write("Subject: bulk %d\r\nMessage-ID: <bulk-%d@x>\r\n\r\n%s\r\n" % (i, i, "x" * 300))
    os.chown(p, 65534, 65534)
PY
doveadm -c $T/src/dovecot.conf stop
SH
sa_bg_cut "sh $T/bulkstop.sh"
wait_for -t 50 grep -q 'step 6:' "$T/bg.err" || give_up "the cutover did not reach its cold sync"
sleep 0.3
sa_kill_controller
sync_pid=$(for k in $kids; do ps -o pid=,args= -p "$k"; done | awk '/ sync / { print $1 }')
ok "$([ -n "$sync_pid" ] && echo 0 || echo 1)" "the controller was killed during the cold sync (its sync child: ${sync_pid:-none})"
# A step's child is sent SIGTERM when the cutover dies (PR_SET_PDEATHSIG):
# it stops at its next safe point and leaves the lock to a rerun.  (A rerun
# while another mailmove holds the lock is 0384's attack.)
wait_for -t 30 bash -c "! kill -0 ${sync_pid:-0} 2>/dev/null"
ok $? "the killed run's sync child ends with it"
rerun
is "$rc" 0 "the rerun completes"
[ "$rc" = 0 ] || diag "$err"
unlike "$err" 'the old Dovecot was not stopped, mail flows as before' \
	"it does not say the old Dovecot was not stopped and mail flows (the killed run stopped both Dovecots)"
sa_stop_client
sa_check_none_lost "$T/ok2"
is "$(sa_ids dst | grep -c '@x>$' )" 40003 "the 40000 dropped messages (and the first three) are there too"
