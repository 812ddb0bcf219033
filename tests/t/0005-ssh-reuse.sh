#!/bin/bash
# One ssh connection for a series of commands: with --ssh-persist (or
# MAILMOVE_SSH_PERSIST) above 0 the first command's ssh becomes a master
# that later commands reuse (ControlMaster=auto) without authenticating
# again; 0 makes a new connection every time.  The master never holds the
# command's output open, and its socket lives in /run/mailmove, mode 0700.
# A master killed under a running command: the command exits 3, the next
# one makes a new master.  Multiplexing in the admin's own ssh
# configuration is left to it.
. "$(dirname "$0")/../lib.sh"
plan 20

SSHD_LOGLEVEL=INFO start_sshd || { give_up "sshd did not start"; }
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

# The master dies (kill -9 of the pid ssh reports) under a running command.
"$MM" exec --ssh-persist 30 --from "$host" --rsh "$RSH" -- sleep 5 >"$T/exec.out" 2>"$T/exec.err" &
xpid=$!
wait_for bash -c "$(declare -f master); RSH='$RSH' SSH_PORT=$SSH_PORT master check | grep -q 'Master running'"
mpid=$(master check | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
ok "$( [ -n "$mpid" ] && kill -9 "$mpid" && echo 0)" "the master (pid $mpid) is killed"
wait $xpid
is "$?" 3 "the command under it exits 3"
run_mm ls --ssh-persist 30 --from "$host" --rsh "$RSH" "$T/tree"
is "$rc" 0 "the next command works"
like "$(master check)" "Master running" "with a new master"
master exit >/dev/null

# The admin's ssh configuration multiplexes on its own: left alone.
cat >"$T/ssh_config" <<CONF
Host *
  ControlMaster auto
  ControlPath $T/own-%C
  ControlPersist 30
CONF
run_mm ls -v --ssh-persist 30 --from "$host" --rsh "$RSH -F $T/ssh_config" "$T/tree"
is "$rc" 0 "ls with the admin's own ControlMaster"
ok "$(ls "$T"/own-* >/dev/null 2>&1 && echo 0)" "the admin's control socket is used"
ok "$(master check >/dev/null 2>&1 || echo 0)" "no socket of mailmove's"
$RSH -F "$T/ssh_config" -p "$SSH_PORT" -O exit root@127.0.0.1 >/dev/null 2>&1
