# tests/lib.sh: TAP output, a private scratch directory, and services that
# the test starts itself and stops by the pid it started.  Sourced by every
# tests/t/NNNN-*.sh.
#
#   plan N | ok COND DESC | is GOT WANT DESC | like TEXT REGEX DESC
#   start_bg NAME CMD...   run CMD in the background, remember its pid
#   stop_bg NAME           stop it (TERM, then KILL) by that pid
#   free_port              a TCP port on 127.0.0.1 nobody listens on
#   kill9 PID              SIGKILL a background job and reap it, quietly
#   wait_for [-t SECS] CMD...  retry CMD for up to SECS (default 30) seconds
#                          in all, each try cut off at the deadline
#
# A test file that runs longer than $MM_TEST_TIMEOUT seconds (default 600)
# is stopped with a "not ok" saying so: nothing in `make check` hangs.
#   run_mm ARGS...         run ./mailmove; sets $out, $err, $rc

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MM="${MM_BINARY:-$TOP/mailmove}"
AGENT="$TOP/mailmove-agent"
B="${B:-build}"
export MAILMOVE_AGENT_BINARY="$AGENT"
export MAILMOVE_NO_PROGRESS=1
# No ssh master outliving a test (its sshd is gone by then); the one test of
# connection reuse sets its own and stops the master it made.
export MAILMOVE_SSH_PERSIST=${MAILMOVE_SSH_PERSIST:-0}

T=$(mktemp -d "${TMPDIR:-/tmp}/mm-test.XXXXXX")
export MAILMOVE_LOCK_DIR="$T/locks"
chmod 755 "$T"
# Some tests run mailmove as nobody; a clone in /root (mode 0700) is out of
# its reach, so those runs get copies of the two binaries in $T.
if [ -x "$MM" ] && command -v setpriv >/dev/null 2>&1 &&
   ! setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'test -x "$1" && test -r "$2"' - "$MM" "$AGENT" 2>/dev/null; then
	mkdir -p "$T/bin"
	cp "$MM" "$T/bin/mailmove" && cp "$AGENT" "$T/bin/mailmove-agent"
	MM="$T/bin/mailmove"
	AGENT="$T/bin/mailmove-agent"
	export MAILMOVE_AGENT_BINARY="$AGENT"
fi
_tap_n=0
_tap_fail=0
_tap_plan=""

_cleanup() {
	local f
	kill "$_watchdog_pid" 2>/dev/null
	for f in "$T"/.pid.*; do
		[ -e "$f" ] || continue
		stop_bg "${f##*/.pid.}"
	done
	if [ "$_tap_fail" = 0 ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$T"
	else
		echo "# scratch directory kept: $T"
	fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

plan() { _tap_plan=$1; echo "1..$1"; }
diag() { printf '# %s\n' "$@"; }

ok() {
	local cond=$1; shift
	_tap_n=$((_tap_n + 1))
	if [ "$cond" = 0 ] || [ "$cond" = true ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_fail=$((_tap_fail + 1))
	fi
}

# ok_run DESC CMD...: passes when CMD succeeds.
ok_run() {
	local desc=$1; shift
	if "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

is() {
	local got=$1 want=$2; shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		diag "got:  '$got'" "want: '$want'"
		[ -n "${err:-}" ] && diag "stderr of the last mailmove run:" "$(printf '%s' "$err" | head -10)"
	fi
}

like() {
	local text=$1 re=$2; shift 2
	if printf '%s' "$text" | grep -Eq -- "$re"; then
		ok 0 "$*"
	else
		ok 1 "$*"
		diag "no match for /$re/ in:" "$(printf '%s' "$text" | head -20)"
		[ -n "${err:-}" ] && diag "stderr of the last mailmove run:" "$(printf '%s' "$err" | head -10)"
	fi
	return 0
}

unlike() {
	local text=$1 re=$2; shift 2
	if printf '%s' "$text" | grep -Eq -- "$re"; then
		ok 1 "$*"
		diag "unexpected match for /$re/ in:" "$(printf '%s' "$text" | head -20)"
	else
		ok 0 "$*"
	fi
}

# give_up WHY: a step this file cannot go on without failed; one failing
# test point and the end of this file only (a "Bail out!" would cancel
# every later test file of the run).
give_up() { ok 1 "$*"; exit 1; }

skip_all() { echo "1..0 # SKIP $*"; exit 0; }

run_mm() {
	out=$("$MM" "$@" 2>"$T/.stderr")
	rc=$?
	err=$(cat "$T/.stderr")
}

# A pid and its start time (field 22 of /proc/PID/stat): with pids reused
# quickly, a pid alone may name somebody else's process by the time we stop
# ours, so stop_bg signals only a process that started when ours did.
_pid_start() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }	# the name may hold spaces and parentheses
	set -- $s
	echo "${20}"
}

start_bg() {
	local name=$1; shift
	"$@" >"$T/$name.out" 2>&1 &
	echo "$! $(_pid_start $!)" >"$T/.pid.$name"
}

# Is PID still the process that started at START?
_same_proc() { [ -n "$2" ] && [ "$(_pid_start "$1")" = "$2" ]; }

stop_bg() {
	local name=$1 pid start i
	[ -f "$T/.pid.$name" ] || return 0
	read -r pid start <"$T/.pid.$name"
	rm -f "$T/.pid.$name"
	_same_proc "$pid" "$start" || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		_same_proc "$pid" "$start" || break
		sleep 0.1
	done
	_same_proc "$pid" "$start" && kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# kill9 PID: SIGKILL a background job of this shell and reap it, without
# bash's "line N: PID Killed ..." notice (printed to the shell's stderr when
# the job dies before `wait` runs, so stderr is /dev/null for the while).
kill9() {
	local e
	exec {e}>&2 2>/dev/null
	kill -9 "$1"
	wait "$1"
	exec 2>&$e {e}>&-
}

# The pid of a service that daemonized itself: remembered like start_bg's.
adopt_pid() { echo "$2 $(_pid_start "$2")" >"$T/.pid.$1"; }

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

wait_for() {
	local secs=30 end left
	if [ "$1" = -t ]; then secs=$2; shift 2; fi
	end=$((SECONDS + secs))
	while :; do
		left=$((end - SECONDS))
		[ "$left" -gt 0 ] || return 1
		if [ "$(type -t "$1")" = file ]; then
			timeout -k 1 "$left" "$@" >/dev/null 2>&1 && return 0
		else
			"$@" >/dev/null 2>&1 && return 0
		fi
		sleep 0.1
	done
}

# The watchdog: after MM_TEST_TIMEOUT seconds it says so in TAP, stops the
# test's own children by pid, then the test (whose EXIT trap cleans up).
_watchdog() {
	local s p
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$1" &
	s=$!
	wait "$s"
	echo "not ok - ${0##*/} did not finish in $1 s (MM_TEST_TIMEOUT); stopped"
	for p in $(ps -o pid= --ppid "$2" 2>/dev/null); do
		[ "$p" = "$BASHPID" ] || kill "$p" 2>/dev/null
	done
	kill -TERM "$2" 2>/dev/null
}
_watchdog "${MM_TEST_TIMEOUT:-600}" $$ &
_watchdog_pid=$!

# start_sshd: an sshd on 127.0.0.1:$SSH_PORT that lets root in with a
# throwaway key.  Sets $SSH_PORT and $RSH (the --rsh value to reach it).
# The agent cache goes to $T/cache through XDG_CACHE_HOME.
start_sshd() {
	local sshd
	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	[ -x "$sshd" ] || return 1
	mkdir -p /run/sshd "$T/ssh" "$T/cache"
	chmod 700 "$T/ssh"
	ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/user_key" || return 1
	cp "$T/ssh/user_key.pub" "$T/ssh/authorized_keys"
	SSH_PORT=$(free_port)
	cat >"$T/ssh/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile $T/ssh/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv XDG_CACHE_HOME
LogLevel ${SSHD_LOGLEVEL:-ERROR}
CONF
	start_bg sshd "$sshd" -D -e -f "$T/ssh/sshd_config"
	RSH="ssh -i $T/ssh/user_key -o UserKnownHostsFile=$T/ssh/known_hosts -o StrictHostKeyChecking=no -o BatchMode=yes -o SetEnv=XDG_CACHE_HOME=$T/cache -o LogLevel=ERROR"
	wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT"
}

# Dovecot's configuration language changed in 2.4 (Debian 13); the tests'
# private Dovecots write theirs with these, in the installed version's form.
#   dovecot_24                 true when the installed Dovecot is 2.4 or later
#   dovecot_conf_head          the first lines (2.4 wants its version first)
#   dovecot_conf_maildir PATH  Maildir++ in PATH (e.g. ~/Maildir)
#   dovecot_conf_passwd_file passdb|userdb FILE
#   dovecot_conf_nopassword    a passdb that lets every user in
#   dovecot_conf_static_userdb UID GID HOME   HOME in 2.3's %d/%n notation
#   dovecot_userdb_fs          the passwd-file extra field for LAYOUT=fs
#   dovecot_conf_imap_listener PORT [ADDR]  IMAP on PORT (ADDR), no imaps
#   dovecot_conf_cleartext     plaintext logins allowed (no TLS in tests)
dovecot_24() {
	if [ -z "${_dovecot_ver:-}" ]; then
		_dovecot_ver=$(dovecot --version 2>/dev/null | cut -d' ' -f1)
		_dovecot_ver=${_dovecot_ver%%-*}
	fi
	case $_dovecot_ver in
	2.[0-3].*|1.*|'') return 1 ;;
	*) return 0 ;;
	esac
}
dovecot_conf_head() {
	if dovecot_24; then
		printf 'dovecot_config_version = %s\ndovecot_storage_version = %s\n' \
			"$_dovecot_ver" "$_dovecot_ver"
	fi
}
dovecot_conf_maildir() {
	if dovecot_24; then
		printf 'mail_driver = maildir\nmail_path = %s\n' "$1"
	else
		printf 'mail_location = maildir:%s\n' "$1"
	fi
}
dovecot_conf_passwd_file() {
	if dovecot_24; then
		printf '%s passwd-file {\n  passwd_file_path = %s\n}\n' "$1" "$2"
	else
		printf '%s {\n  driver = passwd-file\n  args = %s\n}\n' "$1" "$2"
	fi
}
dovecot_conf_nopassword() {
	if dovecot_24; then
		printf 'passdb static {\n  fields {\n    nopassword = yes\n  }\n}\n'
	else
		printf 'passdb {\n  driver = static\n  args = nopassword=y\n}\n'
	fi
}
dovecot_conf_static_userdb() {
	local home=$3
	if dovecot_24; then
		home=${home//%d/%\{user | domain\}}
		home=${home//%n/%\{user | username\}}
		printf 'userdb static {\n  fields {\n    uid = %s\n    gid = %s\n    home = %s\n  }\n}\n' "$1" "$2" "$home"
	else
		printf 'userdb {\n  driver = static\n  args = uid=%s gid=%s home=%s\n}\n' "$1" "$2" "$home"
	fi
}
dovecot_conf_imap_listener() {
	local key=address
	dovecot_24 && key=listen
	printf 'service imap-login {\n  inet_listener imap {\n'
	[ -n "${2:-}" ] && printf '    %s = %s\n' "$key" "$2"
	printf '    port = %s\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}\n' "$1"
}
dovecot_conf_cleartext() {
	if dovecot_24; then
		echo 'auth_allow_cleartext = yes'
	else
		echo 'disable_plaintext_auth = no'
	fi
}
dovecot_userdb_fs() {
	if dovecot_24; then
		echo 'userdb_mailbox_list_layout=fs'
	else
		echo 'userdb_mail=maildir:~/Maildir:LAYOUT=fs'
	fi
}
