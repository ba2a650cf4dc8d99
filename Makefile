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

# The corpora are not in the repository: GMB's ner_dataset.csv is Kaggle's "Annotated Corpus for
# Named Entity Recognition" (abhinavwalia95/entity-annotated-corpus); BC5CDR's IOB splits come from
# cambridgeltl/MTL-Bioinformatics-2016 (data/BC5CDR-IOB). Put them under ../shared/data/ as here.
bench:
	bash bench/train_gmb.sh ../shared/data/gmb/ner_dataset.csv
	.venv/bin/python bench/predict_speed.py ../shared/data/gmb/ner_dataset.csv

run-ls:
	bash scripts/run.sh --label-studio
