#!/bin/bash
# A SIGINT, then a kill -9, in the middle of the DUMP/RESTORE copy of
# 200,000 keys (through the agent, --from DIR), then a rerun: the new server ends up with exactly
# the old one's data (Redis's own DEBUG DIGEST and key counts), and a third
# run finds nothing to do.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-redis.sh"
plan 8

start_redis src || { give_up "redis-server did not start"; }
start_redis dst || { give_up "redis-server did not start"; }
mkdir -p "$T/old"
resp_keys 200000 k 5 >"$T/k.resp"
load_keys src "$T/k.resp"
is "$(rcli src DBSIZE)" 200000 "the old Redis holds 200,000 keys"

# start_copy_until N: a copy in the background, returning once the new
# Redis holds N keys; its pid in $pid.
start_copy_until() {
	"$MM" redis --from "$T/old" --src "unix:$T/src.sock" --dest "unix:$T/dst.sock" --batch 200 >"$T/bg.out" 2>&1 &
	pid=$!
	for i in $(seq 1 1000); do
		n=$(rcli dst DBSIZE 2>/dev/null || echo 0)
		[ "${n:-0}" -ge "$1" ] && break
		sleep 0.01
	done
}

start_copy_until 5000
kill -INT "$pid"
wait "$pid"
is "$?" 5 "an interrupted copy (SIGINT) exits 5"
like "$(cat "$T/bg.out")" "interrupted; a rerun finishes the copy" "and says a rerun finishes it"

first=$(rcli dst DBSIZE)
start_copy_until $((first + 5000))
kill9 "$pid"
n=$(rcli dst DBSIZE)
ok "$([ "$n" -gt "$first" ] && [ "$n" -lt 200000 ] && echo 0 || echo 1)" "a second run killed (-9) part-way ($n of 200000 keys there)"

run_mm redis --from "$T/old" --src "unix:$T/src.sock" --dest "unix:$T/dst.sock"
is "$rc" 0 "the rerun exits 0"
digest_same "after the rerun both servers hold the same data (DEBUG DIGEST)"
is "$(rcli dst INFO keyspace | grep ^db0 | cut -d, -f1-2)" "db0:keys=200000,expires=40000" "200,000 keys, 40,000 with a TTL"
run_mm redis --from "$T/old" --src "unix:$T/src.sock" --dest "unix:$T/dst.sock"
like "$rc:$out" "^0:db0: 200000 keys: 0 copied, 0 by type, 200000 identical" "a third run finds every key identical"
