#!/bin/bash
# The whole migration with mail flowing, in the lab: a real Debian 11 old
# server (its own sshd, Postfix 3.5 delivering over LMTP to Dovecot 2.3.13,
# MariaDB 10.5, chrooted in a network namespace) and this host as the new
# server (Postfix, Dovecot, MariaDB).  A sender delivers a message over
# SMTP every 0.2 s the whole time, first to the old server, then (the MX
# switch) to the new one.  An mbsync client syncs from the old server's
# IMAP before the move and from the new one after it.  The commands run in
# the plan's order: db, the hot sync (twice), cutover --relay-to (relay
# and queue flush), finish.  Then every message the servers accepted is on
# the new server exactly once, every message that was on the old server
# has the same mailbox, UID, GUID, flags, date and size there, and mbsync
# continued without downloading anything twice.  Every wait times out.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lab.sh"
. "$(dirname "$0")/../lib-mariadb.sh"
command -v debootstrap >/dev/null 2>&1 || skip_all "debootstrap missing"
command -v ip >/dev/null 2>&1 || skip_all "iproute2 missing"
command -v mbsync >/dev/null 2>&1 || skip_all "mbsync (isync) missing"
command -v postfix >/dev/null 2>&1 || skip_all "postfix missing"
have_mariadb || skip_all "no mariadb server"
T0=$(date +%s)
LAB_SUITE=bullseye-mail
"$TOP/scripts/lab-root" "$LAB_SUITE" >/dev/null || skip_all "cannot build the Debian 11 mail server root (debootstrap failed)"

old_stop_all() {
	[ -n "${LAB:-}" ] || return 0
	touch "$T/stop-sending"
	stop_bg sender
	[ -n "${LAB_NS:-}" ] && ip netns exec "$LAB_NS" chroot "$LAB" postfix -c "$LAB_IN/pf/etc" stop >/dev/null 2>&1
	[ -f "$T/new/pf/etc/main.cf" ] && postfix -c "$T/new/pf/etc" stop >/dev/null 2>&1
	[ -f "$T/new/dovecot.conf" ] && doveadm -c "$T/new/dovecot.conf" stop >/dev/null 2>&1
	stop_bg lab-mariadb
	lab_stop
}
trap 'old_stop_all; _cleanup' EXIT
lab_preflight || skip_all "no lab on this machine: $LAB_ERR"
lab_start || give_up "the Debian 11 lab did not start: ${LAB_ERR:-}"
plan 24

# ---- the old server: Dovecot (IMAP, LMTP), Postfix, MariaDB ----
stop_bg lab-dovecot
printf 'ann@example.org::65534:65534::%s::\n' "$LAB_IN/vmail/example.org/ann" >"$LAB_RUN/users"
cat >"$LAB_RUN/dovecot.conf" <<CONF
protocols = imap lmtp
listen = $LAB_IP
ssl = no
disable_plaintext_auth = no
mail_location = maildir:$LAB_IN/vmail/%d/%n/Maildir
base_dir = $LAB_IN/dovecot-base
state_dir = $LAB_IN/dovecot-state
log_path = $LAB_IN/dovecot.log
userdb {
  driver = passwd-file
  args = $LAB_IN/users
}
passdb {
  driver = static
  args = nopassword=y
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service imap-login {
  inet_listener imaps {
    port = 0
  }
}
CONF
old_dovecot() { start_bg "lab-dovecot$1" ip netns exec "$LAB_NS" chroot "$LAB" dovecot -F -c "$LAB_IN/dovecot.conf"; }
old_dovecot ""
wait_for test -S "$LAB_RUN/dovecot-base/lmtp"
wait_for bash -c "exec 3<>/dev/tcp/$LAB_IP/143"

mkdir -p "$LAB_RUN/pf/etc" "$LAB_RUN/pf/spool" "$LAB_RUN/pf/data"
chroot "$LAB" chown postfix "$LAB_IN/pf/data"
cat >"$LAB_RUN/pf/etc/main.cf" <<CF
compatibility_level = 2
queue_directory = $LAB_IN/pf/spool
data_directory = $LAB_IN/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = old.example.net
mydestination =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 10.0.0.0/8
virtual_mailbox_domains = example.org
virtual_mailbox_maps = inline:{ {ann@example.org = x} }
virtual_transport = lmtp:unix:$LAB_IN/dovecot-base/lmtp
maillog_file = $LAB_IN/pf/maillog
maillog_file_prefixes = $LAB_IN/pf
alias_maps =
alias_database =
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtp_connect_timeout = 2s
CF
# Debian's services, none chrooted (the LMTP socket is outside the queue).
services() { sed -n '/^pickup/,$p' "$1" | awk '/^[a-z]/ { $5 = "n" } { print }'; }
services "$LAB/usr/share/postfix/master.cf.dist" >"$LAB_RUN/pf/etc/master.cf"
echo "smtp      inet  n       -       n       -       -       smtpd" >>"$LAB_RUN/pf/etc/master.cf"
ip netns exec "$LAB_NS" chroot "$LAB" postfix -c "$LAB_IN/pf/etc" start >"$T/oldpf.out" 2>&1 ||
	{ sed 's/^/# /' "$T/oldpf.out"; give_up "the old Postfix did not start"; }
wait_for bash -c "exec 3<>/dev/tcp/$LAB_IP/25"
ok $? "the old server's Postfix answers on $LAB_IP:25"

mkdir -p "$LAB_RUN/mysql"
ip netns exec "$LAB_NS" chroot "$LAB" mysql_install_db --no-defaults --user=root \
	--datadir="$LAB_IN/mysql" --auth-root-authentication-method=socket >"$T/oldmy.out" 2>&1
start_bg lab-mariadb ip netns exec "$LAB_NS" chroot "$LAB" /usr/sbin/mariadbd --no-defaults \
	--user=root --datadir="$LAB_IN/mysql" --socket="$LAB_IN/mysqld.sock" --skip-networking \
	--pid-file="$LAB_IN/mysqld.pid" --log-error="$LAB_IN/mysqld.err" --skip-log-bin
oldmy() { chroot "$LAB" mysql --no-defaults -S "$LAB_IN/mysqld.sock" -uroot "$@"; }
schema="CREATE DATABASE mailserver; CREATE TABLE mailserver.virtual_domains (id INT PRIMARY KEY, name VARCHAR(50));
CREATE TABLE mailserver.virtual_users (id INT PRIMARY KEY, domain_id INT, email VARCHAR(100), password VARCHAR(150), quota BIGINT DEFAULT 0);
CREATE TABLE mailserver.virtual_aliases (id INT PRIMARY KEY, domain_id INT, source VARCHAR(100), destination VARCHAR(100));"
wait_for oldmy -e 'SELECT 1'
oldmy -e "$schema INSERT INTO mailserver.virtual_domains VALUES (1,'example.org');
INSERT INTO mailserver.virtual_users VALUES (1,1,'ann@example.org','{BLF-CRYPT}\$2y\$05\$abc',0);"

# ---- the new server: MariaDB, Postfix (virtual delivery), Dovecot (IMAP) ----
start_mariadb || give_up "MariaDB here did not start"
my -e "$schema"
new="$T/new"
mkdir -p "$new/var/vmail" "$new/run" "$new/etc" "$new/pf/etc" "$new/pf/spool" "$new/pf/data"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$new/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$new/etc/group"
chown 65534:65534 "$new/var/vmail"
chown postfix "$new/pf/data"
NEW_SMTP=$(free_port)
NEW_IMAP=$(free_port)
cat >"$new/pf/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $new/pf/spool
data_directory = $new/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = new.example.net
mydestination =
inet_interfaces = 127.0.0.1, $LAB_HOST_IP
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 10.0.0.0/8
virtual_mailbox_domains = example.org
virtual_mailbox_base = $new/var/vmail
virtual_mailbox_maps = inline:{ {ann@example.org = example.org/ann/Maildir/} }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
maillog_file = $new/pf/maillog
maillog_file_prefixes = $new/pf
syslog_name = postfix-mmnew
alias_maps =
alias_database =
soft_bounce = no
CF
services /usr/share/postfix/master.cf.dist >"$new/pf/etc/master.cf"
echo "$LAB_HOST_IP:$NEW_SMTP inet n - n - - smtpd" >>"$new/pf/etc/master.cf"
postfix -c "$new/pf/etc" start >"$T/newpf.out" 2>&1 ||
	{ sed 's/^/# /' "$T/newpf.out"; give_up "the new Postfix did not start"; }
{
	dovecot_conf_head
	cat <<CONF
protocols = imap
listen = 127.0.0.1
ssl = no
base_dir = $new/run
state_dir = $new/run
log_path = $new/dovecot.log
instance_name = mm-lab-new-$$
CONF
	dovecot_conf_cleartext
	dovecot_conf_maildir '~/Maildir'
	dovecot_conf_static_userdb 65534 65534 "$new/var/vmail/%d/%n"
	dovecot_conf_nopassword
	dovecot_conf_imap_listener "$NEW_IMAP"
} >"$new/dovecot.conf"
dovecot -c "$new/dovecot.conf" </dev/null >/dev/null 2>&1
wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$NEW_IMAP"
ok $? "the new server's Postfix, Dovecot and MariaDB run"

# ---- mail: some before, then a sender the whole time ----
for i in 1 2 3; do
	printf 'From: a@example.net\r\nSubject: before %s\r\nMessage-ID: <before%s@test>\r\n\r\nbody %s\r\n' "$i" "$i" "$i" |
		lab_doveadm save -u ann@example.org
done
lab_doveadm mailbox create -u ann@example.org Archive
printf 'Subject: archived\r\nMessage-ID: <arch@test>\r\n\r\nx\r\n' | lab_doveadm save -u ann@example.org -m Archive
lab_doveadm flags add -u ann@example.org '\Seen $Label1' mailbox INBOX uid 2

cat >"$T/sender.sh" <<'SH'
#!/bin/bash
# One SMTP dialog per message to the host:port in $T/mx, every 0.2 s;
# each message whose DATA got a 250 is recorded in $T/accepted.
T=$1
n=0
reply() {
	local line
	while IFS= read -r -t 10 line <&3; do
		case "$line" in [0-9][0-9][0-9]-*) ;; *) printf '%s' "${line:0:3}"; return 0 ;; esac
	done
	printf 'timeout'
}
while [ ! -e "$T/stop-sending" ]; do
	n=$((n + 1))
	read -r host port <"$T/mx"
	if exec 3<>"/dev/tcp/$host/$port"; then
		code=$(reply)
		printf 'EHLO sender.test\r\n' >&3; reply >/dev/null
		printf 'MAIL FROM:<s@sender.test>\r\n' >&3; reply >/dev/null
		printf 'RCPT TO:<ann@example.org>\r\n' >&3; reply >/dev/null
		printf 'DATA\r\n' >&3; code=$(reply)
		if [ "$code" = 354 ]; then
			printf 'From: <s@sender.test>\r\nSubject: flow %s\r\nMessage-ID: <flow%s@sender.test>\r\n\r\nmessage %s via %s\r\n.\r\n' \
				"$n" "$n" "$n" "$host" >&3
			code=$(reply)
			[ "$code" = 250 ] && echo "flow $n" >>"$T/accepted"
		fi
		printf 'QUIT\r\n' >&3; reply >/dev/null
		exec 3>&-
	fi
	sleep 0.2
done
SH
echo "$LAB_IP 25" >"$T/mx"
: >"$T/accepted"
start_bg sender bash "$T/sender.sh" "$T"
wait_for sh -c "[ \$(wc -l <'$T/accepted') -ge 3 ]"
ok $? "the sender delivers to the old server"

# mbsync, a client that keeps its own state, on the old server first.
mkdir -p "$T/mb/Mail"
mbconf() {
	cat >"$T/mb/rc" <<RC
IMAPAccount acct
Host $1
Port $2
User ann@example.org
Pass x
SSLType None
AuthMechs LOGIN

IMAPStore far
Account acct

MaildirStore near
Path $T/mb/Mail/
Inbox $T/mb/Mail/INBOX
SubFolders Verbatim

Channel ch
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState *
RC
}
mbconf "$LAB_IP" 143
timeout 60 mbsync -c "$T/mb/rc" -a >"$T/mb1.out" 2>&1
ok $? "mbsync syncs from the old server's IMAP"
mb_before=$(find "$T/mb/Mail" -path '*/cur/*' -o -path '*/new/*' | grep -c .)

# ---- the plan: db, hot sync twice, cutover with relay ----
mm_old=(--from "$LAB_FROM" --rsh "$LAB_RSH")
run_mm db "${mm_old[@]}" --to "$new" --src "mysql://root@/mailserver?socket=$LAB_IN/mysqld.sock" \
	--dest "mysql://root@/mailserver?socket=$MY_SOCK"
is "$rc" 0 "db: the mailserver database moved"
[ "$rc" = 0 ] || diag "$err"
for i in 1 2; do
	run_mm sync "${mm_old[@]}" --to "$new" --state "$T/sync.state" "$LAB_IN/vmail/" /var/vmail/
	[ "$rc" = 0 ] || break
	sleep 1
done
is "$rc" 0 "the hot sync runs twice while mail flows"
printf 'x\n' >"$T/pw"
chmod 600 "$T/pw"
mkdir -p "$T/sb"

# The messages there before the cutover starts: their save dates must
# survive (one delivered in the last instant before the stop gets the time
# of its copy, seconds later: Dovecot has not cached its save date).
lab_doveadm -f tab fetch -u ann@example.org guid ALL 2>/dev/null | tail -n +2 | sort >"$T/pre.guids"
run_mm cutover "${mm_old[@]}" --to "$new" --state "$T/sync.state" --yes --json \
	--old-stop "doveadm -c $LAB_IN/dovecot.conf stop" \
	--new-stop "doveadm -c $new/dovecot.conf stop" \
	--new-start "dovecot -c $new/dovecot.conf" --postfix-start true \
	--resync "doveadm -c $new/dovecot.conf force-resync -u ann@example.org *" \
	--imap "127.0.0.1:$NEW_IMAP" --login ann@example.org --password-file "$T/pw" \
	--postfix-config "$new/pf/etc" --switch-state "$T/switch.sqlite" \
	--relay-to "$LAB_HOST_IP:$NEW_SMTP" --old-postfix-config "$LAB_IN/pf/etc" \
	--old-doveadm-config "$LAB_IN/dovecot.conf" \
	"$LAB_IN/vmail/" /var/vmail/
is "$rc" 0 "cutover with --relay-to exits 0"
[ "$rc" = 0 ] || diag "$err"
down=$(printf '%s\n' "$out" | grep -o '"downtime_seconds":[0-9.]*' | cut -d: -f2)
diag "IMAP downtime: $down s; the old queue before the flush: $(printf '%s\n' "$out" | grep -o '"queued_before_flush":[0-9]*' | cut -d: -f2) messages, after it: $(printf '%s\n' "$out" | grep -o '"still_queued":[0-9]*' | cut -d: -f2)"
ok "$(python3 -c "import sys; sys.exit(0 if float('${down:-99}') < 10 else 1)"; echo $?)" "the IMAP downtime is measured and short ($down s)"

# The MX switch: the sender now delivers to the new server.
echo "$LAB_HOST_IP $NEW_SMTP" >"$T/mx"
n_switch=$(wc -l <"$T/accepted")
wait_for sh -c "[ \$(wc -l <'$T/accepted') -ge $((n_switch + 5)) ]"
ok $? "the sender delivers to the new server after the switch"
touch "$T/stop-sending"
stop_bg sender

# Everything accepted arrives: the old queue drains (relay), the new delivers.
oldq() { ip netns exec "$LAB_NS" chroot "$LAB" postqueue -c "$LAB_IN/pf/etc" -j 2>/dev/null | grep -c queue_id; }
newq() { postqueue -c "$new/pf/etc" -j 2>/dev/null | grep -c queue_id; }
ip netns exec "$LAB_NS" chroot "$LAB" postqueue -c "$LAB_IN/pf/etc" -f >/dev/null 2>&1
wait_for sh -c "[ \$(ip netns exec $LAB_NS chroot $LAB postqueue -c $LAB_IN/pf/etc -j 2>/dev/null | grep -c queue_id) = 0 ]"
ok $? "the old queue is empty (left: $(oldq))"
run_mm queue "${mm_old[@]}" --postfix-config "$LAB_IN/pf/etc" --log "$LAB_IN/pf/maillog" --json
like "$out" '"deferred":0' "queue --from OLD shows it drained"
wait_for sh -c "[ \$(postqueue -c $new/pf/etc -j 2>/dev/null | grep -c queue_id) = 0 ]"
ok $? "the new queue is empty (left: $(newq))"

subjects() { doveadm -c "$new/dovecot.conf" fetch -u ann@example.org hdr.subject mailbox INBOX ALL 2>/dev/null |
	sed -n 's/^hdr.subject: //p' | grep '^flow ' | sort; }
sort "$T/accepted" >"$T/want"
subjects >"$T/got"
accepted=$(wc -l <"$T/want")
is "$(sort -u "$T/got" | comm -23 "$T/want" -)" "" "every one of the $accepted accepted messages is on the new server"
is "$(uniq -d "$T/got")" "" "and none of them twice"

# The IMAP state of every message from the old server, identical here.
old_dovecot 2
wait_for test -S "$LAB_RUN/dovecot-base/auth-userdb"
fields='mailbox uid guid flags date.received size.physical'
snap() { "$@" -f tab fetch -u ann@example.org "$fields" ALL 2>/dev/null | tail -n +2 | sed 's/ *\\Recent//' | sort; }
saved() { "$@" -f tab fetch -u ann@example.org 'guid date.saved' ALL 2>/dev/null | tail -n +2 | sort | join - "$T/pre.guids"; }
snap lab_doveadm >"$T/old.snap"
snap doveadm -c "$new/dovecot.conf" >"$T/new.snap"
ok "$([ "$(wc -l <"$T/old.snap")" -ge 10 ] && echo 0 || echo 1)" "the old server holds $(wc -l <"$T/old.snap") messages, most delivered by its Postfix over LMTP"
is "$(comm -23 "$T/old.snap" "$T/new.snap")" "" "each has the same mailbox, UID, GUID, flags, received date and size here"
saved lab_doveadm >"$T/old.saved"
saved doveadm -c "$new/dovecot.conf" >"$T/new.saved"
ok "$([ "$(wc -l <"$T/old.saved")" -ge 5 ] && echo 0 || echo 1)" "$(wc -l <"$T/old.saved") messages were there before the cutover"
is "$(comm -23 "$T/old.saved" "$T/new.saved")" "" "and each of them has the same save date here"

# mbsync, pointed at the new server, continues: nothing downloaded twice.
mbconf 127.0.0.1 "$NEW_IMAP"
timeout 60 mbsync -c "$T/mb/rc" -a >"$T/mb2.out" 2>&1
ok $? "mbsync continues against the new server"
[ -s "$T/mb2.out" ] && diag "$(head -5 "$T/mb2.out")"
mb_ids=$(grep -rh '^Message-ID:' "$T/mb/Mail" | sort)
is "$(printf '%s\n' "$mb_ids" | uniq -d)" "" "no message downloaded twice (Message-IDs unique in its Maildirs)"
is "$(printf '%s\n' "$mb_ids" | grep -c .)" "$(doveadm -c "$new/dovecot.conf" fetch -u ann@example.org hdr.message-id ALL 2>/dev/null | grep -c '^hdr.message-id: <')" \
	"and it holds every message of the new server ($mb_before before)"
# finish: the final backup of the old server, written here and read back.
run_mm finish "${mm_old[@]}" --to "$new" --only "$LAB_IN/vmail" --only /etc/dovecot \
	--db-socket "$LAB_IN/mysqld.sock" --archive "$T/final.tar.gz"
is "$rc" 0 "finish: the final backup of the old server"
[ "$rc" = 0 ] || diag "$err"
is "$(tar -tzf "$T/final.tar.gz" 2>/dev/null | grep -c "^old-server$LAB_IN/vmail/example.org/ann/Maildir/.*/[0-9]")" \
	"$(find "$LAB_RUN/vmail/example.org/ann/Maildir" -path '*/cur/*' -o -path '*/new/*' | grep -c .)" \
	"the archive holds every message file of the old server"
like "$(tar -xzOf "$T/final.tar.gz" databases/all-databases.sql 2>/dev/null | grep -A1 'INSERT INTO .virtual_users')" 'ann@example.org' \
	"and its MariaDB's mailserver database"
diag "the whole test took $(( $(date +%s) - T0 )) s"
