#!/bin/bash
# A lying agent: names with '/' and '..', NUL bytes, oversize, truncated and
# unknown frames, bad parents, a lying handshake.  The controller must stop
# with a clear error (exit 3) and write nothing anywhere.
. "$(dirname "$0")/../lib.sh"

evil="$TOP/$B/evil-agent"
[ -x "$evil" ] || { give_up "$evil not built (make helpers)"; }
modes="slash dotdot nul empty parent fileparent longname kind otherid oversize unknown truncated shortrec version caps remote die garbage"
plan $(( $(echo $modes | wc -w) * 2 + 3 ))

mkdir -p "$T/old/x" "$T/dest" "$T/watch"
touch "$T/watch/.stamp"
for m in $modes; do
	EVIL_MODE=$m MAILMOVE_AGENT_BINARY=$evil run_mm ls --from "$T/old" -R /x
	is "$rc" 3 "$m: exits 3"
	like "$err" '^mailmove: error: ' "$m: says what went wrong"
done

EVIL_MODE=lengthlie MAILMOVE_AGENT_BINARY=$evil run_mm cat --from "$T/old" /x/f
is "$rc" 3 "a file whose end claims more bytes than were sent: exit 3"
EVIL_MODE=extrafile MAILMOVE_AGENT_BINARY=$evil run_mm cat --from "$T/old" /x/f
is "$rc" 3 "an answer for a file that was not asked for: exit 3"
changed=$(find "$T" -newer "$T/watch/.stamp" -not -path "$T/.stderr" -not -path "$T/watch*" -not -path "$T" | head -5)
is "$changed" "" "nothing was written anywhere in the scratch tree"
