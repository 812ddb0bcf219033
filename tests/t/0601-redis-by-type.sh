#!/bin/bash
# The type-aware copy, forced honestly: the new redis-server is started
# with RESTORE disabled (rename-command RESTORE ""), so it really refuses
# every DUMP payload, as a server of another RDB version or family would.
# Every type, binary data and TTLs must arrive all the same; a rerun skips
# identical keys; a kill -9 in the middle of the type-aware copy leaves
# nothing half-written under a real name, and the rerun completes.
# Oracle: Redis's own DEBUG DIGEST / DEBUG DIGEST-VALUE and PTTL.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-redis.sh"
plan 18

start_redis src || { give_up "redis-server did not start"; }
start_redis dst 'rename-command RESTORE ""' || { give_up "redis-server did not start"; }
S="unix:$T/src.sock"
D="unix:$T/dst.sock"
rcli dst RESTORE x2 0 junk >"$T/probe" 2>&1
like "$(cat "$T/probe")" "unknown command .RESTORE" "the new server really refuses RESTORE"

{
	resp_cmd SET 'bin\x00key\xfe' 'val\x00\xff'
	resp_cmd HSET hash f1 v1 'f\x002' 'v\xff2'
	resp_cmd HSET bighash $(seq 1 3000)
	resp_cmd SADD set a b 'c\x00\xfe'
	resp_cmd SADD intset 1 2 3 99999
	resp_cmd ZADD zset 1.5 a -2 b inf c -inf e 3 'd\x00'
	resp_cmd RPUSH list x y z x 'w\x00'
	resp_cmd XADD stream 1-1 f v
	resp_cmd XADD stream 2-5 g w h 'u\x00'
	resp_cmd XADD stream 3-0 k v
	resp_cmd XDEL stream 3-0
	resp_cmd XGROUP CREATE stream grp 1-1
	resp_cmd XGROUP CREATE stream grp2 0
	resp_cmd SET ttl60 v EX 60
	resp_cmd ZADD ttlzset 1 a
	resp_cmd PEXPIRE ttlzset 7200000
} >"$T/types.resp"
load_keys src "$T/types.resp"

run_mm redis --src "$S" --dest "$D"
is "$rc" 0 "the copy exits 0"
like "$err" "refuses the old one's DUMP payloads .*copying by type" "it says it falls back to copying by type"
like "$out" "db0: 10 keys: 0 copied, 10 by type" "every key is copied by type"
for k in hash bighash set intset zset list stream; do
	[ "$(rcli dst DEBUG DIGEST-VALUE "$k")" = "$(rcli src DEBUG DIGEST-VALUE "$k")" ] || bad="$bad $k"
done
is "${bad:-}" "" "every type has the same DEBUG DIGEST-VALUE on both"
digest_same "DEBUG DIGEST of both servers is the same"
is "$(rcli dst XINFO STREAM stream | sed -n '/last-generated-id/{n;p}')" 3-0 "the stream keeps its last id"
s=$(rcli src PTTL ttlzset); d=$(rcli dst PTTL ttlzset)
ok "$([ "$d" -gt 0 ] && [ $((s - d)) -lt 1000 ] && [ $((d - s)) -lt 1000 ] && echo 0 || echo 1)" \
   "a TTL is kept within a second by the type-aware copy ($s vs $d ms)"

run_mm redis --src "$S" --dest "$D"
like "$rc:$out" "^0:db0: 10 keys: 0 copied, 0 by type, 10 identical" "a rerun finds every key identical"

rcli dst HSET hash f1 changed >/dev/null
run_mm redis --src "$S" --dest "$D"
is "$rc" 1 "a key that differs on the new server: exit 1"
like "$err" "hash differs on the new server; kept" "it is kept and reported"
run_mm redis --src "$S" --dest "$D" --replace
like "$rc:$out" "^0:db0: .* 1 replaced" "--replace replaces it by type"
is "$(rcli dst DEBUG DIGEST-VALUE hash)" "$(rcli src DEBUG DIGEST-VALUE hash)" "and it is the old server's hash again"

# A kill -9 in the middle of a type-aware copy of 50,000 keys.
rcli dst FLUSHALL >/dev/null
resp_keys 50000 many 3 >"$T/many.resp"
load_keys src "$T/many.resp"
"$MM" redis --src "$S" --dest "$D" --batch 100 >"$T/killed.out" 2>&1 &
pid=$!
for i in $(seq 1 400); do
	n=$(rcli dst DBSIZE 2>/dev/null || echo 0)
	[ "${n:-0}" -ge 2000 ] && break
	sleep 0.02
done
kill9 "$pid"
n=$(rcli dst DBSIZE)
ok "$([ "$n" -gt 0 ] && [ "$n" -lt 50010 ] && echo 0 || echo 1)" "killed part-way ($n of 50010 keys there)"

# What a run killed in the middle of sending a write leaves: a temporary
# key (it would expire within the hour).  The rerun removes it.
rcli dst HSET mailmove:tmp:1:1 f v >/dev/null
rcli dst PEXPIRE mailmove:tmp:1:1 3600000 >/dev/null
run_mm redis --src "$S" --dest "$D"
is "$rc" 0 "the rerun exits 0"
digest_same "after the rerun DEBUG DIGEST of both servers is the same"
is "$(rcli dst --scan --pattern 'mailmove:tmp:*' | wc -l)" 0 "no temporary key is left behind"
is "$(rcli dst INFO keyspace | grep -o 'expires=[0-9]*')" "$(rcli src INFO keyspace | grep -o 'expires=[0-9]*')" \
   "as many keys have a TTL on both"
