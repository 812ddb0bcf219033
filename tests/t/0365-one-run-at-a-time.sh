#!/bin/bash
# One run at a time per destination.  A second sync while one holds the
# state exits 4 naming the pid that holds it, and changes nothing; a dry
# run may look meanwhile.  Every command that writes (files, db, redis,
# cutover, run, finish) refuses in the same way while its lock is held;
# looking (run --status, softbounce status) takes no lock.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 22

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "a first sync"
printf '3 V1700000000 N4 G0123456789abcdef\n1 :1700000001.M1P1.old\n' >"$M/dovecot-uidlist"
printf 'm4\n' >"$M/new/1700000004.M4P1.old"

sync_stopped
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 4 "a second sync: exit 4"
like "$err" "pid $pid" "it names the pid that holds the state"
ok "$([ ! -e "$N/dovecot-uidlist" ] && echo 0)" "and changed nothing"
run_mm sync --dry-run --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "a dry run may look meanwhile"
sync_go_on
ok "$(cmp "$M/dovecot-uidlist" "$N/dovecot-uidlist" >&2 && echo 0)" "the first sync finished its work"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "once it ended, the next sync runs"

# The other commands that write: their lock held by another process.
hold() {	# hold NAME: a process holding NAME's lock, its pid in the file
	mkdir -p "$MAILMOVE_LOCK_DIR"
	start_bg "hold-$1" flock "$MAILMOVE_LOCK_DIR/$1.lock" sh -c \
		"echo \"\$PPID $1\" >'$MAILMOVE_LOCK_DIR/$1.lock'; exec sleep 60"
	wait_for grep -q "$1" "$MAILMOVE_LOCK_DIR/$1.lock"
	read -r hpid _ <"$MAILMOVE_LOCK_DIR/$1.lock"
}
for c in files db redis cutover run finish; do
	hold "$c"
	case $c in cutover|run) yes=--yes ;; *) yes= ;; esac
	run_mm "$c" $yes --from "$T/old" --to "$T/new"
	is "$rc" 4 "$c while its lock is held: exit 4"
	like "$err" "pid $hpid" "$c names the pid that holds it"
	stop_bg "hold-$c"
done

# Looking takes no lock: run --status and softbounce status while held.
hold run
run_mm run --status --journal "$T/journal" --from "$T/old" --to "$T/new"
unlike "$err" "holds" "run --status does not wait for the lock"
stop_bg hold-run
hold softbounce
run_mm softbounce status --state "$T/switch.sqlite"
unlike "$err" "holds" "softbounce status does not wait for the lock"
stop_bg hold-softbounce
