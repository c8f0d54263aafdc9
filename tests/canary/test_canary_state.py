import pytest

from gates.core.errors import InputError
from gates.deploy.canary.state import STATE_ANNOTATION, CanaryState, plan_run, template_hash


def state(**kw):
    base = {"target": "t1", "image": "img:v2", "steps": [10, 25, 50, 100], "stable_replicas": 4}
    base.update(kw)
    return CanaryState(**base)


def test_roundtrip_annotations():
    s = state(step=2, failed_checks=1)
    s.record(event="step", outcome="pass")
    ann = s.annotations()
    assert ann["mlgate.io/canary-weight"] == "50" and ann["mlgate.io/canary-phase"] == "progressing"
    back = CanaryState.from_annotations(ann)
    assert back.step == 2 and back.failed_checks == 1 and back.history[0]["outcome"] == "pass"


def test_bad_annotation():
    with pytest.raises(InputError):
        CanaryState.from_annotations({STATE_ANNOTATION: "{not json"})
    assert CanaryState.from_annotations({}) is None


def test_template_hash_stable():
    assert template_hash({"a": 1, "b": [1, 2]}) == template_hash({"b": [1, 2], "a": 1})


def test_start_fresh():
    plan = plan_run(None, "t1", "img:v2", [10, 50, 100], 4, stable_target="t0")
    assert plan.kind == "start" and plan.state.step == 0


def test_already_promoted():
    plan = plan_run(None, "t1", "img:v2", [10, 50, 100], 4, stable_target="t1")
    assert plan.kind == "done" and plan.state.phase == "promoted"


def test_resume_recorded_step():
    plan = plan_run(state(step=2), "t1", "img:v2", [10, 25, 50, 100], 4, "t0")
    assert plan.kind == "resume" and plan.state.step == 2 and plan.state.weight == 50


def test_held_resumes():
    plan = plan_run(state(step=1, phase="held"), "t1", "img:v2", [10, 25, 50, 100], 4, "t0")
    assert plan.kind == "resume" and plan.state.phase == "progressing"


def test_converge_interrupted_promotion_and_rollback():
    assert plan_run(state(phase="promoting"), "t1", "i", [10, 25, 50, 100], 4, "t0").kind == "finish_promote"
    assert (
        plan_run(state(phase="rolling_back"), "t1", "i", [10, 25, 50, 100], 4, "t0").kind == "finish_rollback"
    )


def test_rolled_back_stands_unless_restart():
    rb = state(phase="rolled_back", reason="error_rate high")
    assert plan_run(rb, "t1", "i", [10, 25, 50, 100], 4, "t0").kind == "done"
    assert plan_run(rb, "t1", "i", [10, 25, 50, 100], 4, "t0", restart=True).kind == "start"


def test_new_template_replaces_old_canary():
    plan = plan_run(state(step=3), "t2", "img:v3", [10, 100], 4, "t0")
    assert plan.kind == "start" and plan.state.target == "t2"


def test_changed_steps_keep_progress():
    plan = plan_run(state(step=2), "t1", "img:v2", [20, 60, 100], 4, "t0")
    assert plan.kind == "resume" and plan.state.weight == 60


def test_the_terminal_look_is_fixed_in_advance_and_comes_once():
    from gates.deploy.canary.state import Limits, is_terminal_look

    limits = Limits(inconclusive_limit=3)
    # the last step compares (50 %): its third inconclusive analysis in a row would be its last
    s = state(steps=[10, 25, 50], step=2)
    assert [
        is_terminal_look(state(steps=[10, 25, 50], step=2, inconclusive=k), limits) for k in range(3)
    ] == [
        False,
        False,
        True,
    ]
    assert not is_terminal_look(state(steps=[10, 25, 50], step=1, inconclusive=2), limits)
    # the last step serves only the canary: the step before it is the last comparison, judged once
    assert is_terminal_look(state(step=2), limits) and not is_terminal_look(state(step=3), limits)
    s = state(step=2, terminal_tested=True)
    assert not is_terminal_look(s, limits)
    back = CanaryState.from_annotations(s.annotations())
    assert back is not None and back.terminal_tested  # a re-run does not test again
    assert not is_terminal_look(state(steps=[100]), limits)
