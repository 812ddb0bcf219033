#!/bin/bash
# A conflict copy is recognised whatever this host is called now.  A
# message here has an old-server message's base name and other content;
# the sync copies the old server's message beside it under a conflict name
# made of this host's name ("…Q1.newbox").  The state is then lost, and
# the host was renamed meanwhile (as at a cutover, when the new server
# takes the mail name).  The rerun looks for its forgotten conflict copy
# only under the new host name, does not find it, and copies the old
# server's message a second time ("…Q1.mail.example.org").  When the old
# server later expunges its message, --delete removes one copy and keeps
# the other as the destination's own: a message expunged on the old
# server stays here.
# What must hold: after the rerun the old server's message is here once;
# after the expunge and --delete it is gone and the new server's own
# message is still here.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
b=1700000001.M1P1.old
printf 'the old server message\n' >"$M/cur/$b:2,S"
for i in 2 3 4 5; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
printf 'a message of the new server\n' >"$N/cur/$b:2,"
cp "$M/cur/$b:2,S" "$T/theirs"; cp "$N/cur/$b:2," "$T/own"
as_host() { local h=$1; shift; unshare -u sh -c 'hostname "$0" && exec "$@"' "$h" "$@" >/dev/null 2>&1; }
copies() { local f n=0; for f in "$N"/cur/* "$N"/new/*; do cmp -s "$f" "$1" && n=$((n + 1)); done; echo $n; }
as_host newbox "$MM" sync --from "$T/old" --to "$T/new" --state "$S"
is "$?/$(copies "$T/theirs")" 0/1 "the first sync places the old server's message beside the new server's"
rm -f "$S"*
as_host mail.example.org "$MM" sync --from "$T/old" --to "$T/new" --state "$S"
is "$?/$(copies "$T/theirs")" 0/1 "after the state is lost and the host renamed, still one copy"
rm "$M/cur/$b:2,S"
as_host mail.example.org "$MM" sync --delete --from "$T/old" --to "$T/new" --state "$S"
is "$?/$(copies "$T/theirs")" 0/0 "after the old server expunged it, --delete leaves no copy"
is "$(copies "$T/own")" 1 "the new server's own message is still here"
