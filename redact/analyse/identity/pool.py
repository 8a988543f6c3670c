"""Pool each track's descriptors over neighbouring samples: sensor noise averages out, the person does not.

One sample of a face in noisy or infrared footage is a poor witness: on the
bench's low-light and infrared videos the true match's single-sample
similarities spread 0.88-0.96 around a median under the threshold (0.924 and
0.942), while the same samples averaged five at a time (the sample and up to
two usable neighbours on each side, a few frames apart, so their noise is
independent) have medians of 0.943 and 0.956.  Impostors can gain too (pooled
infrared impostors on the calibration photos by up to 0.008), which is why
the threshold is calibrated on pooled impostor pairs as well
(``pipelines/calibrate_identity.py``).

A pool that straddles a tracker swap mixes two people, and a mixed pool can
still score like the first one.  So the confirmation inside a kept track
reads ``sided``: the lower of the pool that ends at the sample and the pool
that starts at it.  After a swap, one of the two holds only the newcomer.

Descriptors live only in memory here; samples keep the similarities.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from redact.analyse.identity.gallery import Gallery
from redact.types import IdentitySample


def pool(
    samples: list[IdentitySample],
    vectors: list[np.ndarray | None],
    gallery: Gallery,
    reach: int,
) -> list[IdentitySample]:
    """One track's samples (frame order) with ``pooled`` and ``sided`` filled in for the usable ones.

    ``vectors[i]`` is sample i's descriptor (None when it was not scored).
    ``reach`` is how many usable neighbours on each side join a pool; 0
    leaves the samples as they are.
    """
    if reach <= 0:
        return samples
    usable = [i for i, s in enumerate(samples) if s.usable and vectors[i] is not None]

    def scores(members: list[int]) -> dict[str, float]:
        mean = np.mean([vectors[i] for i in members], axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-9)
        return gallery.scores(mean)

    out = list(samples)
    for p, i in enumerate(usable):
        before = scores(usable[max(0, p - reach) : p + 1])
        after = scores(usable[p : p + reach + 1])
        out[i] = dataclasses.replace(
            samples[i],
            pooled=scores(usable[max(0, p - reach) : p + reach + 1]),
            sided={k: min(before[k], after[k]) for k in before},
        )
    return out
