# tests/lib-mariadb.sh: a private MariaDB server for a test file, and
# independent dumps (by the engines' own command-line clients, not by
# mailmove) to compare databases with.  Source it after tests/lib.sh.
#
#   start_mariadb [OPT...] datadir, socket and a free port under $T; sets
#                          $MY_SOCK and $MY_PORT; the server runs as root and
#                          root logs in over the socket (unix_socket auth)
#   stop_mariadb           stops it by the pid we started
#   my [ARGS...]           the mariadb client as root over $MY_SOCK
#   dump_my DB TABLE COL...       one line per row ordered by the first
#   dump_sqlite FILE TABLE COL... column, each value as hex or NULL

have_mariadb() {
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]
}

start_mariadb() {
	local d="$T/mariadb" mysqld
	mysqld=$(command -v mariadbd || echo /usr/sbin/mariadbd)
	mkdir -p "$d/data"
	MY_SOCK="$d/mysqld.sock"
	MY_PORT=$(free_port)
	mariadb-install-db --no-defaults --datadir="$d/data" --user=root \
		--auth-root-authentication-method=socket --skip-test-db \
		>"$d/install.log" 2>&1 || { cat "$d/install.log" >&2; return 1; }
	start_bg mariadb "$mysqld" --no-defaults --datadir="$d/data" \
		--socket="$MY_SOCK" --port="$MY_PORT" --bind-address=127.0.0.1 \
		--user=root --pid-file="$d/mysqld.pid" --log-error="$d/error.log" \
		--innodb-buffer-pool-size=64M --skip-log-bin \
		--innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
		--collation-server=utf8mb4_unicode_ci "$@"
	wait_for my -e 'SELECT 1' || { cat "$d/error.log" >&2; return 1; }
}

stop_mariadb() { stop_bg mariadb; }

my() {
	mariadb --no-defaults -S "$MY_SOCK" -uroot --default-character-set=utf8mb4 "$@"
}

# The SELECT list: every column as hex of its bytes, or NULL.
_dump_cols() {
	local sel="" c
	for c in "$@"; do
		sel="$sel${sel:+, }CASE WHEN $c IS NULL THEN 'NULL' ELSE hex(CAST($c AS $_dump_bin)) END"
	done
	printf '%s' "$sel"
}

dump_my() {
	local db=$1 t=$2; shift 2
	_dump_bin=BINARY
	my -N -B "$db" -e "SELECT $(_dump_cols "$@") FROM $t ORDER BY $1"
}

dump_sqlite() {
	local f=$1 t=$2; shift 2
	_dump_bin=BLOB
	sqlite3 -separator '	' "$f" "SELECT $(_dump_cols "$@") FROM $t ORDER BY $1"
}
