#!/usr/bin/env bash
# Whole-process comparison at 100 environments: `rasa-gitops validate` of a generated
# declaration repository against `docker compose config` of the Compose file it
# renders (the peer doing the same parse and validation), alternating, 10 rounds;
# prints the medians and their ratio. Needs Compose v2 on PATH (bench/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${ENVS:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/rasa-gitops" ./cmd/rasa-gitops
repo="$work/repo"
mkdir -p "$repo/environments" "$repo/compose"
cat > "$repo/rasa-gitops.yaml" <<YAML
version: 1
project: bench
rasa:
  image: rasa/rasa:3.6.20-full
  service:
    environment: {DB_HOST: db, RABBITMQ_HOST: rabbit}
compose:
  files: [compose/base.yml]
YAML
printf 'services:\n  db: {image: postgres:13}\n  rabbit: {image: rabbitmq:3}\n' > "$repo/compose/base.yml"
echo "models:" > "$repo/models.yaml"
for i in $(seq 0 $((n - 1))); do
  name=$(printf 'model-%03d' "$i")
  printf '  %s:\n    sha256: %s\n    source: https://models.example.com/%s.tar.gz\n' "$name" "$(printf '%s' "$i" | sha256sum | cut -d' ' -f1)" "$name" >> "$repo/models.yaml"
  env="$repo/environments/$(printf 'env-%03d' "$i").yaml"
  printf 'model: %s\npublish: "127.0.0.1:%d"\n' "$name" $((20000 + i)) > "$env"
  if [ $((i % 2)) -eq 0 ]; then printf 'service:\n  environment:\n    FLAG: "1"\n' >> "$env"; fi
done
"$work/rasa-gitops" render "$repo" --state-dir "$work/state" --show-secrets > "$work/rendered.yml"
compose=$(command -v docker-compose)
ms() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
ours=(); theirs=()
for _ in $(seq 1 10); do
  ours+=("$(ms "$work/rasa-gitops" validate "$repo")")
  theirs+=("$(ms "$compose" -p bench --project-directory "$repo" -f "$work/rendered.yml" config)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
o=$(median "${ours[@]}"); t=$(median "${theirs[@]}")
echo "environments: $n"
echo "rasa-gitops validate: ${o} ms (median of 10)"
echo "docker compose config: ${t} ms (median of 10)"
awk -v o="$o" -v t="$t" 'BEGIN { printf "ratio: %.2f\n", o / t }'
