"""Text handling for the tasks: paragraph and sentence splitting, token-budget chunking.

A leaf: imports nothing else from the service, so it is testable without a model.
"""

from service.text.chunks import plan_chunks, split_to_budget
from service.text.sentences import split_paragraphs, split_sentences

__all__ = ["plan_chunks", "split_paragraphs", "split_sentences", "split_to_budget"]
