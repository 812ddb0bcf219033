# tests/lib-stop-attack.sh: two real Dovecots for the attacks on the
# cutover's `stop` step (tests/t/096N-attack-stop-*.sh); source after lib.sh
# and lib-dovecot-verify.sh.
#
# Each Dovecot gets an instance_name of its own test run (mmhPID-src,
# mmhPID-dst): several test files run at once on one machine, and the stop
# step finds a dead master's imap processes by their title, so a shared
# name would let one test's cutover end another test's processes.
#
#   sa_setup [pop3]        old Dovecot ($T/src) serving IMAP on $OIMAP (and
#                          POP3 on $OPOP3), new one ($T/dst) on $NIMAP, three
#                          messages for alice on the old one
#   sa_start_old / sa_start_new   (re)start them (start_bg, -F)
#   sa_client LOG TAG [reconnect]  python IMAP client appending without
#                          pause, each OK'd Message-ID a line of LOG; sets
#                          $CPID.  With reconnect: a new login per APPEND.
#   sa_wait_appends LOG N  wait (20 s at most) for N OK'd APPENDs
#   sa_cut [--dry-run] OLDSTOP [extra args]  the cutover, bounded by
#                          $SA_TIMEOUT (default 50 s); sets $out $err $rc
#   sa_bg_cut STOPCMD      the same in the background; sets $mmpid
#   sa_kill_controller     kill -9 of that cutover; sets $c and $kids
#   $SA_GOOD               a stop command that stops the old Dovecot
#   sa_ids NAME            alice's INBOX Message-IDs there, sorted (doveadm)
#   sa_check_none_lost LOG  "ok" lines: every OK'd APPEND on the new server
#                          exactly once
#   sa_imap_pids           pids of the old Dovecot's imap/pop3 processes
#   sa_old_master          the old master's pid from its master.pid
#   sa_stop_client         stop $CPID

SA_ID="mmh$$"
SA_TIMEOUT=${SA_TIMEOUT:-50}
SA_GOOD="sh -c 'doveadm -c $T/src/dovecot.conf stop 2>/dev/null; true'"

_sa_instance() { # NAME: give $T/NAME's Dovecot a name of this run
	sed -i "s/^instance_name = .*/instance_name = $SA_ID-$1/" "$T/$1/dovecot.conf"
}

sa_start_old() {
	start_bg dovecot-src dovecot -F -c "$T/src/dovecot.conf"
	wait_for -t 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$OIMAP"
}

sa_start_new() {
	# A new scenario: the next cutover is a whole one, not a rerun.
	rm -f "$T/dst/var/lib/mailmove/cutover-served"
	start_bg dovecot-dst dovecot -F -c "$T/dst/dovecot.conf"
	wait_for -t 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NIMAP"
}

sa_setup() {
	local i proto=imap
	[ "${1:-}" = pop3 ] && proto="imap pop3"
	dovecot_start src
	dovecot_start dst
	stop_bg dovecot-src
	stop_bg dovecot-dst
	_sa_instance src
	_sa_instance dst
	rm -rf "$T/dst/home/example.org/"*/Maildir
	OIMAP=$(free_port)
	sed -i "s/^protocols =.*/protocols = $proto/" "$T/src/dovecot.conf"
	dovecot_conf_imap_listener "$OIMAP" 127.0.0.1 >>"$T/src/dovecot.conf"
	printf 'disable_plaintext_auth = no\n' >>"$T/src/dovecot.conf"
	if [ "${1:-}" = pop3 ]; then
		OPOP3=$(free_port)
		printf 'service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = %s\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}\npop3_uidl_format = %%08Xu%%08Xv\n' \
			"$OPOP3" >>"$T/src/dovecot.conf"
	fi
	NIMAP=$(free_port)
	while [ "$NIMAP" = "$OIMAP" ] || [ "$NIMAP" = "${OPOP3:-}" ]; do NIMAP=$(free_port); done
	sed -i 's/^protocols =.*/protocols = imap/' "$T/dst/dovecot.conf"
	dovecot_conf_imap_listener "$NIMAP" 127.0.0.1 >>"$T/dst/dovecot.conf"
	sa_start_old || give_up "the old Dovecot does not answer IMAP"
	sa_start_new || give_up "the new Dovecot does not answer IMAP"
	for i in 1 2 3; do
		printf 'Subject: m%s\r\nMessage-ID: <m%s@x>\r\n\r\nbody\r\n' "$i" "$i" |
			dva src save -u alice@example.org
	done
	printf 'any\n' >"$T/pw"
	chmod 600 "$T/pw"
	mkdir -p "$T/pf"
	printf 'compatibility_level = 3.6\nsoft_bounce = no\n' >"$T/pf/main.cf"
	: >"$T/pf/master.cf"
	cat >"$T/client.py" <<'PY'
import imaplib, sys, time
port, log, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
reconnect = len(sys.argv) > 4 and sys.argv[4] == 'reconnect'
deadline = time.time() + 120
n = 0
def login():
    m = imaplib.IMAP4('127.0.0.1', port)
    m.login('alice@example.org', 'x')
    return m
with open(log, 'a', buffering=1) as f:
    m = None
    while time.time() < deadline:
        try:
            if m is None:
                m = login()
            n += 1
            mid = '<%s-%d@client>' % (tag, n)
            msg = ('Subject: c%d\r\nMessage-ID: %s\r\n\r\nbody\r\n' % (n, mid)).encode()
            typ, _ = m.append('INBOX', None, None, msg)
            if typ == 'OK':
                f.write(mid + '\n')
            if reconnect:
                try:
                    m.logout()
                except Exception:
                    pass
                m = None
            time.sleep(0.01)
        except Exception as e:
            f.write('# %s\n' % e)
            if not reconnect:
                break
            m = None
            time.sleep(0.05)
PY
}

sa_client() {
	python3 "$T/client.py" "$OIMAP" "$1" "$2" "${3:-}" &
	CPID=$!
}

sa_wait_appends() {
	wait_for -t 20 bash -c "[ \$(grep -c '^<' $1 2>/dev/null) -ge $2 ]"
}

sa_stop_client() {
	[ -n "${CPID:-}" ] || return 0
	kill "$CPID" 2>/dev/null
	wait "$CPID" 2>/dev/null
	CPID=
}

# The cutover's options for the stop command STOPCMD, in SA_ARGV.
_sa_argv() {
	SA_ARGV=(--from "$T/src" --to "$T/dst" --state "$T/sync.state" --yes --json
		--imap "127.0.0.1:$NIMAP" --login alice@example.org --password-file "$T/pw"
		--old-stop "$1" --old-doveadm-config "$T/src/dovecot.conf"
		--new-stop "sh -c 'doveadm -c $T/dst/dovecot.conf stop 2>/dev/null; true'"
		--new-start "dovecot -c $T/dst/dovecot.conf" --postfix-start true
		--resync "doveadm -c $T/dst/dovecot.conf force-resync -A *"
		--postfix-config "$T/pf" --switch-state "$T/switch.sqlite")
}

sa_cut() {
	local dry=()
	if [ "$1" = --dry-run ]; then dry=(--dry-run); shift; fi
	_sa_argv "$1"; shift
	out=$(timeout -k 5 "$SA_TIMEOUT" "$MM" cutover "${dry[@]}" "${SA_ARGV[@]}" "$@" \
		/home/ /home/ 2>"$T/.stderr")
	rc=$?
	err=$(cat "$T/.stderr")
	sa_adopt_new
}

# The new Dovecot daemonized by --new-start: stopped by its pid at the end.
sa_adopt_new() {
	local np
	np=$(cat "$T/dst/run/master.pid" 2>/dev/null)
	[ -n "$np" ] && kill -0 "$np" 2>/dev/null && adopt_pid "dovecot-dst-new-$np" "$np"
	return 0
}

# sa_bg_cut STOPCMD: the cutover in the background (60 s at most), its
# output in $T/bg.out and $T/bg.err; $mmpid is timeout's pid.
sa_bg_cut() {
	_sa_argv "$1"
	timeout -k 5 60 "$MM" cutover "${SA_ARGV[@]}" /home/ /home/ \
		>"$T/bg.out" 2>"$T/bg.err" &
	mmpid=$!
}

# sa_kill_controller: kill -9 of the mailmove process of sa_bg_cut (timeout's
# child), by pid; $c is its pid, $kids its children's.
sa_kill_controller() {
	c=$(ps -o pid= --ppid "$mmpid" | head -1 | tr -d " ")
	kids=$(ps -o pid= --ppid "${c:-0}")
	[ -n "$c" ] && kill -9 "$c" || return 1
	wait "$mmpid" 2>/dev/null
	return 0
}

sa_ids() {
	dva "$1" fetch -u alice@example.org hdr.message-id mailbox INBOX ALL 2>/dev/null |
		sed -n 's/^hdr.message-id: *//p' | sort
}

# Every Message-ID in LOG (OK'd) on the new server, none twice there.
sa_check_none_lost() {
	local log=$1 want have missing dups
	want=$(grep '^<' "$log" | sort)
	have=$(sa_ids dst)
	missing=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have") | grep -c .)
	dups=$(printf '%s\n' "$have" | uniq -d | grep -c .)
	is "$missing" 0 "every APPEND the old Dovecot OK'd is on the new server ($(printf '%s\n' "$want" | grep -c .) OK'd)"
	[ "$missing" = 0 ] || diag "missing: $(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have") | head -5 | tr '\n' ' ')"
	is "$dups" 0 "and none of them twice"
}

sa_imap_pids() {
	ps -eo pid=,args= | awk -v p="dovecot-$SA_ID-src/" \
		'index($2, p) == 1 && ($2 == p "imap" || $2 == p "pop3") { print $1 }'
}

sa_old_master() { cat "$T/src/run/master.pid" 2>/dev/null; }

# The old Dovecot (started with -F by sa_start_old, or restarted by a stop
# command and daemonized): stopped by the pid in its master.pid.
sa_adopt_old() {
	local p
	p=$(sa_old_master)
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null && adopt_pid "dovecot-src-again-$p" "$p"
	return 0
}

# At the end: what this run's old Dovecot left (imap processes of its own
# instance name, found by title; a master a stop command started again) is
# ended by pid, SIGCONT first for a stopped one.
_sa_cleanup() {
	sa_stop_client
	sa_adopt_old
}
_sa_leftovers() { # every process titled dovecot-mmhPID-*: this run's
	local p
	for p in $(ps -eo pid=,args= | awk -v p="dovecot-$SA_ID-" 'index($2, p) == 1 { print $1 }'); do
		kill -CONT "$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
}
trap '_sa_cleanup; _cleanup; _sa_leftovers' EXIT

# Did the last cutover run its cold sync (the step is in --json's result)?
sa_cold_sync_ran() {
	printf '%s\n' "$out" | grep '"event": *"result"' | grep -q '"step": *"cold-sync"'
}
