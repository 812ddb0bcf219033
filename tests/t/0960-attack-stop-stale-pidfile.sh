#!/bin/bash
# Attack on the cutover's stop step: the old Dovecot's master died (kill -9)
# and left its logged-in imap process serving a client that appends; its
# master.pid is stale and names a live process that is no Dovecot:
#
#   1. a `sleep` of ours, started as `exec -a dovecot sleep` (its argv[0]
#      and title say "dovecot", its comm "sleep"): it must not be signalled; the watch says no
#      master runs, ends the leftover imap process, and nothing the client
#      got an OK for is lost.
#   2. a shell script whose file is named "dovecot" (so its comm is
#      "dovecot", as a munin or nagios plugin named after the service has)
#      with a child `sleep`; the stop command ends the script by the pid in
#      master.pid (kill $(cat master.pid)).  Neither the script's child,
#      which is no process of any Dovecot, may get a SIGTERM from the
#      watch, nor may the cutover report it as a process of the old
#      Dovecot, nor say the old Dovecot's master exited.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 12

sa_setup

# 1. A stale master.pid naming our sleep.
sa_client "$T/ok1" a
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
read -r mpid _ <"$T/.pid.dovecot-src"
kill9 "$mpid"
orphan=$(sa_imap_pids)
bash -c 'exec -a dovecot sleep 300' &
sp=$!
wait_for -t 5 bash -c "tr '\\0' ' ' </proc/$sp/cmdline | grep -q '^dovecot 300'"
echo "$sp" >"$T/src/run/master.pid"
sa_cut true
is "$rc" 0 "stale master.pid naming a sleep titled "dovecot": the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
is "$(ps -o stat= -p "$sp" | cut -c1)" S "the sleep named by master.pid was left alone (still sleeping)"
like "$err" 'no Dovecot master was running' "it says no Dovecot master ran there"
like "$err" "left running: imap \\(pid $orphan\\)" "and ended the imap process the dead master left (pid $orphan)"
sa_stop_client
sa_check_none_lost "$T/ok1"
kill "$sp"
wait "$sp" 2>/dev/null

# 2. A stale master.pid naming a script called "dovecot" with a child.
stop_bg "dovecot-dst-new-$(cat "$T/dst/run/master.pid" 2>/dev/null)"
sa_start_old || give_up "the old Dovecot did not start again"
sa_start_new || give_up "the new Dovecot did not start again"
sa_client "$T/ok2" b
sa_wait_appends "$T/ok2" 5 || give_up "the client appends nothing"
read -r mpid _ <"$T/.pid.dovecot-src"
kill9 "$mpid"
orphan=$(sa_imap_pids)
mkdir -p "$T/fake"
printf '#!/bin/sh\nsleep 300 &\necho $! >"$1"\ntrap "exit 0" TERM\nwhile :; do sleep 0.2; done\n' >"$T/fake/dovecot"
chmod +x "$T/fake/dovecot"
"$T/fake/dovecot" "$T/fake/child" &
fp=$!
wait_for -t 10 test -s "$T/fake/child"
child=$(cat "$T/fake/child")
is "$(cat "/proc/$fp/comm")" dovecot "the impostor's comm is \"dovecot\" (pid $fp; its child sleep is pid $child)"
echo "$fp" >"$T/src/run/master.pid"
sa_cut "kill $fp"
ok "$(kill -0 "$child" 2>/dev/null && echo 0 || echo 1)" "the impostor's child (a sleep, no Dovecot process) got no SIGTERM from the watch"
unlike "$err" "left running: .*sleep \\(pid $child\\)" "and is not reported as a process the old Dovecot left running"
unlike "$err" 'stopped serving mail .* \(its master exited\)' "the cutover does not say the old Dovecot's master exited (the dead master was not there to exit)"
sa_stop_client
sa_check_none_lost "$T/ok2"
kill "$child" 2>/dev/null
kill "$fp" 2>/dev/null
wait "$fp" 2>/dev/null
true
