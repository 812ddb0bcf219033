#!/bin/bash
# A hot sync runs while users work.  A user flags a big message while the
# agent reads it (a rename on the old server: same inode, same content,
# same size and mtime, a new ctime).  Seen: the read is taken for a change
# of content, "changed on the old server while it was read", counted as a
# failure: exit 1, and `mailmove run` stops at its sync step.  What must
# hold: a message renamed while read with its size and mtime unchanged is
# no failure (exit 0, like one expunged before its copy: the next run
# takes it under its new name), and the next run brings it, flags and all.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
head -c 20000000 /dev/urandom >"$M/cur/1700000001.M1P1.old:2,S"
printf 'small\n' >"$M/cur/1700000002.M2P1.old:2,S"
MAILMOVE_AGENT_TEST_READ_DELAY_US=10000 "$MM" sync --from "$T/old" --to "$T/new" \
	--state "$S" >"$T/out" 2>"$T/err" &
pid=$!
reading() { [ -n "$(ls "$N/tmp" 2>/dev/null)" ]; }
wait_for reading
mv "$M/cur/1700000001.M1P1.old:2,S" "$M/cur/1700000001.M1P1.old:2,FS"
wait "$pid"; rc=$?
is "$rc" 0 "a flag change during the read is no failure (exit $rc)"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "the next run: exit 0"
ok "$(cmp "$M/cur/1700000001.M1P1.old:2,FS" "$N/cur/1700000001.M1P1.old:2,FS" >&2 && echo 0)" \
	"the message is here under its new name"
