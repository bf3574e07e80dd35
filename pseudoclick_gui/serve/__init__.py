"""``pseudoclick serve``: the model as a Label Studio ML backend (docs/serving.md).

``app`` (Flask routes, auth, JSON errors) -> ``pool`` (where predictions run: this process or N workers)
-> ``predictor`` (cached engine sessions per task; keypoints -> clicks, kept suggestions -> pseudo clicks)
-> ``engine.Session``. ``images`` decides which image references may be read; ``protocol`` speaks Label
Studio's JSON; ``rle`` writes its brush masks. Flask and waitress are imported only by ``app`` and ``cli.run``.
"""
