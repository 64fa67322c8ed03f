// Command modelserve runs rasa-gitops' model server alone, on a store prepared by
// `rasa-gitops model push`, so bench/models.sh can load it from a second process and
// read its resident memory from /proc without a Docker Engine in the way.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

func main() {
	state := flag.String("state-dir", "", "state directory holding models/")
	listen := flag.String("listen", "127.0.0.1:18080", "loopback address to serve on")
	token := flag.String("token", "bench-token", "model token")
	tag := flag.String("tag", "", "ENV=MODEL=SHA256: the one tag to serve")
	flag.Parse()
	parts := strings.Split(*tag, "=")
	if *state == "" || len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "usage: modelserve --state-dir DIR --tag ENV=MODEL=SHA256 [--listen ADDR]")
		os.Exit(2)
	}
	store, err := modelserver.NewStore(*state)
	if err != nil {
		log.Fatal(err)
	}
	tags, err := modelserver.OpenTags(*state)
	if err != nil {
		log.Fatal(err)
	}
	if err := tags.Set(modelserver.Table{Project: "bench", Tags: map[string]modelserver.Tag{parts[0]: {Model: parts[1], Digest: parts[2]}}}); err != nil {
		log.Fatal(err)
	}
	h := &modelserver.Handler{Tags: tags, Store: store, Token: *token, Observed: modelserver.NewObserved()}
	log.Fatal(http.ListenAndServe(*listen, h))
}
