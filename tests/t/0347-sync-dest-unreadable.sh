#!/bin/bash
# A destination cur/ that cannot be read (here: replaced by a symlink,
# which mailmove never follows on the destination) is one error for the
# folder and no decision: not "empty" (every message copied again, each
# failing), and no record of the state dropped for it.  Once the directory
# is back, a --delete run removes what the old server expunged meanwhile.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 9

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'message %s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"

# The old server expunges message 2 and flags message 3; here cur/ is
# moved away and a symlink to it takes its place.
sleep 2.1
rm "$M/cur/1700000002.M2P1.old:2,S"
mv "$M/cur/1700000003.M3P1.old:2,S" "$M/cur/1700000003.M3P1.old:2,FS"
mv "$N/cur" "$T/cur.away"
ln -s "$T/cur.away" "$N/cur"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "exit 1: the folder could not be synced"
like "$err" "Maildir/cur: cannot read the directory here" "the directory is named once"
unlike "$err" "cannot move into place" "no message was copied to it"
is "$(ls "$T/cur.away" | sort | tr '\n' ' ')" \
	"1700000001.M1P1.old:2,S 1700000002.M2P1.old:2,S 1700000003.M3P1.old:2,S " \
	"nothing changed behind the symlink"

# cur/ is back: the expunge and the flag change arrive.
rm "$N/cur"
mv "$T/cur.away" "$N/cur"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "the next sync"
like "$out" "1 renamed, 1 deleted" "one rename, one deletion"
is "$(ls "$N/cur" | sort | tr '\n' ' ')" "1700000001.M1P1.old:2,S 1700000003.M3P1.old:2,FS " \
	"cur/ is the old server's"
ok "$(cmp "$M/cur/1700000003.M3P1.old:2,FS" "$N/cur/1700000003.M3P1.old:2,FS" >&2 && echo 0)" \
	"message 3 intact"
