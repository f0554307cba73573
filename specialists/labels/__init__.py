"""Labels: the record every specialist trains on (schema.py), its Parquet store (store.py), and
the builders that make execution-validated labels from the datasets' worked solutions (gsm8k.py,
math.py) or the teacher's signals (teacher.py), driven by build.py."""
