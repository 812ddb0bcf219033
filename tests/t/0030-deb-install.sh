#!/bin/bash
# The Debian package: `make deb` builds it with dpkg-buildpackage, lintian
# finds no error, and `apt install ./mailmove_*.deb` installs it into a
# fresh root of the Debian release it was built on (Debian 12 here, 13 on a
# Debian 13 machine: its libraries are that release's), a copy of a
# debootstrapped minbase kept by scripts/lab-root, pulling its libraries
# from Debian's archive.  There the installed mailmove finds its installed
# agent and syncs a Maildir between two directories.
. "$(dirname "$0")/../lib.sh"
for c in debootstrap dpkg-buildpackage dh lintian; do
	command -v "$c" >/dev/null 2>&1 || skip_all "$c missing (make deps)"
done
suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
case $suite in
bookworm) rel="Debian 12" ;;
trixie) rel="Debian 13" ;;
*) skip_all "built on ${suite:-an unknown release}: no Debian 12 or 13 root to install into" ;;
esac
base=$("$TOP/scripts/lab-root" "$suite-base" 2>"$T/lab-root.err") ||
	skip_all "no $rel root: debootstrap failed ($(head -c 200 "$T/lab-root.err"))"
plan 14

R="$T/root"
umount_all() {
	local m
	for m in "$R/proc" "$R"; do
		mountpoint -q "$m" && umount "$m"
	done
	return 0
}
trap 'umount_all; _cleanup' EXIT

# 1. The package.
mkdir -p "$T/out"
make -s -C "$TOP" B="$T/build" DEB_OUT="$T/out" deb >"$T/deb.log" 2>&1
st=$?
is "$st" 0 "make deb builds the package, lintian finds no error"
deb=$(ls "$T"/out/mailmove_*.deb 2>/dev/null | head -1)
if [ "$st" != 0 ] || [ -z "$deb" ]; then
	diag "$(tail -20 "$T/deb.log")" "no package: nothing more to test"
	exit 1
fi
like "${deb##*/}" "^mailmove_[0-9][^_]*_$(dpkg --print-architecture)\.deb\$" "named mailmove_VERSION_ARCH.deb"
list=$(dpkg-deb -c "$deb" 2>&1 | awk '{ print $6 }')
like "$list" '^\./usr/bin/mailmove$' "the controller in /usr/bin"
like "$list" '^\./usr/lib/mailmove/mailmove-agent$' "the agent in /usr/lib/mailmove"
like "$list" '^\./usr/share/man/man1/mailmove\.1\.gz$' "the manual page"
like "$list" '^\./usr/share/bash-completion/completions/mailmove$' "bash completion"
info=$(dpkg-deb -I "$deb")
like "$info" 'Depends:.*libmariadb3.*libsqlite3' "the libraries as Depends"
like "$info" 'Suggests:.*dovecot-core.*postfix' "the servers it talks to as Suggests"

# 2. A fresh root: a copy of the cached one (overlay, else cp).
mkdir -p "$T/upper" "$T/work" "$R"
if ! mount -t overlay overlay -o "lowerdir=$base,upperdir=$T/upper,workdir=$T/work" "$R" 2>/dev/null; then
	rmdir "$R"
	cp -a "$base" "$R"
fi
mount -t proc proc "$R/proc"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
cp "$deb" "$R/tmp/"
in_root() { env -u MAILMOVE_AGENT_BINARY -u XDG_CACHE_HOME DEBIAN_FRONTEND=noninteractive chroot "$R" "$@"; }
in_root sh -c 'timeout 300 apt-get -qq update && cd /tmp && timeout 300 apt install -y ./mailmove_*.deb' >"$T/apt.log" 2>&1
st=$?
is "$st" 0 "apt install ./mailmove_*.deb installs it into a fresh $rel root"
if [ "$st" != 0 ]; then
	diag "$(tail -15 "$T/apt.log")" "not installed: nothing more to test"
	exit 1
fi

out=$(in_root mailmove --version 2>&1)
like "$out" '^mailmove [0-9]' "the installed mailmove runs: $out"

# 3. A sync between two directories with the installed binary and agent.
md="$R/srv/old/example.org/ann/Maildir"
mkdir -p "$md/cur" "$md/new" "$md/tmp" "$R/srv/new"
printf 'Subject: packaged\r\n\r\nhello\r\n' >"$md/cur/1700000001.M1P1.old,S=30:2,S"
printf 'Subject: second\r\n\r\nhi\r\n' >"$md/new/1700000002.M2P2.old,S=26"
out=$(in_root mailmove sync /srv/old/ /srv/new/ 2>&1)
st=$?
is "$st" 0 "mailmove sync /srv/old/ /srv/new/ exits 0 in the root"
[ "$st" = 0 ] || diag "$out"
ok_run "both messages arrived byte for byte" \
	diff -r "$R/srv/old/example.org/ann/Maildir/cur" "$R/srv/new/example.org/ann/Maildir/cur"
ok_run "the new/ one too" \
	cmp -s "$md/new/1700000002.M2P2.old,S=26" "$R/srv/new/example.org/ann/Maildir/new/1700000002.M2P2.old,S=26"

# The agent it ran was the installed one: without it the sync stops.
mv "$R/usr/lib/mailmove/mailmove-agent" "$R/agent.away"
out=$(in_root mailmove sync /srv/old/ /srv/new/ 2>&1)
like "$out" 'looked for /usr/lib/mailmove/mailmove-agent' "mailmove looks for its agent in /usr/lib/mailmove"
