#!/bin/bash
# The lab: a real Debian 11 old server (its own sshd and Dovecot 2.3.13,
# chrooted in a network namespace behind a veth pair).  The agent uploads
# itself with bullseye's shell and coreutils, runs there, lists and reads the
# Maildirs its Dovecot wrote, and runs its doveadm.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lab.sh"
command -v debootstrap >/dev/null 2>&1 || skip_all "debootstrap missing"
command -v ip >/dev/null 2>&1 || skip_all "iproute2 missing"
trap 'lab_stop; _cleanup' EXIT

# A machine that cannot run the lab says so in seconds; the other test
# files still run.
lab_preflight || skip_all "no lab on this machine: $LAB_ERR"
# Building the root needs Debian's archive; without it there is no lab.
"$TOP/scripts/lab-root" bullseye >/dev/null || skip_all "cannot build the Debian 11 root (debootstrap failed)"
if ! lab_start; then
	plan 1
	ok 1 "the Debian 11 lab starts"
	diag "$LAB_ERR"
	exit 1
fi
plan 13

run_mm exec --from "$LAB_FROM" --rsh "$LAB_RSH" cat /etc/debian_version
like "$out" '^11\.' "the old server is Debian 11 (its own /etc/debian_version)"
like "$err" 'uploading the agent' "the agent uploaded itself to Debian 11"
ok "$(ls "$LAB_RUN"/cache/mailmove/agent-* >/dev/null 2>&1 && echo 0 || echo 1)" \
	"into the cache on the old server"

for i in 1 2 3; do
	printf 'From: a@example.net\r\nSubject: lab %s\r\n\r\nbody %s\r\n' "$i" "$i" |
		lab_doveadm save -u ann@example.org
done
lab_doveadm mailbox create -u ann@example.org 'Entwürfe'
printf 'Subject: draft\r\n\r\nx\r\n' | lab_doveadm save -u ann@example.org -m 'Entwürfe'
lab_doveadm flags add -u ann@example.org '\Seen $Label1' mailbox INBOX uid 2

run_mm check --from "$LAB_FROM" --rsh "$LAB_RSH" --json
like "$out" '"old_os":"Debian GNU/Linux 11 \(bullseye\)"' "check names the old system"

run_mm ls --from "$LAB_FROM" --rsh "$LAB_RSH" -R "$LAB_IN/vmail/example.org/ann/Maildir"
is "$(printf '%s\n' "$out" | grep -cE '^(\.[^/]+/)?(cur|new)/.')" 4 "the four messages Dovecot 2.3.13 wrote are listed"
like "$out" '\.Entw&APw-rfe/' "the folder name is in modified UTF-7"

file=$(printf '%s\n' "$out" | grep -E '^(cur|new)/.' | head -1)
"$MM" cat --from "$LAB_FROM" --rsh "$LAB_RSH" "$LAB_IN/vmail/example.org/ann/Maildir/$file" >"$T/msg" 2>/dev/null
ok_run "a message is read byte for byte" cmp -s "$T/msg" "$LAB_RUN/vmail/example.org/ann/Maildir/$file"

run_mm exec --from "$LAB_FROM" --rsh "$LAB_RSH" doveadm -c "$LAB_IN/dovecot.conf" fetch -u ann@example.org 'uid flags' mailbox INBOX uid 2
like "$out" 'flags: .*\\Seen' "the old server's doveadm runs through the agent"
like "$out" '\$Label1' "and shows the keyword set there"

# The migration itself: Debian 11's Dovecot wrote this mail; this host's
# Dovecot must see the same mailboxes, UIDs, GUIDs, flags, dates and sizes.
new="$T/new"
mkdir -p "$new/var/vmail" "$new/run" "$new/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$new/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$new/etc/group"
chown 65534:65534 "$new/var/vmail"
cat >"$new/dovecot.conf" <<CONF
$(dovecot_conf_head)
protocols =
ssl = no
$(dovecot_conf_maildir '~/Maildir')
base_dir = $new/run
state_dir = $new/run
log_path = $new/dovecot.log
instance_name = mm-lab-new
$(dovecot_conf_static_userdb 65534 65534 "$new/var/vmail/%d/%n")
$(dovecot_conf_nopassword)
CONF
start_bg new-dovecot dovecot -F -c "$new/dovecot.conf"
wait_for test -S "$new/run/auth-userdb"

run_mm sync --from "$LAB_FROM" --rsh "$LAB_RSH" --to "$new" --state "$T/lab.state" "$LAB_IN/vmail/" /var/vmail/
is "$rc" 0 "sync from the Debian 11 server over ssh exits 0"
fields='mailbox uid guid flags date.received size.physical'
old_view=$(for m in INBOX 'Entwürfe'; do lab_doveadm fetch -u ann@example.org "$fields" mailbox "$m"; done 2>&1)
new_view=$(for m in INBOX 'Entwürfe'; do doveadm -c "$new/dovecot.conf" fetch -u ann@example.org "$fields" mailbox "$m"; done 2>&1)
is "$new_view" "$old_view" "Dovecot here sees what Dovecot 2.3.13 there wrote: mailboxes, UIDs, GUIDs, flags, dates, sizes"
like "$new_view" 'Entw' "including the folder with a non-ASCII name"
run_mm verify --from "$LAB_FROM" --rsh "$LAB_RSH" --to "$new" --content "$LAB_IN/vmail/" /var/vmail/
is "$rc" 0 "verify --content over ssh finds no difference"
