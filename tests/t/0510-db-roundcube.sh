#!/bin/bash
# mailmove db --roundcube: a Roundcube 1.4-shaped database (no
# collected_addresses or responses tables, language varchar(5)) into the
# 1.6 schema that the new server's own schema file creates, MariaDB ->
# MariaDB and MariaDB -> SQLite, with credentials from the new server's
# debian-db.php and mail_host from its config.inc.php.  Contacts (vCards
# with CR LF, emoji, quotes, backslashes) and NULLs survive byte for byte,
# checked by the engines' own clients; sessions and caches are not copied.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-mariadb.sh"
have_mariadb || skip_all "no mariadbd"
command -v sqlite3 >/dev/null || skip_all "no sqlite3"
plan 27

R="$TOP/tests/data/roundcube"
start_mariadb || { give_up "MariaDB did not start"; }
my -e "CREATE DATABASE rc14; CREATE DATABASE rc16; CREATE DATABASE rc16b;
       CREATE USER 'roundcube'@'127.0.0.1' IDENTIFIED BY 'rc\"pa\$\$'; GRANT ALL ON rc16.* TO 'roundcube'@'127.0.0.1'"
my rc14 <"$R/1.4-mysql.initial.sql"
my rc14 <"$R/data-1.4.sql"
my rc16b <"$R/1.6-mysql.initial.sql"

# The new server: Roundcube 1.6's schema files and configuration.
new="$T/new"
mkdir -p "$new/usr/share/roundcube/SQL" "$new/etc/roundcube" "$new/var/lib/roundcube"
cp "$R/1.6-mysql.initial.sql" "$new/usr/share/roundcube/SQL/mysql.initial.sql"
cp "$R/1.6-sqlite.initial.sql" "$new/usr/share/roundcube/SQL/sqlite.initial.sql"
cat >"$new/etc/roundcube/debian-db.php" <<EOF
<?php
##
## database access settings in php format
##
\$dbuser='roundcube';
\$dbpass='rc"pa\$\$';
\$basepath='';
\$dbname='rc16';
\$dbserver='127.0.0.1';
\$dbport='$MY_PORT';
\$dbtype='mysql';
EOF
cat >"$new/etc/roundcube/config.inc.php" <<'EOF'
<?php
$config = [];
include("/etc/roundcube/debian-db-roundcube.php");
// $config['imap_host'] = 'commented.example';
$config['imap_host'] = ["ssl://mail.new.example:993"];
$config['smtp_host'] = 'tls://mail.new.example:587';
EOF
SRC="mysql://root@/rc14?socket=$MY_SOCK"

# The tables and columns both versions have, dumped as hex.
# With NULL_AS_EMPTY=1 the columns that Roundcube's SQLite schema declares
# NOT NULL DEFAULT '' (and MariaDB's lets be NULL) are dumped as they must
# arrive in SQLite.
dump_rc() { # dump_rc my DB | dump_rc sqlite FILE
	local f="dump_$1" where=$2
	e() { if [ -n "${NULL_AS_EMPTY:-}" ]; then printf "COALESCE(%s, '')" "$1"; else printf '%s' "$1"; fi; }
	"$f" "$where" users user_id username created last_login failed_login failed_login_counter language "$(e preferences)"
	"$f" "$where" identities identity_id user_id changed del standard name organization email '`reply-to`' bcc "$(e signature)" html_signature
	"$f" "$where" contacts contact_id changed del name email firstname surname "$(e vcard)" "$(e words)" user_id
	"$f" "$where" contactgroups contactgroup_id user_id changed del name
	"$f" "$where" contactgroupmembers contact_id contactgroup_id created
	"$f" "$where" dictionary language user_id data
	"$f" "$where" searches search_id user_id type name data
	"$f" "$where" filestore file_id user_id context filename mtime data
}
want=$(dump_rc my rc14)
like "$want" '0D0A' "the fixture's vCards have CR LF line ends"

# 1. MariaDB 1.4 -> MariaDB, no schema yet: created from the new server's
#    schema file; credentials from debian-db.php, mail_host from imap_host.
run_mm db --roundcube --src "$SRC" --to "$new"
is "$rc" 0 "Roundcube 1.4 -> MariaDB exits 0"
like "$err" 'creating the roundcube schema \(/usr/share/roundcube/SQL/mysql.initial.sql\)' "the schema came from the new server's schema file"
like "$err" "new roundcube database: mysql://roundcube@127.0.0.1:$MY_PORT/rc16" "the destination came from debian-db.php"
is "$(dump_rc my rc16)" "$want" "users, identities, contacts, groups, dictionary, searches, filestore arrive byte for byte"
is "$(my -N rc16 -e 'SELECT DISTINCT mail_host FROM users')" "mail.new.example" "users.mail_host is the new IMAP host"
like "$out" 'users.mail_host is now mail.new.example' "and says so"
is "$(my -N rc16 -e 'SELECT COUNT(*) FROM session; SELECT COUNT(*) FROM cache' | tr '\n' ' ')" "0 0 " "sessions and caches are not copied"
is "$(my -N rc16 -e "SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='rc16' AND TABLE_NAME='users' AND COLUMN_NAME='language'")" 16 "the 1.6 schema (language varchar(16)) was kept"
is "$(my -N rc16 -e "SELECT value FROM system WHERE name='roundcube-version'")" 2022081200 "the schema version stays 1.6's"
is "$(my -N rc16 -e 'SELECT COUNT(*) FROM collected_addresses')" 0 "the table 1.4 lacks exists, empty"
unlike "$out$err" 'rc"pa' "the password is never printed"

# 2. Again: identical (mail_host included), nothing to do.
run_mm db --roundcube --src "$SRC" --to "$new"
is "$rc" 0 "a second run exits 0"
like "$out" 'nothing to do' "and has nothing to do"

# 3. MariaDB 1.4 -> SQLite (debian-db.php says sqlite3), --mail-host given.
cat >"$new/etc/roundcube/debian-db.php" <<'EOF'
<?php
$dbuser='roundcube';
$dbpass='';
$basepath='/var/lib/roundcube';
$dbname='roundcube.sqlite';
$dbserver='';
$dbport='';
$dbtype='sqlite3';
EOF
run_mm db --roundcube --src "$SRC" --to "$new" --mail-host imap.example.net
is "$rc" 0 "Roundcube 1.4 MariaDB -> SQLite exits 0"
db="$new/var/lib/roundcube/roundcube.sqlite"
is "$(dump_rc sqlite "$db")" "$(NULL_AS_EMPTY=1 dump_rc my rc14)" "every value arrives byte for byte in SQLite"
like "$out" "contacts.vcard: 1 NULL stored as '', the new schema's default" "a NULL where SQLite's schema takes none becomes its default, and is reported"
like "$out" "contacts +3 +3 +([0-9a-f]{16}) \\1 +ok" "and the checksums agree on it"
is "$(sqlite3 "$db" 'SELECT DISTINCT mail_host FROM users')" "imap.example.net" "--mail-host sets users.mail_host"
is "$(sqlite3 "$db" "SELECT value FROM system WHERE name='roundcube-version'")" 2022081200 "the SQLite schema is 1.6's"
is "$(sqlite3 "$db" "SELECT typeof(user_id) || typeof(language) FROM dictionary WHERE data='shared words'")" "nulltext" "NULL stays NULL"

# 4. A mail_host change that breaks UNIQUE(username, mail_host): refused,
#    named, nothing changed.
my rc14 -e "INSERT INTO users (user_id, username, mail_host) VALUES (9, 'alice@example.org', 'other.example')"
run_mm db --roundcube --src "$SRC" --dest "mysql://root@/rc16b?socket=$MY_SOCK" --mail-host mail.new.example
is "$rc" 4 "a duplicate user after the mail_host change exits 4"
like "$err" "users.*Duplicate entry 'alice@example.org-mail.new.example'" "and names the user"
is "$(my -N rc16b -e 'SELECT COUNT(*) FROM users')" 0 "nothing was changed"

# 5. Both ends from configuration: the old server's debian-db.php read
#    through the agent (a --from DIR root), its MariaDB reached through
#    the agent, the new server's SQLite from its own debian-db.php.
my -e "CREATE USER 'rcold'@'127.0.0.1' IDENTIFIED BY 'old\$pw'; GRANT SELECT ON rc14.* TO 'rcold'@'127.0.0.1';
       DELETE FROM rc14.users WHERE user_id = 9"
old="$T/old"
mkdir -p "$old/etc/roundcube"
cat >"$old/etc/roundcube/debian-db.php" <<EOF
<?php
\$dbuser='rcold';
\$dbpass='old\$pw';
\$dbname='rc14';
\$dbserver='127.0.0.1';
\$dbport='$MY_PORT';
\$dbtype='mysql';
EOF
rm -f "$db"
run_mm db --roundcube --from "$old" --to "$new"
is "$rc" 0 "Roundcube with both ends from their debian-db.php: exit 0"
like "$err" "old roundcube database: mysql://rcold@127.0.0.1:$MY_PORT/rc14 \(from /etc/roundcube/debian-db.php\)" "the old database came from the old server's debian-db.php"
is "$(dump_rc sqlite "$db")" "$(NULL_AS_EMPTY=1 dump_rc my rc14)" "every value arrives"
