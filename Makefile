# The two commands of the README: `make demo` and `make test`.
# Both install the pinned stack into .venv first when needed (tools/install.sh
# is idempotent: a second run returns at once).
PY      := .venv/bin/python
SUP_CFG := configs/demo/faster-rcnn_sup_demo.py
DEMO_CFG := configs/demo/soft_teacher_demo.py
SUP_WD  := work_dirs/faster-rcnn_sup_demo
DEMO_WD := work_dirs/soft_teacher_demo

.PHONY: install data demo test bench clean-demo

install:
	@bash tools/install.sh

data: install
	@$(PY) tools/make_demo_data.py --out data/demo

# 1. supervised burn-in on the labeled split (also the supervised baseline)
# 2. mmdet's SoftTeacher from that checkpoint (its config's load_from)
# 3. evaluate the teacher: AP all / majority / minority
demo: data
	$(PY) tools/train.py $(SUP_CFG) --work-dir $(SUP_WD)
	$(PY) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_WD)
	$(PY) tools/test.py $(DEMO_CFG) $$(cat $(DEMO_WD)/last_checkpoint) \
		--work-dir $(DEMO_WD)/test > $(DEMO_WD)/test.log 2>&1 \
		|| { tail -40 $(DEMO_WD)/test.log; exit 1; }
	@grep -A 12 "per-class AP" $(DEMO_WD)/test.log | sed 's/.*INFO - //'
	@echo "== demo result (teacher on data/demo val) =="
	@grep -h "AP (x100)" $(SUP_WD)/*/*.log | tail -1 | sed 's/.*INFO - /supervised burn-in:  /'
	@grep -h "AP (x100)" $(DEMO_WD)/test.log | tail -1 | sed 's/.*INFO - /soft teacher:        /'

test: install
	$(PY) -m pytest tests -q

bench: install
	$(PY) bench/bench_gbr.py

clean-demo:
	rm -rf $(SUP_WD) $(DEMO_WD)
