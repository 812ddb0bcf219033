# tests/lib-dns.sh: the real services the dns, queue and softbounce tests
# run against, private to $T and stopped by the pid they started.
#
#   start_nsd ZONE...        nsd on 127.0.0.1:$NSD_PORT serving $T/nsd/ZONE.zone
#   reload_nsd ZONE SERIAL   make nsd read the zone files again (SIGHUP)
#   stop_nsd
#   start_postfix            a Postfix instance in $T/pf (config $PF_CONF,
#                            smtpd on 127.0.0.1:$PF_SMTP, relayhost a
#                            closed port, log in $PF_LOG)
#   stop_postfix
#   smtp_send FROM RCPT...   one SMTP dialog with the instance's smtpd

# start_nsd ZONE...: the zone files must be written to $T/nsd/ZONE.zone
# first.  nsd runs in the foreground (-d), as root, without chroot.
start_nsd() {
	local z
	mkdir -p "$T/nsd"
	NSD_PORT=$(free_port)
	{
		echo "server:"
		echo "  ip-address: 127.0.0.1@$NSD_PORT"
		echo "  port: $NSD_PORT"
		echo "  do-ip6: no"
		echo '  username: ""'
		echo '  chroot: ""'
		echo "  zonesdir: \"$T/nsd\""
		echo "  pidfile: \"$T/nsd/nsd.pid\""
		echo '  database: ""'
		echo "  zonelistfile: \"$T/nsd/zone.list\""
		echo "  xfrdfile: \"$T/nsd/xfrd.state\""
		echo "  xfrdir: \"$T/nsd\""
		echo "  logfile: \"$T/nsd/nsd.log\""
		echo "  server-count: 1"
		echo "  verbosity: 1"
		echo "remote-control:"
		echo "  control-enable: no"
		for z in "$@"; do
			echo "zone:"
			echo "  name: $z"
			echo "  zonefile: $z.zone"
		done
	} >"$T/nsd/nsd.conf"
	start_bg nsd nsd -d -c "$T/nsd/nsd.conf"
	wait_for sh -c "drill -p $NSD_PORT @127.0.0.1 $1 SOA | grep -q 'rcode: NOERROR'"
}

# stop_nsd: TERM to the pid we started (the first word of start_bg's pid
# file), KILL after 10 s.  nsd renames that process ("nsd: xfrd"), so this
# does not rely on anything but the pid.
stop_nsd() {
	local pid i
	[ -f "$T/.pid.nsd" ] || return 0
	read -r pid _ <"$T/.pid.nsd"
	rm -f "$T/.pid.nsd"
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	return 0
}

# reload_nsd: SIGHUP to the pid we started; waits until the zone's new
# SOA serial ($2) is served for zone $1.
reload_nsd() {
	local pid
	# The first word of start_bg's pid file is the pid.
	read -r pid _ <"$T/.pid.nsd" && kill -HUP "$pid"
	wait_for sh -c "drill -p $NSD_PORT @127.0.0.1 $1 SOA | grep -q 'SOA.* $2 '"
}

# A private Postfix: own config, queue and data directories under $T/pf,
# no chroot, smtpd on a free loopback port, every relay to a port where
# nothing listens (so mail stays deferred), the log in a file.
start_postfix() {
	local d="$T/pf"
	mkdir -p "$d/etc" "$d/spool" "$d/data"
	chown postfix "$d/data"
	PF_CONF="$d/etc"
	PF_LOG="$d/maillog"
	PF_SMTP=$(free_port)
	PF_CLOSED=$(free_port)
	cat >"$d/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mmtest.invalid
mydomain = invalid
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:$PF_CLOSED
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = check_recipient_access inline:{ {gone.example = 550 no such user here} }, permit_mynetworks, reject
maillog_file = $PF_LOG
maillog_file_prefixes = $d
syslog_name = postfix-mmtest
soft_bounce = no
smtp_connect_timeout = 2s
alias_maps =
alias_database =
CF
	cat >"$d/etc/master.cf" <<CF
127.0.0.1:$PF_SMTP inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
	postfix -c "$PF_CONF" start >"$T/pf.start.out" 2>&1 || {
		cat "$T/pf.start.out" "$PF_LOG" 2>/dev/null | sed 's/^/# /'
		return 1
	}
	wait_for test -s "$d/spool/pid/master.pid" || return 1
	adopt_pid postfix "$(tr -d ' ' <"$d/spool/pid/master.pid")"
	wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$PF_SMTP"
}

stop_postfix() {
	postfix -c "$PF_CONF" stop >/dev/null 2>&1
	stop_bg postfix
}

# smtp_send FROM RCPT...: one SMTP dialog, waiting for each reply; prints
# the server's replies.  Recipients that are refused are simply refused.
smtp_send() {
	local from=$1 r line
	shift
	exec 3<>"/dev/tcp/127.0.0.1/$PF_SMTP" || return 1
	_smtp_reply() {
		while IFS= read -r -t 10 line <&3; do
			printf '%s\n' "$line"
			case "$line" in [0-9][0-9][0-9]-*) ;; *) return 0 ;; esac
		done
		return 1
	}
	local line
	_smtp_reply
	printf 'EHLO client.invalid\r\n' >&3; _smtp_reply
	printf 'MAIL FROM:<%s>\r\n' "$from" >&3; _smtp_reply
	for r in "$@"; do
		printf 'RCPT TO:<%s>\r\n' "$r" >&3; _smtp_reply
	done
	printf 'DATA\r\n' >&3; _smtp_reply
	case "$line" in
	354*)
		printf 'From: <%s>\r\nSubject: mailmove test\r\n\r\nhello\r\n.\r\n' "$from" >&3
		_smtp_reply ;;
	esac
	printf 'QUIT\r\n' >&3; _smtp_reply
	exec 3>&-
}
