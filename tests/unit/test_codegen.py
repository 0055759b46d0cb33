from pathlib import Path

from signaling.codegen import render

GENERATED = Path(__file__).parents[2] / "widget" / "src" / "protocol.gen.ts"


def test_generated_typescript_is_up_to_date() -> None:
    assert GENERATED.read_text(encoding="utf-8") == render(), (
        "run: .venv/bin/python -m signaling.codegen widget/src/protocol.gen.ts"
    )
