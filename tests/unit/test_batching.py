from backend.ner.alignment import IGNORE_INDEX
from backend.ner.batching import pad_batch


def test_pads_each_key_with_its_own_filler_and_masks_padding():
    batch = pad_batch(
        [{"input_ids": [5, 6, 7], "labels": [1, 2, 3], "token_type_ids": [0, 1, 0]},
         {"input_ids": [8], "labels": [4], "token_type_ids": [1]}],
        pad_id=0,
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["token_type_ids"].tolist() == [[0, 1, 0], [1, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_absent_keys_stay_absent():
    batch = pad_batch([{"input_ids": [3, 4]}], pad_id=9)
    assert sorted(batch) == ["attention_mask", "input_ids"]
