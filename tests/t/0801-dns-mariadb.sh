#!/bin/bash
# mailmove dns takes its domains from a MariaDB mailserver database named
# by Postfix's virtual_mailbox_domains (a real mariadbd on a private
# socket), and the database password shows up nowhere.
. "$(dirname "$0")/../lib.sh"
command -v mariadbd >/dev/null || skip_all "mariadbd is not installed"
command -v nsd >/dev/null || skip_all "nsd is not installed"
. "$TOP/tests/lib-dns.sh"
plan 6

mkdir -p "$T/db"
mariadb-install-db --no-defaults --datadir="$T/db/data" --user=root \
	--auth-root-authentication-method=normal --skip-test-db >"$T/db/install.out" 2>&1
start_bg mariadbd mariadbd --no-defaults --datadir="$T/db/data" \
	--socket="$T/db/sock" --skip-networking --user=root \
	--pid-file="$T/db/pid" --log-error="$T/db/err"
wait_for test -S "$T/db/sock"
ok $? "a private mariadbd runs"
mariadb --no-defaults -S "$T/db/sock" -uroot <<'SQL'
CREATE DATABASE mailserver;
CREATE TABLE mailserver.virtual_domains (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL);
INSERT INTO mailserver.virtual_domains (name) VALUES ('example.org'), ('maria.example');
CREATE USER 'mailserver'@'localhost' IDENTIFIED BY 'Se-cr3t-pw';
GRANT SELECT ON mailserver.* TO 'mailserver'@'localhost';
SQL

new="$T/new"
mkdir -p "$new/etc/postfix"
echo "virtual_mailbox_domains = mysql:/etc/postfix/mysql-virtual-mailbox-domains.cf" >"$new/etc/postfix/main.cf"
cat >"$new/etc/postfix/mysql-virtual-mailbox-domains.cf" <<CF
user = mailserver
password = Se-cr3t-pw
hosts = unix:$T/db/sock
dbname = mailserver
query = SELECT 1 FROM virtual_domains WHERE name='%s'
CF

mkdir -p "$T/nsd"
cat >"$T/nsd/example.org.zone" <<'Z'
$ORIGIN example.org.
$TTL 600
@ IN SOA ns hostmaster 1 3600 600 86400 300
@ IN NS ns
ns IN A 127.0.0.1
@ IN MX 10 mail
mail IN A 192.0.2.20
Z
start_nsd example.org

run_mm dns --to "$new" --server "127.0.0.1:$NSD_PORT" --new-ip 192.0.2.20 \
	--state "$T/state.sqlite" --json
like "$out" '"domain":"example.org"' "the domains come from MariaDB: example.org"
like "$out" '"domain":"maria.example"' "... and maria.example"
like "$out" '"domain":"example.org".*"switched":true' "example.org is answered by the DNS server"
is "$rc" 1 "maria.example, which the DNS server refuses, makes the run exit 1"
leaked=no
printf '%s%s' "$out" "$err" | grep -q 'Se-cr3t-pw' && leaked=output
grep -aq 'Se-cr3t-pw' "$T/state.sqlite" && leaked=state
is "$leaked" no "the database password appears in no output and not in the state"
stop_nsd
