# Schedule of the 180k-iteration CI-SSOD runs on COCO split1/2, as the
# reference: SGD lr 0.01, momentum 0.9, weight decay 1e-4, 500-iteration
# linear warm-up and NO learning-rate step within the 180k iterations (the
# reference's step=[180000]), for a total batch of 8 GPUs x 5 images
# (1 labeled : 4 unlabeled). LVIS steps at 140k/160k
# (ci-ssod_semi_180k_lvis.py).
# Checkpoints every 10k iterations, the last 2 kept (default_runtime.py).
# FastResumeIterBasedTrainLoop resumes by fast-forwarding a
# ClassRebalancingMultiSourceSampler instead of re-reading every trained
# batch; with any other sampler it is mmengine's IterBasedTrainLoop.
max_iters = 180000
train_cfg = dict(
    type='FastResumeIterBasedTrainLoop', max_iters=max_iters,
    val_interval=5000)
# evaluates the teacher and the student (teacher/..., student/... metrics)
val_cfg = dict(type='TeacherStudentValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[180000],  # the reference's step: never reached
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# lr 0.01 is for 8 GPUs x 5 images; `tools/train.py --auto-scale-lr` scales
# it linearly for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=40)
