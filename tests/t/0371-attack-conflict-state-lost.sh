#!/bin/bash
# Nothing invented: a rerun with the state deleted (a supported recovery,
# issue 12 rule 3) must not copy the old server's message again beside a
# conflict copy it already placed.  A message here with an old-server
# message's base name and other content makes sync place the old server's
# message under a fresh base name; without the state, every later run
# meets the same conflict and places one more copy: the user sees the same
# message two, three, ... times.  What must hold: after the state is lost,
# a rerun finds the conflict copy (same size, same content) and places no
# second one; verify then finds no extra message only here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 6

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
printf 'the old server message\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'a message of the new server, longer\n' >"$N/new/1700000001.M1P1.old"
here() { find "$N/cur" "$N/new" -type f | wc -l; }
copies() { local f n=0; for f in "$N"/cur/* "$N"/new/*; do cmp -s "$f" "$M/cur/1700000001.M1P1.old:2,S" && n=$((n + 1)); done; echo $n; }
sync_vv
is "$rc" 0 "first sync: the conflict is kept, exit 0"
is "$(copies)" 1 "one copy of the old server's message here"
rm -f "$S"
sync_vv
is "$(copies)" 1 "the state deleted, a rerun: still one copy (not $(copies))"
rm -f "$S"
sync_vv
is "$(copies)" 1 "and again: still one copy"
is "$(here)" 2 "two messages here: the new server's and the old server's"
run_mm verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$(printf '%s\n' "$out" | awk '/^total/ {print $4}')" 1 \
	"verify: only the new server's own message is found only here"
