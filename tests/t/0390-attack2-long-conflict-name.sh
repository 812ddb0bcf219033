#!/bin/bash
# A conflict on a long base name is still copied.  The old server has a
# message whose base name is 249 bytes (a long ",..." part after the host;
# the whole name 253 bytes, a legal name), and the new server has another
# message (other content) under the same base name.  mailmove reports a
# conflict and names the old server's copy from md_conflict_base: its
# "TIME.M…P…Q1.HOST" part is longer than the original's, and the ",..."
# part is kept whole, so the name is over NAME_MAX: "cannot move into
# place: File name too long" on every run, and the old server's message
# never arrives (the summary even says it was "copied beside").
# What must hold: a conflict copy's name always fits in NAME_MAX (shorten
# the kept part), so the old server's message is here beside the new
# server's and a rerun passes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
b="1700000001.M1P1.old$(printf ',X%.0s' $(seq 115))"
printf 'the old server message\n' >"$M/cur/$b:2,S"
printf 'a message of the new server\n' >"$N/cur/$b:2,"
cp "$M/cur/$b:2,S" "$T/theirs"
sync_vv
sync_vv
is "$rc" 0 "a rerun passes (exit $rc)"
copies() { local f n=0; for f in "$N"/cur/* "$N"/new/*; do cmp -s "$f" "$1" && n=$((n + 1)); done; echo $n; }
is "$(copies "$T/theirs")" 1 "the old server's message is here once"
is "$(cat "$N/cur/$b:2,")" "a message of the new server" "the new server's message is left alone"
is "$(find "$N/tmp" -type f | wc -l)" 0 "nothing left in tmp/"
