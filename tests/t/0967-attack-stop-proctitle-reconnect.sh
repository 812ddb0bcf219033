#!/bin/bash
# Attack on the cutover's stop step with the old Dovecot's
# verbose_proctitle = yes (titles like "dovecot-NAME/imap [user ip
# APPEND]") and two clients: one appending on one connection, one logging
# in again for every APPEND, so new imap processes keep starting while the
# stop command (which waits a second before doveadm stop) runs.  Then the
# same with the master killed (-9) before the stop, its imap processes
# left to init with their verbose titles.  Expected: exit 0, the leftover
# imap processes ended, every APPEND either client got an OK for on the new
# server exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 14

sa_setup
printf 'verbose_proctitle = yes\n' >>"$T/src/dovecot.conf"
stop_bg dovecot-src
sa_start_old || give_up "the old Dovecot did not start with verbose_proctitle"

imap_titled() { ps -eo pid=,args= | awk -v p="dovecot-$SA_ID-src/imap" '$2 == p { print $1 }'; }

round() { # TAG live|kill
	local c1 c2
	sa_client "$T/ok-$1" "$1"
	c1=$CPID
	sa_client "$T/okr-$1" "r$1" reconnect
	c2=$CPID
	sa_wait_appends "$T/ok-$1" 5 || give_up "the client appends nothing"
	sa_wait_appends "$T/okr-$1" 5 || give_up "the reconnecting client appends nothing"
	ok "$(ps -eo args= | grep -q "^dovecot-$SA_ID-src/imap \\[alice@example.org" && echo 0 || echo 1)" \
		"$1: the imap processes have verbose titles"
	if [ "$2" = kill ]; then
		read -r mpid _ <"$T/.pid.dovecot-src"
		kill9 "$mpid"
		sleep 0.3
	fi
	sa_cut "sh -c 'sleep 1; doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"
	is "$rc" 0 "$1: the cutover exits 0"
	[ "$rc" = 0 ] || diag "$err"
	like "$err" 'left running: .*imap \(pid' "$1: it ended the imap processes left running"
	is "$(imap_titled)" "" "$1: no imap process of the old Dovecot is left"
	kill "$c1" "$c2" 2>/dev/null
	wait "$c1" "$c2" 2>/dev/null
	CPID=
	sa_check_none_lost "$T/ok-$1"
	lost=$(comm -23 <(grep '^<' "$T/okr-$1" | sort) <(sa_ids dst) | grep -c .)
	is "$lost" 0 "$1: the reconnecting client's APPENDs too ($(grep -c '^<' "$T/okr-$1") OK'd)"
}

round a live
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done
sa_start_old || give_up "the old Dovecot did not start again"
sa_start_new || give_up "the new Dovecot did not start again"
round b kill
