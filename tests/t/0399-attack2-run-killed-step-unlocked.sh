#!/bin/bash
# One run at a time per destination, also when `run` dies before its
# step.  `run` holds the destination lock and its steps (here the sync)
# work under it as its children (MAILMOVE_LOCK_HOLDER).  When `run` alone
# is killed (kill -9 of its pid, the OOM killer), the kernel drops its
# lock but the sync step goes on: a second `sync` (another --state) and
# `files` then start beside it, exit 0, and write into the destination
# the orphaned step is still writing ("a file of this name appeared here
# meanwhile").
# What must hold: while a step of a killed `run` still runs, another
# command that writes to that destination refuses (exit 4).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
# the sync step stops itself (SIGSTOP) before its copies
MAILMOVE_TEST_STOP_BEFORE_COPIES=1 "$MM" run --yes --skip check --skip db --skip redis \
	--skip files --skip cutover --journal "$T/journal" --from "$T/old" --to "$T/new" \
	>"$T/rout" 2>&1 &
rpid=$!
child=
for k in $(seq 100); do
	for p in /proc/[0-9]*; do
		[ "$(awk '{print $4 $3}' "$p/stat" 2>/dev/null)" = "${rpid}T" ] && child=${p#/proc/}
	done
	[ -n "$child" ] && break
	sleep 0.1
done
[ -n "$child" ] || { kill -9 "$rpid"; give_up "the sync step of run never stopped"; }
kill -9 "$rpid"; wait "$rpid" 2>/dev/null
ok "$(kill -0 "$child" 2>/dev/null && echo 0)" "run killed, its sync step (pid $child) still there"
run_mm sync --from "$T/old" --to "$T/new" --state "$T/other.sqlite"
is "$rc" 4 "a second sync refuses while the step runs"
run_mm files --from "$T/old" --to "$T/new"
is "$rc" 4 "files refuses while the step runs"
kill -9 "$child" 2>/dev/null
