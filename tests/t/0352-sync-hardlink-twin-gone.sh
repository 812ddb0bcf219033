#!/bin/bash
# A hard-linked message (Dovecot's COPY: INBOX and Archive share an inode)
# expunged from both folders on the old server after the sync planned its
# copies: the first copy finds it gone, its twin waits for a link that
# cannot be made.  That is one message not copied, reported: it must not
# stop the whole run as if this server's disk had failed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 7

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Archive/cur" "$M/.Archive/new" \
	"$M/.Archive/tmp"
A=1700000001.M1P1.old:2,S
printf 'message A\n' >"$M/cur/$A"
ln "$M/cur/$A" "$M/.Archive/cur/$A"
printf 'message B\n' >"$M/cur/1700000002.M2P1.old:2,S"
printf 'message C\n' >"$M/.Archive/cur/1700000003.M3P1.old:2,S"

# Both links go after the planning, before any copy.
sync_stopped
rm "$M/cur/$A" "$M/.Archive/cur/$A"
kill -CONT "$pid"
wait "$pid"
rc=$?
err=$(cat "$T/err")
is "$rc" 1 "one message not copied, reported: exit 1, not 4"
unlike "$err" "stopped\\." "the run is not stopped as for a destination failure"
ok "$(cmp "$M/cur/1700000002.M2P1.old:2,S" "$N/cur/1700000002.M2P1.old:2,S" >&2 && echo 0)" \
	"the other message of INBOX is copied"
ok "$(cmp "$M/.Archive/cur/1700000003.M3P1.old:2,S" "$N/.Archive/cur/1700000003.M3P1.old:2,S" >&2 && echo 0)" \
	"the other message of Archive is copied"

# The next run finds nothing missing.
sync_vv
is "$rc" 0 "the next run"
ok "$( { test ! -e "$N/cur/$A" && test ! -e "$N/.Archive/cur/$A"; } && echo 0)" \
	"the expunged message is in neither folder"
is "$(find "$N" -type f \( -path "$N/tmp/*" -o -path "$N/*/tmp/*" \) | wc -l)" 0 \
	"nothing left in any tmp/"
