#!/bin/bash
# A folder removed on the old server whose destination cur/ cannot be read
# (a symlink here) is an error and nothing is deleted; the folder stays in
# the state, so that a later --delete run, once the directory is back,
# still removes it.  alice is a whole user gone, which --delete refuses
# alone (tests/t/0360): --force-delete confirms it here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 7

sync_roots
M="$T/old/var/vmail/example.org/alice/Maildir"
N="$T/new/var/vmail/example.org/alice/Maildir"
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$T/old/var/vmail/example.org/bob/Maildir/cur"
for i in 1 2; do printf 'message %s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"

# alice is removed on the old server; here her cur/ is a symlink.
sleep 2.1
rm -r "$T/old/var/vmail/example.org/alice"
mv "$N/cur" "$T/cur.away"
ln -s "$T/cur.away" "$N/cur"
run_mm sync --delete --force-delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "exit 1: the folder could not be removed"
like "$err" "alice/Maildir/cur: cannot read the directory here" "the directory is named"
is "$(ls "$T/cur.away" | wc -l)" 2 "nothing deleted behind the symlink"

# cur/ is back: the removal is done now.
rm "$N/cur"
mv "$T/cur.away" "$N/cur"
run_mm sync --delete --force-delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "the next sync"
like "$out" "2 deleted" "alice's messages are deleted now"
ok "$(test ! -e "$T/new/var/vmail/example.org/alice" && echo 0)" "her directory is gone"
