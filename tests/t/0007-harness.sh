#!/bin/bash
# What keeps `make check` from hanging and `make` honest on a machine
# without the libraries: wait_for gives up at its deadline, a test file that
# runs too long is stopped by lib.sh's watchdog (its children too) with a
# "not ok" saying so, and a build without the Debian packages names them
# and `make deps` before compiling anything.
. "$(dirname "$0")/../lib.sh"
plan 10

# 1. wait_for's deadline holds even when one try would block for longer.
s=$SECONDS
wait_for -t 2 sleep 30
is "$?" 1 "wait_for -t 2 on a command that blocks fails"
ok "$([ $((SECONDS - s)) -le 4 ] && echo 0)" "within its 2 s ($((SECONDS - s)) s)"

# 2. The watchdog: a test file that sleeps past MM_TEST_TIMEOUT.
cat >"$T/slow.sh" <<SLOW
#!/bin/bash
. "$TOP/tests/lib.sh"
plan 2
ok 0 "started"
sleep 300 &
echo \$! >"$T/slow.child"
sleep 300
ok 0 "never"
SLOW
s=$SECONDS
out=$(MM_TEST_TIMEOUT=2 bash "$T/slow.sh" 2>/dev/null)
st=$?
ok "$([ $((SECONDS - s)) -le 6 ] && echo 0)" "a test file past MM_TEST_TIMEOUT=2 is stopped ($((SECONDS - s)) s)"
ok "$([ "$st" != 0 ] && echo 0)" "and exits non-zero ($st)"
like "$out" 'not ok - slow\.sh did not finish in 2 s' "saying so in TAP"
unlike "$out" 'ok 2 - never' "the rest did not run"
child=$(cat "$T/slow.child" 2>/dev/null)
ok "$([ -n "$child" ] && ! kill -0 "$child" 2>/dev/null && echo 0)" "its background child is gone too"

# 3. No Debian packages: make names them and `make deps`, compiles nothing.
mkdir -p "$T/fake"
printf '#!/bin/sh\nexit 1\n' >"$T/fake/dpkg-query"
chmod +x "$T/fake/dpkg-query"
out=$(PATH="$T/fake:$PATH" make -C "$TOP" B="$T/b" "$T/b/buf.o" 2>&1)
like "$out" 'needs these Debian packages to build: .*libmariadb-dev' \
	"make without the packages names them"
like "$out" '`make deps` \(as root\) installs them' "and says that make deps installs them"
ok "$([ ! -e "$T/b/buf.o" ] && echo 0)" "and compiles nothing"
