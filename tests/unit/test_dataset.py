"""A project's stored annotations as training data: sentences, labels, a stable dev split."""

from __future__ import annotations

from backend.labelstudio.labelconfig import parse_label_config
from backend.ner.words import split_tagged
from backend.labelstudio.annotation import Annotation
from tests.support.lsdata import GMB_CONFIG, text_and_regions
from worker.training.dataset import MIN_DEV_TASKS, project_data, split_dev


def _annotations(sentences, offset=0):
    out = []
    for i, s in enumerate(sentences):
        text, regions = text_and_regions(s)
        out.append(Annotation(task_id=offset + i, annotation_id=offset + i, data={"text": text}, result=regions))
    return out


def test_annotations_become_the_gold_sentences(gmb_train):
    data = project_data(_annotations(gmb_train[:20]), parse_label_config(GMB_CONFIG))
    assert data.tasks == 20 and not data.skipped
    for i, s in enumerate(gmb_train[:20]):
        (got,) = data.sentences[i]
        assert (got.words, got.tags) == tuple(map(list, split_tagged(s.words, s.tags)))
    # the config's labels, even those no annotation uses yet, so the label set stays put
    assert data.labels.types == ["art", "eve", "geo", "gpe", "nat", "org", "per", "tim"]


def test_aliases_cut_words_and_other_controls():
    config = ('<View><Labels name="ner" toName="t"><Label value="Person" alias="P"/></Labels>'
              '<Labels name="other" toName="t"><Label value="Thing"/></Labels><Text name="t" value="$body"/></View>')
    controls = parse_label_config(config)
    good = Annotation(1, 1, {"body": "Ann met Bob"}, [
        {"from_name": "ner", "to_name": "t", "type": "labels", "value": {"start": 0, "end": 3, "labels": ["P"]}},
    ])
    cut = Annotation(2, 2, {"body": "Annabel met Bob"}, [
        {"from_name": "ner", "to_name": "t", "type": "labels", "value": {"start": 0, "end": 3, "labels": ["Person"]}},
    ])
    data = project_data([good, cut], controls)
    ner, other = data.sentences[1]
    assert ner.tags == ["B-Person", "O", "O"] and other.tags == ["O", "O", "O"]
    assert list(data.sentences) == [1] and "task 2" in data.skipped[0] and "Annabel" in data.skipped[0]
    assert data.labels.types == ["Person", "Thing"]


def test_dev_split_is_stable_as_tasks_come_and_go(gmb_train):
    controls = parse_label_config(GMB_CONFIG)
    small = project_data(_annotations(gmb_train[: MIN_DEV_TASKS - 1]), controls)
    assert split_dev(small, 0.2).dev == []  # too few tasks to hold any out

    def dev_sources(n):
        data = project_data(_annotations(gmb_train[:n]), controls)
        split = split_dev(data, 0.2)
        train, dev = split.train, split.dev
        assert len(train) + len(dev) == n and {s.source for s in train}.isdisjoint({s.source for s in dev})
        assert split.unseen_dev(None) is None and split.unseen_dev(split.train_ids) == dev
        assert split.unseen_dev(split.train_ids | split.dev_ids) == []
        return {s.source for s in dev}

    d100, d200 = dev_sources(100), dev_sources(200)
    assert d100 == dev_sources(100)  # deterministic
    assert d100 <= d200  # a dev task stays dev as data grows: no model ever trained on it
    assert 0.1 < len(d200) / 200 < 0.3
    assert len(dev_sources(MIN_DEV_TASKS)) >= 2


def test_regions_of_object_tags_we_cannot_place_are_not_trained_on():
    config = ('<View><Labels name="ner" toName="t"><Label value="LOC"/></Labels><Text name="t" value="$text"/>'
              '<Labels name="web" toName="page"><Label value="ORG"/></Labels><HyperText name="page" value="$html"/></View>')
    controls = parse_label_config(config)
    assert [(c.object_tag, c.supported) for c in controls] == [("Text", True), ("HyperText", False)]
    xpath_region = {"from_name": "web", "to_name": "page", "type": "labels",
                    "value": {"start": "/p[1]/text()[1]", "end": "/p[1]/text()[1]", "startOffset": 0, "endOffset": 4,
                              "globalOffsets": {"start": 0, "end": 4}, "text": "Acme", "labels": ["ORG"]}}
    text_region = {"from_name": "ner", "to_name": "t", "type": "labels",
                   "value": {"start": 8, "end": 13, "text": "Paris", "labels": ["LOC"]}}
    ann = Annotation(1, 1, {"text": "Acme in Paris", "html": "<p>Acme</p>"}, [xpath_region, text_region])
    data = project_data([ann], controls)
    assert not data.skipped
    (sentence,) = data.sentences[1]
    assert sentence.tags == ["O", "O", "B-LOC"] and data.labels.types == ["LOC"]


def test_a_task_no_check_foresaw_is_skipped_with_its_reason_and_the_rest_trains(gmb_train):
    good = _annotations(gmb_train[:3])
    weird = [Annotation(task_id=90 + i, annotation_id=90 + i, data={"text": "Paris is big"}, result=[region])
             for i, region in enumerate([
                 {"from_name": "label", "to_name": "text", "type": "labels",
                  "value": {"start": float("inf"), "end": 5, "labels": ["geo"]}},
                 {"from_name": "label", "to_name": "text", "type": "labels", "value": [1]},
                 {"from_name": "label", "to_name": "text", "type": "labels",
                  "value": {"start": 0, "end": 5, "labels": {"a": 1}}},
                 {"from_name": "label", "to_name": "text", "type": "labels",
                  "value": {"start": 0, "end": 5, "labels": 5}},
             ])]
    data = project_data(good + weird, parse_label_config(GMB_CONFIG))
    assert sorted(data.sentences) == [0, 1, 2]
    assert len(data.skipped) == 4 and all(f"task {90 + i}" in line for i, line in enumerate(data.skipped))


def test_a_stored_text_over_max_task_chars_is_skipped_not_trained(gmb_train):
    """An older version stored it; split into words it would take every later training's memory."""
    anns = _annotations(gmb_train[:3])
    huge = Annotation(99, 99, {"text": "Paris " * 200_000}, [])
    data = project_data([*anns, huge], parse_label_config(GMB_CONFIG), max_chars=1_000_000)
    assert data.tasks == 3 and data.skipped == ["task 99: data['text'] has 1200000 characters; MAX_TASK_CHARS is 1000000"]


def test_a_large_project_holds_out_at_most_max_dev_tasks_the_lowest_ranked():
    from backend.ner.labels import LabelSet
    from backend.ner.readers import Sentence
    from worker.training.dataset import MAX_DEV_TASKS, ProjectData, dev_tasks

    def project(n: int) -> ProjectData:
        return ProjectData({t: [Sentence(["word"], ["O"])] for t in range(n)}, LabelSet.from_types(["geo"]))

    small, large = dev_tasks(project(1000), 0.2), dev_tasks(project(5000), 0.2)
    assert 150 < len(small) < MAX_DEV_TASKS  # under the cap: DEV_FRACTION alone decides
    assert len(large) == MAX_DEV_TASKS
    assert len(dev_tasks(project(20_000), 0.2)) == MAX_DEV_TASKS  # the passes over dev stay what they are at 5,000
    # a task dev in the large project was dev in the small one: no version of it trained on it
    assert large & set(range(1000)) <= small and large & set(range(1000))
