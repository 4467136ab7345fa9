# The two commands of the README: `make demo` and `make test`.
# Both install the stack into a venv first when needed (tools/install.sh is
# idempotent: a second run returns at once). STACK=classic uses the classic
# stack (torch 2.5.1 + upstream OpenMMLab) in .venv-classic instead.
STACK    ?= current
VENV     := $(if $(filter classic,$(STACK)),.venv-classic,.venv)
PY       := $(VENV)/bin/python
# one run per seed: the burn-in in work_dirs/compare/seed<S>/supervised, the
# semi-supervised runs beside it; make demo is seed 0 of make compare
DEMO_WD  := work_dirs/compare/seed0

.PHONY: install data demo compare compare-quick compare-frameworks ablation \
	custom-demo test lint bench gpu-check clean-demo

install:
	@CISSOD_VENV=$(VENV) bash tools/install.sh --stack $(STACK)

data: install
	@$(PY) tools/make_demo_data.py --out data/demo

# 1. supervised burn-in  2. CISSOD (GbR + GbT + CrS) from it
# 3. evaluate the teacher: AP all / majority / minority, per class
demo: data
	$(PY) tools/compare_demo.py --seeds 0 --runs cissod --jobs 1 \
		--out work_dirs/compare --table demo.md
	$(PY) tools/analysis/demo_report.py $(DEMO_WD)/cissod

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

# the second SSOD framework (docs/frameworks.md): mean teacher with hard
# pseudo labels (Unbiased Teacher setting) without / with GbR + GbT + CrS,
# on the Faster R-CNN and on a RetinaNet (its own burn-in), beside the
# supervised burn-in / Soft Teacher / CISSOD rows, same budget, 3 seeds;
# runs already evaluated by make compare are kept
compare-frameworks: data
	$(PY) tools/compare_demo.py --seeds $(SEEDS) --jobs 2 --quality \
		--runs soft_teacher cissod mean_teacher cissod_mean_teacher \
		mean_teacher_retinanet cissod_mean_teacher_retinanet \
		--out work_dirs/compare --table frameworks.md

# the ablation of docs/reference.md: Soft Teacher, the reference CISSOD
# and the improved set over 3 seeds; each single option on seed 0
ablation: data
	$(PY) tools/compare_demo.py --seeds $(SEEDS) --jobs 2 --quality \
		--runs soft_teacher cissod cissod_improved --out work_dirs/compare \
		--table ablation.md
	$(PY) tools/compare_demo.py --seeds 0 --jobs 2 --quality \
		--runs soft_teacher cissod cissod_improved gbt_floor crs_margin \
		gbt_candidates --out work_dirs/compare --table ablation_seed0.md

# your own data, shown on real images: the deepforest package's aerial tree
# crowns (2 classes: Tree, Dead) -> checks + configs -> supervised / Soft
# Teacher / CISSOD, 3 seeds (docs/custom_dataset.md)
DF       := data/deepforest
DF_CFG   := work_dirs/deepforest/configs
custom-demo: install
	$(PY) tools/make_deepforest_data.py --out $(DF)
	$(PY) tools/prepare_custom_dataset.py --name deepforest --model tiny \
		--labeled $(DF)/annotations/labeled.json $(DF)/images/labeled \
		--unlabeled $(DF)/images/unlabeled \
		--val $(DF)/annotations/val.json $(DF)/images/val --scale 128 128 \
		--out $(DF_CFG)
	$(PY) tools/compare_demo.py --configs $(DF_CFG)/deepforest \
		--seeds $(SEEDS) --jobs 2 --out work_dirs/deepforest

test: install
	$(PY) -m pytest tests -q

# ruff check (pycodestyle, pyflakes, isort; ruff.toml), run by .ci/run
lint: install
	$(VENV)/bin/ruff check .

# the GPU check (docs/gpu_check.md); CPU: make gpu-check GPU_CHECK="--device cpu"
GPU_CHECK ?= --device cpu
gpu-check: install
	PYTHON=$(PY) bash tools/gpu_check.sh $(GPU_CHECK)

bench: install
	$(PY) bench/bench_gbr.py
	$(PY) bench/bench_sigmoid_gbr.py
	$(PY) bench/bench_crs.py
	$(PY) bench/bench_eval.py
	$(PY) bench/bench_gbt_detections.py --checkpoint \
		$(DEMO_WD)/supervised/iter_600.pth

clean-demo:
	rm -rf work_dirs/compare
