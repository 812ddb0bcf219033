#!/bin/bash
# mailmove files between two roots on this machine (--from DIR, --to DIR):
# a Let's Encrypt tree and DKIM keys made with openssl arrive with their
# links, modes and owners (_rspamd 108/115 on the old server, 104/105 on
# the new one); the checks show names and expiry and catch a key that does
# not match its certificate and a webroot missing here; odd links are
# reported; tampered files are replaced (also with the same size and
# mtime); a rerun changes nothing; --dry-run and a missing user write
# nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-files.sh"
command -v openssl >/dev/null || skip_all "no openssl"
plan 66

old="$T/old"
new="$T/new"
make_old_root "$old" webroot || { give_up "openssl failed"; }
le="$old/etc/letsencrypt"
# A certificate whose private key belongs to another certificate.
le_cert "$le" bad.example.org 1 "$le/archive/mail.example.org/privkey1.pem"
le_live "$le" bad.example.org 1
printf 'version = 2.1.0\n[renewalparams]\nauthenticator = nginx\ninstaller = nginx\n' \
	>"$le/renewal/bad.example.org.conf"
make_new_root "$new"
nle="$new/etc/letsencrypt"
nkey="$new/var/lib/rspamd/dkim/example.org.2026.key"

# --- dry run: decides, writes nothing -------------------------------------
before=$(tree_state "$new")
run_mm files --from "$old" --to "$new" --dry-run
is "$rc" 0 "--dry-run exits 0"
like "$out" 'copy +/etc/letsencrypt/archive/mail.example.org/privkey2.pem' "--dry-run says what it would copy"
like "$out" 'dry run, nothing written: 2[0-9] copied' "and counts it"
is "$(tree_state "$new")" "$before" "--dry-run writes nothing at all"

# --- a missing user on the destination: nothing written --------------------
make_new_root "$T/bare" no
before=$(tree_state "$T/bare")
run_mm files --from "$old" --to "$T/bare"
is "$rc" 2 "a user missing on the destination is a configuration error (exit 2)"
like "$err" 'user _rspamd \(uid 108 on the old server\) does not exist on this server' "naming the user"
like "$err" 'nothing was written' "and saying nothing was written"
is "$(tree_state "$T/bare")" "$before" "and nothing was written"

# --- the copy ---------------------------------------------------------------
d_before=$(expiry_days "$le/archive/mail.example.org/cert2.pem")
run_mm files --from "$old" --to "$new"
d_after=$(expiry_days "$le/archive/mail.example.org/cert2.pem")
is "$rc" 1 "the first run exits 1 (failed checks)"
like "$out" 'copied +/etc/letsencrypt/archive/mail.example.org/cert1.pem' "old generations are copied"
like "$out" 'linked +/etc/letsencrypt/live/mail.example.org/cert.pem' "live links are made"
like "$out" 'copied +/etc/rspamd/dkim_selectors.map' "the selector map is copied"
like "$out" 'copied +/etc/rspamd/local.d/dkim_signing.conf' "the signing config is copied"
like "$out" 'copied +/etc/rspamd/local.d/arc.conf' "arc.conf is copied"
is "$(readlink "$nle/live/mail.example.org/cert.pem")" "../../archive/mail.example.org/cert2.pem" "live/cert.pem is the same relative symlink"
is "$(readlink "$nle/live/mail.example.org/privkey.pem")" "../../archive/mail.example.org/privkey2.pem" "live/privkey.pem too"
ok_run "every archive file arrives byte for byte" diff -r "$le/archive" "$nle/archive"
is "$(stat -c %a "$nle/live") $(stat -c %a "$nle/archive")" "700 700" "live/ and archive/ keep mode 0700"
is "$(stat -c %a "$nle/archive/mail.example.org/privkey2.pem")" 600 "a certificate key keeps mode 0600"
is "$(stat -c '%a %u:%g' "$nkey")" "400 104:105" "a DKIM key keeps 0400 and belongs to the new _rspamd (104:105)"
is "$(stat -c '%a %u:%g' "$new/var/lib/rspamd/dkim")" "700 104:105" "the dkim directory: 0700, new _rspamd"
is "$(stat -c '%u:%g' "$new/var/lib/rspamd")" "104:105" "a missing parent takes the old server's owner, mapped"
is "$(stat -c %Y.%y "$nkey" | sed 's/ .*//')" "$(stat -c %Y.%y "$old/var/lib/rspamd/dkim/example.org.2026.key" | sed 's/ .*//')" "mtimes are kept"

want_date=$(date -u -d "$(openssl x509 -in "$le/archive/mail.example.org/cert2.pem" -noout -enddate | cut -d= -f2)" +%F)
like "$out" "check certificate mail.example.org: ok, names mail.example.org imap.mail.example.org, expires $want_date \(($d_before|$d_after) days left\), key matches" \
	"the certificate's names and expiry are shown, its key matches"
like "$out" 'check certificate bad.example.org: FAILED: privkey.pem does not match the certificate' "a key that does not match its certificate is reported"
like "$out" 'check renewal mail.example.org: FAILED: webroot /var/www/html is missing on this server' "a webroot missing here is reported"
like "$out" 'check renewal bad.example.org: FAILED: needs nginx' "an nginx authenticator without nginx here is reported"
like "$out" 'check dkim_key /var/lib/rspamd/dkim/example.org.2026.key: ok, RSA 2048 bits' "the RSA DKIM key parses"
like "$out" 'check dkim_key /var/lib/rspamd/dkim/example.net.mail.key: ok, Ed25519' "the Ed25519 DKIM key parses"
like "$out" 'check selector example.org 2026: ok, /var/lib/rspamd/dkim/example.org.2026.key' "a selector map line names an existing key"
like "$err" 'old.pem -> ../../archive/mail.example.org/cert0.pem: dangling link' "a dangling link is reported"
like "$err" 'extra.pem -> /etc/ssl/certs/outside.pem: points outside the copied files' "a link out of the tree is reported"
is "$(readlink "$nle/live/mail.example.org/extra.pem")" /etc/ssl/certs/outside.pem "it is kept as a symlink"
ok "$([ ! -e "$new/etc/ssl/certs/outside.pem" ] && echo 0 || echo 1)" "and its target is not copied"
unlike "$out$err" 'BEGIN|PRIVATE KEY' "no key material in any message"

# --- a rerun changes nothing ---------------------------------------------
before=$(tree_state "$new")
run_mm files --from "$old" --to "$new" --json
is "$rc" 1 "the rerun exits 1 again (the same checks fail)"
like "$out" '"event":"result".*"changes":0' "the rerun reports zero changes"
like "$out" '"copied":0, *"updated":0, *"linked":0' "nothing copied, updated or linked"
is "$(tree_state "$new")" "$before" "no inode, ctime, mode or owner changed"
like "$out" '"event":"certificate".*"name":"mail.example.org".*"days_left":(89|90)' "--json carries the certificate's days left"
like "$out" '"key":"mismatch"' "--json carries the mismatch"

# --- a selector naming a missing key --------------------------------------
printf 'example.com gone\n' >>"$old/etc/rspamd/dkim_selectors.map"
run_mm files --from "$old" --to "$new" /etc/rspamd/dkim_selectors.map /etc/rspamd/local.d/dkim_signing.conf
is "$rc" 1 "a selector whose key is missing fails the check"
like "$out" 'check selector example.com gone: FAILED: /var/lib/rspamd/dkim/example.com.gone.key: No such file' "naming the missing key"

# --- tampered files are replaced --------------------------------------------
printf 'tampered\n' >"$nle/archive/mail.example.org/chain2.pem"
# Same size and mtime: only the content tells.
src_key="$old/var/lib/rspamd/dkim/example.org.2026.key"
ino_key=$(stat -c %i "$nkey")
python3 - "$nkey" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[40] = ord('A') if b[40] != ord('A') else ord('B')
open(p, 'r+b').write(bytes(b))
PY
touch -d "$(stat -c %y "$src_key")" "$nkey"
is "$(stat -c '%s %Y' "$nkey")" "$(stat -c '%s %Y' "$src_key")" "the tampered key has the source's size and mtime"
chmod 644 "$nle/archive/mail.example.org/privkey1.pem"

before=$(tree_state "$new")
run_mm files --from "$old" --to "$new" --dry-run
like "$out" 'update +/var/lib/rspamd/dkim/example.org.2026.key' "--dry-run sees the same-size tamper"
is "$(tree_state "$new")" "$before" "and --dry-run still writes nothing"

run_mm files --from "$old" --to "$new"
like "$out" 'updated +/etc/letsencrypt/archive/mail.example.org/chain2.pem' "a tampered file is replaced"
like "$out" 'updated +/var/lib/rspamd/dkim/example.org.2026.key' "a tamper with the same size and mtime is replaced"
like "$out" 'meta +/etc/letsencrypt/archive/mail.example.org/privkey1.pem' "a wrong mode is corrected"
ok_run "the replaced files are right again" cmp -s "$src_key" "$nkey"
ok_run "the chain too" cmp -s "$le/archive/mail.example.org/chain2.pem" "$nle/archive/mail.example.org/chain2.pem"
ok "$([ "$(stat -c %i "$nkey")" != "$ino_key" ] && echo 0 || echo 1)" "the key was replaced by rename (a new inode), not rewritten in place"
is "$(stat -c '%a %u:%g' "$nkey") $(stat -c %a "$nle/archive/mail.example.org/privkey1.pem")" "400 104:105 600" "modes and owners are right after the replace"
is "$(find "$new" -name '.mailmove.*' | wc -l)" 0 "no temporary file is left behind"

# --- a renewal on the old server: new files first, then the links ---------
le_cert "$le" mail.example.org 3
le_live "$le" mail.example.org 3
run_mm files --from "$old" --to "$new" /etc/letsencrypt
like "$out" 'copied +/etc/letsencrypt/archive/mail.example.org/privkey3.pem' "a renewed certificate's files are copied"
like "$out" 'linked +/etc/letsencrypt/live/mail.example.org/cert.pem' "and the live links follow"
is "$(printf '%s\n' "$out" | grep -nE 'copied +.*cert3.pem|linked +.*live/mail.example.org/cert.pem' | cut -d: -f1 | tr '\n' ' ')" \
   "$(printf '%s\n' "$out" | grep -nE 'copied +.*cert3.pem' | cut -d: -f1) $(printf '%s\n' "$out" | grep -nE 'linked +.*live/mail.example.org/cert.pem' | cut -d: -f1) " \
   "the new certificate is in place before live/cert.pem points to it"
is "$(readlink "$nle/live/mail.example.org/cert.pem")" ../../archive/mail.example.org/cert3.pem "live/cert.pem points to the third generation"

# --- a symlink on the destination where a directory belongs -----------------
make_new_root "$T/trap"
mkdir -p "$T/trap/var/lib/rspamd" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/trap/var/lib/rspamd/dkim"
printf 'x' >"$T/trap/etc/rspamd" 2>/dev/null || { mkdir -p "$T/trap/etc"; printf 'x' >"$T/trap/etc/rspamd"; }
run_mm files --from "$old" --to "$T/trap" /var/lib/rspamd/dkim /etc/rspamd/dkim_selectors.map
is "$rc" 1 "a symlink or a file where a directory belongs is an item failure"
is "$(ls -A "$T/elsewhere" | wc -l)" 0 "nothing is written through the destination's symlink"
like "$err" 'var/lib/rspamd/dkim: cannot open directory' "the symlinked directory is named"
is "$(cat "$T/trap/etc/rspamd")" x "the file in the way is left alone"

# --- an empty selector map ---------------------------------------------------
: >"$old/etc/rspamd/dkim_selectors.map"
run_mm files --from "$old" --to "$new" /etc/rspamd/dkim_selectors.map /etc/rspamd/local.d/dkim_signing.conf
is "$rc" 0 "an empty selector map is copied"
like "$err" 'dkim_selectors.map has no "domain selector" line' "and a warning says nothing will be signed"

# --- bad PATHs ----------------------------------------------------------------
run_mm files --from "$old" --to "$new" /etc/../etc/passwd
is "$rc" 2 "a PATH with .. is a usage error"
run_mm files --from "$old" --to "$new" /etc/nonexistent
is "$rc" 1 "a PATH missing on the old server is an item failure"
