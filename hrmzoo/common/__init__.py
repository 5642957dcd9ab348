"""The foundation every layer may use: safe paths (`paths`), size limits (`limits`), seeding
(`seeding`), the autocast dtype (`precision`), reading type annotations (`annotations`), the
per-user cache folder (`user_cache`) and the one fsync'ing atomic file writer (`atomic`).

Standard library (and torch where a module says so) only; nothing here knows a model, a recipe or
a dataset. `hrmzoo.errors` and `hrmzoo.architecture` sit beside this folder at the package root.
"""
