"""The robot suite end to end at smoke size: results, figures, report, the planted bound;
and ALOHA's closed-loop expert over ACT's cube range in both hand-over directions."""

import dataclasses
import json

import numpy as np
import pytest

from validation.suites import SuiteConfig, suite_functions


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("robot") / "out"
    config = SuiteConfig(out=out, size="smoke", seed=0, progress=False)
    run_suite, plot_suite = suite_functions("robot")
    return config, run_suite(config), plot_suite


@pytest.mark.slow
def test_robot_suite_smoke_writes_results_figures_and_report(smoke):
    from validation.report import write_report, write_results

    config, results, plot_suite = smoke
    assert results["suite"] == "robot" and results["size"] == "smoke"
    assert results["cpu_seconds"] > 0
    tasks = {r["task"] for r in results["tables"]["rollouts"]}
    assert tasks == {"reach_around", "multi_reach", "push_around", "aloha_transfer_cube"}
    policies = {r["policy"].split()[0] for r in results["tables"]["rollouts"]}
    assert policies == {"expert", "regression", "gmm", "cvae", "flow", "diffusion"}
    settings = {r["setting"] for r in results["tables"]["rollouts"]}
    assert {"execute 8/8", "execute 4/8", "ensemble m=0.01", "execute 20/20"} <= settings
    props = {c["proposition"] for c in results["checks"]}
    assert {"T2", "T3", "T4", "T5", "L1", "L2", "L5"} <= props
    assert not [c for c in results["checks"] if c["verdict"] == "FAIL"]
    assert results["tables"]["latent"], "the CVAE beta sweep must produce rows"
    for row in results["tables"]["rollouts"]:
        freq = sum(row["mode_freq"]) + row["bridge"]
        assert abs(freq - 1.0) < 1e-9, row            # every rollout is a mode or a bridge
        assert row["success_ci"][0] <= row["success"] <= row["success_ci"][1]
    # The expert ceiling: the scripted expert succeeds in every smoke rollout.
    experts = [r for r in results["tables"]["rollouts"] if r["policy"] == "expert"]
    assert all(r["success"] == 1.0 for r in experts if not r["setting"].startswith("ens")), \
        experts
    # ACT-style deployment on ALOHA: the CVAE at z = 0 and z ~ p, ensembling off and on.
    act = results["tables"]["act_deployment"]
    assert {(r["policy"].split()[-1], r["ensembling"]) for r in act if "cvae" in r["policy"]} \
        == {("z=0", "off"), ("z=0", "on"), ("z~p", "off"), ("z~p", "on")}
    assert {r["which"] for r in results["tables"]["best"]} >= {"best"}
    assert not any("left out" in n for n in results["notes"])
    out = config.out
    json.loads(write_results(results, out).read_text())
    figures = plot_suite(results, out)
    names = {p.stem for p in figures}
    assert {"robot_rollout_outcomes", "robot_act_deployment", "robot_trajectories",
            "robot_chunk_masses", "robot_beta_sweep"} <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in figures)
    report = write_report(results, out, figures).read_text()
    assert "suite `robot`" in report and "act_deployment" in report


@pytest.mark.slow
def test_planted_wrong_bound_fails_checks_and_says_so(smoke):
    """The planted bound reaches the checks as an argument (no environment variable): the
    cached measurements are reused, the verdicts change and the notes say so."""
    from validation.experiments import robot_suite

    config, results, _ = smoke
    cfg = dataclasses.replace(robot_suite.SIZES["smoke"], cache_dir=config.cache, plant=True)
    planted = robot_suite.run(cfg)
    assert any(c["verdict"] == "FAIL" for c in planted["checks"])
    assert all("PLANTED" in c["note"] for c in planted["checks"])
    assert robot_suite.suite_notes(cfg, 0)[0].startswith("A WRONG BOUND IS PLANTED")
    assert not robot_suite.suite_notes(robot_suite.SIZES["smoke"], 0)[0].startswith("A WRONG")


def test_aloha_expert_hands_over_in_both_directions_and_classifier_reads_it():
    """gym-aloha's MJCF, the cube drawn from ACT's range: the closed-loop expert transfers
    the cube from the arm of the drawn mode to the other (seed 0 for the cube poses and the
    demonstration noise); the classifier reads the picking arm off the final state, and
    calls the state before the hand-over (cube lifted, still in the picking grasp) a
    stall."""
    from validation.tasks import make_task
    from validation.tasks.robot import expert_rollouts
    from validation.tasks.robot.aloha import _T_MEET

    task = make_task("aloha_transfer_cube")
    modes = np.array([0, 1, 0, 1])
    roll = expert_rollouts(task, len(modes), np.random.default_rng(0), modes=modes)
    cube = roll.observations[:, 0, 14:16]
    assert np.all((cube >= (0.0, 0.4)) & (cube <= (0.2, 0.6)))
    assert all(o.success for o in roll.outcomes)
    np.testing.assert_array_equal([o.mode for o in roll.outcomes], modes)
    # The receiving arm holds the cube on its own side of the table at the end.
    final_x = roll.observations[:, -1, 14]
    np.testing.assert_array_equal(final_x > 0, modes == 0)
    for e, mode in enumerate(modes):
        before = roll.observations[e, _T_MEET - 20]        # lifted, not yet handed over
        assert before[16] > task.lift_height
        early = task.outcome(roll.paths[e], False, before)
        assert (early.success, early.mode, early.side) == (False, -1, mode)
    obs = task.observations(3, seed=1)
    assert task.separation(obs).min() > 2 * task.rho
    assert task.mode_centres(obs).shape == (3, 2, task.chunk_dim)


def test_aloha_chunks_up_to_act_length_and_the_chunk_law():
    """Chunk length is a task parameter up to ACT's 100; the decision-state separation is
    the norm of the per-step mode differences (T7: ``Delta_H^2 = sum_t |delta_t|^2``), so it
    grows with ``H`` and the H = 100 chunk contains the H = 20 one."""
    from validation.tasks import make_task

    short, long = make_task("aloha_transfer_cube"), make_task("aloha_transfer_cube",
                                                              horizon=100)
    obs = short.observations(2, seed=4)
    c20, c100 = short.mode_centres(obs), long.mode_centres(obs)
    np.testing.assert_allclose(c100[:, :, :280], c20, atol=1e-12)
    delta = (c100[:, 0] - c100[:, 1]).reshape(2, 100, 14)
    np.testing.assert_allclose(long.separation(obs),
                               np.sqrt((np.linalg.norm(delta, axis=-1) ** 2).sum(-1)))
    assert np.all(long.separation(obs) > short.separation(obs))
    with pytest.raises(ValueError, match="horizon"):
        make_task("aloha_transfer_cube", horizon=401)


def test_media_contact_sheet_and_gif(tmp_path):
    """--render: frames from MuJoCo's renderer, or the matplotlib top view where no OpenGL
    backend works (the note says which); one contact sheet and one GIF per task."""
    from PIL import Image

    from validation.robot_media import render_media

    paths, notes = render_media(["reach_around"], tmp_path, seed=0, episodes_per_mode=1)
    assert [p.name for p in paths] == ["reach_around_contact_sheet.png",
                                       "reach_around_rollouts.gif"]
    assert "MuJoCo offscreen renderer" in notes[0] or "matplotlib top view" in notes[0]
    with Image.open(paths[1]) as gif:
        assert gif.n_frames > 5
        frame = np.asarray(gif.convert("RGB"))
    assert frame.std() > 0                       # not a blank image
