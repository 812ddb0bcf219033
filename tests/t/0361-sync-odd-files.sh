#!/bin/bash
# Every file of the source is accounted for: copied, or reported.  A
# message with an empty base name is copied as what it is and does not
# keep its folder's dovecot-uidlist and dovecot-keywords from arriving; a
# symlink where a message, a uidlist or a keywords file should be is named
# and counted, and makes the exit code 1; a message hard-linked to a file
# outside the tree is copied and named.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 17

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Odd/cur" "$M/.Odd/new" "$M/.Odd/tmp"
printf 'normal\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'no base name\n' >"$M/cur/:2,S"
printf '3 V1700000000 N3 G0123456789abcdef\n1 :1700000001.M1P1.old\n2 :\n' >"$M/dovecot-uidlist"
printf '0 Junk\n' >"$M/dovecot-keywords"
sync_vv
is "$rc" 0 "a message with an empty base name: exit 0"
ok "$(cmp "$M/cur/:2,S" "$N/cur/:2,S" >&2 && echo 0)" "it is copied as what it is"
ok "$(cmp "$M/dovecot-uidlist" "$N/dovecot-uidlist" >&2 && echo 0)" "the folder's uidlist arrived"
ok "$(cmp "$M/dovecot-keywords" "$N/dovecot-keywords" >&2 && echo 0)" "the folder's keywords arrived"
sync_vv
is "$rc" 0 "a rerun: exit 0"
unlike "$err" "gone on the old server" "nothing is said to be gone"

# Symlinks where a message, the uidlist and the keywords should be.
O="$M/.Odd"; NO="$N/.Odd"
printf 'target\n' >"$T/outside-message"
printf 'real\n' >"$O/cur/1700000010.M1P1.old:2,S"
ln -s "$T/outside-message" "$O/cur/1700000011.M2P1.old:2,S"
printf '3 V1 N3 G0\n1 :1700000010.M1P1.old\n' >"$T/outside-uidlist"
ln -s "$T/outside-uidlist" "$O/dovecot-uidlist"
ln -s "$T/outside-uidlist" "$O/dovecot-keywords"
sync_vv
is "$rc" 1 "symlinks in a folder: exit 1"
like "$err" "1700000011.M2P1.old.*symlink" "the symlinked message is named"
like "$err" "\.Odd/dovecot-uidlist.*symlink" "the symlinked uidlist is named"
like "$err" "\.Odd/dovecot-keywords.*symlink" "the symlinked keywords file is named"
like "$err" "3 items failed" "the summary counts them"
ok "$([ -f "$NO/cur/1700000010.M1P1.old:2,S" ] && echo 0)" "the real message beside them arrived"
ok "$([ ! -e "$NO/cur/1700000011.M2P1.old:2,S" ] && [ ! -L "$NO/cur/1700000011.M2P1.old:2,S" ] && echo 0)" "the symlink was not followed"
rm "$O/cur/1700000011.M2P1.old:2,S" "$O/dovecot-uidlist" "$O/dovecot-keywords"

# A message hard-linked to a file outside the tree.
printf 'linked from outside\n' >"$T/old/outside-file"
ln "$T/old/outside-file" "$O/cur/1700000012.M3P1.old:2,S"
sync_vv
is "$rc" 0 "a hard link to outside the tree: copied (exit 0)"
ok "$(cmp "$T/old/outside-file" "$NO/cur/1700000012.M3P1.old:2,S" >&2 && echo 0)" "its content arrived"
like "$err" "1700000012.M3P1.old.*hard link.*outside" "and it is named"

# The same directory as source and destination is refused.
run_mm sync --from "$T/old" --to "$T/old" --state "$T/same.sqlite"
is "$rc" 2 "the source as its own destination: refused (exit 2)"
