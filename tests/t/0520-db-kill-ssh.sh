#!/bin/bash
# mailmove db killed with SIGKILL in the middle of the copy (rows already
# sent to the destination inside the open transaction): MariaDB and SQLite
# destinations, empty or with rows being --replace'd, are unchanged
# afterwards, and a rerun completes.  Then the old database over ssh,
# reached through the agent (TCP with a password file, the unix socket,
# and an SQLite file read through the agent).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-mariadb.sh"
have_mariadb || skip_all "no mariadbd"
command -v sqlite3 >/dev/null || skip_all "no sqlite3"
plan 19

D="$TOP/tests/data"
start_mariadb || { give_up "MariaDB did not start"; }
mydump() { mysqldump --no-defaults -S "$MY_SOCK" -uroot --no-create-info \
	--skip-extended-insert --compact --skip-comments --order-by-primary --single-transaction "$@"; }
url() { printf 'mysql://root@/%s?socket=%s' "$1" "$MY_SOCK"; }

# A source big enough that the copy is still running when it is killed.
my -e 'CREATE DATABASE big; CREATE DATABASE dst; CREATE DATABASE dst2; CREATE DATABASE mailserver'
my big <"$D/mailserver-trixie-schema.sql"
my dst <"$D/mailserver-trixie-schema.sql"
my dst2 <"$D/mailserver-trixie-schema.sql"
my mailserver <"$D/mailserver-bullseye.sql"
{
	echo "INSERT INTO virtual_domains VALUES (1, 'example.org');"
	echo "INSERT INTO virtual_users (id, domain_id, email, password, quota) VALUES"
	seq 1 20000 | awk '{ printf "%s(%d, 1, \047user%d@example.org\047, \047{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstu.%d\047, 0)", ($1 > 1 ? ",\n" : ""), $1, $1, $1 } END { print ";" }'
} | my big
my dst2 -e "INSERT INTO virtual_domains VALUES (1, 'old.example'); INSERT INTO virtual_users VALUES (1, 1, 'keep@old.example', 'x', 0)"

# bg_pid NAME: $pid of a process start_bg started (its .pid file holds
# the pid and the process's start time).
bg_pid() { read -r pid _ <"$T/.pid.$1"; }

# kill_mid_copy NAME ARGS...: runs mailmove db, waits until it has sent
# 12000 rows inside its transaction, then SIGKILLs it.
kill_mid_copy() {
	local name=$1; shift
	MAILMOVE_TEST_STALL_ROWS=12000 start_bg "$name" "$MM" db "$@"
	wait_for grep -q 'stalling after 12000 rows' "$T/$name.out"
	bg_pid "$name"
	kill9 "$pid"
	rm -f "$T/.pid.$name"
}

# 1. MariaDB destination, empty.
before=$(mydump dst)
MAILMOVE_TEST_STALL_ROWS=12000 start_bg k1 "$MM" db --src "$(url big)" --dest "$(url dst)"
wait_for grep -q 'stalling after 12000 rows' "$T/k1.out"
like "$(cat "$T/k1.out")" 'stalling after 12000 rows' "the copy is under way"
ok "$([ "$(my -N -e 'SELECT MAX(trx_rows_modified) FROM information_schema.INNODB_TRX')" -ge 12000 ] && echo 0 || echo 1)" \
	"12000 rows are in the destination's open transaction"
bg_pid k1; kill9 "$pid"; rm -f "$T/.pid.k1"
wait_for sh -c "[ \"\$(mariadb --no-defaults -S '$MY_SOCK' -uroot -N -e 'SELECT COUNT(*) FROM information_schema.INNODB_TRX')\" = 0 ]"
is "$(mydump dst)" "$before" "killed mid-copy: the MariaDB destination is unchanged"
run_mm db --src "$(url big)" --dest "$(url dst)"
is "$rc" 0 "a rerun completes"
is "$(mydump dst)" "$(mydump big)" "and the destination holds every row"

# 2. MariaDB destination with rows, --replace: still its old rows.
before=$(mydump dst2)
mkdir -p "$T/root"
kill_mid_copy k2 --src "$(url big)" --dest "$(url dst2)" --replace --to "$T/root"
wait_for sh -c "[ \"\$(mariadb --no-defaults -S '$MY_SOCK' -uroot -N -e 'SELECT COUNT(*) FROM information_schema.INNODB_TRX')\" = 0 ]"
is "$(mydump dst2)" "$before" "killed mid --replace: the old rows are all there"
like "$(mydump dst2)" 'keep@old.example' "(the row that was being replaced)"

# 3. SQLite destination with the schema: the journal undoes it.
sqlite3 "$T/dst.sqlite" "$(sed -n '1,7p' "$D/mailserver-sqlite.sql")"
sqlite3 "$T/dst.sqlite" "INSERT INTO virtual_domains VALUES (7, 'before.example')"
before=$(sqlite3 "$T/dst.sqlite" .dump)
kill_mid_copy k3 --src "$(url big)" --dest "sqlite:$T/dst.sqlite" --replace --to "$T/root"
is "$(sqlite3 "$T/dst.sqlite" .dump)" "$before" "killed mid-copy: the SQLite destination is unchanged"
run_mm db --src "$(url big)" --dest "sqlite:$T/dst.sqlite" --replace --to "$T/root"
is "$rc" 0 "a rerun completes"
is "$(sqlite3 "$T/dst.sqlite" 'SELECT COUNT(*) FROM virtual_users')" 20000 "with every row"

# 4. SIGTERM (an admin's ^C) mid-copy: rolled back, exit 5.
before=$(sqlite3 "$T/dst.sqlite" .dump)
MAILMOVE_TEST_STALL_ROWS=5 start_bg k4 "$MM" db --src "$(url mailserver)" --dest "sqlite:$T/dst.sqlite" --replace --to "$T/root"
wait_for grep -q 'stalling after 5 rows' "$T/k4.out"
bg_pid k4; kill -TERM "$pid"; wait "$pid"; st=$?; rm -f "$T/.pid.k4"
is "$st" 5 "SIGTERM mid-copy exits 5"
is "$(sqlite3 "$T/dst.sqlite" .dump)" "$before" "and the destination is unchanged"

# 5. Over ssh: the old MariaDB reached through the agent.
if ! { command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; }; then
	for i in 1 2 3 4 5 6 7; do ok 0 "# SKIP no sshd"; done
	exit 0
fi
start_sshd || { give_up "sshd did not start"; }
host="root@127.0.0.1:$SSH_PORT"
my -e "CREATE USER 'mailserver'@'127.0.0.1' IDENTIFIED BY 's3cr\$t'; GRANT SELECT ON mailserver.* TO 'mailserver'@'127.0.0.1'"
printf 's3cr$t\n' >"$T/pw"; chmod 600 "$T/pw"
sqlite3 "$T/want.sqlite" <"$D/mailserver-sqlite.sql"
want=$(sqlite3 "$T/want.sqlite" 'SELECT * FROM virtual_users; SELECT * FROM virtual_aliases' | od -c)
run_mm db --from "$host" --rsh "$RSH" --src "mysql://mailserver@127.0.0.1:$MY_PORT/mailserver" \
	--src-password-file "$T/pw" --dest "sqlite:$T/ssh1.sqlite"
is "$rc" 0 "over ssh, TCP through the agent, with a password file: exit 0"
is "$(sqlite3 "$T/ssh1.sqlite" 'SELECT * FROM virtual_users; SELECT * FROM virtual_aliases' | od -c)" "$want" "every value arrives"
like "$out" "mailserver: $host:mysql/mailserver" "the source is named by the old server"
run_mm db --from "$host" --rsh "$RSH" --src "mysql://root@/mailserver?socket=$MY_SOCK" --dest "sqlite:$T/ssh2.sqlite"
is "$rc" 0 "over ssh, the old server's unix socket through the agent: exit 0"
is "$(sqlite3 "$T/ssh2.sqlite" 'SELECT * FROM virtual_users; SELECT * FROM virtual_aliases' | od -c)" "$want" "every value arrives"
run_mm db --from "$host" --rsh "$RSH" --src "sqlite:$T/want.sqlite" --dest "$(url dst)" --replace --to "$T/root"
is "$rc" 0 "over ssh, an SQLite file read through the agent: exit 0"
is "$(my -N dst -e 'SELECT COUNT(*) FROM virtual_users')" 3 "its rows arrive"
