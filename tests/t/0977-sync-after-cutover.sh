#!/bin/bash
# Once the new Dovecot has served users after a cutover (its mark
# var/lib/mailmove/cutover-served), a sync from the old server would undo
# what they did here: a flag set here would go back to the old server's,
# a message expunged here could come back.  sync refuses (exit 4, nothing
# changed) unless --after-cutover; --dry-run warns; `run` skips its hot
# sync.  And every --json run that fails early (that refusal, a lock held
# by another run) still ends with a result object naming the exit and
# the error.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
command -v flock >/dev/null 2>&1 || skip_all "no flock"
plan 16

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'Subject: one\n\nx\n' >"$M/cur/1700000001.M1P1.old:2,"
printf 'Subject: two\n\ny\n' >"$M/cur/1700000002.M2P1.old:2,S"
sync_vv
is "$rc" 0 "the hot sync before the cutover"

# The cutover's downtime is over; users work on the new server.
mv "$N/cur/1700000001.M1P1.old:2," "$N/cur/1700000001.M1P1.old:2,F"
rm "$N/cur/1700000002.M2P1.old:2,S"
mkdir -p "$T/new/var/lib/mailmove"
printf 'from %s\nsince %s\n' "$T/old" "$(date +%s)" >"$T/new/var/lib/mailmove/cutover-served"
state_before=$(md5sum <"$S")
listing() { (cd "$N" && find . -type f -path './cur/*' | sort); }
before=$(listing)

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 4 "a sync after the cutover is refused (exit 4)"
like "$err" "served users since [0-9-]+ [0-9:]+ .* by a cutover from $T/old" "it says why, since when and from where"
like "$err" '--after-cutover' "and names the option that overrides it"
is "$(listing)" "$before" "nothing changed here: the flag set here stays, the expunged message stays away"
is "$(md5sum <"$S")" "$state_before" "the state is untouched"

run_mm sync --from "$T/old" --to "$T/new" --state "$S" --delete --json
is "$rc" 4 "--delete --json: refused as well"
res=$(printf '%s\n' "$out" | grep '"event":"result"')
like "$res" '"exit":4' "--json ends with a result naming exit 4"
like "$res" '"error":"sync: the new Dovecot has served users since' "and the error"

run_mm sync --from "$T/old" --to "$T/new" --state "$S" --dry-run
is "$rc" 0 "--dry-run reads and exits 0"
like "$err" 'refused without --after-cutover' "with a warning that a real run is refused"
is "$(listing)" "$before" "the dry run changed nothing"

# run: its hot sync is skipped (the step that always runs again).
run_mm run --from "$T/old" --to "$T/new" --yes --skip check --skip db --skip redis \
	--skip files --skip cutover
like "$err" 'sync skipped: the new Dovecot has served' "run skips its hot sync after the cutover"
is "$(listing)" "$before" "and changes nothing"

# A lock held by another run: the --json result is still there.
rm -f "$T/new/var/lib/mailmove/cutover-served"
mkdir -p "$MAILMOVE_LOCK_DIR"
L="$MAILMOVE_LOCK_DIR/mailmove.lock"
: >>"$L"
ino=$(stat -c %i "$L")
flock "$L" sleep 60 &
fpid=$!
wait_for -t 10 grep -q ":$ino " /proc/locks || diag "the lock was not seen taken"
run_mm sync --from "$T/old" --to "$T/new" --state "$S" --json
kill "$fpid" $(ps -o pid= --ppid "$fpid")
wait "$fpid" 2>/dev/null
res=$(printf '%s\n' "$out" | grep '"event":"result"')
like "$res" '"exit":4' "a lock held elsewhere: the --json result names exit 4 ($rc)"
like "$res" '"error":"another mailmove' "and the error"
