#!/bin/bash
# One ssh connection for a series of commands: with --ssh-persist (or
# MAILMOVE_SSH_PERSIST) above 0 the first command's ssh becomes a master
# that later commands reuse (ControlMaster=auto) without authenticating
# again; 0 makes a new connection every time.  The master never holds the
# command's output open, and its socket lives in /run/mailmove, mode 0700.
. "$(dirname "$0")/../lib.sh"
plan 13

SSHD_LOGLEVEL=INFO start_sshd || { echo "Bail out! sshd did not start"; exit 1; }
host="root@127.0.0.1:$SSH_PORT"
auths() { grep -c 'Accepted publickey' "$T/sshd.out"; }
master() { $RSH -p "$SSH_PORT" -o ControlPath=/run/mailmove/ssh-%C -O "$1" root@127.0.0.1 2>&1; }
trap 'master exit >/dev/null 2>&1; _cleanup' EXIT
mkdir -p "$T/tree/a"
printf 'x\n' >"$T/tree/a/f"

# The first command starts the master; it returns at once (a master that
# kept stdout or stderr open would hold $(...) for the 30 s).
s=$(date +%s)
out=$(timeout 20 "$MM" ls --ssh-persist 30 --from "$host" --rsh "$RSH" "$T/tree" 2>&1)
rc=$?
is "$rc" 0 "ls with --ssh-persist 30"
ok "$( [ $(( $(date +%s) - s )) -lt 15 ] && echo 0)" "it returned without waiting for the master"
like "$out" "^a/" "it listed the tree"
is "$(auths)" 1 "one authentication"
like "$(master check)" "Master running" "the master is up"
is "$(stat -c %a /run/mailmove)" 700 "its directory is mode 0700"

# The next commands reuse it: no new authentication.
run_mm ls --ssh-persist 30 --from "$host" --rsh "$RSH" "$T/tree"
is "$rc" 0 "a second ls"
MAILMOVE_SSH_PERSIST=30 run_mm cat --from "$host" --rsh "$RSH" "$T/tree/a/f"
is "$out" "x" "cat through the same connection (the setting from the environment)"
is "$(auths)" 1 "still one authentication"

# 0: a connection of its own.
run_mm ls --ssh-persist 0 --from "$host" --rsh "$RSH" "$T/tree"
is "$rc" 0 "ls with --ssh-persist 0"
is "$(auths)" 2 "a second authentication"

run_mm ls --ssh-persist soon --from "$host" --rsh "$RSH" "$T/tree"
is "$rc" 2 "--ssh-persist needs a number of seconds"

master exit >/dev/null
ok "$(master check >/dev/null 2>&1 || echo 0)" "the master is gone after ssh -O exit"
