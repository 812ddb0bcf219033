#!/bin/bash
# --delete never removes what the old server still has behind a symlink.
# bob has 12 messages in INBOX and 12 in .Archive; after a first sync the
# old server's admin moves .Archive to another disk and leaves a symlink
# in its place (Dovecot follows it: bob still sees his archive).  sync
# --delete names the symlink ("not followed, and not copied") and exits
# 1, but treats the folder as gone: it deletes the 12 archived messages
# here (the guard lets 12 of 24 through, under the limit of 100).
# What must hold: a folder, Maildir, user or domain hidden behind a
# symlink on the old server is not "gone": --delete deletes none of the
# messages here that came from it, and the run exits non-zero naming it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Archive/cur" "$M/.Archive/new" "$M/.Archive/tmp"
for i in $(seq 11 22); do
	printf 'inbox %s\n' $i >"$M/cur/17000000$i.M${i}P1.old:2,S"
	printf 'archived %s\n' $i >"$M/.Archive/cur/17000001$i.M${i}P1.old:2,S"
done
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(find "$N/.Archive/cur" -type f | wc -l)" 0/12 "the first sync copies the archive"
sleep 1.1
mv "$M/.Archive" "$T/otherdisk"
ln -s "$T/otherdisk" "$M/.Archive"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
ok "$([ "$rc" != 0 ] && echo 0)" "sync --delete exits non-zero (exit $rc)"
like "$err" 'Archive.*symlink' "the symlink is named"
is "$(find "$N/.Archive/cur" -type f | wc -l)" 12 "the 12 archived messages are still here"
