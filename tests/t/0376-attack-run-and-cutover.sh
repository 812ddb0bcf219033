#!/bin/bash
# One run at a time per destination (issue 12 rule 5).  Each command locks
# a file of its own name (run.lock, cutover.lock, ...), so `cutover` starts
# while a `mailmove run` holds its lock on the same destination (and the
# other way round): two orchestrators stopping services, syncing and
# switching at once.  What must hold: while run holds its lock, cutover
# refuses before its first step (exit 4, naming the pid), and while
# cutover holds its lock, run refuses.  The stop commands here are
# `false`: a cutover that does not refuse fails at its first step instead
# and touches nothing; the run does its sync step alone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 5

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
export MAILMOVE_LOCK_DIR="$T/locks"
hold() {	# hold NAME: a process holding NAME's lock, its pid in the file
	local f="$MAILMOVE_LOCK_DIR/mailmove.lock"
	mkdir -p "$MAILMOVE_LOCK_DIR"
	# one process (sh, then sleep by exec) holds the lock: stop_bg ends it
	start_bg "hold-$1" sh -c "exec 9>'$f'; flock 9; echo \"\$\$ $1\" >'$f'; exec sleep 60"
	wait_for grep -q "$1" "$f"
	read -r hpid _ <"$f"
}
hold run
run_mm run --yes --skip check --skip db --skip redis --skip files --skip cutover \
	--journal "$T/journal" --from "$T/old" --to "$T/new"
is "$rc" 4 "(control) a second run while run holds its lock: exit 4"
run_mm cutover --yes --old-stop false --new-stop false --from "$T/old" --to "$T/new"
is "$rc" 4 "cutover while run holds its lock: exit 4"
like "$err" "pid $hpid" "it names the pid of the run"
stop_bg hold-run
hold cutover
run_mm run --yes --skip check --skip db --skip redis --skip files --skip cutover \
	--journal "$T/journal" --from "$T/old" --to "$T/new"
is "$rc" 4 "run (its sync step alone) while cutover holds its lock: exit 4"
like "$err" "pid $hpid" "it names the pid of the cutover"
stop_bg hold-cutover
