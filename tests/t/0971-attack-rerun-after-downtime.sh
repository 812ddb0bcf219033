#!/bin/bash
# Attack around the cutover's stop step: a rerun once the downtime has
# ended.  The man page: "Each step is idempotent: after a failure or an
# interruption, fix the cause and run the same command again"; verify's
# failure says "... then rerun cutover".  After start-new the new Dovecot
# serves the users (the downtime marker is gone), and they change their
# mail there.  A rerun redoes the whole downtime: it stops the new Dovecot
# ("it serves nobody yet"), stops the old one again and runs the cold sync
# with --delete over what the users did on the new server.
#
#   A. kill -9 of the controller in old-stopped (the stop command takes 6 s
#      more after the Dovecot stopped).  Users then work on the new server:
#      3 APPENDs, <m1@x> expunged, <m2@x> flagged \Flagged.  The rerun, with
#      a stop command that succeeds on a stopped Dovecot (as systemctl stop
#      does).  Expected: nothing the users did on the new server is undone;
#      nothing lost.
#   B. a cutover that fails at its resync step (--resync false: exit 4,
#      after the new Dovecot serves); users work on the new server (<m3@x>
#      expunged, <m2@x> flagged); the same command again with the resync
#      fixed.  The stop command is `doveadm stop` (as in 0021), which fails
#      on a stopped Dovecot.  Expected: the rerun leaves the new Dovecot
#      serving, does not say it served nobody, undoes nothing.
#
# On main (e23b066): A's rerun exits 0 and verify passes, but <m1@x> is
# back on the new server and <m2@x> lost its \Flagged; B's rerun brings
# <m3@x> back and takes \Flagged off <m2@x> in its catch-up step (a hot
# sync --delete --with-indexes from the old server while the new Dovecot
# serves), then stops the new Dovecot, fails at the stop step ("Dovecot
# here is stopped: it served nobody yet; the rerun starts it") and leaves
# the users without IMAP.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 21

sa_setup

# The users on the new server: LOG gets the Message-IDs of 3 APPENDs; the
# message EXPUNGE is expunged, FLAG gets \Flagged.
cat >"$T/user.py" <<'PY'
import imaplib, sys
port, log, tag, gone, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
m = imaplib.IMAP4('127.0.0.1', port)
m.login('alice@example.org', 'x')
with open(log, 'a') as f:
    for i in range(3):
        mid = '<%s-%d@new>' % (tag, i)
        typ, _ = m.append('INBOX', None, None, ('Subject: n\r\nMessage-ID: %s\r\n\r\nb\r\n' % mid).encode())
        if typ == 'OK':
            f.write(mid + '\n')
m.select('INBOX')
typ, d = m.search(None, 'HEADER', 'Message-ID', gone)
m.store(d[0].split()[0], '+FLAGS', '\\Deleted')
m.expunge()
typ, d = m.search(None, 'HEADER', 'Message-ID', flag)
m.store(d[0].split()[0], '+FLAGS', '\\Flagged')
m.logout()
PY
flags_of() { # MESSAGE-ID: its flags on the new server
	dva dst fetch -u alice@example.org flags mailbox INBOX HEADER Message-ID "$1" 2>/dev/null |
		sed -n 's/^flags: *//p'
}
uids_of_new() { # TAG: "uid message-id" of the APPENDs made on the new server
	dva dst fetch -u alice@example.org 'uid hdr.message-id' mailbox INBOX ALL 2>/dev/null |
		awk '/^uid:/ { u = $2 } /^hdr.message-id: <'"$1"'-/ { print u, $2 }' | sort -k2 | tr '\n' ' '
}
answers() { wait_for -t 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NIMAP"; }

# A. Killed in old-stopped, then users on the new server, then the rerun.
sa_client "$T/okA" a
sa_wait_appends "$T/okA" 5 || give_up "the client appends nothing"
sa_bg_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop; sleep 6'"
wait_for -t 45 grep -q '"old-stopped"' "$T/bg.out" || give_up "the cutover did not reach old-stopped: $(tail -3 "$T/bg.err")"
sa_kill_controller
ok $? "A. the controller was killed in old-stopped (pid $c)"
sa_stop_client
sa_adopt_new
answers
ok $? "A. the new Dovecot serves"
python3 "$T/user.py" "$NIMAP" "$T/newA" A '<m1@x>' '<m2@x>' || give_up "the user's session on the new server failed"
is "$(sa_ids dst | grep -c '^<m1@x>$')" 0 "A. <m1@x> expunged on the new server"
like "$(flags_of '<m2@x>')" 'Flagged' "A. <m2@x> flagged there"
uidsA=$(uids_of_new A)
sa_cut "$SA_GOOD"
sa_adopt_new
is "$rc" 0 "A. the rerun exits 0"
[ "$rc" = 0 ] || diag "$(printf '%s' "$err" | grep -E 'error' | head -3)"
is "$(sa_ids dst | grep -c '^<m1@x>$')" 0 "A. the rerun does not bring back <m1@x>, expunged on the new server after it served"
like "$(flags_of '<m2@x>')" 'Flagged' "A. <m2@x> keeps the \\Flagged set on the new server"
sa_check_none_lost "$T/okA"
sa_check_none_lost "$T/newA"
is "$(uids_of_new A)" "$uidsA" "A. the APPENDs made on the new server keep their IMAP UIDs"

# B. A failure after the downtime (the resync step), users on the new
# server, then the same command again with the resync fixed.
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done
sa_start_old || give_up "the old Dovecot did not start again"
sa_start_new || give_up "the new Dovecot did not start again"
sa_client "$T/okB" b
sa_wait_appends "$T/okB" 5 || give_up "the client appends nothing"
STOP="doveadm -c $T/src/dovecot.conf stop"
sa_cut "$STOP" --resync false
sa_stop_client
sa_adopt_new
like "$rc" '^[1-9]' "B. --resync false: the cutover fails after the downtime (exit $rc)"
answers
ok $? "B. the new Dovecot serves"
python3 "$T/user.py" "$NIMAP" "$T/newB" B '<m3@x>' '<m2@x>' || give_up "the user's session on the new server failed"
is "$(sa_ids dst | grep -c '^<m3@x>$')" 0 "B. <m3@x> expunged on the new server"
uids_before=$(uids_of_new B)
sa_cut "$STOP"
diag "B's rerun: $(printf '%s\n' "$err" | grep -E 'step [0-9]+:|[0-9]+ copied' | sed 's/^mailmove: //' | tr '\n' '|')"
sa_adopt_new
answers
ok $? "B. after the rerun the new Dovecot still serves"
unlike "$err" 'served nobody' "B. the rerun does not say the new Dovecot served nobody"
# doveadm needs the new Dovecot running to find alice.
answers || sa_start_new || give_up "the new Dovecot does not start again"
is "$(sa_ids dst | grep -c '^<m3@x>$')" 0 "B. <m3@x>, expunged on the new server, stays expunged"
like "$(flags_of '<m2@x>')" 'Flagged' "B. <m2@x> keeps its \\Flagged"
ok "$([ -z "$(comm -23 <(grep '^<' "$T/newB" | sort) <(sa_ids dst))" ] && echo 0 || echo 1)" \
	"B. the APPENDs made on the new server are there"
is "$(uids_of_new B)" "$uids_before" "B. and keep their IMAP UIDs"
exit 0
