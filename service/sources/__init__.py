"""Where an article comes from when a client names it by URL: the address policy against
server-side request forgery (`addresses`, pure) and the fetch within it and its limits (`fetch`).

Below `tasks`, beside `text`: it imports only `service.core`, never Flask or a model library.
"""

from service.sources.addresses import AddressPolicy, AddressRefused, Target, parse_target
from service.sources.fetch import MAX_REDIRECTS, Fetcher, FetchLimits, Page, fetcher_for

__all__ = [
    "MAX_REDIRECTS",
    "AddressPolicy",
    "AddressRefused",
    "FetchLimits",
    "Fetcher",
    "Page",
    "Target",
    "fetcher_for",
    "parse_target",
]
