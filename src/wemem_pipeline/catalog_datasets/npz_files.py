"""``.npz`` archives of the project's own artifacts, read without unpickling anything.

``np.load(allow_pickle=False)`` refuses a pickle outright and an object array inside an archive
when that array is read, so no file under ``data/`` can run code when it is loaded here. Each
archive entry carries a CRC, which ``zipfile`` checks on reading: flipped bytes are refused too.
"""

from __future__ import annotations

from typing import IO

import numpy as np

from ..core.errors import ArtifactError


def read_arrays(file: IO[bytes], source: str, expected: str, hint: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``file``, in the archive's order.

    Anything else (a pickle, a single ``.npy`` array, an archive with object arrays or with
    members that are no arrays, a truncated or damaged file) is refused with an
    :class:`ArtifactError` naming ``source``, saying that ``expected`` was expected and
    ``hint`` what to do. Only a zip archive ever reaches ``np.load``.
    """
    head = file.read(6)
    file.seek(0)
    if head.startswith(b"\x80"):  # the PROTO opcode that starts every pickle since protocol 2
        problem = "pickled data"
    elif head.startswith(b"\x93NUMPY"):
        problem = "a single .npy array, not an .npz archive"
    elif not head.startswith(b"PK"):
        problem = f"not an .npz archive (it starts with {head!r})"
    else:
        try:
            with np.load(file, allow_pickle=False) as archive:  # a zip: an NpzFile
                arrays = {key: archive[key] for key in archive.files}
        except ValueError as error:  # allow_pickle=False refused an object array
            problem = f"unreadable ({error})"
            if "pickle" in str(error):
                problem = "pickled data (an object array)"
        except Exception as error:  # truncated, a bad CRC, a damaged member, ...
            problem = f"unreadable ({type(error).__name__}: {error})"
        else:
            # Members that are not .npy files come back as bytes (a torch.save file is a zip).
            others = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
            if not others:
                return arrays
            problem = f"holds {others[0]!r}, which is not a numpy array"
    raise refused(source, problem, f"{expected}. Pickled data is never loaded", hint)


def refused(source: str, problem: str, expected: str, hint: str) -> ArtifactError:
    """The error for a file that is not the artifact it should be."""
    return ArtifactError(f"{source}: {problem}; expected {expected}", hint=hint)
