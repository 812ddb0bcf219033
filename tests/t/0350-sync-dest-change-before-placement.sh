#!/bin/bash
# A delivery on the new server into a destination new/ after mailmove
# planned the folder and before it moves a copied message into that same
# new/ is not taken for mailmove's own change: the next run reads new/
# again and counts the delivery as kept only on the destination.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 6

sync_roots
sync_inbox_ab

# A new message on the old server is to be copied into new/; the run stops
# before the copies and a message is delivered into new/ here.
sleep 2.1
printf 'message C\n' >"$M/new/1700000003.M3P1.old"
sync_stopped
printf 'delivered here\n' >"$N/new/1700000100.M9P9.new"
sync_go_on
ok "$(cmp "$M/new/1700000003.M3P1.old" "$N/new/1700000003.M3P1.old" >&2 && echo 0)" \
	"the new message arrived in new/"

sleep 2.1
touch "$M/cur" "$M/new"
sync_vv
is "$rc" 0 "the next sync"
is "$(dest_counts)" "1 1" "the destination's new/ is read again, cur/ taken from the state"
like "$out" "1 kept only on the destination" "the delivery is counted"
