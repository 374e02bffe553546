#!/bin/sh
# Builds the Debian package from this tree and checks it with lintian.
#   scripts/build-deb.sh [OUTDIR]        (default OUTDIR: build-deb/)
# Needs the build dependencies (scripts/install-deps.sh installs them).
# The tree's files (tracked and untracked, minus .gitignore'd) are copied to a
# temporary source directory with packaging/debian as debian/, so the build
# never writes into the repository.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(sed -n 's/^project(tamis VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
debver=$(sed -n '1s/^tamis (\([^)]*\)).*/\1/p' "$repo/packaging/debian/changelog")
if [ "$version" != "$debver" ]; then
  echo "build-deb: CMakeLists.txt says $version but packaging/debian/changelog says $debver" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/tamis-$version"
mkdir -p "$src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - --no-recursion --ignore-failed-read) |
  tar xf - -C "$src"
rm -rf "$src/debian"
cp -r "$repo/packaging/debian" "$src/debian"

echo "== dpkg-buildpackage (tamis $version)"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
  tail -60 "$work/build.log"
  exit 1
}
rm -f "$out"/tamis_*.deb "$out"/tamis-dbgsym_*.deb "$out"/tamis_*.changes "$out"/tamis_*.buildinfo
mv "$work"/tamis*.deb "$work"/tamis_*.changes "$work"/tamis_*.buildinfo "$out"/
deb=$(ls "$out"/tamis_"$version"_*.deb)
echo "== lintian $deb"
lintian --fail-on error --display-info "$deb"
echo "built $deb"
