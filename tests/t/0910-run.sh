#!/bin/bash
# run: the whole plan between two sample servers, stopped by a failing step
# and resumed from its journal, which holds each step's outcome and time;
# run --status says where the migration stands; --dry-run changes nothing.
. "$(dirname "$0")/../lib.sh"
plan 23

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
jsteps() { awk '{ printf "%s:%s ", $1, $2 }' "$T/j" 2>/dev/null; }
is "$(jsteps)" "check:done db:done redis:failed " "the journal holds the steps done before it and the failed one"
like "$(cat "$T/j")" '^check done [0-9]{10} [0-9]+\.[0-9]{3} 0$' "each with its start time, duration and exit"
run_mm run --from "$old" --to "$new" --journal "$T/j" --status
is "$rc" 0 "run --status exits 0"
like "$out" 'redis +FAILED .* exit [0-9]+ after' "run --status shows the failed step"
like "$out" 'next: mailmove run resumes at redis' "and where a rerun resumes"
run_mm run --journal "$T/j" --status --json
like "$out" '"next":"redis"' "run --status --json names the next step (the journal alone is enough)"

# The cause fixed, the same command picks up at the failed step.
start_bg redis-old redis-server --port 0 --unixsocket "$T/redis-old.sock" --save '' --appendonly no --dir "$T"
wait_for redis-cli -s "$T/redis-old.sock" ping
redis-cli -s "$T/redis-old.sock" HSET RS learns_spam 85 >/dev/null
is "$(redis-cli -s "$T/redis-old.sock" HGET RS learns_spam)" 85 "the old Redis holds rspamd's data"
run_mm run --from "$old" --to "$new" --journal "$T/j" --skip cutover
is "$rc" 0 "the rerun finishes"
like "$err" 'check already done' "done steps are not run again"
is "$(jsteps)" "check:done db:done redis:done files:done sync:done " "the journal holds every step done"
like "$err" 'run: redis took [0-9.]+ s' "each step's time is shown"
run_mm run --from "$old" --to "$new" --journal "$T/j" --status
like "$out" 'cutover +not yet' "run --status: the cutover not yet"
like "$out" 'sync +done +[0-9-]+ [0-9:]+ UTC, [0-9.]+ s' "and when the sync ran and how long it took"
is "$(redis-cli -s "$T/redis-new.sock" HGET RS learns_spam)" 85 "rspamd's data arrived"

run_mm verify --from "$old" --to "$new" --content /var/vmail/ /var/vmail/
is "$rc" 0 "what the plan moved verifies clean"
ok "$([ -L "$new/etc/letsencrypt/live/mail.example.org/cert.pem" ] && echo 0 || echo 1)" \
	"certificates came along as links"

# The cutover's own options reach its step.
run_mm run --from "$old" --to "$new" --journal "$T/j2" --dry-run --skip check --skip db \
	--skip redis --skip files --skip sync --relay-to 'bad;host'
is "$rc" 2 "run hands --relay-to to the cutover step, which refuses a bad one"
like "$err" 'relay-to bad;host: not a host name' "with the cutover's own message"
