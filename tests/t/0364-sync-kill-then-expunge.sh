#!/bin/bash
# An interrupted run leaves nothing behind and brings nothing back.  A
# first sync is ended at each of its steps in turn (MAILMOVE_TEST_EXIT_AT,
# an _exit like kill -9); then the old server expunges three messages, a
# complete rerun and a --delete run follow.  Whatever step the kill hit:
# the three expunged messages are not here, every other message is, no
# tmp/ holds a file, and verify passes without "new deliveries".
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"

sync_roots
for f in "" .Sent; do mkdir -p "$M/$f/cur" "$M/$f/new" "$M/$f/tmp"; done
for i in $(seq 10 29); do printf 'message %s\n' $i >"$M/cur/17000000$i.M${i}P1.old:2,S"; done
for i in 30 31 32 33; do printf 'sent %s\n' $i >"$M/.Sent/cur/17000000$i.M${i}P1.old:2,S"; done
for i in 34 35; do printf 'new %s\n' $i >"$M/new/17000000$i.M${i}P1.old"; done
gone="$M/cur/1700000011.M11P1.old:2,S $M/cur/1700000027.M27P1.old:2,S $M/.Sent/cur/1700000031.M31P1.old:2,S"
mkdir -p "$T/keep"
cp -a "$M/." "$T/keep/"

MAILMOVE_TEST_EXIT_AT=1000000 "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/steps"
steps=$(sed -n 's/.*test: \([0-9]*\) steps.*/\1/p' "$T/steps")
rm -rf "$T/new/var/vmail/example.org" "$S"
plan $((steps * 4 + 1))
ok "$([ "${steps:-0}" -gt 20 ] && echo 0)" "a first sync has $steps steps"

for n in $(seq 1 "$steps"); do
	rm -rf "$T/new/var/vmail/example.org" "$S" "$M"
	mkdir -p "$M"; cp -a "$T/keep/." "$M/"
	MAILMOVE_TEST_EXIT_AT=$n "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	# shellcheck disable=SC2086
	rm $gone
	"$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/err1"; rc1=$?
	"$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/err2"; rc2=$?
	is "$rc1/$rc2" 0/0 "killed at step $n: the rerun and the --delete run pass"
	back=""
	for g in $gone; do
		b=${g##*/}; b=${b%%:*}
		ls "$N/cur" "$N/new" "$N/.Sent/cur" "$N/.Sent/new" 2>/dev/null | grep -q "^$b" && back="$back $b"
	done
	is "$back" "" "killed at step $n: no expunged message came back"
	is "$(find "$T/new/var/vmail" -type f | grep -c '/tmp/[^/]*$')" 0 "killed at step $n: nothing in any tmp/"
	out=$("$MM" verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from / 2>&1); vrc=$?
	ok "$([ $vrc = 0 ] && [ "$(printf '%s\n' "$out" | awk '/^total/ {print $4}')" = 0 ] && echo 0)" \
		"killed at step $n: verify passes (exit $vrc)"
done
