#!/bin/bash
# Passwords: both redis-servers need one (requirepass, set in their own
# config files).  mailmove takes them from --password-file and
# --dest-password-file, or finds them, with the servers, in rspamd's
# configuration: the old root's /etc/rspamd/local.d/redis.conf (--from DIR)
# and the new root's override.d/redis.conf (--to DIR).  A password is never
# printed, not even when it is wrong.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-redis.sh"
plan 18

spw='old-S3cret pass"word'
dpw='new-S3cret'
printf '%s\n' "$spw" >"$T/src.pw"
printf '%s\n' "$dpw" >"$T/dst.pw"
chmod 600 "$T/src.pw" "$T/dst.pw"
start_redis src "requirepass \"old-S3cret pass\\\"word\"" || { give_up "redis-server did not start"; }
start_redis dst "requirepass $dpw" || { give_up "redis-server did not start"; }
S="unix:$T/src.sock"
D="unix:$T/dst.sock"
resp_keys 2000 k 4 >"$T/k.resp"
load_keys src "$T/k.resp"
is "$(rcli src DBSIZE)" 2000 "the old Redis (with a password) holds 2000 keys"

run_mm redis --src "$S" --dest "$D"
is "$rc" 3 "without a password the old Redis cannot be used (exit 3)"
like "$err" "needs a password.*--password-file" "and mailmove says how to give one"

run_mm redis --src "$S" --dest "$D" --password-file "$T/src.pw"
is "$rc" 4 "without the new server's password: exit 4"

printf 'wrong-Guess\n' >"$T/bad.pw"
run_mm redis --src "$S" --dest "$D" --password-file "$T/bad.pw" -v -v
is "$rc" 3 "a wrong password: exit 3"
like "$err" "refused the password" "it says the password was refused"
unlike "$err" "wrong-Guess" "without printing it"

run_mm redis --src "$S" --dest "$D" --password-file "$T/src.pw" --dest-password-file "$T/dst.pw" -v -v
is "$rc" 0 "--password-file and --dest-password-file: exit 0"
digest_same "the data is the same on both (DEBUG DIGEST)"
unlike "$err$out" "S3cret" "no password is printed, even with -v -v"

# rspamd's configuration on both sides names the servers and passwords.
rcli dst FLUSHALL >/dev/null
mkdir -p "$T/old/etc/rspamd/local.d" "$T/new/etc/rspamd/override.d" "$T/new/etc/rspamd/local.d"
cat >"$T/old/etc/rspamd/local.d/redis.conf" <<CONF
# rspamd's Redis (written by the admin)
servers = "$T/src.sock";
password = "old-S3cret pass\\"word"; /* quoted */
CONF
cat >"$T/new/etc/rspamd/local.d/redis.conf" <<CONF
servers = "127.0.0.1:1";
CONF
cat >"$T/new/etc/rspamd/override.d/redis.conf" <<CONF
write_servers = "$T/dst.sock";
password = "$dpw";
db = 4;
CONF
run_mm redis --from "$T/old" --to "$T/new" -v
is "$rc" 0 "servers and passwords found in rspamd's configuration: exit 0"
like "$err" "old server's Redis unix:$T/src.sock from /etc/rspamd/local.d/redis.conf" "the old one from local.d/redis.conf"
like "$err" "new server's Redis unix:$T/dst.sock from /etc/rspamd/override.d/redis.conf" "the new one from override.d (it wins)"
digest_same "the data is the same on both (DEBUG DIGEST)"
unlike "$err$out" "S3cret" "no password is printed"
like "$err" "rspamd uses database 0 on the old server and 4 on the new one" "rspamd's databases that differ are pointed out"

# A Redis 6 ACL user (rspamd's `username`), no default user.
start_redis acl "user default off" "user rspamd on >acl-S3cret ~* &* +@all" || { give_up "redis-server did not start"; }
mkdir -p "$T/new2/etc/rspamd/local.d"
cat >"$T/new2/etc/rspamd/local.d/redis.conf" <<CONF
servers = "$T/acl.sock";
username = "rspamd";
password = "acl-S3cret";
CONF
run_mm redis --from "$T/old" --to "$T/new2"
is "$rc" 0 "a new Redis with an ACL user from rspamd's configuration: exit 0"
is "$(printf 'AUTH rspamd acl-S3cret\nDBSIZE\n' | redis-cli -s "$T/acl.sock" | tail -1)" 2000 "the keys are there for that user"
