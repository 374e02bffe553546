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
