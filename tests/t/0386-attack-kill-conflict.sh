#!/bin/bash
# A conflict survives a kill (survived attack, kept as coverage).  A
# message here has an old-server message's base name and other content;
# the first sync is ended at each of its steps in turn (like kill -9),
# a complete rerun follows, then the old server expunges its message and
# a --delete run follows.  Whatever step the kill hit: after the rerun the
# old server's message is here once beside the new server's own one; after
# --delete, the new server's message is still here and the old server's
# copy is gone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
printf 'the old server message\n' >"$M/cur/1700000001.M1P1.old:2,S"
for i in 2 3 4; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
printf 'a message of the new server, longer\n' >"$N/new/1700000001.M1P1.old"
cp "$N/new/1700000001.M1P1.old" "$T/own"
cp -a "$M" "$T/mk"; cp -a "$N" "$T/nk"
MAILMOVE_TEST_EXIT_AT=1000000 "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/steps"
steps=$(sed -n 's/.*test: \([0-9]*\) steps.*/\1/p' "$T/steps")
plan $((steps * 3 + 1))
ok "$([ "${steps:-0}" -gt 5 ] && echo 0)" "a first sync has $steps steps"
copies() { local f n=0; for f in "$N"/cur/* "$N"/new/*; do cmp -s "$f" "$1" && n=$((n + 1)); done; echo $n; }
for n in $(seq 1 "$steps"); do
	rm -rf "$M" "$N" "$S"*; cp -a "$T/mk" "$M"; cp -a "$T/nk" "$N"
	MAILMOVE_TEST_EXIT_AT=$n "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	"$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1; r1=$?
	is "$r1/$(copies "$M/cur/1700000001.M1P1.old:2,S")/$(copies "$T/own")" 0/1/1 \
		"killed at step $n: the rerun passes, one copy of each of the two messages"
	rm "$M/cur/1700000001.M1P1.old:2,S"
	"$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1; r2=$?
	is "$r2/$(copies "$T/mk/cur/1700000001.M1P1.old:2,S")/$(copies "$T/own")" 0/0/1 \
		"killed at step $n: --delete removes the old server's copy, keeps the new server's"
	is "$(find "$N/cur" "$N/new" -type f | wc -l)" 4 "killed at step $n: four messages here"
done
