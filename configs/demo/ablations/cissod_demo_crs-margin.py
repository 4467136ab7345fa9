# Ablation: the reference CISSOD demo + CrS margins normalised by
# 1 - theta_c only.
_base_ = '../cissod_demo.py'

model = dict(cissod_cfg=dict(crs=dict(margin='normalized')))
