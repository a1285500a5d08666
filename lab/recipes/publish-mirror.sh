#!/usr/bin/env bash
# Runs in the lab's builder container: publishes the packages in /debs as two signed apt
# repositories under /mirror, laid out like the upstream ones the deploy reads in production,
# signed with the lab's own key (GNUPGHOME=/keys):
#   /mirror/timescale/            like https://packagecloud.io/timescale/timescaledb
#     gpgkey                      the signing key (Timescale publishes theirs at <url>/gpgkey)
#     $DISTRO/dists/$CODENAME/    deb <url>/$DISTRO/ $CODENAME main
#   /mirror/pgdg/                 like https://apt.postgresql.org/pub/repos/apt
#     signing-key.asc             (PGDG's is at www.postgresql.org/media/keys/ACCC4CF8.asc)
#     dists/$CODENAME-pgdg/       deb <url> $CODENAME-pgdg main
#   /mirror/foreign-key.asc       a key that signs nothing here, for the "wrong key" refusal
# /debs/timescale/*.deb and /debs/pgdg/*.deb are the two repositories' packages.
set -euo pipefail
: "${DISTRO:?}" "${CODENAME:?}"
export GNUPGHOME=/keys
arch=$(dpkg --print-architecture)
sign_key=$(gpg --batch --list-secret-keys --with-colons "lab-mirror@tsdb-deploy.invalid" \
  | awk -F: '$1 == "fpr" {print $10; exit}')
[ -n "$sign_key" ] || { echo "no lab signing key in $GNUPGHOME" >&2; exit 1; }

# publish ROOT SUITE ORIGIN LABEL DEBS: pool, Packages, Release, InRelease, Release.gpg
publish() {
  local root=$1 suite=$2 origin=$3 label=$4 debs=$5
  local dist="$root/dists/$suite"
  mkdir -p "$root/pool/main" "$dist/main/binary-$arch"
  for deb in "$debs"/*.deb; do
    local name=${deb##*/}; name=${name%%_*}
    mkdir -p "$root/pool/main/${name:0:1}/$name"
    cp "$deb" "$root/pool/main/${name:0:1}/$name/"
  done
  (cd "$root" && apt-ftparchive packages pool/main >"dists/$suite/main/binary-$arch/Packages")
  gzip -9nk "$dist/main/binary-$arch/Packages"
  (cd "$dist" && apt-ftparchive \
     -o "APT::FTPArchive::Release::Origin=$origin" -o "APT::FTPArchive::Release::Label=$label" \
     -o "APT::FTPArchive::Release::Suite=$suite" -o "APT::FTPArchive::Release::Codename=$suite" \
     -o "APT::FTPArchive::Release::Architectures=$arch" \
     -o "APT::FTPArchive::Release::Components=main" release . >Release)
  gpg --batch --yes --digest-algo SHA512 --local-user "$sign_key" --clearsign \
    -o "$dist/InRelease" "$dist/Release"
  gpg --batch --yes --digest-algo SHA512 --local-user "$sign_key" --armor --detach-sign \
    -o "$dist/Release.gpg" "$dist/Release"
}

publish "/mirror/timescale/$DISTRO" "$CODENAME" "tsdb-deploy lab" "TimescaleDB (lab build)" \
  /debs/timescale
gpg --batch --armor --export "$sign_key" >/mirror/timescale/gpgkey
publish /mirror/pgdg "$CODENAME-pgdg" "tsdb-deploy lab" "PostgreSQL (Debian's, PGDG layout)" \
  /debs/pgdg
cp /mirror/timescale/gpgkey /mirror/pgdg/signing-key.asc
gpg --batch --armor --export "lab-foreign@tsdb-deploy.invalid" >/mirror/foreign-key.asc
find /mirror -type f | sort
