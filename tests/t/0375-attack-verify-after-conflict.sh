#!/bin/bash
# verify after a conflict that sync resolved as issue 12 rule 4 wants: the
# new server's own message keeps the base name, the old server's message
# is here under a fresh base name.  verify meets messages by base name
# only, so it compares the old server's message with the new server's own
# one: "content" and "date" differences, exit 1, on every run for ever
# (with --content also when the sizes agree), while nothing is missing.
# An admin learns to ignore verify, or cannot pass the check before the
# cutover.  What must hold: verify finds the old server's message in its
# conflict copy, reports nothing missing or different, and counts the new
# server's message as one only here (it may name the conflict).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 6

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
printf 'the old server message\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'same size, other text!\n' >"$M/cur/1700000002.M2P1.old:2,S"
printf 'another\n' >"$M/cur/1700000003.M3P1.old:2,S"
printf 'a message of the new server, longer\n' >"$N/cur/1700000001.M1P1.old:2,S"
printf 'same size, OTHER text!\n' >"$N/cur/1700000002.M2P1.old:2,S"
sync_vv
is "$rc" 0 "the sync keeps both messages of each conflict"
col() { printf '%s\n' "$out" | awk -v c="$1" '/^total/ {print $c}'; }
run_mm verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$rc" 0 "verify passes: every old-server message is here"
is "$(col 3)/$(col 6)" 0/0 "nothing missing, no content difference"
run_mm verify --content "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$rc" 0 "verify --content passes as well"
is "$(col 3)/$(col 6)" 0/0 "nothing missing, no content difference by hash"
is "$(col 4)" 2 "the new server's two own messages are counted as only here"
