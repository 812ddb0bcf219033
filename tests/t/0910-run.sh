#!/bin/bash
# run: the whole plan between two sample servers, stopped by a failing step
# and resumed from its journal; --dry-run changes nothing.
. "$(dirname "$0")/../lib.sh"
plan 13

"$TOP/scripts/sample-servers" "$T/s" >/dev/null
old="$T/s/old"
new="$T/s/new"
snapshot() { (cd "$new" && find . -printf '%p %s %T@\n' | sort); }

before=$(snapshot)
run_mm run --from "$old" --to "$new" --journal "$T/j" --dry-run --skip redis --skip cutover
is "$rc" 0 "--dry-run of the plan exits 0"
is "$(snapshot)" "$before" "--dry-run wrote nothing in the new root"
ok "$([ ! -e "$T/j" ] && echo 0 || echo 1)" "--dry-run wrote no journal"

# rspamd's Redis on each side, named in each root's rspamd configuration.
# The old one is not running yet: the plan stops at that step.
for side in old new; do
	mkdir -p "$T/s/$side/etc/rspamd/local.d"
	printf 'servers = "%s";\n' "$T/redis-$side.sock" >"$T/s/$side/etc/rspamd/local.d/redis.conf"
done
start_bg redis-new redis-server --port 0 --unixsocket "$T/redis-new.sock" --save '' --appendonly no --dir "$T"
wait_for redis-cli -s "$T/redis-new.sock" ping
run_mm run --from "$old" --to "$new" --journal "$T/j" --skip cutover
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" "a failing step stops the plan (exit $rc)"
like "$err" 'step redis ended with exit' "and names the step"
is "$(cat "$T/j" 2>/dev/null | tr '\n' ' ')" "check db " "the journal holds the steps done before it"

# The cause fixed, the same command picks up at the failed step.
start_bg redis-old redis-server --port 0 --unixsocket "$T/redis-old.sock" --save '' --appendonly no --dir "$T"
wait_for redis-cli -s "$T/redis-old.sock" ping
redis-cli -s "$T/redis-old.sock" HSET RS learns_spam 85 >/dev/null
is "$(redis-cli -s "$T/redis-old.sock" HGET RS learns_spam)" 85 "the old Redis holds rspamd's data"
run_mm run --from "$old" --to "$new" --journal "$T/j" --skip cutover
is "$rc" 0 "the rerun finishes"
like "$err" 'check already done' "done steps are not run again"
is "$(cat "$T/j" | tr '\n' ' ')" "check db redis files sync " "the journal holds every step done"
is "$(redis-cli -s "$T/redis-new.sock" HGET RS learns_spam)" 85 "rspamd's data arrived"

run_mm verify --from "$old" --to "$new" --content /var/vmail/ /var/vmail/
is "$rc" 0 "what the plan moved verifies clean"
ok "$([ -L "$new/etc/letsencrypt/live/mail.example.org/cert.pem" ] && echo 0 || echo 1)" \
	"certificates came along as links"
