# make demo   build the demo data, train UHDFour on it, evaluate, write enhanced images
# make test   run the test suite
# make demo-llformer  train LLFormer on the demo data (about 11 minutes on 2 cores) and evaluate it
# make demo-deit  build the classification demo data, train the convnet teacher, then a tiny DeiT student without
#               and with hard distillation for seeds 0 1 2 (DEIT_SEEDS, DEIT_STUDENTS), compared over the seeds
# make demo-sr  build the super-resolution demo data, train ESPCN x3 and EDT-T x2, evaluate beside bicubic
#               (held-out photos, and Set5 from ../shared/data when it is there: SET5=/path/to/Set5 to choose)
# make demo-ipt  IPT's pre-training claim on a shrunken IPT: multi-task pre-training on the SR demo photos, x2
#               fine-tuning, and the same x2 training from scratch, both evaluated beside bicubic (and on Set5)
# make notebooks  run every notebook in notebooks/ with its normal settings and store it with its outputs
#                 (about 20 minutes on 2 cores; tests/test_notebooks.py checks the stored runs are not stale)
# Both create (or reuse) a virtualenv in .venv and install what they need. Paddle is installed
# only when none is importable: PADDLE=paddlepaddle-gpu make test picks the GPU build.
PYTHON ?= python3
VENV ?= .venv
PADDLE ?= paddlepaddle==3.3.1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ppuhd-installed
DEMO_CFG := configs/uhdfour/uhdfour_demo.yml
DEMO_OUT := output/uhdfour_demo

.PHONY: install demo test clean-demo demo-deit demo-llformer demo-sr demo-ipt notebooks

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv --system-site-packages $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt setup.py
	@$(PY) -c "import paddle" 2>/dev/null || $(PY) -m pip install -q "$(PADDLE)"
	$(PY) -m pip install -q -r requirements-dev.txt
	@# PaddleClas 2.6 (tests/test_paddleclas.py runs its deploy/python/predict_cls.py on our export): beside the
	@# venv without its pins (numpy 1.24, opencv <= 4.6), which would break this environment
	$(PY) -m pip install -q --no-deps --target $(VENV)/paddleclas paddleclas==2.6.0
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/make_demo_data.py --output data/demo
	$(PY) tools/train.py -c $(DEMO_CFG) --resume auto
	$(PY) tools/eval.py -c $(DEMO_CFG) --weights $(DEMO_OUT)/best_model.pdparams
	$(PY) tools/infer.py -c $(DEMO_CFG) --weights $(DEMO_OUT)/best_model.pdparams \
		--input data/demo/testing_set/input --output $(DEMO_OUT)/enhanced --side-by-side

test: $(STAMP)
	$(PY) -m pytest -q tests

DEIT_SEEDS ?= 0 1 2
DEIT_STUDENTS ?= none hard
DEIT_TEACHER := configs/deit/deit_demo_teacher.yml
comma := ,
empty :=
space := $(empty) $(empty)
# label=eval files of every seed, for tools/compare_runs.py: $(call deit_group,run,best|final)
deit_group = $(1)=$(subst $(space),$(comma),$(foreach s,$(DEIT_SEEDS),output/deit_demo_student_$(1)_s$(s)/eval_$(2).json))
demo-deit: $(STAMP)
	$(PY) tools/make_demo_data.py --task classification
	$(PY) tools/train.py -c $(DEIT_TEACHER) --resume auto
	$(PY) tools/eval.py -c $(DEIT_TEACHER) --weights output/deit_demo_teacher/best_model.pdparams
	@# the students of a seed train side by side with one thread each: on 2 cores two 1-thread runs finish
	@# sooner than the same runs one after another with 2 threads (Paddle's CPU ops scale poorly to 2 threads)
	@mkdir -p output; for seed in $(DEIT_SEEDS); do pids=; for run in $(DEIT_STUDENTS); do \
		out=output/deit_demo_student_$${run}_s$$seed; echo "training $$out (log: $$out.log)"; \
		$(PY) tools/train.py -c configs/deit/deit_demo_student_$$run.yml --resume auto -o seed=$$seed \
			-o num_threads=1 -o output_dir="'$$out'" > $$out.log 2>&1 & pids="$$pids $$!"; done; \
		for pid in $$pids; do wait $$pid || { echo "a student of seed $$seed failed: see its log above"; kill $$pids 2>/dev/null; exit 1; }; done; \
		for run in $(DEIT_STUDENTS); do out=output/deit_demo_student_$${run}_s$$seed; for w in best final; do \
			$(PY) tools/eval.py -c configs/deit/deit_demo_student_$$run.yml -o seed=$$seed -o output_dir="'$$out'" \
				--weights $$out/$${w}_model.pdparams --json $$out/eval_$$w.json > /dev/null || exit 1; done; done; done
	@for w in best final; do echo "students, $$w checkpoint, over seeds $(DEIT_SEEDS):"; \
		$(PY) tools/compare_runs.py --metric top1 --metric top5 --baseline none \
			$(foreach r,$(DEIT_STUDENTS),$(call deit_group,$(r),$$w)) || exit 1; done

demo-llformer: $(STAMP)
	$(PY) tools/make_demo_data.py --output data/demo
	$(PY) tools/train.py -c configs/llformer/llformer_demo.yml --resume auto
	$(PY) tools/eval.py -c configs/llformer/llformer_demo.yml \
		--weights output/llformer_demo/best_model.pdparams

SET5 ?= ../shared/data/SR/Set5
# one model: $(call sr_demo,config,scale)
define sr_demo
	$(PY) tools/train.py -c $(1) --resume auto
	$(PY) tools/eval.py -c $(1) --weights output/$(basename $(notdir $(1)))/best_model.pdparams
	@if [ -d "$(SET5)" ]; then $(PY) tools/eval.py -c $(1) --weights output/$(basename $(notdir $(1)))/best_model.pdparams \
		-o data.val.root="'$(SET5)'" --json output/$(basename $(notdir $(1)))/eval_set5.json; \
	else echo "Set5 not found at $(SET5) (SET5=...): evaluated on the held-out demo photos only"; fi
	$(PY) tools/infer.py -c $(1) --weights output/$(basename $(notdir $(1)))/best_model.pdparams \
		--input data/demo_sr/val/LR/x$(2) --output output/$(basename $(notdir $(1)))/upscaled --side-by-side
endef

demo-sr: $(STAMP)
	$(PY) tools/make_demo_data.py --task sr
	$(call sr_demo,configs/espcn/espcn_x3_demo.yml,3)
	$(call sr_demo,configs/edt/edt_t_sr_x2_demo.yml,2)

IPT_FT := configs/ipt/ipt_tiny_sr_x2_demo.yml
IPT_SCRATCH := -o model_weights=None -o model.init_task=None -o output_dir="'output/ipt_tiny_sr_x2_demo_scratch'"
# one evaluation of a fine-tuned run: $(call ipt_eval,output dir,extra overrides)
define ipt_eval
	$(PY) tools/eval.py -c $(IPT_FT) $(2) --weights $(1)/best_model.pdparams --json $(1)/eval.json
	@if [ -d "$(SET5)" ]; then $(PY) tools/eval.py -c $(IPT_FT) $(2) --weights $(1)/best_model.pdparams \
		-o data.val.root="'$(SET5)'" --json $(1)/eval_set5.json; \
	else echo "Set5 not found at $(SET5) (SET5=...): evaluated on the held-out demo photos only"; fi
endef

demo-ipt: $(STAMP)
	$(PY) tools/make_demo_data.py --task sr
	$(PY) tools/train.py -c configs/ipt/ipt_tiny_pretrain_demo.yml --resume auto
	$(PY) tools/train.py -c $(IPT_FT) --resume auto
	$(PY) tools/train.py -c $(IPT_FT) $(IPT_SCRATCH) --resume auto
	$(call ipt_eval,output/ipt_tiny_sr_x2_demo,)
	$(call ipt_eval,output/ipt_tiny_sr_x2_demo_scratch,$(IPT_SCRATCH))
	@for f in eval eval_set5; do [ -f output/ipt_tiny_sr_x2_demo/$$f.json ] || continue; echo "$$f:"; \
		$(PY) tools/compare_runs.py --metric psnr --metric ssim --baseline scratch \
		scratch=output/ipt_tiny_sr_x2_demo_scratch/$$f.json pretrained=output/ipt_tiny_sr_x2_demo/$$f.json || exit 1; done

notebooks: $(STAMP)
	$(PY) tools/run_notebooks.py

clean-demo:
	rm -rf $(DEMO_OUT)

# make bench   latency / throughput / peak memory of every backend (docs/benchmarks.md); add the
#              official PyTorch UHDFour with BENCH_ARGS="--peer /path/to/UHDFour_code"
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP)
	$(PY) deploy/python/benchmark.py $(BENCH_ARGS)

# make bench-train   training images/s and peak memory of one step for every model (docs/benchmarks.md); beside
#                    the official PyTorch step with BENCH_TRAIN_ARGS="--peer /path/to/checkouts" (torch installed)
BENCH_TRAIN_ARGS ?=
.PHONY: bench-train
bench-train: $(STAMP)
	$(PY) benchmarks/train_throughput.py $(BENCH_TRAIN_ARGS)
