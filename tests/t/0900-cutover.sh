#!/bin/bash
# cutover against two real Dovecot instances: after a hot sync, new mail
# and an expunge on the old server; the cutover stops both Dovecots, runs
# the cold sync --delete, verifies, rebuilds the new indexes, turns
# soft_bounce on in a private Postfix configuration and starts the new
# Dovecot, which must answer an IMAP LOGIN.  doveadm is the oracle.  The
# preflight refuses bad options and an unreachable relay target while the
# old Dovecot still runs; no terminal and no --yes is refused; a failing
# step stops the cutover with nothing after it done; --dry-run changes
# nothing; the downtime, each step's time and the cold sync's counts are
# printed and in --json; the save date (date.saved) survives.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
plan 47

dovecot_start src
dovecot_start dst
rm -rf "$T/dst/home/example.org/"*/Maildir
for i in 1 2 3 4 5; do
	printf 'From: x@example.net\r\nSubject: m%s\r\n\r\nbody %s\r\n' "$i" "$i" |
		dva src save -u alice@example.org
done
dva src mailbox create -u alice@example.org Archive
printf 'Subject: a\r\n\r\nx\r\n' | dva src save -u alice@example.org -m Archive
dva src flags add -u alice@example.org '\Seen' mailbox INBOX uid 1:3
printf 'Subject: b\r\n\r\nx\r\n' | dva src save -u bob@example.org

mkdir -p "$T/pf"
printf 'compatibility_level = 3.6\nsoft_bounce = no\n' >"$T/pf/main.cf"
: >"$T/pf/master.cf"
common=(--from "$T/src" --to "$T/dst" --state "$T/sync.state")

# The save dates are in the old index; the copies get later ones here.
dva src fetch -u alice@example.org 'uid date.saved' ALL >/dev/null 2>&1
dva src fetch -u bob@example.org 'uid date.saved' ALL >/dev/null 2>&1
sleep 1.1
run_mm sync "${common[@]}" /home/ /home/
is "$rc" 0 "the hot sync runs while both Dovecots serve"
chown -R 65534:65534 "$T/dst/home"
vdove() {
	run_mm verify --dovecot --from "$T/src" --to "$T/dst" --user alice@example.org \
		--user bob@example.org --src-doveadm-config "$T/src/dovecot.conf" \
		--dest-doveadm-config "$T/dst/dovecot.conf" /home/ /home/
}
vdove
is "$rc" 1 "verify --dovecot after the hot sync (no index files): differences"
like "$out$err" 'saved [-0-9: ]+ on the source, [-0-9: ]+ here' "it compares the save dates (date.saved)"

# Mail keeps arriving and being expunged on the old server.
printf 'Subject: late\r\n\r\nlate\r\n' | dva src save -u alice@example.org
dva src expunge -u alice@example.org mailbox INBOX uid 2
dva src flags add -u alice@example.org '\Flagged' mailbox INBOX uid 4

fetch() { dva "$1" fetch -u "$2" 'mailbox uid guid flags' ALL 2>/dev/null | grep -v '^flags:.*Recent' | sed 's/ *\\Recent//'; }
want_alice=$(fetch src alice@example.org)
want_bob=$(fetch src bob@example.org)

want_saved=$(dva src fetch -u alice@example.org 'uid date.saved' ALL 2>/dev/null)
src_pid=$(cat "$T/src/run/master.pid" 2>/dev/null)
old_alive() { kill -0 "$src_pid" 2>/dev/null && echo 0 || echo 1; }

# The new Dovecot answers IMAP on a private port (the cutover checks it
# before anything stops, and waits for it after the cold sync).
imap=$(free_port)
sed -i 's/^protocols =.*/protocols = imap/' "$T/dst/dovecot.conf"
dovecot_conf_imap_listener "$imap" 127.0.0.1 >>"$T/dst/dovecot.conf"
printf 'any\n' >"$T/pw"
chmod 600 "$T/pw"
stop_bg dovecot-dst
start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$imap"
imapopts=(--imap "127.0.0.1:$imap" --login alice@example.org --password-file "$T/pw")

# The preflight: nothing is stopped when an option or the relay target is bad.
run_mm cutover "${common[@]}" --yes --old-stop false --relay-to 'evil;host' /home/ /home/
is "$rc" 2 "a --relay-to that is not a host is a usage error (exit 2)"
like "$err" 'relay-to evil;host: not a host name' "and says so"
dead=$(free_port)
run_mm cutover "${common[@]}" "${imapopts[@]}" --yes --old-stop "doveadm -c $T/src/dovecot.conf stop" \
	--relay-to "127.0.0.1:$dead" --postfix-config "$T/pf" /home/ /home/
is "$rc" 1 "--relay-to without a running old Postfix fails the preflight (exit 1)"
like "$err" "Postfix on .* is not running" "and says the old Postfix is not running (the relay needs it)"
like "$err" 'the old Dovecot was not stopped' "and says the old Dovecot was not stopped"
is "$(old_alive)" 0 "the old Dovecot still runs after the failed preflight"
run_mm cutover "${common[@]}" --yes --imap nohost:99999 /home/ /home/
is "$rc" 2 "a bad --imap is a usage error"
chmod 644 "$T/pw"
run_mm cutover "${common[@]}" "${imapopts[@]}" --dry-run --postfix-config "$T/pf" /home/ /home/
like "$err" 'password-file .* can be read by others' "a password file others can read is named"
chmod 600 "$T/pw"
run_mm cutover "${common[@]}" "${imapopts[@]}" --dry-run --postfix-config "$T/pf" /home/ /home/
drc=$rc
run_mm cutover --to "$T/dst" --state "$T/sync.state" "${imapopts[@]}" --dry-run \
	--postfix-config "$T/pf" "$T/src:/home/" /home/
is "$rc" "$drc" "SRC as DIR:/PATH without --from: the same dry run as with --from (exit $rc)"
unlike "$err" 'which old server' "and no question which old server"
run_mm cutover "${common[@]}" --yes --imap "127.0.0.1:$dead" --old-stop "doveadm -c $T/src/dovecot.conf stop" \
	--postfix-config "$T/pf" /home/ /home/
is "$rc" 4 "a new Dovecot that does not answer on --imap fails the preflight (exit 4)"
like "$err" "does not answer IMAP on 127.0.0.1:$dead now" "and says so"
is "$(old_alive)" 0 "the old Dovecot still runs"

# No terminal to ask on and no --yes: refused before anything stops.
# setsid: a new session has no controlling terminal, even when the test
# runs from one.
setsid -w "$MM" cutover "${common[@]}" "${imapopts[@]}" --old-stop "doveadm -c $T/src/dovecot.conf stop" \
	--postfix-config "$T/pf" /home/ /home/ </dev/null >"$T/notty.out" 2>"$T/notty.err"
rc=$?
is "$rc" 2 "without a terminal and without --yes the cutover refuses (exit 2)"
like "$(cat "$T/notty.err")" 'give --yes' "and says to give --yes"
is "$(old_alive)" 0 "the old Dovecot still runs"

# A failing stop: nothing after it happens.
run_mm cutover "${common[@]}" "${imapopts[@]}" --yes --old-stop false --new-stop true \
	--new-start true --postfix-start true --resync true --postfix-config "$T/pf" \
	--switch-state "$T/switch.sqlite" /home/ /home/
is "$rc" 1 "a failing stop of the old Dovecot exits 1"
like "$err" 'the cold sync did not run' "and says the cold sync did not run"
is "$(postconf -c "$T/pf" -h soft_bounce)" no "soft_bounce untouched after the failure"

run_mm cutover "${common[@]}" "${imapopts[@]}" --dry-run --postfix-config "$T/pf" /home/ /home/
is "$rc" 0 "--dry-run exits 0"
like "$out" 'cold-sync +downtime +cold sync with --delete; checked: ' "--dry-run shows the steps, which are in the downtime, and their checks"
is "$(postconf -c "$T/pf" -h soft_bounce)" no "--dry-run leaves soft_bounce alone"

# A cutover that fails inside the downtime (the new Dovecot does not start):
# both Dovecots stay stopped; the rerun goes on from there.
run_mm cutover "${common[@]}" --yes "${imapopts[@]}" \
	--old-stop "doveadm -c $T/src/dovecot.conf stop" \
	--new-stop "doveadm -c $T/dst/dovecot.conf stop" --old-doveadm-config "$T/src/dovecot.conf" \
	--new-start false --postfix-config "$T/pf" --switch-state "$T/switch.sqlite" /home/ /home/
is "$rc" 4 "a new Dovecot that does not start fails the cutover (exit 4)"
like "$err" 'the old Dovecot stopped serving mail [0-9.]+ s after its stop began' "the stop step watched the old Dovecot until it had stopped serving mail"
ok "$([ -e "$T/dst/var/lib/mailmove/cutover-downtime" ] && echo 0 || echo 1)" "the downtime is marked"
dst_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
run_mm cutover "${common[@]}" --yes --json "${imapopts[@]}" \
	--old-stop "sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'" \
	--new-stop "sh -c 'doveadm -c $T/dst/dovecot.conf stop 2>/dev/null; true'" --old-doveadm-config "$T/src/dovecot.conf" \
	--new-start "dovecot -c $T/dst/dovecot.conf" --postfix-start true \
	--resync "doveadm -c $T/dst/dovecot.conf force-resync -A *" \
	--postfix-config "$T/pf" --switch-state "$T/switch.sqlite" /home/ /home/
is "$rc" 0 "the rerun of the cutover exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$err" 'an earlier cutover stopped it and did not finish' "it knew the new Dovecot was down on purpose"
ok "$([ ! -e "$T/dst/var/lib/mailmove/cutover-downtime" ] && echo 0 || echo 1)" "the mark is gone once the new Dovecot answers"
result=$(printf '%s\n' "$out" | grep '"event": *"result"')
like "$result" '"downtime_seconds": *[0-9.]+' "--json gives the IMAP downtime"
like "$result" '"step": *"cold-sync", *"seconds": *[0-9.]+, *"downtime": *true' "and each step's time, the cold sync inside the downtime"
like "$result" '"step": *"resync", *"seconds": *[0-9.]+, *"downtime": *false' "the index rebuild after it"
like "$result" '"catch_up": *\{"copied": *[0-9]+,' "and what the catch-up sync before the downtime moved"
like "$result" '"cold_sync": *\{[^}]*"copied": *0,' "and what the cold sync moved (nothing left)"
like "$err" 'IMAP downtime: [0-9.]+ s \(old Dovecot stopping to the new Dovecot answering a login\)' "the downtime is printed"
like "$result" '"with_indexes": *true' "Dovecot's index files came along (same version)"
wait_for bash -c "! kill -0 $src_pid 2>/dev/null"
ok $? "the old Dovecot was stopped"
new_pid=$(cat "$T/dst/run/master.pid" 2>/dev/null)
[ -n "$new_pid" ] && adopt_pid dovecot-dst-new "$new_pid"
ok "$([ -n "$new_pid" ] && [ "$new_pid" != "$dst_pid" ] && kill -0 "$new_pid" && echo 0 || echo 1)" \
	"the new Dovecot was restarted by the cutover"
is "$(postconf -c "$T/pf" -h soft_bounce)" yes "soft_bounce is on"

chown -R 65534:65534 "$T/dst/home"
is "$(fetch dst alice@example.org)" "$want_alice" "alice's mail, UIDs, GUIDs and flags match the old server's (late mail in, expunge gone)"
is "$(fetch dst bob@example.org)" "$want_bob" "bob's too"
like "$want_alice" 'uid: 6' "the oracle includes the late message (uid 6)"
unlike "$(fetch dst alice@example.org)" 'uid: 2$' "the expunged message is gone"
is "$(dva dst fetch -u alice@example.org 'uid date.saved' ALL 2>/dev/null)" "$want_saved" "every save date (date.saved) survived the cutover"
start_bg dovecot-src2 dovecot -F -c "$T/src/dovecot.conf"
wait_for test -S "$T/src/run/auth-userdb"
vdove
is "$rc" 0 "verify --dovecot after the cutover: save dates and all the rest identical"
[ "$rc" = 0 ] || diag "$out"
