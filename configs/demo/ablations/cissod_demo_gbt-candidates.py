# Ablation: GbT as cissod implemented it before following the reference:
# class scores from the pseudo-label candidates only (score > 0.5) and
# undetected classes at tau (mean over the detected classes only).
_base_ = '../cissod_demo.py'

model = dict(
    cissod_cfg=dict(
        gbt=dict(score_source='candidates', unseen_classes='tau')))
