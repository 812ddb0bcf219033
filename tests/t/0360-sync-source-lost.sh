#!/bin/bash
# A source that lost its mail is a signal, not a command.  An empty old
# tree (an unmounted disk), a vanished user, a Maildir replaced by empty
# cur/new/tmp, or more deletions than --max-delete: `sync --delete`
# refuses before changing anything, names what would go and exits 1;
# --force-delete confirms.  A normal expunge goes through.  `verify`
# says plainly when the source holds nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 26

sync_roots
A="$T/old/var/vmail/example.org/alice/Maildir"
NA="$T/new/var/vmail/example.org/alice/Maildir"
for d in "$M" "$M/.Sent" "$A"; do mkdir -p "$d/cur" "$d/new" "$d/tmp"; done
for i in 1 2 3 4 5 6; do printf 'bob %s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
for i in 1 2 3; do printf 'sent %s\n' $i >"$M/.Sent/cur/170000010$i.M${i}P2.old:2,S"; done
for i in 1 2 3 4; do printf 'alice %s\n' $i >"$A/cur/170000020$i.M${i}P3.old:2,S"; done
sync_vv
is "$rc" 0 "first sync"
count() { find "$T/new/var/vmail" -path '*/cur/*' -type f | wc -l; }
is "$(count)" 13 "13 messages here"

# The whole tree gone (an empty mount point).
mv "$T/old/var/vmail" "$T/vmail.away"; mkdir "$T/old/var/vmail"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "empty source tree: --delete refuses, exit 1"
like "$err" "holds no messages" "the refusal says the source holds nothing"
like "$err" "--force-delete" "and how to confirm"
is "$(count)" 13 "nothing deleted"
run_mm sync --delete --dry-run --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "the dry run refuses as well"
run_mm verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
ok "$([ "$rc" != 0 ] && echo 0)" "verify against an empty source does not pass (exit $rc)"
like "$err$out" "holds no messages" "verify says the source holds nothing"
rmdir "$T/old/var/vmail"; mv "$T/vmail.away" "$T/old/var/vmail"

# A whole user gone.
mv "$T/old/var/vmail/example.org/alice" "$T/alice.away"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "a vanished user: --delete refuses"
like "$err" "example.org/alice" "the user is named"
is "$(ls "$NA/cur" 2>/dev/null | wc -l)" 4 "alice's mail is still here"
mv "$T/alice.away" "$T/old/var/vmail/example.org/alice"

# A Maildir replaced by an empty cur/new/tmp.
mv "$M" "$T/bob.away"; mkdir -p "$M/cur" "$M/new" "$M/tmp"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "an emptied Maildir: --delete refuses"
like "$err" "example.org/bob" "the user is named"
is "$(count)" 13 "nothing deleted"
rm -rf "$M"; mv "$T/bob.away" "$M"

# The run after the refusals is a normal one.
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "the source back: exit 0"
is "$(count)" 13 "all 13 still here"

# A normal expunge of one message goes through with the default limit.
rm "$M/cur/1700000001.M1P1.old:2,S"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "one expunge: exit 0"
is "$(count)" 12 "the expunged message is gone here"

# More than --max-delete.
rm "$M/cur/1700000002.M2P1.old:2,S" "$M/cur/1700000003.M3P1.old:2,S" "$M/cur/1700000004.M4P1.old:2,S"
run_mm sync --delete --max-delete 2 --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "3 deletions over --max-delete 2: refused"
like "$err" "3 messages" "the count is given"
is "$(count)" 12 "nothing deleted"
run_mm sync --delete --max-delete 3 --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "with --max-delete 3: exit 0"
is "$(count)" 9 "the three are gone"

# Confirmed: the vanished user goes.
mv "$T/old/var/vmail/example.org/alice" "$T/alice.away"
run_mm sync --delete --force-delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "--force-delete: exit 0"
is "$(find "$NA" -type f 2>/dev/null | wc -l)" 0 "alice's messages went"
