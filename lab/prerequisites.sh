#!/usr/bin/env bash
# What `make sandbox` and `make test` need on this machine, installed when missing (Debian or
# Ubuntu, as root): Docker's engine (docker.io: the test hosts and every lab image run in it),
# debootstrap (the test-host images are built from the distribution's mirror, no registry) and
# the venv module of the system Python (the project's virtualenv). Everything else, the
# TimescaleDB build tools included, runs inside containers built from those.
set -euo pipefail

missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
python=${PYTHON:-python3}
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # Debian's python3 ships venv without ensurepip: python3-venv (or python3.X-venv) adds it
  minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  missing+=("python${minor}-venv")
fi
((${#missing[@]})) || exit 0

if [ "$(id -u)" != 0 ]; then
  echo "prerequisites: missing ${missing[*]}; run as root, or install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prerequisites: missing ${missing[*]} and no apt-get: install them yourself" >&2
  exit 1
fi
echo "prerequisites: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
