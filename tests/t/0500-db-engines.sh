#!/bin/bash
# mailmove db, the mailserver database, across engines: SQLite -> MariaDB,
# MariaDB -> SQLite, MariaDB -> MariaDB, with tricky values (quotes,
# backslashes, UTF-8 and emoji, `$` in hashes, CR LF, tabs) checked by
# dumps from the engines' own clients.  Then the rules: an existing schema
# stays, identical is nothing to do, different is refused unless --replace
# (backup 0600 first), constraint violations name the row, bad input and
# unreachable servers are clear errors, credentials come from Postfix's
# lookup files.  One MariaDB server for the whole file.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-mariadb.sh"
have_mariadb || skip_all "no mariadbd"
command -v sqlite3 >/dev/null || skip_all "no sqlite3"
plan 54

D="$TOP/tests/data"
start_mariadb || { give_up "MariaDB did not start"; }

cols_d="id name"
cols_u="id domain_id email password quota"
cols_a="id domain_id source destination"
# dumps_my DB / dumps_sqlite FILE: all three tables, values as hex.
dumps_my() {
	dump_my "$1" virtual_domains $cols_d
	dump_my "$1" virtual_users $cols_u
	dump_my "$1" virtual_aliases $cols_a
}
dumps_sqlite() {
	dump_sqlite "$1" virtual_domains $cols_d
	dump_sqlite "$1" virtual_users $cols_u
	dump_sqlite "$1" virtual_aliases $cols_a
}
mydump() { mysqldump --no-defaults -S "$MY_SOCK" -uroot --no-create-info \
	--skip-extended-insert --compact --skip-comments --order-by-primary --single-transaction "$@"; }

# The sources: an SQLite file and a Bullseye-shaped MariaDB database.
sqlite3 "$T/old.sqlite" <"$D/mailserver-sqlite.sql"
my -e 'CREATE DATABASE mailserver; CREATE DATABASE new1; CREATE DATABASE trixie;
       CREATE DATABASE trixie2'
my mailserver <"$D/mailserver-bullseye.sql"
my trixie <"$D/mailserver-trixie-schema.sql"
my trixie2 <"$D/mailserver-trixie-schema.sql"
MYURL="mysql://root@/%s?socket=$MY_SOCK"
url() { printf "$MYURL" "$1"; }
want=$(dumps_sqlite "$T/old.sqlite")
ok "$([ "$(printf '%s\n' "$want" | wc -l)" = 10 ] && echo 0 || echo 1)" "the fixture has 10 rows"
is "$(dumps_my mailserver)" "$want" "the MariaDB fixture holds the same values as the SQLite one"

# 1. SQLite -> MariaDB, schema created in MariaDB's dialect.
run_mm db --src "sqlite:$T/old.sqlite" --dest "$(url new1)"
is "$rc" 0 "SQLite -> MariaDB exits 0"
is "$(dumps_my new1)" "$want" "SQLite -> MariaDB: every value arrives byte for byte"
like "$out" 'virtual_users +3 +3 +([0-9a-f]{16}) \1 +ok' "the checksums of both sides are printed and equal"
like "$(my -N new1 -e 'SHOW CREATE TABLE virtual_domains')" 'InnoDB' "the schema was created in MariaDB's dialect"

# 2. MariaDB -> SQLite, a new file.
run_mm db --src "$(url mailserver)" --dest "sqlite:$T/new.sqlite"
is "$rc" 0 "MariaDB -> SQLite exits 0"
is "$(dumps_sqlite "$T/new.sqlite")" "$want" "MariaDB -> SQLite: every value arrives byte for byte"
is "$(stat -c %a "$T/new.sqlite")" 600 "a new SQLite file is private (0600)"
like "$(sqlite3 "$T/new.sqlite" .schema)" 'name TEXT NOT NULL UNIQUE' "the schema was created in SQLite's dialect"

# 3. MariaDB -> MariaDB into an existing Trixie schema: the schema stays.
schemas() { my -N "$1" -e 'SHOW CREATE TABLE virtual_domains; SHOW CREATE TABLE virtual_users; SHOW CREATE TABLE virtual_aliases' | sed 's/ AUTO_INCREMENT=[0-9]*//'; }
schema_before=$(schemas trixie)
run_mm db --src "$(url mailserver)" --dest "$(url trixie)" --json
is "$rc" 0 "MariaDB -> MariaDB exits 0"
is "$(mydump trixie)" "$(mydump mailserver)" "mysqldump of both databases is the same"
is "$(schemas trixie)" "$schema_before" "the destination's schema is unchanged (UNIQUE(name) kept)"
like "$out" '"event":"table".*"table":"virtual_aliases","old_rows":4,"new_rows":4' "--json reports every table"
like "$out" '"event":"result".*"status":"copied"' "and a result"
is "$(my -N trixie -e "INSERT INTO virtual_domains (name) VALUES ('next.example'); SELECT id FROM virtual_domains WHERE name='next.example'; DELETE FROM virtual_domains WHERE name='next.example'")" \
   6 "ids are kept and AUTO_INCREMENT continues after them"

# 4. Again: identical, nothing to do.
run_mm db --src "$(url mailserver)" --dest "$(url trixie)"
is "$rc" 0 "a second run exits 0"
like "$out" 'same 10 rows: nothing to do' "and says there is nothing to do"
my trixie -e "ALTER TABLE virtual_domains AUTO_INCREMENT = 6"

# 5. Different rows on the destination: refused, nothing changed.
my trixie -e "UPDATE virtual_users SET password='{PLAIN}changed' WHERE id=1; INSERT INTO virtual_aliases (id, domain_id, source, destination) VALUES (20, 1, 'new@example.org', 'alice@example.org')"
before=$(mydump trixie)
run_mm db --src "$(url mailserver)" --dest "$(url trixie)"
is "$rc" 1 "different rows on the destination: exit 1"
like "$err" 'refusing.*--replace' "refused, naming --replace"
like "$out" 'virtual_users: 2 rows the same, 1 only on the old server \(alice@example.org\), 1 only on the new server \(alice@example.org\)' "the summary names the differing row"
like "$out" 'virtual_aliases: 4 rows the same, 0 only on the old server, 1 only on the new server \(new@example.org\)' "and the extra row"
is "$(mydump trixie)" "$before" "nothing was changed"

mkdir -p "$T/root"
# 6. --dry-run --replace: says what it would do, changes nothing.
run_mm db --src "$(url mailserver)" --dest "$(url trixie)" --replace --dry-run --to "$T/root"
is "$rc" 0 "--dry-run --replace exits 0"
like "$out" 'would replace' "and says it would replace"
is "$(mydump trixie)" "$before" "nothing was changed by --dry-run"
ok "$([ ! -e "$T/root/var/backups" ] && echo 0 || echo 1)" "--dry-run wrote no backup"

# 7. --replace: a 0600 backup first, then the source's rows.
run_mm db --src "$(url mailserver)" --dest "$(url trixie)" --replace --to "$T/root" --json
is "$rc" 0 "--replace exits 0"
backup=$(printf '%s\n' "$out" | sed -n 's/.*"backup":"\([^"]*\)".*/\1/p')
ok "$([ -f "$backup" ] && echo 0 || echo 1)" "the backup path is printed and the file exists"
is "$(stat -c %a "$backup" 2>/dev/null)" 600 "the backup has mode 0600"
like "$err" "backup of the destination tables: $backup" "the backup path is printed for humans too"
is "$(mydump trixie)" "$(mydump mailserver)" "the destination now holds the source's rows"
my trixie <"$backup"
is "$(mydump trixie)" "$before" "the backup restores the replaced rows exactly"

# 8. A row the destination's constraints refuse: named, nothing changed.
sqlite3 "$T/dup.sqlite" <"$D/mailserver-sqlite.sql"
sqlite3 "$T/dup.sqlite" "INSERT INTO virtual_domains (id, name) VALUES (8, 'example.org')"
run_mm db --src "sqlite:$T/dup.sqlite" --dest "$(url trixie2)"
is "$rc" 4 "a constraint violation exits 4"
like "$err" "virtual_domains.*Duplicate entry 'example.org' for key 'name'" "and names the table, the row and the key"
is "$(my -N trixie2 -e 'SELECT (SELECT COUNT(*) FROM virtual_domains) + (SELECT COUNT(*) FROM virtual_users)')" 0 "nothing was changed"

my -e 'CREATE DATABASE fresh'
run_mm db --src "sqlite:$T/dup.sqlite" --dest "$(url fresh)"
is "$rc" 4 "the same violation into an empty MariaDB database exits 4"
is "$(my -N fresh -e 'SHOW TABLES')" "" "and the schema this run had created is dropped again"
run_mm db --src "sqlite:$T/old.sqlite" --dest "$(url fresh)" --dry-run
like "$rc:$(printf "%s" "$out" | tr "\n" " ")" '^0:would create the mailserver schema.*would copy 10 rows' "--dry-run says it would create the schema and copy"
is "$(my -N fresh -e 'SHOW TABLES')" "" "and creates nothing"

# A value the destination stores differently (text '007' into MariaDB's
# bigint quota becomes 7): the checksums differ, everything rolls back.
sqlite3 "$T/odd.sqlite" "CREATE TABLE virtual_domains (id INTEGER PRIMARY KEY, name TEXT);
  CREATE TABLE virtual_users (id INTEGER PRIMARY KEY, domain_id INTEGER, email TEXT, password TEXT, quota TEXT);
  CREATE TABLE virtual_aliases (id INTEGER PRIMARY KEY, domain_id INTEGER, source TEXT, destination TEXT);
  INSERT INTO virtual_domains VALUES (1, 'example.org');
  INSERT INTO virtual_users VALUES (1, 1, 'a@example.org', 'x', '007')"
my -e 'CREATE DATABASE odd'
my odd <"$D/mailserver-trixie-schema.sql"
run_mm db --src "sqlite:$T/odd.sqlite" --dest "$(url odd)"
is "$rc" 1 "a value changed by the destination: exit 1"
like "$out" 'virtual_users +1 +1 .*MISMATCH' "the table's checksums differ"
like "$err" 'differ after the copy: rolled back' "and the copy is rolled back"
is "$(my -N odd -e 'SELECT COUNT(*) FROM virtual_domains')" 0 "nothing was changed"

# 9. Bad input and unreachable servers: clear errors.
run_mm db --src "sqlite:$T/old.sqlite" --dest "mysql://root@/x?socket=$T/nope.sock"
is "$rc" 4 "an unreachable destination exits 4"
like "$err" "cannot connect.*nope.sock" "and says which"
my -e "CREATE USER 'mailserver'@'127.0.0.1' IDENTIFIED BY 'right\$pass''word'; GRANT SELECT ON mailserver.* TO 'mailserver'@'127.0.0.1'"
printf 'wrong$pw\n' >"$T/wrong.pw"
chmod 600 "$T/wrong.pw"
run_mm db --src "mysql://mailserver@127.0.0.1:$MY_PORT/mailserver" --src-password-file "$T/wrong.pw" --dest "sqlite:$T/x.sqlite"
like "$rc:$err" "^2:.*Access denied for user 'mailserver'" "a wrong password is a clear error"
unlike "$err" 'wrong\$pw' "and the password is not shown"
run_mm db --src "mysql://mailserver:secret@127.0.0.1/mailserver" --dest "sqlite:$T/x.sqlite"
like "$rc:$err" "^2:.*password does not belong on the command line" "a password in a URL is refused"
sqlite3 "$T/empty.sqlite" 'CREATE TABLE other (x)'
run_mm db --src "sqlite:$T/empty.sqlite" --dest "sqlite:$T/x.sqlite"
like "$rc:$err" "^2:.*no table virtual_domains" "a source without the tables is a clear error"

# 10. Credentials from the old server's Postfix lookup file (a --from DIR
#     root), the destination from the new root's: no URL at all.
old="$T/oldroot"; new="$T/newroot"
mkdir -p "$old/etc/postfix" "$new/etc/postfix" "$new/var/lib/ispmail"
cat >"$old/etc/postfix/main.cf" <<EOF
virtual_mailbox_domains = mysql:/etc/postfix/mysql-virtual-mailbox-domains.cf
virtual_mailbox_maps = mysql:/etc/postfix/mysql-virtual-mailbox-maps.cf
EOF
cat >"$old/etc/postfix/mysql-virtual-mailbox-domains.cf" <<EOF
# the Bullseye guide's lookup file
user = mailserver
password = right\$pass'word
hosts = 127.0.0.1:$MY_PORT
dbname = mailserver
query = SELECT 1 FROM virtual_domains WHERE name='%s'
EOF
printf 'dbpath = /var/lib/ispmail/mailserver.sqlite\nquery = SELECT 1\n' \
	>"$new/etc/postfix/sqlite-virtual-mailbox-maps.cf"
run_mm db --from "$old" --to "$new"
is "$rc" 0 "with credentials from Postfix's lookup files: exit 0"
like "$err" 'old mailserver database: mysql://mailserver@127.0.0.1:[0-9]+/mailserver \(from /etc/postfix/mysql-virtual-mailbox-domains.cf\)' "the source was found through postconf"
is "$(dumps_sqlite "$new/var/lib/ispmail/mailserver.sqlite")" "$want" "the rows arrived in the new root's SQLite file"
unlike "$out$err" 'right\$pass' "the password is never printed"
