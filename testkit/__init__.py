"""What the tests and the benchmarks drive the app with, kept apart from both.

The tests (`tests/`) and the tools (`tools/bench_*.py`, `tools/readme_figures.py`, ...) import from
here; nothing here imports a test, and no tool imports `tests/`. Each module says its job:
stand-ins (`fake_worker`: ComfyUI's HTTP API without ComfyUI; `models_fakehub`: a Hugging Face hub
on loopback), runners (`real_app`, `real_workers`: the app and `tools/start_workers.py` as
processes), the page as a user meets it (`browser_helpers`, `raw_gradio`), made-up inputs
(`mediagen`, `modes_helpers`, `history_helpers`), the app with its GPU task replaced
(`app_helpers`) and waiting on a condition rather than a sleep (`waiting`, `loopback`).
"""
