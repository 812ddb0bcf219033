#!/bin/bash
# A source that lost its mail is a signal, not a command (issue 12 rule
# 1), also when one new message arrived there since.  bob's Maildir is
# moved away on the old server (an admin's mistake, a restore to another
# path) and Dovecot makes a fresh one at his next delivery: the guard sees
# one message for bob and lets `sync --delete` delete all 150 messages he
# had here, exit 0, since 150 is below the default limit of a server with
# 2,150 messages.  What must hold: a user (or Maildir) that lost every
# message the state knows came from it is refused even when new mail
# arrived there meanwhile; --force-delete confirms.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 6

sync_roots
A="$T/old/var/vmail/example.org/alice/Maildir"
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$A/cur" "$A/new" "$A/tmp"
for i in $(seq 1000 1149); do printf 'bob %s\n' $i >"$M/cur/170000$i.M${i}P1.old:2,S"; done
for i in $(seq 10000 11999); do printf 'alice %s\n' $i >"$A/cur/17000$i.M${i}P2.old:2,S"; done
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(ls "$N/cur" | wc -l)" 0/150 "first sync: bob's 150 messages here"

mv "$M" "$T/bob.away"
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'a fresh delivery\n' >"$M/new/1800000000.M1P9.old"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "bob lost all 150 known messages, one new arrived: --delete refuses"
like "$err" "example.org/bob" "the refusal names bob"
is "$(ls "$N/cur" | wc -l)" 150 "none of bob's 150 messages deleted"
run_mm sync --delete --dry-run --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "the dry run refuses as well"
run_mm sync --delete --force-delete --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(ls "$N/cur" | wc -l)" 0/0 "--force-delete confirms"
