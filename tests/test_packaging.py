"""The built distribution: sdist and wheel pass ``twine check``, and the wheel
installed in a clean virtualenv (Django only, no store clients) imports without
pulling in the ORM or any client library, and names the extra to install."""

import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

IN_CLEAN_VENV = textwrap.dedent(
    """
    import sys
    import django_durabledict
    from django_durabledict import DurableDict, MemoryDict, encoding
    for module in ("redis", "kazoo", "pymemcache", "django.db.models"):
        assert module not in sys.modules, module
    d = MemoryDict()
    d["k"] = 1
    assert d == {"k": 1}

    from django.core.exceptions import ImproperlyConfigured
    from django_durabledict import RedisDict, ZookeeperDict
    for cls, extra in ((RedisDict, "redis"), (ZookeeperDict, "zookeeper")):
        try:
            cls("/keyspace", object())
        except ImproperlyConfigured as exc:
            assert f"django-durabledict[{extra}]" in str(exc), exc
        else:
            raise AssertionError(f"{cls.__name__} built without its client")
    print("ok", django_durabledict.__version__)
    """
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


def test_twine_accepts_the_distributions(dist):
    files = sorted(str(path) for path in dist.iterdir())
    assert any(f.endswith(".whl") for f in files)
    assert any(f.endswith(".tar.gz") for f in files)
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_ships_migrations_and_type_marker(dist):
    wheel = next(dist.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "django_durabledict/py.typed" in names
    assert any(n.startswith("django_durabledict/migrations/0001") for n in names)
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_imports_in_a_clean_venv(dist, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    wheel = next(dist.glob("*.whl"))
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [python, "-c", IN_CLEAN_VENV], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok")
