#!/usr/bin/env bash
# Sets up what a fresh Debian machine of this kind lacks, then builds everything the
# box needs. Idempotent: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the simulator's Go toolchain and govmomi source, qemu for container
# VMs, e2fsprogs for layer disks, the offline registry and the images built for it.
apt_packages=(
  golang-go golang-github-vmware-govmomi-dev
  qemu-system-x86 qemu-utils e2fsprogs xorriso
  docker-registry busybox-static openssl
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The bootstrap image and the test images fetch pinned .debs with `apt-get download`,
# which needs package lists even when every package above is installed.
lists_missing=false
compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || lists_missing=true
if $lists_missing && ((${#missing[@]} == 0)) && [[ $(id -u) -eq 0 ]]; then
  apt-get update -q
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Install only when the lock file changed since the last install. Not `npm ci`: the npm
# registry reached here lacks some of biome's per-platform optional packages, so the lock
# file cannot list them and `npm ci` refuses it as out of sync; `npm install` installs
# exactly the locked versions and leaves the lock file as it is.
mkdir -p .cache
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || "$(cat .cache/npm-lock.sha256 2>/dev/null)" != "$lock_hash" ]]; then
  npm install --no-audit --no-fund
  git diff --quiet -- package-lock.json 2>/dev/null || echo 'setup: warning: npm install changed package-lock.json' >&2
  echo "$lock_hash" > .cache/npm-lock.sha256
fi

# The TypeScript build, skipped when nothing tsc reads changed since the last one here. A
# build made some other way since (npm run build/bench) leaves dist newer than the stamp,
# so the stamp no longer vouches for it and this builds again.
build_hash=$(
  {
    sha256sum package-lock.json tsconfig.json tsconfig.build.json
    find src bin bench -type f \( -name '*.ts' -o -name '*.json' \) -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)
if [[ ! -f dist/bin/vch.js || dist/bin/vch.js -nt .cache/build.sha256 || "$(cat .cache/build.sha256 2>/dev/null)" != "$build_hash" ]]; then
  npm run --silent build
  echo "$build_hash" > .cache/build.sha256
fi
# The simulator binary, cached by the hash of its inputs under .cache/vcsim.
node dist/bin/vch.js sim --build-only
