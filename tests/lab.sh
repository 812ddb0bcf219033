# tests/lab.sh: the two-host lab.  The old server is a real Debian 11
# (bullseye) root built by scripts/lab-root, in its own network namespace
# joined to this host by a veth pair; its own sshd (OpenSSH 8.4) and
# Dovecot 2.3.13 run chrooted in it.  This host is the new server.
# Sourced after tests/lib.sh.
#
#   lab_preflight  can this machine run the lab at all?  Checks in seconds
#               that network namespaces work, including `ip netns exec`
#               remounting / (a chroot needs `mount --bind R R` for that);
#               else returns 1 with the reason in LAB_ERR
#   lab_start   (root: scripts/lab-root ${LAB_SUITE:-bullseye}) sets LAB (the
#               root), LAB_IP, LAB_RUN (private dir inside the root, also as
#               seen inside: $LAB_IN), LAB_FROM, LAB_RSH; returns 1 with the
#               reason in LAB_ERR, within seconds
#   lab_doveadm ARGS...   doveadm of the old server on its own config

lab_preflight() {
	local ns="mmpre$$" e
	if ! e=$(ip netns add "$ns" 2>&1); then
		LAB_ERR="cannot create a network namespace: $e"
		return 1
	fi
	e=$(timeout 10 ip netns exec "$ns" true 2>&1)
	local rc=$?
	ip netns del "$ns" 2>/dev/null
	if [ "$rc" != 0 ]; then
		LAB_ERR="\`ip netns exec\` does not work here (in a chroot, bind-mount its root onto itself first): ${e:-exit $rc}"
		return 1
	fi
	return 0
}

# lab_fail REASON: sets LAB_ERR, returns 1.
lab_fail() { LAB_ERR=$1; return 1; }

lab_start() {
	LAB=$("$TOP/scripts/lab-root" "${LAB_SUITE:-bullseye}") ||
		lab_fail "no Debian ${LAB_SUITE:-bullseye} root" || return 1
	local id=$$ n=$((RANDOM % 200 + 20))
	LAB_NS="mmlab$id"
	LAB_IP="10.231.$n.2"
	LAB_HOST_IP="10.231.$n.1"
	LAB_IN="/run/mm-lab-$id"
	LAB_RUN="$LAB$LAB_IN"
	mkdir -p "$LAB_RUN/cache" "$LAB/run/sshd" "$LAB/proc"
	chmod 711 "$LAB_RUN"
	mountpoint -q "$LAB/proc" || mount -t proc proc "$LAB/proc" ||
		lab_fail "cannot mount proc in $LAB" || return 1
	echo "$LAB/proc" >"$T/.lab-proc"
	ip netns add "$LAB_NS" || lab_fail "ip netns add $LAB_NS failed" || return 1
	echo "$LAB_NS" >"$T/.lab-ns"
	ip link add "mmva$id" type veth peer name "mmvb$id" ||
		lab_fail "cannot create a veth pair" || return 1
	ip link set "mmvb$id" netns "$LAB_NS"
	ip addr add "$LAB_HOST_IP/24" dev "mmva$id"
	ip link set "mmva$id" up
	ip netns exec "$LAB_NS" ip addr add "$LAB_IP/24" dev "mmvb$id"
	ip netns exec "$LAB_NS" ip link set "mmvb$id" up
	ip netns exec "$LAB_NS" ip link set lo up

	ssh-keygen -q -t ed25519 -N '' -f "$LAB_RUN/host_key" || lab_fail "ssh-keygen failed" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$T/lab_user_key" || lab_fail "ssh-keygen failed" || return 1
	cp "$T/lab_user_key.pub" "$LAB_RUN/authorized_keys"
	cat >"$LAB_RUN/sshd_config" <<CONF
Port 22
ListenAddress $LAB_IP
HostKey $LAB_IN/host_key
AuthorizedKeysFile $LAB_IN/authorized_keys
PidFile $LAB_IN/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
ChallengeResponseAuthentication no
UsePAM no
StrictModes no
AcceptEnv XDG_CACHE_HOME
LogLevel ERROR
CONF
	start_bg lab-sshd ip netns exec "$LAB_NS" chroot "$LAB" /usr/sbin/sshd -D -e -f "$LAB_IN/sshd_config"
	LAB_FROM="root@$LAB_IP"
	LAB_RSH="ssh -i $T/lab_user_key -o UserKnownHostsFile=$T/lab_known_hosts -o StrictHostKeyChecking=no -o BatchMode=yes -o SetEnv=XDG_CACHE_HOME=$LAB_IN/cache -o LogLevel=ERROR -o ConnectTimeout=10"

	mkdir -p "$LAB_RUN/vmail"
	chown 65534:65534 "$LAB_RUN/vmail"
	cat >"$LAB_RUN/dovecot.conf" <<CONF
protocols =
ssl = no
mail_location = maildir:$LAB_IN/vmail/%d/%n/Maildir
base_dir = $LAB_IN/dovecot-base
state_dir = $LAB_IN/dovecot-state
log_path = $LAB_IN/dovecot.log
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$LAB_IN/vmail/%d/%n
}
passdb {
  driver = static
  args = nopassword=y
}
CONF
	start_bg lab-dovecot chroot "$LAB" dovecot -F -c "$LAB_IN/dovecot.conf"
	wait_for -t 20 lab_up test -S "$LAB_RUN/dovecot-base/auth-userdb" ||
		lab_fail "the lab's Dovecot did not start in 20 s: $(lab_said lab-dovecot)" || return 1
	wait_for -t 20 lab_up bash -c "exec 3<>/dev/tcp/$LAB_IP/22" ||
		lab_fail "the lab's sshd did not answer on $LAB_IP:22 in 20 s: $(lab_said lab-sshd)" || return 1
}

# lab_up CMD...: CMD succeeds (within 3 s) while the lab's sshd and Dovecot
# are alive; never while one of them has died.
lab_up() {
	local n pid start
	for n in lab-sshd lab-dovecot; do
		read -r pid start <"$T/.pid.$n" 2>/dev/null || return 1
		_same_proc "$pid" "$start" || return 1
	done
	timeout 3 "$@"
}

# What a lab service printed, on one line.
lab_said() { tr '\n' ' ' <"$T/$1.out" 2>/dev/null | cut -c1-300; }

lab_doveadm() {
	chroot "$LAB" doveadm -c "$LAB_IN/dovecot.conf" "$@"
}

lab_stop() {
	stop_bg lab-sshd
	stop_bg lab-dovecot
	[ -f "$T/.lab-ns" ] && ip netns del "$(cat "$T/.lab-ns")" 2>/dev/null
	rm -f "$T/.lab-ns"
	if [ -f "$T/.lab-proc" ]; then
		umount "$(cat "$T/.lab-proc")" 2>/dev/null
		rm -f "$T/.lab-proc"
	fi
	[ -n "${LAB_RUN:-}" ] && rm -rf "$LAB_RUN"
	return 0
}
