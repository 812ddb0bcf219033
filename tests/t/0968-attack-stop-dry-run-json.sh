#!/bin/bash
# Attack on the cutover's stop step, the truth of --dry-run and --json:
#
#   1. --dry-run while the old master is dead and its imap process serves a
#      client: it stops nothing and signals nothing (the imap process goes
#      on taking APPENDs, the new Dovecot still answers, exit 0).
#   2. a stop command that fails (`false`): --json's result says the stop
#      step failed, the cold sync is not among the steps, the old Dovecot
#      still serves.
#   3. a stop command that prints on its stdout and stderr: --json's stdout
#      is JSON only, one object a line (the command's output, and that of
#      the steps after it, go to stderr), and the result holds
#      old_quiet_seconds and downtime_seconds (man page).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
. "$(dirname "$0")/../lib-stop-attack.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
plan 14

sa_setup
result() { printf '%s\n' "$out" | grep '"event": *"result"'; }

# 2 first (the master alive): a failing stop command.
sa_client "$T/ok0" z
sa_wait_appends "$T/ok0" 5 || give_up "the client appends nothing"
m0=$(sa_old_master)
sa_cut false
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" "a failing stop command: the cutover fails (exit $rc)"
like "$(result)" '"step": *"stop", *"seconds": *[0-9.e-]+, *"downtime": *true, *"exit": *[1-9]' "--json's result says the stop step failed"
ok "$(sa_cold_sync_ran && echo 1 || echo 0)" "and the cold sync is not among its steps"
ok "$(kill -0 "$m0" 2>/dev/null && echo 0 || echo 1)" "the old Dovecot still serves (master $m0)"
sa_stop_client
for f in "$T"/.pid.dovecot-dst*; do [ -e "$f" ] && stop_bg "${f##*/.pid.}"; done
sa_start_new || give_up "the new Dovecot did not start again"

# 1. --dry-run beside a dead master's imap process.
sa_client "$T/ok1" a
sa_wait_appends "$T/ok1" 5 || give_up "the client appends nothing"
read -r mpid _ <"$T/.pid.dovecot-src"
kill9 "$mpid"
orphan=$(sa_imap_pids)
sa_cut --dry-run "sh -c 'echo STOPOUT; echo STOPERR >&2; true'"
is "$rc" 0 "--dry-run exits 0"
ok "$(kill -0 "$orphan" 2>/dev/null && echo 0 || echo 1)" "--dry-run left the dead master's imap process (pid $orphan) alone"
n=$(grep -c '^<' "$T/ok1")
sa_wait_appends "$T/ok1" $((n + 5))
ok $? "and it still takes APPENDs"
ok "$( (exec 3<>"/dev/tcp/127.0.0.1/$NIMAP") 2>/dev/null && echo 0 || echo 1)" "the new Dovecot still answers"
unlike "$out$err" 'STOPOUT|STOPERR' "the stop command did not run"

# 3. The real cutover, --json.
sa_cut "sh -c 'echo STOPOUT; echo STOPERR >&2; true'"
is "$rc" 0 "the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
bad=$(printf '%s\n' "$out" | python3 -c '
import json, sys
bad = 0
for l in sys.stdin:
    l = l.rstrip("\n")
    try:
        assert isinstance(json.loads(l), dict)
    except Exception:
        bad += 1
        print(repr(l)[:100], file=sys.stderr)
print(bad)' 2>"$T/notjson")
is "$bad" 0 "--json: every line on stdout is a JSON object"
[ "$bad" = 0 ] || diag "$(head -5 "$T/notjson")"
unlike "$out" 'STOPOUT' "--json: the stop command's output is not on stdout"
like "$(result)" '"old_quiet_seconds": *[0-9.e-]+' "--json's result holds old_quiet_seconds"
like "$(result)" '"downtime_seconds": *[0-9.e-]+' "and downtime_seconds"
sa_stop_client
