#!/bin/bash
# cutover while IMAP clients write to the old Dovecot.  A Dovecot 2.3
# master that gets `doveadm stop` exits, but its logged-in imap processes
# do not (shutdown_clients=yes or not: without systemd's cgroup nothing
# kills them), and they go on answering APPEND, STORE and EXPUNGE with OK.
# The cutover's agent watches the old Dovecot's processes from the stop on,
# sends the leftover imap processes SIGTERM and lets the cold sync start
# only when none is left.
#
# Case 1: four python3 imaplib clients (two per user) on the old Dovecot
# APPEND (every third message also gets \Flagged, every fifth is
# expunged), each writing down every Message-ID the server said OK to.
# They log in and APPEND 20 messages each, wait until the cutover begins,
# then APPEND as fast as they can through its catch-up sync (a Dovecot file
# changing while it is read is left to the cold sync, tests/t/0945) and
# its stop (the stop command waits until each has had 10 OKs, then runs
# `doveadm stop`), so the stop meets them mid-stream.
# Then: `cutover --json` exits 0; it says it ended exactly the imap
# processes that served the clients; "old_quiet_seconds" is a number;
# every Message-ID a client got an APPEND OK for is on the new server
# exactly once (doveadm as the oracle), an expunge with an OK is not there,
# a \Flagged with an OK is; old and new server hold the same messages
# (mailbox uid guid flags); every client's connection was ended by the
# server and its imap process is gone.
#
# How this fails on the old behaviour (the cold sync starting when the stop
# command returns): nothing ends the imap processes, so the clients keep
# getting OKs for APPENDs into the old Maildir while the cold sync reads it
# and after it: those messages are not on the new server ("every APPEND
# ... is on the new server", "the same messages" fail), nothing says it
# ended imap processes, no old_quiet_seconds, the clients stay connected
# and the imap processes alive.  Reproduced by hand with
# --old-doveadm-config naming a missing file (documented: without
# master.pid the stop step waits for the command alone): those points
# failed; the cold sync, reading a Maildir that changes, sometimes also
# exits 1, and then the cutover fails too.
#
# Case 2: a stop command that stops nothing (it saves a message with
# doveadm save and exits 0).  The agent gives the master 10 s after the
# command ended, then the cutover fails (exit 1) saying the old Dovecot
# still runs; the cold sync did not run (the last step in --json is
# "stop", no "cold-sync"; the message saved by the stop command is not on
# the new server); as documented, the new Dovecot stays stopped (stop-new
# ran before the downtime) with the downtime marked for the rerun, the old
# one still runs and soft_bounce is untouched.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 33

NCLIENTS=4

# run_mm with a bound: a mailmove that hangs is a failing test point (exit
# 124), not a hanging test; 150 s is above the cutover's 120 s stop limit.
run_mm_t() {
	out=$(timeout -k 5 150 "$MM" "$@" 2>"$T/.stderr")
	rc=$?
	err=$(cat "$T/.stderr")
}

# with_imap NAME PORT: restart Dovecot NAME with IMAP on 127.0.0.1:PORT,
# plaintext logins allowed (the passdb lets every password in).
with_imap() {
	local name=$1 port=$2
	sed -i 's/^protocols =.*/protocols = imap/' "$T/$name/dovecot.conf"
	{
		dovecot_conf_imap_listener "$port" 127.0.0.1
		dovecot_conf_cleartext
		echo 'shutdown_clients = yes'
	} >>"$T/$name/dovecot.conf"
	stop_bg "dovecot-$name"
	start_bg "dovecot-$name" dovecot -F -c "$T/$name/dovecot.conf"
	wait_for -t 20 test -s "$T/$name/run/master.pid" &&
		wait_for -t 20 test -S "$T/$name/run/auth-userdb" &&
		wait_for -t 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
}

# The client: logs in, APPENDs 20 messages, waits (connected) for the file
# GO, then APPENDs as fast as it can until the connection is lost or SECS
# have passed.  Every third message also gets \Flagged, every fifth is
# expunged.  Its log: "L PID" logged in, "W" waiting for GO, "G" going,
# "S" first saw the file STOPPING (the stop command began), "A MSGID"
# APPEND OK, "f MSGID" / "F MSGID" \Flagged asked / OK, "x MSGID" /
# "X MSGID" expunge asked / OK, and last "E WHY" (the end).
cat >"$T/client.py" <<'PY'
import imaplib, os, re, sys, time
port, user, cid, path, secs, go, stopping = sys.argv[1:8]
port, secs = int(port), float(secs)
log = open(path, "a")
def rec(*a):
    log.write(" ".join(str(x) for x in a) + "\n")
    log.flush()
end = time.monotonic() + secs
try:
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login(user, "any")
    m.select("INBOX")
    rec("L", os.getpid())
    n = 0
    seen_stop = False
    while True:
        if time.monotonic() > end:
            rec("E", "deadline")
            break
        if n == 20:
            rec("W")
            while not os.path.exists(go) and time.monotonic() < end:
                time.sleep(0.01)
            rec("G")
        if not seen_stop and os.path.exists(stopping):
            seen_stop = True
            rec("S")
        n += 1
        mid = "<c%s.%d@mm-test.example>" % (cid, n)
        msg = ("From: c%s@example.net\r\nMessage-ID: %s\r\nSubject: %s\r\n\r\nbody %d\r\n"
               % (cid, mid, mid, n)).encode()
        typ, data = m.append("INBOX", None, None, msg)
        if typ != "OK":
            rec("N", mid, typ)
            continue
        rec("A", mid)
        u = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        if not u:
            continue
        uid = u.group(1).decode()
        if n % 3 == 0:
            rec("f", mid)
            if m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Flagged)")[0] == "OK":
                rec("F", mid)
        if n % 5 == 0:
            rec("x", mid)
            if m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK" and \
               m.uid("EXPUNGE", uid)[0] == "OK":
                rec("X", mid)
except Exception as e:
    rec("E", type(e).__name__, str(e).replace("\n", " ")[:200])
PY

# Message-IDs with a tag in the clients' logs, sorted.
tagged() { cat "$T"/client*.log 2>/dev/null | awk -v t="$1" '$1 == t { print $2 }' | sort; }
# Every message of USER on Dovecot NAME: mailbox uid guid flags (\Recent
# is per session, left out), sorted.
listing() {
	dva "$1" -f tab fetch -u "$2" 'mailbox uid guid flags' ALL 2>/dev/null |
		tail -n +2 | sed 's/ *\\Recent//' | sort
}
# Message-ID and flags of every message on Dovecot NAME, both users.
ids_flags() {
	local u
	for u in alice@example.org bob@example.org; do
		dva "$1" -f tab fetch -u "$u" 'hdr.message-id flags' ALL 2>/dev/null | tail -n +2
	done
}

############################################################################
# Case 1: clients APPEND to the old Dovecot during the cutover.
dovecot_start src
dovecot_start dst
rm -rf "$T/dst/home/example.org/"*/Maildir
for u in alice bob; do
	for i in 1 2 3; do
		printf 'From: x@example.net\r\nMessage-ID: <seed.%s.%s@mm-test.example>\r\nSubject: s%s\r\n\r\nseed\r\n' \
			"$u" "$i" "$i" | dva src save -u "$u@example.org"
	done
done
mkdir -p "$T/pf"
printf 'compatibility_level = 3.6\nsoft_bounce = no\n' >"$T/pf/main.cf"
: >"$T/pf/master.cf"
common=(--from "$T/src" --to "$T/dst" --state "$T/sync.state")
run_mm_t sync "${common[@]}" /home/ /home/
[ "$rc" = 0 ] || give_up "the hot sync failed (exit $rc): $err"
chown -R 65534:65534 "$T/dst/home"

old_imap=$(free_port)
with_imap src "$old_imap" || give_up "the old Dovecot does not answer IMAP on $old_imap"
new_imap=$(free_port)
with_imap dst "$new_imap" || give_up "the new Dovecot does not answer IMAP on $new_imap"
printf 'any\n' >"$T/pw"
chmod 600 "$T/pw"
src_pid=$(cat "$T/src/run/master.pid")
dst_pid=$(cat "$T/dst/run/master.pid")

# The stop command: lets the waiting clients go, waits (at most 10 s) until
# each has had 10 more APPENDs answered, so that they are writing as fast
# as they can when the stop begins, then `doveadm stop` (it returns at once;
# the master exits, its logged-in imap processes do not).
cat >"$T/stop.sh" <<SH
touch "$T/go"
i=0
while [ \$i -lt 1000 ]; do
	n=0
	for f in "$T"/client*.log; do
		awk '/^G/ { g = 1; next } g && /^A / { n++ } END { exit !(n >= 10) }' "\$f" && n=\$((n + 1))
	done
	[ \$n = $NCLIENTS ] && break
	sleep 0.01
	i=\$((i + 1))
done
echo "\$n" >"$T/stop.writing"
touch "$T/stopping"
exec doveadm -c "$T/src/dovecot.conf" stop
SH
for c in $(seq 1 $NCLIENTS); do
	user=alice@example.org
	[ $((c % 2)) = 0 ] && user=bob@example.org
	start_bg "client$c" python3 "$T/client.py" "$old_imap" "$user" "$c" "$T/client$c.log" 90 \
		"$T/go" "$T/stopping"
done
# Every client logged in, got 20 OKs and waits, connected.
waiting() {
	local c
	for c in $(seq 1 $NCLIENTS); do grep -q '^W' "$T/client$c.log" 2>/dev/null || return 1; done
}
wait_for -t 20 waiting
ok $? "$NCLIENTS imap clients on the old Dovecot got 20 APPENDs answered each"
# The imap processes serving them: the old master's children named imap.
imap_pids=$(ps -o pid=,comm= --ppid "$src_pid" | awk '$2 == "imap" { print $1 }' | sort -n | tr '\n' ' ')
is "$(echo $imap_pids | wc -w)" "$NCLIENTS" "one imap process per client: $imap_pids"
imap_starts=""
for p in $imap_pids; do imap_starts="$imap_starts $p:$(_pid_start "$p")"; done

touch "$T/go"	# they write through the catch-up sync and the stop
run_mm_t cutover "${common[@]}" --yes --json --imap "127.0.0.1:$new_imap" \
	--login alice@example.org --password-file "$T/pw" \
	--old-stop "sh $T/stop.sh" --old-doveadm-config "$T/src/dovecot.conf" \
	--new-stop "doveadm -c $T/dst/dovecot.conf stop" \
	--new-start "dovecot -c $T/dst/dovecot.conf" --postfix-start true \
	--resync "doveadm -c $T/dst/dovecot.conf force-resync -A *" \
	--postfix-config "$T/pf" --switch-state "$T/switch.sqlite" /home/ /home/
crc=$rc
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && [ "$new_pid" != "$dst_pid" ] && adopt_pid dovecot-dst-new "$new_pid"
is "$rc" 0 "the cutover with clients writing exits 0"
[ "$rc" = 0 ] || diag "$err"
is "$(cat "$T/stop.writing" 2>/dev/null)" "$NCLIENTS" "every client was writing when the stop command began"
ended=$(printf '%s\n' "$err" | grep 'left running:')
diag "$ended"
like "$ended" 'cutover: ended [0-9]+ process(es)? the old Dovecot left running: .*imap \(pid [0-9]+\)' \
	"it says it ended imap processes the old Dovecot left running"
got=$(printf '%s' "$ended" | grep -o 'imap (pid [0-9]*)' | grep -o '[0-9]*' | sort -n | tr '\n' ' ')
is "$got" "$imap_pids" "exactly the clients' imap processes are named"
result=$(printf '%s\n' "$out" | grep '"event": *"result"')
like "$result" '"old_quiet_seconds": *[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?[,}]' "--json has old_quiet_seconds as a number"
like "$result" '"step": *"stop", *"seconds": *[0-9.e+-]+, *"downtime": *true, *"exit": *0\}, *\{"step": *"cold-sync"' \
	"the cold sync ran right after the stop step"

# The clients: every connection was ended by the server, none by its deadline.
gone() { local c; for c in $(seq 1 $NCLIENTS); do grep -q '^E ' "$T/client$c.log" || return 1; done; }
# (after a cutover that stopped nothing they would wait for their deadline)
gone_t=20
[ "$crc" = 0 ] || gone_t=2
wait_for -t "$gone_t" gone
ok $? "every client saw its connection to the old Dovecot end"
unlike "$(cat "$T"/client*.log | grep '^E ')" 'deadline' "none ran into its own deadline"
alive=""
for ps in $imap_starts; do
	_same_proc "${ps%%:*}" "${ps#*:}" && alive="$alive ${ps%%:*}"
done
is "$alive" "" "the old imap processes are gone"
wait_for -t 10 bash -c "! kill -0 $src_pid 2>/dev/null"
ok $? "the old Dovecot's master is gone"
for c in $(seq 1 $NCLIENTS); do stop_bg "client$c"; done
late=$(cat "$T"/client*.log | awk '/^S/ { s = 1 } /^L/ { s = 0 } s && /^A / { n++ } END { print n + 0 }')
diag "APPENDs answered OK after the stop command began: $late"

# The oracle: the new Dovecot (started by the cutover), then the old one
# (started again to be asked; its listener is back but nobody connects).
chown -R 65534:65534 "$T/dst/home"
acked=$(tagged A)
x_asked=$(tagged x)
x_done=$(tagged X)
f_done=$(comm -23 <(tagged F) <(printf '%s\n' "$x_asked" | sed '/^$/d'))
must=$(comm -23 <(printf '%s\n' "$acked") <(printf '%s\n' "$x_asked" | sed '/^$/d'))
diag "APPEND OKs: $(printf '%s\n' "$acked" | grep -c .), expunge OKs: $(printf '%s\n' "$x_done" | grep -c .), \Flagged OKs: $(printf '%s\n' "$f_done" | grep -c .)"
new_all=$(ids_flags dst)
new_ids=$(printf '%s\n' "$new_all" | cut -f1 | sort)
ok "$([ "$(printf '%s\n' "$must" | grep -c .)" -ge $((NCLIENTS * 15)) ] && echo 0 || echo 1)" \
	"the clients got OKs for many APPENDs that were not expunged"
missing=$(comm -23 <(printf '%s\n' "$must") <(printf '%s\n' "$new_ids" | sort -u))
is "$(printf '%s' "$missing" | grep -c .)" 0 "every APPEND a client got an OK for is on the new server"
[ -n "$missing" ] && diag "missing: $(printf '%s\n' "$missing" | head -5 | tr '\n' ' ')"
dups=$(printf '%s\n' "$new_ids" | sed '/^$/d' | uniq -d)
is "$(printf '%s' "$dups" | grep -c .)" 0 "and none of them twice (no Message-ID twice on the new server)"
is "$(comm -12 <(printf '%s\n' "$x_done" | sed '/^$/d') <(printf '%s\n' "$new_ids" | sort -u) | grep -c .)" 0 \
	"no message whose expunge got an OK is on the new server"
unflagged=$(printf '%s\n' "$new_all" | awk -F'\t' '$2 !~ /\\Flagged/ { print $1 }' | sort -u)
is "$(comm -12 <(printf '%s\n' "$f_done" | sed '/^$/d') <(printf '%s\n' "$unflagged") | grep -c .)" 0 \
	"every message a client flagged with an OK is \\Flagged on the new server"
new_alice=$(listing dst alice@example.org)
new_bob=$(listing dst bob@example.org)

start_bg dovecot-src-after dovecot -F -c "$T/src/dovecot.conf"
wait_for -t 20 test -S "$T/src/run/auth-userdb"
ok $? "the old Dovecot started again to be asked (no client connects)"
old_alice=$(listing src alice@example.org)
old_bob=$(listing src bob@example.org)
ok "$([ "$(printf '%s\n' "$old_alice" | grep -c .)" -gt 3 ] && echo 0 || echo 1)" "the old server lists alice's messages"
is "$new_alice" "$old_alice" "alice: the same messages, UIDs, GUIDs and flags on the new server as on the old"
is "$new_bob" "$old_bob" "bob: the same"
stop_bg dovecot-src-after
stop_bg dovecot-dst-new

############################################################################
# Case 2: a stop command that stops nothing.
dovecot_start src2
dovecot_start dst2
rm -rf "$T/dst2/home/example.org/"*/Maildir
printf 'Subject: before\r\n\r\nbefore\r\n' | dva src2 save -u alice@example.org
imap2=$(free_port)
with_imap dst2 "$imap2" || give_up "the second new Dovecot does not answer IMAP on $imap2"
src2_pid=$(cat "$T/src2/run/master.pid")
dst2_pid=$(cat "$T/dst2/run/master.pid")
mkdir -p "$T/pf2"
printf 'compatibility_level = 3.6\nsoft_bounce = no\n' >"$T/pf2/main.cf"
: >"$T/pf2/master.cf"
cat >"$T/nostop.sh" <<SH
printf 'Message-ID: <nostop@mm-test.example>\r\nSubject: nostop\r\n\r\nsaved by the stop command\r\n' |
	doveadm -c "$T/src2/dovecot.conf" save -u alice@example.org
exit 0
SH
run_mm_t cutover --from "$T/src2" --to "$T/dst2" --state "$T/sync2.state" --yes --json \
	--imap "127.0.0.1:$imap2" --login alice@example.org --password-file "$T/pw" \
	--old-stop "sh $T/nostop.sh" --old-doveadm-config "$T/src2/dovecot.conf" \
	--new-stop "doveadm -c $T/dst2/dovecot.conf stop" \
	--new-start "dovecot -c $T/dst2/dovecot.conf" --postfix-start true \
	--resync "doveadm -c $T/dst2/dovecot.conf force-resync -A *" \
	--postfix-config "$T/pf2" --switch-state "$T/switch2.sqlite" /home/ /home/
is "$rc" 1 "a stop command that stops nothing: the cutover exits 1"
like "$err" "the old Dovecot \\(master pid $src2_pid\\) still runs [0-9]+ s after the stop command ended" \
	"it says the old Dovecot still runs (its master pid)"
like "$err" 'the cold sync did not run' "and that the cold sync did not run"
result=$(printf '%s\n' "$out" | grep '"event": *"result"')
laststep=$(printf '%s' "$result" | grep -o '"step": *"[a-z-]*"' | tail -1 | sed 's/.*"\([a-z-]*\)"$/\1/')
is "$laststep" stop "the last step in --json is the stop"
unlike "$result" '"cold-sync"' "no cold-sync step in --json"
stopsecs=$(printf '%s' "$result" | grep -o '"step": *"stop", *"seconds": *[0-9.]*' | grep -o '[0-9.]*$')
ok "$(awk -v s="$stopsecs" 'BEGIN { exit !(s >= 9.5) }' && echo 0 || echo 1)" \
	"the stop step gave the master its grace of about 10 s (took ${stopsecs:-?} s)"
ok "$(kill -0 "$src2_pid" 2>/dev/null && echo 0 || echo 1)" "the old Dovecot still runs"
dva src2 search -u alice@example.org HEADER Message-ID nostop@mm-test.example >"$T/nostop.found" 2>/dev/null
ok "$([ -s "$T/nostop.found" ] && echo 0 || echo 1)" "the stop command's message is in the old Maildir"
ok "$(grep -rqs 'saved by the stop command' "$T/dst2/home" && echo 1 || echo 0)" \
	"and not on the new server (no cold sync)"
wait_for -t 10 bash -c "! kill -0 $dst2_pid 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$imap2)"
ok $? "the new Dovecot stays stopped (stop-new ran before the downtime; it served nobody yet)"
ok "$([ -e "$T/dst2/var/lib/mailmove/cutover-downtime" ] && echo 0 || echo 1)" \
	"the downtime is marked, so the rerun goes on from there"
is "$(postconf -c "$T/pf2" -h soft_bounce)" no "soft_bounce untouched"
