#!/bin/bash
# A message that Dovecot moves from new/ to cur/ while a resync lists its
# folder is seen in one of the two listings or in both, never in neither:
# a --delete run must not take it for expunged and remove it here.  The
# agent's test hook stops it right after the first listing of a cur/ or
# new/ (MAILMOVE_AGENT_TEST_PAUSE); the message moves; the agent goes on.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 7

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'read before\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'unread\n' >"$M/new/1700000002.M2P1.old"

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"
ok "$(test -f "$N/new/1700000002.M2P1.old" && echo 0)" "the unread message is in new/"

# Both directories change, so both are listed again.
sleep 2.1
printf 'another\n' >"$M/new/1700000003.M3P1.old"
mv "$M/cur/1700000001.M1P1.old:2,S" "$M/cur/1700000001.M1P1.old:2,RS"
sync_paused --delete
# Dovecot's move of the unread message, as a client reads it.
mv "$M/new/1700000002.M2P1.old" "$M/cur/1700000002.M2P1.old:2,S"
agent_on_nothing_deleted 1700000002.M2P1.old:2,S 1700000002.M2P1.old
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
ok "$(cmp "$M/cur/1700000002.M2P1.old:2,S" "$N/cur/1700000002.M2P1.old:2,S" >&2 && echo 0)" \
	"after the next run it is in cur/ with its flag"
