#!/usr/bin/env bash
# Installs what the PostgreSQL tests need: Debian's PostgreSQL server binaries (initdb,
# pg_ctl, postgres). No cluster is created and no service started: each test starts its own
# server on a loopback port with a temporary data directory, and stops it. Does nothing when
# the binaries are there.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-postgres: installing postgresql (Debian packages)"
$SUDO apt-get update -qq
# The package may make and start its own cluster on port 5432; the tests never use it (each
# starts a server of its own on a free port).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql > /dev/null
ls /usr/lib/postgresql/*/bin/initdb
