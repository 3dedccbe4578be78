# The two commands a newcomer needs:  `make demo`  and  `make test`  (each sets up .venv/ first when missing).
VENV := .venv/bin
DEMO := runs/demo

.PHONY: setup browser demo test bench quality clean-demo

setup:
	@bash scripts/setup_venv.sh

browser:   # Debian's chromium + chromium-driver for the studio's browser test (apt, when missing)
	@bash scripts/setup_browser.sh

demo: setup
	@bash scripts/demo.sh

test: setup browser
	$(VENV)/python -m pytest -q tests

bench: setup
	@for b in bench/*.py; do [ $$b = bench/quality_bench.py ] && continue; echo "== $$b"; $(VENV)/python $$b || exit 1; done

quality: setup   # the synthetic quality benchmark at the demo budget (long: .venv/bin/python bench/quality_bench.py --budget long)
	$(VENV)/python bench/quality_bench.py --budget demo

clean-demo:
	rm -rf $(DEMO) shards/data/synth
