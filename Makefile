# The two commands a newcomer needs:  `make demo`  and  `make test`  (each sets up .venv/ first when missing).
VENV := .venv/bin
DEMO := runs/demo

.PHONY: setup demo test bench clean-demo

setup:
	@bash scripts/setup_venv.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	$(VENV)/python -m pytest -q tests

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

clean-demo:
	rm -rf $(DEMO) shards/data/synth
