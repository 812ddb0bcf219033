#!/bin/bash
# Found while attacking the stop step (0965's rerun after a kill -9 failed
# here): the cutover's catch-up step is `mailmove sync --delete
# --with-indexes` while the old Dovecot serves.  Dovecot rewrites
# dovecot.index.log and dovecot.index.cache with every APPEND; when one
# changes while the sync reads it, the agent reports ESTALE and the sync
# fails the whole run, calling it "cannot write: Stale file handle" (a
# fault of the destination, by its words), and the cutover ends at
# catch-up.  A hot sync must take a live index file changing under it
# (copy it at the next run, as it does for a message that changes while
# read), and exit 0.
#
# Runs the catch-up's sync up to 120 times (35 s at most) while two clients
# append; the fault shows about once in 20 runs here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 3

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
		[ -z "$firstfail" ] && firstfail=$(printf '%s\n' "$o" | grep 'error' | head -3)
	fi
done
is "$fails" 0 "no hot sync with index files fails while Dovecot serves ($runs runs)"
[ -n "$firstfail" ] && diag "$firstfail"
unlike "$firstfail" 'dovecot[^:/]*: cannot write: Stale file handle' \
	"a live index file changing while read is not called a failed write"
kill "$c1" 2>/dev/null
sa_stop_client
wait "$c1" 2>/dev/null
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"
is "$rc" 0 "and a cutover after them completes"
