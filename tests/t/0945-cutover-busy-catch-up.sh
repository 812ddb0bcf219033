#!/bin/bash
# cutover on a busy old server: its Dovecot appends to a folder's
# dovecot-uidlist while the catch-up sync reads it.  Seen: the catch-up
# failed ("cannot write: Stale file handle") and the cutover stopped
# before the downtime, again and again on a busy server.  What must hold:
# a file that changed while read is the cold sync's to copy: the cutover
# warns and goes on, and the uidlist here is the old server's at the stop.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 5

dovecot_start src
dovecot_start dst
rm -rf "$T/dst/home/example.org/"*/Maildir
printf 'Subject: a\r\n\r\nx\r\n' | dva src save -u alice@example.org
dva src mailbox create -u alice@example.org Busy
J="$T/src/home/example.org/alice/Maildir/.Busy"
{
	printf '3 V1700000000 N200001 Gabc\n'
	for i in $(seq 1 200000); do printf '%d :1700000001.M%dP1.old\n' "$i" "$i"; done
} >"$J/dovecot-uidlist"
chown 65534:65534 "$J/dovecot-uidlist"

imap=$(free_port)
sed -i 's/^protocols =.*/protocols = imap/' "$T/dst/dovecot.conf"
dovecot_conf_imap_listener "$imap" 127.0.0.1 >>"$T/dst/dovecot.conf"
stop_bg dovecot-dst
start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$imap" || give_up "the new Dovecot does not answer IMAP"
printf 'any\n' >"$T/pw"
chmod 600 "$T/pw"
mkdir -p "$T/pf"
printf 'compatibility_level = 3.6\nsoft_bounce = no\n' >"$T/pf/main.cf"
: >"$T/pf/master.cf"

# The writer appends every 5 ms until the old Dovecot's stop ends it (in
# one process: a busy machine must not stretch its pauses to the length of
# a whole read, or a re-read finds the file quiet).
python3 -c '
import sys, time
n = 200001
while True:
    with open(sys.argv[1], "a") as f:
        f.write("%d :1700000002.M%dP1.old\n" % (n, n))
    n += 1
    time.sleep(0.005)
' "$J/dovecot-uidlist" &
wpid=$!
printf 'kill %s\ndoveadm -c %s stop\n' "$wpid" "$T/src/dovecot.conf" >"$T/stop.sh"
out=$(MAILMOVE_AGENT_TEST_READ_DELAY_US=20000 timeout 150 "$MM" cutover --from "$T/src" --to "$T/dst" \
	--state "$T/sync.state" --yes --json \
	--imap "127.0.0.1:$imap" --login alice@example.org --password-file "$T/pw" \
	--old-stop "sh $T/stop.sh" --old-doveadm-config "$T/src/dovecot.conf" \
	--new-stop "sh -c 'doveadm -c $T/dst/dovecot.conf stop 2>/dev/null; true'" \
	--new-start "dovecot -c $T/dst/dovecot.conf" --postfix-start true \
	--resync true --postfix-config "$T/pf" --switch-state "$T/switch.sqlite" /home/ /home/ 2>"$T/err")
rc=$?
err=$(cat "$T/err")
kill "$wpid" 2>/dev/null
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && adopt_pid dovecot-dst-new "$new_pid"
is "$rc" 0 "the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$err" 'dovecot-uidlist: changed on the old server while it was read' "the catch-up saw the uidlist change under it"
like "$err" 'changed on the old server while the catch-up sync read it .*: the cold sync copies it' "and went on, leaving it to the cold sync"
like "$(printf '%s\n' "$out" | grep '"event":"result"')" '"step":"cold-sync"' "the cold sync ran"
ok "$(cmp "$J/dovecot-uidlist" "$T/dst/home/example.org/alice/Maildir/.Busy/dovecot-uidlist" >&2 && echo 0)" \
	"the uidlist here is the old server's as it was at the stop"
