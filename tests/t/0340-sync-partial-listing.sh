#!/bin/bash
# A listing that fails partway is not taken for the whole directory.  The
# agent's test hook (MAILMOVE_AGENT_TEST_EIO, see list_step) makes readdir
# of a directory fail with EIO after its first entries, as a failing disk
# would.  sync --delete must then delete nothing and mark no folder
# vanished: it reports the error and exits 1, and a later run without the
# fault completes and leaves the same messages on both sides.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 12

sync_roots
D="$T/old/var/vmail/example.org"
for u in alice bob dave erin; do
	for f in "" .Sent; do mkdir -p "$D/$u/Maildir/$f/cur" "$D/$u/Maildir/$f/new" "$D/$u/Maildir/$f/tmp"; done
	for i in 1 2 3 4 5 6; do
		printf 'From: %s\nSubject: %s\n\nbody\n' "$u" "$i" \
			>"$D/$u/Maildir/cur/17000000$i.M${i}P1.old,S=30:2,S"
	done
	printf 'sent by %s\n' "$u" >"$D/$u/Maildir/.Sent/cur/1700000100.M1P1.old:2,S"
done
count() { find "$T/$1/var/vmail" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | wc -l; }

run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "first sync"
is "$(count new)" "$(count old)" "every message copied"

# A new message makes alice's cur/ listed again; its listing fails after
# two entries.
printf 'late\n' >"$D/alice/Maildir/cur/1700000900.M9P1.old:2,S"
before=$(count new)
export MAILMOVE_AGENT_TEST_EIO=/alice/Maildir/cur
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
unset MAILMOVE_AGENT_TEST_EIO
is "$rc" 1 "cur/ listed partway: exit 1"
like "$err" 'alice/Maildir/cur.*Input/output error' "the failed listing is named"
ok "$([ "$(count new)" -ge "$before" ] && echo 0)" "nothing deleted from the destination's cur/"

# A new user makes example.org listed again; its listing fails after two
# entries, so some users' Maildirs are missing from it.
mkdir -p "$D/carol/Maildir/cur" "$D/carol/Maildir/new" "$D/carol/Maildir/tmp"
before=$(count new)
export MAILMOVE_AGENT_TEST_EIO=/example.org
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
unset MAILMOVE_AGENT_TEST_EIO
is "$rc" 1 "domain listed partway: exit 1"
like "$err" 'example.org.*Input/output error' "the failed listing is named"
ok "$([ "$(count new)" -ge "$before" ] && echo 0)" "no folder deleted from the destination"
ok "$(for u in alice bob dave erin; do [ -d "$T/new/var/vmail/example.org/$u/Maildir/.Sent/cur" ] || exit 1; done; echo 0)" \
	"every user's Maildir is still there"

# Without the fault, the next runs complete.
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "without the fault: exit 0"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 0 "and again: exit 0"
ok "$(diff -r "$T/old/var/vmail" "$T/new/var/vmail" >&2 && echo 0)" "both sides hold the same messages"
