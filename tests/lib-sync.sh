# tests/lib-sync.sh: two small roots for the sync regression tests.
# Source after tests/lib.sh.
#
#   sync_roots [EXTRA_DIR...]
#       $T/old and $T/new, each with an etc/passwd and etc/group of root
#       alone, $T/new/var/vmail, and the extra directories given; sets
#       M and N (bob's Maildir on the old and the new side) and S (the
#       state file).  Nothing is made below M.
#   sync_vv ARGS...    run_mm sync -vv ARGS from $T/old to $T/new with $S
#   dest_counts        from the last run's -vv planning line: how many
#                      destination cur/ and new/ were read, how many taken
#                      from the state ("READ STATE")

sync_roots() {
	local r
	mkdir -p "$T/old/etc" "$T/new/etc" "$T/new/var/vmail" "$@"
	for r in old new; do
		printf 'root:x:0:0::/root:/bin/sh\n' >"$T/$r/etc/passwd"
		printf 'root:x:0:\n' >"$T/$r/etc/group"
	done
	M="$T/old/var/vmail/example.org/bob/Maildir"
	N="$T/new/var/vmail/example.org/bob/Maildir"
	S="$T/new/state.sqlite"
}

sync_vv() { run_mm sync -vv "$@" --from "$T/old" --to "$T/new" --state "$S"; }

dest_counts() {
	printf '%s\n' "$err" | sed -n 's/.*destination cur\/ and new\/: \([0-9]*\) read, \([0-9]*\) from the state.*/\1 \2/p'
}

# sync_paused ARGS...: a sync with ARGS in the background whose agent stops
# itself after its first cur/ or new/ listing (MAILMOVE_AGENT_TEST_PAUSE);
# waits for that and sets $pid (mailmove) and $apid (the agent).  One test
# point.  Output in $T/out and $T/err.
_agent_stopped() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$pid" ] || continue
		[ "$(awk '{print $3}' "$p/stat" 2>/dev/null)" = T ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
sync_paused() {
	MAILMOVE_AGENT_TEST_PAUSE=1 "$MM" sync -vv "$@" --from "$T/old" --to "$T/new" \
		--state "$S" >"$T/out" 2>"$T/err" &
	pid=$!
	wait_for _agent_stopped
	apid=$(_agent_stopped)
	ok "$([ -n "$apid" ] && echo 0)" "the agent stopped after its first cur/ or new/"
}

# agent_on_nothing_deleted CURNAME NEWNAME: lets the agent of sync_paused
# go on; the run must finish, delete nothing, and leave bob's message here,
# in cur/ as CURNAME or still in new/ as NEWNAME.  Three test points.
agent_on_nothing_deleted() {
	kill -CONT "$apid"
	wait "$pid"
	is "$?" 0 "the sync finished"
	out=$(cat "$T/out")
	like "$out" "0 deleted" "nothing deleted"
	ok "$( { test -f "$N/cur/$1" || test -f "$N/new/$2"; } && echo 0)" \
		"the moved message is here, in cur/ or still in new/"
}

# sync_stopped ARGS...: a sync with ARGS in the background that stops itself
# after planning every folder, before any copy or commit
# (MAILMOVE_TEST_STOP_BEFORE_COPIES); waits for that and sets $pid.
# sync_go_on: lets it finish; one test point (exit 0), $out and $err set.
_self_stopped() { [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ]; }
sync_stopped() {
	MAILMOVE_TEST_STOP_BEFORE_COPIES=1 "$MM" sync -vv "$@" --from "$T/old" \
		--to "$T/new" --state "$S" >"$T/out" 2>"$T/err" &
	pid=$!
	wait_for _self_stopped
}
sync_go_on() {
	kill -CONT "$pid"
	wait "$pid"
	is "$?" 0 "the sync went on and finished"
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# sync_inbox_ab: bob's INBOX on the old side with message A in cur/ and B
# in new/, synced once (-vv); one test point.
sync_inbox_ab() {
	mkdir -p "$M/cur" "$M/new" "$M/tmp"
	printf 'message A\n' >"$M/cur/1700000001.M1P1.old:2,S"
	printf 'message B\n' >"$M/new/1700000002.M2P1.old"
	sync_vv
	is "$rc" 0 "first sync"
}
