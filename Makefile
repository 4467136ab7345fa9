# The two commands of the README: `make demo` and `make test`.
# Both install the pinned stack into .venv first when needed (tools/install.sh
# is idempotent: a second run returns at once).
PY       := .venv/bin/python
SUP_CFG  := configs/demo/faster-rcnn_sup_demo.py
SUP_WD   := work_dirs/faster-rcnn_sup_demo
BURN_IN  := $(SUP_WD)/iter_600.pth

.PHONY: install data demo compare compare-quick ablation test bench clean-demo

install:
	@bash tools/install.sh

data: install
	@$(PY) tools/make_demo_data.py --out data/demo

# train configs/demo/$(1).py from the burn-in, test its teacher on val
define train_and_test
	$(PY) tools/train.py configs/demo/$(1).py --work-dir work_dirs/$(1)
	$(PY) tools/test.py configs/demo/$(1).py \
		$$(cat work_dirs/$(1)/last_checkpoint) --work-dir work_dirs/$(1)/test \
		> work_dirs/$(1)/test.log 2>&1 \
		|| { tail -40 work_dirs/$(1)/test.log; exit 1; }
endef

# supervised burn-in on the labeled split (also the supervised baseline)
$(BURN_IN):
	$(PY) tools/train.py $(SUP_CFG) --work-dir $(SUP_WD)

# 1. supervised burn-in (once)  2. CISSOD (GbR + GbT + CrS) from it
# 3. evaluate the teacher: AP all / majority / minority
demo: data
	@$(MAKE) --no-print-directory $(BURN_IN)
	$(call train_and_test,cissod_demo)
	@grep -A 12 "per-class AP" work_dirs/cissod_demo/test.log | sed 's/.*INFO - //'
	@echo "== demo result (teacher on data/demo val) =="
	@grep -h "AP (x100)" $(SUP_WD)/*/*.log | tail -1 | sed 's/.*INFO - /supervised burn-in:  /'
	@grep -h "AP (x100)" work_dirs/cissod_demo/test.log | tail -1 | sed 's/.*INFO - /CISSOD:              /'
	$(PY) tools/analysis/demo_report.py work_dirs/cissod_demo

# supervised burn-in / Soft Teacher / CISSOD over 3 seeds (mean +- std),
# two runs at a time; runs already evaluated are kept (work_dirs/compare)
SEEDS ?= 0 1 2
compare: data
	$(PY) tools/compare_demo.py --seeds $(SEEDS) --jobs 2 --quality \
		--out work_dirs/compare

# one seed, for a quick look
compare-quick: data
	$(PY) tools/compare_demo.py --seeds 0 --jobs 2 --quality \
		--out work_dirs/compare

# the ablation of docs/reference.md: Soft Teacher, the reference CISSOD
# and the improved set over 3 seeds; each single option on seed 0
ablation: data
	$(PY) tools/compare_demo.py --seeds $(SEEDS) --jobs 2 --quality \
		--runs soft_teacher cissod cissod_improved --out work_dirs/compare \
		--table ablation.md
	$(PY) tools/compare_demo.py --seeds 0 --jobs 2 --quality \
		--runs soft_teacher cissod cissod_improved gbt_floor crs_margin \
		gbt_candidates --out work_dirs/compare --table ablation_seed0.md

test: install
	$(PY) -m pytest tests -q

bench: install
	$(PY) bench/bench_gbr.py
	$(PY) bench/bench_crs.py

clean-demo:
	rm -rf $(SUP_WD) work_dirs/cissod_demo work_dirs/compare
