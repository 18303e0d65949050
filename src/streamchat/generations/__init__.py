"""One answer = one task, decoupled from every connection. Nothing here knows about HTTP.

- :mod:`~streamchat.generations.core`: :class:`Generations` starts a task per answer, numbers
  and publishes its events, stops it, and ends it (the final save, then the terminal event);
- :mod:`~streamchat.generations.saving`: the periodic saves of running answers and the final
  save's retries;
- :mod:`~streamchat.generations.orphans`: the answers of workers that died.
"""

from streamchat.generations.core import Generation, Generations, GenerationSpec, Observer

__all__ = ["Generation", "GenerationSpec", "Generations", "Observer"]
