#!/bin/bash
# A destination cur/ or new/ that changes while a sync runs, after mailmove
# read it and before the folder's commit (a delivery on the new server
# during the final sync), is not taken as listed exactly, whether the run
# changed that directory too (cur/: a rename) or not (new/): the next run
# reads both and counts the deliveries as kept only on the destination.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 10

sync_roots
sync_inbox_ab

# A flag change on the old server makes the folder planned; the run is
# stopped after planning and a message is delivered on the new server.
sleep 2.1
mv "$M/cur/1700000001.M1P1.old:2,S" "$M/cur/1700000001.M1P1.old:2,RS"
sync_stopped
ok "$(_self_stopped && echo 0)" "the sync stopped after planning"
printf 'delivered here\n' >"$N/new/1700000100.M9P9.new"
printf 'moved here\n' >"$N/cur/1700000101.M9P9.new:2,S"
sync_go_on
is "$(dest_counts)" "0 2" "both directories were taken from the state"
ok "$(test -f "$N/cur/1700000001.M1P1.old:2,RS" && echo 0)" "the flag change arrived"

# The next run must see the delivery.
sleep 2.1
touch "$M/cur" "$M/new"
sync_vv
is "$rc" 0 "the next sync"
is "$(dest_counts)" "2 0" "the destination's cur/ and new/ are read again"
like "$out" "2 kept only on the destination" "the deliveries are counted"
ok "$(test -f "$N/new/1700000100.M9P9.new" && echo 0)" "the delivery to new/ is kept"
ok "$(test -f "$N/cur/1700000101.M9P9.new:2,S" && echo 0)" "the one in cur/ too"
