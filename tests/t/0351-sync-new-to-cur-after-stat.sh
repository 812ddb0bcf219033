#!/bin/bash
# A message that Dovecot moves from new/ to cur/ after mailmove stat'ed the
# folder's cur/ (unchanged then, so not listed) and before it lists the
# folder's new/ (changed: a delivery) is in neither listing: a --delete run
# must not take it for expunged and remove it here.  The agent's test hook
# stops it after the first listing of a cur/ or new/ (alice's new/); bob's
# message moves; the agent goes on to list bob's new/.
. "$(dirname "$0")/../lib.sh"
plan 5

mkdir -p "$T/old/etc" "$T/new/etc" "$T/new/var/vmail"
for r in old new; do
	printf 'root:x:0:0::/root:/bin/sh\n' >"$T/$r/etc/passwd"
	printf 'root:x:0:\n' >"$T/$r/etc/group"
done
A="$T/old/var/vmail/example.org/alice/Maildir"
M="$T/old/var/vmail/example.org/bob/Maildir"
N="$T/new/var/vmail/example.org/bob/Maildir"
mkdir -p "$A/cur" "$A/new" "$A/tmp" "$M/cur" "$M/new" "$M/tmp"
printf 'read before\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'unread\n' >"$M/new/1700000002.M2P1.old"
S="$T/new/state.sqlite"
# Directories changed long before the first run: none of them is listed
# again for having changed within the run's second.
find "$T/old" -type d -exec touch -d '-1 hour' {} +

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"

# Deliveries to both new/; the cur/ directories stay as they are.
printf 'for alice\n' >"$A/new/1700000003.M3P1.old"
printf 'for bob\n' >"$M/new/1700000004.M4P1.old"
MAILMOVE_AGENT_TEST_PAUSE=1 "$MM" sync -vv --delete --from "$T/old" --to "$T/new" \
	--state "$S" >"$T/out" 2>"$T/err" &
pid=$!
agent_stopped() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$pid" ] || continue
		[ "$(awk '{print $3}' "$p/stat" 2>/dev/null)" = T ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
wait_for agent_stopped
apid=$(agent_stopped)
ok "$([ -n "$apid" ] && echo 0)" "the agent stopped after its first cur/ or new/"
mv "$M/new/1700000002.M2P1.old" "$M/cur/1700000002.M2P1.old:2,S"
kill -CONT "$apid"
wait $pid
is "$?" 0 "the sync finished"
like "$(cat "$T/out")" "0 deleted" "nothing deleted"
ok "$( { test -f "$N/cur/1700000002.M2P1.old:2,S" || test -f "$N/new/1700000002.M2P1.old"; } && echo 0)" \
	"the moved message is here, in cur/ or still in new/"
