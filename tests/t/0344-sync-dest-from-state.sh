#!/bin/bash
# A resync does not read a destination cur/ or new/ whose mtime is the one
# the state recorded after listing it exactly: the state's rows stand in
# for it.  Any change there (a delivery, a flag change) moves the mtime and
# the directory is read again.  A change the mtime cannot show (made within
# the same clock tick as mailmove's last one, simulated here by putting the
# old mtime back) costs nothing: the deletion that finds its file renamed
# keeps the state's row, and the next run reads the directory and removes
# the renamed file.  Files of the destination's own are never deleted.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 22

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'message A\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'message B\n' >"$M/cur/1700000002.M2P1.old:2,S"
printf 'message C\n' >"$M/cur/1700000003.M3P1.old:2,S"

sync_vv
is "$rc" 0 "first sync"
is "$(dest_counts)" "2 0" "first sync: the destination's cur/ and new/ are read"

# A flag change on the old server: the destination is taken from the state.
sleep 2.1
mv "$M/cur/1700000001.M1P1.old:2,S" "$M/cur/1700000001.M1P1.old:2,RS"
sync_vv
is "$rc" 0 "resync after a flag change"
is "$(dest_counts)" "0 2" "nothing read on the destination"
ok "$(test -f "$N/cur/1700000001.M1P1.old:2,RS" && echo 0)" "the flag change arrived as a rename"
ok "$(test ! -e "$N/cur/1700000001.M1P1.old:2,S" && echo 0)" "the old name is gone"

# A delivery on the new server moves the mtime of its new/: read again,
# kept, and read on every later run (the rows cannot list it).
sleep 2.1
printf 'delivered here\n' >"$N/new/1700000100.M9P9.new"
mv "$M/cur/1700000002.M2P1.old:2,S" "$M/cur/1700000002.M2P1.old:2,FS"
touch "$M/new"
sync_vv --delete
is "$rc" 0 "resync with a delivery on the destination"
is "$(dest_counts)" "1 1" "the destination's new/ is read, cur/ is not"
like "$out" "1 kept only on the destination" "the delivery is counted"
ok "$(test -f "$N/new/1700000100.M9P9.new" && echo 0)" "the delivery is kept"
sleep 2.1
touch "$M/cur" "$M/new"
sync_vv --delete
is "$(dest_counts)" "1 1" "new/ with a file of its own is read again"

# The same-tick race: on the destination C gets a flag and the directory
# gets back the mtime the state knows; on the old server C is expunged.
sleep 2.1
mt=$(stat -c %.9Y "$N/cur")
mv "$N/cur/1700000003.M3P1.old:2,S" "$N/cur/1700000003.M3P1.old:2,ST"
touch -m -d "@$mt" "$N/cur"
is "$(stat -c %.9Y "$N/cur")" "$mt" "the destination's cur/ has its recorded mtime back"
rm "$M/cur/1700000003.M3P1.old:2,S"
sync_vv --delete
is "$rc" 0 "resync --delete: exit 0"
is "$(dest_counts)" "1 1" "cur/ taken from the state (the change cannot be seen)"
like "$err" "1700000003.M3P1.old:2,S: changed on the destination since the last run" \
	"the deletion that finds no file says so"
ok "$(test -f "$N/cur/1700000003.M3P1.old:2,ST" && echo 0)" "nothing else was removed for it"
sync_vv --delete
is "$rc" 0 "the next run: exit 0"
is "$(dest_counts)" "2 0" "the next run reads cur/ again"
ok "$(test ! -e "$N/cur/1700000003.M3P1.old:2,ST" && echo 0)" "and removes the renamed copy of C"

is "$(ls "$N/cur" | sort | tr '\n' ' ')" "1700000001.M1P1.old:2,RS 1700000002.M2P1.old:2,FS " \
	"cur/ holds exactly A and B with their flags"
is "$(ls "$N/new")" "1700000100.M9P9.new" "new/ holds the delivery"
ok "$(cmp "$M/cur/1700000002.M2P1.old:2,FS" "$N/cur/1700000002.M2P1.old:2,FS" >&2 && echo 0)" \
	"B's content is intact"
