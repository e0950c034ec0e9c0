#!/usr/bin/env bash
# Start-up with many packs, some broken: writes N packs (default 50; every 5th has a broken
# action file, every 10th an unreadable pack.yaml), starts `gale up` on them (plus the shipped
# packs beside the binary) and prints the seconds until the node logs " up: bus " (API ready).
# Usage: bench/startup/packs50.sh [path/to/gale] [N] [runs]
set -euo pipefail
GALE=${1:-build/bin/gale}
N=${2:-50}
RUNS=${3:-3}
GALE=$(realpath "$GALE")
SHIPPED=$(dirname "$GALE")/../packs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packs=$work/packs
for i in $(seq 1 "$N"); do
  p=$packs/p$i
  mkdir -p "$p/actions" "$p/rules"
  printf -- '---\nname: p%s\nversion: 1.0.0\ndescription: generated\n' "$i" >"$p/pack.yaml"
  printf -- '---\nname: hello\nrunner_type: local-shell-cmd\nparameters:\n  cmd: {type: string, default: "echo %s"}\n' "$i" >"$p/actions/hello.yaml"
  printf -- '---\nname: post_message\nrunner_type: local-shell-cmd\nparameters:\n  cmd: {type: string, default: "true"}\n' >"$p/actions/post.yaml"
  next=$(( i % N + 1 ))
  printf -- '---\nname: on_webhook\ntrigger: {type: core.st2.webhook, parameters: {url: p%s}}\naction: {ref: p%s.hello}\n' "$i" "$next" >"$p/rules/on_webhook.yaml"
  if (( i % 5 == 0 )); then printf -- '---\nname: broken\nrunner_type: [\n' >"$p/actions/broken.yaml"; fi
  if (( i % 10 == 0 )); then printf -- '---\nname: [\n' >"$p/pack.yaml"; fi
done
for run in $(seq 1 "$RUNS"); do
  home=$work/home$run
  mkdir -p "$home"
  printf 'api: {listen: "127.0.0.1:0"}\npacks:\n  paths: [%s, %s]\n' "$SHIPPED" "$packs" >"$home/gale.yaml"
  start=$(date +%s%N)
  env -u GALE_KAFKA_BROKERS -u GALE_MONGODB_URL "$GALE" up --home "$home" >"$home/node.log" 2>&1 &
  pid=$!
  until grep -q " up: bus " "$home/node.log" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { cat "$home/node.log"; exit 1; }
    sleep 0.01
  done
  end=$(date +%s%N)
  active=$(grep -o '[0-9]* pack(s) active' "$home/node.log" | head -1)
  [ -n "${KEEP_LOG:-}" ] && cp "$home/node.log" "$KEEP_LOG"
  kill -TERM $pid; wait $pid || true
  awk -v s="$start" -v e="$end" -v a="$active" -v n="$N" \
    'BEGIN { printf "run: %d packs (+ shipped), API ready in %.2f s, %s\n", n, (e - s) / 1e9, a }'
done
