"""`itbot triage`: one JSON object per message, in order, with the route and the article."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _itbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "triage", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_one_message_prints_one_json_object_with_route_and_article():
    result = _itbot("how do I set up an out of office reply in outlook?")
    assert result.returncode == 0, result.stderr
    decided = json.loads(result.stdout)
    assert decided["intent"] == "how_to" and decided["topic"] == "email"
    assert decided["article"] and decided["team"] == "helpdesk_l1"
    assert 0 <= decided["confidence"] <= 1


def test_jsonl_prints_one_object_per_line_in_order(tmp_path):
    lines = ["my laptop won't boot", "I think I got a phishing email and clicked the link", "thanks!"]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(lines)) + "\n")
    result = _itbot("--jsonl", str(path))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["intent"] for o in out] == ["broken", "broken", "other"]
    assert out[1]["team"] == "security" and out[1]["priority"] == "P1"
    assert all({"intent", "topic", "confidence", "team", "article"} <= o.keys() for o in out)


def test_a_bad_line_is_named_and_nothing_is_printed(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "vpn down"}\n{"txt": "oops"}\n')
    result = _itbot("--jsonl", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert f"{path}:2: each line needs a \"text\" string" in result.stderr


def test_a_bom_crlf_and_a_line_separator_inside_a_text_are_read_as_json_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    texts = ["my laptop won't boot", "the printer\u2028on floor 2 is jammed"]
    path.write_bytes(("\ufeff" + "\r\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts)).encode())
    result = _itbot("--jsonl", str(path))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_a_file_that_is_not_utf8_is_one_clear_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes('{"text": "caf\u00e9"}\n'.encode("latin-1"))
    result = _itbot("--jsonl", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr
