#!/bin/bash
# Attack on the cutover's catch-up step (and `mailmove sync` alone): a file
# in a user's home that the old Dovecot writes while it serves (Pigeonhole's
# ~/.dovecot.sieve.log, ~/.dovecot.lda-dupes; with INDEX=~/indexes, the
# index files themselves) changes while the hot sync reads it.
#
# Man page, catch-up: "Files the old Dovecot changes while this sync reads
# them (a busy mailbox's dovecot-uidlist or index log) are left to the cold
# sync with a warning; any other failure stops the cutover here".  Sync:
# such files are counted in changed_while_read, and --json's result counts
# every failed item in "errors".
#
# Home files go through treesync: a change while read is "read failed on the
# old server: Stale file handle", named by its path on the destination,
# counted neither in "errors" nor in changed_while_read, yet exit 1.  The
# catch-up then sees errors 0 and fails the cutover: "the catch-up sync
# failed (exit 1); nothing was stopped".
#
# Here a writer rewrites alice's ~/.dovecot.sieve.log (1 MiB, in place)
# without pause until the stop command ends it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 8

sa_setup
LOG="$T/src/home/example.org/alice/.dovecot.sieve.log"
head -c 1048576 /dev/urandom >"$LOG"
chown 65534:65534 "$LOG"
master=$(sa_old_master)
start_bg writer python3 -c '
import os, sys, time
path, master = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY)
chunk = os.urandom(262144)
end = time.time() + 90
while time.time() < end:
    try:
        os.kill(master, 0)
    except OSError:
        break
    for off in range(0, 1048576, 262144):
        os.pwrite(fd, chunk, off)
' "$LOG" "$master"
m0=$(stat -c %y "$LOG")
wait_for -t 20 bash -c "[ \"\$(stat -c %y '$LOG')\" != '$m0' ]" || give_up "the writer does not write"

# 1. `mailmove sync` alone, a few tries until one reads the file while it
# changes (exit 1).
n=0
while [ $n -lt 5 ]; do
	n=$((n + 1))
	o=$(timeout 60 "$MM" sync --from "$T/src" --to "$T/dst" --state "$T/sync.state" --json /home/ /home/ 2>"$T/sync.err")
	src=$?
	[ "$src" != 0 ] && break
done
res=$(printf '%s\n' "$o" | grep '"event": *"result"')
num() { printf '%s' "$res" | grep -o "\"$1\": *[0-9]*" | head -1 | grep -o '[0-9]*$'; }
diag "sync try $n: exit $src; $(grep -v 'passwd or group' "$T/sync.err" | grep -E 'error' | head -2 | tr '\n' ' ')"
if [ "$src" = 1 ]; then
	ok "$([ "$(num errors)" -ge 1 ] && echo 0 || echo 1)" "1. sync exits 1: its --json result counts the failed item (errors $(num errors))"
	ok "$([ "$(num changed_while_read)" -ge 1 ] && echo 0 || echo 1)" "1. and counts the home file that changed while read (changed_while_read $(num changed_while_read))"
	unlike "$(cat "$T/sync.err")" "$T/dst/[^:]*: read failed on the old server" "1. and does not name it by its path on this server for a read on the old one"
else
	for i in 1 2 3; do ok 0 "1. # SKIP no sync run read the file while it changed ($n tries)"; done
fi

# 2. The cutover with a client appending: the catch-up reads the file as it
# changes.
sa_client "$T/ok" a
sa_wait_appends "$T/ok" 5 || give_up "the client appends nothing"
# The writer stands for the old Dovecot's processes: the stop ends it first
# (a writer that outlived them would race the cold sync, which mailmove
# cannot stop).
printf 'read p s <%s\nkill "$p"\ndoveadm -c %s stop\n' "$T/.pid.writer" "$T/src/dovecot.conf" >"$T/stop.sh"
sa_cut "sh $T/stop.sh"
sa_stop_client
is "$rc" 0 "2. the cutover exits 0 (the catch-up leaves the changing home file to the cold sync)"
unlike "$err" 'catch-up sync failed' "2. the catch-up does not fail on it"
if sa_cold_sync_ran; then
	sa_check_none_lost "$T/ok"
else
	ok 0 "2. # SKIP the cutover ended before the downtime: nothing stopped, nothing to lose"
	ok 0 "2. # SKIP (none twice)"
fi
ok "$(cmp -s "$LOG" "$T/dst/home/example.org/alice/.dovecot.sieve.log" && echo 0 || echo 1)" \
	"2. the file as the old Dovecot left it is on the new server"
exit 0
