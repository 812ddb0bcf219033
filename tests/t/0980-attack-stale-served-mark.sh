#!/bin/bash
# Attack on the cutover-served mark (var/lib/mailmove/cutover-served) left
# on a machine by an earlier migration (or a restored image of one) when a
# second old server is moved onto it.  The mark names the --from of the
# cutover that made it and when:
#   - a mark made for another old server is not this migration's: `run`
#     copies the mail, `sync` runs, and a cutover runs whole (stop, cold
#     sync, start), with a warning;
#   - a mark for this old server (or one that cannot be read: it binds)
#     makes `sync` refuse with when and by whom it was made and how to
#     clear a stale one, `run --json` says its sync was skipped, and a
#     cutover rerun, which stops nothing, fails while the old Dovecot
#     still serves (what users change there would never arrive).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
. "$(dirname "$0")/../lib-sync.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 12

sa_setup
# The mark of an older migration onto this machine (a year ago).
mkdir -p "$T/dst/var/lib/mailmove"
: >"$T/dst/var/lib/mailmove/cutover-served"
touch -d '1 year ago' "$T/dst/var/lib/mailmove/cutover-served"

# run, -q, --json, on a second pair of roots (/var/vmail on both) with the
# same kind of old mark: its only copy of the mail before the cutover is
# skipped without a word.  (Control: the same run without the mark copies.)
sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'Subject: one\n\nx\n' >"$M/cur/1700000001.M1P1.old:2,"
mkdir -p "$T/new/var/lib/mailmove"
printf 'from root@elsewhere\nsince 1700000000\n' >"$T/new/var/lib/mailmove/cutover-served"
run_mm run -q --json --from "$T/old" --to "$T/new" --yes --skip check --skip db \
	--skip redis --skip files --skip cutover
n=$(find "$N" -type f -path '*/cur/*' 2>/dev/null | grep -c .)
diag "run with the old mark: exit $rc, $n copied; stdout: $out"
is "$rc/$n" "0/1" "run with another old server's mark copies the message"
printf 'from %s\nsince 1700000000\n' "$T/old" >"$T/new/var/lib/mailmove/cutover-served"
rm -rf "$T/new/var/vmail/example.org"
run_mm run -q --json --from "$T/old" --to "$T/new" --yes --skip check --skip db \
	--skip redis --skip files --skip cutover
like "$out" '"event":"step_skipped","step":"sync"' "with this old server's mark, run --json says the sync step was skipped, and why"
rm "$T/new/var/lib/mailmove/cutover-served"
run_mm run -q --json --from "$T/old" --to "$T/new" --yes --skip check --skip db \
	--skip redis --skip files --skip cutover
n=$(find "$N" -type f -path '*/cur/*' 2>/dev/null | grep -c .)
is "$rc/$n" "0/1" "control: without the mark the same run copies the message"

# The first hot sync of this new migration.
run_mm sync --from "$T/src" --to "$T/dst" --state "$T/sync.state" /home/ /home/
is "$rc" 4 "sync refuses (the mark is there)"
like "$err" 'remove|earlier migration|made (at|on)|[0-9]{4}-[0-9]{2}-[0-9]{2}' \
	"the refusal says when the mark was made or how to clear a stale one (not only --after-cutover)"

# A cutover rerun under a binding mark stops nothing: the old Dovecot
# still serves, so it must fail and say so.
sa_client "$T/ok1" a reconnect
sa_wait_appends "$T/ok1" 3 || give_up "the client appends nothing"
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop'"
old_alive=$(kill -0 "$(sa_old_master)" 2>/dev/null && echo yes || echo no)
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" \
	"a cutover rerun that stopped nothing does not exit 0 while the old Dovecot serves (exit $rc, old Dovecot running: $old_alive)"
like "$err" 'old Dovecot on .* serves again' "it says the old Dovecot serves"

# The same cutover with another old server's mark: it runs whole.
printf 'from root@elsewhere\nsince 1700000000\n' >"$T/dst/var/lib/mailmove/cutover-served"
sa_cut "sh -c 'doveadm -c $T/src/dovecot.conf stop'"
sa_stop_client
is "$rc" 0 "with another old server's mark the cutover runs whole and exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$err" 'not from this old server' "with a warning about the mark"
like "$out" '"cold_sync"' "the --json result has a cold sync"
sa_check_none_lost "$T/ok1"
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done
