#!/bin/bash
# A message that Dovecot moves from new/ to cur/ after mailmove stat'ed the
# folder's cur/ (unchanged then, so not listed) and before it lists the
# folder's new/ (changed: a delivery) is in neither listing: a --delete run
# must not take it for expunged and remove it here.  The agent's test hook
# stops it after the first listing of a cur/ or new/ (alice's new/); bob's
# message moves; the agent goes on to list bob's new/.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 5

sync_roots
A="$T/old/var/vmail/example.org/alice/Maildir"
mkdir -p "$A/cur" "$A/new" "$A/tmp" "$M/cur" "$M/new" "$M/tmp"
printf 'read before\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'unread\n' >"$M/new/1700000002.M2P1.old"
# Directories changed long before the first run: none of them is listed
# again for having changed within the run's second.
find "$T/old" -type d -exec touch -d '-1 hour' {} +

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"

# Deliveries to both new/; the cur/ directories stay as they are.
printf 'for alice\n' >"$A/new/1700000003.M3P1.old"
printf 'for bob\n' >"$M/new/1700000004.M4P1.old"
sync_paused --delete
mv "$M/new/1700000002.M2P1.old" "$M/cur/1700000002.M2P1.old:2,S"
agent_on_nothing_deleted 1700000002.M2P1.old:2,S 1700000002.M2P1.old
