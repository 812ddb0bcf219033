#!/bin/bash
# cutover when the old Dovecot's stop goes wrong, against real Dovecots:
#
#   - its master died earlier (kill -9: a crash, a stop that failed half
#     way) and left a logged-in imap process serving a client that keeps
#     appending.  The cutover finds that process by its title, ends it
#     before the cold sync, and every message the client got an OK for is
#     on the new server exactly once.  (Watching the master alone finds no
#     Dovecot there, and the cold sync ran beside the live imap process.)
#   - a stop command that fails after it stopped the master: the leftover
#     imap process is ended all the same, and as nothing of the Dovecot is
#     left the cutover goes on, warning of the status.
#   - a stop command that starts Dovecot again (and leaves it holding the
#     command's output): the cutover fails and says so, within its bounds,
#     instead of waiting for ever.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 20

dovecot_start src
dovecot_start dst
rm -rf "$T/dst/home/example.org/"*/Maildir
for i in 1 2 3; do
	printf 'Subject: m%s\r\nMessage-ID: <m%s@x>\r\n\r\nbody\r\n' "$i" "$i" |
		dva src save -u alice@example.org
done

# The old Dovecot serves IMAP; a client logs in and appends without pause,
# writing down every Message-ID it got an OK for.
oimap=$(free_port)
sed -i 's/^protocols =.*/protocols = imap/' "$T/src/dovecot.conf"
dovecot_conf_imap_listener "$oimap" 127.0.0.1 >>"$T/src/dovecot.conf"
printf 'disable_plaintext_auth = no\n' >>"$T/src/dovecot.conf"
stop_bg dovecot-src
start_bg dovecot-src dovecot -F -c "$T/src/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$oimap" || give_up "the old Dovecot does not answer IMAP"

cat >"$T/client.py" <<'PY'
import imaplib, sys, time
port, log, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = imaplib.IMAP4('127.0.0.1', port)
m.login('alice@example.org', 'x')
n = 0
with open(log, 'a', buffering=1) as f:
    try:
        while True:
            n += 1
            mid = '<%s-%d@client>' % (tag, n)
            msg = ('Subject: c%d\r\nMessage-ID: %s\r\n\r\nbody\r\n' % (n, mid)).encode()
            typ, _ = m.append('INBOX', None, None, msg)
            if typ == 'OK':
                f.write(mid + '\n')
            time.sleep(0.01)
    except Exception as e:
        f.write('# ended: %s\n' % e)
PY

# The new Dovecot answers IMAP for the cutover's login check.
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

cut() { # cutover with the old stop command $1; bounded in time
	run_mm_t() {
		out=$(timeout 150 "$MM" "$@" 2>"$T/.stderr")
		rc=$?
		err=$(cat "$T/.stderr")
	}
	run_mm_t cutover --from "$T/src" --to "$T/dst" --state "$T/sync.state" --yes --json \
		--imap "127.0.0.1:$imap" --login alice@example.org --password-file "$T/pw" \
		--old-stop "$1" --old-doveadm-config "$T/src/dovecot.conf" \
		--new-stop "sh -c 'doveadm -c $T/dst/dovecot.conf stop 2>/dev/null; true'" \
		--new-start "dovecot -c $T/dst/dovecot.conf" --postfix-start true \
		--resync "doveadm -c $T/dst/dovecot.conf force-resync -A *" \
		--postfix-config "$T/pf" --switch-state "$T/switch.sqlite" /home/ /home/
}
ids() { dva "$1" fetch -u alice@example.org hdr.message-id mailbox INBOX ALL 2>/dev/null |
	sed -n 's/^hdr.message-id: *//p' | sort; }
imap_pids() { # the old Dovecot's imap processes (its title), by pid
	ps -eo pid=,args= | awk -v t="dovecot-mm-src-$$/imap" 'index($2, t) == 1 { print $1 }'
}

# 1. A master that died and left its imap process serving.
python3 "$T/client.py" "$oimap" "$T/ok1" a &
cpid=$!
wait_for -t 20 bash -c "[ \$(grep -c '^<' $T/ok1 2>/dev/null) -ge 5 ]" || give_up "the client appends nothing"
read -r mpid _ <"$T/.pid.dovecot-src"
kill -9 "$mpid"
before=$(grep -c '^<' "$T/ok1")
wait_for -t 20 bash -c "[ \$(grep -c '^<' $T/ok1) -ge $((before + 10)) ]"
ok $? "after its master's kill -9 the imap process goes on taking APPENDs"
orphan=$(imap_pids)
ok "$([ -n "$orphan" ] && echo 0 || echo 1)" "the imap process is left running (pid ${orphan:-none})"
cut true
is "$rc" 0 "the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$err" 'no Dovecot master was running' "it says no master ran there"
like "$err" "ended 1 process the old Dovecot left running: imap \\(pid $orphan\\)" "and names the imap process it ended"
wait_for -t 10 bash -c "! kill -0 $cpid 2>/dev/null"
ok $? "the client's connection was ended"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && adopt_pid dovecot-dst-new "$new_pid"
grep '^<' "$T/ok1" | sort >"$T/want1"
printf '<m1@x>\n<m2@x>\n<m3@x>\n' >>"$T/want1"
sort -o "$T/want1" "$T/want1"
ids dst >"$T/have1"
is "$(comm -23 "$T/want1" "$T/have1" | wc -l)" 0 "every message the client got an OK for is on the new server ($(wc -l <"$T/want1") in all)"
is "$(uniq -d "$T/have1" | wc -l)" 0 "and none twice"

# 2. A stop command that stops the master, then fails: the watch saw the
# Dovecot stop, so the cutover goes on (the leftover imap process ended
# first) and warns of the status.
stop_bg dovecot-dst-new
start_bg dovecot-src dovecot -F -c "$T/src/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$oimap" || give_up "the old Dovecot did not start again"
rm -f "$T/dst/var/lib/mailmove/cutover-served"	# a whole cutover again
start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$imap" || give_up "the new Dovecot did not start again"
python3 "$T/client.py" "$oimap" "$T/ok2" b &
cpid=$!
wait_for -t 20 bash -c "[ \$(grep -c '^<' $T/ok2 2>/dev/null) -ge 3 ]" || give_up "the client appends nothing"
printf 'doveadm -c %s stop\nexit 3\n' "$T/src/dovecot.conf" >"$T/stopfail.sh"
cut "sh $T/stopfail.sh"
is "$rc" 0 "a stop command that fails after the Dovecot stopped: the cutover goes on (exit 0)"
like "$err" 'ended with status 3, although the old Dovecot stopped and none of its processes is left' "and warns of its status"
like "$err" 'left running: imap \(pid' "the imap process was ended before the cold sync"
is "$(imap_pids)" "" "no imap process of the old Dovecot is left"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && adopt_pid dovecot-dst-new "$new_pid"
grep '^<' "$T/ok2" | sort >"$T/want2"
is "$(ids dst | comm -13 - "$T/want2" | wc -l)" 0 "every message the client got an OK for is on the new server ($(wc -l <"$T/want2"))"
stop_bg dovecot-dst-new

# 3. A stop command that starts the old Dovecot again, keeping its output.
start_bg dovecot-src dovecot -F -c "$T/src/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$oimap" || give_up "the old Dovecot did not start again"
rm -f "$T/dst/var/lib/mailmove/cutover-served"	# a whole cutover again
start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$imap" || give_up "the new Dovecot did not start again"
printf 'doveadm -c %s stop\ndovecot -c %s\n' "$T/src/dovecot.conf" "$T/src/dovecot.conf" >"$T/restart.sh"
t0=$SECONDS
cut "sh $T/restart.sh"
ok "$([ "$rc" != 0 ] && [ "$rc" != 124 ] && echo 0 || echo 1)" "a stop command that starts Dovecot again fails the cutover (exit $rc, not a hang)"
like "$err" 'started again' "and says the old Dovecot was started again"
ok "$([ $((SECONDS - t0)) -lt 100 ] && echo 0 || echo 1)" "within its bounds ($((SECONDS - t0)) s)"
again=$(cat "$T/src/run/master.pid" 2>/dev/null)
[ -n "$again" ] && adopt_pid dovecot-src-again "$again"
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && adopt_pid dovecot-dst-new2 "$new_pid"

# 4. Titles not as doveconf says (the running Dovecot started under another
# instance_name, or a version that titles its processes otherwise): the
# master's own processes are still its, and the leftover imap process is
# ended before the cold sync.
stop_bg dovecot-src-again
stop_bg dovecot-dst-new2
wait_for -t 20 bash -c "! kill -0 ${again:-0} 2>/dev/null"
start_bg dovecot-src dovecot -F -c "$T/src/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$oimap" || give_up "the old Dovecot did not start again"
rm -f "$T/dst/var/lib/mailmove/cutover-served"	# a whole cutover again
start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$imap" || give_up "the new Dovecot did not start again"
python3 "$T/client.py" "$oimap" "$T/ok4" d &
cpid=$!
wait_for -t 20 bash -c "[ \$(grep -c '^<' $T/ok4 2>/dev/null) -ge 3 ]" || give_up "the client appends nothing"
sed -i "s/^instance_name = .*/instance_name = renamed-$$/" "$T/src/dovecot.conf"
cut "doveadm -c $T/src/dovecot.conf stop"
is "$rc" 0 "titles not as doveconf says: the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$err" 'has a title beginning "dovecot-renamed-[0-9]+/": its session and children are taken' "it warns that the titles differ"
like "$err" 'left running: imap \(pid' "and still ends the leftover imap process"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && adopt_pid dovecot-dst-new4 "$new_pid"
grep '^<' "$T/ok4" | sort >"$T/want4"
is "$(ids dst | comm -13 - "$T/want4" | wc -l)" 0 "every message the client got an OK for is on the new server ($(wc -l <"$T/want4"))"
