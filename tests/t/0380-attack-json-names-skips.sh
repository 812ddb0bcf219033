#!/bin/bash
# Every skip is named in the output (issue 12 rule 2), also for scripts:
# with --json, stdout holds one JSON object per event and a result whose
# "errors" and "conflicts" count the skipped files and the conflicts, but
# no event names them (they are only in stderr's text).  A script sees
# "errors":2 and cannot tell which messages were not copied.  What must
# hold: with --json, each skipped file and each conflict is an object on
# stdout naming its path; every line of stdout is JSON.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$N/cur" "$N/new" "$N/tmp"
ln -s /etc/passwd "$M/cur/1700000001.M1P1.old:2,S"
printf 'one\n' >"$M/cur/1700000002.M2P1.old:2,S"
printf 'one, other\n' >"$M/cur/1700000002.M2P1.old:2,RS"
printf 'the old server message\n' >"$M/cur/1700000003.M3P1.old:2,S"
printf 'a message of the new server, longer\n' >"$N/cur/1700000003.M3P1.old:2,S"
run_mm sync --json --from "$T/old" --to "$T/new" --state "$S"
is "$rc" 1 "two skipped files: exit 1"
ok "$(printf '%s\n' "$out" | python3 -c 'import json,sys
for l in sys.stdin:
    json.loads(l)' && echo 0)" "every line of stdout is JSON"
ev() { printf '%s\n' "$out" | grep -v '"event":"result"' | grep -F "$1" | grep -c .; }
ok "$([ "$(ev '1700000001.M1P1.old')" -ge 1 ] && [ "$(ev '1700000002.M2P1.old')" -ge 1 ] && echo 0)" \
	"each skipped file is named by an event on stdout"
ok "$([ "$(ev '1700000003.M3P1.old')" -ge 1 ] && echo 0)" "the conflict is named by an event on stdout"
