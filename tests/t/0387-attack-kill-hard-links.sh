#!/bin/bash
# Hard links made on the old server between runs survive a kill (survived
# attack, kept as coverage).  After a first sync, Dovecot-style hard-link
# copies appear (INBOX to .Archive, .Sent to INBOX) and one message is
# expunged; a `sync --delete` is ended at each of its steps in turn (like
# kill -9), then one linked name and one original are expunged and a
# complete --delete run follows.  Whatever step the kill hit: the rerun
# passes, no tmp/ holds a file, the destination has as many messages and
# as many hard-linked files as the source, and verify --content passes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"

sync_roots
build() {
	rm -rf "$T/old/var/vmail" "$T/new/var/vmail/example.org" "$S"*
	mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Archive/cur" "$M/.Archive/new" \
		"$M/.Archive/tmp" "$M/.Sent/cur" "$M/.Sent/new" "$M/.Sent/tmp"
	for i in $(seq 10 29); do printf 'message %s\n' $i >"$M/cur/17000000$i.M${i}P1.old:2,S"; done
	"$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	for i in 10 11 12 13; do
		ln "$M/cur/17000000$i.M${i}P1.old:2,S" "$M/.Archive/cur/18000000$i.M${i}P2.new:2,S"
	done
	printf 'fresh\n' >"$M/.Sent/cur/1800000050.M50P1.old:2,S"
	ln "$M/.Sent/cur/1800000050.M50P1.old:2,S" "$M/cur/1800000051.M51P1.old:2,S"
	rm "$M/cur/1700000010.M10P1.old:2,S"
}
build
MAILMOVE_TEST_EXIT_AT=1000000 "$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/steps"
steps=$(sed -n 's/.*test: \([0-9]*\) steps.*/\1/p' "$T/steps")
plan $((steps * 3 + 1))
ok "$([ "${steps:-0}" -gt 5 ] && echo 0)" "a --delete run has $steps steps"
msgs() { find "$1" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | wc -l; }
for n in $(seq 1 "$steps"); do
	build
	MAILMOVE_TEST_EXIT_AT=$n "$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	rm "$M/.Archive/cur/1800000011.M11P2.new:2,S" "$M/cur/1700000012.M12P1.old:2,S"
	"$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1; r2=$?
	is "$r2/$(find "$N" -type f | grep -c '/tmp/[^/]*$')" 0/0 "killed at step $n: the rerun passes, no file in any tmp/"
	is "$(msgs "$N")/$(find "$N" -type f -links +1 | wc -l)" "$(msgs "$M")/$(find "$M" -type f -links +1 | wc -l)" \
		"killed at step $n: as many messages and hard-linked files as the source"
	"$MM" verify --content "$T/old/var/vmail/" "$T/new/var/vmail/" --from / >/dev/null 2>&1
	is "$?" 0 "killed at step $n: verify --content passes"
done
