#!/bin/bash
# A hard link on the destination only for the same source file.  An inode
# number the state knows proves nothing by itself: a message rewritten in
# place (same inode, same size, other bytes) under another base must be
# copied, not linked to the old message's copy; with or without other
# hard links on the source.  A folder renamed on the old server and a new
# hard link to a message copied earlier are still linked.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 11

sync_roots
for f in "" .Old .Copy .Copy2; do mkdir -p "$M/$f/cur" "$M/$f/new" "$M/$f/tmp"; done
printf 'message A, the old text\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'message H, hard-linked\n' >"$M/cur/1700000002.M2P1.old:2,S"
ln "$M/cur/1700000002.M2P1.old:2,S" "$M/.Copy/cur/1700000003.M3P1.old:2,S"
printf 'message R, read twice\n' >"$M/cur/1700000004.M4P1.old:2,S"
ln "$M/cur/1700000004.M4P1.old:2,S" "$M/.Copy/cur/1700000005.M5P1.old:2,S"
printf 'kept in the old folder\n' >"$M/.Old/cur/1700000006.M6P1.old:2,S"
sync_json() { run_mm sync --json --from "$T/old" --to "$T/new" --state "$S"; }

sync_json
is "$rc" 0 "first sync"

# A is rewritten in place (same inode, same size) and renamed to base B.
A="$M/cur/1700000001.M1P1.old:2,S"
ino=$(stat -c %i "$A")
printf 'message B, a new text!!\n' >"$A"
mv "$A" "$M/cur/1700000007.M7P1.old:2,S"
is "$(stat -c %i "$M/cur/1700000007.M7P1.old:2,S")" "$ino" "B has A's inode on the source"
sync_json
is "$rc" 0 "second sync"
ok "$(cmp "$M/cur/1700000007.M7P1.old:2,S" "$N/cur/1700000007.M7P1.old:2,S" >&2 && echo 0)" \
	"B on the destination has B's text, not A's"

# The same with a hard-linked message: H is rewritten in place, its link
# in .Copy goes, and it gets a new base and a new link in .Copy2.
H="$M/cur/1700000002.M2P1.old:2,S"
printf 'message I, other text!\n' >"$H"
rm "$M/.Copy/cur/1700000003.M3P1.old:2,S"
mv "$H" "$M/cur/1700000008.M8P1.old:2,S"
ln "$M/cur/1700000008.M8P1.old:2,S" "$M/.Copy2/cur/1700000009.M9P1.old:2,S"
# R, copied in the first run, gets one more hard link: that one may be
# linked, the state's row for it is proven by this run.
ln "$M/cur/1700000004.M4P1.old:2,S" "$M/.Copy2/cur/1700000010.M10P1.old:2,S"
# .Old is renamed: its message is linked from the old folder.
mv "$M/.Old" "$M/.Renamed"
sync_json
is "$rc" 0 "third sync"
ok "$(cmp "$M/cur/1700000008.M8P1.old:2,S" "$N/cur/1700000008.M8P1.old:2,S" >&2 && echo 0)" \
	"I on the destination has I's text, not H's"
ok "$(cmp "$M/.Copy2/cur/1700000009.M9P1.old:2,S" "$N/.Copy2/cur/1700000009.M9P1.old:2,S" >&2 && echo 0)" \
	"I's hard link has I's text"
ok "$(cmp "$M/.Copy2/cur/1700000010.M10P1.old:2,S" "$N/.Copy2/cur/1700000010.M10P1.old:2,S" >&2 && echo 0)" \
	"R's new link has R's text"
is "$(stat -c %i "$N/.Copy2/cur/1700000010.M10P1.old:2,S")" "$(stat -c %i "$N/cur/1700000004.M4P1.old:2,S")" \
	"R's new link is a hard link on the destination"
ok "$(cmp "$M/.Renamed/cur/1700000006.M6P1.old:2,S" "$N/.Renamed/cur/1700000006.M6P1.old:2,S" >&2 && echo 0)" \
	"the renamed folder's message arrived"
like "$out" '"linked": *[1-9]' "the renamed folder and R's new link were linked"
