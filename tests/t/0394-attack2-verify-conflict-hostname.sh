#!/bin/bash
# verify finds a conflict copy whatever this host is called now.  sync
# resolved a conflict (the new server's own message keeps the base name,
# the old server's is here under a conflict name made of this host's name,
# "…Q1.newbox").  The host is then renamed (as at a cutover, when the new
# server takes the mail name) and verify looks for conflict copies under
# the new name only: it compares the old server's message with the new
# server's own one and reports a "content" difference, exit 1, on every
# run, while nothing is missing.
# What must hold: verify passes after the rename, as it did before it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
printf 'the old server message\n' >"$M/cur/1700000001.M1P1.old:2,S"
printf 'another\n' >"$M/cur/1700000003.M3P1.old:2,S"
printf 'a message of the new server, longer\n' >"$N/cur/1700000001.M1P1.old:2,S"
as_host() { local h=$1; shift; unshare -u sh -c 'hostname "$0" && exec "$@"' "$h" "$@" >"$T/out" 2>"$T/err"; }
as_host newbox "$MM" sync --from "$T/old" --to "$T/new" --state "$S"
is "$?" 0 "the sync keeps both messages"
as_host newbox "$MM" verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$?" 0 "verify passes under the same host name"
as_host mail.example.org "$MM" verify "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$?" 0 "verify passes once the host is renamed"
