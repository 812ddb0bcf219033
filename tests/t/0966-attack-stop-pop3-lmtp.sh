#!/bin/bash
# Attack on the cutover's stop step with the old Dovecot serving POP3 and
# LMTP besides IMAP: an IMAP client appending, a POP3 client logged in
# that has marked message 1 deleted and never QUITs (a Dovecot 2.3 master
# leaves its pop3 process running too), and an LMTP client delivering
# without pause (each 250'd Message-ID written down).  Also once with the
# master dead before the stop (kill -9), its pop3 and imap processes left
# to init.  Expected: the pop3 process is ended before the cold sync and
# named, its uncommitted DELE is not carried out (message 1 stays), every
# APPEND and every LMTP delivery the old Dovecot accepted is on the new
# server exactly once.
# Needs dovecot-pop3d and dovecot-lmtpd (not in scripts/install-deps).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
[ -x /usr/lib/dovecot/pop3 ] && [ -x /usr/lib/dovecot/lmtp ] || skip_all "no dovecot-pop3d or dovecot-lmtpd"
plan 14

sa_setup pop3
OLMTP=$(free_port)
sed -i "s/^protocols = .*/protocols = imap pop3 lmtp/" "$T/src/dovecot.conf"
printf 'service lmtp {\n  inet_listener lmtp {\n    address = 127.0.0.1\n    port = %s\n  }\n}\n' "$OLMTP" >>"$T/src/dovecot.conf"
stop_bg dovecot-src
sa_start_old || give_up "the old Dovecot did not start with POP3 and LMTP"

cat >"$T/pop.py" <<'PY'
import poplib, sys, time
p = poplib.POP3('127.0.0.1', int(sys.argv[1]))
p.user('alice@example.org'); p.pass_('x')
print(p.stat(), flush=True)
p.dele(1)
print('deleted 1', flush=True)
time.sleep(100)
PY
cat >"$T/lmtp.py" <<'PY'
import smtplib, sys, time
port, log, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = 0
deadline = time.time() + 100
with open(log, 'a', buffering=1) as f:
    while time.time() < deadline:
        try:
            s = smtplib.LMTP('127.0.0.1', port)
            while time.time() < deadline:
                n += 1
                mid = '<%s-%d@lmtp>' % (tag, n)
                s.sendmail('x@example.net', ['alice@example.org'],
                           'Subject: l%d\r\nMessage-ID: %s\r\n\r\nbody\r\n' % (n, mid))
                f.write(mid + '\n')
                time.sleep(0.01)
        except Exception as e:
            f.write('# %s\n' % e)
            time.sleep(0.1)
PY
pop3_pids() { ps -eo pid=,args= | awk -v p="dovecot-$SA_ID-src/pop3" '$2 == p { print $1 }'; }

round() { # TAG KILLMASTER
	sa_client "$T/ok-$1" "$1"
	python3 "$T/pop.py" "$OPOP3" >"$T/pop-$1.out" 2>&1 &
	POPPID=$!
	python3 "$T/lmtp.py" "$OLMTP" "$T/okl-$1" "l$1" &
	LPID=$!
	sa_wait_appends "$T/ok-$1" 5 || give_up "the IMAP client appends nothing"
	sa_wait_appends "$T/okl-$1" 5 || give_up "the LMTP client delivers nothing"
	wait_for -t 10 grep -q 'deleted 1' "$T/pop-$1.out" || give_up "the POP3 client did not log in"
	pp=$(pop3_pids)
	if [ "$2" = kill ]; then
		read -r mpid _ <"$T/.pid.dovecot-src"
		kill9 "$mpid"
		sleep 0.5
	fi
	sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"
	is "$rc" 0 "$1: the cutover exits 0"
	[ "$rc" = 0 ] || diag "$err"
	like "$err" "left running: .*pop3 \\(pid $pp\\)" "$1: it ended the pop3 process (pid $pp) and says so"
	is "$(pop3_pids)" "" "$1: no pop3 process of the old Dovecot is left"
	sa_stop_client
	kill "$LPID" "$POPPID" 2>/dev/null
	wait "$LPID" "$POPPID" 2>/dev/null
	sa_check_none_lost "$T/ok-$1"
	lost=$(comm -23 <(grep '^<' "$T/okl-$1" | sort) <(sa_ids dst) | grep -c .)
	is "$lost" 0 "$1: every LMTP delivery the old Dovecot accepted is on the new server ($(grep -c '^<' "$T/okl-$1") accepted)"
	is "$(sa_ids dst | grep -c '^<m1@x>$')" 1 "$1: message 1, marked deleted by the POP3 session that never QUIT, is still there once"
}

round a live
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done
sa_start_old || give_up "the old Dovecot did not start again"
sa_start_new || give_up "the new Dovecot did not start again"
round b kill
