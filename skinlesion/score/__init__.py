"""Batch scoring of a folder or CSV of images: python -m skinlesion.score (the command line is in
__main__). One module per job: inputs (what to score), results (the CSV written and resumed from),
backends (where the model runs), batches (what each request carries), scoring (the run), evaluation
(against --labels), errors (how a run ends early)."""
