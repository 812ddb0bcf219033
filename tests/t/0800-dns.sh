#!/bin/bash
# mailmove dns against a real authoritative server (nsd): MX records and
# their addresses, old or new server, TTL advice that follows the zone as
# it changes, --wait-switched ending when the MX moves, DKIM records that
# match the destination's keys and one that does not.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-dns.sh"
command -v nsd >/dev/null || skip_all "nsd is not installed"
plan 36

new="$T/new"
mkdir -p "$new/etc/rspamd" "$new/var/lib/rspamd/dkim" "$new/var/lib/ispmail"
sqlite3 "$new/var/lib/ispmail/mailserver.sqlite" \
	"CREATE TABLE virtual_domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
	 INSERT INTO virtual_domains (name) VALUES ('example.org'), ('other.org');"

# DKIM keys on the destination; other.org's TXT publishes a different key.
openssl genrsa -out "$new/var/lib/rspamd/dkim/example.org.2026.key" 2048 2>/dev/null
openssl genrsa -out "$new/var/lib/rspamd/dkim/other.org.s1.key" 2048 2>/dev/null
openssl genrsa -out "$T/stranger.key" 2048 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$new/var/lib/rspamd/dkim/example.org.ed.key" 2>/dev/null
printf 'example.org 2026\nexample.org ed\nother.org s1\n' >"$new/etc/rspamd/dkim_selectors.map"
# A 2048-bit key is longer than one TXT string: split it in two.
txt() {
	local p
	p=$(openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | base64 -w0)
	printf '"v=DKIM1; k=rsa; " "p=%s" "%s"' "${p:0:200}" "${p:200}"
}
dkim_good=$(txt "$new/var/lib/rspamd/dkim/example.org.2026.key")
# Ed25519: p= is the raw 32-byte public key.
ed_p=$(openssl pkey -in "$new/var/lib/rspamd/dkim/example.org.ed.key" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)
dkim_good="$dkim_good
ed._domainkey IN TXT \"v=DKIM1; k=ed25519; p=$ed_p\""
dkim_bad=$(txt "$T/stranger.key")

OLD=192.0.2.10 NEW=192.0.2.20
# zone NAME SERIAL TTL MAILHOST-ADDRESS DKIM-TXT
zone() {
	cat >"$T/nsd/$1.zone" <<Z
\$ORIGIN $1.
\$TTL 3600
@ IN SOA ns.$1. hostmaster.$1. $2 3600 600 86400 300
@ IN NS ns
ns IN A 127.0.0.1
@ $3 IN MX 10 mail
mail $3 IN A $4
$5
Z
}
mkdir -p "$T/nsd"
zone example.org 1 3600 $OLD "2026._domainkey IN TXT $dkim_good"
zone other.org 1 86400 $OLD "s1._domainkey IN TXT $dkim_bad"
start_nsd example.org other.org
ok $? "nsd serves the test zones on 127.0.0.1:$NSD_PORT"

dns() { run_mm dns --to "$new" --server "127.0.0.1:$NSD_PORT" \
	--old-ip $OLD --new-ip $NEW --state "$T/state.sqlite" "$@"; }
jq_domain() { printf '%s\n' "$out" | grep '"event":"domain"' | grep "\"domain\":\"$1\""; }

# 1. High TTLs: the advice is to lower them.
dns
is "$rc" 1 "a DKIM record that does not match makes the run exit 1"
like "$out" 'example.org' "the domains come from the destination's mailserver database"
like "$out" 'other.org' "... all of them"
like "$out" 'MX 10 mail.example.org \(TTL 3600\)' "the MX record is shown with its TTL"
like "$out" "$OLD \\(TTL 3600\\): the old server" "the MX host's address is the old server's"
like "$out" 'TTL 3600 s is high: lower it to 300 or less' "a high TTL: lower it to 300 or less"
like "$out" 'DKIM 2026: match' "the DKIM record of example.org matches the key"
like "$out" 'DKIM ed: match' "the Ed25519 DKIM record of example.org matches its key"
like "$out" 'DKIM s1: mismatch' "the DKIM record of other.org does not"
like "$err" 'other.org: DKIM selector s1' "and a warning says so"
is "$(stat -c %a "$T/state.sqlite")" 600 "the state file is private (0600)"

# 2. The TTL is lowered: the switch is safe one old TTL after the lowering.
zone example.org 2 300 $OLD "2026._domainkey IN TXT $dkim_good"
reload_nsd example.org 2
before=$(date +%s)
dns --json
after=$(date +%s)
d=$(jq_domain example.org)
like "$d" '"advice":"wait"' "after lowering, the advice is to wait"
lowered=$(printf '%s' "$d" | grep -o '"lowered_at":[0-9]*' | cut -d: -f2)
safe=$(printf '%s' "$d" | grep -o '"safe_at":[0-9]*' | cut -d: -f2)
ok $([ -n "$lowered" ] && [ "$lowered" -ge "$before" ] && [ "$lowered" -le "$after" ]; echo $?) \
	"the lowering is remembered with its time"
is "$((safe - lowered))" 3600 "safe from the lowering plus the old TTL of 3600 s"
like "$(jq_domain other.org)" '"advice":"lower"' "other.org still has its high TTL"
dns
like "$out" 'TTL lowered to 300 s .*the switch is safe from' "the text names the moment from which the switch is safe"

# 3. Once that moment has passed (the state is moved back in time).
sqlite3 "$T/state.sqlite" "UPDATE dns_ttl SET lowered_at = lowered_at - 3601 WHERE domain = 'example.org'"
dns example.org
like "$out" 'the switch is safe since' "after the old TTL has passed, the switch is safe"
is "$rc" 0 "only example.org asked: exit 0"

# --dry-run writes no state.
sum=$(sqlite3 "$T/state.sqlite" "SELECT group_concat(domain || lowered_at) FROM dns_ttl")
run_mm dns --dry-run --server "127.0.0.1:$NSD_PORT" --state "$T/state.sqlite" \
	--new-ip $NEW --to "$T/empty" example.org other.org
is "$(sqlite3 "$T/state.sqlite" "SELECT group_concat(domain || lowered_at) FROM dns_ttl")" \
	"$sum" "--dry-run leaves the state alone"

# 4. --wait-switched ends when the MX moves to the new server.
"$MM" dns --to "$T/empty" --server "127.0.0.1:$NSD_PORT" --old-ip $OLD \
	--new-ip $NEW --state "$T/state.sqlite" --wait-switched --timeout 60 \
	--interval 1 example.org >"$T/wait.out" 2>"$T/wait.err" &
waiter=$!
sleep 2
ok $(kill -0 $waiter 2>/dev/null; echo $?) "--wait-switched waits while the MX points at the old server"
# The DNS server goes away for a while (queries fail) and comes back
# with the switched zone: the wait carries on.
stop_nsd
sleep 2
zone example.org 3 300 $NEW "2026._domainkey IN TXT $dkim_good"
start_bg nsd nsd -d -c "$T/nsd/nsd.conf"
for _ in $(seq 1 100); do kill -0 $waiter 2>/dev/null || break; sleep 0.1; done
wait $waiter
is "$?" 0 "--wait-switched survives the DNS server going away and exits 0 once the MX points at the new server"
like "$(cat "$T/wait.err")" 'example.org: the MX now points at the new server' "and says which domain switched"
dns example.org
like "$out" "$NEW \\(TTL 300\\): the new server" "the address is now the new server's"
like "$out" 'switched: mail goes to the new server' "the domain counts as switched"

# 5. ... or times out naming the domains still on the old server.
dns --wait-switched --timeout 2 --interval 1 example.org other.org
is "$rc" 1 "--wait-switched --timeout exits 1 when a domain has not switched"
like "$err" 'not yet on the new server: other.org' "and names the domain still on the old server"
unlike "$err" 'not yet on the new server:.*example.org' "but not the switched one"

# Interrupted while waiting: exit 5.
"$MM" dns --to "$T/empty" --server "127.0.0.1:$NSD_PORT" --old-ip $OLD \
	--new-ip $NEW --state "$T/state.sqlite" --wait-switched --interval 1 \
	other.org >/dev/null 2>&1 &
waiter=$!
sleep 1.5
kill -INT $waiter
wait $waiter
is "$?" 5 "--wait-switched interrupted exits 5"

# Addresses discovered: the old server's through its agent (hostname -I),
# the new server's from this machine; the domains from the old server's
# mailserver database when the destination has none (sample servers).
host_addr=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | grep -v : | head -1)
if [ -n "$host_addr" ]; then
	bash "$TOP/scripts/sample-servers" "$T/samples" >/dev/null 2>&1
	zone example.org 4 300 "$host_addr" "2026._domainkey IN TXT $dkim_good"
	reload_nsd example.org 4
	run_mm dns --from "$T/samples/old" --to "$T/samples/new" \
		--server "127.0.0.1:$NSD_PORT" --new-ip $NEW --state "$T/s3.sqlite"
	like "$err" "domains from the old server's /var/lib/ispmail/mailserver.sqlite" \
		"without a database on the destination, the domains come from the old server's"
	like "$out" "$host_addr \\(TTL 300\\): the old server" "the old server's addresses are asked through the agent"
	run_mm dns --server "127.0.0.1:$NSD_PORT" --state "$T/s3.sqlite" example.org
	like "$out" "$host_addr \\(TTL 300\\): the new server" "without --new-ip, this machine's addresses are the new server's"
else
	for i in 1 2 3; do ok 0 "# SKIP this machine has no IPv4 address besides loopback"; done
fi

# Usage errors.
run_mm dns --server 127.0.0.1:99999 example.org
is "$rc" 2 "a bad --server is a usage error"
run_mm dns --to "$T/empty" --server "127.0.0.1:$NSD_PORT" --state "$T/s2.sqlite"
is "$rc" 2 "no domains and no database is a usage error"
like "$err" 'give DOMAIN arguments or --domains-from' "and says what to do"
printf 'example.org\n# comment\nbad/name\n' >"$T/domains"
run_mm dns --domains-from "$T/domains" --server "127.0.0.1:$NSD_PORT" --state "$T/s2.sqlite"
like "$err" 'not a domain name: bad/name' "--domains-from rejects a name that is not a domain"
stop_nsd
