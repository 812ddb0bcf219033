# tests/lib-redis.sh: real redis-server processes for the redis tests,
# each on a private unix socket in $T, no persistence, stopped by pid.
#
#   start_redis NAME [CONFIG-LINE...]  redis-server on $T/NAME.sock
#   rcli NAME ARGS...                  redis-cli against it (password from
#                                      $T/NAME.pw through REDISCLI_AUTH)
#   resp_cmd ARG...                    one command in RESP on stdout
#   load_keys NAME FILE                pipe a RESP file into NAME

command -v redis-server >/dev/null 2>&1 || skip_all "no redis-server"

start_redis() {
	local name=$1; shift
	mkdir -p "$T/$name"
	{
		echo "port 0"
		echo "unixsocket $T/$name.sock"
		echo "unixsocketperm 700"
		echo 'save ""'
		echo "appendonly no"
		echo "dir $T/$name"
		echo "daemonize no"
		echo "enable-debug-command yes"
		printf '%s\n' "$@"
	} >"$T/$name.conf"
	chmod 600 "$T/$name.conf"
	start_bg "redis-$name" redis-server "$T/$name.conf"
	wait_for rcli "$name" PING
}

stop_redis() { stop_bg "redis-$1"; rm -f "$T/$1.sock"; }

rcli() {
	local name=$1; shift
	if [ -f "$T/$name.pw" ]; then
		REDISCLI_AUTH=$(cat "$T/$name.pw") redis-cli -s "$T/$name.sock" "$@"
	else
		redis-cli -s "$T/$name.sock" "$@"
	fi
}

load_keys() {
	rcli "$1" --pipe <"$2" >"$T/pipe.out" 2>&1
}

# resp_keys N PREFIX [EVERY-NTH-WITH-TTL]: RESP for N small string keys
# PREFIX:1.. (every Nth with a one-hour TTL).
resp_keys() {
	perl -e '
		my ($n, $p, $ttl) = @ARGV;
		sub c { my $s = "*" . scalar(@_) . "\r\n";
			$s .= "\$" . length($_) . "\r\n$_\r\n" for @_; $s }
		my $out = "";
		for my $i (1 .. $n) {
			$out .= ($ttl && $i % $ttl == 0)
			    ? c("SET", "$p:$i", "v$i", "PX", 3600000)
			    : c("SET", "$p:$i", "v$i");
			if (length($out) > 65536) { print $out; $out = ""; }
		}
		print $out;' "$@"
}

# resp_cmd ARG...: one command in RESP; \xHH in an argument is that byte.
resp_cmd() {
	perl -e '
		my @a = map { s/\\x([0-9a-fA-F]{2})/chr(hex($1))/ge; $_ } @ARGV;
		print "*" . scalar(@a) . "\r\n";
		print "\$" . length($_) . "\r\n$_\r\n" for @a;' "$@"
}

# digest_same DESC: both servers (src, dst) hold the same data by Redis's
# own DEBUG DIGEST (a real digest, not an error message twice).
digest_same() {
	local a b
	a=$(rcli src DEBUG DIGEST 2>&1); b=$(rcli dst DEBUG DIGEST 2>&1)
	if printf '%s' "$a" | grep -Eqx '[0-9a-f]{40}' && [ "$a" = "$b" ] &&
	   [ "$a" != 0000000000000000000000000000000000000000 ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		diag "old: $a" "new: $b"
	fi
}
