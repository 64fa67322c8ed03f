#!/usr/bin/env bash
# Model-server benchmarks, side by side with nginx in one run (loopback only):
#   1. revalidation: If-None-Match hit → 204, requests/s with wrk from a second process
#   2. a 1 GiB model downloaded over loopback: throughput and the server's RSS growth,
#      rasa-gitops vs nginx serving the same file
# Needs wrk and nginx (bench/tools.sh --models installs them from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
DURATION=${DURATION:-10s}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/rasa-gitops" ./cmd/rasa-gitops
go build -o "$work/modelserve" ./bench/modelserve
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores; $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $(nginx -v 2>&1)"

head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$work/model.tar.gz"
digest=$("$work/rasa-gitops" model push --state-dir "$work/state" "$work/model.tar.gz" | awk '/sha256:/ {print $2}')
"$work/modelserve" --state-dir "$work/state" --listen 127.0.0.1:18080 --tag production=model="$digest" &
pids+=($!)
server=$!
mkdir -p "$work/nginx/www/api/projects/default/models/tags" "$work/nginx/tmp"
ln "$work/state/models/sha256/$digest.tar.gz" "$work/nginx/www/api/projects/default/models/tags/production"
cat > "$work/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $work/nginx/tmp; proxy_temp_path $work/nginx/tmp; fastcgi_temp_path $work/nginx/tmp; uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:18081; root $work/nginx/www; etag on; default_type application/gzip; }
}
CONF
nginx -c "$work/nginx/nginx.conf"
pids+=($(cat "$work/nginx/nginx.pid" 2>/dev/null || true))
sleep 0.5
nginx_pid=$(pgrep -P "$(cat "$work/nginx/nginx.pid")" | head -1)  # the worker serves
nginx_etag=$(curl -sI http://127.0.0.1:18081/api/projects/default/models/tags/production | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
url=http://127.0.0.1:18080/api/projects/default/models/tags/production?token=bench-token

echo "## 1. revalidation (If-None-Match hit), wrk -t2 -c32 -d$DURATION"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $digest" "$url")
[ "$code" = 204 ] || { echo "rasa-gitops answered $code, not 204"; exit 1; }
printf 'rasa-gitops: '; wrk -t2 -c32 -d"$DURATION" -H "If-None-Match: $digest" "$url" | awk '/Requests\/sec/ {print $2 " requests/s"} /Non-2xx/ {print "  (" $0 ")"}'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $nginx_etag" http://127.0.0.1:18081/api/projects/default/models/tags/production)
[ "$code" = 304 ] || { echo "nginx answered $code, not 304"; exit 1; }
printf 'nginx:       '; wrk -t2 -c32 -d"$DURATION" -H "If-None-Match: $nginx_etag" http://127.0.0.1:18081/api/projects/default/models/tags/production | awk '/Requests\/sec/ {print $2 " requests/s"}'

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
echo "## 2. download of a ${SIZE_MIB} MiB model over loopback (curl -o /dev/null), best of 3"
for name in rasa-gitops nginx; do
  if [ $name = rasa-gitops ]; then pid=$server; u=$url; else pid=$nginx_pid; u=http://127.0.0.1:18081/api/projects/default/models/tags/production; fi
  before=$(rss "$pid"); peak=$before; best=0
  for _ in 1 2 3; do
    curl -s -o /dev/null -w '%{speed_download}\n' "$u" > "$work/speed" &
    cpid=$!
    while kill -0 $cpid 2>/dev/null; do r=$(rss "$pid"); (( r > peak )) && peak=$r; sleep 0.05; done
    wait $cpid || { echo "$name: download failed"; exit 1; }
    s=$(cat "$work/speed"); best=$(awk -v a="$best" -v b="$s" 'BEGIN {print (b > a) ? b : a}')
  done
  awk -v n=$name -v s="$best" -v b="$before" -v p="$peak" 'BEGIN { printf "%-12s %.2f GB/s   RSS before %.1f MB, peak %.1f MB (growth %.1f MB)\n", n":", s/1e9, b/1024, p/1024, (p-b)/1024 }'
done
