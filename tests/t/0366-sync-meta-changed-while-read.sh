#!/bin/bash
# A hot sync runs while Dovecot writes.  Dovecot appends to a busy
# folder's dovecot-uidlist while the agent reads it.  Seen: "cannot
# write: Stale file handle", a failure of this server, and the cutover's
# catch-up stopped on it.  What must hold: a Dovecot file that changed
# while read is read again at once (it is small; the old server is busy),
# and the run exits 0 with the file as it is now; one that changes through
# every try is the old server's change, named so and counted as
# changed_while_read (exit 1), the folder keeps its old uidlist here, and
# the next run copies the new one.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 10

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'Subject: a\n\nx\n' >"$M/cur/1700000001.M1P1.old:2,S"
{
	printf '3 V1700000000 N3 Gabc\n'
	for i in $(seq 1 200000); do printf '%d :1700000001.M1P1.old-%d\n' "$i" "$i"; done
} >"$M/dovecot-uidlist"
reading() { [ -e "$N/.mailmove.dovecot-uidlist.tmp" ]; }
slow_sync() {
	MAILMOVE_AGENT_TEST_READ_DELAY_US=20000 "$MM" sync --json --from "$T/old" --to "$T/new" \
		--state "$S" >"$T/out" 2>"$T/err" &
	pid=$!
	wait_for -t 60 reading || give_up "the uidlist was never read"
}

# 1. One append during the read: read again, exit 0.
slow_sync
printf '200001 :1700000002.M2P1.old\n' >>"$M/dovecot-uidlist"
wait "$pid"; rc=$?
is "$rc" 0 "a uidlist that changed once while read is read again: exit 0"
unlike "$(cat "$T/err")" 'Stale file handle' "and no failure is reported"
ok "$(cmp "$M/dovecot-uidlist" "$N/dovecot-uidlist" >&2 && echo 0)" "the uidlist here is the old server's as it is now"

# 2. Appends through every try: reported as the old server's change.
printf '200002 :1700000003.M3P1.old\n' >>"$M/dovecot-uidlist"
slow_sync
( while :; do printf '1 :x\n' >>"$M/dovecot-uidlist"; sleep 0.05; done ) &
apid=$!
wait "$pid"; rc=$?
kill "$apid"
wait "$apid" 2>/dev/null
is "$rc" 1 "a uidlist that changes through every try: exit 1, the folder is not complete"
like "$(cat "$T/err")" 'dovecot-uidlist: changed on the old server while it was read; copied at the next run' \
	"named as the old server's change"
unlike "$(cat "$T/err")" 'cannot write' "not as a failure to write here"
is "$(grep '"event":"result"' "$T/out" | jq -r '"\(.errors) \(.changed_while_read)"')" "1 1" \
	"--json counts it as changed_while_read"
ok "$([ ! -e "$N/.mailmove.dovecot-uidlist.tmp" ] && echo 0 || echo 1)" "its temporary is gone"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "the next run: exit 0"
ok "$(cmp "$M/dovecot-uidlist" "$N/dovecot-uidlist" >&2 && echo 0)" "and the uidlist here is the old server's, whole"
