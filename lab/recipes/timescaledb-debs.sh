#!/usr/bin/env bash
# Runs in the lab's builder container: builds TimescaleDB $VERSION (Community build: the
# Apache and Timescale-licensed parts) from /src/timescaledb-$VERSION.tar.gz for PostgreSQL
# $PG and packages it as Timescale's repository does, into /out:
#   timescaledb-2-loader-postgresql-$PG  the loader (timescaledb.so, preloaded by the server)
#   timescaledb-2-postgresql-$PG         the versioned libraries and the extension's SQL,
#                                         depending on the loader of the same version
# Both at version $DEB_VERSION (e.g. 2.19.3~debian13-1701).
set -euo pipefail
: "${VERSION:?}" "${PG:?}" "${DEB_VERSION:?}"
work=$(mktemp -d)
tar -C "$work" -xzf "/src/timescaledb-$VERSION.tar.gz"
src="$work/timescaledb-$VERSION"
pg_config="/usr/lib/postgresql/$PG/bin/pg_config"
# The archives are `git archive` exports: no git history, so no downgrade script (it is
# generated from an older tag); regression and TAP suites are upstream's CI, not ours.
(cd "$src" && ./bootstrap -DPG_CONFIG="$pg_config" -DCMAKE_BUILD_TYPE=Release \
   -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
   -DGENERATE_DOWNGRADE_SCRIPT=OFF >"$work/bootstrap.log" 2>&1) \
  || { tail -30 "$work/bootstrap.log"; exit 1; }
make -C "$src/build" -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -30 "$work/make.log"; exit 1; }
make -C "$src/build" install DESTDIR="$work/root" >/dev/null

libdir=$("$pg_config" --pkglibdir)
sharedir=$("$pg_config" --sharedir)
arch=$(dpkg --print-architecture)
[ -f "$work/root$libdir/timescaledb-tsl-$VERSION.so" ] \
  || { echo "no timescaledb-tsl-$VERSION.so: not a Community build" >&2; exit 1; }

# package NAME DESCRIPTION DEPENDS FILE... : one binary package from files under $work/root
package() {
  local name=$1 description=$2 depends=$3; shift 3
  local dir="$work/pkg/$name"
  mkdir -p "$dir/DEBIAN"
  for file in "$@"; do
    mkdir -p "$dir$(dirname "$file")"
    cp -a "$work/root$file" "$dir$file"
  done
  # the shared libraries' own dependencies, as dpkg-shlibdeps computes them for any package
  local shlibs
  shlibs=$(cd "$work" && mkdir -p debian && printf 'Source: timescaledb\n\nPackage: x\nArchitecture: any\n' \
    >debian/control && dpkg-shlibdeps -O -e $(find "$dir" -name '*.so') 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')
  cat >"$dir/DEBIAN/control" <<CONTROL
Package: $name
Version: $DEB_VERSION
Architecture: $arch
Maintainer: tsdb-deploy lab <lab@tsdb-deploy.invalid>
Installed-Size: $(du -sk "$dir" | cut -f1)
Depends: postgresql-$PG, ${shlibs}${depends:+, $depends}
Conflicts: postgresql-$PG-timescaledb
Replaces: postgresql-$PG-timescaledb
Section: database
Priority: optional
Homepage: https://github.com/timescale/timescaledb
Description: $description
 Built by the tsdb-deploy lab from the unmodified upstream release $VERSION, for tests
 of the production install path (Timescale's repository is out of reach there).
CONTROL
  dpkg-deb --root-owner-group -Zxz --build "$dir" "/out/${name}_${DEB_VERSION}_${arch}.deb" >/dev/null
}

package "timescaledb-2-loader-postgresql-$PG" \
  "TimescaleDB loader for PostgreSQL $PG" "" \
  "$libdir/timescaledb.so"
package "timescaledb-2-postgresql-$PG" \
  "TimescaleDB $VERSION (Community build) for PostgreSQL $PG" \
  "timescaledb-2-loader-postgresql-$PG (= $DEB_VERSION)" \
  "$libdir/timescaledb-$VERSION.so" "$libdir/timescaledb-tsl-$VERSION.so" \
  $(cd "$work/root" && find ".$sharedir/extension" -name 'timescaledb*' | sed 's/^\.//')
ls -l /out
