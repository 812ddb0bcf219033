#!/bin/bash
# Attack on the words of sync's refusal after a cutover: "Mail that reaches
# the old server now is relayed (mailmove queue --from OLD)".  That holds
# only for a cutover given --relay-to (its relay step; relay-saved in
# var/lib/mailmove).  A cutover without --relay-to leaves the old Postfix
# delivering into the old Maildirs: a message delivered there after the
# cutover is on neither the new server nor in any queue, and the refusal
# tells the admin it was relayed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 4

sa_setup
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"
is "$rc" 0 "the cutover (no --relay-to) ends 0"
ok "$([ -e "$T/dst/var/lib/mailmove/cutover-served" ] && echo 0 || echo 1)" "and left its served mark"

# The old Postfix, not relaying, delivers one more message to alice there.
nm="$T/src/home/example.org/alice/Maildir/new/1800000000.M1P1.oldhost"
printf 'Subject: late\r\nMessage-ID: <late@x>\r\n\r\nbody\r\n' >"$nm"
chown 65534:65534 "$nm"

out=$("$MM" sync --from "$T/src" --to "$T/dst" --state "$T/sync.state" /home/ /home/ 2>&1)
rc=$?
is "$rc" 4 "sync refuses"
unlike "$out" 'is relayed' "it does not claim the old server's mail is relayed: no relay was set up (relay-saved: $(ls "$T/dst/var/lib/mailmove/" | tr '\n' ' '))"
