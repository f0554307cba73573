"""Programs from the datasets' worked solutions (the `reference` label source): GSM8K calculator
annotations and prose arithmetic linked to the problem text, and linear equations. Training data
only: inference never imports these."""
