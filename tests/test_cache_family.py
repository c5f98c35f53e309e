"""Cache families: a run that asks for other type guesses than the cached
module was built with (the interpreter had specialised more or less by the
time the function turned hot) still loads a module of the same code and
argument types instead of compiling again (build.lookup_cached)."""
from pathlib import Path

from restrain import build, cache, pipeline
from restrain.build import BuildOptions
from restrain.feedback import Feedback
from restrain.load import load_from_cache


def kernel(n):
    t = 0
    for i in range(n):
        t += i * 3
    return t


def options_for(tmp_path: Path) -> BuildOptions:
    return BuildOptions(cache_dir=cache.open_cache(tmp_path / "cache"))


def test_a_miss_falls_back_to_the_family(tmp_path):
    options = options_for(tmp_path)
    code = kernel.__code__
    built_for = Feedback(("int",), ((3, "int"),))
    outcome = pipeline.compile_code(code, options, built_for)
    assert outcome.ok, outcome.reason

    asked = Feedback(("int",), ())                     # other guesses, same argument types
    assert build.cache_key(code, options, asked) != build.cache_key(code, options, built_for)
    hit = load_from_cache(code, options, asked)
    assert hit is not None and hit.from_cache
    assert hit.source_path == outcome.source_path

    other_args = Feedback(("float",), ())               # another family
    assert load_from_cache(code, options, other_args) is None


def test_a_damaged_family_file_is_only_a_miss(tmp_path):
    options = options_for(tmp_path)
    code = kernel.__code__
    assert pipeline.compile_code(code, options, Feedback(("int",), ((3, "int"),))).ok
    family = build.family_key(code, options, Feedback(("int",)))
    path = options.cache_dir / family[:2] / f"family_{family}"
    assert path.exists()
    for junk in ("../../etc/passwd", "zz" * 20, ""):
        path.write_text(junk)
        assert load_from_cache(code, options, Feedback(("int",), ())) is None


def test_a_recompile_never_takes_the_family(tmp_path):
    """After deoptimisations the next version must be built for fewer
    guesses, not replaced by the family's member (the version that failed)."""
    options = options_for(tmp_path)
    code = kernel.__code__
    assert pipeline.compile_code(code, options, Feedback(("int",), ((3, "int"),))).ok
    fewer = Feedback(("int",), ((3, "int"),), no_speculate=frozenset({3}))
    assert load_from_cache(code, options, fewer) is None
    assert load_from_cache(code, options, Feedback(("int",), (), speculate=False)) is None

