#!/bin/bash
# An interrupted --delete run leaves nothing behind and brings nothing
# back (survived attack, kept as coverage).  After a first sync the old
# server expunges three messages, changes flags, moves one from new/ to
# cur/ and one to another folder, and gets a new one; a `sync --delete` is
# ended at each of its steps in turn (MAILMOVE_TEST_EXIT_AT, like kill -9),
# a flag changes again, and a complete --delete run follows.  Whatever
# step the kill hit: the rerun passes, no tmp/ holds a file, the
# destination has exactly the source's messages and verify --content passes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Sent/cur" "$M/.Sent/new" "$M/.Sent/tmp"
for i in $(seq 10 29); do printf 'message %s\n' $i >"$M/cur/17000000$i.M${i}P1.old:2,S"; done
for i in 30 31 32; do printf 'sent %s\n' $i >"$M/.Sent/cur/17000000$i.M${i}P1.old:2,S"; done
for i in 34 35 36; do printf 'new %s\n' $i >"$M/new/17000000$i.M${i}P1.old"; done
"$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
rm "$M/cur/1700000011.M11P1.old:2,S" "$M/.Sent/cur/1700000031.M31P1.old:2,S" "$M/new/1700000034.M34P1.old"
mv "$M/cur/1700000012.M12P1.old:2,S" "$M/cur/1700000012.M12P1.old:2,RS"
mv "$M/new/1700000035.M35P1.old" "$M/cur/1700000035.M35P1.old:2,S"
printf 'brand new\n' >"$M/new/1700000050.M50P1.old"
mv "$M/cur/1700000013.M13P1.old:2,S" "$M/.Sent/cur/1700000013.M13P1.old:2,S"
cp -a "$M" "$T/mk"; cp -a "$N" "$T/nk"; cp "$S" "$T/sk"
MAILMOVE_TEST_EXIT_AT=1000000 "$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/steps"
steps=$(sed -n 's/.*test: \([0-9]*\) steps.*/\1/p' "$T/steps")
plan $((steps * 3 + 1))
ok "$([ "${steps:-0}" -gt 5 ] && echo 0)" "a --delete run has $steps steps"
names() { (cd "$1" && find . \( -path '*/cur/*' -o -path '*/new/*' \) -type f | sed 's/:2,.*//; s,/new/,/cur/,' | sort); }
for n in $(seq 1 "$steps"); do
	rm -rf "$M" "$N" "$S"*; cp -a "$T/mk" "$M"; cp -a "$T/nk" "$N"; cp "$T/sk" "$S"
	MAILMOVE_TEST_EXIT_AT=$n "$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	mv "$M/cur/1700000012.M12P1.old:2,RS" "$M/cur/1700000012.M12P1.old:2,FRS"
	"$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/e2"; r2=$?
	is "$r2/$(find "$N" -type f | grep -c '/tmp/[^/]*$')" 0/0 "killed at step $n: the rerun passes, no file in any tmp/"
	is "$(names "$N" | tr '\n' ' ')" "$(names "$M" | tr '\n' ' ')" "killed at step $n: exactly the source's messages here"
	out=$("$MM" verify --content "$T/old/var/vmail/" "$T/new/var/vmail/" --from / 2>&1); vrc=$?
	is "$vrc" 0 "killed at step $n: verify --content passes"
done
