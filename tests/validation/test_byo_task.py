"""Bring your own task: the registry (names, entry points, paths), `TaskSpec` as a cache
key, a `PaperTask` subclass written outside the package, and ``--task`` errors."""

from __future__ import annotations

import dataclasses
import doctest
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import validation.tasks
from validation import cli
from validation.cache import config_hash
from validation.experiments import paper_suite
from validation.tasks import (
    ENTRY_POINT_GROUP,
    TaskSpec,
    make_task,
    register_task,
    task_names,
    task_path,
)
from validation.tasks.paper import PaperTask

# Written to a folder outside the package: attributes set *after* super().__init__(), no
# n_modes, a mode count that is a parameter.
USER_TASKS = textwrap.dedent('''
    import numpy as np
    from validation.tasks.paper import PaperTask

    class Fan(PaperTask):
        name = "fan"
        default_noise = 0.006

        def __init__(self, n_arms=3, spread=1.0, **params):
            super().__init__(**params)
            self.n_arms = n_arms
            self.spread = spread

        def mean_paths(self):
            angles = self.spread * np.linspace(-0.5, 0.5, self.n_arms)
            s = np.linspace(0, 0.4, self.episode_length)[:, None]
            u = np.stack([np.sin(angles), np.cos(angles)], -1)
            return np.array([0.5, 0.1]) + s[None] * u[:, None]

    class WrongCount(Fan):
        n_modes = 2

    def not_a_task():
        return 42
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """``byo_user_tasks`` importable from a folder outside the package (then forgotten)."""
    (tmp_path / "byo_user_tasks.py").write_text(USER_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "byo_user_tasks"
    sys.modules.pop("byo_user_tasks", None)


def test_module_doctests():
    result = doctest.testmod(validation.tasks, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


def test_subclass_sets_attributes_after_the_base_constructor(user_module):
    task = make_task(f"{user_module}:Fan", n_arms=4, spread=1.2)
    assert isinstance(task, PaperTask) and task.n_modes == 4
    np.testing.assert_allclose(task.weights, 0.25)
    # the geometry read after the subclass's __init__: separations of the chunks at the
    # start, rho from the chunk noise, demonstrations in their modes
    demo = task.demonstrations(200, seed=0)
    centres = task.mode_centres(demo.obs)[np.arange(200), demo.modes]
    assert np.linalg.norm(demo.actions - centres, axis=1).max() <= task.rho
    assert task.rho < task.separation(task.observations(4, 0)).min() / 2
    with pytest.raises(ValueError, match="n_modes = 2 but mean_paths"):
        make_task(f"{user_module}:WrongCount")
    with pytest.raises(ValueError, match="mode_weights must have 3"):
        make_task(f"{user_module}:Fan", mode_weights=(0.5, 0.5))


def test_register_task_and_names(user_module):
    register_task("byo_fan_test", f"{user_module}:Fan", replace=True)
    assert "byo_fan_test" in task_names() and task_path("byo_fan_test") == f"{user_module}:Fan"
    assert make_task("byo_fan_test", n_arms=5).n_modes == 5
    with pytest.raises(ValueError, match="already registered"):
        register_task("byo_fan_test", lambda **kw: None)
    with pytest.raises(ValueError, match="built-in"):
        register_task("fork", f"{user_module}:Fan")
    with pytest.raises(ValueError, match="':'"):
        register_task("a:b", f"{user_module}:Fan")
    register_task("byo_not_a_task", f"{user_module}:not_a_task", replace=True)
    with pytest.raises(TypeError, match="not a validation.tasks.Task"):
        make_task("byo_not_a_task")


def test_entry_point_of_an_installed_package_is_found_and_loaded_lazily(tmp_path, monkeypatch):
    """A distribution on sys.path (a ``.dist-info`` with entry_points.txt, as pip installs
    one) declares a task; it is listed without importing and imported only when built."""
    (tmp_path / "byo_ep_tasks.py").write_text(USER_TASKS)
    info = tmp_path / "byo_ep_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: byo-ep-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbyo_fan = byo_ep_tasks:Fan\nfork = byo_ep_tasks:Fan\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(UserWarning, match="built-in task"):
            names = task_names()
        assert "byo_fan" in names and "byo_ep_tasks" not in sys.modules
        with pytest.warns(UserWarning):
            assert task_path("byo_fan") == "byo_ep_tasks:Fan"
        with pytest.warns(UserWarning):
            task = make_task("byo_fan", n_arms=2)
        assert task.n_modes == 2 and "byo_ep_tasks" in sys.modules
        assert make_task("fork").name == "fork"          # the built-in wins
    finally:
        sys.modules.pop("byo_ep_tasks", None)


def test_task_spec_parse_forms_and_errors(user_module):
    assert TaskSpec.parse("circle") == TaskSpec("circle", "validation.tasks.paper:Circle", ())
    spec = TaskSpec.parse(f'{user_module}:Fan:{{"n_arms": 5, "spread": 0.5}}')
    assert spec.path == f"{user_module}:Fan" and spec.params == (("n_arms", 5), ("spread", 0.5))
    assert spec.build(action_scale=59.0).action_scale == 59.0
    assert spec.label == f"{user_module}:Fan n_arms=5 spread=0.5"
    assert TaskSpec.parse('radial:{"n_rays": 4}').build().n_modes == 4
    for text, match in [("", "non-empty"), ("no_such_task", "registered task"),
                        ("radial:{bad", "not valid JSON"), ("radial:[1, 2]", "JSON object"),
                        ("a b:C", "module:Class"), ("validation.tasks:Nope", "no attribute"),
                        ("byo_missing_module:X", "cannot import module")]:
        with pytest.raises(ValueError, match=match):
            TaskSpec.parse(text).build()


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6)
                           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@given(params=st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), json_values,
                              max_size=4),
       other=st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), json_values,
                             max_size=4))
def test_task_spec_is_a_faithful_cache_key(params, other):
    """Parsing the CLI form keeps every parameter (lists as tuples), and two runs share a
    cache entry exactly when their task paths and parameters agree."""
    spec = TaskSpec.parse(f"mypkg.tasks:Zigzag:{json.dumps(params)}")
    assert spec.path == "mypkg.tasks:Zigzag"
    assert json.loads(json.dumps(dict(spec.params))) == params
    assert [k for k, _ in spec.params] == sorted(params)
    run = paper_suite.PaperRun(task_key="z", task=spec, setting="s", kind="flow", hyper=(),
                               seed=0, training=paper_suite.SIZES["smoke"].training,
                               n_rollouts=1, n_check_obs=1, n_check_samples=4, n_plot_paths=1,
                               device="cpu")
    twin = dataclasses.replace(run, task=TaskSpec.parse(
        f"mypkg.tasks:Zigzag:{json.dumps(other)}"))
    assert (config_hash(run) == config_hash(twin)) == (json.dumps(params, sort_keys=True)
                                                       == json.dumps(other, sort_keys=True))
    moved = dataclasses.replace(run, task=dataclasses.replace(spec, path="otherpkg:Zigzag"))
    assert config_hash(moved) != config_hash(run)


def test_paper_suite_runs_any_task_without_a_table_entry(user_module):
    spec = paper_suite.sized(paper_suite.SIZES, "smoke", 0, tasks=(f"{user_module}:Fan",))
    runs = paper_suite.runs(spec, "cpu")
    assert runs and {r.task.path for r in runs} == {f"{user_module}:Fan"}
    assert {r.task_key for r in runs} == {f"{user_module}:Fan"}
    assert paper_suite.runs(paper_suite.SIZES["smoke"], "cpu")[0].task == \
        TaskSpec("circle", "validation.tasks.paper:Circle", ())
    assert isinstance(paper_suite.check_task(f"{user_module}:Fan"), PaperTask)
    with pytest.raises(TypeError, match="PaperTask"):
        paper_suite.check_task("fork")


def test_held_out_demonstrations_use_the_tasks_own_noise(user_module):
    """The suite's Part L set (`demonstrations_at`) carries the task's chunk noise: its
    norms match those of the task's training demonstrations (not a generic noise)."""
    task = make_task(f"{user_module}:Fan", action_scale=59.0)
    train = task.demonstrations(2000, seed=0)
    held = task.demonstrations_at(task.observations(20, 1), 100, seed=2)

    def noise_norms(d):
        c = task.mode_centres(d.obs)[np.arange(len(d)), d.modes]
        return np.linalg.norm(d.actions - c, axis=1)

    ratio = np.median(noise_norms(held)) / np.median(noise_norms(train))
    assert 0.9 < ratio < 1.1, ratio


@pytest.mark.parametrize("argv,message", [
    (["--suite", "paper", "--task", "byo_missing_module:X"], "cannot import module"),
    (["--suite", "paper", "--task", "fork"], "PaperTask"),
    (["--suite", "paper", "--task", 'radial:{"n_rays": 1}'], "n_rays"),
    (["--suite", "paper", "--task", "radial:{oops"], "not valid JSON"),
    (["--suite", "robot", "--task", "fork"], "runs its own tasks"),
])
def test_bad_task_exits_1_with_one_line(argv, message, capsys, tmp_path):
    code = cli.main(["validate", *argv, "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_CONFIG and message in err and len(err.splitlines()) == 1, err


def test_quick_suite_takes_a_task_in_its_task_stages(user_module):
    """``--suite quick --task``: the gallery and the Lipschitz sweep run on the task (their
    runs carry it, so it is in their cache keys); the other stages keep their own."""
    from validation.experiments import sized, synthetic_suite
    from validation.experiments.synthetic_suite import STAGES, TASK_STAGES

    stages = dict(STAGES)
    takes = {name for name, module in stages.items()
             if "task" in {f.name for f in dataclasses.fields(module.SIZES["smoke"])}}
    if not set(TASK_STAGES) <= takes:
        with pytest.raises(ValueError, match="take no task"):
            synthetic_suite.check_task("fork")
        pytest.skip(f"the {sorted(set(TASK_STAGES) - takes)} configs have no task field yet")
    spec = TaskSpec.parse(f'{user_module}:Fan:{{"n_arms": 3}}')
    assert synthetic_suite.check_task(spec.name).n_modes == 3
    for name in TASK_STAGES:
        module = stages[name]
        config = sized(module.SIZES, "smoke", 0, task=spec)
        assert {r.task for r in module.runs(config)} == {spec}


def test_console_script_imports_the_task_from_the_working_folder(tmp_path):
    """The installed ``modebound`` script (whose sys.path lacks the working folder, unlike
    ``python -m``) finds ``my_module:Class`` there: here the class is missing, and the
    one-line error says so rather than that the module cannot be imported."""
    import subprocess

    script = Path(sys.executable).parent / "modebound"
    if not script.exists():
        pytest.skip("the modebound console script is not installed (pip install -e .)")
    (tmp_path / "byo_cwd_tasks.py").write_text(USER_TASKS)
    done = subprocess.run([str(script), "validate", "--suite", "paper", "--task",
                           "byo_cwd_tasks:Nope", "--out", str(tmp_path / "o")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == cli.EXIT_CONFIG
    assert "has no attribute 'Nope'" in done.stderr, done.stderr
