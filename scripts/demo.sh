#!/usr/bin/env bash
# The demo: the daemon follows a local Git repository holding examples/quickstart and
# converges the local Docker Engine to it. Promote a model by committing a one-line
# change in bin/demo/work and pushing it; the daemon follows (poll every 5s).
# Stop with Ctrl-C; `make demo-down` removes the containers.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=bin/demo
if [ ! -d "$demo/remote.git" ]; then
  rm -rf "$demo" && mkdir -p "$demo"
  git init -q -b main "$demo/work"
  cp -r examples/quickstart/. "$demo/work/"
  git -C "$demo/work" add -A
  git -C "$demo/work" -c user.name=demo -c user.email=demo@localhost commit -qm "quickstart"
  git clone -q --bare "$demo/work" "$demo/remote.git"
  git -C "$demo/work" remote add origin "$(cd "$demo" && pwd)/remote.git"
fi
cat <<TXT
rasa-gitops daemon: following $(cd "$demo" && pwd)/remote.git (branch main)
  production answers on http://127.0.0.1:5005/, experimental on http://127.0.0.1:5006/
  promote:  sed -i 's/moodbot-v1/moodbot-v2/' $demo/work/environments/production.yaml
            git -C $demo/work commit -qam "promote(production): moodbot-v2" && git -C $demo/work push -q origin main
  watch:    bin/rasa-gitops status --state-dir $demo/state
  page:     http://127.0.0.1:8080/ (log in with the token in $demo/state/secrets/api-token)
TXT
exec bin/rasa-gitops daemon --repo "$(cd "$demo" && pwd)/remote.git" --state-dir "$demo/state" \
  --poll "@every 5s" --log-format console "$@"
