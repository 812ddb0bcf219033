#!/bin/bash
# A forgotten conflict copy is found also when the message it made way
# for is gone.  sync copied the old server's message beside the new
# server's own message of the same base name (under a conflict name).
# Then the new server's user expunges their own message, and the state is
# lost.  The rerun meets the old server's message under a base name free
# here, copies it there again, and never looks for its conflict copy:
# the message is here twice.  When the old server later expunges it,
# --delete removes one copy and keeps the other as the destination's own,
# and verify passes: a message expunged on the old server stays here.
# What must hold: after the rerun the old server's message is here once,
# and after its expunge and --delete it is gone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
b=1700000001.M1P1.old
printf 'the old server message\n' >"$M/cur/$b:2,S"
for i in 2 3 4 5; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
printf 'a message of the new server, longer\n' >"$N/cur/$b:2,S"
cp "$M/cur/$b:2,S" "$T/theirs"
copies() { local f n=0; for f in "$N"/cur/* "$N"/new/*; do cmp -s "$f" "$1" && n=$((n + 1)); done; echo $n; }
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(copies "$T/theirs")" 0/1 "the first sync places the old server's message beside the new server's"
rm "$N/cur/$b:2,S" "$S"*
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(copies "$T/theirs")" 0/1 "the new server's message and the state gone: a rerun leaves one copy"
rm "$M/cur/$b:2,S"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(copies "$T/theirs")" 0/0 "after the old server expunged it, --delete leaves no copy"
