#!/bin/bash
# finish: the final backup of the old server (the sample server's Maildirs,
# /etc/postfix, /etc/dovecot, /etc/rspamd, /etc/letsencrypt,
# /var/lib/rspamd, and a real MariaDB's mysqldump) as one .tar.gz written
# here with mode 0600, read back by tar (not by mailmove) and compared
# with the old tree; the relay kept, or removed (the old Postfix's
# virtual_transport restored from what cutover recorded); bad input
# refused; --dry-run writes nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mariadb.sh"
have_mariadb || skip_all "no mariadb server"
command -v postconf >/dev/null || skip_all "no postfix"
plan 19

"$TOP/scripts/sample-servers" "$T/s" >/dev/null
old="$T/s/old"
new="$T/s/new"
mkdir -p "$old/etc/postfix" "$old/etc/dovecot/conf.d" "$old/var/lib/rspamd/dkim"
printf 'compatibility_level = 2\nvirtual_transport = smtp:[new.example]:25\n' >"$old/etc/postfix/main.cf"
: >"$old/etc/postfix/master.cf"
printf 'protocols = imap lmtp\n' >"$old/etc/dovecot/dovecot.conf"
printf 'mail_location = maildir:~/Maildir\n' >"$old/etc/dovecot/conf.d/10-mail.conf"
ln -s ../dovecot.conf "$old/etc/dovecot/conf.d/link"
head -c 300000 /dev/urandom >"$old/var/lib/rspamd/bayes.bin"

start_mariadb || { give_up "MariaDB did not start"; }
my -e "CREATE DATABASE mailserver; CREATE TABLE mailserver.virtual_users (id INT PRIMARY KEY, email VARCHAR(100)); INSERT INTO mailserver.virtual_users VALUES (1, 'ann@example.org')"

fin() { run_mm finish --from "$old" --to "$new" --db-socket "$MY_SOCK" "$@"; }

fin --archive relative.tar.gz
is "$rc" 2 "a relative --archive is a usage error"
fin --also /etc/../root
is "$rc" 2 "a path with .. is refused"
fin --relay sometimes
is "$rc" 2 "--relay takes keep or remove"

fin --dry-run --archive "$T/b/dry.tar.gz"
is "$rc" 0 "--dry-run exits 0"
ok "$([ ! -e "$T/b" ] && echo 0 || echo 1)" "--dry-run writes nothing"

fin --archive "$T/b/old.tar.gz" --json
is "$rc" 0 "finish exits 0"
[ "$rc" = 0 ] || diag "$err"
is "$(stat -c %a "$T/b/old.tar.gz")" 600 "the archive is mode 0600 (password hashes, private keys)"
like "$out" '"entries":[1-9]' "--json: entries counted"
like "$err" 'read back and identical' "it was read back and compared"
ls "$T/b" | grep -v '^old.tar.gz$' >"$T/leftover"
is "$(cat "$T/leftover")" "" "no temporary file is left beside it"

# tar, not mailmove, reads it back.
mkdir "$T/x"
tar -xzf "$T/b/old.tar.gz" -C "$T/x"
ok $? "tar extracts it"
diff -r "$old/var/vmail" "$T/x/old-server/var/vmail" >"$T/diff" 2>&1
is "$(cat "$T/diff")" "" "/var/vmail in the archive is the old tree, byte for byte"
ok_run "rspamd's data too" cmp -s "$old/var/lib/rspamd/bayes.bin" "$T/x/old-server/var/lib/rspamd/bayes.bin"
is "$(readlink "$T/x/old-server/etc/dovecot/conf.d/link")" "../dovecot.conf" "symbolic links stay links"
like "$(grep -A1 'INSERT INTO .virtual_users' "$T/x/databases/all-databases.sql" | tr -d '\n')" "VALUES *\\(1,'ann@example.org'\\)" "the databases are in it (mysqldump)"
is "$(tar -tzf "$T/b/old.tar.gz" | grep -c '^old-server/etc/letsencrypt/')" "$(cd "$old/etc" && find letsencrypt | wc -l)" "every /etc/letsencrypt entry is in it"

fin --archive "$T/b/old.tar.gz"
is "$rc" 4 "an existing archive is not overwritten (exit 4)"

# The relay: removed, from what cutover recorded before it set it up.
mkdir -p "$new/var/lib/mailmove"
printf 'lmtp:unix:private/dovecot-lmtp\n' >"$new/var/lib/mailmove/relay-saved"
run_mm finish --from "$old" --to "$new" --only /etc/postfix --no-databases \
	--archive "$T/b/second.tar.gz" --relay remove --old-postfix-config "$old/etc/postfix"
is "$rc" 0 "finish --relay remove exits 0"
is "$(postconf -c "$old/etc/postfix" -h virtual_transport)" "lmtp:unix:private/dovecot-lmtp" "the old Postfix's virtual_transport is restored"
