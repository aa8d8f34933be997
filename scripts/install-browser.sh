#!/usr/bin/env bash
# Installs what the browser test needs: Debian's chromium and chromium-driver
# (/usr/bin/chromium, /usr/bin/chromedriver). Nothing is downloaded outside Debian's
# packages; does nothing when both are there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-browser: installing chromium and chromium-driver (Debian packages)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver > /dev/null
