from pathlib import Path

from server import rest_codegen
from signaling.codegen import render

GENERATED = Path(__file__).parents[2] / "widget" / "src" / "protocol.gen.ts"
REST_GENERATED = GENERATED.with_name("api.gen.ts")


def test_generated_typescript_is_up_to_date() -> None:
    assert GENERATED.read_text(encoding="utf-8") == render(), (
        "run: .venv/bin/python -m signaling.codegen widget/src/protocol.gen.ts"
    )


def test_generated_rest_types_are_up_to_date() -> None:
    assert REST_GENERATED.read_text(encoding="utf-8") == rest_codegen.render(), (
        "run: .venv/bin/python -m server.rest_codegen widget/src/api.gen.ts"
    )


def test_rest_types_follow_the_models() -> None:
    text = rest_codegen.render()
    # a response's defaulted fields are always sent, so they are not optional
    assert "export interface SiteList {" in text and "  next_cursor: string | null;" in text
    # a request's defaulted fields may be left out
    assert "  max_chats?: number;" in text
    assert '  scope: "read" | "admin";' in text
