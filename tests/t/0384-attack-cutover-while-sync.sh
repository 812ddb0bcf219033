#!/bin/bash
# One run at a time per destination, and a cutover that cannot run does
# not begin its downtime.  A hot sync (from cron, say) holds the state's
# lock when the admin starts `cutover`: cutover stops Dovecot on both
# servers first, then its cold sync is refused (another mailmove holds
# the state), and Dovecot stays stopped on both servers until the admin
# steps in.  What must hold: cutover sees the held lock before it stops
# anything (exit 4, naming the pid of the sync) and both Dovecots run on.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
export MAILMOVE_LOCK_DIR="$T/locks"
cut() {
	run_mm cutover --yes --state "$S" --no-verify --switch-state "$T/switch" \
		--old-stop "touch '$T/old-stopped'" --new-stop "touch '$T/new-stopped'" \
		--new-start false --postfix-start false --resync true \
		--postfix-config "$T/postfix" --from "$T/old" --to "$T/new"
}
sync_stopped
cut
is "$rc" 4 "cutover while a sync holds the state: exit 4"
like "$err" "pid $pid" "it names the pid of the sync"
ok "$([ ! -e "$T/old-stopped" ] && [ ! -e "$T/new-stopped" ] && echo 0)" \
	"Dovecot was stopped on neither server"
sync_go_on
