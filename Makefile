# rasa-gitops — the everyday commands. `make help` lists them.
GO       ?= go
BIN      ?= bin
STUB_TAG ?= rasa-gitops/rasa-stub:dev
IMAGE_TAG ?= rasa-gitops/rasa-gitops:dev

.PHONY: help build test image stub-image demo demo-down bench tools gitea screenshots

help:
	@echo "make build       build bin/rasa-gitops and bin/rasa-stub"
	@echo "make test        go test ./... (the README's test command)"
	@echo "make image       build the daemon image $(IMAGE_TAG) from a binary built here (the Dockerfile's final stage, no golang image)"
	@echo "make stub-image  build the stand-in Rasa image $(STUB_TAG) (FROM scratch)"
	@echo "make demo        build the stand-in image and run the daemon on examples/quickstart from a local Git repository"
	@echo "make demo-down   remove the demo's containers and network"
	@echo "make tools       build the Compose v2 peer into bin/tools (bench/tools.sh)"
	@echo "make gitea       build Gitea into bin/tools for the pull-request tests (scripts/gitea.sh)"
	@echo "make bench       run every benchmark (side by side with Compose v2 and nginx)"
	@echo "make screenshots write the status page's screenshots (360 px and 1920 px) into docs/screenshots (needs chromium)"

build:
	@echo "building rasa-gitops and the stand-in Rasa server (a first build downloads the Go modules: a few minutes)…"
	$(GO) build -o $(BIN)/rasa-gitops ./cmd/rasa-gitops
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/rasa-stub ./cmd/rasa-stub

test:
	$(GO) test ./...

# The status page's views in headless chromium, at a phone's and a desktop's width.
screenshots:
	mkdir -p docs/screenshots
	UI_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test ./ui -run '^TestScreenshots$$' -count=1 -v

# The Dockerfile's final stage on a static binary built on this host (scripts/image.sh,
# which the image's test in examples/daemon runs too).
image:
	sh scripts/image.sh build $(IMAGE_TAG)

stub-image:
	@echo "building the stand-in Rasa image $(STUB_TAG) (FROM scratch)…"
	rm -rf $(BIN)/stub-image && mkdir -p $(BIN)/stub-image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/stub-image/rasa-stub ./cmd/rasa-stub
	cp cmd/rasa-stub/Dockerfile $(BIN)/stub-image/
	DOCKER_BUILDKIT=0 docker build -q -t $(STUB_TAG) $(BIN)/stub-image

demo: build stub-image
	$(BIN)/rasa-gitops validate examples/quickstart
	bash scripts/demo.sh $(DEMO_ARGS)

demo-down: build
	$(BIN)/rasa-gitops down examples/quickstart

tools:
	bash bench/tools.sh $(BIN)/tools

gitea:
	bash scripts/gitea.sh $(BIN)/tools

bench: build stub-image tools
	bash bench/tools.sh --models $(BIN)/tools
	bash bench/run.sh
	bash bench/models.sh
	$(GO) test ./compose -run XXX -bench ValidateRender -benchtime 20x
	$(GO) test ./reconcile -run XXX -bench 'NoopReconcile|PromoteToSynced' -benchtime 20x
	$(GO) test ./pipeline -run XXX -bench NoChangePoll -benchtime 50x
	PATH="$(CURDIR)/$(BIN)/tools:$$PATH" $(GO) test ./cmd/rasa-gitops -run XXX -bench NoopApplyRasaX -benchtime 1x
