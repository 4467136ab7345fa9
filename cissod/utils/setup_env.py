"""Process-level setup shared by ``tools/train.py`` and ``tools/test.py``."""


def setup_cissod_env() -> None:
    """Register mmdet's and cissod's modules and tune torch.compile caches.

    ``import cissod`` registers every cissod component into mmdet's
    registries; configs also list it in ``custom_imports`` so that mmdet's
    own tools work with them.
    """
    from mmdet.utils import setup_cache_size_limit_of_dynamo

    import cissod  # noqa: F401  (registration side effects)
    setup_cache_size_limit_of_dynamo()
