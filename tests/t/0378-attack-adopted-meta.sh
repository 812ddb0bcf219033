#!/bin/bash
# A message here that sync proves to be the old server's (same base name,
# size and content, no state row: a run whose state was lost, an admin's
# earlier `cp -r` or `rsync -r`) is adopted as it is: its mtime (Dovecot's
# received date), its mode and its owner stay what they were here.  Seen:
# a file of mode 0000 owned by uid 1234 with today's mtime is adopted,
# sync exits 0 on every run, and verify reports a "date" difference for
# ever that no sync repairs (Dovecot cannot even read the file).  What
# must hold: after sync exits 0, an adopted message has the source's
# mtime, mode and (mapped) owner, and verify passes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 6

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
f="$M/cur/1700000001.M1P1.old:2,S"
printf 'the same message\n' >"$f"
chmod 0640 "$f"
touch -d '2021-01-01 12:00:00' "$f"
printf 'the same message\n' >"$N/cur/1700000001.M1P1.old:2,"
chmod 0000 "$N/cur/1700000001.M1P1.old:2,"
chown 1234:1234 "$N/cur/1700000001.M1P1.old:2,"
sync_vv
is "$rc" 0 "the sync adopts the same message"
h="$N/cur/1700000001.M1P1.old:2,S"
is "$(stat -c %Y "$h" 2>/dev/null)" "$(stat -c %Y "$f")" "the adopted message has the source's mtime"
is "$(stat -c %a "$h" 2>/dev/null)" 640 "and its mode"
is "$(stat -c %u:%g "$h" 2>/dev/null)" 0:0 "and its owner (root here as there)"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "a rerun: exit 0"
run_mm verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$rc" 0 "verify passes"
