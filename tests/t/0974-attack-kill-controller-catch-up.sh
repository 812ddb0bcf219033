#!/bin/bash
# Attack around the cutover's stop step: kill -9 of the controller during
# the catch-up (a hot sync with 20000 messages to copy while a client
# appends), then a rerun.
#
# Expected: the killed run stopped nothing (the old Dovecot still serves,
# the new one still answers), its sync child ends with it (PR_SET_PDEATHSIG)
# instead of running on with the lock, a rerun at once either completes or
# fails saying the truth (nothing was stopped), and after the reruns every
# APPEND the old Dovecot OK'd and every dropped message is on the new server
# exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 10

sa_setup
M="$T/src/home/example.org/alice/Maildir"
python3 - "$M/new" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(20000):
    p = os.path.join(d, "1700000000.M%dP1.bulk" % i)
    with open(p, "w") as f:
        f.write("Subject: bulk %d\r\nMessage-ID: <bulk-%d@x>\r\n\r\n%s\r\n" % (i, i, "x" * 300))
    os.chown(p, 65534, 65534)
PY

sa_client "$T/ok" a
sa_wait_appends "$T/ok" 5 || give_up "the client appends nothing"
sa_bg_cut "$SA_GOOD"
# The catch-up's sync child, looked for every 20 ms (40 s at most).
c= sync_pid=
for i in $(seq 1 2000); do
	[ -n "$c" ] || c=$(ps -o pid= --ppid "$mmpid" | head -1 | tr -d " ")
	[ -n "$c" ] && sync_pid=$(ps -o pid=,args= --ppid "$c" | awk '$3 == "sync" { print $1 }')
	[ -n "$sync_pid" ] && break
	grep -q 'step 4:' "$T/bg.err" && break
	sleep 0.02
done
sleep 0.3
kill -9 "$c"
wait "$mmpid" 2>/dev/null
ok "$([ -n "$sync_pid" ] && echo 0 || echo 1)" "the controller (pid $c) was killed during the catch-up (its sync child: ${sync_pid:-none})"
wait_for -t 30 bash -c "! kill -0 ${sync_pid:-0} 2>/dev/null"
ok $? "the catch-up's sync ends with it"
m=$(sa_old_master)
ok "$([ -n "$m" ] && kill -0 "$m" 2>/dev/null && echo 0 || echo 1)" "the old Dovecot still serves (master ${m:-none})"
wait_for -t 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NIMAP"
ok $? "the new Dovecot still answers"

sa_cut "$SA_GOOD"
if [ "$rc" != 0 ]; then
	unlike "$err" 'stopped Dovecot here \(and maybe on the old server\)' \
		"a failed rerun does not say an earlier cutover stopped Dovecot (exit $rc)"
	sa_cut "$SA_GOOD"
else
	ok 0 "the first rerun completed"
fi
is "$rc" 0 "the rerun completes"
[ "$rc" = 0 ] || diag "$(printf '%s' "$err" | grep error | head -3)"
sa_stop_client
sa_check_none_lost "$T/ok"
is "$(sa_ids dst | grep -c '^<bulk-')" 20000 "the 20000 dropped messages are there, none twice"
is "$(sa_ids dst | grep '^<bulk-' | uniq -d | grep -c .)" 0 "(no duplicate among them)"
exit 0
