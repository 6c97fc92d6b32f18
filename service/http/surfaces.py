"""Every blueprint the app serves but the OpenAPI document's own: the `/v1` API, the
compatibility surfaces, the probes, the docs and the page. A new surface is one line here;
importing this module registers every route's metadata (`service.http.described.ROUTES`)."""

from service.http import docs, page, probes
from service.http.compat import deepl, google, huggingface, libretranslate
from service.http.v1 import documents, jobs
from service.http.v1 import routes as v1

BLUEPRINTS = (
    *(v1.bp, jobs.bp, documents.bp, probes.bp, docs.bp, page.bp),
    *(libretranslate.bp, huggingface.bp, deepl.bp, google.bp),
)
