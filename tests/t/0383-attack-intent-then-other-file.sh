#!/bin/bash
# A message on the new server is never taken for one of the old server's
# (issue 12 rule 4), also after a kill.  A first sync records its intended
# copies in the state before it places them (write_intents); it is ended
# at each step in turn (like kill -9).  Before the rerun, another message
# (other content, other size) appears here under the base name of an old-
# server message that was not placed yet (a restore, an admin's copy, the
# case of rule 4).  Seen: the rerun takes the intent row for proof and
# adopts the other message as the old server's copy, without comparing
# even its size: the old server's message never arrives, exit 0; a later
# --delete after the old server's expunge deletes the new server's message.
# What must hold: whatever step the kill hit, after the rerun the old
# server's message is here and the other one is untouched; after the
# expunge and --delete, the other one is still here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
x="1700000001.M1P1.old:2,S"
printf 'the old server message\n' >"$M/cur/$x"
for i in 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
printf 'a message of the new server, of another size\n' >"$T/other"
cp -a "$M" "$T/mk"
MAILMOVE_TEST_EXIT_AT=1000000 "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>"$T/steps"
steps=$(sed -n 's/.*test: \([0-9]*\) steps.*/\1/p' "$T/steps")
plan $((steps * 2 + 1))
ok "$([ "${steps:-0}" -gt 5 ] && echo 0)" "a first sync has $steps steps"
has() { local f; for f in "$N"/cur/* "$N"/new/*; do cmp -s "$f" "$1" && { echo yes; return; }; done; echo no; }
for n in $(seq 1 "$steps"); do
	rm -rf "$T/new/var/vmail/example.org" "$S"* "$M"; cp -a "$T/mk" "$M"
	MAILMOVE_TEST_EXIT_AT=$n "$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	inj=no
	if [ ! -e "$N/cur/$x" ]; then
		mkdir -p "$N/cur" "$N/new" "$N/tmp"
		cp "$T/other" "$N/cur/$x"
		inj=yes
	fi
	"$MM" sync --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	is "$(has "$M/cur/$x")/$(has "$T/other")" "yes/$inj" \
		"killed at step $n: after the rerun the old server's message is here, the other one too (placed: $inj)"
	rm "$M/cur/$x"
	"$MM" sync --delete --force-delete --from "$T/old" --to "$T/new" --state "$S" >/dev/null 2>&1
	is "$(has "$T/mk/cur/$x")/$(has "$T/other")" "no/$inj" \
		"killed at step $n: --delete removes the old server's copy alone"
done
