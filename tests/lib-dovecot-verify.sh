# tests/lib-dovecot-verify.sh: a private Dovecot 2.3 for the verify tests.
#
#   dovecot_start NAME   config $T/NAME/dovecot.conf, homes
#                        $T/NAME/home/example.org/{alice,bob} (Maildir++ in
#                        ~/Maildir), users in a passwd-file, all mail owned by
#                        uid/gid 65534 (root may not access mail); the
#                        Dovecot master runs with no protocols at all, only so
#                        that doveadm -u finds its auth service, and is
#                        stopped by the pid the test started.
#   dva NAME ARGS...     doveadm -c $T/NAME/dovecot.conf ARGS...
#
# doveadm's mail commands look users up through the auth service
# (auth-userdb socket), so a Dovecot master must run; base_dir and
# state_dir under $T keep it away from the system's Dovecot.

dovecot_start() {
	local name=$1 d="$T/$1" u
	mkdir -p "$d/run" "$d/home/example.org"
	: >"$d/users"
	for u in alice bob; do
		mkdir -p "$d/home/example.org/$u"
		printf '%s@example.org::65534:65534::%s::\n' "$u" "$d/home/example.org/$u" >>"$d/users"
	done
	chown -R 65534:65534 "$d/home"
	cat >"$d/dovecot.conf" <<CONF
$(dovecot_conf_head)
base_dir = $d/run
state_dir = $d/run
log_path = $d/dovecot.log
instance_name = mm-$name-$$
protocols =
ssl = no
$(dovecot_conf_maildir '~/Maildir')
$(dovecot_conf_nopassword)
$(dovecot_conf_passwd_file userdb "$d/users")
CONF
	start_bg "dovecot-$name" dovecot -F -c "$d/dovecot.conf"
	wait_for test -S "$d/run/auth-userdb"
}

dva() { local name=$1; shift; doveadm -c "$T/$name/dovecot.conf" "$@"; }
