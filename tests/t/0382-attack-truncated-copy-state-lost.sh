#!/bin/bash
# A copy is proven, or it is not recorded (issue 12 rule 3): "a later run
# recopies any destination file whose size differs from the source's".
# The run that follows the loss of the state (or an upgrade from a version
# that recorded truncated copies) meets a file here with the old server's
# base name whose content is a strict prefix of the old server's message:
# a broken copy.  Seen: it is taken for a conflict, kept as "the new
# server's message", and the full copy is placed beside it: the user sees
# a truncated message and the whole one, exit 0; verify fails for ever.
# What must hold: a file here that is a strict prefix of the source's
# message under its base name is replaced by the whole copy; one message
# here; verify --content passes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
f="$M/cur/1700000001.M1P1.old:2,S"
head -c 100000 /dev/urandom | base64 >"$f"
printf 'x\n' >"$M/cur/1700000002.M2P1.old:2,S"
run_mm sync --from "$T/old" --to "$T/new" --state "$S"
truncate -s 5000 "$N/cur/1700000001.M1P1.old:2,S"	# a copy broken as before the fix
rm -f "$S"
sync_vv
is "$rc" 0 "the rerun without a state: exit 0"
is "$(find "$N/cur" "$N/new" -type f | wc -l)" 2 "two messages here, not three"
ok "$(cmp "$f" "$N/cur/1700000001.M1P1.old:2,S" >&2 && echo 0)" "the whole message is here under its name"
run_mm verify --content "$T/old/var/vmail/" "$T/new/var/vmail/" --from /
is "$rc" 0 "verify --content passes"
