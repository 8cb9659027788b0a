#!/bin/sh
# Installs the Debian 12 packages mxgate needs to build and test, if any is missing.
# Runs apt-get as root (or through sudo). Safe to run again: it installs nothing
# when everything is present.
set -eu
PKGS="cmake ninja-build g++ ccache pkg-config
libboost-dev libssl-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev libc-ares-dev
libpsl-dev publicsuffix libgmime-3.0-dev libhyperscan-dev libre2-dev libpcre2-dev libsqlite3-dev sqlite3
libhiredis-dev redis-server
libgtest-dev libgmock-dev openssl
python3 python3-aiosmtpd python3-dnslib python3-yaml python3-dkim opendkim-tools spamassassin swaks postfix iproute2"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Postfix is installed for smtp-sink/smtp-source only: never leave its daemon running.
$SUDO postfix stop >/dev/null 2>&1 || true
# redis-server is installed for the tests, which start their own on 127.0.0.1:
# never leave the packaged daemon running either.
$SUDO systemctl stop redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
