#!/bin/bash
# An interrupted run leaves nothing behind, even when its state is lost.
# bob has INBOX and .Sub; a first sync is ended at each of its steps in
# turn (like kill -9), leaving full copies as tmp/mailmove.* here; then
# the state is lost and .Sub is deleted on the old server (a user deleting
# a folder).  A complete rerun passes but the copies in .Sub/tmp/ stay for
# good: the cleanup only visits the tmp/ of folders the source still has,
# and only when the lost state said tmp/ was dirty.
# What must hold: after a complete rerun no tmp/ here holds a file of
# mailmove's (mailmove.*), whatever the state remembers.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Sub/cur" "$M/.Sub/new" "$M/.Sub/tmp"
for i in 1 2 3; do
	printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"
	printf 's%s\n' $i >"$M/.Sub/cur/170000001$i.M${i}P1.old:2,S"
done
cp -a "$T/old" "$T/oldk"
MAILMOVE_TEST_EXIT_AT=1000000 "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/steps"
steps=$(sed -n 's/.*test: \([0-9]*\) steps.*/\1/p' "$T/steps")
plan $((steps + 1))
ok "$([ "${steps:-0}" -gt 5 ] && echo 0)" "a first sync has $steps steps"
for n in $(seq 1 "$steps"); do
	rm -rf "$T/new/var/vmail/"* "$S"* "$T/old"; cp -a "$T/oldk" "$T/old"
	MAILMOVE_TEST_EXIT_AT=$n "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	rm -rf "$M/.Sub" "$S"*
	"$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1; r=$?
	left=$(find "$T/new/var/vmail" -path '*/tmp/mailmove.*' | wc -l)
	is "$r/$left" 0/0 "killed at step $n: the rerun passes and leaves no tmp/mailmove.* here"
done
