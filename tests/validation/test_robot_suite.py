"""The robot suite end to end at smoke size: results, figures, report; and ALOHA's expert."""

import json

import numpy as np
import pytest

from validation.suites import SuiteConfig, suite_functions


@pytest.mark.slow
def test_robot_suite_smoke_writes_results_figures_and_report(tmp_path):
    from validation.report import write_report, write_results

    run_suite, plot_suite = suite_functions("robot")
    config = SuiteConfig(out=tmp_path / "out", size="smoke", seed=0, progress=False)
    results = run_suite(config)
    assert results["suite"] == "robot" and results["size"] == "smoke"
    tasks = {r["task"] for r in results["tables"]["rollouts"]}
    assert tasks == {"reach_around", "multi_reach", "push_around", "aloha_transfer_cube"}
    policies = {r["policy"].split()[0] for r in results["tables"]["rollouts"]}
    assert policies == {"expert", "regression", "gmm", "cvae", "flow", "diffusion"}
    settings = {r["setting"] for r in results["tables"]["rollouts"]}
    assert {"execute 8/8", "execute 4/8", "ensemble m=0.01"} <= settings
    props = {c["proposition"] for c in results["checks"]}
    assert {"T2", "T3", "T4", "T5", "L1", "L2", "L5"} <= props
    assert results["tables"]["latent"], "the CVAE beta sweep must produce rows"
    for row in results["tables"]["rollouts"]:
        freq = sum(row["mode_freq"]) + row["bridge"]
        assert abs(freq - 1.0) < 1e-9, row            # every rollout is a mode or a bridge
        assert row["success_ci"][0] <= row["success"] <= row["success_ci"][1]
    # The expert ceiling: the scripted expert succeeds in every smoke rollout.
    experts = [r for r in results["tables"]["rollouts"] if r["policy"] == "expert"]
    assert all(r["success"] == 1.0 for r in experts if not r["setting"].startswith("ens")), \
        experts
    out = config.out
    json.loads(write_results(results, out).read_text())
    figures = plot_suite(results, out)
    assert figures and all(p.is_file() and p.stat().st_size > 0 for p in figures)
    report = write_report(results, out, figures).read_text()
    assert "suite `robot`" in report and "robot_trajectories" in report


def test_aloha_expert_hands_over_in_both_directions_and_classifier_reads_it():
    """gym-aloha's MJCF: the mocap expert's joint trajectories, replayed in the joint-space
    model, transfer the cube from the arm of the drawn mode to the other arm (seed 0 for
    the cube poses); the classifier reads the picking arm off the final state, and calls
    the state before the hand-over (cube lifted, still in the picking grasp) a stall."""
    from validation.tasks import make_task
    from validation.tasks.robot import expert_rollouts
    from validation.tasks.robot.aloha import _T_MEET

    task = make_task("aloha_transfer_cube")
    modes = np.array([0, 1, 0, 1, 1, 0])
    roll = expert_rollouts(task, len(modes), np.random.default_rng(0), modes=modes)
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
