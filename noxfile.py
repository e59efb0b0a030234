"""Developer tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``, ``bench``, ``fuzz``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]


def _install(session: nox.Session, *groups: str, editable: bool = True) -> None:
    # Dependency groups (PEP 735) need pip >= 25.1.
    session.install("--upgrade", "pip>=25.1")
    args = ["-e", "."] if editable else []
    for group in groups:
        args += ["--group", group]
    session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (corpus tests skip, with the reason, without ../shared)."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _install(session, "lint", editable=False)
    paths = ["src", "tests", "benchmarks", "examples", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and the noxfile."""
    _install(session, "typecheck")
    session.run("mypy", "--strict", "src/trio_geotiff", "noxfile.py")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site strictly (offline: no remote inventories)."""
    _install(session, "docs")
    session.run("mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark suite side by side with rasterio and async-geotiff."""
    _install(session, "bench")
    session.run("python", "benchmarks/run.py", *(session.posargs or ["--all"]))


@nox.session
def fuzz(session: nox.Session) -> None:
    """Long robustness fuzzing: TRIO_GEOTIFF_FUZZ_SECONDS (default 600); docs/robustness.md."""
    _install(session, "test")
    seconds = session.env.get("TRIO_GEOTIFF_FUZZ_SECONDS") or "600"
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_fuzz.py",
        "-s",
        "-q",
        *session.posargs,
        env={"TRIO_GEOTIFF_FUZZ_SECONDS": seconds},
    )
