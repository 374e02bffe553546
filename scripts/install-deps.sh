#!/bin/sh
# Installs everything tamis needs to build, test, fuzz, benchmark and run its
# end-to-end tests on Debian 12 (bogofilter: bench/bogofilter_cv.py only).
# Idempotent; needs root.
set -eu
export DEBIAN_FRONTEND=noninteractive
# Postfix must not ask questions and must not become the system MTA's config:
# the tests run private instances.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git python3 ca-certificates \
  libmimetic-dev libre2-dev libyaml-cpp-dev libxgboost-dev catch2 \
  libpsl-dev publicsuffix liburiparser-dev libxml2-dev libicu-dev libcli11-dev nlohmann-json3-dev \
  clang libclang-rt-14-dev \
  libmicrohttpd-dev curl \
  debhelper lintian \
  postfix miltertest swaks gnuplot-nox bogofilter >/dev/null
# A real Sendmail for tests/integration/test_sendmail.py. Debian's Sendmail
# packages conflict with Postfix (both provide mail-transport-agent), so the
# two that matter are unpacked, not installed; their libraries (and m4, for
# sendmail.cf) are installed, as they conflict with nothing.
apt-get install -y -qq --no-install-recommends m4 libwrap0 liblockfile1 libldap-2.5-0 libdb5.3 libnsl2 \
  libsasl2-2 libssl3 >/dev/null
sm=/var/cache/tamis-tests/sendmail
if [ ! -x "$sm/root/usr/libexec/sendmail/sendmail" ] || [ ! -d "$sm/root/usr/share/sendmail/cf" ]; then
  rm -rf "$sm" && mkdir -p "$sm/root"
  (cd "$sm" && apt-get download -qq -o APT::Sandbox::User=root sendmail-bin sendmail-cf &&
    for deb in ./*.deb; do dpkg-deb -x "$deb" root; done)
fi
