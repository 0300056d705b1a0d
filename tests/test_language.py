"""Language detection: seeded, script-aware, thresholds, mixed texts; quality figures on the corpora."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.ingest import language
from indexer.ingest.language import UNDETERMINED, detect, detect_raw

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO.parent / "shared" / "corpora"
FIXTURES = Path(__file__).parent / "fixtures" / "text"

SAMPLES = {
    "en": "The council voted on Tuesday to build four kilometres of protected cycle lanes through the town centre.",
    "de": "Die Stadtwerke senken ihre Strompreise zum ersten Januar um durchschnittlich sieben Prozent, teilte das Unternehmen mit.",
    "fr": "Les bibliothèques municipales resteront ouvertes jusqu'à 21 heures trois soirs par semaine à partir du mois prochain.",
    "es": "Las piscinas municipales abrirán hasta las diez de la noche durante los meses de verano, según el ayuntamiento.",
    "it": "Il comune ha inaugurato tre nuovi parcheggi coperti per le biciclette vicino alla stazione, con oltre seicento posti.",
    "pt": "Os postos de saúde da zona norte passarão a funcionar até as 22 horas a partir da próxima segunda-feira.",
    "id": "Pemerintah kota menambah tiga puluh bus listrik untuk melayani rute dari terminal utama ke kawasan perkantoran.",
    "ru": "Правительство утвердило новый бюджет на следующий год, расходы на образование вырастут на десять процентов.",
    "uk": "Уряд затвердив новий бюджет на наступний рік, і видатки на освіту зростуть на десять відсотків.",
    "el": "Η κυβέρνηση ενέκρινε τον νέο προϋπολογισμό για το επόμενο έτος, με αυξημένες δαπάνες για την παιδεία.",
    "ja": "政府は来年度の予算案を閣議決定し、教育への支出を一割増やすことを明らかにした。",
    "ko": "정부는 내년도 예산안을 확정하고 교육 분야 지출을 십 퍼센트 늘리기로 했다고 밝혔다.",
    "zh-cn": "国家统计局今天公布，一季度国内生产总值同比增长百分之五，专家认为消费回暖是主要原因。",
    "ar": "أعلنت الحكومة اليوم عن ميزانية جديدة للعام المقبل تتضمن زيادة الإنفاق على التعليم والصحة.",
}


@pytest.mark.parametrize(("lang", "text"), sorted(SAMPLES.items()))
def test_languages(lang: str, text: str) -> None:
    detection = detect(text)
    assert detection.language == lang
    assert detection.probability >= 0.9
    assert detection.languages == ()


def test_short_chinese_is_not_korean() -> None:
    # Raw langdetect calls short Chinese sentences Korean; no Korean is written in Han alone.
    for sentence in ("我们明天去北京开会。", "他的工作很忙，但是很开心。", "这个问题需要认真研究。"):
        assert detect(sentence, min_chars=1, min_probability=0.0).language in ("zh-cn", "zh-tw")


def test_shouted_text() -> None:
    text = "LA PROTEZIONE CIVILE HA DIRAMATO UN'ALLERTA METEO PER TUTTA LA REGIONE A CAUSA DEI FORTI TEMPORALI ATTESI DOMANI."
    assert detect(text).language == "it"


def test_too_short_is_undetermined() -> None:
    assert detect("Hello there") == language.Detection(UNDETERMINED, 0.0)
    assert detect("12345 -- !!!").language == UNDETERMINED


def test_too_uncertain_is_undetermined() -> None:
    sure = detect(SAMPLES["de"])
    unsure = detect(SAMPLES["de"], min_probability=1.01)
    assert unsure.language == UNDETERMINED
    assert unsure.runner_up == "de"  # the best guess is kept beside "und"
    assert unsure.probability == sure.probability


def test_allowed_languages() -> None:
    assert detect(SAMPLES["de"], allowed=("en", "fr")).language == UNDETERMINED
    assert detect(SAMPLES["de"], allowed=("de",)).language == "de"


def test_mixed_document() -> None:
    # Half English, half German: both are marked, the detected language among them.
    detection = detect((FIXTURES / "mixed_en_de.txt").read_text(encoding="utf-8"))
    assert sorted(detection.languages) == ["de", "en"]
    assert detection.language in detection.languages


def test_mixed_document_found_after_a_sure_opening() -> None:
    # A long English opening, sure of itself, then German paragraphs: the paragraphs
    # after the opening are still looked at.
    english = " ".join([SAMPLES["en"]] * 12)
    german = [SAMPLES["de"] + " " + SAMPLES["de"].replace("sieben", "acht") for _ in range(4)]
    detection = detect("\n\n".join([english, *german]))
    assert detection.language == "en"
    assert sorted(detection.languages) == ["de", "en"]


def test_script_counts_of_ascii_text() -> None:
    # The ASCII shortcut counts what the per-script patterns count.
    text = "Budget 2025: the council's plan_B (v2) passed, 31-9!"
    letters = sum(map(str.isalpha, text))
    assert language._script_counts(text) == {"latin": letters}
    assert language._script_counts(text + " é") == {"latin": letters + 1}  # the general path


def test_names_are_not_a_second_language() -> None:
    lineup = (
        "Kiper: Andi Pratama; Bek: Budi Santoso, Rudi Hartono, Joko Susilo, Agus Salim; Gelandang: "
        "Dedi Kurniawan, Eko Prasetyo, Fajar Nugroho; Penyerang: Gilang Ramadhan, Hadi Wijaya, Irfan Bachdim"
    )
    paragraphs = [SAMPLES["id"], lineup, SAMPLES["id"].replace("tiga puluh", "empat puluh"), lineup]
    assert detect("\n\n".join(paragraphs)).languages == ()


def test_same_answer_in_every_process() -> None:
    code = (
        "import json, sys; from indexer.ingest.language import detect; "
        "d = detect(sys.argv[1], min_chars=1, min_probability=0); print(json.dumps([d.language, d.probability]))"
    )
    text = "Ja, de boot vertrekt morgen"  # short and ambiguous: langdetect's randomness would show
    answers = {
        subprocess.run(
            [sys.executable, "-c", code, text], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout
        for _ in range(3)
    }
    here = detect(text, min_chars=1, min_probability=0)
    assert len(answers) == 1
    assert json.loads(answers.pop()) == [here.language, here.probability]


def test_raw_baseline_is_plain_langdetect() -> None:
    from langdetect import DetectorFactory
    from langdetect import detect as langdetect_detect

    DetectorFactory.seed = 0
    assert detect_raw(SAMPLES["fr"]) == langdetect_detect(SAMPLES["fr"]) == "fr"


def test_quality_figures_on_a_corpus_sample() -> None:
    if not (CORPORA / "multilingual" / "manifest.tsv").exists():
        pytest.skip(f"real corpora not found at {CORPORA} (they live beside the project, not in it)")
    from tools.quality import measure, render

    report = measure(CORPORA, sample=40, jobs=1)
    assert report.passed, render(report)
    names = {c.name: c for c in report.checks}
    assert names["language accuracy, multilingual/"].value == "100.00%"
    assert names["bbc/ lines removed as boilerplate"].value == "0.00%"
    assert names["bbc/ lines removed as learned furniture"].value == "0.00%"
    assert names["boilerplate: learned site furniture removed, body = clean body"].value == "100.00%"
    assert names["round trip mojibake: same body"].passed
    assert names["language: header in another language, body's wins"].value == "100.00%"


def _langdetect_answers(
    factory, texts: list[str], prior: dict[str, float] | None = None, trials: int = 7
) -> list[object]:
    answers: list[object] = []
    for text in texts:
        detector = factory.create()
        detector.n_trial = trials
        if prior:
            detector.set_prior_map(prior)
        detector.append(text)
        try:
            answers.append([(r.lang, r.prob) for r in detector.get_probabilities()])
        except Exception as e:  # "No features in text" must match too
            answers.append(type(e).__name__)
    return answers


def test_the_detector_gives_langdetect_own_answers() -> None:
    """Detection runs on langdetect-rs, a port of langdetect's algorithm: for the same seed
    its answers, probabilities included, must be langdetect's own, 2 trials and priors too."""
    from langdetect import detector_factory

    from indexer.ingest import language

    reference = detector_factory.DetectorFactory()
    reference.load_profile(detector_factory.PROFILES_DIRECTORY)
    reference.seed = 0
    texts = [
        *SAMPLES.values(),
        "",
        "12345 !!!",
        "NATO AND THE UN MET IN GENEVA. The talks went on",
        "a",
        "Ünïcödé ǅ İ ß",
    ]
    texts += [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.txt"))]
    if CORPORA.exists():
        texts += [
            p.read_text(encoding="utf-8")[:1000]
            for p in sorted((CORPORA / "multilingual").rglob("*.txt"))[::40]
        ]
    ours = language._get_factory()
    assert ours.langlist == reference.langlist
    assert _langdetect_answers(ours, texts) == _langdetect_answers(reference, texts)
    prior = {"en": 0.6, "de": 0.3, "nl": 0.1}
    assert _langdetect_answers(ours, texts[:20], prior) == _langdetect_answers(reference, texts[:20], prior)
    short = [text[:200] for text in texts]
    assert _langdetect_answers(ours, short, trials=2) == _langdetect_answers(reference, short, trials=2)


# --- the language of most of the text, not of its opening ---

GERMAN_BODY = [
    "Die Stadtwerke senken ihre Strompreise zum ersten Januar um durchschnittlich sieben Prozent, teilte das Unternehmen am Montag mit.",
    "Grund dafür seien gesunkene Einkaufspreise an der Strombörse, sagte ein Sprecher. Kunden müssen nichts unternehmen, die neuen Preise gelten automatisch.",
    "Ein Haushalt mit einem Jahresverbrauch von dreitausend Kilowattstunden spart damit rund achtzig Euro im Jahr, rechnete die Verbraucherzentrale vor.",
    "Auch die Gaspreise sollen im Frühjahr sinken, allerdings weniger stark. Eine Entscheidung darüber will der Aufsichtsrat im Februar treffen.",
    "Die Opposition im Stadtrat begrüßte die Senkung, forderte aber einen Sozialtarif für Haushalte mit geringem Einkommen.",
    "Die Stadtwerke versorgen nach eigenen Angaben gut neunzigtausend Haushalte und beschäftigen mehr als vierhundert Menschen.",
]
ENGLISH_BODY = [
    "The council voted on Tuesday to build four kilometres of protected cycle lanes through the town centre, the first in the region.",
    "Work will start in the spring and should take eighteen months, a spokeswoman said. Parking on two streets will be removed to make room.",
    "Shop owners on the high street had asked for a delay, saying deliveries would become harder, but the motion passed by twenty votes to nine.",
    "The scheme will cost about six million pounds, most of it paid by a national fund for walking and cycling projects.",
    "Cycling groups welcomed the decision and said they hoped the lanes would be joined to the routes of neighbouring towns.",
    "A public meeting on the detailed plans will be held at the town hall next month, the council said.",
]
ENGLISH_HEADER = (
    "Home\nNews\nSport\nWeather\nSign in\n\nEnergy prices fall for households across the city\n\n"
    "Our reporters follow the story as the utility announces its new tariffs for the coming year, "
    "with reactions from customers, councillors and consumer groups."
)
GERMAN_HEADER = (
    "Startseite\nNachrichten\nSport\nWetter\nAnmelden\n\nStadtrat beschließt neue Radwege in der Innenstadt\n\n"
    "Unsere Reporter berichten über die Entscheidung des Stadtrats und sprechen mit Anwohnern, "
    "Geschäftsleuten und Radfahrern über die Folgen für den Verkehr."
)


@pytest.mark.parametrize(
    ("header", "body", "want"),
    [(ENGLISH_HEADER, GERMAN_BODY, "de"), (GERMAN_HEADER, ENGLISH_BODY, "en")],
)
def test_the_body_s_language_wins_over_a_header_in_another(header: str, body: list[str], want: str) -> None:
    opening_only = detect(header, paragraphs=False).language
    assert opening_only != want  # the header alone is the other language
    detection = detect("\n\n".join([header, *body]))
    assert detection.language == want
    assert detection.probability >= 0.7


def test_a_mixed_text_lists_its_languages_with_the_largest_first() -> None:
    text = "\n\n".join([*ENGLISH_BODY[:2], *GERMAN_BODY])
    detection = detect(text)
    assert detection.language == "de"  # four German paragraphs of six
    assert detection.languages == ("de", "en")
    assert detection.shares[0] > detection.shares[1] >= 0.2


@pytest.mark.parametrize(
    "text", ["Bonjour mon ami. " * 10, "Le chat dort sur le canapé du salon. " * 10, "Guten Morgen!\n" * 12]
)
def test_a_short_sentence_repeated_is_not_a_sure_language(text: str) -> None:
    detection = detect(text)
    assert detection.language == UNDETERMINED
    assert detection.probability < 0.7


def test_a_sentence_said_once_is_detected_as_before() -> None:
    # Only repetition lowers the confidence: the same sentence once keeps its answer.
    assert detect("Le chat dort sur le canapé du salon.").language == "fr"
