# Shortcuts; each target is a script in scripts/ that also works without make.
.PHONY: venv run run-ls test test-fast bench

venv:
	bash scripts/setup-venv.sh

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

test-fast:
	bash scripts/test.sh -m "not slow"

bench:
	bash bench/train_gmb.sh ../shared/data/gmb/ner_dataset.csv
	.venv/bin/python bench/predict_speed.py ../shared/data/gmb/ner_dataset.csv

run-ls:
	bash scripts/run.sh --label-studio
