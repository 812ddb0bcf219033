#!/bin/bash
# A folder where a message failed to copy keeps its old dovecot-uidlist and
# dovecot-keywords: installing the source's would give Dovecot UIDs for a
# file that is not there.  The fault is honest: the destination's new/ is
# made immutable (chattr +i), so moving the message into place fails.  The
# failed message leaves nothing in tmp/, and once the fault is gone the
# next run copies the message and then the uidlist.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 9

sync_roots
for f in "" .Drafts; do mkdir -p "$M/$f/cur" "$M/$f/new" "$M/$f/tmp"; done
printf 'inbox\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'draft one\n' >"$M/.Drafts/cur/1700000011.M1P1.old:2,S"
printf 'draft two\n' >"$M/.Drafts/cur/1700000012.M2P1.old:2,S"
printf '3 V1700000000 N3 G0123456789abcdef\n1 :1700000011.M1P1.old\n2 :1700000012.M2P1.old\n' \
	>"$M/.Drafts/dovecot-uidlist"
printf '0 Junk\n' >"$M/.Drafts/dovecot-keywords"
N="$T/new/var/vmail/example.org/bob/Maildir/.Drafts"

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"
cp "$N/dovecot-uidlist" "$T/uidlist.before"

# A new message, with its UID in the source's uidlist and a new keyword;
# the destination's new/ refuses it.
printf 'draft three\n' >"$M/.Drafts/new/1700000013.M3P1.old"
printf '3 V1700000000 N4 G0123456789abcdef\n1 :1700000011.M1P1.old\n2 :1700000012.M2P1.old\n3 :1700000013.M3P1.old\n' \
	>"$M/.Drafts/dovecot-uidlist"
printf '0 Junk\n1 Later\n' >"$M/.Drafts/dovecot-keywords"
chattr +i "$N/new" || { give_up "chattr +i does not work here"; }
trap 'chattr -i "$N/new" 2>/dev/null; _cleanup' EXIT
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
chattr -i "$N/new"
is "$rc" 1 "a message cannot be moved into place: exit 1"
like "$err" '1700000013.*Operation not permitted' "the failed message is named"
ok "$(cmp "$N/dovecot-uidlist" "$T/uidlist.before" >&2 && echo 0)" "the destination's uidlist is unchanged"
is "$(ls -A "$N/tmp" | wc -l)" 0 "nothing left in tmp/"

# Without the fault, the next run copies the message and the uidlist.
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "without the fault: exit 0"
ok "$(cmp "$M/.Drafts/new/1700000013.M3P1.old" "$N/new/1700000013.M3P1.old" >&2 && echo 0)" "the message arrived"
ok "$(cmp "$M/.Drafts/dovecot-uidlist" "$N/dovecot-uidlist" >&2 && echo 0)" "the uidlist arrived"
ok "$(cmp "$M/.Drafts/dovecot-keywords" "$N/dovecot-keywords" >&2 && echo 0)" "the keywords arrived"
