#!/bin/bash
# --state never takes over another program's database.  An admin mistypes
# --state and names an existing SQLite database of another program (here
# one with a "users" table, as Roundcube's or a SQLite mailserver
# database has).  sync takes it as its state and adds its own six tables
# (dirs, msgs, meta, dest_dirs, flags, intents) to that database, exit 0,
# without a word; a table of the same name there (a "flags" or "meta")
# would be mixed with mailmove's rows.
# What must hold: a --state that is a database holding tables and none of
# mailmove's is refused with a clear error, and the file is unchanged.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 3

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'a message\n' >"$M/cur/1700000001.M1P1.old:2,S"
sqlite3 "$T/other.db" "CREATE TABLE users(user_id INTEGER, username TEXT); INSERT INTO users VALUES(1, 'bob');" ||
	give_up "sqlite3 cannot make a database"
cp "$T/other.db" "$T/other.orig"
run_mm sync --from "$T/old" --to "$T/new" --state "$T/other.db"
ok "$([ "$rc" != 0 ] && echo 0)" "sync refuses another program's database as its state (exit $rc)"
is "$(sqlite3 "$T/other.db" .tables | xargs)" users "no table added to it"
ok "$(cmp "$T/other.db" "$T/other.orig" >&2 && echo 0)" "the file is unchanged"
