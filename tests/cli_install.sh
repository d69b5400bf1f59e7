#!/bin/sh
# cli_install.sh — `ninja install`'s script into a staging DESTDIR (layout, nothing outside it,
# lmgraph.pc names the real prefix) and into a temporary PREFIX, where samples/c/train_step.c
# builds with `pkg-config --cflags --libs lmgraph` alone, against liblmg.so and (--static)
# liblmg.a, and prints a finite loss that falls over five steps.
. "$(dirname "$0")/common.sh"
dir=${LMG_BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
so=$(ls "$dir"/liblmg.so.*.*.* 2>/dev/null | head -n 1)
if [ -z "$so" ]; then
    echo "ok - # SKIP $dir has no liblmg.so (the release build makes it)"
    exit 0
fi
version=${so##*/liblmg.so.}
# build.ninja's libs as ninja hands them to the shell: `$$(cat build/gen/mpi.libs)` adds
# MPI's link flags when the build found mpicc.
libs=$(sed -n 's/^libs = //p' "$root/build.ninja" | sed 's/\$\$/$/g')
libs=$(cd "$root" && eval "echo $libs")
cc=${CC:-cc}

# Staged: everything under DESTDIR, the .pc file speaks of the final prefix.
DESTDIR=$tmp/stage PREFIX=/opt/lmgraph "$root/tools/install.sh" "$dir" "$version" "$libs" \
    >"$tmp/log" 2>&1
check "install with DESTDIR exits 0" test $? -eq 0
s=$tmp/stage/opt/lmgraph
missing=""
for f in bin/lmg lib/liblmg.a "lib/liblmg.so.$version" lib/liblmg.so.0 lib/liblmg.so \
    include/lmgraph.h lib/pkgconfig/lmgraph.pc share/man/man1/lmg.1; do
    [ -e "$s/$f" ] || missing="$missing $f"
done
check "DESTDIR install has the binary, libraries, header, pc file and man page${missing:+ (missing:$missing)}" \
    test -z "$missing"
check "nothing lands outside DESTDIR/PREFIX" test "$(ls "$tmp/stage")" = opt
check "lmgraph.pc names the prefix, not the staging folder" \
    sh -c "grep -qx 'prefix=/opt/lmgraph' '$s/lib/pkgconfig/lmgraph.pc' && ! grep -q '$tmp' '$s/lib/pkgconfig/lmgraph.pc'"
check "lmgraph.pc lists the private libraries" grep -q "^Libs.private: .*-lclblast.*-lOpenCL" \
    "$s/lib/pkgconfig/lmgraph.pc"
check "the man page has a section per command" grep -q '^\.SH "LMG TRAIN"' "$s/share/man/man1/lmg.1"
check "the installed header carries the op list" grep -q '^LMG_OP(MATMUL,' "$s/include/lmgraph.h"

# Installed for real into a temporary prefix.
p=$tmp/prefix
PREFIX=$p "$root/tools/install.sh" "$dir" "$version" "$libs" >"$tmp/log" 2>&1
check "install with PREFIX exits 0" test $? -eq 0
check "the installed lmg runs" sh -c "'$p/bin/lmg' --help | grep -q '^  train '"
export PKG_CONFIG_PATH=$p/lib/pkgconfig
flags=$(pkg-config --cflags --libs lmgraph)
check "pkg-config finds lmgraph" test -n "$flags"
check "the header compiles alone (C11, -Wall -Wextra -pedantic)" sh -c \
    "printf '#include <lmgraph.h>\nint main(void) { return LMG_OP_COUNT > 0 ? 0 : 1; }\n' >'$tmp/h.c' &&
     $cc -std=c11 -Wall -Wextra -pedantic -Werror -c '$tmp/h.c' -o '$tmp/h.o' $(pkg-config --cflags lmgraph)"

loss_falls() { # output file: five finite losses, the last below the first
    awk '/^step [0-9]+ loss / { n++; v = $4; if (v !~ /^[0-9.]+$/) bad = 1; if (n == 1) first = v; last = v }
         END { exit !(n == 5 && !bad && last < first * 0.75) }' "$1"
}
$cc -std=c11 -Wall -Wextra -Werror "$root/samples/c/train_step.c" $flags -o "$tmp/shared" \
    2>"$tmp/err"
check "samples/c builds with pkg-config alone (shared)" test $? -eq 0
check "the shared build needs liblmg.so.0" sh -c "readelf -d '$tmp/shared' | grep -q 'NEEDED.*liblmg.so.0'"
LD_LIBRARY_PATH=$p/lib "$tmp/shared" 5 >"$tmp/out.shared" 2>"$tmp/err"
check "the shared sample runs" test $? -eq 0
check "its loss is finite and falls over 5 steps ($(awk '/^step/ { printf "%s ", $4 }' "$tmp/out.shared"))" \
    loss_falls "$tmp/out.shared"

# --static against a prefix that holds only the archive (as a static-only install would).
cp -R "$p" "$tmp/static"
rm -f "$tmp/static/lib"/liblmg.so*
sed -i "s|$p|$tmp/static|" "$tmp/static/lib/pkgconfig/lmgraph.pc"
sflags=$(PKG_CONFIG_PATH=$tmp/static/lib/pkgconfig pkg-config --static --cflags --libs lmgraph)
$cc -std=c11 "$root/samples/c/train_step.c" $sflags -o "$tmp/static.bin" 2>"$tmp/err"
check "samples/c builds with pkg-config --static alone (archive)" test $? -eq 0
check "the static build does not need liblmg.so" sh -c "! readelf -d '$tmp/static.bin' | grep -q liblmg"
"$tmp/static.bin" 5 >"$tmp/out.static" 2>"$tmp/err"
check "the static sample runs (no 'no shape inference rule' trap)" test $? -eq 0
check "it prints the same losses as the shared one" sh -c \
    "grep '^step' '$tmp/out.static' >'$tmp/a' && grep '^step' '$tmp/out.shared' >'$tmp/b' && cmp -s '$tmp/a' '$tmp/b'"
[ "$fails" -eq 0 ]
