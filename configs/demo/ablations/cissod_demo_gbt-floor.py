# Ablation: the reference CISSOD demo + the class-adaptive GbT floor only
# (thresholds of classes scored below the average class may go down to 0.3).
_base_ = '../cissod_demo.py'

model = dict(cissod_cfg=dict(gbt=dict(floor_min=0.3)))
