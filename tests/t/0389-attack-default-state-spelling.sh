#!/bin/bash
# The default state (and so the one-run lock, and what --delete can
# prove) is named by a hash of --from, SRC and DEST as typed: "--from
# /srv/old" and "--from /srv/old/" (or "old.example.org" and
# "root@old.example.org") are two states.  Seen: hot syncs typed one way
# and a `sync --delete` typed the other way: the --delete run starts from
# an empty state, proves every message again by content (the whole store
# read again in the downtime), keeps the message the old server expunged
# as "kept only on the destination" (expunged mail comes back), exit 0;
# and a sync typed one way runs beside one typed the other way.  What
# must hold: one source and destination, however spelled, is one state
# and one lock.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
run_mm sync --from "$T/old" --to "$T/new"
is "$rc" 0 "a hot sync, --from without a trailing slash"
rm "$M/cur/1700000002.M2P1.old:2,S"
run_mm sync --delete --from "$T/old/" --to "$T/new"
is "$rc" 0 "--delete, --from with a trailing slash"
ok "$([ ! -e "$N/cur/1700000002.M2P1.old:2,S" ] && echo 0)" "the expunged message is deleted here"
is "$(ls "$T/new/var/lib/mailmove/" | grep -c 'sqlite$')" 1 "one state for the one source"
