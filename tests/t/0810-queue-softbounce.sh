#!/bin/bash
# mailmove queue and softbounce against a real, private Postfix: deferred
# messages grouped by reason and domain, soft_bounce turned on through
# postconf + reload (smtpd then refuses temporarily), the refusals found in
# its log, and --delete removing exactly the named message.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-dns.sh"
command -v postfix >/dev/null || skip_all "postfix is not installed"
getent passwd postfix >/dev/null || skip_all "no postfix user"
plan 50

start_postfix
ok $? "a private Postfix runs (smtpd on 127.0.0.1:$PF_SMTP)"

pq() { postqueue -c "$PF_CONF" -j; }
ids() { pq | grep -o '"queue_id": "[0-9A-Za-z]*"' | cut -d'"' -f4 | sort; }
id_for() { pq | grep "\"address\": \"$1\"" | grep -o '"queue_id": "[0-9A-Za-z]*"' | cut -d'"' -f4; }
q() { run_mm queue --postfix-config "$PF_CONF" --state "$T/state.sqlite" --log "$PF_LOG" "$@"; }
sb() { run_mm softbounce --postfix-config "$PF_CONF" --state "$T/state.sqlite" "$@"; }

# Mail for a next hop where nothing listens: deferred, with a reason.
smtp_send ann@src.test u1@dest.example u2@other.example >"$T/smtp1" &&
	smtp_send bob@src.test u3@dest.example >"$T/smtp2" &&
	smtp_send cid@src.test u4@dest.example >"$T/smtp3"
like "$(cat "$T/smtp1" "$T/smtp2" "$T/smtp3")" 'queued as' "smtpd accepts three messages"
wait_for sh -c "[ \$(postqueue -c '$PF_CONF' -j | grep -c '\"queue_name\": \"deferred\".*Connection refused') = 3 ]"
ok $? "postqueue -j shows the three deferred with a reason"

sb status
is "$rc" 0 "softbounce status exits 0"
like "$out" 'soft_bounce is off' "soft_bounce starts off"

q
is "$rc" 0 "queue exits 0"
like "$out" 'Queue: 3 messages, 4 recipients \(active 0, deferred 3' "counts by queue"
like "$out" "4 rcpt  connect to 127.0.0.1\\[127.0.0.1\\]:$PF_CLOSED: Connection refused" \
	"the four recipients are one group by delay reason"
like "$out" '3 rcpt  dest.example' "recipients by domain: dest.example"
like "$out" '1 rcpt  other.example' "recipients by domain: other.example"
like "$out" "Oldest message: [0-9]+ s old \\(($(ids | paste -sd'|'))\\)" "the oldest message's age and ID"
like "$out" 'soft_bounce is off' "no refusals listed while soft_bounce is off"
q --json
like "$out" '"queues":\{"active":0,"deferred":3,"hold":0,"incoming":0,"maildrop":0\}' "--json: counts by queue"
like "$out" '"delay_reasons":\[\{"reason":"connect to [^"]*Connection refused","count":4\}\]' "--json: reasons with counts"

# A refusal while soft_bounce is off is final (5xx) and not listed later.
smtp_send ann@src.test nobody@gone.example >"$T/smtp4"
like "$(cat "$T/smtp4")" '^550 ' "before softbounce on, smtpd refuses for good (550)"

sb --dry-run on
is "$(postconf -c "$PF_CONF" -h soft_bounce)" no "softbounce --dry-run on changes nothing"
sb on
is "$rc" 0 "softbounce on exits 0"
is "$(postconf -c "$PF_CONF" -h soft_bounce)" yes "postconf shows soft_bounce = yes"
like "$out" 'soft_bounce is on since' "and the time it went on is shown"
since=$(sqlite3 "$T/state.sqlite" "SELECT on_since FROM soft_bounce")
ok $([ -n "$since" ] && [ $(( $(date +%s) - since )) -le 5 ]; echo $?) "the time it went on is recorded"
sleep 1

# Postfix reloaded: the same refusal is now temporary, and logged.
smtp_send ann@src.test nobody@gone.example ghost@gone.example >"$T/smtp5"
like "$(cat "$T/smtp5")" '^450 4\.7\.1 <nobody@gone.example>' "after softbounce on, the refusal is temporary (450)"
wait_for grep -q 'reject: RCPT.* 450 .*ghost@gone.example' "$PF_LOG"
q
like "$out" 'Refused recipients since soft_bounce was turned on \(.*\), from .*maillog: 2$' \
	"exactly the refusals made after soft_bounce went on are found in the log"
like "$out" '2 rcpt  <RECIPIENT>: Recipient address rejected: no such user here' "grouped by their reason"
like "$out" 'nobody@gone.example, ghost@gone.example' "naming the refused recipients"
sb status
like "$out" 'soft_bounce is on since' "softbounce status shows since when"

# The same through the agent (--from a directory = this machine's root).
run_mm queue --from / --postfix-config "$PF_CONF" --log "$PF_LOG" --json
like "$out" '"deferred":3' "queue --from reads the queue through the agent"

# ... and over ssh.
if start_sshd; then
	run_mm queue --from "root@127.0.0.1:$SSH_PORT" --rsh "$RSH" --postfix-config "$PF_CONF" --json
	like "$out" '"deferred":3' "queue --from HOST reads the old server's queue over ssh"
else
	ok 0 "# SKIP no sshd"
fi

# --delete: exactly the named message.
before=$(ids)
victim=$(id_for u3@dest.example)
ok $([ -n "$victim" ]; echo $?) "the message to u3 has a queue ID ($victim)"
setsid -w "$MM" queue --postfix-config "$PF_CONF" --delete "$victim" </dev/null >"$T/d.out" 2>"$T/d.err"
is "$?" 2 "--delete without a terminal and without --yes is refused"
is "$(ids)" "$before" "... and deletes nothing"
q --delete --dry-run "$victim"
is "$(ids)" "$before" "--delete --dry-run deletes nothing"
like "$out" "$victim \\(deferred" "but shows the message"
q --delete NOSUCHID123 "$victim" --yes
is "$rc" 1 "--delete with an unknown ID exits 1"
like "$err" 'not in the queue: NOSUCHID123; nothing deleted' "and names it"
is "$(ids)" "$before" "... and nothing is deleted"
q --delete --yes ALL
is "$rc" 2 "--delete ALL is not a queue ID (postsuper would empty the queue)"
is "$(ids)" "$before" "... and nothing is deleted"
q --delete --yes "$victim"
is "$rc" 0 "--delete --yes exits 0"
like "$out" "from bob@src.test" "it showed the sender"
like "$out" "to u3@dest.example: connect to .*Connection refused" "and each recipient with the reason"
is "$(ids)" "$(printf '%s\n' $before | grep -vx "$victim")" "exactly the named message is gone"

# --watch refreshes until interrupted.
timeout --preserve-status -s INT 5 "$MM" queue --postfix-config "$PF_CONF" --watch --interval 1 >"$T/watch.out" 2>&1
is "$?" 0 "--watch ends with exit 0 when interrupted"
ok $([ "$(grep -c '^Queue: 2 messages' "$T/watch.out")" -ge 2 ]; echo $?) "--watch refreshed the report"

sb off
is "$(postconf -c "$PF_CONF" -h soft_bounce)" no "softbounce off sets soft_bounce = no"
sb status
like "$out" 'soft_bounce is off since' "softbounce status shows since when it is off"

# Postfix down: postqueue run by root reads the queue files itself, so
# queue still works; softbounce still sets the value.
stop_postfix
q
is "$rc" 0 "queue with Postfix stopped exits 0"
like "$out" '^Queue: 2 messages' "and still shows the queue"
sb on
is "$rc" 0 "softbounce on with Postfix stopped exits 0"
like "$err" 'Postfix is not running: the setting takes effect when it starts' "and says when it takes effect"
is "$(postconf -c "$PF_CONF" -h soft_bounce)" yes "the setting is made"
