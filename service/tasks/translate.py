"""Translate: split each text into paragraphs and sentences, queue every sentence, put the
translations back with the text's own paragraph breaks; HTML keeps its tags; `source: auto`
detects each text's language.

All sentences of a request for one model go to the engine as one submission, so they share
batches with each other and with other requests; a request has one deadline for all of them and
for its preprocessing; if one submission is refused, the ones already queued are withdrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from service.core.errors import InvalidRequest, UnsupportedLanguage
from service.core.pairs import LanguagePair
from service.inference.engine import Engine, Submission
from service.inference.seq2seq import Seq2SeqModel
from service.tasks.context import PerText, TaskContext, TextsRequest, served_languages
from service.tasks.generation import GenerationOptions
from service.tasks.limits import check_texts
from service.tasks.sources import Extracted, SourceOptions, read_texts
from service.tasks.steps import (
    batch_ids_per_run,
    check_deadline,
    encode,
    split_runs,
    withdrawn_on_failure,
    within,
)
from service.text import split_paragraphs, split_sentences, split_to_budget
from service.text.html import HtmlError, extract_all
from service.text.language import Detection, LanguageDetector

# The `source` that asks for the language to be detected.
AUTO = "auto"


@dataclass
class Translation:
    text: str
    model: str  # "" for a text already in the target language (no model ran)
    source: str
    target: str
    sentences: int
    batch_ids: list[int] = field(default_factory=list)
    detected: Detection | None = None  # the language found when the source was AUTO


@dataclass(frozen=True)
class TranslateRequest(TextsRequest):
    """Texts to translate into `target` from `source` (a code, or AUTO to detect each text's);
    `format` "html" keeps tags. With `url`, the article of that page is the one text (its
    extracted text, translated as text)."""

    target: str
    source: str = "en"
    format: str = "text"
    options: GenerationOptions = GenerationOptions()
    url: str | None = None

    @property
    def items(self) -> int:
        return 1 if self.url is not None else len(self.texts)


@dataclass
class Translations(PerText[Translation]):
    """One translation per text, in order, and what was extracted when a `url` was fetched."""

    extracted: Extracted | None = None

    @property
    def translations(self) -> list[Translation]:
        return self.each

    @property
    def detected(self) -> list[Detection]:
        """With `source: auto`, the language found in each text, in order; else empty."""
        return [t.detected for t in self.each if t.detected is not None]


def translate(ctx: TaskContext, request: TranslateRequest) -> Translations:
    """The translate operation: the pair (when the source is named), the limits on texts, then
    each text translated (its language detected first with `source: auto`)."""
    if request.source != AUTO:
        resolve_pair(ctx.engine, request.source, request.target)
    deadline = ctx.started()
    texts, text_format, extracted, field_name = request.texts, request.format, None, request.field
    if request.url is not None:
        found, [extracted] = read_texts(ctx, (), SourceOptions(request.url), "url", deadline)
        texts, text_format, field_name = found, "text", "url"
    check_texts(texts, ctx.limits, field_name)
    translations = translate_texts(
        ctx.engine,
        texts,
        target=request.target,
        source=request.source,
        options=request.options,
        deadline=deadline,
        text_format=text_format,
        detector=ctx.detector,
        among=ctx.detection_languages(),
    )
    return Translations(translations, extracted)


def _code(language: str) -> str:
    """A language code as a message repeats it: a client's 2 MB "code" is cut."""
    return language if len(language) <= 16 else language[:16] + "\u2026"


def resolve_pair(engine: Engine, source: str, target: str) -> LanguagePair:
    """The served pair source->target. Raises UnsupportedLanguage listing the pairs served,
    naming `target` when the source is served (to some other language), else `source`."""
    pair, served = LanguagePair(source, target), engine.pairs()
    if pair not in served:
        raise UnsupportedLanguage(
            f"no model translates {_code(source)!r} to {_code(target)!r}; "
            f"supported pairs: {', '.join(p.key for p in served)}",
            field="target" if any(p.source == source for p in served) else "source",
        )
    return pair


def detect_pair(
    engine: Engine,
    detector: LanguageDetector,
    text: str,
    target: str,
    among: Sequence[str] | None = None,
) -> tuple[LanguagePair | None, Detection]:
    """The served pair from the detected language of `text` to `target`, and that detection;
    no pair (None) when the text is already in `target`: it is answered as it is, as DeepL and
    Google answer it, so one such post does not cost a list its answers. Detection is among
    `among` (default: the languages served). Raises UnsupportedLanguage naming the language
    found when no model translates it to `target`."""
    among = served_languages(engine) if among is None else among
    best = detector.detect(text, top=1, among=among)[0]
    if best.language == target:
        return None, best
    try:
        return resolve_pair(engine, best.language, target), best
    except UnsupportedLanguage as exc:
        found = f"the text looks like {best.language!r} ({best.confidence:.0f}% confident); "
        raise UnsupportedLanguage(found + exc.message, field="source") from None


@dataclass
class _Layout:
    """Where a text's translated pieces go: `pieces` is the text split by `split_paragraphs`;
    `paragraphs` gives, per paragraph index in `pieces`, how many inputs it owns, in order."""

    pieces: list[str]
    paragraphs: list[tuple[int, int]]

    @property
    def inputs(self) -> int:
        return sum(n for _, n in self.paragraphs)

    def rebuild(self, translated: list[str]) -> str:
        pieces, outputs = list(self.pieces), iter(translated)
        for index, n in self.paragraphs:
            pieces[index] = " ".join(next(outputs) for _ in range(n))
        return "".join(pieces)


class PendingTranslation:
    """Translations submitted to one model; `results()` waits for them and rebuilds the text."""

    def __init__(
        self,
        pair: LanguagePair,
        model: Seq2SeqModel,
        layouts: list[_Layout],
        submission: Submission,
    ) -> None:
        self._pair = pair
        self._model = model
        self._layouts = layouts
        self._submission = submission

    def cancel(self) -> None:
        self._submission.cancel()

    def results(self) -> list[Translation]:
        counts = [layout.inputs for layout in self._layouts]
        outputs = split_runs(self._submission.results(), counts)
        batch_ids = batch_ids_per_run(self._submission, counts)
        return [
            Translation(
                text=layout.rebuild(translated),
                model=self._model.name,
                source=self._pair.source,
                target=self._pair.target,
                sentences=layout.inputs,
                batch_ids=ran_in,
            )
            for layout, translated, ran_in in zip(self._layouts, outputs, batch_ids, strict=True)
        ]


def translation_input_limit(model: Seq2SeqModel) -> int:
    """Most input tokens (special tokens included) one translated piece may have.

    Half the model's output length, within its input: a translation is often longer than its
    source (French and Arabic run 10-40% over English in opus-mt tokens), and a piece whose
    translation reaches the output limit would be cut off silently.
    """
    return min(model.max_input_tokens, model.max_output_tokens // 2)


def _encode_sentences(
    model: Seq2SeqModel, sentences: list[str], deadline: float = float("inf")
) -> list[list[list[int]]]:
    """Per sentence, the token ids of its pieces: one piece, unless the sentence is over
    `translation_input_limit`, when it is cut at clauses or words. Tokenises each sentence once;
    only over-long ones are tokenised again, piece by piece."""
    limit = translation_input_limit(model)
    out = []
    for sentence, ids in zip(sentences, encode(model, sentences, deadline), strict=True):
        if len(ids) <= limit:
            out.append([ids])
        else:
            budget = limit - model.overhead_tokens
            out.append(model.encode(split_to_budget(sentence, budget, model.count_tokens)))
    return out


def submit_translation(
    engine: Engine,
    pair: LanguagePair,
    texts: Sequence[str],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
) -> PendingTranslation:
    """Split each text into paragraphs and sentences and queue every sentence.

    Paragraph separators (any whitespace holding a line break) are kept verbatim. A sentence
    longer than the model's input is cut at clauses or words first; nothing is truncated.
    """
    deadline = engine.deadline() if deadline is None else deadline
    model = engine.model(pair.key)
    params = (options or GenerationOptions()).params_for(model)
    plans: list[tuple[list[str], list[tuple[int, list[str]]]]] = []
    with engine.preprocessing(sum(map(len, texts)), deadline):
        for text in texts:
            pieces = split_paragraphs(text)
            paragraphs = [
                (i, split_sentences(pieces[i])) for i in within(deadline, range(0, len(pieces), 2))
            ]
            plans.append((pieces, [(i, found) for i, found in paragraphs if found]))
        sentences = [s for _, ps in plans for _, f in ps for s in f]
        encoded = iter(_encode_sentences(model, sentences, deadline))
    layouts: list[_Layout] = []
    inputs: list[list[int]] = []
    for pieces, paragraphs in plans:
        layout = _Layout(pieces, [])
        for index, found in paragraphs:
            parts = [ids for _ in found for ids in next(encoded)]
            layout.paragraphs.append((index, len(parts)))
            inputs.extend(parts)
        layouts.append(layout)
    submission = engine.submit_many(pair.key, inputs, params, deadline=deadline)
    return PendingTranslation(pair, model, layouts, submission)


def _pairs_of(
    engine: Engine,
    pieces: list[list[str]],
    source: str,
    target: str,
    detector: LanguageDetector | None,
    among: Sequence[str] | None = None,
) -> list[tuple[LanguagePair | None, Detection | None]]:
    """Per text (its translatable pieces), the pair that translates it (None: it is already in
    the target language), and what detection found when the source is AUTO."""
    if source != AUTO:
        return [(resolve_pair(engine, source, target), None)] * len(pieces)
    if detector is None:
        raise InvalidRequest("language detection is not available here", field="source")
    return [detect_pair(engine, detector, " ".join(p), target, among) for p in pieces]


def translate_texts(
    engine: Engine,
    texts: Sequence[str],
    *,
    target: str,
    source: str = "en",
    options: GenerationOptions | None = None,
    deadline: float | None = None,
    text_format: str = "text",
    detector: LanguageDetector | None = None,
    among: Sequence[str] | None = None,
) -> list[Translation]:
    """Translate each text, keeping its paragraph layout and sentence order.

    `source=AUTO` detects each text's language (with `detector`), so one request may mix
    languages. `text_format="html"` translates the text nodes of each document and keeps every
    tag and attribute (see `service.text.html`); any other format is plain text.
    """
    deadline = engine.deadline() if deadline is None else deadline
    try:
        documents = extract_all(list(texts)) if text_format == "html" else None
    except HtmlError as exc:
        where = "text" if len(texts) == 1 else f"texts.{exc.index}"
        raise InvalidRequest(str(exc), field=where) from None
    pieces = [d.texts for d in documents] if documents is not None else [[t] for t in texts]
    found = _pairs_of(engine, pieces, source, target, detector, among)
    pairs = [pair for pair, _ in found]
    check_deadline(deadline)
    with withdrawn_on_failure() as submitted:
        pending: dict[LanguagePair, PendingTranslation] = {}
        for pair in dict.fromkeys(p for p in pairs if p is not None):
            group = [p for k, ps in zip(pairs, pieces, strict=True) if k == pair for p in ps]
            if group:
                pending[pair] = submit_translation(engine, pair, group, options, deadline=deadline)
                submitted.append(pending[pair])
        done = {pair: iter(p.results()) for pair, p in pending.items()}
    results = []
    for i, ((pair, detected), own) in enumerate(zip(found, pieces, strict=True)):
        if pair is None:
            results.append(_as_it_is(texts[i], target, detected))
            continue
        parts = [next(done[pair]) for _ in own]
        rebuilt = documents[i].rebuild([p.text for p in parts]) if documents else parts[0].text
        results.append(
            Translation(
                rebuilt,
                engine.model(pair.key).name,
                pair.source,
                pair.target,
                sentences=sum(p.sentences for p in parts),
                batch_ids=[b for p in parts for b in p.batch_ids],
                detected=detected,
            )
        )
    return results


def _as_it_is(text: str, target: str, detected: Detection | None) -> Translation:
    """A text found to be in the target language already: itself, no model, no sentences."""
    return Translation(text, "", target, target, sentences=0, detected=detected)
