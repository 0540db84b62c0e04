"""Usernames from real people's names: transliteration, AD's limits, collisions, the YAML policy."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from workflows.config import ConfigError
from workflows.naming import (
    FORBIDDEN, NamingError, NamingPolicy, PersonName, candidates, generate_username, load_naming,
    transliterate, upn_for,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
POLICY = load_naming(REPO_CONFIG)


def first_choice(given: str, surname: str, policy: NamingPolicy = POLICY, **kw) -> str:
    return generate_username(policy, PersonName(given, surname, **kw), lambda _: False)


@pytest.mark.parametrize("given,surname,expected", [
    ("José", "Núñez", "jose.nunez"),
    ("Zoë", "Ødegård", "zoe.odegard"),
    ("Łukasz", "Wróbel", "lukasz.wrobel"),
    ("Æsa", "Strauß", "aesa.strauss"),
    ("Søren", "Kierkegaard", "soren.kierkegaard"),
    ("Þórunn", "Guðrúnardóttir", "thorunn.gudrunardott"),    # 20 characters: the surname is trimmed
    ("Şükrü", "Çelik", "sukru.celik"),
    ("İlkay", "Yıldız", "ilkay.yildiz"),
    ("Nguyễn", "Đặng", "nguyen.dang"),
    ("François", "Lefèvre", "francois.lefevre"),
    ("Дмитрий", "Шостакович", "dmitriy.shostakovich"),
    ("Наталья", "Королёва", "natalya.koroleva"),
    ("Олександр", "Щербак", "oleksandr.shcherbak"),
    ("Γιώργος", "Παπαδόπουλος", "giorgos.papadopoulos"),
    ("Siobhán", "O'Brien", "siobhan.obrien"),
    ("Dario", "D’Angelo", "dario.dangelo"),                  # typographic apostrophe
    ("Anne-Marie", "Smith-Jones", "anne-marie.smith-jon"),
    ("Jan", "van der Berg", "jan.vanderberg"),
    ("Mary Ann", "Lee", "maryann.lee"),
    ("Robert", "Tables*)(;", "robert.tables"),
])
def test_real_names_become_ascii_usernames(given, surname, expected):
    assert first_choice(given, surname) == expected


def test_every_candidate_obeys_ad_rules():
    names = [("Łukasz", "Brzęczyszczykiewicz"), ("Maximiliano", "Fernández de la Torre-Villanueva"),
             ("A", "B"), ("Jean-Luc", "O'Neill-D'Arcy"), ("Ἀλέξανδρος", "Οὐρανός")]
    for given, surname in names:
        found = list(candidates(POLICY, PersonName(given, surname)))
        assert len(found) > 90 and len(set(found)) == len(found)
        for name in found:
            assert name.isascii() and name == name.lower() and 1 <= len(name) <= 20
            assert not set(name) & FORBIDDEN and not name.startswith((".", "-")) and not name.endswith(".")
            assert ".." not in name


def test_a_long_name_keeps_its_counter_and_shortens_the_surname():
    taken = {"lukasz.brzeczyszczyk", "lbrzeczyszczykiewicz"}
    chosen = generate_username(POLICY, PersonName("Łukasz", "Brzęczyszczykiewicz"), taken.__contains__)
    assert chosen == "lukasz.brzeczyszczy2"


def test_collisions_are_resolved_in_policy_order_deterministically():
    asked: list[str] = []
    taken = {"jose.nunez", "jnunez", "jose.nunez2"}

    def exists(candidate: str) -> bool:
        asked.append(candidate)
        return candidate in taken

    name = PersonName("José", "Núñez")
    assert generate_username(POLICY, name, exists) == "jose.nunez3"
    assert asked == ["jose.nunez", "jnunez", "jose.nunez2", "jose.nunez3"]
    assert generate_username(POLICY, name, exists) == "jose.nunez3"   # same directory, same answer


def test_names_without_a_latin_spelling_fall_back_to_the_employee_id():
    assert first_choice("芳", "王", employee_id="E-10442") == "ue10442"
    assert first_choice("محمد", "Smith", employee_id="77") == "u77"          # never half a name
    assert first_choice("Sukarno", "", employee_id="123") == "u123"           # a single name
    taken = {"ue10442"}
    assert generate_username(POLICY, PersonName("芳", "王", employee_id="E-10442"), taken.__contains__) == "ue10442-2"


def test_no_name_and_no_employee_id_is_an_error_not_a_garbage_name():
    with pytest.raises(NamingError, match="no Latin spelling"):
        first_choice("太郎", "山田")
    with pytest.raises(NamingError, match="taken"):
        generate_username(POLICY, PersonName("Ann", "Lee"), lambda _: True)


def test_preferred_names_are_used_when_the_policy_says_so():
    assert first_choice("Robert", "Smith", preferred_given_name="Bob") == "bob.smith"
    assert first_choice("Robert", "Smith", replace(POLICY, use_preferred_name=False),
                        preferred_given_name="Bob") == "robert.smith"
    assert first_choice("Maria", "Garcia", preferred_surname="García López") == "maria.garcialopez"


def test_hyphen_apostrophe_and_space_policies():
    keep = replace(POLICY, apostrophes="keep", allowed_characters="a-z0-9.'-")
    assert first_choice("Siobhán", "O'Brien", keep) == "siobhan.o'brien"
    assert first_choice("Anne-Marie", "Smith-Jones", replace(POLICY, hyphens="join")) == "annemarie.smithjones"
    assert first_choice("Anne-Marie", "Smith-Jones", replace(POLICY, hyphens="first")) == "anne.smith"
    assert first_choice("Jan", "van der Berg", replace(POLICY, spaces="first")) == "jan.van"


def test_own_transliterations_and_case():
    german = replace(POLICY, transliterate={"ü": "ue", "ö": "oe"})
    assert first_choice("Jürgen", "Möller", german) == "juergen.moeller"
    assert first_choice("José", "Núñez", replace(POLICY, lowercase=False, allowed_characters="A-Za-z0-9.-")) == "Jose.Nunez"
    assert transliterate("Щука Ёж") == "Shchuka Ezh" and transliterate("ЖУКОВ") == "ZHUKOV"
    assert transliterate("Οὐρανός") == "Ouranos" and transliterate("Προϋπόθεση") == "Proypothesi"
    assert transliterate("李") is None


@pytest.mark.parametrize("username,domain,expected", [
    ("jose.nunez", "Example.COM", "jose.nunez@example.com"),
    ("José.Núñez", "example.com", "Jose.Nunez@example.com"),
    (".o'brien_#1^~!", "corp.example.test", "o'brien_#1^~!@corp.example.test"),
    ("a..b", "example.com", "a.b@example.com"),
])
def test_upn_follows_entra_rules(username, domain, expected):
    assert upn_for(username, domain) == expected


@pytest.mark.parametrize("username,domain", [("李", "example.com"), ("ok", "not a domain"), ("ok", "localhost"),
                                             ("x" * 65, "example.com")])
def test_upn_refuses_what_entra_would(username, domain):
    with pytest.raises(NamingError):
        upn_for(username, domain)


# --- config/naming.yaml ----------------------------------------------------------------------------

def test_the_shipped_policy_is_the_documented_default():
    assert POLICY == NamingPolicy()
    assert load_naming(Path("/nonexistent")) == NamingPolicy()


@pytest.mark.parametrize("text,line,needle", [
    ("patterns: ['{first}.{last}']\nmiddle: x\n", 2, "unknown key 'middle'"),
    ("max_length: 21\n", 1, "at most|1..20"),
    ("allowed_characters: 'a-z;'\n", 1, "forbids"),
    ("allowed_characters: 'a-z@'\n", 1, "forbids"),
    ("patterns:\n  - '{first}.{middle}'\n", 1, "unknown placeholder"),
    ("patterns:\n  - '{first}+{last}'\n", 1, "outside allowed_characters"),
    ("patterns:\n  - 'admin'\n", 1, "at least one name"),
    ("hyphens: keep\nallowed_characters: 'a-z.'\n", 1, "needs '-'"),
    ("hyphens: maybe\n", 1, "must be one of"),
    ("lowercase: 'yes'\n", 1, "must be a bool"),
    ("transliterate:\n  ue: u\n", 1, "single characters"),
    ("patterns: [\n", 2, "invalid YAML"),
])
def test_policy_mistakes_name_the_file_and_line(tmp_path, text, line, needle):
    (tmp_path / "naming.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_naming(tmp_path)
    assert info.value.line == line and str(info.value).startswith(f"{tmp_path / 'naming.yaml'}:{line}: ")
    assert any(part in info.value.message for part in needle.split("|"))
