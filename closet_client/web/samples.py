"""The sample photos the page offers: the photos of people the project may ship (scikit-image, matplotlib).

Read from the installed packages' own data files, byte for byte; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    name: str
    label: str
    content_type: str

    def path(self) -> Path:
        if self.name == "grace_hopper":
            import matplotlib.cbook

            return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
        import skimage

        return Path(skimage.__file__).parent / "data" / f"{self.name}.png"  # skimage.data.<name>() reads this file


SAMPLES = {
    s.name: s
    for s in (
        Sample("astronaut", "Astronaut (scikit-image)", "image/png"),
        Sample("grace_hopper", "Grace Hopper (matplotlib)", "image/jpeg"),
        Sample("camera", "Cameraman (scikit-image)", "image/png"),
    )
}


@lru_cache(maxsize=len(SAMPLES))
def sample_bytes(name: str) -> bytes:
    """The file of sample `name` (KeyError for an unknown name, OSError when its package lacks it)."""
    return SAMPLES[name].path().read_bytes()
