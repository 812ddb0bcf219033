#!/bin/bash
# mailmove sync over ssh (a real sshd on loopback, rsync's HOST:/path form)
# and against a lying agent: exit 3 and nothing written outside the
# destination.
. "$(dirname "$0")/../lib.sh"
evil="$TOP/$B/evil-agent"
[ -x "$evil" ] || { give_up "$evil not built (make helpers)"; }
modes="slash dotdot nul empty parent fileparent longname kind otherid oversize unknown truncated shortrec die garbage version caps"
plan $(( $(echo $modes | wc -w) + 1 + 6 ))

# The lying agent.
mkdir -p "$T/old/var/vmail/d/u/Maildir/cur" "$T/dest" "$T/watch"
touch "$T/watch/.stamp"
sleep 0.01
for m in $modes; do
	EVIL_MODE=$m MAILMOVE_AGENT_BINARY=$evil run_mm sync --from "$T/old" --to "$T/dest" --chown 0:0
	is "$rc" 3 "$m: exits 3"
done
changed=$(find "$T" -newer "$T/watch/.stamp" -not -path "$T/.stderr" -not -path "$T/dest" -not -path "$T/dest/*" -not -path "$T/watch*" -not -path "$T/locks" -not -path "$T/locks/*" -not -path "$T" | head -5)
is "$changed" "" "nothing was written outside the destination"

# Over ssh.
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || { for i in 1 2 3 4 5 6; do ok 0 "# SKIP no sshd"; done; exit 0; }
start_sshd || { give_up "sshd did not start"; }
src="$T/srv/vmail"
M="$src/example.org/u/Maildir"
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Sent/cur" "$M/.Sent/new" "$M/.Sent/tmp" "$T/new/etc"
printf 'root:x:0:0::/root:/bin/sh\n' >"$T/new/etc/passwd"; printf 'root:x:0:\n' >"$T/new/etc/group"
for i in 1 2 3; do head -c $((i * 70000)) /dev/urandom >"$M/cur/170000000$i.M${i}P1.old,S=1:2,S"; done
ln "$M/cur/1700000001.M1P1.old,S=1:2,S" "$M/.Sent/cur/1700000001.M1P1.old,S=1:2,S"
printf '3 V1 N4\n1 :1700000001.M1P1.old,S=1\n' >"$M/dovecot-uidlist"
run_mm sync --rsh "$RSH" --to "$T/new" "root@127.0.0.1:$SSH_PORT:$src/" /var/vmail/
is "$rc" 0 "sync root@host:port:/path/ /var/vmail/ over ssh exits 0"
is "$(cd "$src" && find . -type f -printf '%p %s %T@ %n\n' | sort | md5sum)" \
   "$(cd "$T/new/var/vmail" && find . -type f -printf '%p %s %T@ %n\n' | sort | md5sum)" "the tree arrived: names, sizes, mtimes, hard links"
ok "$(cmp -s "$M/cur/1700000003.M3P1.old,S=1:2,S" "$T/new/var/vmail/example.org/u/Maildir/cur/1700000003.M3P1.old,S=1:2,S" && echo 0)" "content is the same"
mv "$M/cur/1700000002.M2P1.old,S=1:2,S" "$M/cur/1700000002.M2P1.old,S=1:2,RS"
run_mm sync --rsh "$RSH" --to "$T/new" --from "root@127.0.0.1:$SSH_PORT" --json "$src" /var/vmail
is "$rc" 0 "resync over ssh exits 0"
like "$out" '"renamed":1' "the flag change is a rename"
like "$out" '"copied":0,.*"bytes":0' "no message bytes sent for it"
