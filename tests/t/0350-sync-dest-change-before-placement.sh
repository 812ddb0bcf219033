#!/bin/bash
# A delivery on the new server into a destination new/ after mailmove
# planned the folder and before it moves a copied message into that same
# new/ is not taken for mailmove's own change: the next run reads new/
# again and counts the delivery as kept only on the destination.
. "$(dirname "$0")/../lib.sh"
plan 6

mkdir -p "$T/old/etc" "$T/new/etc" "$T/new/var/vmail"
for r in old new; do
	printf 'root:x:0:0::/root:/bin/sh\n' >"$T/$r/etc/passwd"
	printf 'root:x:0:\n' >"$T/$r/etc/group"
done
M="$T/old/var/vmail/example.org/bob/Maildir"
N="$T/new/var/vmail/example.org/bob/Maildir"
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'message A\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'message B\n' >"$M/new/1700000002.M2P1.old"
S="$T/new/state.sqlite"
sync_vv() { run_mm sync -vv "$@" --from "$T/old" --to "$T/new" --state "$S"; }
dest_counts() { printf '%s\n' "$err" | sed -n 's/.*destination cur\/ and new\/: \([0-9]*\) read, \([0-9]*\) from the state.*/\1 \2/p'; }

sync_vv
is "$rc" 0 "first sync"

# A new message on the old server is to be copied into new/; the run stops
# before the copies and a message is delivered into new/ here.
sleep 2.1
printf 'message C\n' >"$M/new/1700000003.M3P1.old"
MAILMOVE_TEST_STOP_BEFORE_COPIES=1 "$MM" sync -vv --from "$T/old" --to "$T/new" \
	--state "$S" >"$T/out" 2>"$T/err" &
pid=$!
stopped() { [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ]; }
wait_for stopped
printf 'delivered here\n' >"$N/new/1700000100.M9P9.new"
kill -CONT $pid
wait $pid
is "$?" 0 "the sync went on and finished"
ok "$(cmp "$M/new/1700000003.M3P1.old" "$N/new/1700000003.M3P1.old" >&2 && echo 0)" \
	"the new message arrived in new/"

sleep 2.1
touch "$M/cur" "$M/new"
sync_vv
is "$rc" 0 "the next sync"
is "$(dest_counts)" "1 1" "the destination's new/ is read again, cur/ taken from the state"
like "$out" "1 kept only on the destination" "the delivery is counted"
