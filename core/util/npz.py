"""What is wrong with an .npz file numpy could not read, in words a user can act on."""

from __future__ import annotations

import zipfile

#: the exceptions np.load(..., allow_pickle=False) raises for a damaged, empty or foreign file
NPZ_ERRORS = (OSError, EOFError, KeyError, ValueError, IndexError, zipfile.BadZipFile)


def describe_npz_error(exc: BaseException) -> str:
    """A short reason for a failed np.load: an empty or cut-short file, a file that is not an
    .npz at all (numpy's own message then suggests loading it 'unsafely' with allow_pickle,
    which is the wrong advice for a damaged project file), or numpy's message."""
    text = str(exc)
    if isinstance(exc, EOFError) or "No data left" in text:
        return "the file is empty or cut short"
    if "pickle" in text or isinstance(exc, zipfile.BadZipFile):
        return "it is not a NumPy .npz file (damaged or overwritten)"
    return text or type(exc).__name__
