#!/bin/bash
# Every file of the source is accounted for, also when one base name is in
# both cur/ and new/ of a folder with other content (a restored backup, a
# crash of the old server between a copy and its unlink).  Dovecot keeps
# both messages (it renames one of them); sync must either copy both or
# name the one it does not copy and exit 1, on every run until it is dealt
# with.  verify already finds it; sync must not claim success meanwhile.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 5

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'the cur/ message\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'the new/ message, other text\n' >"$M/new/1700000001.M1P1.old"
printf 'another\n' >"$M/cur/1700000002.M2P1.old:2,S"
has_copy() { local f; for f in $(find "$N" -type f \( -path '*/cur/*' -o -path '*/new/*' \)); do cmp -s "$f" "$1" && { echo yes; return; }; done; echo no; }
accounted() {	# both copied, or the one left out named with exit 1
	if [ "$(has_copy "$M/cur/1700000001.M1P1.old:2,S")" = yes ] &&
	   [ "$(has_copy "$M/new/1700000001.M1P1.old")" = yes ]; then
		echo 0
	elif [ "$rc" = 1 ] && printf '%s\n' "$err" | grep -q '1700000001.M1P1.old'; then
		echo 0
	fi
}
sync_vv
ok "$(accounted)" "first sync: both copied, or the one left out named with exit 1 (exit $rc)"
is "$(has_copy "$M/cur/1700000002.M2P1.old:2,S")" yes "the other message arrived"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
ok "$(accounted)" "a rerun: still accounted for (exit $rc)"
# Reversed order of mtimes does not change it.
rm -rf "$T/new/var/vmail/example.org" "$S"
touch -d '2020-01-01' "$M/cur/1700000001.M1P1.old:2,S"
sync_vv
ok "$(accounted)" "from scratch again: accounted for (exit $rc)"
run_mm verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
ok "$([ "$rc" != 0 ] || [ "$(has_copy "$M/new/1700000001.M1P1.old")" = yes ] && echo 0)" \
	"verify does not pass while a message is missing"
