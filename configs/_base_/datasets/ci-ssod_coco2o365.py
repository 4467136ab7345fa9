# CI-SSOD COCO -> Objects365 (docs/benchmark.md). Labeled = all of COCO
# train2017 with its boxes mapped into the 365 Objects365 v2 classes (sports
# ball has no counterpart; bear and teddy bear both become Bear) + a small set
# of Objects365 train images with all their boxes; unlabeled = the rest of
# Objects365 v2 train; evaluation on Objects365 v2 val with AP over all /
# majority (the 78 classes with a COCO counterpart) / minority (the other
# 287).
#   python tools/make_splits.py coco2o365 --coco-ann ... --o365-ann ... \
#       --out-dir data/coco2o365/annotations
# writes coco2o365_labeled.json / coco2o365_unlabeled.json (docs/benchmark.md).
#
# Images. Objects365V2Dataset (mmdet) keeps only the last directory of every
# file_name ('images/v2/patch16/x.jpg' -> 'patch16/x.jpg', resolved in
# data/objects365/train/) and skips mmdet's list of broken v2 images. The
# COCO images of the labeled file must therefore have a file_name whose last
# directory is 'train2017' ('train2017/000000391895.jpg', make_splits' default
# --coco-img-prefix) and be reachable as data/objects365/train/train2017/
# (one symlink to data/coco/train2017, see docs/benchmark.md); make_splits
# offsets the COCO ids so that ids are unique across the two sources.
#
# Classes come from Objects365V2Dataset.METAINFO (365 names, the category
# names of zhiyuan_objv2_*.json). The majority group below is the set of
# Objects365 names of the COCO -> Objects365 class mapping
# data/coco_to_objects365.json (tests check that they agree: 78 names, and
# that the two groups cover the 365 classes).
_base_ = 'mmdet::_base_/datasets/semi_coco_detection.py'

dataset_type = 'Objects365V2Dataset'
data_root = 'data/'
labeled_ann_file = 'coco2o365/annotations/coco2o365_labeled.json'
unlabeled_ann_file = 'coco2o365/annotations/coco2o365_unlabeled.json'
train_img_prefix = 'objects365/train/'
val_ann_file = 'objects365/annotations/zhiyuan_objv2_val.json'
val_img_prefix = 'objects365/val/'
# repeat-factor sampling threshold of the labeled images (configs/ci-ssod/README.md)
labeled_rfs_threshold = 0.02
metainfo = None  # the dataset class's 365 classes

# 78 Objects365 classes with a COCO counterpart
majority_classes = [
    'Person', 'Chair', 'Car', 'Bottle', 'Cup', 'Handbag/Satchel', 'Book',
    'Boat', 'Bench', 'Potted Plant', 'Bowl/Basin', 'Vase', 'Wine Glass',
    'Moniter/TV', 'Backpack', 'Umbrella', 'Traffic Light', 'Tie', 'Bicycle',
    'Couch', 'Bus', 'Wild Bird', 'Motorcycle', 'Cell Phone', 'Truck',
    'Laptop', 'Bed', 'Horse', 'Sink', 'Apple', 'Knife', 'Fork', 'Dog',
    'Spoon', 'Clock', 'Cow', 'Cake', 'Dinning Table', 'Sheep',
    'Orange/Tangerine', 'Keyboard', 'Banana', 'Baseball Glove', 'Airplane',
    'Mouse', 'Train', 'Skiboard', 'Luggage', 'Stop Sign', 'Remote',
    'Refrigerator', 'Oven', 'Baseball Bat', 'Cat', 'Broccoli', 'Pizza',
    'Elephant', 'Skateboard', 'Surfboard', 'Donut', 'Carrot', 'Toilet',
    'Kite', 'Microwave', 'Scissors', 'Snowboard', 'Fire Hydrant', 'Zebra',
    'Giraffe', 'Tennis Racket', 'Frisbee', 'Toothbrush', 'Hot dog',
    'Parking meter', 'Sandwich', 'Toaster', 'Bear', 'Hair Dryer',
]
# the other 287 Objects365 classes
minority_classes = [
    'Sneakers', 'Other Shoes', 'Hat', 'Lamp', 'Glasses', 'Desk',
    'Street Lights', 'Cabinet/shelf', 'Bracelet', 'Plate', 'Picture/Frame',
    'Helmet', 'Gloves', 'Storage box', 'Leather Shoes', 'Flower', 'Flag',
    'Pillow', 'Boots', 'Microphone', 'Necklace', 'Ring', 'SUV', 'Belt',
    'Speaker', 'Watch', 'Trash bin Can', 'Slippers', 'Stool', 'Barrel/bucket',
    'Van', 'Sandals', 'Bakset', 'Drum', 'Pen/Pencil', 'High Heels', 'Guitar',
    'Carpet', 'Bread', 'Camera', 'Canned', 'Traffic cone', 'Cymbal',
    'Lifesaver', 'Towel', 'Stuffed Toy', 'Candle', 'Sailboat', 'Awning',
    'Faucet', 'Tent', 'Mirror', 'Power outlet', 'Air Conditioner',
    'Hockey Stick', 'Paddle', 'Pickup Truck', 'Traffic Sign', 'Ballon',
    'Tripod', 'Pot', 'Hanger', 'Blackboard/Whiteboard', 'Napkin',
    'Other Fish', 'Toiletry', 'Tomato', 'Lantern', 'Machinery Vehicle', 'Fan',
    'Green Vegetables', 'Pumpkin', 'Soccer', 'Nightstand', 'Tea pot',
    'Telephone', 'Trolley', 'Head Phone', 'Sports Car', 'Dessert', 'Scooter',
    'Stroller', 'Crane', 'Lemon', 'Duck', 'Surveillance Camera', 'Jug',
    'Piano', 'Gun', 'Skating and Skiing shoes', 'Gas stove', 'Bow Tie',
    'Strawberry', 'Other Balls', 'Shovel', 'Pepper', 'Computer Box',
    'Toilet Paper', 'Cleaning Products', 'Chopsticks', 'Pigeon', 'Baseball',
    'Cutting/chopping Board', 'Coffee Table', 'Side Table', 'Marker', 'Pie',
    'Ladder', 'Cookies', 'Radiator', 'Basketball', 'Grape', 'Potato',
    'Sausage', 'Tricycle', 'Violin', 'Egg', 'Fire Extinguisher', 'Candy',
    'Fire Truck', 'Billards', 'Converter', 'Bathtub', 'Wheelchair',
    'Golf Club', 'Briefcase', 'Cucumber', 'Cigar/Cigarette ', 'Paint Brush',
    'Pear', 'Heavy Truck', 'Hamburger', 'Extractor', 'Extention Cord', 'Tong',
    'Folder', 'American Football', 'earphone', 'Mask', 'Kettle', 'Tennis',
    'Ship', 'Swing', 'Coffee Machine', 'Slide', 'Carriage', 'Onion',
    'Green beans', 'Projector', 'Washing Machine/Drying Machine', 'Chicken',
    'Printer', 'Watermelon', 'Saxophone', 'Tissue', 'Ice cream',
    'Hotair ballon', 'Cello', 'French Fries', 'Scale', 'Trophy', 'Cabbage',
    'Blender', 'Peach', 'Rice', 'Wallet/Purse', 'Volleyball', 'Deer', 'Goose',
    'Tape', 'Tablet', 'Cosmetics', 'Trumpet', 'Pineapple', 'Golf Ball',
    'Ambulance', 'Mango', 'Key', 'Hurdle', 'Fishing Rod', 'Medal', 'Flute',
    'Brush', 'Penguin', 'Megaphone', 'Corn', 'Lettuce', 'Garlic', 'Swan',
    'Helicopter', 'Green Onion', 'Nuts', 'Speed Limit Sign',
    'Induction Cooker', 'Broom', 'Trombone', 'Plum', 'Rickshaw', 'Goldfish',
    'Kiwi fruit', 'Router/modem', 'Poker Card', 'Shrimp', 'Sushi', 'Cheese',
    'Notepaper', 'Cherry', 'Pliers', 'CD', 'Pasta', 'Hammer', 'Cue',
    'Avocado', 'Hamimelon', 'Flask', 'Mushroon', 'Screwdriver', 'Soap',
    'Recorder', 'Eggplant', 'Board Eraser', 'Coconut', 'Tape Measur/ Ruler',
    'Pig', 'Showerhead', 'Globe', 'Chips', 'Steak', 'Crosswalk Sign',
    'Stapler', 'Campel', 'Formula 1 ', 'Pomegranate', 'Dishwasher', 'Crab',
    'Hoverboard', 'Meat ball', 'Rice Cooker', 'Tuba', 'Calculator', 'Papaya',
    'Antelope', 'Parrot', 'Seal', 'Buttefly', 'Dumbbell', 'Donkey', 'Lion',
    'Urinal', 'Dolphin', 'Electric Drill', 'Egg tart', 'Jellyfish',
    'Treadmill', 'Lighter', 'Grapefruit', 'Game board', 'Mop', 'Radish',
    'Baozi', 'Target', 'French', 'Spring Rolls', 'Monkey', 'Rabbit',
    'Pencil Case', 'Yak', 'Red Cabbage', 'Binoculars', 'Asparagus', 'Barbell',
    'Scallop', 'Noddles', 'Comb', 'Dumpling', 'Oyster', 'Table Teniis paddle',
    'Cosmetics Brush/Eyeliner Pencil', 'Chainsaw', 'Eraser', 'Lobster',
    'Durian', 'Okra', 'Lipstick', 'Cosmetics Mirror', 'Curling',
    'Table Tennis ',
]

backend_args = None

labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    ann_file=labeled_ann_file,
    data_prefix=dict(img=train_img_prefix),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=_base_.sup_pipeline,
    backend_args=backend_args)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    ann_file=unlabeled_ann_file,
    data_prefix=dict(img=train_img_prefix),
    filter_cfg=dict(filter_empty_gt=False),
    pipeline=_base_.unsup_pipeline,
    backend_args=backend_args)

# 8 GPUs x 5 images per GPU, 1 labeled : 4 unlabeled per batch; labeled
# images by repeat-factor sampling (RFS), unlabeled images by their CrS
# factors once ClassRebalancingHook updates them (uniform until then and
# without the hook).
batch_size = 5
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(
        _delete_=True,
        type='ClassRebalancingMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[1, 4],
        labeled_rfs_threshold=labeled_rfs_threshold),
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))

val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file=val_ann_file,
        data_prefix=dict(img=val_img_prefix),
        test_mode=True,
        pipeline=_base_.test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# 365 classes: no per-class AP table in the log (tools/test.py --out keeps
# the predictions for a per-class analysis)
val_evaluator = dict(
    _delete_=True,
    type='GroupCocoMetric',
    ann_file=data_root + val_ann_file,
    metric='bbox',
    class_groups=dict(majority=majority_classes, minority=minority_classes),
    classwise=False,
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
