"""Training loops of cissod."""
from .fast_resume_loop import (
                               FastResumeIterBasedTrainLoop,
                               find_fast_forward_sampler,
)

__all__ = ['FastResumeIterBasedTrainLoop', 'find_fast_forward_sampler']
