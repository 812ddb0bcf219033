#!/bin/bash
# Found while attacking the stop step (0965's rerun after a kill -9 failed
# here on 8450eba): the cutover's catch-up step is `mailmove sync --delete
# --with-indexes` while the old Dovecot serves.  Dovecot rewrites
# dovecot-uidlist, dovecot.index.log and dovecot.index.cache with every
# APPEND; one that changes while the sync reads it was called "cannot
# write: Stale file handle" (a fault of the destination, by its words) and
# ended the cutover at catch-up.  Since 6419380 the man page says: such a
# file is reported as changed while read (exit 1, changed_while_read in
# --json), and the catch-up leaves it to the cold sync.
#
# Runs the catch-up's sync up to 120 times (35 s at most) while two clients
# append (a Dovecot file changed under it about once in 20 runs on
# 8450eba): a failing run may fail only so, named so; then a cutover with
# both clients still appending completes and loses nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 4

sa_setup
sa_client "$T/ok1" a
c1=$CPID
sa_client "$T/ok2" b
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
runs=0 fails=0 firstfail=
end=$((SECONDS + 35))
while [ "$runs" -lt 120 ] && [ "$SECONDS" -lt "$end" ]; do
	runs=$((runs + 1))
	o=$(timeout 30 "$MM" sync --delete --with-indexes --state "$T/sync.state" \
		--from "$T/src" --to "$T/dst" /home/ /home/ 2>&1)
	r=$?
	if [ "$r" != 0 ]; then
		fails=$((fails + 1))
		e=$(printf '%s\n' "$o" | grep 'error: example.org' | grep -v 'changed on the old server while it was read')
		[ -z "$firstfail" ] && [ -n "$e" -o "$r" != 1 ] && firstfail="exit $r: $(printf '%s\n' "$o" | grep error | head -3)"
	fi
done
is "$firstfail" "" "$fails of $runs hot syncs failed, each on a Dovecot file changed while read only (exit 1, named so)"
unlike "$firstfail" 'cannot write: Stale file handle' "a live file changing while read is not called a failed write"
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"
is "$rc" 0 "a cutover with both clients still appending completes"
[ "$rc" = 0 ] || diag "$err"
kill "$c1" 2>/dev/null
sa_stop_client
wait "$c1" 2>/dev/null
CPID=
lost=0
for l in "$T/ok1" "$T/ok2"; do
	lost=$((lost + $(comm -23 <(grep '^<' "$l" | sort) <(sa_ids dst) | grep -c .)))
done
is "$lost" 0 "every APPEND the old Dovecot OK'd is on the new server"
