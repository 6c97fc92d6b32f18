"""What the demo models' tokenizers are trained on (see `service.ops.demo_models`).

`TRAINING_TEXT` is a few paragraphs per language: enough for the tiny models' few hundred
tokens. The "real" summariser's 10,000-token BPE also reads English news the caller gives
(`news_corpus`, e.g. `seeds/`) and Python's own reference text, so that it splits news about as
finely as distilbart's own tokenizer.
"""

from collections.abc import Sequence
from pathlib import Path

TRAINING_TEXT: dict[str, tuple[str, ...]] = {
    "en": (
        "The city council approved a new budget on Tuesday after a long debate about public "
        "transport, housing and school repairs. Officials said the plan would add two hundred "
        "buses to the network over the next three years and extend night services on the busiest "
        "routes. Opposition members argued that the spending was too high while rents continue to "
        "rise, but the measure passed by a clear majority.",
        "Heavy rain caused flooding in several northern towns over the weekend, forcing hundreds "
        "of families to leave their homes. Emergency teams used boats to reach people trapped on "
        "upper floors, and the regional government opened temporary shelters in schools and sports "
        "halls. Forecasters expect the weather to improve by Thursday, although rivers may remain "
        "high for several days.",
        "Scientists at the national university have published a study showing that coastal "
        "wetlands store far more carbon than previously estimated. The researchers measured soil "
        "samples from forty sites and found that protecting these areas could help the country "
        "meet its climate targets. They called on lawmakers to strengthen the rules against "
        "draining wetlands for farming and construction.",
        "Shares in technology companies fell sharply on Monday as investors worried about slowing "
        "demand for phones and computers. Analysts said the central bank is expected to keep "
        "interest rates unchanged at its meeting next week, while oil prices rose for a third day "
        "in a row.",
    ),
    "fr": (
        "Le conseil municipal a approuvé mardi un nouveau budget après un long débat sur les "
        "transports publics, le logement et la rénovation des écoles. Selon les responsables, le "
        "plan ajoutera deux cents bus au réseau au cours des trois prochaines années et prolongera "
        "les services de nuit sur les lignes les plus fréquentées.",
        "De fortes pluies ont provoqué des inondations dans plusieurs villes du nord pendant le "
        "week-end, obligeant des centaines de familles à quitter leur domicile. Les équipes de "
        "secours ont utilisé des bateaux pour atteindre les personnes bloquées aux étages "
        "supérieurs, et le gouvernement régional a ouvert des abris temporaires dans des écoles et "
        "des gymnases.",
        "Des scientifiques de l'université nationale ont publié une étude montrant que les zones "
        "humides côtières stockent beaucoup plus de carbone qu'on ne le pensait. Les chercheurs "
        "demandent aux législateurs de renforcer les règles contre l'assèchement de ces zones pour "
        "l'agriculture et la construction.",
    ),
    "ar": (
        "وافق المجلس البلدي يوم الثلاثاء على ميزانية جديدة بعد نقاش طويل حول النقل العام "
        "والإسكان وإصلاح المدارس. وقال المسؤولون إن الخطة ستضيف مئتي حافلة إلى الشبكة خلال "
        "السنوات الثلاث المقبلة، وستمدد الخدمات الليلية على الخطوط الأكثر ازدحاما.",
        "تسببت الأمطار الغزيرة في فيضانات في عدة مدن شمالية خلال عطلة نهاية الأسبوع، مما أجبر "
        "مئات العائلات على مغادرة منازلها. واستخدمت فرق الطوارئ القوارب للوصول إلى الأشخاص "
        "العالقين في الطوابق العليا، وفتحت الحكومة الإقليمية ملاجئ مؤقتة في المدارس والقاعات "
        "الرياضية.",
        "نشر علماء في الجامعة الوطنية دراسة تظهر أن الأراضي الرطبة الساحلية تخزن كمية من "
        "الكربون أكبر بكثير مما كان يعتقد سابقا. ودعا الباحثون المشرعين إلى تشديد القواعد التي "
        "تمنع تجفيف هذه المناطق من أجل الزراعة والبناء.",
    ),
}


def bart_training_text(arch: str, corpus: Sequence[str] = ()) -> list[str]:
    """The paragraphs the BART tokenizer of `arch` is trained on.

    "tiny": `TRAINING_TEXT` alone. "real": also `corpus` (the caller's English news; the CLI and
    the benchmarks pass `seeds/`) and Python's own reference text (`pydoc_data`, in every
    CPython). Trained to 10,000 tokens on it with `seeds/`, the tokenizer cuts the seed articles
    into 3-8% more tokens than distilbart's own BPE (GPT-2's): 1,122 for the 5,087-character
    `qusayr-article.txt` against 1,088, 3,952 for `long-report.txt` against 3,796 (about 4.5-5
    characters a token); without news it cuts them far finer.
    """
    texts = list(TRAINING_TEXT["en"])
    if arch == "real":
        from pydoc_data.topics import topics

        texts += [*corpus, *topics.values()]
    return [p for text in texts for p in text.split("\n\n") if p.strip()]


def news_corpus(directory: Path) -> list[str]:
    """The texts of the `*.txt` files in `directory` (e.g. `seeds/`), in name order: English
    news for `bart_training_text`."""
    return [path.read_text(encoding="utf-8") for path in sorted(Path(directory).glob("*.txt"))]
