"""Evaluation: accuracy against the gold answers, oracle-swap error attribution (the first stage
whose gold replacement fixes a failure), and the self-contained HTML report."""
