"""L1: a job's stages, percentage and time left, from its graph and the time its nodes took
(stages.py), on a clock the test moves."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

import stages


def _t2v() -> dict:
    return json.loads((ROOT / "workflows" / "t2v.json").read_text())


def test_each_node_class_belongs_to_its_stage():
    plan = stages.plan(_t2v())
    labels = {plan[n].label for n in ("1", "3", "17")}
    assert labels == {"Loading the models"}
    assert plan["5"].label == "Encoding the prompt"
    assert (plan["15"].label, plan["24"].label) == ("Sampling pass 1", "Sampling pass 2")
    assert plan["18"].label == "Upscaling"
    assert plan["27"].label == "Decoding"
    assert plan["29"].label == "Encoding the file"


def test_a_passs_share_is_its_steps_times_the_pixels_it_samples():
    plan = stages.plan(_t2v())
    # pass 1: 8 steps at 640x352; pass 2: 3 steps at twice the width and height
    assert plan["24"].expected_s / plan["15"].expected_s == pytest.approx(3 * 4 / 8)


def test_the_decodes_share_is_the_estimators():
    prompt = _t2v()
    assert stages.plan(prompt)["27"].expected_s == pytest.approx(stages.decode_seconds(prompt, 121))


def _tracker() -> stages.Tracker:
    nodes = {
        "load": stages.Node("load", "load", "Loading the models", 10.0),
        "s1": stages.Node("s1", "sample", "Sampling pass 1", 20.0),
        "s2": stages.Node("s2", "sample", "Sampling pass 2", 40.0),
        "file": stages.Node("file", "file", "Encoding the file", 2.0),
    }
    return stages.Tracker(nodes, started_at=0.0)


def test_before_anything_is_measured_the_time_left_is_the_estimate():
    tracker = _tracker()
    tracker.start("load", 0.0)
    assert tracker.report(0.0).left_s == pytest.approx(72.0)


def test_a_samplers_measured_step_time_gives_its_own_time_left():
    tracker = _tracker()
    tracker.start("load", 0.0)
    tracker.start("s1", 10.0)  # loading took its estimate
    tracker.steps("s1", 2, 8, 14.0)  # 2 s a step: 12 s more for this pass
    report = tracker.report(14.0)
    assert report.step == (2, 8)
    # s1: 4 s measured for the 5 s its estimate gives 2 of 8 steps: the rest runs at 0.8x
    assert report.left_s == pytest.approx(12.0 + (40.0 + 2.0) * 0.8)


def test_a_fast_device_shortens_what_is_left():
    tracker = _tracker()
    tracker.start("load", 0.0)
    tracker.start("s1", 1.0)  # loading 10x faster than its estimate
    tracker.start("s2", 3.0)  # pass 1 in 2 s of its 20: compute runs at 0.1x
    assert tracker.report(3.0).left_s == pytest.approx((40.0 + 2.0) * 0.1)


def test_pass_2_goes_by_pass_1s_pace_not_by_other_stages():
    tracker = _tracker()
    tracker.nodes["prompt"] = stages.Node("prompt", "prompt", "Encoding the prompt", 1.0)
    tracker.start("load", 0.0)
    tracker.start("prompt", 10.0)
    tracker.start("s1", 15.0)  # the prompt took 5x its estimate
    tracker.start("s2", 25.0)  # pass 1 half its estimate
    left = tracker.report(25.0).left_s
    # pass 2 at pass 1's 0.5x; the file, never measured, at the pace of the computing of some
    # weight: pass 1's too (the prompt's 1 s estimate is too small to say a pace)
    assert left == pytest.approx(40.0 * 0.5 + 2.0 * 0.5)


def test_cached_nodes_take_no_time():
    tracker = _tracker()
    tracker.skip(["load", "s1"])
    tracker.start("s2", 0.0)
    assert tracker.report(0.0).left_s == pytest.approx(42.0)


def test_the_percentage_never_goes_back():
    tracker = _tracker()
    tracker.start("s1", 0.0)
    tracker.steps("s1", 4, 8, 1.0)  # fast: well past halfway
    first = tracker.report(1.0).fraction
    tracker.steps("s1", 5, 8, 30.0)  # then a very slow step
    assert tracker.report(30.0).fraction >= first


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.4, "almost done"),
        (7.2, "about 8 s left"),
        (42, "about 40 s left"),
        (70, "about 1 min 10 s left"),
        (120, "about 2 min left"),
        (725, "about 12 min left"),
    ],
)
def test_the_time_left_reads_as_a_person_says_it(seconds, said):
    assert stages.duration(seconds) == said


def test_the_line_says_stage_step_percentage_and_time_left():
    line = stages.line("Sampling pass 1", (3, 8), 0.42, 70)
    assert line == "Sampling pass 1 · step 3/8 · 42% · about 1 min 10 s left"


def test_a_blink_of_a_small_node_does_not_freeze_the_percentage_for_a_pass():
    """A LoadImage (1 s expected) and a prompt encode (2 s) done in a blink say nothing of the
    sampler's pace: the percentage goes on rising through pass 1, step after step."""
    nodes = {
        "load": stages.Node("load", "load", "Loading the models", 12.0),
        "image": stages.Node("image", "inputs", "Preparing the inputs", 1.0),
        "text": stages.Node("text", "prompt", "Encoding the prompt", 2.0),
        "s1": stages.Node("s1", "sample", "Sampling pass 1", 80.0),
        "decode": stages.Node("decode", "decode", "Decoding", 10.0),
    }
    tracker = stages.Tracker(nodes, started_at=0.0)
    tracker.start("load", 0.0)  # loading takes its estimate
    tracker.start("image", 12.0)
    tracker.start("text", 12.01)
    tracker.start("s1", 12.02)
    seen = [tracker.report(12.02).fraction]  # as the page asks before the first step
    for step in range(1, 9):  # 10 s a step, as estimated
        tracker.steps("s1", step, 8, 12.02 + 10.0 * step)
        seen.append(tracker.report(12.02 + 10.0 * step).fraction)
    assert seen[0] < 0.2, seen  # 12 s of about 102
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False)), seen
    assert seen[-1] == pytest.approx(92 / 102, abs=0.02)  # the decode's 10 s still to come


def test_the_enhancer_is_a_stage_of_its_own_with_the_estimators_share():
    """The enhancer's GPU task says "Enhancing the prompt" and counts its time (it read as
    "Starting · 87% · almost done" all through the rewrite)."""
    prompt = json.loads((ROOT / "workflows" / "enhance.json").read_text())
    plan = stages.plan(prompt)
    [enhancer] = [n for n in plan.values() if n.stage == "enhance"]
    assert enhancer.label == "Enhancing the prompt"
    assert (
        enhancer.expected_s == pytest.approx(stages.enhance_seconds(prompt))
        and enhancer.expected_s > 5
    )
    tracker = stages.Tracker(plan, started_at=0.0)
    for node_id, node in plan.items():  # the loader, then the enhancer running
        if node.stage == "load":
            tracker.start(node_id, 0.0)
    tracker.start(enhancer.id, 1.0)
    report = tracker.report(2.0)
    assert report.label == "Enhancing the prompt" and report.fraction < 0.5
    assert report.left_s > 0.5 * enhancer.expected_s
