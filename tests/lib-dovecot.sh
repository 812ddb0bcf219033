# tests/lib-dovecot.sh: a private Dovecot for sync tests (source it after
# lib.sh).  No listener at all: the daemon only serves doveadm's userdb
# lookups on sockets under $T.  Mail belongs to `nobody` (Dovecot refuses
# uid 0 for mail).
#
#   dc_start NAME VMAIL   write $T/dc-NAME.conf (homes VMAIL/DOMAIN/USER,
#                         users from $T/dc-NAME.users) and start it
#   dc NAME ARGS...       doveadm against that instance
#   dc_user NAME USER [EXTRA]  add a user (EXTRA: userdb fields, e.g.
#                         userdb_mail=maildir:~/Maildir:LAYOUT=fs)
#   dc_snapshot NAME USER every message (mailbox uid guid flags date size
#                         subject; \\Recent is per session, left out),
#                         the mailbox list, subscriptions and
#                         UIDVALIDITYs, sorted, one per line

dc_user() {
	local name=$1 user=$2 extra=${3:-}
	local dom=${user#*@} local_part=${user%@*}
	printf '%s::65534:65534::%s::%s\n' "$user" \
		"$(eval echo "\$DC_VMAIL_$name")/$dom/$local_part" "$extra" >>"$T/dc-$name.users"
}

dc_start() {
	local name=$1 vmail=$2 run
	run="$T/dc-$name"
	mkdir -p "$run/run" "$run/state" "$vmail"
	chown nobody:nogroup "$vmail"
	eval "DC_VMAIL_$name=\$vmail"
	: >"$T/dc-$name.users"
	cat >"$T/dc-$name.conf" <<CONF
$(dovecot_conf_head)
base_dir = $run/run
state_dir = $run/state
log_path = $run/log
protocols =
ssl = no
$(dovecot_conf_maildir '~/Maildir')
$(dovecot_conf_passwd_file passdb "$T/dc-$name.users")
$(dovecot_conf_passwd_file userdb "$T/dc-$name.users")
namespace inbox {
  inbox = yes
  separator = /
}
CONF
	dovecot -c "$T/dc-$name.conf" </dev/null >/dev/null 2>&1 || return 1
	wait_for test -s "$run/run/master.pid" || return 1
	wait_for test -S "$run/run/auth-userdb" || return 1
	adopt_pid "dovecot-$name" "$(cat "$run/run/master.pid")"
}

dc() {
	local name=$1; shift
	doveadm -c "$T/dc-$name.conf" "$@"
}

dc_snapshot() {
	local name=$1 user=$2
	dc "$name" -f tab fetch -u "$user" \
		'mailbox uid guid flags date.received size.physical hdr.subject' all |
		tail -n +2 | sed 's/^/msg\t/; s/ *\\Recent//' | sort
	dc "$name" mailbox list -u "$user" | sed 's/^/box\t/' | sort
	dc "$name" mailbox list -s -u "$user" | sed 's/^/sub\t/' | sort
	dc "$name" -f tab mailbox status -u "$user" uidvalidity '*' |
		tail -n +2 | sed 's/^/status\t/' | sort
}
