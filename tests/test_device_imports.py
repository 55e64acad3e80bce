"""The device side must run where TensorFlow is not installed."""

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class _RefuseHeavy(importlib.abc.MetaPathFinder):
        BLOCKED = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ImportError(f"blocked on a device: {name}")
            return None

    sys.meta_path.insert(0, _RefuseHeavy())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_blocker_really_blocks_tensorflow():
    result = run_blocked("import tensorflow")
    assert result.returncode != 0
    assert "blocked on a device: tensorflow" in result.stderr


def test_device_package_imports_without_tensorflow():
    result = run_blocked(
        """
        import pkgutil, importlib, sys
        import litefleet.device as device
        import litefleet.release
        for mod in pkgutil.walk_packages(device.__path__, "litefleet.device."):
            importlib.import_module(mod.name)
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras")]
        assert not heavy, heavy
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_public_api_is_lazy_and_the_device_names_need_no_tensorflow():
    result = run_blocked(
        """
        import sys
        import litefleet
        assert "litefleet.device.agent" not in sys.modules, "import litefleet loads nothing"
        from litefleet import ModelRuntime, Agent, CheckResult
        assert Agent.check and ModelRuntime.predict and CheckResult
        assert sorted(dir(litefleet)) == sorted(litefleet.__all__)
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras")]
        assert not heavy, heavy
        try:
            from litefleet import build
        except ImportError as exc:
            assert "blocked on a device" in str(exc)
        else:
            raise AssertionError("build needs TensorFlow")
        print("ok")
        """
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_public_api_release_side_names_resolve():
    from litefleet import Recipe, Repository, change_rollout, publish

    assert Repository.init and callable(publish) and callable(change_rollout) and Recipe()


def test_test_lab_and_selftest_import_without_tensorflow():
    """`litefleet selftest` runs on a device: its lab and tiny models need no TensorFlow."""
    result = run_blocked(
        """
        import pkgutil, importlib
        import litefleet.testing as testing, litefleet.selftest as selftest
        for pkg in (testing, selftest):
            for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                importlib.import_module(mod.name)
        from litefleet.testing import tiny_models
        assert tiny_models.model("v1-float32")[4:8] == b"TFL3"
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
