# The two commands of the README: `make demo` and `make test`.
# Both install the pinned stack into .venv first when needed (tools/install.sh
# is idempotent: a second run returns at once).
PY      := .venv/bin/python
DEMO_WD := work_dirs/soft_teacher_demo
DEMO_CFG := configs/demo/soft_teacher_demo.py

.PHONY: install data demo test bench clean-demo

install:
	@bash tools/install.sh

data: install
	@$(PY) tools/make_demo_data.py --out data/demo

demo: data
	$(PY) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_WD)
	$(PY) tools/test.py $(DEMO_CFG) $$(cat $(DEMO_WD)/last_checkpoint) \
		--work-dir $(DEMO_WD)/test

test: install
	$(PY) -m pytest tests -q

bench: install
	$(PY) bench/bench_gbr.py

clean-demo:
	rm -rf $(DEMO_WD)
