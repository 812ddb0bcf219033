#!/bin/bash
# Attack on the cutover's stop step: the stop command stops the old
# Dovecot and starts it again in the foreground, in the background, its
# output not kept (what `systemctl restart` does with a Type=simple unit,
# or an admin's restart script does).  The new master writes master.pid a
# few milliseconds after the command has ended.  The old Dovecot serves
# again (the client, reconnecting, appends to it), so the cutover must
# fail and say the old Dovecot was started again (man page: the step
# fails "when a Dovecot master is started there during the step";
# old-stopped "checks ... that no Dovecot master was started there"), and
# must not say the old Dovecot stays stopped.  With --no-verify nothing
# else would notice: the cutover must not exit 0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 7

sa_setup
# (A start fails while the old imap-login processes still hold the IMAP
# port, for a second or more on a busy machine: it is tried again, for 8 s
# at most, less than the 10 s the stop step gives a command that runs on
# after the master is gone.)
cat >"$T/restart.sh" <<SH
doveadm -c $T/src/dovecot.conf stop
for i in \$(seq 40); do
	dovecot -F -c $T/src/dovecot.conf </dev/null >>$T/restart.out 2>&1 &
	sleep 0.2
	kill -0 \$! 2>/dev/null && break
done
SH

sa_client "$T/ok1" a reconnect
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
old=$(sa_old_master)
sa_cut "sh $T/restart.sh"
sleep 1
again=$(sa_old_master)
ok "$([ -n "$again" ] && [ "$again" != "$old" ] && kill -0 "$again" 2>/dev/null && echo 0 || echo 1)" \
	"the stop command started the old Dovecot again (master $old, then ${again:-none})"
[ -n "$again" ] && [ "$again" != "$old" ] || diag "exit $rc; restart: $(tail -3 "$T/restart.out" 2>/dev/null)"
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" "the cutover fails (exit $rc)"
like "$err" 'started again' "and says the old Dovecot was started again"
unlike "$err" 'the old one stays stopped' "it does not say the old Dovecot stays stopped"
sa_stop_client
sa_adopt_old
stop_bg "dovecot-src-again-$again"
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done

# The same with --no-verify.
sa_start_old || give_up "the old Dovecot did not start again"
sa_start_new || give_up "the new Dovecot did not start again"
sa_client "$T/ok2" b reconnect
sa_wait_appends "$T/ok2" 5 || give_up "the client appends nothing"
old=$(sa_old_master)
sa_cut "sh $T/restart.sh" --no-verify
sleep 1
again=$(sa_old_master)
ok "$([ -n "$again" ] && [ "$again" != "$old" ] && kill -0 "$again" 2>/dev/null && echo 0 || echo 1)" \
	"--no-verify: the old Dovecot was started again (master $old, then ${again:-none})"
[ -n "$again" ] && [ "$again" != "$old" ] || diag "exit $rc; restart: $(tail -3 "$T/restart.out" 2>/dev/null)"
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" "--no-verify: the cutover does not exit 0 (exit $rc)"
[ -n "${DEBUG:-}" ] && diag "$(printf "%s\n" "$err" | grep -v "passwd\|copied\|^mailmove: step")"
sa_stop_client
n=$(comm -23 <(grep '^<' "$T/ok2" | sort) <(sa_ids dst) | grep -c .)
ok "$([ "$rc" != 0 ] || [ "$n" = 0 ] && echo 0 || echo 1)" \
	"--no-verify: an exit 0 would leave $n APPENDs the old Dovecot OK'd off the new server"
