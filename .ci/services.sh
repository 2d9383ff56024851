#!/usr/bin/env bash
# Start the local services the integration tests use, when they are not already up.
set -uo pipefail

# /dev/null must be the character device: a tool that replaced it with a file breaks initdb and more.
if [ ! -c /dev/null ] && [ "$(id -u)" -eq 0 ]; then
  echo "services: /dev/null is not a character device; recreating it"
  rm -f /dev/null && mknod -m 666 /dev/null c 1 3
fi

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do up "$port" && return 0; sleep 1; done
  echo "services: $name did not come up on port $port" >&2
  return 1
}

if ! up 5432; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for 5432 PostgreSQL || exit 1
fi
if ! up 6379; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for 6379 Redis || exit 1
fi
if ! up 5672; then
  echo "services: starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_for 5672 RabbitMQ || echo "services: RabbitMQ unavailable (not needed by the default test suite)" >&2
fi
# The browser tests (Selenium, headless Chromium against the api-server) run in `make test`: install the
# browser and its driver when they are missing instead of skipping those tests.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "services: installing chromium and chromedriver (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver \
    >/dev/null || { echo "services: could not install chromium/chromedriver" >&2; exit 1; }
fi
exit 0
