#!/bin/bash
# The old Redis reached over ssh (a real sshd on 127.0.0.1) through the
# agent's forwarding: the admin's one ssh session carries the Redis
# traffic; no port is opened on the old server.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-redis.sh"
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || skip_all "no sshd"
plan 4

start_sshd || { give_up "sshd did not start"; }
start_redis src || { give_up "redis-server did not start"; }
start_redis dst || { give_up "redis-server did not start"; }
resp_keys 20000 k 3 >"$T/k.resp"
{ resp_cmd HSET 'h\x00' a 1; resp_cmd XADD s 5-5 f v; resp_cmd ZADD z 2 x; } >>"$T/k.resp"
load_keys src "$T/k.resp"

run_mm redis --from "root@127.0.0.1:$SSH_PORT" --rsh "$RSH" --src "unix:$T/src.sock" --dest "unix:$T/dst.sock"
is "$rc" 0 "the copy over ssh exits 0"
like "$err" "on the old server -> unix:" "the old Redis is reached on the old server"
like "$out" "db0: 20003 keys: 20003 copied" "every key is copied"
digest_same "both servers hold the same data (DEBUG DIGEST)"
