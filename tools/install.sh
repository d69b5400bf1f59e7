#!/bin/sh
# install.sh — installs a built lmgraph (run by `ninja install`): the lmg binary, liblmg.so and
# liblmg.a, the header, the lmgraph.pc pkg-config file and the lmg(1) man page made from --help.
#
# usage: tools/install.sh BUILD_DIR VERSION "LIBS"
#   PREFIX   where it will live (default /usr/local); written into lmgraph.pc
#   DESTDIR  a staging root prepended to every path written (packaging); not in lmgraph.pc
#   LIBDIR   default $PREFIX/lib
set -eu
[ $# -eq 3 ] || { echo "usage: tools/install.sh BUILD_DIR VERSION LIBS" >&2; exit 2; }
build=$1
version=$2
libs=$3
soversion=${version%%.*}
prefix=${PREFIX:-/usr/local}
libdir=${LIBDIR:-$prefix/lib}
dest=${DESTDIR:-}
case "$prefix" in /*) ;; *) echo "install.sh: PREFIX must be absolute: $prefix" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
for f in "$build/lmg" "$build/liblmg.a" "$build/liblmg.so.$version"; do
    [ -f "$f" ] || { echo "install.sh: $f is missing: run ninja first" >&2; exit 1; }
done

bindir=$dest$prefix/bin
incdir=$dest$prefix/include
man1=$dest$prefix/share/man/man1
pcdir=$dest$libdir/pkgconfig
mkdir -p "$bindir" "$dest$libdir" "$incdir" "$man1" "$pcdir"

install -m 755 "$build/lmg" "$bindir/lmg"
install -m 644 "$build/liblmg.a" "$dest$libdir/liblmg.a"
install -m 755 "$build/liblmg.so.$version" "$dest$libdir/liblmg.so.$version"
ln -sfn "liblmg.so.$version" "$dest$libdir/liblmg.so.$soversion"
ln -sfn "liblmg.so.$soversion" "$dest$libdir/liblmg.so"

# The header includes ops/ops.def to list the ops; the installed copy carries the list itself.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk '$0 == "#include \"../ops/ops.def\"" { while ((getline l < "ops/ops.def") > 0) print l; next }
     { print }' include/lmgraph.h >"$tmp"
install -m 644 "$tmp" "$incdir/lmgraph.h"

cat >"$tmp" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=$libdir
includedir=\${prefix}/include

Name: lmgraph
Description: trains language models from computation graphs (OpenCL and CLBlast, reference C)
Version: $version
Libs: -L\${libdir} -llmg
Libs.private: $libs
Cflags: -I\${includedir}
EOF
install -m 644 "$tmp" "$pcdir/lmgraph.pc"

# lmg(1): the top-level help, then each command's --help, as preformatted sections.
roff() { sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\\&&/"; }
{
    echo ".TH LMG 1 \"\" \"lmgraph $version\" \"User Commands\""
    echo ".SH NAME"
    echo "lmg \\- train language models from computation graphs"
    echo ".SH SYNOPSIS"
    echo ".nf"
    "$build/lmg" --help | roff
    echo ".fi"
    for cmd in $("$build/lmg" --help | awk '/^commands:/ { on = 1; next } on && NF { print $1 }'); do
        echo ".SH \"LMG $(echo "$cmd" | tr a-z A-Z)\""
        echo ".nf"
        "$build/lmg" "$cmd" --help 2>&1 | roff
        echo ".fi"
    done
    echo ".SH SEE ALSO"
    echo "The C library: lmgraph.h, pkg-config \\-\\-cflags \\-\\-libs lmgraph."
} >"$tmp"
install -m 644 "$tmp" "$man1/lmg.1"

echo "installed lmg $version into $dest$prefix (library in $dest$libdir)"
