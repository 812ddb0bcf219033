#!/bin/bash
# The agent over ssh: a real sshd on 127.0.0.1 with a throwaway host key and
# user key.  The agent uploads itself on first contact, lists and reads a
# tree, runs a program, and forwards a unix socket; failures exit 3 with
# ssh's own message.
. "$(dirname "$0")/../lib.sh"
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || skip_all "no sshd"
plan 21

start_sshd || { give_up "sshd did not start"; }
host="root@127.0.0.1:$SSH_PORT"

src="$T/tree"
mkdir -p "$src/a/b" "$src/c"
head -c 700000 /dev/urandom >"$src/a/b/blob"
printf 'hello\n' >"$src/c/text"
printf 'x' >"$src/c/$(printf 'new\nline')"
ln -s ../a "$src/c/up"

run_mm ls --from "$host" --rsh "$RSH" -R "$src"
is "$rc" 0 "first contact over ssh exits 0"
like "$err" 'uploading the agent' "the agent uploads itself"
agent_file=$(ls "$T/cache/mailmove/"agent-* 2>/dev/null | head -1)
ok "$([ -n "$agent_file" ] && echo 0 || echo 1)" "the agent is cached under the cache directory"
is "$(stat -c %a "$agent_file" 2>/dev/null)" 700 "the cached agent has mode 0700"
is "$(stat -c %a "$T/cache/mailmove" 2>/dev/null)" 700 "the cache directory has mode 0700"
is "$(printf '%s\n' "$out" | sort | tr '\n' ' ')" \
   "a/ a/b/ a/b/blob c/ c/new\\012line c/text c/up " "the tree is listed whole"

run_mm ls --from "$host" --rsh "$RSH" "$src"
unlike "$err" 'uploading' "the second contact reuses the cached agent"

"$MM" cat --from "$host" --rsh "$RSH" "$src/a/b/blob" "$src/c/text" >"$T/cat.out" 2>"$T/cat.err"
is "$?" 0 "cat of two files over ssh exits 0"
cat "$src/a/b/blob" "$src/c/text" >"$T/cat.want"
ok_run "the files arrive byte for byte" cmp -s "$T/cat.out" "$T/cat.want"

run_mm ls --from "$host" --rsh "$RSH" --json -l "$src/c"
like "$out" '"path":"up","kind":"l".*"target":"../a"' "symlinks are listed with their target"

run_mm exec --from "$host" --rsh "$RSH" -- sh -c 'echo to-out; echo to-err >&2; exit 4'
is "$out" "to-out" "exec streams stdout over ssh"
like "$err" 'to-err' "and stderr"
is "$rc" 1 "and a non-zero status is exit 1"

if command -v redis-server >/dev/null 2>&1; then
	start_bg redis redis-server --port 0 --unixsocket "$T/redis.sock" --save '' --appendonly no
	wait_for test -S "$T/redis.sock"
	run_mm tunnel --from "$host" --rsh "$RSH" "unix:$T/redis.sock" -- redis-cli -s {} set k v
	run_mm tunnel --from "$host" --rsh "$RSH" "unix:$T/redis.sock" -- redis-cli -s {} get k
	is "$out" "v" "tunnel forwards a unix socket through the agent"
	stop_bg redis
	port=$(free_port)
	run_mm tunnel --from "$host" --rsh "$RSH" "tcp:127.0.0.1:$port" -- redis-cli -s {} ping
	like "$err" "cannot connect to tcp:127.0.0.1:$port.*Connection refused" "a refused forward is reported"
else
	ok 0 "# SKIP no redis-server"
	ok 0 "# SKIP no redis-server"
fi

# Failures: exit 3 and ssh's own words.
bad=$(free_port)
run_mm ls --from "root@127.0.0.1:$bad" --rsh "$RSH" /
is "$rc" 3 "an unreachable host exits 3"
like "$err" 'Connection refused' "with ssh's message"

run_mm ls --from "$host" --rsh "${RSH/XDG_CACHE_HOME=$T\/cache/XDG_CACHE_HOME=/proc/nope}" /
is "$rc" 3 "an unwritable agent cache exits 3"
like "$err" 'cannot create the agent cache' "and says so"

printf '#!/bin/sh\nexit 0\n' >"$T/dead-agent"
chmod +x "$T/dead-agent"
run_mm ls --from "$host" --rsh "$RSH" --agent "$T/dead-agent" /
is "$rc" 3 "an agent that dies exits 3"
printf '#!/bin/sh\nEVIL_MODE=version exec %s "$@"\n' "$TOP/$B/evil-agent" >"$T/old-agent"
chmod +x "$T/old-agent"
run_mm ls --from "$host" --rsh "$RSH" --agent "$T/old-agent" /
like "$rc:$err" '^3:.*protocol 99' "a wrong protocol version exits 3 naming both versions"
