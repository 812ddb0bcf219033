#!/bin/bash
# A message on the new server is never taken for one of the old server's.
# A message here with an old-server message's base name but other content
# is kept untouched; the old server's message arrives under a fresh base
# name; the conflict is reported.  When the old server expunges its
# message, --delete removes only the copy mailmove placed.  The same
# content under the same name is taken as the copy it is.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 15

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
printf 'the old server message\n' >"$M/cur/1700000001.M1P1.host:2,S"
printf 'same everywhere\n' >"$M/cur/1700000002.M2P1.host:2,S"
printf 'same size, other text\n' >"$M/cur/1700000003.M3P1.host:2,S"
printf 'a message of the new server\n' >"$N/new/1700000001.M1P1.host"
printf 'same everywhere\n' >"$N/cur/1700000002.M2P1.host:2,"
printf 'same size, OTHER text\n' >"$N/cur/1700000003.M3P1.host:2,"
cp "$N/new/1700000001.M1P1.host" "$T/here1"
cp "$N/cur/1700000003.M3P1.host:2," "$T/here3"
sync_vv
like "$err" "1700000001.M1P1.host.*conflict" "the conflict of different sizes is reported"
like "$err" "1700000003.M3P1.host.*conflict" "the conflict of the same size is reported"
ok "$(cmp "$T/here1" "$N/new/1700000001.M1P1.host" >&2 && echo 0)" "the new server's message is untouched"
ok "$(cmp "$T/here3" "$N/cur/1700000003.M3P1.host:2," >&2 && echo 0)" "the same-size one too"
has_copy() { local f; for f in $(find "$N" -type f \( -path '*/cur/*' -o -path '*/new/*' \)); do cmp -s "$f" "$1" && { echo yes; return; }; done; echo no; }
inbox_count() { find "$N/cur" "$N/new" -type f | wc -l; }
is "$(has_copy "$M/cur/1700000001.M1P1.host:2,S")" yes "the old server's message arrived under another name"
is "$(has_copy "$M/cur/1700000003.M3P1.host:2,S")" yes "the same-size one too"
ok "$([ -f "$N/cur/1700000002.M2P1.host:2,S" ] && echo 0)" "the same message is taken as the copy (renamed to its flags)"
is "$(inbox_count)" 5 "five messages here"
sync_vv
is "$rc" 0 "a rerun: exit 0"
is "$(inbox_count)" 5 "still five: nothing copied twice"

# The old server expunges all three.
rm "$M"/cur/*
mkdir -p "$M/.Keep/cur" "$M/.Keep/new" "$M/.Keep/tmp"
for i in 1 2 3 4 5 6 7 8 9; do printf 'k%s\n' $i >"$M/.Keep/cur/17000001$i.M${i}P1.host:2,S"; done
run_mm sync --delete --force-delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "--delete: exit 0"
is "$(has_copy "$T/here1")" yes "the new server's message is still here"
is "$(has_copy "$T/here3")" yes "the same-size one too"
is "$(has_copy "$M/.Keep/cur/170000011.M1P1.host:2,S")" yes "the other folder arrived"
is "$(inbox_count)" 2 "mailmove's copies went, the new server's two stayed"
