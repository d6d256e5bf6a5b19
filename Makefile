# paycode: the commands a person runs. `make help` lists them.
# Every target builds through cargo, once per run; nothing here needs more
# than the Rust toolchain.

CARGO ?= cargo
STORE ?= sqlite:data/paycode.db
LISTEN ?= 127.0.0.1:8080

.PHONY: help run test bench demo schemas fixtures sim lint fmt clean

help: ## List the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "%-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## Start paycode on the embedded store with the simulator and a demo merchant
	$(CARGO) run --release -p paycode-server --features simulator --bin paycode -- serve --config crates/server/paycode.demo.toml --store $(STORE) --listen $(LISTEN)

test: ## Run every test of the workspace
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

# PostgreSQL is measured too when a server is given:
#   PAYCODE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test make bench
bench: ## Measure and write docs/benchmarks.md (release build)
	$(CARGO) build --release -p paycode-server --bin paycode
	$(if $(PAYCODE_BENCH_POSTGRES_URL),PAYCODE_BENCH_POSTGRES_URL=$(PAYCODE_BENCH_POSTGRES_URL)) $(CARGO) run --release -p paycode-bench -- all --out docs/benchmarks.md

demo: ## Every simulator scenario through the POS API, followed to its final state, as a table
	$(CARGO) run -p paycode-server --features simulator --bin paycode-demo

schemas: ## Regenerate schemas/events/*.json, schemas/openapi.json and schemas/graphql/schema.graphql
	PAYCODE_UPDATE_SCHEMAS=1 $(CARGO) test -p paycode-domain --test schemas
	PAYCODE_UPDATE_SCHEMAS=1 $(CARGO) test -p paycode-server --test openapi
	PAYCODE_UPDATE_SCHEMAS=1 $(CARGO) test -p paycode-server --test graphql the_checked_in_sdl_is_the_one_the_code_serves

fixtures: ## Rewrite the recorded log tests/fixtures/orders.jsonl and its golden states
	PAYCODE_UPDATE_FIXTURES=1 $(CARGO) test -p paycode-app --lib tests::recorded_log::the_domain_still_writes
	UPDATE_EXPECT=1 $(CARGO) test -p paycode-app --lib tests::recorded_log

sim: ## Start the provider simulator with the example config
	$(CARGO) run -p paycode-sim -- --config crates/simulator/sim.example.toml

lint: ## What CI enforces besides the tests
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

clean: ## Remove build output and the local database
	$(CARGO) clean
	rm -rf data
