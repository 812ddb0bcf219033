#!/bin/bash
# cutover --relay-to against two real Postfix instances: the old one holds
# mail deferred while its Dovecot was down (its LMTP socket is gone); the
# preflight refuses a relay target that does not answer SMTP, with nothing
# stopped and the old Postfix unchanged; the cutover points the old Postfix
# at the new one and flushes its queue, so the waiting mail reaches the new
# server within seconds, not at the next queue run (minutes later); `queue
# --from OLD` shows the old queue draining; a rerun changes nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-dns.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
command -v postfix >/dev/null || skip_all "postfix is not installed"
getent passwd postfix >/dev/null || skip_all "no postfix user"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
plan 18

# The old server's Postfix: virtual mail for example.org goes to an LMTP
# socket that is gone (its Dovecot is stopped); retries only after 300 s.
start_postfix || { give_up "the old Postfix did not start"; }
postconf -c "$PF_CONF" -e "virtual_mailbox_domains = example.org" \
	"virtual_transport = lmtp:unix:$T/no-lmtp" "minimal_backoff_time = 300s" \
	"maximal_backoff_time = 600s" "queue_run_delay = 300s"
postfix -c "$PF_CONF" reload >/dev/null 2>&1
OLD_CONF=$PF_CONF OLD_SMTP=$PF_SMTP

# The new server's Postfix: delivers example.org into Maildirs under $T/newmail.
NEW_SMTP=$(free_port)
nd="$T/pfnew"
mkdir -p "$nd/etc" "$nd/spool" "$nd/data" "$T/newmail"
chown postfix "$nd/data"
chown 65534:65534 "$T/newmail"
sed -e "s|$T/pf/|$nd/|g; s|$T/pf\$|$nd|" \
	-e "s|^relayhost = .*|relayhost =|; s|^syslog_name = .*|syslog_name = postfix-mmnew|" \
	"$OLD_CONF/main.cf" >"$nd/etc/main.cf"
cat >>"$nd/etc/main.cf" <<CF
virtual_mailbox_domains = example.org
virtual_mailbox_base = $T/newmail
virtual_mailbox_maps = inline:{ {ann@example.org = example.org/ann/Maildir/} }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
CF
postconf -c "$nd/etc" -e "virtual_transport = virtual" "minimal_backoff_time = 300s" \
	"queue_run_delay = 300s" "maillog_file = $nd/maillog" "maillog_file_prefixes = $nd"
sed -e "s|^127.0.0.1:[0-9]* inet|127.0.0.1:$NEW_SMTP inet|" "$OLD_CONF/master.cf" >"$nd/etc/master.cf"
echo "virtual   unix  -       n       n       -       -       virtual" >>"$nd/etc/master.cf"
postfix -c "$nd/etc" start >"$T/pfnew.out" 2>&1 || { cat "$T/pfnew.out" | sed 's/^/# /'; give_up "the new Postfix did not start"; }
wait_for test -s "$nd/spool/pid/master.pid"
adopt_pid postfix-new "$(tr -d ' ' <"$nd/spool/pid/master.pid")"
trap 'postfix -c "$nd/etc" stop >/dev/null 2>&1; postfix -c "$OLD_CONF" stop >/dev/null 2>&1; _cleanup' EXIT
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$NEW_SMTP"
ok $? "two Postfix instances run (old on $OLD_SMTP, new on $NEW_SMTP)"

# Mail arrives at the old server while its Dovecot is down: deferred.
for i in 1 2 3 4 5; do smtp_send "s$i@src.test" ann@example.org >"$T/smtp$i"; done
like "$(cat "$T"/smtp[1-5])" 'queued as' "the old smtpd accepts the mail"
deferred() { postqueue -c "$OLD_CONF" -j | grep -c '"queue_name": "deferred"'; }
wait_for sh -c "[ \$(postqueue -c '$OLD_CONF' -j | grep -c '\"queue_name\": \"deferred\"') = 5 ]"
ok $? "the old queue holds the five deferred messages"

# Two Dovecots; the new one answers IMAP on a private port once restarted.
dovecot_start src
dovecot_start dst
imap=$(free_port)
sed -i 's/^protocols =.*/protocols = imap/' "$T/dst/dovecot.conf"
dovecot_conf_imap_listener "$imap" 127.0.0.1 >>"$T/dst/dovecot.conf"
stop_bg dovecot-dst
start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$imap"
mkdir -p "$T/sb"
printf 'compatibility_level = 3.6\nsoft_bounce = no\n' >"$T/sb/main.cf"
: >"$T/sb/master.cf"
cut() {
	run_mm cutover --from "$T/src" --to "$T/dst" --state "$T/sync.state" --yes \
		--old-stop "doveadm -c $T/src/dovecot.conf stop" \
		--new-stop "doveadm -c $T/dst/dovecot.conf stop" \
		--new-start "dovecot -c $T/dst/dovecot.conf" --postfix-start true \
		--resync "doveadm -c $T/dst/dovecot.conf force-resync -A *" \
		--imap "127.0.0.1:$imap" --postfix-config "$T/sb" \
		--switch-state "$T/switch.sqlite" --old-postfix-config "$OLD_CONF" \
		--old-doveadm-config "$T/src/dovecot.conf" \
		--no-verify "$@" /home/ /home/
}

# A relay target that does not answer SMTP: the preflight fails, nothing stops.
src_pid=$(cat "$T/src/run/master.pid")
dead=$(free_port)
cut --relay-to "127.0.0.1:$dead"
is "$rc" 1 "a relay target that does not answer SMTP fails the cutover (exit 1)"
like "$err" "port $dead does not answer SMTP" "and names the port"
ok "$(kill -0 "$src_pid" 2>/dev/null && echo 0 || echo 1)" "the old Dovecot still runs"
is "$(postconf -c "$OLD_CONF" -h virtual_transport)" "lmtp:unix:$T/no-lmtp" "the old Postfix is unchanged"

run_mm queue --from "$T/src" --postfix-config "$OLD_CONF" --log "$PF_LOG" --json
like "$out" '"deferred":5' "queue --from OLD shows the five deferred there"

# The cutover: relay, flush; the mail leaves the old queue in seconds.
t0=$(date +%s)
cut --relay-to "127.0.0.1:$NEW_SMTP" --flush-wait 20 --json
t1=$(date +%s)
is "$rc" 0 "the cutover with --relay-to exits 0"
[ "$rc" = 0 ] || diag "$err"
[ -f "$T/dst/run/master.pid" ] && adopt_pid dovecot-dst-new "$(cat "$T/dst/run/master.pid")"
is "$(postconf -c "$OLD_CONF" -h virtual_transport)" "smtp:[127.0.0.1]:$NEW_SMTP" "the old Postfix relays to the new one"
like "$out" '"relay":\{[^}]*"queued_before_flush":5' "--json: five were queued before the flush"
like "$out" '"still_queued":0' "--json: none is still queued"
like "$err" "the old server's queue is empty" "the old queue is shown empty"
wait_for sh -c "[ \$(ls '$T/newmail/example.org/ann/Maildir/new' 2>/dev/null | wc -l) = 5 ]"
ok $? "the five messages are in the new server's Maildir"
ok "$([ $((t1 - t0)) -lt 60 ] && echo 0 || echo 1)" "within seconds ($((t1 - t0)) s for the whole cutover), not at the old queue's next run (300 s)"

run_mm queue --from "$T/src" --postfix-config "$OLD_CONF" --log "$PF_LOG" --json
like "$out" '"deferred":0' "queue --from OLD shows the old queue drained"

# Both Dovecots are stopped or restarted by then: stop commands that
# accept that, as systemctl stop does.
cut --relay-to "127.0.0.1:$NEW_SMTP" --flush-wait 1 \
	--old-stop "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'" \
	--new-stop "doveadm -c $T/dst/dovecot.conf stop"
[ -f "$T/dst/run/master.pid" ] && adopt_pid dovecot-dst-new2 "$(cat "$T/dst/run/master.pid")"
is "$rc" 0 "a rerun exits 0"
is "$(ls "$T/newmail/example.org/ann/Maildir/new" | wc -l)" 5 "and delivers nothing twice"
