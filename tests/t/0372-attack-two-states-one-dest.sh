#!/bin/bash
# One run at a time per destination (issue 12 rule 5), whatever --state
# names.  The lock is taken on the state file, so two syncs to one
# destination with two state files (a `mailmove run` with the default
# state and a manual `sync --state X`, a typo) run at once.  Seen: one
# exits 1 with "a file of this name appeared here meanwhile", the other
# exits 0 while the folder is left without its dovecot-uidlist (every
# message would get a new UID).  What must hold: the second run refuses
# (exit 4, naming the pid), or both runs end with the folder complete,
# uidlist included, and no run exits 0 with the folder incomplete.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
tries=3
plan $((tries * 2))

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in $(seq 1000 1999); do printf 'm%s\n' $i >"$M/cur/170000$i.M${i}P1.old:2,S"; done
printf '3 V1700000000 N2000 G0123456789abcdef\n' >"$M/dovecot-uidlist"
for t in $(seq 1 $tries); do
	rm -rf "$T/new/var/vmail/example.org" "$T"/s1.sqlite* "$T"/s2.sqlite*
	"$MM" sync --from "$T/old" --to "$T/new" --state "$T/s1.sqlite" >/dev/null 2>"$T/e1" & p1=$!
	"$MM" sync --from "$T/old" --to "$T/new" --state "$T/s2.sqlite" >/dev/null 2>"$T/e2" & p2=$!
	wait $p1; r1=$?
	wait $p2; r2=$?
	n=$(find "$N/cur" -type f | wc -l)
	uid=$([ -f "$N/dovecot-uidlist" ] && echo yes || echo no)
	refused=no
	{ [ $r1 = 4 ] && grep -q "pid $p2" "$T/e1"; } && refused=yes
	{ [ $r2 = 4 ] && grep -q "pid $p1" "$T/e2"; } && refused=yes
	ok "$([ $refused = yes ] && echo 0)" \
		"try $t: the second run on one destination refuses (exits $r1/$r2)"
	ok "$( { [ $r1 != 0 ] && [ $r2 != 0 ]; } || { [ "$n" = 1000 ] && [ $uid = yes ]; } && echo 0)" \
		"try $t: no run exits 0 leaving the folder incomplete ($n messages, uidlist: $uid, exits $r1/$r2)"
done
