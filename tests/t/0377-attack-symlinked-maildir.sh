#!/bin/bash
# Every file of the source is accounted for (issue 12 rule 2), also when a
# user's Maildir is a symlink on the old server (bob/Maildir -> a
# directory on another disk, as admins do when a disk fills up).  Seen:
# sync skips bob's whole mailbox without a word, "0 copied", exit 0, on
# every run; verify does not name bob either and passes.  What must hold:
# Its siblings, also skipped without a word: a symlinked folder (.Archive
# -> elsewhere) and a symlinked domain directory.
# sync copies bob's messages, or names his Maildir as not copied and exits
# 1; verify does not pass while bob's messages are not here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 7

sync_roots
A="$T/old/var/vmail/example.org/alice/Maildir"
mkdir -p "$A/cur" "$A/new" "$A/tmp" "$T/old/srv/bobmail/cur" "$T/old/srv/bobmail/new" \
	"$T/old/srv/bobmail/tmp" "$(dirname "$M")"
printf 'alice 1\n' >"$A/cur/1700000001.M1P1.old:2,S"
for i in 2 3 4; do printf 'bob %s\n' $i >"$T/old/srv/bobmail/cur/170000000$i.M${i}P1.old:2,S"; done
ln -s ../../../../srv/bobmail "$M"
bob_here() { find "$N" -type f 2>/dev/null | grep -c '/cur/'; }
accounted() {
	if [ "$(bob_here)" = 3 ]; then echo 0
	elif [ "$rc" = 1 ] && printf '%s\n' "$err" | grep -q 'example.org/bob'; then echo 0
	fi
}
sync_vv
ok "$(accounted)" "sync copies bob's 3 messages or names his Maildir with exit 1 (exit $rc, $(bob_here) here)"
is "$(find "$T/new/var/vmail/example.org/alice" -type f | grep -c /cur/)" 1 "alice's message arrived"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
ok "$(accounted)" "a rerun: the same (exit $rc)"
run_mm verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
ok "$([ "$(bob_here)" = 3 ] || [ "$rc" != 0 ] && echo 0)" \
	"verify does not pass while bob's messages are not here (exit $rc)"
rm "$M"; ln -s /srv/bobmail "$M"	# an absolute link, within the old root
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
ok "$(accounted)" "an absolute symlink: the same (exit $rc)"

# Siblings: a folder of alice that is a symlink, a domain that is one.
mkdir -p "$T/old/srv/arch/cur" "$T/old/srv/arch/new" "$T/old/srv/arch/tmp" \
	"$T/old/data/other.org/carol/Maildir/cur" "$T/old/data/other.org/carol/Maildir/new"
printf 'archived\n' >"$T/old/srv/arch/cur/1700000005.M5P1.old:2,S"
printf 'carol\n' >"$T/old/data/other.org/carol/Maildir/cur/1700000006.M6P1.old:2,S"
ln -s /srv/arch "$A/.Archive"
ln -s /data/other.org "$T/old/var/vmail/other.org"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
ok "$( { [ -n "$(find "$T/new/var/vmail" -name '1700000005.M5P1.old:2,S')" ] || { [ "$rc" = 1 ] && printf '%s\n' "$err" | grep -q 'alice/Maildir/.Archive'; }; } && echo 0)" \
	"a symlinked folder: copied or named with exit 1 (exit $rc)"
ok "$( { [ -n "$(find "$T/new/var/vmail" -name '1700000006.M6P1.old:2,S')" ] || { [ "$rc" = 1 ] && printf '%s\n' "$err" | grep -q 'other.org'; }; } && echo 0)" \
	"a symlinked domain: copied or named with exit 1 (exit $rc)"
