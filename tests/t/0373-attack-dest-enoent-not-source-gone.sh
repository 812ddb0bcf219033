#!/bin/bash
# A copy is proven, or it is not recorded, and a failure here is never
# taken for an expunge on the old server.  Every ENOENT of a copy (a
# missing tmp/ here, a rename or link here that finds no file) is logged
# as "gone on the old server before it was copied" and does not count as
# a failure: a sync whose destination folder lost its tmp/ between
# planning and copying copies nothing, leaves the folder without its
# dovecot-uidlist, and exits 0.  A final sync at cutover that exits 0
# this way lets the old server go while its messages are not here.  Also
# seen with two syncs at once (0372).  What must hold: a run that did not
# copy a message the old server still has does not exit 0 and does not
# say it is gone there; either it copies it (Dovecot makes a missing
# tmp/ itself) or it names the failure here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
printf '3 V1700000000 N4 G0123456789abcdef\n' >"$M/dovecot-uidlist"
sync_stopped
rmdir "$N/tmp"
kill -CONT "$pid"
wait "$pid"; rc=$?
err=$(cat "$T/err")
n=$(find "$N/cur" -type f | wc -l)
ok "$([ "$rc" != 0 ] || [ "$n" = 3 ] && echo 0)" \
	"the sync does not exit 0 with messages not copied (exit $rc, $n of 3 here)"
unlike "$err" "gone on the old server" "it does not say the messages are gone on the old server"
ok "$([ "$rc" != 0 ] || [ -f "$N/dovecot-uidlist" ] && echo 0)" \
	"exit 0 only with the folder's dovecot-uidlist here"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(find "$N/cur" -type f | wc -l)" 0/3 "a rerun copies them"
