#!/bin/bash
# Attack on the cutover's stop step: the old Dovecot runs and serves a
# client that appends, but master.pid as mailmove reads it names no master:
#
#   A. the configuration's base_dir was changed since the Dovecot started
#      (it runs with the old one; doveconf says the new, empty one), and the
#      stop command is what Debian's `service dovecot stop` runs without
#      systemd: start-stop-daemon --oknodo with the configuration's
#      master.pid.  It finds nothing, exits 0, and the Dovecot serves on.
#   B. master.pid is a symlink (mailmove opens it O_NOFOLLOW) and the stop
#      command is `kill $(cat master.pid)`, which returns at once while the
#      master is still in its exit (a Dovecot 2.3 master leaves its imap
#      processes running).
#   C. master.pid holds a number too big for a pid, and the stop command
#      kills the master by its pid.
#
#   D. master.pid empty, E. master.pid "-1", with `doveadm stop`, which
#      reads master.pid too and so fails: the cutover must fail before the
#      cold sync and leave the old Dovecot serving.
#
# In each, the cold sync must not run beside a live imap process of the old
# Dovecot: either the cutover stops before the cold sync, or every APPEND
# the old Dovecot OK'd is on the new server.  And it must not say that no
# Dovecot master ran there when one did.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
command -v start-stop-daemon >/dev/null 2>&1 || skip_all "no start-stop-daemon"
plan 12

sa_setup

# The result of one case: no mail lost, or no cold sync; no false claim.
judge() { # LOG WHAT
	local lost
	sa_stop_client
	lost=$(comm -23 <(grep '^<' "$1" | sort) <(sa_ids dst) | grep -c .)
	if sa_cold_sync_ran; then
		is "$lost" 0 "$2: the cold sync ran (exit $rc), so every APPEND the old Dovecot OK'd must be on the new server ($(grep -c '^<' "$1") OK'd)"
	else
		ok 0 "$2: the cutover stopped before the cold sync (exit $rc)"
	fi
	unlike "$err" 'no Dovecot master was running' "$2: it does not say that no Dovecot master ran (one did)"
}
# Between cases: what the last one left of the old Dovecot ends, both
# Dovecots start again.
again() {
	local p
	for p in $(sa_imap_pids); do kill -9 "$p" 2>/dev/null; done
	stop_bg dovecot-src
	sa_adopt_old
	for f in "$T"/.pid.dovecot-src-again-* "$T"/.pid.dovecot-dst*; do
		[ -e "$f" ] && stop_bg "${f##*/.pid.}"
	done
	sa_start_old || give_up "the old Dovecot did not start again"
	sa_start_new || give_up "the new Dovecot did not start again"
}

# A. base_dir changed in the configuration since the start.
sa_client "$T/okA" a
sa_wait_appends "$T/okA" 5 || give_up "the client appends nothing"
cp "$T/src/dovecot.conf" "$T/src/dovecot.conf.orig"
mkdir -p "$T/src/run2"
sed -i "s|^base_dir = .*|base_dir = $T/src/run2|" "$T/src/dovecot.conf"
sa_cut "start-stop-daemon --stop --quiet --oknodo --retry=TERM/30/KILL/5 --pidfile $T/src/run2/master.pid --name dovecot"
judge "$T/okA" "base_dir changed since the start, service dovecot stop finds nothing"
cp "$T/src/dovecot.conf.orig" "$T/src/dovecot.conf"
again

# B. master.pid a symlink; kill $(cat master.pid).
sa_client "$T/okB" b
sa_wait_appends "$T/okB" 5 || give_up "the client appends nothing"
cp "$T/src/run/master.pid" "$T/src/run/real.pid"
ln -sf real.pid "$T/src/run/master.pid"
sa_cut "sh -c 'kill \$(cat $T/src/run/master.pid)'"
judge "$T/okB" "master.pid a symlink, kill \$(cat master.pid)"
rm -f "$T/src/run/real.pid"
again

# C. master.pid a number too big; the master killed by its pid.
sa_client "$T/okC" c
sa_wait_appends "$T/okC" 5 || give_up "the client appends nothing"
read -r mpid _ <"$T/.pid.dovecot-src"
printf '99999999999999999999\n' >"$T/src/run/master.pid"
sa_cut "kill $mpid"
judge "$T/okC" "master.pid holding 99999999999999999999, kill PID"
again

# D, E. Empty, negative; doveadm stop cannot stop it either.
for bad in empty -1; do
	sa_client "$T/ok$bad" "x$bad"
	sa_wait_appends "$T/ok$bad" 5 || give_up "the client appends nothing"
	m=$(sa_old_master)
	if [ "$bad" = empty ]; then : >"$T/src/run/master.pid"; else echo "$bad" >"$T/src/run/master.pid"; fi
	sa_cut "doveadm -c $T/src/dovecot.conf stop"
	ok "$([ "$rc" != 0 ] && ! sa_cold_sync_ran && echo 0 || echo 1)" "master.pid $bad, doveadm stop: the cutover fails before the cold sync (exit $rc)"
	ok "$(kill -0 "$m" 2>/dev/null && echo 0 || echo 1)" "master.pid $bad: the old Dovecot still serves (master $m)"
	like "$err" 'stopping Dovecot on .* failed \(status [1-9]' "master.pid $bad: it says the stop command failed"
	sa_stop_client
	echo "$m" >"$T/src/run/master.pid"
	again
done
