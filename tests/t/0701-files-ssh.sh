#!/bin/bash
# mailmove files over ssh: a real sshd on 127.0.0.1, the old tree at a
# path of its own (PATH operands), the copy under --to with links, modes
# and content right, the checks passing, and a rerun that changes nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-files.sh"
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || skip_all "no sshd"
command -v openssl >/dev/null || skip_all "no openssl"
plan 9

start_sshd || { give_up "sshd did not start"; }
host="root@127.0.0.1:$SSH_PORT"
old="$T/old"
new="$T/new"
make_old_root "$old" standalone || { give_up "openssl failed"; }
# Over ssh the old root is "/": files owned by root, which both sides know.
chown -R 0:0 "$old"
rm "$old/etc/letsencrypt/live/mail.example.org/extra.pem" \
   "$old/etc/letsencrypt/live/mail.example.org/old.pem"
make_new_root "$new"
le="$old/etc/letsencrypt"
nle="$new$old/etc/letsencrypt"

run_mm files --from "$host" --rsh "$RSH" --to "$new" "$le" "$old/var/lib/rspamd/dkim"
is "$rc" 0 "files over ssh exits 0"
is "$(readlink "$nle/live/mail.example.org/fullchain.pem")" "../../archive/mail.example.org/fullchain2.pem" "live links arrive as relative symlinks"
ok_run "the archive arrives byte for byte" diff -r "$le/archive" "$nle/archive"
is "$(stat -c %a "$nle/archive/mail.example.org/privkey2.pem") $(stat -c %a "$nle/live")" "600 700" "modes are kept"
is "$(stat -c %a "$new$old/var/lib/rspamd/dkim/example.org.2026.key")" 400 "the DKIM key keeps 0400"
like "$out" 'check certificate mail.example.org: ok, names mail.example.org imap.mail.example.org' "the certificate check runs on the copy"
like "$out" 'check dkim_key .*/var/lib/rspamd/dkim/example.org.2026.key: ok, RSA 2048 bits' "the DKIM key check runs on the copy"

before=$(tree_state "$new")
run_mm files --from "$host" --rsh "$RSH" --to "$new" --json "$le" "$old/var/lib/rspamd/dkim"
like "$out" '"changes":0, *"checks":[0-9]+, *"checks_failed":0' "a rerun over ssh reports zero changes"
is "$(tree_state "$new")" "$before" "and changes nothing on disk"
