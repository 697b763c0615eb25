#!/bin/sh
# make install / uninstall, into temporary trees: every file in place with its mode; the
# installed header builds programs through pkg-config (plain, and TLS with the static libs);
# the man page is groff-clean, renders with man, and names every option of examples/node.c;
# the systemd unit passes systemd-analyze verify (when there is one); uninstall leaves no
# file. Ends with "test_install: ok" or the failed checks.
set -u
cd "$(dirname "$0")/.." || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/wsc-install-XXXXXX")
trap 'rm -rf "$T"' EXIT
P=$T/prefix
fail=0
seen=0 # failures when the last part ended: a part is ok when it added none
bad() { echo "test_install: FAILED: $*"; fail=$((fail + 1)); }
ok() { [ $fail = $seen ] && echo "test_install: ok: $*"; seen=$fail; }
# run CMD...: quiet when it succeeds, its output and a failure when it does not
run() { if "$@" >"$T/log" 2>&1; then :; else bad "$*"; cat "$T/log"; fi; }
mode() { stat -c %a "$1" 2>/dev/null; }
files="include/wscluster.h:644 bin/wscluster-node:755 lib/pkgconfig/wscluster.pc:644
share/man/man1/wscluster-node.1:644"
leftovers() { find "$1" ! -type d 2>/dev/null; }

# --- make install PREFIX=$P: the files and their modes
run make -s install PREFIX="$P"
for f in $files; do
    path=$P/${f%:*}
    if [ ! -f "$path" ]; then bad "not installed: $path"
    elif [ "$(mode "$path")" != "${f#*:}" ]; then bad "$path has mode $(mode "$path"), not ${f#*:}"
    fi
done
cmp -s wscluster.h "$P/include/wscluster.h" || bad "the installed header differs from wscluster.h"
"$P/bin/wscluster-node" --help >"$T/help" 2>&1 || bad "installed wscluster-node --help did not exit 0"
grep -q 'Exit status' "$T/help" || bad "--help does not list the exit codes"
ok "make install PREFIX=..."

# --- pkg-config: the header's directory, the version, the TLS libraries for static builds
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
version=$(sed -n 's/^#define WSCLUSTER_VERSION "\(.*\)"/\1/p' wscluster.h)
[ "$(pkg-config --modversion wscluster 2>&1)" = "$version" ] || bad "pkg-config --modversion: $(pkg-config --modversion wscluster 2>&1), not $version"
cflags=$(pkg-config --cflags wscluster 2>&1)
[ "${cflags% }" = "-I$P/include" ] || bad "pkg-config --cflags wscluster: '$cflags'"
static=$(pkg-config --libs --static wscluster 2>&1)
for lib in -lmbedtls -lmbedx509 -lmbedcrypto; do
    case " $static " in *" $lib "*) ;; *) bad "pkg-config --libs --static lacks $lib: '$static'" ;; esac
done
case "$(pkg-config --libs wscluster)" in *mbed*) bad "pkg-config --libs names mbedTLS" ;; esac
ok "pkg-config: $cflags; static: $static"

# --- programs built against the installed header only (no copy of the source tree near)
mkdir -p "$T/app"
sed 's|#include "../wscluster.h"|#include <wscluster.h>|' examples/minimal.c > "$T/app/minimal.c"
grep -q '<wscluster.h>' "$T/app/minimal.c" || bad "examples/minimal.c no longer includes ../wscluster.h"
cat > "$T/app/probe.c" <<'X'
#define WSCLUSTER_IMPLEMENTATION
#include <wscluster.h>
#include <stdio.h>
int main(void) { /* the installed library really runs: a context, a listener, its port */
    wsc_ctx *ctx = wsc_create(NULL);
    int l = ctx ? wsc_listen(ctx, "ws://127.0.0.1:0") : -1;
    if (l < 0 || wsc_listener_port(ctx, l) <= 0) return 1;
    printf("%s %d\n", WSCLUSTER_VERSION, wsc_listener_port(ctx, l));
    wsc_destroy(ctx);
    return 0;
}
X
W="-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror"
CC=${CC:-cc}
run $CC $W $cflags "$T/app/minimal.c" -o "$T/app/minimal"
run $CC $W $cflags "$T/app/probe.c" -o "$T/app/probe"
if [ -x "$T/app/probe" ]; then
    out=$("$T/app/probe") || bad "the probe built on the installed header failed"
    case "$out" in "$version "[0-9]*) ;; *) bad "probe said '$out'" ;; esac
fi
if [ -f /usr/include/mbedtls/ssl.h ]; then # the TLS variant links with the static libs
    run $CC $W $cflags -DWSCLUSTER_MBEDTLS "$T/app/probe.c" -o "$T/app/probe-tls" $static
    [ -x "$T/app/probe-tls" ] && { "$T/app/probe-tls" >/dev/null || bad "the TLS probe failed"; }
    ok "built minimal.c, a probe and its TLS variant on the installed header"
else
    ok "built minimal.c and a probe on the installed header (no mbedTLS headers: TLS skipped)"
fi

# --- the man page: no groff warning, man renders it, every option and its variable in it
page=$P/share/man/man1/wscluster-node.1
warn=$(groff -man -ww -z "$page" 2>&1)
[ -z "$warn" ] || bad "groff -man -ww -z: $warn"
MANWIDTH=80 man -l "$page" >"$T/man.txt" 2>"$T/man.err" || bad "man -l failed: $(cat "$T/man.err")"
for s in NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT ENDPOINTS SIGNALS 'EXIT STATUS' FILES \
         EXAMPLES 'SEE ALSO'; do
    grep -q "^$s\$" "$T/man.txt" || bad "man -l shows no section $s"
done
sed -n 's/^ *{"\([a-z-]*\)", "\(WSCLUSTER_[A-Z_]*\)", "\([^"]*\)".*/\1 \2 \3/p' examples/node.c \
    > "$T/opts"
[ "$(wc -l < "$T/opts")" -ge 20 ] || bad "read only $(wc -l < "$T/opts") options from examples/node.c"
# the options the page has an item for: .TP, then .BI \-\-name " ARG"
awk 'prev == ".TP" { print } { prev = $0 }' "$page" |
    sed -n 's/^\.BI \\-\\-\([a-z\\-]*\).*/\1/p' | sed 's/\\-/-/g' > "$T/items"
while read -r name env def; do
    grep -qx -- "$name" "$T/items" || bad "the man page has no item for --$name"
    grep -qF -- "$env" "$page" || bad "the man page lacks $env (--$name)"
    [ -z "$def" ] || grep -qF -- "$def" "$page" || bad "the man page lacks --$name's default $def"
done < "$T/opts"
ok "man page: groff -ww clean, man -l renders, $(wc -l < "$T/opts") options with their variables"

# --- the systemd unit, pointed at the installed node; Documentation= finds the installed page
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s|^ExecStart=/usr/local/bin/wscluster-node|ExecStart=$P/bin/wscluster-node|" \
        examples/wscluster-node.service > "$T/wscluster-node.service"
    grep -q "^ExecStart=$P/" "$T/wscluster-node.service" || bad "the unit's ExecStart is not /usr/local/bin/wscluster-node"
    # lines about the host's own units (a machine may carry broken ones) are not ours
    if MANPATH="$P/share/man" systemd-analyze verify "$T/wscluster-node.service" >"$T/log" 2>&1 \
        && ! grep -q "wscluster-node" "$T/log"; then
        ok "systemd-analyze verify: the unit is accepted"
    else
        bad "systemd-analyze verify:"; cat "$T/log"
    fi
else
    echo "test_install: skipped: systemd-analyze verify (no systemd-analyze here)"
fi

# --- make uninstall: no file left
run make -s uninstall PREFIX="$P"
[ -z "$(leftovers "$P")" ] || bad "make uninstall left: $(leftovers "$P")"
ok "make uninstall"

# --- DESTDIR staging, other directories: the files land under DESTDIR, the .pc names PREFIX
S=$T/stage
run make -s install DESTDIR="$S" PREFIX=/usr BINDIR=/usr/sbin MANDIR=/usr/share/man-alt
for f in usr/include/wscluster.h usr/sbin/wscluster-node usr/lib/pkgconfig/wscluster.pc \
         usr/share/man-alt/man1/wscluster-node.1; do
    [ -f "$S/$f" ] || bad "DESTDIR install: no $S/$f"
done
grep -qx 'prefix=/usr' "$S/usr/lib/pkgconfig/wscluster.pc" 2>/dev/null || bad "the staged .pc does not say prefix=/usr"
grep -qx 'includedir=${prefix}/include' "$S/usr/lib/pkgconfig/wscluster.pc" 2>/dev/null \
    || bad "the staged .pc's includedir is not \${prefix}/include"
run make -s uninstall DESTDIR="$S" PREFIX=/usr BINDIR=/usr/sbin MANDIR=/usr/share/man-alt
[ -z "$(leftovers "$S")" ] || bad "make uninstall DESTDIR=... left: $(leftovers "$S")"
ok "DESTDIR=... PREFIX=/usr BINDIR=... MANDIR=...: install and uninstall"

[ $fail = 0 ] && echo "test_install: ok"
[ $fail = 0 ]
