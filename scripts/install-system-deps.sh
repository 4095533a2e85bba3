#!/usr/bin/env bash
# Installs the Debian packages of the real servers the test suite starts (as throwaway processes):
# OpenLDAP slapd + ldap-utils, DCMTK, Orthanc + its DICOMweb plugin, tinyproxy (an HTTP proxy), Chromium + its
# WebDriver (the monitoring page's browser tests, the docs screenshots), curl (the REST API how-to is run as a shell
# session). The system services are never used.
# The docs build reads the intersphinx inventories of Python, pydicom and attrs from Debian's documentation packages
# python3-doc, python-pydicom-doc, python-attr-doc (no network).
# PostgreSQL (Debian package postgresql: initdb and postgres in /usr/lib/postgresql/*/bin): the tests of a database
# that goes away start private throwaway servers of their own (about 170 MB with its JIT's libllvm).
# Also makes sure a PostgreSQL server answers on 127.0.0.1:5432 (the machine's own, or a throwaway one).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
pkgs=(slapd ldap-utils dcmtk orthanc orthanc-dicomweb tinyproxy chromium chromium-driver curl postgresql python3-doc python-pydicom-doc python-attr-doc)
missing=()
# installed means "install ok installed": dpkg -s also succeeds for a removed package whose config files remain
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # keep the packages' own services from starting: the tests start their own throwaway servers
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # the Debian packages may start their services anyway: stop them, the tests never use them. Only right after
  # installing: run again (CI runs this script twice), it must not kill the throwaway servers of a suite running
  # on the same machine, which have the same process names
  $SUDO pkill -x slapd 2>/dev/null || true
  $SUDO pkill -x Orthanc 2>/dev/null || true
  $SUDO pkill -x tinyproxy 2>/dev/null || true
fi

if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting the machine's PostgreSQL cluster"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
echo "system dependencies ready"
