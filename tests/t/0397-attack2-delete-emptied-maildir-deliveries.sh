#!/bin/bash
# --delete refuses when a user's Maildir was replaced by an empty one,
# also when new mail arrived in it since.  bob has 50 messages and ann 60;
# after a first sync bob's Maildir on the old server is replaced by an
# empty one (a failed mount of his storage), and 6 new messages are
# delivered into it before the cold sync.  The guard compares the 50
# messages known with the 6 the old server has now (6 x 10 > 50: "not
# lost"), the 50 deletions are under the limit of 100, and sync --delete
# deletes all 50 of bob's messages here, exit 0.  The same for carl, a
# user with 9 messages (under the guard's "at least ten"): his emptied
# Maildir got one delivery, and all 9 go here.
# What must hold: a user who lost all (or over 90 %) of the messages the
# state knows came from the old server is refused, however many new
# messages arrived since: nothing of bob's is deleted and the exit code is
# non-zero.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 5

sync_roots
A="$T/old/var/vmail/example.org/ann/Maildir"
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$A/cur" "$A/new" "$A/tmp"
for i in $(seq 100 149); do printf 'bob %s\n' $i >"$M/cur/1700000$i.M${i}P1.old:2,S"; done
for i in $(seq 200 259); do printf 'ann %s\n' $i >"$A/cur/1700000$i.M${i}P1.old:2,S"; done
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
is "$rc/$(find "$N/cur" -type f | wc -l)" 0/50 "the first sync copies bob's 50 messages"
sleep 1.1
rm -rf "$M"; mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in $(seq 300 305); do printf 'new %s\n' $i >"$M/new/1700000$i.M${i}P1.old"; done
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
ok "$([ "$rc" != 0 ] && echo 0)" "sync --delete is refused (exit $rc)"
is "$(find "$N/cur" -type f | wc -l)" 50 "bob's 50 messages are still here"

# carl: 9 messages, then an emptied Maildir with one delivery
C="$T/old/var/vmail/example.org/carl/Maildir" NC="$T/new/var/vmail/example.org/carl/Maildir"
rm -rf "$T/old/var/vmail" "$T/new/var/vmail" "$S"*; mkdir -p "$T/new/var/vmail"
mkdir -p "$C/cur" "$C/new" "$C/tmp" "$A/cur"
for i in $(seq 101 109); do printf 'carl %s\n' $i >"$C/cur/1700000$i.M${i}P1.old:2,S"; done
for i in $(seq 200 259); do printf 'ann %s\n' $i >"$A/cur/1700000$i.M${i}P1.old:2,S"; done
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
sleep 1.1
rm -rf "$C"; mkdir -p "$C/cur" "$C/new" "$C/tmp"
printf 'new\n' >"$C/new/1700000300.M300P1.old"
run_mm sync --delete --from "$T/old" --to "$T/new" --state "$S"
ok "$([ "$rc" != 0 ] && echo 0)" "carl: sync --delete is refused (exit $rc)"
is "$(find "$NC/cur" -type f | wc -l)" 9 "carl's 9 messages are still here"
