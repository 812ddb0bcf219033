#!/bin/bash
# A legal message name is copied as what it is.  A message whose name is
# 254 bytes (a 250-byte base name and ":2,S"; NAME_MAX is 255) cannot be
# placed: mailmove's name for it in tmp/ is "mailmove." and the base name,
# 259 bytes, "File name too long".  It is reported and the exit code is 1,
# but no run ever copies it: the old server's message never arrives.
# What must hold: any name the old server's file system holds can be
# copied here (the tmp/ name must not be longer than the message's).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
b="1700000001.M1P1.$(printf 'h%.0s' $(seq 234))"
printf 'a message with a long name\n' >"$M/cur/$b:2,S"
printf 'a short one\n' >"$M/cur/1700000002.M2P1.old:2,S"
printf 'a long one in new/\n' >"$M/new/1700000003.M3P1.$(printf 'n%.0s' $(seq 239))"
sync_vv
is "$rc" 0 "the sync passes (exit $rc)"
ok "$(cmp "$M/cur/$b:2,S" "$N/cur/$b:2,S" >&2 && echo 0)" "the message of the 254-byte name is here"
is "$(find "$N/cur" "$N/new" -type f | wc -l)" 3 "all three messages here"
