#!/bin/bash
# mailmove redis between two real redis-servers on private unix sockets:
# every type, binary keys and values, TTLs, 100,000 keys, two databases;
# identical keys skipped on a rerun; a conflicting key kept and reported,
# then replaced with --replace; --dry-run writes nothing; --db, --match,
# --rename-history.  The oracle is Redis itself (DEBUG DIGEST, DEBUG
# DIGEST-VALUE, PTTL through redis-cli), not mailmove's own comparison.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-redis.sh"
plan 42

start_redis src || { give_up "redis-server did not start"; }
start_redis dst || { give_up "redis-server did not start"; }
S="unix:$T/src.sock"
D="unix:$T/dst.sock"

resp_keys 100000 key 7 >"$T/keys.resp"
{
	resp_cmd SET 'bin\x00key\xfe\xff' 'value\x00with\x01nul\xc3\x28'
	resp_cmd HSET hash f1 v1 'f\x002' 'v\xff2'
	resp_cmd HSET bighash $(seq 1 3000)
	resp_cmd SADD set a b 'c\x00\xfe'
	resp_cmd SADD intset 1 2 3 99999
	resp_cmd ZADD zset 1.5 a -2 b inf c 3 'd\x00'
	resp_cmd RPUSH list x y z x 'w\x00'
	resp_cmd XADD stream 1-1 f v
	resp_cmd XADD stream 2-5 g w h 'u\x00'
	resp_cmd XGROUP CREATE stream grp 1-1
	resp_cmd SET ttl60 v EX 60
	resp_cmd HSET ttlhash a b
	resp_cmd PEXPIRE ttlhash 7200000
	resp_cmd SELECT 5
	resp_cmd SET in5 five
	resp_cmd SET 'bayes\x00' tokens
} >"$T/types.resp"
load_keys src "$T/keys.resp" && load_keys src "$T/types.resp"
is "$(rcli src DBSIZE)" 100010 "the old Redis holds 100,012 keys in db0"

run_mm redis --dry-run --src "$S" --dest "$D"
is "$rc" 0 "--dry-run exits 0"
like "$out" 'db0: 100010 keys: 100010 to be copied' "and says what it would copy"
is "$(rcli dst DBSIZE)" 0 "--dry-run writes nothing"

run_mm redis --src "$S" --dest "$D" --json
is "$rc" 0 "the copy exits 0"
like "$out" '"event":"result".*"copied":100010' "the JSON result counts the keys copied"
like "$out" '"db":5,"dest_db":5,"keys":2,"copied":2' "database 5 is copied too"
like "$out" '"missing":0,"different":0,"ttl_different":0' "mailmove's own comparison finds no difference"
digest_same "Redis's DEBUG DIGEST of both servers is the same"
for k in hash bighash set intset zset list stream; do
	[ "$(rcli dst DEBUG DIGEST-VALUE "$k")" = "$(rcli src DEBUG DIGEST-VALUE "$k")" ] || bad="$bad $k"
done
is "${bad:-}" "" "every type has the same DEBUG DIGEST-VALUE on both"
is "$(printf 'GET "bin\\x00key\\xfe\\xff"\n' | rcli dst | od -An -tx1 | tr -d ' \n')" \
   "$(printf 'value\000with\001nul\303\050\n' | od -An -tx1 | tr -d ' \n')" \
   "a binary key keeps its binary value"
is "$(rcli dst XINFO GROUPS stream | sed -n 2p)" grp "the stream keeps its consumer group"
src_ttl=$(rcli src PTTL ttl60); dst_ttl=$(rcli dst PTTL ttl60)
ok "$([ "$dst_ttl" -gt 0 ] && [ $((src_ttl - dst_ttl)) -lt 1000 ] && [ $((dst_ttl - src_ttl)) -lt 1000 ] && echo 0 || echo 1)" \
   "a 60 s TTL is kept within a second ($src_ttl vs $dst_ttl ms)"
src_ttl=$(rcli src PTTL ttlhash); dst_ttl=$(rcli dst PTTL ttlhash)
ok "$([ "$dst_ttl" -gt 0 ] && [ $((src_ttl - dst_ttl)) -lt 1000 ] && [ $((dst_ttl - src_ttl)) -lt 1000 ] && echo 0 || echo 1)" \
   "a 2 h TTL on a hash is kept within a second ($src_ttl vs $dst_ttl ms)"
is "$(rcli dst PTTL key:1)" -1 "a key without TTL stays without"
is "$(rcli dst INFO keyspace | grep -c "db0:.*expires=14287,")" 1 "all 14,287 keys with a TTL have one on the new server"

run_mm redis --src "$S" --dest "$D"
is "$rc" 0 "a rerun exits 0"
like "$out" 'db0: 100010 keys: 0 copied, 0 by type, 100010 identical' "and skips every identical key"

rcli dst SET key:42 changed-on-the-new-server >/dev/null
rcli dst HSET hash f1 other >/dev/null
run_mm redis --src "$S" --dest "$D" --dry-run
like "$rc:$out" "^1:db0: 100010 keys: 0 to be copied, 0 by type, 100008 identical .skipped., 2 conflicts kept" "--dry-run finds the two conflicts (exit 1, as the copy would)"
run_mm redis --src "$S" --dest "$D"
is "$rc" 1 "a key that differs on the new server: exit 1"
like "$err" 'key:42 differs on the new server; kept' "it is reported"
like "$err" 'hash differs on the new server; kept' "(a hash too)"
is "$(rcli dst GET key:42)" changed-on-the-new-server "and not overwritten without --replace"

run_mm redis --src "$S" --dest "$D" --replace
is "$rc" 0 "--replace exits 0"
like "$out" '2 replaced' "and replaces the two keys"
digest_same "both servers are equal again (DEBUG DIGEST)"

rcli dst PERSIST ttlhash >/dev/null
run_mm redis --src "$S" --dest "$D"
is "$rc" 1 "the same value with another TTL on the new server: exit 1"
like "$err" "ttlhash differs on the new server; kept" "it is reported and kept"
run_mm redis --src "$S" --dest "$D" --replace
s=$(rcli src PTTL ttlhash); d=$(rcli dst PTTL ttlhash)
ok "$([ "$rc" = 0 ] && [ "$d" -gt 0 ] && [ $((s - d)) -lt 1000 ] && echo 0 || echo 1)" "--replace gives it the old server's TTL again ($s vs $d ms)"

rcli dst FLUSHALL >/dev/null
run_mm redis --src "$S" --dest "$D" --db 5 --match 'in*'
is "$rc:$(rcli dst DBSIZE):$(rcli dst -n 5 DBSIZE)" "0:0:1" "--db 5 --match 'in*' copies just that key"

# TCP on 127.0.0.1, and a database named in the destination address.
port=$(free_port)
start_redis tcp "port $port" "bind 127.0.0.1" || { give_up "redis-server did not start"; }
run_mm redis --src "$S" --dest "redis://127.0.0.1:$port/2" --db 5
is "$rc" 0 "a TCP destination with /2 in its address: exit 0"
is "$(rcli tcp -n 2 GET in5):$(rcli tcp -n 5 DBSIZE)" "five:0" "database 5 of the old server lands in database 2"
stop_redis tcp

rcli dst FLUSHALL >/dev/null
{
	resp_cmd FLUSHALL
	resp_cmd RPUSH rs_historyold.example a b c
	resp_cmd RPUSH rs_historyold.example_zst z
	resp_cmd RPUSH rs_historyother.host q
	resp_cmd SADD rs_history old.example old.example_zst other.host
} >"$T/hist.resp"
load_keys src "$T/hist.resp"
run_mm redis --src "$S" --dest "$D" --rename-history old.example:mx.new.example
is "$rc" 0 "--rename-history exits 0 (its own comparison maps the names)"
is "$(rcli dst LRANGE rs_historymx.new.example 0 -1 | tr '\n' ' ')" "a b c " "rs_history<OLD> is now rs_history<NEW>"
is "$(rcli dst LRANGE rs_historymx.new.example_zst 0 -1)" "z" "the compressed history too"
is "$(rcli dst EXISTS rs_historyold.example)" 0 "the old name is not on the new server"
is "$(rcli dst SMEMBERS rs_history | sort | tr '\n' ' ')" "mx.new.example mx.new.example_zst other.host " \
   "the history index set names the new host"
is "$(rcli dst LRANGE rs_historyother.host 0 -1)" q "another host's history is copied as it is"

run_mm redis --src "unix:$T/nonexistent.sock" --dest "$D"
is "$rc" 3 "an unreachable old Redis exits 3"

rcli dst FLUSHALL >/dev/null
run_mm redis --src "$S" --dest "$D"
like "$err" "history .* keeps the old host's name; --rename-history" "without --rename-history it says how to rename the history"

run_mm redis --src "$S" --dest "$S"
like "$rc:$err" "^2:.*are the same Redis server" "copying a Redis onto itself is refused (exit 2)"

run_mm redis --src "$S" --dest "redis://:pw@127.0.0.1:1"
like "$rc:$err" "^2:.*no user or password in the address" "a password in an address is refused"
