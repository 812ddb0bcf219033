#!/bin/bash
# sync --delete removes the directories gone from the old server without
# following a symlink planted in the middle of their path on the
# destination: a directory outside the Maildir tree stays.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 5

sync_roots "$T/outside/sub"
V="$T/old/var/vmail/example.org"
mkdir -p "$V/bob/Maildir/cur" "$V/bob/Maildir/new" "$V/bob/Maildir/tmp" "$V/x/sub"
printf 'hello\n' >"$V/bob/Maildir/cur/1700000001.M1P1.old:2,S"

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"
ok "$([ -d "$T/new/var/vmail/example.org/x/sub" ] && echo 0)" "the plain directories arrived"

# On the destination x becomes a symlink to a directory outside; on the
# source x goes.
rm -r "$T/new/var/vmail/example.org/x"
ln -s "$T/outside" "$T/new/var/vmail/example.org/x"
rm -r "$V/x"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
ok "$([ "$rc" -le 1 ] && echo 0)" "sync --delete ran (exit $rc)"
ok "$([ -d "$T/outside/sub" ] && echo 0)" "the directory behind the symlink is still there"
ok "$([ -f "$T/new/var/vmail/example.org/bob/Maildir/cur/1700000001.M1P1.old:2,S" ] && echo 0)" \
	"the messages are still there"
