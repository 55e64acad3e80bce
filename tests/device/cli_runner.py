"""Run the `agent` commands in a fresh process, optionally with TensorFlow made unimportable.

`python cli_runner.py [--block-tf] agent check --home H --json`. Goes through the real
entry point `litefleet.cli.main`, so the whole command line is proved TensorFlow-free.
"""

import importlib.abc
import sys


class _RefuseHeavy(importlib.abc.MetaPathFinder):
    BLOCKED = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"blocked on a device: {name}")
        return None


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--block-tf":
        sys.meta_path.insert(0, _RefuseHeavy())
        args = args[1:]
    from litefleet.cli import main as litefleet_main

    sys.argv = ["litefleet", *args]
    try:
        litefleet_main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    heavy = [m for m in sys.modules if m.split(".")[0] in _RefuseHeavy.BLOCKED]
    assert not heavy, heavy
    sys.exit(code)


if __name__ == "__main__":
    main()
