#!/bin/bash
# Attack on the cutover's stop step: the old Dovecot's master died (kill -9)
# and left its logged-in imap process serving a client that appends; its
# master.pid, stale, names a running master of *another* Dovecot on that
# host (another instance_name: the pid was reused).  `doveadm stop` with
# the old Dovecot's config ends that other master, and the watch sees a
# master named "dovecot" exit.  The dead master's imap process, which still
# changes mail, must be ended before the cold sync all the same: once the
# master it watched is gone, the watch looks for processes bearing the old
# Dovecot's title whose master is gone.  Expected: the cutover exits 0,
# names the imap process it ended, and every APPEND the old Dovecot OK'd is
# on the new server exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 6

sa_setup
dovecot_start oth
other=$(cat "$T/oth/run/master.pid")
[ -n "$other" ] && kill -0 "$other" || give_up "the other Dovecot does not run"

sa_client "$T/ok1" a
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
read -r mpid _ <"$T/.pid.dovecot-src"
kill9 "$mpid"
orphan=$(sa_imap_pids)
[ -n "$orphan" ] || give_up "the dead master left no imap process"
echo "$other" >"$T/src/run/master.pid"
sa_cut "doveadm -c $T/src/dovecot.conf stop"
ok "$(kill -0 "$other" 2>/dev/null && echo 1 || echo 0)" \
	"the stop command ended the other Dovecot's master (pid $other), as master.pid said"
is "$rc" 0 "the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$err" "imap \\(pid $orphan\\)" "it ended the imap process the dead master left (pid $orphan)"
ok "$(kill -0 "$orphan" 2>/dev/null && echo 1 || echo 0)" "that process is gone"
sa_stop_client
sa_check_none_lost "$T/ok1"
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done
