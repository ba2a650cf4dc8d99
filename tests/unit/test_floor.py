"""The served floor: chosen from what annotators did with a version's spans, only on enough evidence."""

from __future__ import annotations

from backend.ner import floor
from backend.ner.effort import Effort
from backend.state.quality import VersionQuality, _fields, _figures


def annotated(quality: VersionQuality, times: int, shown: list[tuple], final: list[tuple]) -> None:
    for _ in range(times):
        quality.add(shown, final)


def read_back(quality: VersionQuality) -> VersionQuality:
    """Through the Redis hash's fields, as the serving processes read it."""
    return _figures({k.encode(): str(v).encode() for k, v in _fields(quality).items()})


def test_a_floor_drops_the_low_scored_spans_annotators_deleted():
    quality = VersionQuality()
    # each task: a right span scored 0.97, a wrong one scored 0.91 that the annotator deletes
    annotated(quality, 13, [(0, 5, "PER", 0.97), (8, 12, "LOC", 0.91)], [(0, 5, "PER"), (20, 24, "ORG")])
    chosen = read_back(quality).floor("v3")
    assert chosen.saved_as_served == 0.0  # a delete and a create per task for one kept of two
    assert chosen.floor == 0.93 and chosen.saved_at_floor == 0.5
    assert "v3" in chosen.reason and "0.93" in chosen.reason


def test_spans_that_cost_more_than_they_save_are_not_shown_at_all():
    quality = VersionQuality()
    annotated(quality, 15, [(0, 5, "PER", 0.999), (8, 12, "LOC", 0.98)], [(30, 34, "ORG"), (40, 44, "ORG")])
    chosen = read_back(quality).floor("v2")
    assert chosen.saved_as_served == -1.0 and chosen.floor == floor.NONE and chosen.saved_at_floor == 0.0
    assert "showing nothing" in chosen.reason


def test_no_floor_without_enough_evidence_or_when_serving_as_is_saves_most():
    thin = VersionQuality()
    annotated(thin, floor.MIN_TASKS - 1, [(0, 5, "PER", 0.5)], [(9, 12, "LOC")] * 4)
    assert thin.floor("v1").floor is None and not thin.floor("v1").judged
    good = VersionQuality()
    annotated(good, 20, [(0, 5, "PER", 0.5), (6, 9, "LOC", 0.95)], [(0, 5, "PER"), (6, 9, "LOC")])
    chosen = good.floor("v1")
    assert chosen.judged and chosen.floor is None and chosen.saved_as_served == 1.0


def test_a_floor_must_beat_serving_as_is_by_the_margin():
    served = Effort(deletes=10, creates=10, gold=100)
    slightly = {value: Effort(deletes=9, creates=10, gold=100) for value in floor.FLOORS}  # 1 point better
    assert floor.choose("v1", 40, served, slightly).floor is None
    clearly = {**slightly, 0.95: Effort(deletes=2, creates=12, gold=100)}
    assert floor.choose("v1", 40, served, clearly).floor == 0.95


def test_one_span_is_no_evidence_for_a_floor():
    served = Effort(creates=28, gold=28)  # nothing shown
    one = {value: Effort(creates=27, gold=28) for value in floor.FLOORS}  # one span shown, right: 3.6 % more
    assert not floor.beats(served, one[0.5]) and floor.choose("v3", 50, served, one).floor is None
    two = {**one, 0.4: Effort(deletes=1, creates=25, gold=28)}  # three right, one wrong
    assert floor.beats(served, two[0.4]) and floor.choose("v3", 50, served, two).floor == 0.4


def test_outcomes_recorded_before_floors_were_summed_choose_nothing():
    quality = VersionQuality()
    annotated(quality, 20, [(0, 5, "PER", 0.91)], [(9, 12, "LOC")])
    fields = {k: v for k, v in _fields(quality).items() if not k.startswith("@") and k != "tasks@"}
    old = _figures({k.encode(): str(v).encode() for k, v in fields.items()})
    assert old.tasks == 20 and old.floor("v1").floor is None


def test_unscored_spans_stay_whatever_the_floor():
    assert floor.shown_above([(0, 5, "PER"), (6, 8, "LOC", None), (9, 12, "ORG", 0.5)], 0.9) == [
        (0, 5, "PER"), (6, 8, "LOC")]
    assert floor.scored_entities(["B-PER", "I-PER", "O", "B-LOC"], [0.9, 0.7, 0.99, None]) == [
        (0, 2, "PER", 0.8), (3, 4, "LOC", None)]


def test_spans_tagged_and_not_shown_can_lower_the_floor():
    quality = VersionQuality()
    # served from 0.9: a right span at 0.95 shown; a right one at 0.7 and a wrong one at 0.45 hidden
    for _ in range(13):
        quality.add([(0, 5, "PER", 0.95)], [(0, 5, "PER"), (8, 12, "LOC")], hidden=[(8, 12, "LOC", 0.7), (20, 24, "ORG", 0.45)])
    chosen = read_back(quality).floor("v2")
    assert chosen.saved_as_served == 0.5  # one created of two
    assert chosen.floor == 0.5 and chosen.saved_at_floor == 1.0  # 0.4 and every span show the wrong one too
    assert "spans scored 0.50 or more would have saved 100%" in chosen.reason
    assert read_back(quality).tasks == 13 and read_back(quality).total.predicted == 13  # only the shown count as served
    every = VersionQuality()
    for _ in range(floor.MIN_GOLD):
        every.add([], [(0, 5, "PER")], hidden=[(0, 5, "PER", 0.2)])
    assert every.floor("v2").floor == floor.EVERY and "showing every span" in every.floor("v2").reason


def test_without_a_dev_split_a_new_version_serves_from_the_live_floor_else_the_prior():
    from backend.ner.spans import BOUNDARIES, CHANCE
    from worker.training.recipe import PRIORS, Candidate, _try_threshold

    def threshold(live, fixed=None, unit=CHANCE):
        candidate = Candidate(result=None, config=None, warm_start="base", dev=None, previous_dev_f1=None)
        _try_threshold(candidate, None, [], fixed, live, unit=unit)
        return candidate.threshold, candidate.threshold_why

    prior = PRIORS[CHANCE].judged
    # nobody has edited enough of the project's spans to judge them (a first version, or too few spans)
    assert threshold(None)[0] == PRIORS[CHANCE].unjudged > prior and "judge" in threshold(None)[1]
    assert threshold(None, fixed=0.5)[0] == 0.5
    # each score has its own: spans weighed against their boundaries score higher than their chance
    assert threshold(None, unit=BOUNDARIES)[0] == PRIORS[BOUNDARIES].unjudged > PRIORS[CHANCE].unjudged

    judged = floor.Floor("v2", 30, 70, 0.3, None, None)  # as served was best
    assert threshold(judged) == (prior, threshold(judged)[1]) and "prior" in threshold(judged)[1]
    costly = floor.Floor("v2", 30, 70, -0.05, 0.97, 0.12)
    value, why = threshold(costly)
    assert value == 0.97 and "v2" in why and "-5%" in why
    # higher only where the spans as served cost more than they saved: a newer model is not held back
    assert threshold(floor.Floor("v2", 30, 70, 0.0, 0.99, 0.1))[0] == prior
    assert threshold(floor.Floor("v2", 30, 70, 0.3, 0.7, 0.35))[0] == 0.7  # spans it did not show would have paid
    assert threshold(floor.Floor("v2", 30, 70, 0.3, floor.EVERY, 0.35))[0] is None  # every span
    few = floor.TRANSFER_TASKS - 1  # lower only on enough tasks
    assert threshold(floor.Floor("v2", few, 70, 0.3, 0.7, 0.35))[0] == prior
    assert threshold(costly, fixed=0.0)[0] is None  # SPAN_THRESHOLD=0 serves every span, whatever the edits


def test_evidence_that_finds_nothing_better_keeps_a_lower_threshold_for_the_next_version():
    from backend.ner.spans import CHANCE
    from worker.training.recipe import PRIORS, Candidate, _try_threshold

    prior = PRIORS[CHANCE].judged

    def threshold(live, served_from):
        candidate = Candidate(result=None, config=None, warm_start="base", dev=None, previous_dev_f1=None)
        _try_threshold(candidate, None, [], None, live, served_from=served_from, unit=CHANCE)
        return candidate.threshold, candidate.threshold_why

    as_served = floor.Floor("v4", 100, 60, 0.07, None, None)  # every span saved 7 %, no floor clearly more
    value, why = threshold(as_served, floor.EVERY)
    assert value is None and "keep what v4 served" in why and "7%" in why
    assert threshold(as_served, 0.7)[0] == 0.7
    assert threshold(as_served, None)[0] == prior  # the evidence is about another version
    assert threshold(as_served, 0.97)[0] == prior  # higher: a newer model is not held back
    few = floor.Floor("v4", floor.TRANSFER_TASKS - 1, 60, 0.07, None, None)
    assert threshold(few, 0.7)[0] == prior
    costly = floor.Floor("v4", 100, 60, -0.02, None, None)
    assert threshold(costly, 0.7)[0] == prior
    thin = floor.Floor("v4", 100, floor.MIN_GOLD - 1, 0.07, None, None)  # not judged
    assert threshold(thin, 0.7)[0] == prior


def test_versions_a_few_annotations_apart_are_judged_together():
    """The service trains every 10 annotations: one version's tasks rarely suffice to judge a floor,
    so the newest versions are summed, newest first, until they could lower one."""
    from backend.ner.edited import POOLED, evidence

    def served(tasks: int) -> VersionQuality:
        quality = VersionQuality()  # served from 0.9; each task a right span the version hid at 0.7
        for _ in range(tasks):
            quality.add([(0, 5, "PER", 0.95)], [(0, 5, "PER"), (8, 12, "LOC")], hidden=[(8, 12, "LOC", 0.7)])
        return quality

    ten = [(f"v{n}", served(10)) for n in (9, 8, 7, 6)]
    assert not ten[0][1].floor("v9").judged or ten[0][1].floor("v9").tasks < floor.TRANSFER_TASKS
    chosen = evidence(ten)
    assert chosen.version == "v9" and chosen.older == 2 and chosen.tasks == 30  # stops once enough
    assert chosen.floor == floor.EVERY and chosen.carries_over(0.9)  # 30 tasks: enough to lower it
    assert "v9 and the 2 versions before it: on 30 annotated tasks" in chosen.reason
    alone = evidence([("v9", served(floor.TRANSFER_TASKS))])
    assert alone.older == 0 and alone.tasks == floor.TRANSFER_TASKS and alone.reason.startswith("v9: ")
    assert evidence([("v9", served(5)), ("v8", VersionQuality()), ("v7", served(4))]) is None  # 9 tasks: unjudged
    many = [(f"v{n}", served(3)) for n in range(20, 0, -1)]
    assert evidence(many).older == POOLED - 1 and evidence(many).tasks == 3 * POOLED  # at most POOLED versions


def test_a_floor_goes_up_only_while_the_newest_versions_spans_still_cost():
    """Spans that cost more than they saved raise the floor once; the versions after show less, and
    the evidence that raised it, still in their pool, does not keep it up."""
    from backend.ner.edited import evidence
    from backend.ner.spans import CHANCE
    from worker.training.recipe import PRIORS, Candidate, _try_threshold

    def versions(costly: int, shown_after: bool) -> list[tuple[str, VersionQuality]]:
        old, new = VersionQuality(), VersionQuality()
        for _ in range(costly):  # served a wrong span at 0.99; the annotator deleted it and made the right one
            old.add([(0, 5, "PER", 0.99)], [(8, 12, "LOC")])
        for _ in range(10):  # the version served after: its right span hidden, or shown
            right = [(8, 12, "LOC", 0.96)]
            new.add(right if shown_after else [], [(8, 12, "LOC")], hidden=[] if shown_after else right)
        return [("v3", new), ("v2", old)]

    prior = PRIORS[CHANCE].judged

    def served_by_the_next(pool):
        candidate = Candidate(result=None, config=None, warm_start="base", dev=None, previous_dev_f1=None)
        _try_threshold(candidate, None, [], None, evidence(pool), unit=CHANCE)
        return candidate.threshold, candidate.threshold_why

    spent = evidence(versions(20, shown_after=False))
    assert spent.tasks == 30 and spent.saved_as_served < 0 and spent.floor == floor.NONE  # the pool alone would raise
    assert not spent.newest_costs and not spent.carries_over(prior) and spent.spent(prior)
    value, why = served_by_the_next(versions(20, shown_after=False))
    assert value == prior and "v3's own spans as served cost no more edits than they saved" in why
    # the newest version costs too: the floor goes up
    still = [("v3", versions(20, shown_after=False)[1][1]), ("v2", versions(20, shown_after=False)[1][1])]
    assert evidence(still).newest_costs and served_by_the_next(still)[0] == floor.NONE
    # one version's evidence alone is its own newest: unchanged
    alone = evidence([("v2", versions(30, shown_after=True)[1][1])])
    assert alone.newest_costs and alone.carries_over(prior)
