"""Release sizes measured from two real build folders: the full file and its bsdiff4 patch.

The simulator's byte figures are only as good as these two numbers, so they come from the
same `<variant>.tflite` files `litefleet publish` would sign and the same bsdiff4 the
registry uses for its patches.
"""

from __future__ import annotations

from pathlib import Path

from litefleet.errors import UserError


def sizes_from(old_build: Path, new_build: Path, variant: str) -> tuple[int, int]:
    """(full bytes of the new file, bytes of the patch old -> new)."""
    from litefleet.delta import make_patch

    files = []
    for folder in (Path(old_build), Path(new_build)):
        path = folder / f"{variant}.tflite"
        if not path.is_file():
            have = sorted(p.stem for p in folder.glob("*.tflite")) if folder.is_dir() else []
            hint = f" (it has: {', '.join(have)})" if have else " (not a build folder)"
            raise UserError(f"no {variant}.tflite in {folder}{hint}")
        files.append(path.read_bytes())
    old, new = files
    return len(new), len(make_patch(old, new))
