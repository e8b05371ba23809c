"""Dead letters: what a reader could not take, the limit on how many, and the dead-letter topic.

- ``letter.py``: the letter format (headers, letter ids, null and oversized payloads); pure.
- ``limit.py``: the dead-letter limit, a policy value, and the count that enforces it; pure.
- ``topic.py``: reading the dead-letter topic, and sending letters back to their source.
"""
