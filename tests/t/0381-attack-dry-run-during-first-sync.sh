#!/bin/bash
# A dry run may look while a sync runs (tests/t/0365), also while the
# first sync on a destination runs.  Seen: every `sync --dry-run` started
# during a first sync fails with "state database: prepare: no such table:
# dirs", exit 4, for the whole length of that sync.  What must hold: the
# dry run either works (the state knows nothing yet: it plans a first
# sync) or says plainly that a first sync is running, never an SQL error.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
sync_stopped
run_mm sync --dry-run --from "$T/old" --to "$T/new" --state "$S"
unlike "$err" "no such table|prepare:" "no SQL error from the dry run"
ok "$([ "$rc" = 0 ] || printf '%s\n' "$err" | grep -qi 'running' && echo 0)" \
	"the dry run works or says a sync is running (exit $rc)"
sync_go_on
