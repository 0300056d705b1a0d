"""Site furniture out of a normalized body: built-in, user and learned line rules, repeats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from indexer.ingest.learned import (
    FLAG_KEPT,
    LEARNED,
    LEARNED_MAX_CHARS,
    group_key,
    is_furniture,
    line_key,
    remove_learned,
    short_lines,
)
from indexer.ingest.metadata import MONTH_PATTERN, WEEKDAY_PATTERN
from indexer.records import Cleaned, Removal

# The learned-furniture names (ingest/learned.py) are re-exported for older callers.
__all__ = [
    "BUILTIN_RULES",
    "FLAG_KEPT",
    "LEARNED",
    "LEARNED_MAX_CHARS",
    "Cleaned",
    "Rule",
    "compile_rules",
    "group_key",
    "is_furniture",
    "line_key",
    "remove",
    "remove_learned",
    "short_lines",
]

REPEATED = "repeated"

# A furniture line is short; a paragraph that merely starts like one ("Published on
# Monday, the report says ...") is content. Every built-in rule matches a whole line.
_MAX_LINE = 160
# Shorter repeats are often structure, not scraper duplicates: "Winners meet in final
# match" under each fixture of a BBC sport story. A repeated headline goes at any length.
_MIN_REPEAT_WORDS = 8


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    max_len: int = _MAX_LINE

    def matches(self, line: str) -> bool:
        if len(line) > self.max_len:
            return False
        if self.name.startswith("user:"):
            return self.pattern.search(line) is not None
        return self.pattern.fullmatch(line) is not None


def _rule(name: str, *alternatives: str, max_len: int = _MAX_LINE) -> Rule:
    pattern = "|".join(f"(?:{a})" for a in alternatives)
    return Rule(f"builtin:{name}", re.compile(pattern, re.IGNORECASE), max_len)


# Trailing decoration a site puts after a link text: arrows, chevrons, ellipses.
_TAIL = r"\s*[.:!…»›>→▶➔)\]|-]*\s*"
_LEAD = r"[\s>»›•|▶►*#\[(-]*"
_SOCIAL = (
    r"facebook|twitter|x|instagram|linkedin|whatsapp|telegram|youtube|tiktok|pinterest|"
    r"reddit|threads|bluesky|mastodon|e-?mail|print|copy link|google news|rss"
)
# What may follow a "Published" label: a date, a time, a zone, "ago" and nothing else,
# so "Updated figures show a 5% rise in 2025" stays content.
_DATE_TOKEN = (
    rf"(?:\d[\d:./h-]*|\b(?:{MONTH_PATTERN}|{WEEKDAY_PATTERN}|uhr|gmt|utc|bst|cet|cest|wib|wita|wit|est|edt|"
    r"pst|pdt|cst|mst|et|ct|pt|ist|jst|eat|wat|cat|sast|[ap]\.?m|at|um|à|às|a las|alle|ore|pukul|"
    r"de|del|le|el|il|em|on|am|jam|hours?|minutes?|ago|"
    r"stunden?|minuten|heures?|horas?|menit|yang lalu|il y a|hace|fa|há|vor|today|yesterday|heute|"
    r"gestern|hier|aujourd'hui|hoy|ayer|oggi|ieri|hoje|ontem|hari ini|kemarin)\b)"
)
_DATEISH = rf"(?=.*(?:\d|\b(?:{MONTH_PATTERN})\b|\b(?:today|yesterday|heute|gestern|hoy|ayer|oggi|hoje)\b))"
# "Want more?" / "Don't miss out!" before the invitation of a newsletter line.
_TEASER = r"(?:[^.!?]{1,30}[.!?]\s+)?"

BUILTIN_RULES: tuple[Rule, ...] = (
    _rule(
        "click-here",
        rf"{_LEAD}(?:click|tap) here\b.*",
        rf"{_LEAD}klicken sie hier\b.*",
        rf"{_LEAD}cliquez ici\b.*",
        rf"{_LEAD}(?:haga|haz|pulse|pincha) (?:clic|click) aquí\b.*",
        rf"{_LEAD}clicca qui\b.*",
        rf"{_LEAD}clique aqui\b.*",
        rf"{_LEAD}klik di ?sini\b.*",
        # Longer lines that open with it carry content ("CLICCA QUI PER INIZIARE Il 7 luglio
        # su Facebook ..." in the Italian corpus): those stay.
        max_len=80,
    ),
    _rule(
        "read-also",
        # "Read: <headline>", "READ MORE: <headline>", "Also read - <headline>"
        rf"{_LEAD}(?:read|read more|read also|also read|related|see also|more|recommended|"
        rf"related articles?|related stories|related news|you may also like|you might also like|"
        rf"watch|listen|video)\s*[:|]\s*.*",
        rf"{_LEAD}(?:lesen sie auch|lesen sie mehr|auch interessant|mehr zum thema|siehe auch)\s*[:|-].*",
        rf"{_LEAD}(?:à lire aussi|a lire aussi|lire aussi|lire la suite|voir aussi|à voir aussi)\s*[:|-].*",
        rf"{_LEAD}(?:lee también|lea también|leer más|te puede interesar|le puede interesar|"
        rf"ver también|noticias relacionadas)\s*[:|-].*",
        rf"{_LEAD}(?:leggi anche|leggi di più|potrebbe interessarti|vedi anche)\s*[:|-].*",
        rf"{_LEAD}(?:leia também|leia mais|veja também|saiba mais|veja mais)\s*[:|-].*",
        rf"{_LEAD}(?:baca juga|baca selengkapnya|baca pula|lihat juga|simak juga|berita terkait)\s*[:|-].*",
        max_len=_MAX_LINE,
    ),
    _rule(
        "read-more",
        rf"{_LEAD}(?:read more|read the full (?:story|article)|continue reading|keep reading|"
        rf"read full (?:story|article)|full story|more news|show more|load more){_TAIL}",
        rf"{_LEAD}(?:weiterlesen|mehr lesen|mehr anzeigen|zum artikel){_TAIL}",
        rf"{_LEAD}(?:lire la suite|lire plus|en savoir plus|voir plus){_TAIL}",
        rf"{_LEAD}(?:leer más|seguir leyendo|ver más|sigue leyendo){_TAIL}",
        rf"{_LEAD}(?:continua a leggere|leggi tutto|leggi di più|mostra altro){_TAIL}",
        rf"{_LEAD}(?:leia mais|continue lendo|continuar lendo|ver mais|saiba mais){_TAIL}",
        rf"{_LEAD}(?:baca selengkapnya|selengkapnya|baca lebih lanjut|lihat selengkapnya){_TAIL}",
    ),
    _rule(
        "follow-us",
        rf"{_LEAD}(?:connect with us|follow us|stay connected|join us on|like us on|find us on)\b.*",
        rf"{_LEAD}(?:folgen sie uns|folge uns|werden sie fan)\b.*",
        rf"{_LEAD}(?:suivez-nous|rejoignez-nous sur|retrouvez-nous sur)\b.*",
        rf"{_LEAD}(?:síguenos|siguenos|síganos)\b.*",
        rf"{_LEAD}(?:seguici|seguiteci)\b.*",
        rf"{_LEAD}(?:siga-nos|siga (?:o|a) .{{1,40}} n[oa] (?:{_SOCIAL})|acompanhe-nos|"
        rf"curta nossa página)\b.*",
        rf"{_LEAD}(?:ikuti kami|ikuti (?:berita|update|kabar|informasi)\b.*\b(?:di|lewat|melalui))\b.*",
        max_len=200,
    ),
    _rule(
        "trending",
        rf"{_LEAD}(?:trending(?: now| news| stories| topics)?|popular(?: now| stories)?|most read|"
        rf"most popular|most viewed|top stories|editor'?s picks|latest news|breaking news|"
        rf"meistgelesen|am meisten gelesen|beliebt|les plus lus|les plus populaires|à la une|"
        rf"lo más leído|lo más visto|más leídas|tendencias|i più letti|più letti|"
        rf"mais lidas|mais lidos|em alta|terpopuler|populer|berita populer|terkini|trending topic)"
        rf"{_TAIL}",
    ),
    _rule(
        "published",
        # "Published on 3 March 2025", "Updated: 14:32 GMT", "Veröffentlicht am 3.3.2025":
        # the label, then a date or time and little else.
        rf"(?:(?:first |last )?(?:published|posted|updated)|veröffentlicht|aktualisiert|"
        rf"zuletzt aktualisiert|publié|mis à jour|publicado|publicada|actualizado|pubblicato|"
        rf"aggiornato|atualizado|diterbitkan|dipublikasikan|diperbarui|terbit)"
        rf"(?: on| at| am| le| el| il| em| pada)?\s*[:|-]?\s*{_DATEISH}(?:{_DATE_TOKEN}[\s,.;|/-]*)+",
        max_len=70,
    ),
    _rule(
        "share",
        rf"{_LEAD}(?:share|share this|share this (?:article|story|page|post)|share on (?:{_SOCIAL})|"
        rf"share via (?:{_SOCIAL})|share (?:article|story)|tweet|save|print|email|e-mail|comments?|"
        rf"artikel teilen|teilen|diesen artikel teilen|auf (?:{_SOCIAL}) teilen|"
        rf"partager|partager cet article|partager sur (?:{_SOCIAL})|"
        rf"compartir|comparte|comparte este artículo|compartir en (?:{_SOCIAL})|"
        rf"condividi|condividi questo articolo|condividi su (?:{_SOCIAL})|"
        rf"compartilhe|compartilhar|compartilhe esta notícia|compartilhar no (?:{_SOCIAL})|"
        rf"bagikan|bagikan artikel ini|bagikan ke (?:{_SOCIAL})){_TAIL}",
        # a row of share buttons: "Facebook Twitter WhatsApp Email"
        rf"{_LEAD}(?:(?:share|teilen|partager|compartir|condividi|compartilhe|bagikan)\s*[:|-]?\s*)?"
        rf"(?:(?:{_SOCIAL})\s*[|/·•,]?\s*){{2,}}",
    ),
    _rule(
        "newsletter",
        # An invitation, verb first (after at most a short teaser: "Want more? Sign up ...").
        rf"{_TEASER}(?:sign up|subscribe|register|get|receive|join)\b.{{0,60}}\bnewsletters?\b.*",
        rf"{_TEASER}(?:our |the |free |daily |weekly )*newsletters?\b.{{0,80}}"
        rf"\b(?:sign up|subscribe|inbox)\b.*",
        r"(?:subscribe|subscribe now|subscribe today|sign up|sign up now)(?:\s+(?:to|for)\b.*)?",
        rf"{_TEASER}(?:jetzt )?(?:newsletter abonnieren|abonnieren sie\b.{{0,40}}newsletter|"
        rf"melden sie sich\b.{{0,60}}newsletter|"
        rf"(?:unser |der )?newsletter\b.{{0,60}}\b(?:abonnieren|bestellen)).*",
        rf"{_TEASER}(?:inscrivez-vous|abonnez-vous|recevez)\b.{{0,60}}"
        rf"\b(?:newsletter|lettre d'information|infolettre)\b.*",
        rf"{_TEASER}(?:suscríbete|suscribete|suscríbase|regístrate|recibe)\b.{{0,60}}\b(?:newsletter|boletín)\b.*",
        rf"{_TEASER}(?:iscriviti|iscrivetevi|ricevi)\b.{{0,60}}\bnewsletter\b.*",
        rf"{_TEASER}(?:assine|inscreva-se|cadastre-se|receba)\b.{{0,60}}\b(?:newsletter|boletim)\b.*",
        rf"{_TEASER}(?:berlangganan|daftar)\b.{{0,60}}\b(?:newsletter|buletin)\b.*",
        max_len=220,
    ),
    _rule(
        "cookies",
        r"(?:we use cookies|this (?:web)?site uses cookies|by (?:continuing|using)\b.*\bcookies|"
        r"accept (?:all )?cookies|cookie (?:policy|settings|preferences)|manage cookies)\b.*",
        r"(?:wir verwenden cookies|diese (?:web)?seite verwendet cookies|"
        r"diese website (?:verwendet|nutzt) cookies|"
        r"cookies akzeptieren|alle cookies akzeptieren|cookie-einstellungen)\b.*",
        r"(?:nous utilisons des cookies|ce site utilise des cookies|accepter (?:tous )?les cookies|"
        r"en poursuivant votre navigation)\b.*",
        r"(?:utilizamos cookies|usamos cookies|este sitio (?:web )?utiliza cookies|"
        r"aceptar (?:todas las )?cookies)\b.*",
        r"(?:utilizziamo (?:i )?cookie|questo sito (?:web )?utilizza (?:i )?cookie|"
        r"accetta (?:tutti i )?cookie)\b.*",
        r"(?:utilizamos cookies|usamos cookies|este site (?:utiliza|usa) cookies|"
        r"aceitar (?:todos os )?cookies)\b.*",
        r"(?:kami menggunakan cookie|situs ini menggunakan cookie|terima (?:semua )?cookie)\b.*",
        max_len=400,
    ),
    _rule(
        "advertisement",
        rf"{_LEAD}(?:advertisement|advertising|sponsored|sponsored content|promoted|ad|ads|"
        rf"advertisement\s*[-–—:]?\s*(?:continue reading below|scroll to continue(?: with content)?)|"
        rf"scroll to continue with content|story continues below(?: this)? advertisement|"
        rf"article continues below|continue reading below|"
        rf"anzeige|werbung|publicité|publicidad|pubblicità|publicidade|iklan|"
        rf"lanjutkan membaca artikel di bawah|scroll untuk melanjutkan|"
        rf"artikel geht nach der anzeige weiter|la suite après la publicité|"
        rf"continúa después de la publicidad|continua dopo la pubblicità|"
        rf"continua após a publicidade){_TAIL}",
    ),
    _rule(
        "copyright",
        # "Copyright © 2025 Example Media", "© 2025 AFP", "(c) 2024 Reuters", "Copyright 2025 ..."
        r"(?:copyright\s*)?(?:©|\(c\)|copyright)\s*(?:\d{4}|by\b).*",
        r"©.*",
        r"(?:hak cipta|urheberrecht|droits d'auteur|derechos de autor|diritti d'autore|direitos autorais)"
        r"\s*(?:©|\d{4}|by\b).*",
        r".*\ball rights reserved\b.*",
        r".*\b(?:alle rechte vorbehalten|tous droits réservés|todos los derechos reservados|"
        r"tutti i diritti riservati|todos os direitos reservados|hak cipta dilindungi undang-undang)\b.*",
    ),
    _rule(
        "credit",
        # Picture credits: "Photo: Reuters", "Foto: dpa", "Image copyright Getty Images"
        r"(?:photo|photos|foto|fotos|image|picture|pictures|bild|crédit photo|fotografía|imagem|gambar)"
        r"(?:\s*(?:credit|copyright|source)\s*[:|/,]?|\s*[:|/])\s*(?:©\s*)?[^.!?]{1,50}",
        max_len=60,
    ),
    _rule(
        "tags",
        r"(?:tags?|topics|keywords|schlagworte|schlagwörter|themen|mots-clés|étiquettes|etiquetas|"
        r"temas|argomenti|palavras-chave|kata kunci|topik)\s*:\s*.{1,150}",
    ),
    _rule(
        "navigation",
        # Page chrome a copy-paste or a crude scraper keeps: skip links, menu and account buttons.
        rf"{_LEAD}(?:skip to (?:main )?content|skip navigation|menu|main menu|search|sign in|log in|login|"
        rf"zum inhalt springen|direkt zum inhalt|menü|suche|anmelden|aller au contenu|rechercher|"
        rf"se connecter|ir al contenido|menú|buscar|iniciar sesión|vai al contenuto|cerca|accedi|"
        rf"ir para o conteúdo|pesquisar|entrar|langsung ke konten|cari|masuk){_TAIL}",
    ),
    _rule(
        "breadcrumb",
        # "Home > News > Politics", "Startseite / Wirtschaft"
        r"(?:home|startseite|accueil|inicio|início|beranda|news)\s*[>›»/|]\s*[^.!?]{1,80}",
        max_len=100,
    ),
)


@lru_cache(maxsize=64)
def compile_rules(patterns: tuple[str, ...]) -> tuple[Rule, ...]:
    """User rules from config: a line is furniture when the regex is found in it.

    Raises ValueError naming the pattern, so config loading can report it.
    """
    rules = []
    for pattern in patterns:
        try:
            rules.append(Rule(f"user:{pattern}", re.compile(pattern), max_len=10_000))
        except re.error as e:
            raise ValueError(f"invalid boilerplate rule {pattern!r}: {e}") from e
    return tuple(rules)


def remove(body: str, user_rules: tuple[str, ...] = ()) -> Cleaned:
    """Drop furniture lines and repeated paragraphs from a normalized ``body``.

    When that would leave nothing, the body is kept as it was and flagged: a file that is
    all furniture by our rules is more likely a rule's mistake than an empty article.
    """
    rules = BUILTIN_RULES + compile_rules(user_rules)
    removed: list[Removal] = []
    kept_paragraphs: list[str] = []
    seen: set[str] = set()
    seen_lines: set[str] = set()
    first = ""
    for paragraph in body.split("\n\n"):
        lines = []
        for line in paragraph.split("\n"):
            rule = _first_match(rules, line)
            if rule is not None:
                removed.append(Removal(rule, line))
            elif _repeated_line(line, seen, seen_lines):
                # One paragraph per line, the article pasted twice: its lines repeat,
                # inside one block with no blank lines to make them paragraphs.
                removed.append(Removal(REPEATED, line))
            else:
                lines.append(line)
                if len(line.split()) >= _MIN_REPEAT_WORDS:
                    seen_lines.add(line.casefold())
        if not lines:
            continue
        kept = "\n".join(lines)
        key = kept.casefold()
        if key in seen and (len(kept.split()) >= _MIN_REPEAT_WORDS or key == first):
            removed.append(Removal(REPEATED, kept))
            continue
        seen.add(key)
        first = first or key
        kept_paragraphs.append(kept)
    if not removed:
        return Cleaned(body)
    if not kept_paragraphs:
        return Cleaned(body, (), (FLAG_KEPT,))
    return Cleaned("\n\n".join(kept_paragraphs), tuple(removed))


def _repeated_line(line: str, paragraphs: set[str], lines: set[str]) -> bool:
    """A line long enough to be a paragraph of its own, seen before as a line or a paragraph."""
    if len(line.split()) < _MIN_REPEAT_WORDS:
        return False
    key = line.casefold()
    return key in lines or key in paragraphs


def _first_match(rules: tuple[Rule, ...], line: str) -> str | None:
    stripped = line.strip()
    if not stripped:
        return None
    for rule in rules:
        if rule.matches(stripped):
            return rule.name
    return None
